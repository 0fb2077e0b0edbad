"""Dataset catalogues (users with genuine and skilled-forgery samples) and evaluation protocols.

A catalogue is built from file names alone, so listing is fast; ``check`` then reads every
file. Byte-identical duplicates (SigComp2011 Dutch genuines, SUSIG Visual) are dropped
from the catalogue and reported, because a duplicate reference/test pair would inflate
accuracy.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from .errors import DatasetError, InkwitnessError
from .formats import read_signature
from .signature import Signature

GENUINE, SKILLED, RANDOM = "genuine", "skilled", "random"
DATA_ENV = "INKWITNESS_DATA"


def default_data_root() -> Path:
    """``$INKWITNESS_DATA``, else ``../shared/data`` beside the working directory."""
    env = os.environ.get(DATA_ENV)
    return Path(env) if env else Path.cwd().parent / "shared" / "data"


@dataclass(frozen=True)
class Sample:
    """One file of a dataset, labelled."""

    path: Path
    user: str
    label: str
    order: tuple[int, ...]
    session: int | None = None
    writer: str | None = None

    @property
    def name(self) -> str:
        """File name without folder."""
        return self.path.name

    def load(self) -> Signature:
        """Read and validate the file."""
        return read_signature(self.path)


@dataclass
class User:
    """One enrolled person: genuine samples in capture order, and forgeries of them."""

    id: str
    genuine: list[Sample] = field(default_factory=list)
    skilled: list[Sample] = field(default_factory=list)


@dataclass
class Catalogue:
    """A dataset's users, plus what was noticed while cataloguing it."""

    name: str
    root: Path
    users: dict[str, User]
    files_seen: int
    duplicates: list[tuple[Path, Path]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def n_genuine(self) -> int:
        """Unique genuine samples."""
        return sum(len(u.genuine) for u in self.users.values())

    @property
    def n_skilled(self) -> int:
        """Unique skilled forgeries."""
        return sum(len(u.skilled) for u in self.users.values())

    def samples(self) -> Iterator[Sample]:
        """Every unique sample, user by user."""
        for user in self.users.values():
            yield from user.genuine
            yield from user.skilled


@dataclass(frozen=True)
class DatasetSpec:
    """Where a dataset lives under the data root and how its file names are labelled."""

    name: str
    folder: str
    pattern: str
    parse: Callable[[Path, re.Match[str]], Sample | None]
    description: str


def _int(s: str) -> int:
    return int(s)


def _svc(path: Path, m: re.Match[str]) -> Sample:
    user, sig = m.group(1), _int(m.group(2))
    return Sample(path, user, GENUINE if sig <= 20 else SKILLED, (sig,))


def _susig_visual(path: Path, m: re.Match[str]) -> Sample:
    user, kind, k = m.group(1), m.group(2), _int(m.group(3))
    if kind == "f":
        return Sample(path, user, SKILLED, (k,))
    return Sample(path, user, GENUINE, (int(kind), k), session=int(kind))


def _susig_blind(path: Path, m: re.Match[str]) -> Sample:
    user, kind, k = m.group(1), m.group(2), _int(m.group(3))
    return Sample(path, user, SKILLED if kind == "f" else GENUINE, (k,))


def _dutch(path: Path, m: re.Match[str]) -> Sample:
    if m.group(1):
        forger, owner, k = m.group(1).rstrip("_"), m.group(2), m.group(3)
        return Sample(path, owner, SKILLED, (int(forger), _int(k)), writer=forger)
    # OOO_0K duplicates OOO_K (same bytes): order by K, the plain name first.
    owner, k = m.group(2), m.group(3)
    return Sample(path, owner, GENUINE, (_int(k), len(k)))


def _scut(path: Path, m: re.Match[str]) -> Sample:
    user, sig = m.group(1), _int(m.group(2))
    return Sample(path, user, GENUINE if sig <= 20 else SKILLED, (sig,), session=1 if sig <= 10 else 2 if sig <= 20 else None)


def _sigwi(path: Path, m: re.Match[str]) -> Sample:
    author, kind, k = m.group(1), m.group(2), _int(m.group(3))
    if kind.startswith("F"):
        return Sample(path, author, SKILLED, (int(kind[1:]), k), writer=kind)
    # References (R) come before the questioned genuines (G) in capture order.
    return Sample(path, author, GENUINE, (0 if kind == "R" else 1, k))


def _mcyt(path: Path, m: re.Match[str]) -> Sample:
    user, kind, k = m.group(1), m.group(2), _int(m.group(3))
    return Sample(path, user, GENUINE if kind == "v" else SKILLED, (k,))


def _nfi(path: Path, m: re.Match[str]) -> Sample:
    # SigComp2009 NFI-WWWSSOOO: WWW wrote sample SS of owner OOO's signature, so a forgery
    # (WWW != OOO) belongs to the owner OOO, not to the forger.
    writer, k, owner = m.group(1), _int(m.group(2)), m.group(3)
    return Sample(path, owner, GENUINE if writer == owner else SKILLED, (int(writer), k), writer=writer)


def _nisdcc(path: Path, m: re.Match[str]) -> Sample:
    writer, owner, k = m.group(1), m.group(2), _int(m.group(3))
    return Sample(path, owner, GENUINE if writer == owner else SKILLED, (int(writer), k), writer=writer)


SPECS: dict[str, DatasetSpec] = {s.name: s for s in (
    DatasetSpec("svc2004-task1", "svc2004/Task1", r"U(\d+)S(\d+)\.TXT$", _svc, "SVC2004 Task1 (x, y, t)"),
    DatasetSpec("svc2004-task2", "svc2004/Task2", r"U(\d+)S(\d+)\.TXT$", _svc,
                "SVC2004 Task2 (x, y, t, pressure, angles)"),
    DatasetSpec("susig-visual", "susig/VisualSubCorpus", r"(\d{3})_([12f])_(\d+)\.sig$", _susig_visual,
                "SUSIG Visual (ePad-ink LCD pad)"),
    DatasetSpec("susig-blind", "susig/BlindSubCorpus", r"(\d{3})_([gf])_(\d+)\.sig$", _susig_blind,
                "SUSIG Blind (Wacom Graphire2)"),
    DatasetSpec("sigcomp2011-dutch", "sigcomp2011_dutch_online", r"^(\d{3}_)?(\d{3})_(\d+)\.HWR$", _dutch,
                "SigComp2011 Dutch online (200 Hz, no timestamps)"),
    DatasetSpec("scut-mmsig-mobile", "scut_mmsig_sample/mobile", r"U(\d+)S(\d+)\.txt$", _scut,
                "SCUT-MMSIG sample, phone finger"),
    DatasetSpec("scut-mmsig-tablet", "scut_mmsig_sample/tablet", r"U(\d+)S(\d+)\.txt$", _scut,
                "SCUT-MMSIG sample, pen tablet"),
    DatasetSpec("scut-mmsig-inair", "scut_mmsig_sample/inair", r"U(\d+)S(\d+)\.txt$", _scut,
                "SCUT-MMSIG sample, in-air fingertip"),
    DatasetSpec("sigwicomp2015-german", "sigwicomp2015_german_sample", r"(A\d+)_(R|G|F\d+)_(\d+)\.trj$", _sigwi,
                "SigWIComp2015 German sample"),
    DatasetSpec("mcyt100", "format-samples/mcyt100", r"(\d{4})([vf])(\d{2})\.fpg$", _mcyt, "MCYT-100 (.fpg)"),
    DatasetSpec("sigcomp2009-nfi", "format-samples/sigcomp2009/NFI", r"NFI-(\d{3})(\d{2})(\d{3})\.hwr$", _nfi,
                "SigComp2009 NFI (.hwr)"),
    DatasetSpec("sigcomp2009-nisdcc", "format-samples/sigcomp2009/NISDCC", r"NISDCC-(\d{3})_(\d{3})_(\d{3})\.hwr$",
                _nisdcc, "SigComp2009 NISDCC (.hwr)"),
)}


def available(root: Path | None = None) -> list[str]:
    """Names of the known datasets present under the data root."""
    root = root or default_data_root()
    return [name for name, spec in SPECS.items() if (root / spec.folder).is_dir()]


def dataset_folder(spec: DatasetSpec, root: Path) -> Path:
    """The folder holding a dataset: under a data root, or the dataset's own folder given directly."""
    parts = Path(spec.folder).parts
    # A data root laid out like ../shared/data, or a parent such as .../svc2004 or .../sigcomp2009
    # (whose sibling subsets share a naming pattern and must not be mixed).
    for i in range(len(parts)):
        folder = root.joinpath(*parts[i:])
        if folder.is_dir():
            return folder
    # The dataset's own folder (e.g. MCYT-100 with its .fpg files directly or in user subfolders),
    # unless root is a data root that lacks this dataset but holds others.
    pattern = re.compile(spec.pattern)
    holds_others = any((root / other.folder).is_dir() for other in SPECS.values())
    if root.is_dir() and not holds_others and any(p.is_file() and pattern.search(p.name) for p in root.rglob("*")):
        return root
    raise DatasetError(f"dataset {spec.name} not found: {root / spec.folder} is not a folder and {root} holds no "
                       f"{spec.name} files (set {DATA_ENV} or --data)")


def catalogue(name: str, root: Path | None = None) -> Catalogue:
    """Build the catalogue of one dataset from its file names, dropping byte-identical duplicates."""
    if name not in SPECS:
        raise DatasetError(f"unknown dataset {name!r}; known: {', '.join(SPECS)}")
    spec = SPECS[name]
    root = root or default_data_root()
    folder = dataset_folder(spec, root)
    pattern = re.compile(spec.pattern)
    samples: list[Sample] = []
    problems: list[str] = []
    files_seen = 0
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        if path.name.lower() in ("provenance.md", "readme.txt", "readme.md") or path.suffix in (".npy",):
            continue
        if "npy" in path.parent.name:
            continue
        files_seen += 1
        match = pattern.search(path.name)
        if not match:
            problems.append(f"{path.relative_to(root)}: file name does not follow the {name} naming")
            continue
        samples.append(spec.parse(path, match))
    users: dict[str, User] = {}
    seen: dict[tuple[str, str, str], Path] = {}
    duplicates: list[tuple[Path, Path]] = []
    for sample in sorted(samples, key=lambda s: (s.user, s.label, s.order, s.name)):
        digest = hashlib.sha256(sample.path.read_bytes()).hexdigest()
        key = (sample.user, sample.label, digest)
        if key in seen:
            duplicates.append((seen[key], sample.path))
            continue
        seen[key] = sample.path
        user = users.setdefault(sample.user, User(sample.user))
        (user.genuine if sample.label == GENUINE else user.skilled).append(sample)
    if duplicates:
        problems.append(f"{len(duplicates)} byte-identical duplicate file(s) dropped, e.g. "
                        f"{duplicates[0][1].name} == {duplicates[0][0].name}")
    return Catalogue(name, root, dict(sorted(users.items())), files_seen, duplicates, problems)


@dataclass
class CheckReport:
    """What reading every file of a dataset found."""

    catalogue: Catalogue
    failures: list[str]
    repairs: Counter[str]
    points: list[int]

    @property
    def ok(self) -> bool:
        """No file failed to read."""
        return not self.failures


def check(cat: Catalogue, progress: Callable[[int], None] | None = None) -> CheckReport:
    """Read every sample, collecting failures and the kinds of repair applied."""
    failures: list[str] = []
    repairs: Counter[str] = Counter()
    points: list[int] = []
    for sample in cat.samples():
        try:
            sig = sample.load()
        except InkwitnessError as exc:
            failures.append(f"{sample.path.relative_to(cat.root)}: {exc}")
        else:
            points.append(len(sig))
            for note in sig.repairs:
                repairs[re.sub(r"\d+(\.\d+)?", "N", note)] += 1
        if progress:
            progress(1)
    return CheckReport(cat, failures, repairs, points)


# --- evaluation protocols -------------------------------------------------------------

@dataclass(frozen=True)
class Trial:
    """One user's enrolment and test samples under a protocol."""

    user: str
    references: tuple[Sample, ...]
    genuine: tuple[Sample, ...]
    skilled: tuple[Sample, ...]
    random: tuple[Sample, ...]


def protocol(cat: Catalogue, references: int = 5) -> list[Trial]:
    """The fixed evaluation protocol of a dataset (see docs/accuracy.md), one trial per user."""
    users = list(cat.users.values())
    random_pool = {u.id: (u.genuine[0] if u.genuine else None) for u in users}
    trials = []
    for user in users:
        refs, tests = _split_genuine(cat.name, user, references)
        if len(refs) < references:
            continue
        randoms: tuple[Sample, ...] = ()
        if cat.name not in ("sigcomp2011-dutch", "sigcomp2009-nfi", "sigcomp2009-nisdcc"):
            randoms = tuple(s for uid, s in random_pool.items() if uid != user.id and s is not None)
        trials.append(Trial(user.id, tuple(refs), tuple(tests), tuple(user.skilled), randoms))
    return trials


def _split_genuine(name: str, user: User, k: int) -> tuple[list[Sample], list[Sample]]:
    genuine = user.genuine
    if name == "susig-visual":
        session1 = [s for s in genuine if s.session == 1]
        session2 = [s for s in genuine if s.session == 2]
        return session1[:k], session2
    if name in ("svc2004-task1", "svc2004-task2"):
        return genuine[:k], genuine[k:20]
    return genuine[:k], genuine[k:]

