"""The ``inkwitness`` command (typer + rich). Bad input exits 2 with one readable line."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer
from rich.table import Table

from . import datasets as ds
from .errors import InkwitnessError
from .formats import WRITERS, detect_format, read_signature, write_signature
from .formats._text import read_bytes

from .cli_common import CliError, console, err_console, progress_bar

if TYPE_CHECKING:
    from .model import Model

app = typer.Typer(help="inkwitness: handwritten e-signatures that courts can rely on.", no_args_is_help=True,
                  pretty_exceptions_enable=False, add_completion=False)
datasets_app = typer.Typer(help="Inspect the public signature datasets.", no_args_is_help=True)
app.add_typer(datasets_app, name="datasets")


@app.command()
def info(file: Annotated[Path, typer.Argument(help="signature file in any readable format")]) -> None:
    """Points, strokes, duration, sampling rate, channels and SHA-256 of a signature."""
    data, name = read_bytes(file)
    fmt = detect_format(data, name)
    sig = read_signature(file, fmt)
    rows = [
        ("file", str(file)), ("format", fmt), ("points", str(len(sig))),
        ("strokes", f"{sig.n_strokes} ({sum(s.pen_down for s in sig.strokes)} pen-down)"),
        ("duration", f"{sig.duration_ms:.0f} ms"),
        ("sampling rate", f"{sig.sampling_rate_hz:.1f} Hz ({sig.timing} timing)"),
        ("channels", ", ".join(sig.channel_names)),
        ("device", ", ".join(f"{k}={v}" for k, v in sig.device.to_dict().items()) or "unknown"),
        ("sha256", sig.sha256),
    ]
    rows += [("repair", r) for r in sig.repairs]
    for key, value in rows:
        console.print(f"[bold]{key:<14}[/bold]{value}", highlight=False, soft_wrap=True)


@app.command()
def convert(src: Annotated[Path, typer.Argument(help="input signature (format detected)")],
            dst: Annotated[Path, typer.Argument(help="output file")],
            to: Annotated[str, typer.Option("--to", help=f"output format: {' | '.join(WRITERS)}")] = "native") -> None:
    """Convert a signature file to the native packet or ISO/IEC 19794-7."""
    if to not in WRITERS:
        raise CliError(f"--to must be one of {', '.join(WRITERS)}, got {to!r}")
    sig = read_signature(src)
    write_signature(sig, dst, to)
    console.print(f"wrote {dst} ({to}, {len(sig)} points, sha256 {sig.sha256})")


@app.command()
def plot(file: Annotated[Path, typer.Argument(help="signature file")],
         output: Annotated[Path, typer.Option("-o", "--output", help="PNG to write")]) -> None:
    """Trajectory coloured by pressure, with speed and pressure profiles over time."""
    from .figures import plot_signature

    sig = read_signature(file)
    plot_signature(sig, output)
    console.print(f"wrote {output}")


@app.command()
def schema(output: Annotated[Optional[Path], typer.Option("-o", "--output")] = None) -> None:
    """Print (or write) the JSON Schema of the native packet."""
    from .formats.native import json_schema

    text = json.dumps(json_schema(), indent=2) + "\n"
    if output:
        output.write_text(text)
    else:
        sys.stdout.write(text)


def _data_root(path: Optional[Path]) -> Path:
    root = path or ds.default_data_root()
    if not root.is_dir():
        raise CliError(f"data folder {root} does not exist (pass PATH or set {ds.DATA_ENV})")
    return root


@app.command()
def features(output: Annotated[Optional[Path], typer.Option("-o", "--output")] = None) -> None:
    """Print (or write) the generated table of global features."""
    from .features.globalfeatures import feature_table_markdown

    text = feature_table_markdown()
    if output:
        output.write_text(text)
    else:
        sys.stdout.write(text)


@datasets_app.command("list")
def datasets_list(path: Annotated[Optional[Path], typer.Argument(help="data root")] = None) -> None:
    """Per-dataset counts of users, genuine and skilled samples (from file names)."""
    root = _data_root(path)
    names = ds.available(root)
    if not names:
        raise CliError(f"no known dataset under {root}")
    table = Table("dataset", "users", "files", "genuine", "skilled", "duplicates dropped")
    for name in names:
        cat = ds.catalogue(name, root)
        table.add_row(name, str(len(cat.users)), str(cat.files_seen), str(cat.n_genuine), str(cat.n_skilled),
                      str(len(cat.duplicates)))
    console.print(table)


@datasets_app.command("check")
def datasets_check(path: Annotated[Optional[Path], typer.Argument(help="data root")] = None,
                   dataset: Annotated[Optional[str], typer.Option(help="only this dataset")] = None) -> None:
    """Read every file: counts, failures, duplicates and repairs per dataset. Exits 1 on failures."""
    root = _data_root(path)
    names = [dataset] if dataset else ds.available(root)
    if not names:
        raise CliError(f"no known dataset under {root}")
    cats = [ds.catalogue(n, root) for n in names]
    failed = False
    with progress_bar() as bar:
        reports = []
        for cat in cats:
            task = bar.add_task(cat.name, total=cat.n_genuine + cat.n_skilled)
            reports.append(ds.check(cat, lambda k, task=task: bar.advance(task, k)))
    for rep in reports:
        cat = rep.catalogue
        status = "[green]ok[/green]" if rep.ok else f"[red]{len(rep.failures)} failed[/red]"
        console.print(f"[bold]{cat.name}[/bold]: {len(cat.users)} users, {cat.files_seen} files, "
                      f"{cat.n_genuine} genuine + {cat.n_skilled} skilled unique, {status}")
        for problem in cat.problems:
            console.print(f"  problem: {problem}")
        for note, count in sorted(rep.repairs.items()):
            console.print(f"  repaired in {count} file(s): {note}")
        for failure in rep.failures[:20]:
            console.print(f"  [red]failed[/red]: {failure}")
        failed |= not rep.ok
    if failed:
        raise typer.Exit(1)


@app.command()
def evaluate(dataset: Annotated[str, typer.Option(help=f"one of: {', '.join(ds.SPECS)}")],
             data: Annotated[Optional[Path], typer.Option(help="data root (default ../shared/data)")] = None,
             references: Annotated[int, typer.Option(min=3, max=10, help="references per user")] = 5,
             scores: Annotated[Optional[Path], typer.Option(help="score file to write (CSV)")] = None,
             det: Annotated[Optional[Path], typer.Option(help="DET plot to write (PNG)")] = None,
             model: Annotated[Optional[Path], typer.Option(help="model file (default: shipped model)")] = None,
             workers: Annotated[Optional[int], typer.Option(min=1, help="processes (default: every core)")] = None,
             dask: Annotated[Optional[str], typer.Option(help="Dask scheduler address, to run on a cluster")] = None,
             strict: Annotated[bool, typer.Option(help="fail (exit 2) if any file is skipped")] = False,
             protocol: Annotated[str, typer.Option(
                 help="fixed: score with the model as it is; cv4: 4-fold writer-disjoint cross-validation, "
                      "each fold trained on the other three plus --train-with; lodo: trained on --train-with only")
             ] = "fixed",
             train_with: Annotated[Optional[str], typer.Option(
                 help="comma-separated training datasets for cv4/lodo (default: the development sets "
                      "other than DATASET)")] = None,
             components: Annotated[str, typer.Option(
                 help="fused component set for cv4/lodo: compact, extended, spread, rich, or an ablation "
                      "set (extended+sig, extended+ctx, extended+vq, extended+cdtw-vq)")] = "extended",
             c: Annotated[float, typer.Option(min=1e-4, max=1e4, help="fusion regularisation (cv4/lodo)")] = 1.0,
             ) -> None:
    """Run a dataset's protocol: EERs (global and per-user thresholds), FNMR at FMR, counts."""
    if dataset == "fvc2002-db1b":  # fingerprints: the FVC protocol lives with the fingerprint commands
        from .cli_fingerprint import evaluate_fvc
        return evaluate_fvc(dataset, data, scores, det)
    from .evaluation import evaluate as run_evaluation
    from .model import Model

    if dataset not in ds.SPECS:
        raise CliError(f"unknown dataset {dataset!r}; known: {', '.join(ds.SPECS)}")
    root = _data_root(data)
    # Files whose names do not follow the naming never reach the protocol: count them as skipped.
    misnamed = [p for p in ds.catalogue(dataset, root).problems if p.endswith(f"does not follow the {dataset} naming")]
    if strict and misnamed:
        raise CliError(f"--strict: {len(misnamed)} file(s) skipped, e.g. {misnamed[0]}")
    chosen = Model.load(model) if model else None
    if protocol != "fixed":
        rows = _trained_protocol(dataset, protocol, root, train_with, components, c, chosen, workers, references)
        _print_results(dataset, rows, scores, det, [], misnamed)
        return
    with progress_bar() as bar:
        tasks: dict[str, int] = {}

        def advance(stage: str, k: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(stage, total=total)
            bar.advance(tasks[stage], k)

        if dask:
            from distributed import Client

            with Client(dask) as client:
                rows, failures = run_evaluation(dataset, root, references, chosen, workers, advance,
                                                client.get_executor())
        else:
            rows, failures = run_evaluation(dataset, root, references, chosen, workers, advance)
    if strict and failures:
        raise CliError(f"--strict: {len(failures)} unreadable file(s) skipped, e.g. {failures[0]}")
    for failure in failures:
        err_console.print(f"skipped unreadable sample {failure}", markup=False)
    _print_results(dataset, rows, scores, det, failures, misnamed)


def _trained_protocol(dataset: str, protocol: str, root: Path, train_with: Optional[str], components: str,
                      c: float, base: Optional[Model], workers: Optional[int], references: int) -> list:
    from .training import DEVELOPMENT, FusionConfig, run_protocol

    names = ([n.strip() for n in train_with.split(",") if n.strip()] if train_with is not None
             else [n for n in DEVELOPMENT if n != dataset])
    unknown = [n for n in names if n not in ds.SPECS]
    if unknown:
        raise CliError(f"unknown training dataset(s) {', '.join(unknown)}")
    config = FusionConfig(components=components, c=c)
    return run_protocol(dataset, protocol, root, names, config, base, workers, references,
                        lambda msg: err_console.print(msg, markup=False))


@app.command("evaluate-embedding")
def evaluate_embedding(
        dataset: Annotated[str, typer.Option(help="dataset to cross-validate over its writers")] = "svc2004-task2",
        data: Annotated[Optional[Path], typer.Option(help="data root, or the dataset's own folder")] = None,
        train_with: Annotated[str, typer.Option(help="comma-separated extra training datasets (may be empty)")] = "",
        steps: Annotated[int, typer.Option(min=1, max=100_000, help="optimisation steps per fold")] = 150,
        hidden: Annotated[int, typer.Option(min=1, max=512, help="convolution channels")] = 32,
        dimension: Annotated[int, typer.Option(min=1, max=256, help="embedding dimension")] = 16,
        residual: Annotated[bool, typer.Option(help="residual on the input time functions")] = False,
        augment: Annotated[float, typer.Option(min=0.0, max=1.0, help="training augmentation: time stretch and "
                                               "channel gain (± share) and noise (std)")] = 0.0,
        scores: Annotated[Optional[Path], typer.Option(help="write the pooled held-out scores (CSV)")] = None,
        workers: Annotated[Optional[int], typer.Option(min=1)] = None) -> None:
    """Method 7: 4-fold writer-disjoint EER of the learned embedding alone (needs PyTorch: pip install -e '.[train]')."""
    try:
        from .embedding_training import EmbeddingConfig, cross_validate_embedding
        import torch  # noqa: F401
    except ImportError as exc:
        raise CliError("evaluate-embedding needs PyTorch: pip install -e '.[train]'") from exc
    if dataset not in ds.SPECS:
        raise CliError(f"unknown dataset {dataset!r}; known: {', '.join(ds.SPECS)}")
    names = [n.strip() for n in train_with.split(",") if n.strip()]
    unknown = [n for n in names if n not in ds.SPECS]
    if unknown:
        raise CliError(f"unknown training dataset(s) {', '.join(unknown)}")
    config = EmbeddingConfig(steps=steps, hidden=hidden, dimension=dimension, residual=residual,
                             learning_rate=1e-3 if residual else 2e-3, augment_stretch=augment,
                             augment_gain=augment, augment_noise=augment)
    try:
        rows = cross_validate_embedding(dataset, _data_root(data), names, config, workers,
                                        lambda msg: err_console.print(msg, markup=False))
    except ValueError as exc:
        raise CliError(str(exc)) from exc
    _print_results(dataset, rows, scores, None, [], [])


def _print_results(dataset: str, rows: list, scores: Optional[Path], det: Optional[Path], failures: list[str],
                   misnamed: list[str]) -> None:
    from .evaluation import plot_det, summarise, write_scores

    summary = summarise(dataset, rows)
    for line in summary.lines():
        console.print(line, highlight=False)
    console.print(f"skipped {len(failures) + len(misnamed)} file(s): {len(failures)} unreadable, "
                  f"{len(misnamed)} not following the {dataset} naming", highlight=False)
    if scores:
        write_scores(rows, scores)
        console.print(f"wrote {scores}")
    if det:
        plot_det([(dataset, rows)], det)
        console.print(f"wrote {det}")


@app.command()
def det(scores: Annotated[list[Path], typer.Option("--scores", help="score files (one curve pair each)")],
        output: Annotated[Path, typer.Option("-o", "--output", help="PNG to write")],
        label: Annotated[Optional[list[str]], typer.Option("--label", help="legend name per score file")] = None
        ) -> None:
    """One DET plot of several score files (skilled and random forgeries of each)."""
    from .evaluation import plot_det, read_scores

    names = list(label or [])
    if names and len(names) != len(scores):
        raise CliError("give one --label per --scores file, or none")
    curves = [(names[i] if names else path.stem, read_scores(path)) for i, path in enumerate(scores)]
    plot_det(curves, output)
    console.print(f"wrote {output}")


@app.command()
def train(datasets: Annotated[str, typer.Option(help="comma-separated development datasets")] =
          "svc2004-task2,susig-visual,susig-blind,sigcomp2011-dutch",
          data: Annotated[Optional[Path], typer.Option(help="data root")] = None,
          output: Annotated[Path, typer.Option("-o", "--output", help="model file to write")] = Path("model.json"),
          workers: Annotated[Optional[int], typer.Option(min=1)] = None,
          components: Annotated[str, typer.Option(
              help="fused component set: compact, extended, spread, rich, or an ablation set (see evaluate)")
                                ] = "extended",
          c: Annotated[float, typer.Option(min=1e-4, max=1e4, help="fusion regularisation")] = 1.0) -> None:
    """Train the learned parts writer-independently on development datasets."""
    from .training import FusionConfig
    from .training import train as run_training

    names = [n.strip() for n in datasets.split(",") if n.strip()]
    unknown = [n for n in names if n not in ds.SPECS]
    if unknown:
        raise CliError(f"unknown dataset(s) {', '.join(unknown)}")
    trained = run_training(names, _data_root(data), workers, lambda msg: err_console.print(msg, markup=False),
                           FusionConfig(components=components, c=c))
    output.write_text(trained.to_json())
    console.print(f"wrote {output} (training skilled EER {100 * trained.notes['training_skilled_eer']:.2f} %)")


@app.command()
def report(output: Annotated[Path, typer.Option("-o", "--output", help="PDF to write")],
           references: Annotated[Optional[list[Path]], typer.Option(
               "--references", help="reference signature files")] = None,
           questioned: Annotated[Optional[Path], typer.Option(help="questioned signature file")] = None,
           questioned_pdf: Annotated[Optional[Path], typer.Option(
               help="sealed PDF holding the questioned signature (with --field and --escrow-key)")] = None,
           field: Annotated[Optional[str], typer.Option(help="signature field of the sealed PDF")] = None,
           escrow_key: Annotated[Optional[list[Path]], typer.Option(
               help="escrow private key(s) that open the PDF's packet")] = None,
           passphrase_env: Annotated[Optional[str], typer.Option(help="env var with the escrow key passphrase")]
           = None,
           trust: Annotated[Optional[list[Path]], typer.Option(
               help="trusted root(s) for the PDF signature (default: DATA_DIR/pki/ca.cert.pem if present)")] = None,
           log_entry: Annotated[Optional[int], typer.Option(
               min=0, help="transparency log entry naming the questioned signature (with --data-dir)")] = None,
           subject: Annotated[Optional[str], typer.Option(
               help="take the references from this subject's enrolment (with --data-dir)")] = None,
           data_dir: Annotated[Optional[Path], typer.Option(
               help="data directory with the log and the enrolment store")] = None,
           database_url: Annotated[Optional[str], typer.Option(help="database URL (default SQLite in data dir)")]
           = None,
           case_id: Annotated[Optional[str], typer.Option(help="case identifier")] = None,
           examiner: Annotated[Optional[str], typer.Option(help="examiner's name")] = None,
           qualification: Annotated[Optional[str], typer.Option(help="examiner's qualification")] = None,
           circumstances: Annotated[Optional[str], typer.Option(help="case circumstances")] = None,
           question: Annotated[Optional[str], typer.Option(help="the question put to the examiner")] = None,
           provenance: Annotated[Optional[str], typer.Option(
               help="who submitted the material, when and how (chain of custody)")] = None,
           conclusion: Annotated[Optional[str], typer.Option(
               help="the examiner's own conclusion (e.g. a SWGDOC or GB/T 37239-2018 term), which needs their "
                    "prior judgement; shown apart from the LR")] = None,
           date: Annotated[Optional[str], typer.Option(
               help="report date, ISO 8601 (default: SOURCE_DATE_EPOCH if set, else now)")] = None,
           lang: Annotated[str, typer.Option(help="zh or en")] = "en",
           json_out: Annotated[Optional[Path], typer.Option("--json", help="also write the numbers as JSON")] = None,
           finger_questioned: Annotated[Optional[Path], typer.Option(
               help="questioned finger-press image: adds the fingerprint comparison section")] = None,
           finger_reference: Annotated[Optional[list[Path]], typer.Option(
               help="reference finger-press image (repeatable)")] = None,
           finger_ppi: Annotated[Optional[float], typer.Option(
               help="resolution of finger-press images that state none (FVC2002: 500)")] = None
           ) -> None:
    """Dynamic signature comparison analysis report (PDF) with a calibrated likelihood ratio.

    The questioned signature is a file (--questioned), a sealed PDF's field (--questioned-pdf),
    or a log entry whose sealed PDF the data directory keeps (--log-entry alone); --log-entry with
    a file or PDF checks that the entry names it. References are files and/or a subject's enrolment.
    """
    from .report import build_report, resolve_date
    from .report import sources as src

    if lang not in ("en", "zh"):
        raise CliError(f"--lang must be zh or en, got {lang!r}")
    try:
        report_date = resolve_date(date)
    except ValueError as exc:
        raise CliError(f"--date must be an ISO 8601 date or time, got {date!r}") from exc
    if questioned is not None and questioned_pdf is not None:
        raise CliError("give the questioned signature once: --questioned or --questioned-pdf")
    if questioned is None and questioned_pdf is None and log_entry is None:
        raise CliError("no questioned signature: give --questioned, --questioned-pdf or --log-entry")
    if (field or escrow_key) and questioned is not None:
        raise CliError("--field and --escrow-key apply to a sealed PDF, not to --questioned FILE")
    from .cli_evidence import _passphrase, _quiet_pyhanko

    _quiet_pyhanko()  # a PDF that fails validation is named in one line, not pyHanko's tracebacks
    ctx = src.open_context(data_dir, database_url) if (log_entry is not None or subject or data_dir) else None
    refs = [src.from_file(p) for p in references or []]
    if subject:
        refs += src.from_store(ctx, subject)
    keys = []
    if escrow_key:
        from .evidence.envelope import load_private_key

        keys = [load_private_key(k, _passphrase(passphrase_env)) for k in escrow_key]
    roots = list(trust or [])
    if not roots and ctx is not None and (ctx.pki_dir / "ca.cert.pem").exists():
        roots = [ctx.pki_dir / "ca.cert.pem"]
    if questioned_pdf is not None:
        if not keys:
            raise CliError("--questioned-pdf needs --escrow-key: only the escrow key opens the handwriting")
        item = src.from_sealed_pdf(questioned_pdf.read_bytes(), questioned_pdf.name, field, keys, roots, ctx)
    elif questioned is not None:
        item = src.from_file(questioned)
    else:
        item = src.from_log_entry(ctx, log_entry, keys, roots, field)
    if log_entry is not None and (questioned is not None or questioned_pdf is not None):
        item = src.with_log_entry(ctx, log_entry, item)
    fingers = _finger_case(finger_questioned, finger_reference or [], finger_ppi)
    # The files are hashed as submitted, byte for byte, besides the packets compared.
    data, pdf = build_report([r.signature for r in refs], item.signature, case_id=case_id, examiner=examiner,
                             lang=lang, qualification=qualification, circumstances=circumstances, question=question,
                             conclusion=conclusion, report_date=report_date,
                             submitted=[*(r.submitted for r in refs), item.submitted], provenance=provenance,
                             fingers=fingers)
    output.write_bytes(pdf)
    if json_out:
        json_out.write_text(json.dumps(data.to_dict(), ensure_ascii=False, indent=1))
    console.print(f"wrote {output}: LR {data.lr:.3g} (log10 {data.log10_lr:+.2f}), {data.enfsi[lang]}",
                  highlight=False)


def _finger_case(questioned: Path | None, references: list[Path], ppi: float | None):  # noqa: ANN202
    """The finger-press material of ``report``, read and named as submitted; None when none was given."""
    from .fingerprint import InvalidFingerprint, read_fingerprint
    from .report import FingerCase, Submitted

    if questioned is None and not references:
        return None
    if questioned is None or not references:
        raise CliError("a finger-press comparison needs --finger-questioned and at least one --finger-reference")
    captures = []
    for option, path in [*(("--finger-reference", p) for p in references), ("--finger-questioned", questioned)]:
        if not path.is_file():
            raise CliError(f"{option} {path}: no such file")
        try:
            captures.append(read_fingerprint(path, ppi=ppi))
        except InvalidFingerprint as exc:
            raise CliError(f"{option} {path.name}: {str(exc).replace('--ppi', '--finger-ppi')}") from exc
    return FingerCase(captures[-1], captures[:-1], [Submitted.from_path(p) for p in [*references, questioned]])


@app.command()
def calibrate(data: Annotated[Optional[Path], typer.Option(help="data root")] = None,
              validation: Annotated[str, typer.Option(help="comma-separated validation datasets")] =
              "svc2004-task1",
              held_out: Annotated[Optional[list[Path]], typer.Option(
                  "--held-out", help="score files of writer-disjoint runs (evaluate --protocol cv4|lodo --scores) "
                                     "to fit on; default: the model's own training datasets")] = None,
              output: Annotated[Path, typer.Option("-o", "--output")] = Path("calibration.json"),
              workers: Annotated[Optional[int], typer.Option(min=1)] = None) -> None:
    """Fit the score-to-LR calibration; report Cllr on validation sets the model was not trained on."""
    from .calibration import Calibration, read_score_sets
    from .model import default_model
    from .training import calibration_scores

    root = _data_root(data)
    model = default_model()
    if not model.trained_on:
        raise CliError("the model records no training datasets")
    names = [n.strip() for n in validation.split(",") if n.strip()]
    overlap = sorted(set(names) & set(model.trained_on))
    if overlap:
        raise CliError(f"validation dataset(s) {', '.join(overlap)} were used to train the model")
    # Scores of writers no fitted part has seen calibrate honestly; the model's own training
    # scores are in-sample and make the LRs overconfident.
    training = (read_score_sets(held_out, "held-out writers of " + "+".join(model.trained_on)) if held_out
                else calibration_scores(model.trained_on, root, model, workers))
    checks = [calibration_scores([n], root, model, workers) for n in names]
    cal = Calibration(training, checks)
    output.write_text(cal.to_json())
    summary = cal.summary
    console.print(f"wrote {output}; log10 LR bounds {summary['bounds_log10'][0]:.2f} .. "
                  f"{summary['bounds_log10'][1]:.2f}")
    for part in ("training", "validation"):
        for name, m in summary[part].items():
            console.print(f"{part} {name}: Cllr {m['cllr']:.3f}, Cllr_min {m['cllr_min']:.3f} "
                          f"({m['n_same']} same-writer, {m['n_different']} forgery comparisons)")


from . import cli_evidence, cli_service  # noqa: E402  (they register their commands on the app)

cli_evidence.register(app)
cli_service.register(app)
from .cli_fingerprint import fingerprint_app  # noqa: E402
app.add_typer(fingerprint_app, name="fingerprint")


def main() -> None:
    """Entry point: run the app, turning every expected error into one line and exit code 2."""
    try:
        # Without standalone mode click returns a command's typer.Exit code instead of exiting.
        code = app(standalone_mode=False)
        if isinstance(code, int) and code:
            sys.exit(code)
    except (InkwitnessError, CliError) as exc:
        err_console.print(f"error: {exc}", highlight=False, markup=False, soft_wrap=True)
        sys.exit(2)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        err_console.print("aborted", markup=False)
        sys.exit(130)
    except typer.TyperException as exc:
        # Usage errors (unknown command, bad option) from the vendored click layer.
        message = exc.format_message() if hasattr(exc, "format_message") else str(exc)
        err_console.print(f"error: {message}", highlight=False, markup=False, soft_wrap=True)
        sys.exit(2)
    except OSError as exc:
        err_console.print(f"error: {exc.strerror or exc}: {getattr(exc, 'filename', '') or ''}".rstrip(": "),
                          highlight=False, markup=False, soft_wrap=True)
        sys.exit(2)


if __name__ == "__main__":
    main()
