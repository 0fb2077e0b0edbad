"""A small private PKI for sealing: a root CA, a document-signing certificate and a TSA certificate.

Production deployments configure their own certificates (a qualified or organisation
CA, a trusted TSA URL); this exists so that a fresh installation and the tests can sign
and validate end to end without any outside service.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


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


#: Where the bundled PKI's certificates say their CRL is: ``inkwitness tsa serve`` on its default port.
DEFAULT_CRL_URL = "http://127.0.0.1:3180/ca.crl"


def issue_crl(paths: PkiPaths, revoked: tuple[int, ...] = (), days: int = 30) -> Path:
    """Sign a fresh CRL with the CA key (listing ``revoked`` serial numbers) and write it to ``paths.crl``."""
    ca = x509.load_pem_x509_certificate(paths.ca_cert.read_bytes())
    ca_key = serialization.load_pem_private_key((paths.folder / "ca.key.pem").read_bytes(), None)
    now = dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=5)
    builder = (x509.CertificateRevocationListBuilder().issuer_name(ca.subject).last_update(now)
               .next_update(now + dt.timedelta(days=days)))
    for serial in revoked:
        builder = builder.add_revoked_certificate(
            x509.RevokedCertificateBuilder().serial_number(serial).revocation_date(now).build())
    crl = builder.sign(ca_key, hashes.SHA256())  # type: ignore[arg-type]
    paths.crl.write_bytes(crl.public_bytes(serialization.Encoding.DER))
    return paths.crl


def _new_key() -> rsa.RSAPrivateKey:
    # RSA rather than ECDSA: the reference TSA responder and older PDF readers expect it.
    return rsa.generate_private_key(public_exponent=65537, key_size=3072)


def _name(common_name: str, org: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, org)])


def _write_key(path: Path, key: rsa.RSAPrivateKey) -> None:
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    path.chmod(0o600)


def create_pki(folder: str | Path, org: str = "inkwitness", signer_name: str = "inkwitness document seal",
               years: int = 5, crl_url: str = DEFAULT_CRL_URL, signer_days: int | None = None) -> PkiPaths:
    """Create a root CA, a signing and a TSA certificate (RSA 3072, with a CRL distribution point) and a CRL."""
    paths = PkiPaths(Path(folder))
    paths.folder.mkdir(parents=True, exist_ok=True)
    now = dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=5)
    until = now + dt.timedelta(days=365 * years)
    ca_key = _new_key()
    ca_name = _name(f"{org} root CA", org)
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number()).not_valid_before(now).not_valid_after(until)
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False, key_encipherment=False,
                                       data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                       crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
          .sign(ca_key, hashes.SHA256()))

    def leaf(common_name: str, eku: list, nonrep: bool, end: dt.datetime = until
             ) -> tuple[x509.Certificate, rsa.RSAPrivateKey]:
        key = _new_key()
        cert = (x509.CertificateBuilder().subject_name(_name(common_name, org)).issuer_name(ca_name)
                .public_key(key.public_key()).serial_number(x509.random_serial_number())
                .not_valid_before(now).not_valid_after(end)
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
                    crl_issuer=None)]), critical=False)
                .sign(ca_key, hashes.SHA256()))
        return cert, key

    # A shorter-lived signing certificate (``signer_days``) shows long-term validation at work.
    signer_until = now + dt.timedelta(days=signer_days) if signer_days else until
    signer, signer_key = leaf(signer_name, [ExtendedKeyUsageOID.EMAIL_PROTECTION,
                                            x509.ObjectIdentifier("1.3.6.1.4.1.311.10.3.12")], True, signer_until)
    tsa, tsa_key = leaf(f"{org} time-stamping authority", [ExtendedKeyUsageOID.TIME_STAMPING], False)
    paths.ca_cert.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths.signer_cert.write_bytes(signer.public_bytes(serialization.Encoding.PEM))
    paths.tsa_cert.write_bytes(tsa.public_bytes(serialization.Encoding.PEM))
    _write_key(paths.signer_key, signer_key)
    _write_key(paths.tsa_key, tsa_key)
    _write_key(paths.folder / "ca.key.pem", ca_key)
    issue_crl(paths)
    return paths
