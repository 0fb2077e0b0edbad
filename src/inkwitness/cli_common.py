"""Console, errors and progress bars shared by the CLI modules."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

console = Console(width=200 if not sys.stdout.isatty() else None)
err_console = Console(stderr=True)


class CliError(Exception):
    """A usage problem the CLI reports as one line (exit 2)."""


def progress_bar() -> Progress:
    """The progress bar used by every long-running command (on stderr)."""
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                    console=err_console, transient=True)



def local_sealing(pki_dir: Path, data_dir: Path, tsa_url: str | None,
                  escrow_pub: Path | None) -> tuple[Any, str, Path]:
    """Defaults of `serve` and `sign-pdf`: (a local TSA to stop, or None; the TSA URL; the escrow public key).

    The data directory's private PKI (created if missing), a time-stamping authority run in
    this process from its TSA key, and a demo escrow key pair in DATA_DIR/escrow: enough for a
    newcomer to seal with one command; each is announced as a development default.
    """
    from .evidence.envelope import generate_escrow_key, private_pem, public_pem
    from .evidence.pki import create_pki
    from .secretfile import write_secret

    if not (pki_dir / "ca.cert.pem").exists():
        create_pki(pki_dir)
        err_console.print(f"created a private sealing PKI in {pki_dir} (configure your own for production)",
                          markup=False)
    tsa = None
    if tsa_url is None:
        from .evidence.tsa import TsaServer

        tsa = TsaServer(pki_dir / "tsa.cert.pem", pki_dir / "tsa.key.pem").start()
        tsa_url = tsa.url
        err_console.print(f"local time-stamping authority at {tsa_url} (configure a trusted TSA for production)",
                          markup=False)
    if escrow_pub is None:
        escrow_pub = data_dir / "escrow" / "notary.pub.pem"
        if not escrow_pub.exists():
            key = generate_escrow_key()
            escrow_pub.parent.mkdir(parents=True, exist_ok=True)
            write_secret(escrow_pub.parent / "notary.key.pem", private_pem(key), exclusive=True)
            escrow_pub.write_bytes(public_pem(key.public_key()))
            err_console.print(f"created a DEMO escrow key pair in {escrow_pub.parent}: in production the notary "
                              "keeps the private key and the service gets only --escrow-pub", markup=False)
    return tsa, tsa_url, escrow_pub
