"""A small private PKI for sealing: a root CA, a document-signing certificate and a TSA certificate.

Production deployments configure their own certificates (a qualified or organisation
CA, a trusted TSA URL); this exists so that a fresh installation and the tests can sign
and validate end to end without any outside service. Its certificates name a CRL
distribution point and an OCSP responder (Authority Information Access) under one base
URL; ``inkwitness pki serve`` answers both. Revocations are recorded in ``revoked.json``
in the PKI folder, and both the CRL and the OCSP responder report them. ``revoked.json``
and ``ca.crl`` are updated under an exclusive lock (``.revoked.lock``) and replaced
atomically, so concurrent revocations are all kept and a reader never sees half a file;
private keys are created readable by the owner only.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import json
import os
import secrets
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from ..secretfile import write_secret


@dataclass(frozen=True)
class PkiPaths:
    """Where ``create_pki`` wrote its files."""

    folder: Path

    @property
    def ca_cert(self) -> Path:
        """Root CA certificate (the trust anchor to validate with)."""
        return self.folder / "ca.cert.pem"

    @property
    def signer_cert(self) -> Path:
        """Document-signing certificate."""
        return self.folder / "signer.cert.pem"

    @property
    def signer_key(self) -> Path:
        """Document-signing private key."""
        return self.folder / "signer.key.pem"

    @property
    def tsa_cert(self) -> Path:
        """Time-stamping authority certificate."""
        return self.folder / "tsa.cert.pem"

    @property
    def tsa_key(self) -> Path:
        """Time-stamping authority private key."""
        return self.folder / "tsa.key.pem"

    @property
    def crl(self) -> Path:
        """The CA's current certificate revocation list (DER), served at the certificates' CRL URL."""
        return self.folder / "ca.crl"

    @property
    def ca_key(self) -> Path:
        """Root CA private key (signs certificates, CRLs and OCSP responses)."""
        return self.folder / "ca.key.pem"

    @property
    def revocations(self) -> Path:
        """The record of revoked certificates (JSON), from which CRLs and OCSP answers are made."""
        return self.folder / "revoked.json"

    @property
    def events(self) -> Path:
        """Where event certificates (one per signing act; their keys are never kept) are recorded."""
        return self.folder / "events"

    @property
    def lock(self) -> Path:
        """The lock file that serialises updates of ``revoked.json`` and ``ca.crl``."""
        return self.folder / ".revoked.lock"

    @property
    def settings(self) -> Path:
        """The URLs new certificates name for revocation data (JSON)."""
        return self.folder / "pki.json"


#: Where the bundled PKI's certificates say their CRL and OCSP responder are:
#: ``inkwitness pki serve`` (or ``tsa serve``) on its default port.
DEFAULT_BASE_URL = "http://127.0.0.1:3180"
DEFAULT_CRL_URL = DEFAULT_BASE_URL + "/ca.crl"
DEFAULT_OCSP_URL = DEFAULT_BASE_URL + "/ocsp"

#: Revocation reasons as RFC 5280 names them (cryptography's spelling).
REASONS = tuple(r.name for r in x509.ReasonFlags if r is not x509.ReasonFlags.remove_from_crl)


@dataclass(frozen=True)
class Revocation:
    """One revoked certificate: its serial number, when and why."""

    serial: int
    time: dt.datetime
    reason: str = "unspecified"


def revocations(paths: PkiPaths) -> dict[int, Revocation]:
    """The revoked certificates recorded in the PKI folder, by serial number."""
    if not paths.revocations.exists():
        return {}
    out = {}
    for item in json.loads(paths.revocations.read_text()):
        serial = int(item["serial"], 16)
        out[serial] = Revocation(serial, dt.datetime.fromisoformat(item["time"]), item.get("reason", "unspecified"))
    return out


def _replace(path: Path, data: bytes) -> None:
    """Write ``path`` atomically: a temporary file beside it, renamed over it (readers see old or new, whole)."""
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    try:
        with open(tmp, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


@contextmanager
def _locked(paths: PkiPaths) -> Iterator[None]:
    """Hold the PKI folder's revocation lock (an exclusive flock, across processes)."""
    with open(paths.lock, "a+b") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def _save_revocations(paths: PkiPaths, records: dict[int, Revocation]) -> None:
    items = [{"serial": f"{r.serial:x}", "time": r.time.isoformat(), "reason": r.reason}
             for r in sorted(records.values(), key=lambda r: r.time)]
    _replace(paths.revocations, (json.dumps(items, indent=1) + "\n").encode())


def _record(paths: PkiPaths, serial: int, reason: str) -> Revocation:
    """Record ``serial`` as revoked; a certificate revoked before keeps its first time and reason.

    The caller holds ``_locked(paths)``: the read, the change and the write are one step.
    """
    if reason not in REASONS:
        raise ValueError(f"revocation reason must be one of {', '.join(REASONS)}, got {reason!r}")
    records = revocations(paths)
    if serial not in records:
        # A second before now, so that a CRL or OCSP answer made right after lists it as in force.
        when = dt.datetime.now(dt.timezone.utc).replace(microsecond=0) - dt.timedelta(seconds=1)
        records[serial] = Revocation(serial, when, reason)
        _save_revocations(paths, records)
    return records[serial]


def revoke(paths: PkiPaths, serial: int, reason: str = "unspecified", days: int = 30) -> Revocation:
    """Record ``serial`` as revoked in the PKI folder and issue a fresh CRL that lists it."""
    with _locked(paths):
        record = _record(paths, serial, reason)
        _issue_crl(paths, days)
    return record


def load_ca(paths: PkiPaths) -> tuple[x509.Certificate, rsa.RSAPrivateKey]:
    """The CA certificate and its private key."""
    ca = x509.load_pem_x509_certificate(paths.ca_cert.read_bytes())
    key = serialization.load_pem_private_key(paths.ca_key.read_bytes(), None)
    return ca, key  # type: ignore[return-value]


def issued_certificates(paths: PkiPaths) -> dict[int, x509.Certificate]:
    """Every certificate in the PKI folder that the CA issued, by serial number (what OCSP may vouch for).

    This reads every event certificate too; the OCSP responder uses ``issued_certificate``.
    """
    out = dict(_folder_index(paths))
    for path in sorted(paths.events.glob("*.cert.pem")):
        cert = x509.load_pem_x509_certificate(path.read_bytes())
        if cert.issuer == _ca_subject(paths):
            out[cert.serial_number] = cert
    return out


def issued_certificate(paths: PkiPaths, serial: int) -> x509.Certificate | None:
    """The certificate with ``serial`` the CA issued into the PKI folder, if any (what OCSP may vouch for).

    Event certificates are stored by serial (``events/SERIAL.cert.pem``) and looked up
    directly; the few certificates of the folder itself are indexed once and re-read only
    when a file there changes (its mtime, size or the set of files).
    """
    path = paths.events / f"{serial:x}.cert.pem"
    if path.is_file():
        try:
            cert = x509.load_pem_x509_certificate(path.read_bytes())
        except ValueError:
            cert = None
        if cert is not None and cert.serial_number == serial and cert.issuer == _ca_subject(paths):
            return cert
    return _folder_index(paths).get(serial)


_INDEX_LOCK = threading.Lock()
#: Per PKI folder: (the files' stamp, the CA's subject, the folder's certificates by serial).
_INDEX: dict[Path, tuple[tuple, x509.Name, dict[int, x509.Certificate]]] = {}


def _stamp(files: Iterable[Path]) -> tuple:
    """What changes when a file is added, removed or rewritten: names, mtimes, sizes, inodes."""
    out = []
    for path in files:
        try:
            st = path.stat()
        except FileNotFoundError:
            continue
        out.append((path.name, st.st_mtime_ns, st.st_size, st.st_ino))
    return tuple(out)


def _index(paths: PkiPaths) -> tuple[x509.Name, dict[int, x509.Certificate]]:
    """The CA's subject and the folder's own certificates it issued, by serial; cached until a file changes."""
    files = sorted(paths.folder.glob("*.cert.pem"))  # the CA certificate among them
    stamp = _stamp(files)
    key = paths.folder.resolve()
    with _INDEX_LOCK:
        cached = _INDEX.get(key)
        if cached is None or cached[0] != stamp:
            ca = x509.load_pem_x509_certificate(paths.ca_cert.read_bytes())
            index: dict[int, x509.Certificate] = {}
            for path in files:
                if path == paths.ca_cert:
                    continue
                try:
                    cert = x509.load_pem_x509_certificate(path.read_bytes())
                except (ValueError, FileNotFoundError):
                    continue  # a damaged or vanished file vouches for nothing
                if cert.issuer == ca.subject:
                    index[cert.serial_number] = cert
            cached = (stamp, ca.subject, index)
            _INDEX[key] = cached
    return cached[1], cached[2]


def _ca_subject(paths: PkiPaths) -> x509.Name:
    return _index(paths)[0]


def _folder_index(paths: PkiPaths) -> dict[int, x509.Certificate]:
    return _index(paths)[1]


def issue_crl(paths: PkiPaths, revoked: tuple[int, ...] = (), days: int = 30) -> Path:
    """Sign a fresh CRL with the CA key and write it to ``paths.crl``.

    It lists every recorded revocation; serial numbers in ``revoked`` are recorded first.
    """
    with _locked(paths):
        for serial in revoked:
            _record(paths, serial, "unspecified")
        return _issue_crl(paths, days)


def _issue_crl(paths: PkiPaths, days: int) -> Path:
    """Sign and write the CRL (the caller holds ``_locked(paths)``)."""
    ca, ca_key = load_ca(paths)
    now = dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=5)
    builder = (x509.CertificateRevocationListBuilder().issuer_name(ca.subject).last_update(now)
               .next_update(now + dt.timedelta(days=days)))
    for item in revocations(paths).values():
        entry = x509.RevokedCertificateBuilder().serial_number(item.serial).revocation_date(item.time)
        if item.reason != "unspecified":
            entry = entry.add_extension(x509.CRLReason(x509.ReasonFlags[item.reason]), critical=False)
        builder = builder.add_revoked_certificate(entry.build())
    crl = builder.sign(ca_key, hashes.SHA256())
    _replace(paths.crl, crl.public_bytes(serialization.Encoding.DER))
    return paths.crl


def _new_key() -> rsa.RSAPrivateKey:
    # RSA rather than ECDSA: the reference TSA responder and older PDF readers expect it.
    return rsa.generate_private_key(public_exponent=65537, key_size=3072)


def _name(common_name: str, org: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, org)])


def _write_key(path: Path, key: rsa.RSAPrivateKey) -> None:
    # Mode 0600 from creation: never a moment readable by others (see inkwitness.secretfile).
    write_secret(path, key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                         serialization.NoEncryption()))


def _urls(paths: PkiPaths) -> tuple[str, str | None]:
    """The CRL and OCSP URLs recorded at ``pki init`` (the defaults for older PKI folders)."""
    if not paths.settings.exists():
        return DEFAULT_CRL_URL, None
    data = json.loads(paths.settings.read_text())
    return data["crl_url"], data.get("ocsp_url")


def _leaf(ca: x509.Certificate, ca_key: rsa.RSAPrivateKey, subject: x509.Name, eku: list, nonrep: bool,
          start: dt.datetime, end: dt.datetime, crl_url: str, ocsp_url: str | None,
          public_key: PublicKeyTypes | None = None, extra: Sequence[x509.ExtensionType] = ()
          ) -> tuple[x509.Certificate, rsa.RSAPrivateKey | None]:
    """An end-entity certificate naming where its CRL and (if any) OCSP responder are.

    A fresh key pair is made unless ``public_key`` is given (a key held elsewhere, e.g. in
    a hardware module); the private key is then None. ``extra`` extensions are non-critical.
    """
    key = _new_key() if public_key is None else None
    builder = (x509.CertificateBuilder().subject_name(subject).issuer_name(ca.subject)
               .public_key(public_key or key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(start).not_valid_after(end)
               .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
               .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=nonrep,
                                            key_encipherment=False, data_encipherment=False, key_agreement=False,
                                            key_cert_sign=False, crl_sign=False, encipher_only=False,
                                            decipher_only=False), critical=True)
               .add_extension(x509.ExtendedKeyUsage(eku), critical=bool(eku and
                              eku[0] == ExtendedKeyUsageOID.TIME_STAMPING))
               .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                              critical=False)
               .add_extension(x509.CRLDistributionPoints([x509.DistributionPoint(
                   full_name=[x509.UniformResourceIdentifier(crl_url)], relative_name=None, reasons=None,
                   crl_issuer=None)]), critical=False))
    if ocsp_url:
        builder = builder.add_extension(x509.AuthorityInformationAccess([x509.AccessDescription(
            x509.oid.AuthorityInformationAccessOID.OCSP, x509.UniformResourceIdentifier(ocsp_url))]),
            critical=False)
    for ext in extra:
        builder = builder.add_extension(ext, critical=False)
    return builder.sign(ca_key, hashes.SHA256()), key


SEAL_EKU = [ExtendedKeyUsageOID.EMAIL_PROTECTION, x509.ObjectIdentifier("1.3.6.1.4.1.311.10.3.12")]
TSA_EKU = [ExtendedKeyUsageOID.TIME_STAMPING]


def issue_certificate(paths: PkiPaths, stem: str, common_name: str, purpose: str = "tsa",
                      days: int = 365, public_key: PublicKeyTypes | None = None) -> tuple[Path, Path | None]:
    """Issue a further sealing (``purpose="seal"``) or TSA certificate as STEM.cert.pem / STEM.key.pem.

    A TSA certificate that outlives the first one lets ``pdf extend`` renew the evidence.
    It never outlives the CA, whose expiry ends every chain anyway. With ``public_key``
    (a key kept in a hardware module) only the certificate is written; the key path is None.
    """
    if purpose not in ("seal", "tsa"):
        raise ValueError(f"purpose must be seal or tsa, got {purpose!r}")
    cert_path, key_path = paths.folder / f"{stem}.cert.pem", paths.folder / f"{stem}.key.pem"
    if cert_path.exists() or key_path.exists() or not stem.replace("-", "").replace("_", "").isalnum():
        raise ValueError(f"{stem!r} is not a new, plain file name in {paths.folder}")
    ca, ca_key = load_ca(paths)
    org = ca.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value
    now = dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=5)
    end = min(now + dt.timedelta(days=days), ca.not_valid_after_utc)
    cert, key = _leaf(ca, ca_key, _name(common_name, str(org)), SEAL_EKU if purpose == "seal" else TSA_EKU,
                      purpose == "seal", now, end, *_urls(paths), public_key=public_key)
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    if key is None:
        return cert_path, None
    _write_key(key_path, key)
    return cert_path, key_path


def issue_leaf(paths: PkiPaths, subject: x509.Name, public_key: PublicKeyTypes, start: dt.datetime,
               end: dt.datetime, extra: Sequence[x509.ExtensionType] = ()) -> x509.Certificate:
    """A sealing certificate for ``public_key``, in memory only (nothing is written)."""
    ca, ca_key = load_ca(paths)
    cert, _ = _leaf(ca, ca_key, subject, SEAL_EKU, True, start, min(end, ca.not_valid_after_utc), *_urls(paths),
                    public_key=public_key, extra=extra)
    return cert


def create_pki(folder: str | Path, org: str = "inkwitness", signer_name: str = "inkwitness document seal",
               years: int = 5, crl_url: str = DEFAULT_CRL_URL, signer_days: int | None = None,
               ocsp_url: str | None = DEFAULT_OCSP_URL, tsa_days: int | None = None) -> PkiPaths:
    """Create a root CA, a signing and a TSA certificate (RSA 3072, with CRL and OCSP URLs) and a CRL."""
    paths = PkiPaths(Path(folder))
    paths.folder.mkdir(parents=True, exist_ok=True)
    now = dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=5)
    until = now + dt.timedelta(days=365 * years)
    ca_key = _new_key()
    ca_name = _name(f"{org} root CA", org)
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number()).not_valid_before(now).not_valid_after(until)
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                       data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                       crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
          .sign(ca_key, hashes.SHA256()))
    # Shorter-lived signing or TSA certificates (``signer_days``, ``tsa_days``) show
    # long-term validation and ``pdf extend`` at work.
    ends = {d: now + dt.timedelta(days=d) if d else until for d in (signer_days, tsa_days)}
    signer, signer_key = _leaf(ca, ca_key, _name(signer_name, org), SEAL_EKU, True, now, ends[signer_days],
                               crl_url, ocsp_url)
    tsa, tsa_key = _leaf(ca, ca_key, _name(f"{org} time-stamping authority", org), TSA_EKU, False, now,
                         ends[tsa_days], crl_url, ocsp_url)
    paths.ca_cert.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths.signer_cert.write_bytes(signer.public_bytes(serialization.Encoding.PEM))
    paths.tsa_cert.write_bytes(tsa.public_bytes(serialization.Encoding.PEM))
    _write_key(paths.signer_key, signer_key)
    _write_key(paths.tsa_key, tsa_key)
    _write_key(paths.ca_key, ca_key)
    paths.settings.write_text(json.dumps({"crl_url": crl_url, "ocsp_url": ocsp_url}, indent=1) + "\n")
    issue_crl(paths)
    return paths
