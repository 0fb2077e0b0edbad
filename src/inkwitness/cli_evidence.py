"""CLI commands for evidence: PKI and TSA for sealing, escrow keys, PDF sealing and checking,
the transparency log, and offline evidence bundles."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
from contextlib import ExitStack
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.text import Text

from .cli_common import CliError, console, err_console, local_sealing
from .secretfile import write_secret

DataDir = Annotated[Optional[Path], typer.Option("--data-dir", help="data directory (default ./inkwitness-data)")]
DbUrl = Annotated[Optional[str], typer.Option("--database-url", help="database URL (default SQLite in data dir)")]

escrow_app = typer.Typer(help="Escrow (notary) keys and containers.", no_args_is_help=True)
log_app = typer.Typer(help="The transparency log.", no_args_is_help=True)
evidence_app = typer.Typer(help="Offline evidence bundles.", no_args_is_help=True)
pki_app = typer.Typer(help="A private PKI for sealing (development and closed deployments).", no_args_is_help=True)
tsa_app = typer.Typer(help="A local RFC 3161 time-stamping authority.", no_args_is_help=True)
witness_app = typer.Typer(help="An independent log witness that co-signs consistent checkpoints.",
                          no_args_is_help=True)
pdf_app = typer.Typer(help="Sealed PDFs: long-term evidence upkeep.", no_args_is_help=True)


def _context(data_dir: Path | None, database_url: str | None):  # noqa: ANN202
    from .evidence.context import EvidenceContext

    return EvidenceContext.resolve(data_dir, database_url)


def _passphrase(env: str | None) -> bytes | None:
    if not env:
        return None
    value = os.environ.get(env)
    if value is None:
        raise CliError(f"environment variable {env} is not set")
    return value.encode()


PkiFolder = Annotated[Optional[Path], typer.Argument(help="PKI folder (default DATA_DIR/pki)")]


def _pki_paths(folder: Path | None, data_dir: Path | None):  # noqa: ANN202
    """The PKI folder's paths; it must hold the CA key."""
    from .evidence.context import DEFAULT_DATA_DIR
    from .evidence.pki import PkiPaths

    paths = PkiPaths(folder or (data_dir or DEFAULT_DATA_DIR) / "pki")
    if not paths.ca_key.exists():
        raise CliError(f"{paths.folder} holds no CA key (run 'inkwitness pki init')")
    return paths


@pki_app.command("init")
def pki_init(folder: Annotated[Optional[Path], typer.Argument(help="where to write (default DATA_DIR/pki)")] = None,
             data_dir: DataDir = None, org: Annotated[str, typer.Option(help="organisation name")] = "inkwitness",
             base_url: Annotated[str, typer.Option(
                 help="where 'pki serve' will answer: certificates name BASE/ca.crl and BASE/ocsp")]
             = "http://127.0.0.1:3180") -> None:
    """Create a root CA, a document-sealing certificate and a TSA certificate."""
    from .evidence.context import DEFAULT_DATA_DIR
    from .evidence.pki import create_pki

    target = folder or (data_dir or DEFAULT_DATA_DIR) / "pki"
    if (target / "ca.cert.pem").exists():
        raise CliError(f"{target} already holds a PKI; refusing to overwrite it")
    if not base_url.startswith(("http://", "https://")):
        raise CliError(f"--base-url must be an http(s) URL, got {base_url[:60]!r}")
    base = base_url.rstrip("/")
    paths = create_pki(target, org=org, crl_url=f"{base}/ca.crl", ocsp_url=f"{base}/ocsp")
    console.print(f"wrote CA {paths.ca_cert}, signer {paths.signer_cert}, TSA {paths.tsa_cert}; CRL and OCSP "
                  f"at {base}/ca.crl and {base}/ocsp ('inkwitness pki serve')", highlight=False)


def _serial_of(value: str) -> int:
    """A serial number in hex, or the serial of a certificate file (PEM)."""
    from cryptography import x509

    if Path(value).is_file():
        try:
            return x509.load_pem_x509_certificate(Path(value).read_bytes()).serial_number
        except ValueError as exc:
            raise CliError(f"{value} is not a PEM certificate: {exc}") from exc
    try:
        return int(value, 16)
    except ValueError:
        raise CliError(f"expected a serial number in hex or a certificate file, got {value[:60]!r}") from None


@pki_app.command("revoke")
def pki_revoke(certificate: Annotated[str, typer.Argument(help="certificate file (PEM) or serial number (hex)")],
               folder: Annotated[Optional[Path], typer.Option("--pki", help="PKI folder (default DATA_DIR/pki)")]
               = None, data_dir: DataDir = None,
               reason: Annotated[str, typer.Option(help="RFC 5280 reason, e.g. key_compromise, superseded, "
                                                        "cessation_of_operation")] = "unspecified") -> None:
    """Revoke a certificate: recorded in the PKI folder, listed in a fresh CRL, REVOKED over OCSP."""
    from .evidence.pki import REASONS, revoke

    paths = _pki_paths(folder, data_dir)
    if reason not in REASONS:
        raise CliError(f"--reason must be one of {', '.join(REASONS)}")
    record = revoke(paths, _serial_of(certificate), reason)
    console.print(f"revoked {record.serial:x} at {record.time.isoformat()} ({record.reason}); wrote {paths.crl}",
                  highlight=False)


@pki_app.command("issue")
def pki_issue(name: Annotated[str, typer.Argument(help="file stem: writes NAME.cert.pem and NAME.key.pem")],
              folder: Annotated[Optional[Path], typer.Option("--pki", help="PKI folder (default DATA_DIR/pki)")]
              = None, data_dir: DataDir = None,
              purpose: Annotated[str, typer.Option(help="tsa or seal")] = "tsa",
              days: Annotated[int, typer.Option(min=1, max=36500, help="validity (capped at the CA's)")] = 1825,
              common_name: Annotated[Optional[str], typer.Option(help="subject common name")] = None,
              public_key: Annotated[Optional[Path], typer.Option(
                  help="certify this public key (PEM or DER; e.g. of a key made in a hardware module) instead of "
                       "making a key pair")] = None) -> None:
    """Issue a further TSA or sealing certificate, e.g. a TSA certificate that outlives the first."""
    from .evidence.pki import issue_certificate

    paths = _pki_paths(folder, data_dir)
    pub = _load_public_key(public_key) if public_key is not None else None
    try:
        cert, key = issue_certificate(paths, name, common_name or f"inkwitness {purpose} {name}", purpose, days,
                                      public_key=pub)
    except ValueError as exc:
        raise CliError(str(exc)) from exc
    console.print(f"wrote {cert}" + (f" and {key}" if key else " (the key stays where it is)"), highlight=False)


def _load_public_key(path: Path):  # noqa: ANN202
    """A public key from PEM or DER (SubjectPublicKeyInfo, or PKCS#1 for RSA)."""
    from cryptography.hazmat.primitives import serialization

    if not path.is_file():
        raise CliError(f"--public-key {path}: no such file")
    data = path.read_bytes()
    try:
        return (serialization.load_pem_public_key(data) if b"-----BEGIN" in data
                else serialization.load_der_public_key(data))
    except (ValueError, TypeError) as exc:
        raise CliError(f"--public-key {path} is not a public key (PEM or DER): {exc}") from exc


@pki_app.command("serve")
def pki_serve(folder: PkiFolder = None, data_dir: DataDir = None,
              host: Annotated[str, typer.Option()] = "127.0.0.1",
              port: Annotated[int, typer.Option(min=1, max=65535)] = 3180) -> None:
    """Serve the CA's CRL (/ca.crl), OCSP (/ocsp) and the bundled TSA (/tsa) on http://HOST:PORT until interrupted."""
    from .evidence.tsa import TsaServer

    paths = _pki_paths(folder, data_dir)
    server = TsaServer(paths.tsa_cert, paths.tsa_key, host, port)
    base = server.base_url
    console.print(f"PKI listening: CRL {base}/ca.crl, OCSP {base}/ocsp, TSA {server.url}", highlight=False)
    try:
        server.httpd.serve_forever()
    except KeyboardInterrupt:
        server.stop()


@pki_app.command("crl")
def pki_crl(folder: Annotated[Optional[Path], typer.Argument(help="PKI folder (default DATA_DIR/pki)")] = None,
            data_dir: DataDir = None,
            revoke: Annotated[Optional[list[str]], typer.Option(
                help="serial number (hex) of a certificate to list as revoked (repeatable)")] = None,
            days: Annotated[int, typer.Option(min=1, max=3650, help="days until the next update")] = 30) -> None:
    """Issue a fresh CRL (ca.crl) listing every recorded revocation: sealing embeds it; a stale one stops sealing."""
    from .evidence.pki import issue_crl

    paths = _pki_paths(folder, data_dir)
    try:
        serials = tuple(int(s, 16) for s in revoke or [])
    except ValueError:
        raise CliError("--revoke takes certificate serial numbers in hex") from None
    from .evidence.pki import revocations

    out = issue_crl(paths, serials, days)
    console.print(f"wrote {out}: {len(revocations(paths))} revoked certificate(s), next update in {days} days")


@tsa_app.command("serve")
def tsa_serve(pki: Annotated[Path, typer.Option(help="PKI folder with tsa.cert.pem and tsa.key.pem")],
              host: Annotated[str, typer.Option()] = "127.0.0.1",
              port: Annotated[int, typer.Option(min=1, max=65535)] = 3180,
              cert: Annotated[Optional[str], typer.Option(
                  help="another TSA certificate of the PKI, by file stem (e.g. tsa2 for tsa2.cert.pem)")] = None
              ) -> None:
    """Serve RFC 3161 time-stamps on http://HOST:PORT/tsa (and the PKI's CRL and OCSP) until interrupted."""
    from .evidence.tsa import TsaServer

    stem = cert or "tsa"
    for p in (pki / f"{stem}.cert.pem", pki / f"{stem}.key.pem"):
        if not p.exists():
            raise CliError(f"{p} not found")
    server = TsaServer(pki / f"{stem}.cert.pem", pki / f"{stem}.key.pem", host, port)
    console.print(f"TSA listening on {server.url}")
    try:
        server.httpd.serve_forever()
    except KeyboardInterrupt:
        server.stop()


@escrow_app.command("keygen")
def escrow_keygen(out: Annotated[Path, typer.Option("-o", "--out", help="path prefix: PREFIX.key.pem, PREFIX.pub.pem")],
                  type_: Annotated[str, typer.Option("--type", help="x25519 or rsa")] = "x25519",
                  passphrase_env: Annotated[Optional[str], typer.Option(help="env var holding a passphrase")] = None
                  ) -> None:
    """Generate an escrow key pair (the private key stays with the notary)."""
    from .evidence.envelope import generate_escrow_key, key_id, private_pem, public_pem

    key = generate_escrow_key(type_)
    priv, pub = Path(f"{out}.key.pem"), Path(f"{out}.pub.pem")
    if priv.exists():
        raise CliError(f"{priv} exists; refusing to overwrite an escrow key")
    try:
        write_secret(priv, private_pem(key, _passphrase(passphrase_env)), exclusive=True)  # 0600 from creation
    except FileExistsError:
        raise CliError(f"{priv} exists; refusing to overwrite an escrow key") from None
    pub.write_bytes(public_pem(key.public_key()))
    console.print(f"wrote {priv} and {pub} (key id {key_id(key.public_key())})")


@escrow_app.command("rotate")
def escrow_rotate(keyring: Annotated[Path, typer.Option(help="folder of escrow keys")],
                  type_: Annotated[str, typer.Option("--type", help="x25519 or rsa")] = "x25519",
                  passphrase_env: Annotated[Optional[str], typer.Option(help="env var holding a passphrase")] = None
                  ) -> None:
    """Add a new escrow key to a keyring and make it current; old keys stay for old containers."""
    from .evidence.envelope import generate_escrow_key, key_id, private_pem, public_pem

    keyring.mkdir(parents=True, exist_ok=True)
    key = generate_escrow_key(type_)
    kid = key_id(key.public_key())
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    base = keyring / f"escrow-{stamp}-{kid[:12]}"
    write_secret(Path(f"{base}.key.pem"), private_pem(key, _passphrase(passphrase_env)), exclusive=True)
    Path(f"{base}.pub.pem").write_bytes(public_pem(key.public_key()))
    (keyring / "current.pub.pem").write_bytes(public_pem(key.public_key()))
    old = sorted(p.name for p in keyring.glob("escrow-*.key.pem") if kid[:12] not in p.name)
    console.print(f"new current escrow key {kid} ({base}.pub.pem); {len(old)} older key(s) kept")


def _containers_from(path: Path, field: str | None) -> list[tuple[str, bytes]]:
    data = path.read_bytes()
    if not data.startswith(b"%PDF"):
        return [(path.name, data)]
    import io

    from pyhanko.pdf_utils.reader import PdfFileReader

    from .evidence.pdf import SEAL_FIELD_PREFIX, evidence_of

    out = []
    for emb in PdfFileReader(io.BytesIO(data), strict=False).embedded_signatures:
        if (field and emb.field_name != field) or emb.sig_object_type == "/DocTimeStamp":
            continue
        container, problem = evidence_of(emb)
        if container is None and str(emb.field_name).startswith(SEAL_FIELD_PREFIX):
            continue  # the organisation seal's approval of an event-certificate signature: no handwriting
        if container is None:
            raise CliError(f"{emb.field_name}: {problem}")
        out.append((str(emb.field_name), container.to_bytes()))
    if not out:
        raise CliError("no signature with a biometric container found" + (f" in field {field}" if field else ""))
    return out


@escrow_app.command("decrypt")
def escrow_decrypt(container: Annotated[Path, typer.Argument(help="container JSON, or a sealed PDF")],
                   key: Annotated[list[Path], typer.Option("--key", help="escrow private key (repeat for a keyring)")],
                   output: Annotated[Optional[Path], typer.Option("-o", "--output", help="packet file to write")] = None,
                   document: Annotated[Optional[Path], typer.Option(help="original document to check binding")] = None,
                   document_sha256: Annotated[Optional[str], typer.Option(help="expected document SHA-256")] = None,
                   field: Annotated[Optional[str], typer.Option(help="signature field (sealed PDFs)")] = None,
                   passphrase_env: Annotated[Optional[str], typer.Option(help="env var holding the passphrase")] = None
                   ) -> None:
    """Recover the biometric packet and check it is bound to the stated document."""
    from .evidence.envelope import Container, find_key, load_private_key, open_container
    from .formats import native

    keys = [load_private_key(k, _passphrase(passphrase_env)) for k in key]
    expected = document_sha256 or (hashlib.sha256(document.read_bytes()).hexdigest() if document else None)
    sealed_pdf = container.read_bytes() if container.read_bytes().startswith(b"%PDF") else None
    items = _containers_from(container, field)
    for name, raw in items:
        parsed = Container.from_bytes(raw)
        bound_to = expected
        if sealed_pdf is not None and bound_to is None:
            # Each signature of a sealed PDF is bound to the document as it was before it.
            length = parsed.header.get("extra", {}).get("document_length")
            bound_to = hashlib.sha256(sealed_pdf[:length]).hexdigest() if isinstance(length, int) else None
        packet = open_container(parsed, find_key(parsed, keys), bound_to)
        sig = native.loads(packet)
        target = None
        if output is not None:
            # One container goes to the named file; several go into the named folder.
            target = output if len(items) == 1 else output / f"{name}.json"
            target.parent.mkdir(parents=True, exist_ok=True)
        if target:
            target.write_bytes(packet)
        console.print(f"{name}: packet {sig.sha256} ({len(sig)} points), bound to document {parsed.document_sha256}"
                      + (f", wrote {target}" if target else ""), highlight=False, markup=False)


def sign_pdf_command(
        pdf: Annotated[Path, typer.Argument(help="PDF to sign")],
        signature: Annotated[Path, typer.Option(help="signature packet (any readable format)")],
        page: Annotated[int, typer.Option(min=1, help="page number, from 1")],
        box: Annotated[str, typer.Option(help="x1,y1,x2,y2 in PDF points")],
        output: Annotated[Path, typer.Option("-o", "--output", help="sealed PDF to write")],
        tsa_url: Annotated[Optional[str], typer.Option(
            help="RFC 3161 TSA URL (default: a local TSA from the PKI folder, as serve runs)")] = None,
        escrow_pub: Annotated[Optional[Path], typer.Option(
            help="escrow public key (PEM; default: DATA_DIR/escrow/notary.pub.pem, a demo pair made if missing)")]
        = None,
        pki: Annotated[Optional[Path], typer.Option(help="PKI folder (signer cert/key, CA)")] = None,
        cert: Annotated[Optional[Path], typer.Option(help="signing certificate (PEM)")] = None,
        key: Annotated[Optional[Path], typer.Option(help="signing key (PEM)")] = None,
        chain: Annotated[Optional[list[Path]], typer.Option(help="CA chain certificate(s)")] = None,
        signer_name: Annotated[Optional[str], typer.Option(help="name shown with the signature")] = None,
        subject: Annotated[Optional[str], typer.Option(help="subject id recorded in the log")] = None,
        reserve: Annotated[Optional[list[str]], typer.Option(
            help="PAGE:x1,y1,x2,y2 -- reserve a signature field for a further signer (first seal only; "
                 "repeatable)")] = None,
        allow_form_filling: Annotated[bool, typer.Option(
            "--allow-form-filling", help="certify with form filling allowed (default: no changes, fields "
                                         "locked)")] = False,
        crl: Annotated[Optional[list[Path]], typer.Option(
            help="CRL(s) to embed for long-term validation (default: ca.crl of the PKI folder, if any)")] = None,
        lta: Annotated[bool, typer.Option("--lta/--no-lta", help="PAdES B-LTA (DSS with CRLs and a document "
                                                                 "time-stamp) when CRLs are available")] = True,
        ocsp: Annotated[bool, typer.Option("--ocsp/--no-ocsp", help="ask the certificates' OCSP responders and "
                                                                   "embed their answers (B-LTA; with --lta)")] = True,
        nonce: Annotated[Optional[str], typer.Option(
            help="the server nonce issued for this signing (required when the packet is bound to one)")] = None,
        data_dir: DataDir = None, database_url: DbUrl = None,
        finger: Annotated[Optional[Path], typer.Option(
            help="finger-press image: its red mark is drawn beside the signature and the capture escrowed")] = None,
        finger_ppi: Annotated[Optional[float], typer.Option(
            help="resolution of the finger-press image when it states none (FVC2002: 500)")] = None,
        event_certificate: Annotated[bool, typer.Option(
            "--event-certificate", help="sign the handwriting with a short-lived certificate the PKI's CA issues "
                                        "for this signer (--signer-name, --subject) and this document; the seal "
                                        "then approves in a field of its own")] = False,
        event_minutes: Annotated[int, typer.Option(
            min=1, max=1440, help="validity of the event certificate in minutes")] = 60,
        pkcs11_module: Annotated[Optional[Path], typer.Option(
            help="PKCS#11 module holding the seal key, e.g. /usr/lib/softhsm/libsofthsm2.so (needs --cert)")]
        = None,
        pkcs11_token: Annotated[Optional[str], typer.Option(help="label of the PKCS#11 token")] = None,
        pkcs11_key: Annotated[Optional[str], typer.Option(help="label of the seal key on the token")] = None,
        pkcs11_pin_env: Annotated[Optional[str], typer.Option(help="env var holding the token's user PIN")]
        = None) -> None:
    """Seal a handwritten signature into a PDF (PAdES B-T) and record it in the log.

    Refused when the packet is bound at capture to another document or nonce, or when the
    log shows the same packet already sealed into another document. With --finger, a
    capture that passes the quality check is drawn as the red mark and escrowed beside it.
    """
    from .evidence.binding import append_signing, check_binding, check_not_sealed_elsewhere
    from .evidence.envelope import load_public_key
    from .evidence.log import entry_time
    from .evidence.pdf import SealConfig, parse_box, sign_pdf
    from .formats import read_signature

    ctx = _context(data_dir, database_url)
    folder = pki or ctx.pki_dir
    with ExitStack() as stack:
        if tsa_url is None or escrow_pub is None:
            if pki is not None or cert is not None:
                raise CliError("--pki/--cert need --tsa-url and --escrow-pub (the defaults come with the data "
                               "directory's own PKI)")
            # As serve does: the data directory's PKI, a local TSA and a demo escrow key unless told otherwise.
            tsa, tsa_url, escrow_pub = local_sealing(folder, ctx.data_dir, tsa_url, escrow_pub)
            if tsa is not None:
                stack.callback(tsa.stop)
        hsm = _pkcs11_key(pkcs11_module, pkcs11_token, pkcs11_key, pkcs11_pin_env, cert, key)
        cert = cert or folder / "signer.cert.pem"
        key = None if hsm else key or folder / "signer.key.pem"
        chain = chain or [folder / "ca.cert.pem"]
        for p in (cert, *([key] if key else []), *chain):
            if not p.exists():
                raise CliError(f"{p} not found (run 'inkwitness pki init' or pass --cert/--key/--chain)")
        if event_certificate and not (signer_name or "").strip():
            raise CliError("--event-certificate needs --signer-name: the certificate names the signer")
        if event_certificate and not (folder / "ca.key.pem").exists():
            raise CliError(f"--event-certificate: {folder} holds no CA key to issue event certificates with "
                           "(pass --pki)")
        sig = read_signature(signature)
        source = pdf.read_bytes()
        source_sha256 = hashlib.sha256(source).hexdigest()
        # Cheap refusals first: sealing costs a time-stamp request.
        check_binding(sig, source_sha256, nonce, require_nonce_check=True)
        check_not_sealed_elsewhere(ctx.log, sig.sha256, source_sha256)
        reserved = []
        for item in reserve or []:
            r_page, sep, r_box = item.partition(":")
            if not sep or not r_page.strip().isdigit():
                raise CliError(f"--reserve expects PAGE:x1,y1,x2,y2, got {item[:60]!r}")
            reserved.append((int(r_page), parse_box(r_box)))
        press = _finger_press(finger, finger_ppi) if finger is not None else None
        crls = tuple(crl or ([folder / "ca.crl"] if (folder / "ca.crl").exists() else [])) if lta else ()
        config = SealConfig(cert, key, tuple(chain), tsa_url, load_public_key(escrow_pub),
                            form_policy="fill" if allow_form_filling else "locked", crls=crls, ocsp=ocsp and lta,
                            event_pki=folder if event_certificate else None,
                            event_validity=dt.timedelta(minutes=event_minutes), pkcs11=hsm)
        sealed, container = sign_pdf(source, sig, page, parse_box(box), config, signer_name=signer_name,
                                     expected_nonce=nonce, reserve=reserved,
                                     finger_mark=press[1] if press is not None else None,
                                     subject_id=subject if event_certificate else None)
        event = {"type": "signing", "time": entry_time(), "document_sha256": source_sha256,
                 "signed_document_sha256": hashlib.sha256(sealed).hexdigest(), "signature_sha256": sig.sha256,
                 "container_sha256": container.sha256, "escrow_key_id": container.key_id,
                 "field": container.header["extra"]["field"], "subject": subject}
        finger_container = None
        if press is not None:
            from .evidence.envelope import seal_fingerprint

            # As the service does: the capture goes to the escrow key, bound to the same document, beside the
            # packet, and the log entry names both hashes so that bundles and verify-pdf can show them.
            finger_container = seal_fingerprint(press[0], source_sha256, config.escrow, press[2], sig.sha256)
            event.update(fingerprint_sha256=press[0].sha256, fingerprint_container_sha256=finger_container.sha256)
        # Checked again inside the log's transaction, so a concurrent sealing cannot slip in.
        entry = append_signing(ctx.log, event)
        output.write_bytes(sealed)
        ctx.store_artifact(sealed, "pdf", entry.index)
        ctx.store_artifact(container.to_bytes(), "container", entry.index)
        extra = ""
        if finger_container is not None:
            ctx.store_artifact(finger_container.to_bytes(), "finger-container", entry.index)
            extra = f"; finger-press {press[0].sha256} escrowed"
        console.print(f"wrote {output}; log entry {entry.index}; signature {sig.sha256}{extra}", markup=False)


def _pkcs11_key(module: Path | None, token: str | None, key_label: str | None, pin_env: str | None,
                cert: Path | None, key: Path | None):  # noqa: ANN202
    """The seal key in a PKCS#11 module, when --pkcs11-module is given; every part must then be named."""
    from .evidence.pkcs11 import Pkcs11Key

    if module is None:
        if token or key_label or pin_env:
            raise CliError("--pkcs11-token, --pkcs11-key and --pkcs11-pin-env need --pkcs11-module")
        return None
    missing = [name for name, value in (("--pkcs11-token", token), ("--pkcs11-key", key_label),
                                        ("--pkcs11-pin-env", pin_env), ("--cert", cert)) if not value]
    if missing:
        raise CliError(f"--pkcs11-module needs {', '.join(missing)} (--cert: the certificate issued for the "
                       "token's key)")
    if key is not None:
        raise CliError("--key and --pkcs11-module exclude each other: the key is in the module")
    pin = os.environ.get(str(pin_env))
    if not pin:
        raise CliError(f"environment variable {pin_env} (the token's PIN) is not set")
    return Pkcs11Key(module, str(token), str(key_label), pin)


def _finger_press(path: Path, ppi: float | None):  # noqa: ANN202
    """The capture, its red mark (PNG) and its ISO/IEC 19794-2 template; a poor capture is refused."""
    from .fingerprint import InvalidFingerprint, read_fingerprint, require_quality, write_iso2005
    from .fingerprint.mark import mark_png

    if not path.is_file():
        raise CliError(f"--finger {path}: no such file")
    try:
        fp = read_fingerprint(path, ppi=ppi)
    except InvalidFingerprint as exc:
        raise CliError(f"--finger {path.name}: {str(exc).replace('--ppi', '--finger-ppi')}") from exc
    extraction, _ = require_quality(fp)
    return fp, mark_png(fp), write_iso2005(extraction.template)


def _quiet_pyhanko() -> None:
    """pyHanko logs validation failures with tracebacks; the report already names them in one line."""
    import logging

    for name in ("pyhanko", "pyhanko_certvalidator"):
        logging.getLogger(name).setLevel(logging.CRITICAL)


def _existing_context(data_dir: Path | None, database_url: str | None):  # noqa: ANN202
    """The evidence context when its database exists; None otherwise (a check must not create one)."""
    from .evidence.context import DATA_DIR_ENV, DATABASE_URL_ENV, DEFAULT_DATA_DIR

    folder = data_dir or Path(os.environ.get(DATA_DIR_ENV) or DEFAULT_DATA_DIR)
    if not (database_url or os.environ.get(DATABASE_URL_ENV)) and not (folder / "inkwitness.db").exists():
        return None
    return _context(folder, database_url)


def _subject_map(values: list[str], fields: list[str]) -> dict[str, str]:
    """``FIELD=ID`` pairs by field; a bare ``ID`` only when the PDF has exactly one signature."""
    out: dict[str, str] = {}
    for value in values:
        field, sep, subject = value.partition("=")
        if not sep:
            if len(fields) != 1:
                raise CliError(f"the PDF has {len(fields)} signatures; name the field: --subject FIELD=ID "
                               f"(fields: {', '.join(fields)})")
            field, subject = fields[0], value
        if field not in fields:
            raise CliError(f"--subject {value}: the PDF has no signature field {field!r} "
                           f"(fields: {', '.join(fields)})")
        if not subject or field in out:
            raise CliError(f"--subject {value}: expected FIELD=ID, each field once")
        out[field] = subject
    return out


def _reverify(data: bytes, subjects: dict[str, str], escrow_keys: list[Path], ctx,  # noqa: ANN001
              passphrase_env: str | None) -> dict[str, dict]:
    """Decrypt each named field's container and score it against that field's subject."""
    import io

    from pyhanko.pdf_utils.reader import PdfFileReader

    from .errors import InkwitnessError
    from .evidence.envelope import find_key, load_private_key, open_container
    from .evidence.pdf import evidence_of
    from .formats import native
    from .service.custody import key_path, open_vault
    from .service.settings import STORAGE_KEY_ENV, Settings
    from .service.storage import Repository
    from .verification import Verifier

    settings = Settings(data_dir=ctx.data_dir, database_url=ctx.database_url)
    # Every key of the keyring (references sealed before a rotation too); never a fresh key, which opens nothing.
    if not os.environ.get(STORAGE_KEY_ENV) and not key_path(settings).exists():
        raise CliError(f"re-verification needs the storage key: {key_path(settings)} is missing and "
                       f"{STORAGE_KEY_ENV} is not set")
    repo = Repository(ctx.sessions, open_vault(settings, ctx.sessions))
    keys = [load_private_key(k, _passphrase(passphrase_env)) for k in escrow_keys]
    verifiers: dict[str, Verifier] = {}
    out = {}
    for emb in PdfFileReader(io.BytesIO(data), strict=False).embedded_signatures:
        field = str(emb.field_name)
        subject = subjects.get(field)
        if subject is None or emb.sig_object_type == "/DocTimeStamp":
            continue
        container, problem = evidence_of(emb)
        if container is None:
            out[field] = {"error": problem}
            continue
        try:
            if subject not in verifiers:
                _, rows = repo.active_enrolment(repo.tenant_of_subject(subject), subject)
                verifiers[subject] = Verifier().fit([repo.load_signature(r) for r in rows], check_consistency=False)
            length = container.header.get("extra", {}).get("document_length")
            bound = hashlib.sha256(data[:length]).hexdigest() if isinstance(length, int) else None
            sig = native.loads(open_container(container, find_key(container, keys), bound))
        except InkwitnessError as exc:
            out[field] = {"error": str(exc)}
            continue
        result = verifiers[subject].score(sig)
        out[field] = {"score": result.score, "decision": result.decision, "reasons": result.reasons}
    return out


def _recorded_subjects(checks: list, ctx) -> dict[str, str]:  # noqa: ANN001
    """The subject each signature was sealed for, from the log's signing event of its container."""
    out = {}
    for c in checks:
        digest = c.biometric.get("container_sha256")
        if ctx is None or not digest:
            continue
        subjects = {e.get("subject") for _, e in ctx.log.find(container_sha256=digest, type="signing")}
        subjects.discard(None)
        if len(subjects) == 1:
            out[c.field] = subjects.pop()
    return out


def verify_pdf_command(
        pdf: Annotated[Path, typer.Argument(help="sealed PDF")],
        trust: Annotated[Optional[list[Path]], typer.Option(help="trusted root certificate(s)")] = None,
        subject: Annotated[Optional[list[str]], typer.Option(
            help="FIELD=ID: re-verify that field's handwriting against subject ID (repeatable; a bare ID "
                 "for a one-signature PDF); default: the subject recorded at sealing")] = None,
        escrow_key: Annotated[Optional[list[Path]], typer.Option(help="escrow private key(s), to re-verify")] = None,
        passphrase_env: Annotated[Optional[str], typer.Option(help="env var with the escrow key passphrase")] = None,
        data_dir: DataDir = None, database_url: DbUrl = None,
        at: Annotated[Optional[str], typer.Option(
            "--at", help="validate certificates at this time (ISO 8601, e.g. 2031-12-31 or 2031-12-31T12:00Z)")]
        = None,
        as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False) -> None:
    """Report each signature: PAdES validity, time-stamp, later changes, biometric binding. Exit 1 if any fails.

    With the escrow key (only the escrow holder can read the handwriting) each signature is
    also re-verified against its subject's enrolled template: the one named with
    ``--subject FIELD=ID``, else the one recorded in the log when it was sealed. A
    re-verification that does not say genuine fails the signature.
    """
    from .evidence.context import DEFAULT_DATA_DIR
    from .evidence.pdf import verify_pdf

    roots = trust or [(data_dir or DEFAULT_DATA_DIR) / "pki" / "ca.cert.pem"]
    for r in roots:
        if not r.exists():
            raise CliError(f"trust root {r} not found (pass --trust)")
    if subject and not escrow_key:
        raise CliError("--subject needs --escrow-key: the handwriting is readable only with the escrow key")
    moment = None
    if at is not None:
        try:
            moment = dt.datetime.fromisoformat(at.replace("Z", "+00:00"))
        except ValueError:
            raise CliError(f"--at must be an ISO 8601 date or time, got {at[:40]!r}") from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=dt.timezone.utc)  # a bare date or time means UTC
    _quiet_pyhanko()
    raw = pdf.read_bytes()
    checks = verify_pdf(raw, roots, at=moment)
    ctx = _existing_context(data_dir, database_url)
    if ctx is not None:
        from .evidence.binding import reuse_problems

        for c in checks:
            sig_sha, doc_sha = c.biometric.get("signature_sha256"), c.biometric.get("document_sha256")
            if sig_sha and doc_sha:
                c.problems.extend(reuse_problems(ctx.log, sig_sha, doc_sha))
                _record_finger_press(c, ctx, sig_sha, doc_sha)
    subjects: dict[str, str] = {}
    if escrow_key:
        # The packet is readable only with the escrow key: its capture binding is reported with it.
        bindings = _capture_bindings(raw, escrow_key, passphrase_env)
        for c in checks:
            if c.field in bindings:
                c.biometric["capture_binding"] = bindings[c.field]
                if bindings[c.field].get("matches") is False:
                    c.problems.append(f"the handwriting was captured for document {bindings[c.field]['document_sha256']}"
                                      f", not for the document this signature seals "
                                      f"({c.biometric.get('document_sha256')})")
        if ctx is None:
            raise CliError("re-verification needs the enrolments: no database found (pass --data-dir)")
        subjects = {**_recorded_subjects(checks, ctx), **_subject_map(subject or [], [c.field for c in checks])}
        outcomes = _reverify(raw, subjects, escrow_key, ctx, passphrase_env)
        for c in checks:
            if c.field in outcomes:
                c.record_reverification(subjects[c.field], outcomes[c.field])
            else:
                c.biometric["reverification"] = {"skipped": "no subject recorded at sealing; pass --subject "
                                                            f"{c.field}=ID"}
    if as_json:
        console.print_json(json.dumps([c.to_dict() for c in checks]))
    else:
        for i, c in enumerate(checks, 1):
            ts = c.timestamp["time"] if c.timestamp else "none"
            # Field names, signer names, times and problems come from the document: printed
            # as plain text (markup=False, Text for colour), never interpreted as markup.
            console.print(Text.assemble((f"signature {i} ({c.field})", "bold"), f": {'OK' if c.ok else 'FAILED'}"),
                          highlight=False)
            console.print(f"  signer: {c.signer}; intact {c.intact}, valid {c.valid}, trusted {c.trusted}",
                          highlight=False, markup=False)
            _print_certificate(c)
            console.print(f"  time-stamp: {ts}; coverage {c.coverage}; changes after signing: "
                          f"{c.modification_level}", highlight=False, markup=False)
            if c.role != "organisation seal":
                console.print(f"  biometric container: present {c.biometric.get('present')}, bound to this "
                              f"document {c.biometric.get('bound')}, signature sha256 "
                              f"{c.biometric.get('signature_sha256')}", highlight=False, markup=False)
            if c.certification:
                console.print(f"  certification: DocMDP {c.certification}", highlight=False, markup=False)
            if c.ltv:
                stamps = ", ".join(d.get("time", "damaged") for d in c.ltv["document_timestamps"]) or "none"
                console.print(f"  PAdES level: {c.ltv['level']}; CRLs in DSS: {c.ltv['dss_crls']}; OCSP responses "
                              f"in DSS: {c.ltv.get('dss_ocsps', 0)}; document time-stamps: {stamps}", highlight=False,
                              markup=False)
            for change in c.field_changes:
                if change["allowed"]:
                    console.print(f"  form field {change['field']!r} {change['change']} after this signature: "
                                  f"{change['old']!r} \u2192 {change['new']!r} (allowed by the certification)",
                                  highlight=False, markup=False)
            press = c.biometric.get("finger_press")
            if press:
                console.print(f"  finger-press: capture sha256 {press['fingerprint_sha256']}, escrowed container "
                              f"{press['container_sha256']} (log entry {press['log_index']})", highlight=False,
                              markup=False)
            cb = c.biometric.get("capture_binding")
            if cb is not None:
                console.print("  capture binding: " + _binding_line(cb), highlight=False, markup=False)
            rv = c.biometric.get("reverification")
            if rv and "skipped" in rv:
                console.print(f"  re-verification: not done ({rv['skipped']})", highlight=False, markup=False)
            elif rv:
                console.print(f"  re-verification against subject {rv['subject']}: "
                              + (f"{rv['decision']} (score {rv['score']:+.2f})" if "score" in rv else rv["error"]),
                              highlight=False, markup=False)
            for problem in c.problems:
                console.print(Text.assemble("  ", ("problem", "red"), f": {problem}"), highlight=False)
    if not all(c.ok for c in checks):
        raise typer.Exit(1)


def _print_certificate(check: Any) -> None:
    """The signer certificate's subject and role; for an event certificate, the document it is bound to."""
    cert = check.certificate
    if not cert:
        return
    console.print(f"  certificate: {cert['subject']} (serial {cert['serial']}; issuer {cert['issuer']})"
                  + ("; organisation seal, no handwriting of its own" if check.role == "organisation seal" else ""),
                  highlight=False, markup=False)
    event = cert.get("event")
    if event:
        console.print(f"  event certificate: subject id {event['subject_id']}; bound to document sha256 "
                      f"{event['document_sha256']} ("
                      + ("the revision it signed" if event["matches"] else
                         f"NOT the revision it signed, sha256 {event['signed_document_sha256']}") + ")",
                      highlight=False, markup=False)


def _capture_bindings(data: bytes, escrow_keys: list[Path], passphrase_env: str | None) -> dict[str, dict]:
    """Each signature's capture binding, from the packet the escrow key opens: does it name this document?"""
    import io

    from pyhanko.pdf_utils.reader import PdfFileReader

    from .errors import InkwitnessError
    from .evidence.binding import binding_of, nonce_sha256
    from .evidence.envelope import find_key, load_private_key, open_container
    from .evidence.pdf import evidence_of
    from .formats import native

    keys = [load_private_key(k, _passphrase(passphrase_env)) for k in escrow_keys]
    out: dict[str, dict] = {}
    for emb in PdfFileReader(io.BytesIO(data), strict=False).embedded_signatures:
        if emb.sig_object_type == "/DocTimeStamp":
            continue
        container, _ = evidence_of(emb)
        if container is None:
            continue  # verify_pdf names a missing or damaged container already
        length = container.header.get("extra", {}).get("document_length")
        sealed_doc = hashlib.sha256(data[:length]).hexdigest() if isinstance(length, int) else None
        try:
            binding = binding_of(native.loads(open_container(container, find_key(container, keys), sealed_doc)))
        except InkwitnessError as exc:
            out[str(emb.field_name)] = {"error": str(exc)}
            continue
        if binding is None:
            out[str(emb.field_name)] = {"present": False}
            continue
        bound_doc, nonce = binding.get("document_sha256"), binding.get("nonce")
        doc = container.header.get("document_sha256")
        out[str(emb.field_name)] = {
            "present": True, "document_sha256": bound_doc,
            "matches": (bound_doc.lower() == doc) if isinstance(bound_doc, str) and isinstance(doc, str) else None,
            "nonce_sha256": nonce_sha256(nonce) if isinstance(nonce, str) else None}
    return out


def _binding_line(cb: dict) -> str:
    """How verify-pdf prints one capture binding."""
    if "error" in cb:
        return f"not read ({cb['error']})"
    if not cb.get("present"):
        return "none (the packet carries no capture binding)"
    nonce = f"; server nonce sha256 {cb['nonce_sha256'][:16]}..." if cb.get("nonce_sha256") else "; no nonce"
    if cb.get("matches") is None:
        return f"names no document{nonce}"
    return (f"document sha256 {'matches' if cb['matches'] else 'DIFFERS'} "
            f"({cb['document_sha256']}){nonce}")


def _record_finger_press(check: Any, ctx: Any, signature_sha256: str, document_sha256: str) -> None:
    """Name the finger-press the log records beside this signature (the mark itself is in the signed ink)."""
    for index, event in ctx.log.find(signature_sha256=signature_sha256, type="signing"):
        if event.get("document_sha256") == document_sha256 and event.get("fingerprint_sha256"):
            check.biometric["finger_press"] = {"fingerprint_sha256": event["fingerprint_sha256"],
                                               "container_sha256": event.get("fingerprint_container_sha256"),
                                               "log_index": index}
            return


@log_app.command("verify")
def log_verify(data_dir: DataDir = None, database_url: DbUrl = None) -> None:
    """Recompute every leaf, root and checkpoint; name any altered, removed, inserted or reordered entry."""
    report = _context(data_dir, database_url).log.verify()
    if report.ok:
        console.print(f"log OK: {report.size} entries, {report.checkpoints} signed checkpoints")
        return
    for problem in report.problems:
        err_console.print(f"log problem: {problem}", markup=False)
    raise typer.Exit(1)


@log_app.command("checkpoint")
def log_checkpoint(data_dir: DataDir = None, database_url: DbUrl = None) -> None:
    """Print the newest signed checkpoint and the verifier key."""
    ctx = _context(data_dir, database_url)
    console.print(ctx.log.latest_checkpoint(), end="", highlight=False, markup=False)
    console.print(f"verifier key: {ctx.log.verifier_key}", highlight=False, markup=False)


@log_app.command("show")
def log_show(index: Annotated[int, typer.Argument(min=0)], data_dir: DataDir = None, database_url: DbUrl = None
             ) -> None:
    """Print one entry and its inclusion proof."""
    ctx = _context(data_dir, database_url)
    data, leaf = ctx.log.entry(index)
    console.print_json(json.dumps({"index": index, "leaf_hash": leaf, "event": json.loads(data),
                                   "audit_path": ctx.log.inclusion_proof(index)}))


@log_app.command("prove")
def log_prove(index: Annotated[int, typer.Argument(min=0, help="entry index")],
              size: Annotated[Optional[int], typer.Option(min=1, help="tree size (default: the whole log)")] = None,
              data_dir: DataDir = None, database_url: DbUrl = None) -> None:
    """Print an inclusion proof: the entry, its audit path and the signed checkpoint it verifies against."""
    ctx = _context(data_dir, database_url)
    console.print_json(json.dumps(ctx.log.prove_inclusion(index, size)))


@log_app.command("consistency")
def log_consistency(old: Annotated[int, typer.Option("--from", min=1, help="older tree size")],
                    new: Annotated[Optional[int], typer.Option("--to", min=1, help="newer tree size (default: all)")]
                    = None, data_dir: DataDir = None, database_url: DbUrl = None) -> None:
    """Print a consistency proof that the tree of --from entries is a prefix of the tree of --to entries."""
    ctx = _context(data_dir, database_url)
    console.print_json(json.dumps(ctx.log.prove_consistency(old, new)))


@log_app.command("add-cosignature")
def log_add_cosignature(note: Annotated[Path, typer.Argument(help="co-signed checkpoint note from a witness")],
                        data_dir: DataDir = None, database_url: DbUrl = None) -> None:
    """Keep a witness's co-signature of one of this log's checkpoints (bundles then carry it)."""
    ctx = _context(data_dir, database_url)
    size, kept = ctx.add_cosignatures(note.read_text())
    console.print(f"checkpoint of size {size}: {kept} co-signature line(s) kept")


@log_app.command("witness")
def log_witness(url: Annotated[str, typer.Option(help="witness base URL (POST URL/add-checkpoint)")],
                data_dir: DataDir = None, database_url: DbUrl = None) -> None:
    """Ask a witness to co-sign the newest checkpoint, proving consistency with the last one it signed."""
    from .evidence.witness import WitnessConflict, WitnessError, submit

    ctx = _context(data_dir, database_url)
    state_path = ctx.data_dir / "witnesses.json"
    state = json.loads(state_path.read_text()) if state_path.exists() else {}
    note = ctx.log.latest_checkpoint()
    size = int(note.split("\n")[1])
    old = int(state.get(url, 0))
    for _ in range(2):
        proof = ([bytes.fromhex(h) for h in ctx.log.consistency_proof(old, size)] if 0 < old < size else [])
        try:
            line = submit(url, old, proof, note)
            break
        except WitnessConflict as exc:
            old = exc.size  # the witness says where it stands; prove from there once
        except WitnessError as exc:
            err_console.print(f"witness refuses: {exc}", highlight=False, markup=False)
            raise typer.Exit(1) from None
    else:
        raise CliError(f"the witness at {url} keeps reporting another size")
    ctx.add_cosignatures(note.rstrip("\n") + "\n" + line + "\n")
    state[url] = size
    state_path.write_text(json.dumps(state, indent=1, sort_keys=True))
    console.print(f"checkpoint of size {size} co-signed: {line}", highlight=False, markup=False)


def _witness(key: Path, name: str, state: Path, origin: str, log_key: str):  # noqa: ANN202
    from .evidence.checkpoint import parse_verifier_key
    from .evidence.witness import Witness, load_or_create_witness_key

    parse_verifier_key(log_key)  # a malformed pinned key is bad input, not a refusal
    if not key.exists():
        raise CliError(f"{key} not found (run 'inkwitness witness keygen')")
    return Witness(name, load_or_create_witness_key(key), state, {origin: log_key})


WitnessKey = Annotated[Path, typer.Option("--key", help="the witness's Ed25519 private key (PEM)")]
WitnessName = Annotated[str, typer.Option("--name", help="the witness's name in note signatures")]
WitnessState = Annotated[Path, typer.Option("--state", help="file remembering the last co-signed tree")]
LogOrigin = Annotated[str, typer.Option("--origin", help="origin line of the log's checkpoints")]
PinnedLogKey = Annotated[str, typer.Option("--log-key", help="the log's verifier key, pinned")]


@witness_app.command("keygen")
def witness_keygen(key: WitnessKey, name: WitnessName) -> None:
    """Create the witness's own key and print the verifier key relying parties pin."""
    from .evidence.witness import load_or_create_witness_key, witness_verifier_key

    if key.exists():
        raise CliError(f"{key} exists; refusing to overwrite a witness key")
    private = load_or_create_witness_key(key)
    console.print(f"witness key: {witness_verifier_key(name, private.public_key())}", highlight=False, markup=False)


@witness_app.command("cosign")
def witness_cosign(checkpoint: Annotated[Path, typer.Argument(help="the log's signed checkpoint note")],
                   key: WitnessKey, name: WitnessName, state: WitnessState, log_key: PinnedLogKey,
                   origin: LogOrigin = "inkwitness.local/log",
                   proof: Annotated[Optional[Path], typer.Option(
                       help="consistency proof JSON ('inkwitness log consistency') from the last co-signed size")]
                   = None,
                   output: Annotated[Optional[Path], typer.Option("-o", "--output", help="co-signed note to write")]
                   = None) -> None:
    """Co-sign a checkpoint only if it is consistent with the last one this witness signed. Exit 1 if not."""
    from .evidence.witness import WitnessError

    witness = _witness(key, name, state, origin, log_key)
    old, path = 0, []
    if proof is not None:
        try:
            data = json.loads(proof.read_text())
            old, path = int(data["from"]), [bytes.fromhex(h) for h in data["proof"]]
        except (ValueError, KeyError, TypeError) as exc:
            raise CliError(f"{proof} is not a consistency proof: {exc}") from exc
    note = checkpoint.read_text()
    try:
        line = witness.cosign(note, old, path)
    except WitnessError as exc:
        err_console.print(f"witness refuses: {exc}", highlight=False, markup=False)
        raise typer.Exit(1) from None
    if output is not None:
        output.write_text(note.rstrip("\n") + "\n" + line + "\n")
    console.print(line, highlight=False, markup=False)


@witness_app.command("serve")
def witness_serve(key: WitnessKey, name: WitnessName, state: WitnessState, log_key: PinnedLogKey,
                  origin: LogOrigin = "inkwitness.local/log",
                  host: Annotated[str, typer.Option()] = "127.0.0.1",
                  port: Annotated[int, typer.Option(min=1, max=65535)] = 3190) -> None:
    """Serve C2SP tlog-witness POST /add-checkpoint until interrupted."""
    from .evidence.witness import WitnessServer

    server = WitnessServer(_witness(key, name, state, origin, log_key), host, port)
    console.print(f"witness {name} listening on {server.url}/add-checkpoint")
    try:
        server.httpd.serve_forever()
    except KeyboardInterrupt:
        server.stop()


@evidence_app.command("export")
def evidence_export(index: Annotated[int, typer.Argument(min=0, help="log entry index")],
                    output: Annotated[Path, typer.Option("-o", "--output")],
                    escrow_pub: Annotated[Optional[Path], typer.Option(help="escrow public key to include")] = None,
                    data_dir: DataDir = None, database_url: DbUrl = None) -> None:
    """Write a bundle with the entry, its proof, checkpoint, keys, container and sealed PDF."""
    from .evidence.bundle import build_bundle

    ctx = _context(data_dir, database_url)
    data, _ = ctx.log.entry(index)
    artifacts = ctx.artifacts_for(index)
    trust = {}
    ca = ctx.pki_dir / "ca.cert.pem"
    if "pdf" in artifacts and ca.exists():
        trust["ca.cert.pem"] = ca.read_bytes()
    # Prefer a checkpoint witnesses co-signed, so the bundle carries their co-signatures.
    note = ctx.cosigned_checkpoint(index + 1) or ctx.log.latest_checkpoint()
    size = int(note.split("\n")[1])
    bundle = build_bundle(index, data, ctx.log.inclusion_proof(index, size), note,
                          ctx.log.verifier_key, ctx.log.key.sign, container=artifacts.get("container"),
                          pdf=artifacts.get("pdf"), trust=trust,
                          escrow_public=escrow_pub.read_bytes() if escrow_pub else None)
    output.write_bytes(bundle)
    console.print(f"wrote {output} ({len(bundle)} bytes)")


@evidence_app.command("verify")
def evidence_verify(bundle: Annotated[Path, typer.Argument()],
                    trust: Annotated[Optional[list[Path]], typer.Option(help="pinned trust root(s) for the PDF")] = None,
                    log_key: Annotated[Optional[str], typer.Option(help="pinned log verifier key")] = None,
                    trust_bundle_keys: Annotated[bool, typer.Option(
                        "--trust-bundle-keys", help="accept the log key and CA the bundle carries itself")] = False,
                    witness_key: Annotated[Optional[list[str]], typer.Option(
                        help="require a co-signature by this witness (verifier key; repeatable)")] = None
                    ) -> None:
    """Check a bundle offline (no database, no network). Exit 1 if anything fails.

    Keys taken from the bundle itself are reported as UNTRUSTED and fail the check unless
    ``--trust-bundle-keys`` is given: pin ``--log-key`` and ``--trust`` from an independent source.
    """
    from .evidence.bundle import verify_bundle

    from .evidence.witness import parse_witness_key

    for key in witness_key or []:
        parse_witness_key(key)  # malformed pinned key: bad input (exit 2), not a failed check
    _quiet_pyhanko()
    report = verify_bundle(bundle.read_bytes(), trust, log_key, trust_bundle_keys=trust_bundle_keys,
                           witness_keys=witness_key)
    for what, ok, detail in report.checks:
        console.print(f"{'ok  ' if ok else 'FAIL'} {what}: {detail}", highlight=False, markup=False)
    for what, detail in report.untrusted:
        label = "accepted (--trust-bundle-keys)" if trust_bundle_keys else "not accepted"
        console.print(f"UNTRUSTED {what}: {detail} [{label}]", highlight=False, markup=False)
    if not report.ok:
        raise typer.Exit(1)


@pdf_app.command("extend")
def pdf_extend(pdf: Annotated[Path, typer.Argument(help="sealed PDF")],
               output: Annotated[Path, typer.Option("-o", "--output", help="extended PDF to write")],
               tsa_url: Annotated[str, typer.Option(help="RFC 3161 TSA URL for the new document time-stamp")],
               trust: Annotated[Optional[list[Path]], typer.Option(help="trusted root certificate(s)")] = None,
               crl: Annotated[Optional[list[Path]], typer.Option(
                   help="fresh CRL(s) to embed (default without --trust: ca.crl of DATA_DIR/pki, if any)")] = None,
               ocsp: Annotated[bool, typer.Option("--ocsp/--no-ocsp", help="fetch fresh OCSP answers")] = True,
               data_dir: DataDir = None) -> None:
    """Renew a sealed PDF's evidence: fresh revocation data and a new document time-stamp (PAdES B-LTA).

    Run it before the newest document time-stamp's TSA certificate expires, with a TSA whose
    certificate lasts longer. The input is left as it is; the output is the input plus one
    incremental update.
    """
    from .evidence.context import DEFAULT_DATA_DIR
    from .evidence.pdf import extend_pdf

    pki = (data_dir or DEFAULT_DATA_DIR) / "pki"
    roots = trust or [pki / "ca.cert.pem"]
    # The PKI's own CRL is a default only when that PKI is also what is trusted.
    crls = crl or ([pki / "ca.crl"] if not trust and (pki / "ca.crl").exists() else [])
    for p in (pdf, *roots, *crls):
        if not p.is_file():
            raise CliError(f"{p} not found" + (" (pass --trust)" if p in roots else ""))
    if output.resolve() == pdf.resolve():
        raise CliError("-o must name a new file: the sealed input is kept as it is")
    _quiet_pyhanko()
    extended = extend_pdf(pdf.read_bytes(), roots, tsa_url, crls, ocsp=ocsp)
    output.write_bytes(extended)
    import io

    from pyhanko.pdf_utils.reader import PdfFileReader

    stamps = len(PdfFileReader(io.BytesIO(extended), strict=False).embedded_timestamp_signatures)
    console.print(f"wrote {output}: fresh revocation data and document time-stamp {stamps}", highlight=False,
                  markup=False)


def register(app: typer.Typer) -> None:
    """Attach the evidence commands to the main app."""
    app.add_typer(escrow_app, name="escrow")
    app.add_typer(log_app, name="log")
    app.add_typer(evidence_app, name="evidence")
    app.add_typer(pki_app, name="pki")
    app.add_typer(tsa_app, name="tsa")
    app.add_typer(witness_app, name="witness")
    app.add_typer(pdf_app, name="pdf")
    app.command("sign-pdf")(sign_pdf_command)
    app.command("verify-pdf")(verify_pdf_command)


__all__ = ["register"]
