"""CLI commands for the electronic finger-press (电子捺印): info, quality, match, template, mark, evaluate."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from .cli_common import CliError, console, progress_bar

fingerprint_app = typer.Typer(help="Electronic finger-press (电子捺印): captures, quality, matching, evaluation.",
                              no_args_is_help=True)

Ppi = Annotated[Optional[float], typer.Option("--ppi", help="resolution, when the file states none (FVC: 500)")]
Finger = Annotated[int, typer.Option("--finger", min=0, max=10, help="ISO finger position 0..10 (0 unknown)")]


def _is_template(path: Path) -> bool:
    with open(path, "rb") as fh:
        return fh.read(4) == b"FMR\0"


def _read_image(path: Path, ppi: float | None, finger: int = 0):  # noqa: ANN202
    from .fingerprint import read_fingerprint

    return read_fingerprint(path, ppi=ppi, finger=finger)


@fingerprint_app.command("info")
def info(file: Annotated[Path, typer.Argument(help="image (PNG, TIFF, BMP, WSQ, ISO/IEC 19794-4) or minutiae "
                                                    "record (ISO/IEC 19794-2:2005, ANSI 378)")],
         ppi: Ppi = None) -> None:
    """Format, size, resolution and SHA-256 of an image; views and minutiae of a template."""
    from .fingerprint.images import image_format
    from .fingerprint.minutiae import read_template
    from .fingerprint.sample import FINGER_POSITIONS

    data = file.read_bytes()
    if data[:4] == b"FMR\0":
        t = read_template(data)
        rows = [("format", t.source_format), ("image", f"{t.width} x {t.height} px"),
                ("resolution", f"{t.x_res} x {t.y_res} px/cm")]
        rows += [(f"view {k}", f"{FINGER_POSITIONS.get(v.finger, v.finger)}, quality {v.quality}, "
                                f"{len(v.minutiae)} minutiae") for k, v in enumerate(t.views)]
    else:
        fp = _read_image(file, ppi)
        rows = [("format", image_format(data)), ("image", f"{fp.width} x {fp.height} px"),
                ("resolution", f"{fp.ppi:g} ppi"), ("finger", FINGER_POSITIONS[fp.finger]), ("sha256", fp.sha256)]
    for key, value in rows:
        console.print(f"[bold]{key:<12}[/bold]{value}", highlight=False, soft_wrap=True)


@fingerprint_app.command("quality")
def quality(file: Annotated[Path, typer.Argument(help="fingerprint image")], ppi: Ppi = None,
            min_nfiq2: Annotated[int, typer.Option(min=0, max=100, help="refuse below this NFIQ 2")] = 20) -> None:
    """NFIQ 2, minutiae and ridge-flow coherence; exits 1 and says why when the capture would be refused."""
    from .fingerprint.quality import assess

    report = assess(_read_image(file, ppi), min_nfiq2=min_nfiq2)
    console.print(f"NFIQ 2 {report.nfiq2 if report.nfiq2 is not None else 'n/a'}, {report.minutiae} minutiae, "
                  f"ridge-flow coherence {report.coherence:.2f}", highlight=False)
    if not report.acceptable:
        for reason in report.reasons:
            console.print(f"refused: {reason}", highlight=False)
        raise typer.Exit(1)
    console.print("acceptable", highlight=False)


@fingerprint_app.command("template")
def template(file: Annotated[Path, typer.Argument(help="fingerprint image")],
             output: Annotated[Path, typer.Option("-o", "--output", help="ISO/IEC 19794-2:2005 record to write")],
             ppi: Ppi = None, finger: Finger = 0,
             check: Annotated[bool, typer.Option(help="refuse a low-quality capture")] = True) -> None:
    """Extract minutiae (NIST mindtct) and write an ISO/IEC 19794-2:2005 template."""
    from .fingerprint.matcher import extract
    from .fingerprint.minutiae import write_iso2005
    from .fingerprint.quality import require_quality

    fp = _read_image(file, ppi, finger)
    ex = require_quality(fp)[0] if check else extract(fp)
    output.write_bytes(write_iso2005(ex.template))
    console.print(f"wrote {output} ({len(ex.template.minutiae)} minutiae, NFIQ 2 {ex.nfiq2})", highlight=False)


@fingerprint_app.command("match")
def match(a: Annotated[Path, typer.Argument(help="image or minutiae record")],
          b: Annotated[Path, typer.Argument(help="image or minutiae record")], ppi: Ppi = None,
          check: Annotated[bool, typer.Option(help="refuse low-quality images")] = True) -> None:
    """Compare two fingerprints (bozorth3, normalised); prints the score and the decision at the default threshold."""
    from .fingerprint.matcher import MATCH_THRESHOLD, Matcher, extract
    from .fingerprint.minutiae import read_template
    from .fingerprint.quality import require_quality

    templates = []
    for path in (a, b):
        if _is_template(path):
            templates.append(read_template(path.read_bytes()))
        else:
            fp = _read_image(path, ppi)
            templates.append((require_quality(fp)[0] if check else extract(fp, quality=False)).template)
    c = Matcher().compare(*templates)
    verdict = "match" if c.score >= MATCH_THRESHOLD else "no match"
    console.print(f"score {c.score:.1f} (bozorth3 {c.raw}, minutiae {c.minutiae[0]} and {c.minutiae[1]}); "
                  f"threshold {MATCH_THRESHOLD:g}: {verdict}", highlight=False)


@fingerprint_app.command("mark")
def mark(file: Annotated[Path, typer.Argument(help="fingerprint image")],
         output: Annotated[Path, typer.Option("-o", "--output", help="mark to write: .png or .svg")],
         ppi: Ppi = None) -> None:
    """Render the red finger-press mark from the capture's own ridges (PNG with alpha, or SVG)."""
    from .fingerprint.mark import mark_png, mark_svg

    suffix = output.suffix.lower()
    if suffix not in (".png", ".svg"):
        raise CliError(f"--output must end in .png or .svg, got {output.name!r}")
    fp = _read_image(file, ppi)
    if suffix == ".png":
        output.write_bytes(mark_png(fp))
    else:
        output.write_text(mark_svg(fp))
    console.print(f"wrote {output}")


@fingerprint_app.command("evaluate")
def evaluate(dataset: Annotated[str, typer.Option(help="fvc2002-db1b")] = "fvc2002-db1b",
             data: Annotated[Optional[Path], typer.Option(help="data root (default ../shared/data)")] = None,
             scores: Annotated[Optional[Path], typer.Option(help="score file to write (CSV)")] = None,
             det: Annotated[Optional[Path], typer.Option(help="DET plot to write (PNG)")] = None) -> None:
    """FVC protocol: EER, FMR100, FMR1000 (plus all-impostor and enrolment protocols), score file, DET."""
    evaluate_fvc(dataset, data, scores, det)


def evaluate_fvc(dataset: str, data: Path | None, scores: Path | None, det: Path | None) -> None:
    """Run the FVC evaluation and print it (shared with ``inkwitness evaluate --dataset fvc2002-db1b``)."""
    from . import datasets as ds
    from .fingerprint.evaluation import DATASET, FOLDER, plot_det, run_fvc, write_scores

    if dataset != DATASET:
        raise CliError(f"unknown fingerprint dataset {dataset!r}; known: {DATASET}")
    root = data or ds.default_data_root()
    folder = root / FOLDER
    if not folder.is_dir():
        raise CliError(f"{folder} does not exist (pass --data or set {ds.DATA_ENV})")
    with progress_bar() as bar:
        tasks: dict[str, int] = {}

        def advance(stage: str, k: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(stage, total=total)
            bar.advance(tasks[stage], k)

        result = run_fvc(folder, advance)
    for line in result.lines():
        console.print(line, highlight=False)
    if scores:
        write_scores(result, scores)
        console.print(f"wrote {scores}")
    if det:
        plot_det(result, det)
        console.print(f"wrote {det}")
