"""OCSP (RFC 6960) for the bundled PKI: a responder that answers from the PKI folder, and a client.

The responder signs with the CA key itself (no delegated responder certificate), and
answers GOOD only for certificates the CA issued into the PKI folder, REVOKED for those
recorded in ``revoked.json``, UNKNOWN for other serial numbers of this CA, and
UNAUTHORIZED for other issuers. The client fetches an answer from the URL a certificate
names (Authority Information Access) and checks it before anyone relies on it, so that
sealing can embed it in the PDF's document security store: the single response about the
certificate (a response may carry several), signed by its issuer, current (thisUpdate not
in the future beyond ``CLOCK_SKEW``, nextUpdate if any not past), and echoing our nonce if
it echoes one. A response without a nonce is accepted (many responders serve pre-signed
answers); its freshness is what limits a replay.
"""

from __future__ import annotations

import base64
import datetime as dt
import os
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509 import ocsp
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtensionOID

from .envelope import EvidenceError
from .pki import PkiPaths, issued_certificate, load_ca, revocations

MAX_RESPONSE = 256 * 1024
#: How long an answer is fresh: a day, so that sealing embeds recent data and a stale one shows.
VALIDITY = dt.timedelta(days=1)
#: How far a responder's clock may run ahead of ours (thisUpdate in the future).
CLOCK_SKEW = dt.timedelta(minutes=5)


class OcspUnavailable(EvidenceError):
    """No usable OCSP answer: no responder named, unreachable, or an answer that does not check out."""


class OcspResponder:
    """Answers OCSP requests about the certificates of one PKI folder."""

    def __init__(self, paths: PkiPaths) -> None:
        self.paths = paths

    def respond(self, request_der: bytes) -> bytes:
        """The DER OCSP response to a DER OCSP request (an unsuccessful one for bad or foreign requests)."""
        try:
            request = ocsp.load_der_ocsp_request(request_der)
            algorithm = request.hash_algorithm
        except Exception:  # noqa: BLE001 - cryptography raises several types on hostile DER
            return _unsuccessful(ocsp.OCSPResponseStatus.MALFORMED_REQUEST)
        ca, ca_key = load_ca(self.paths)
        if (request.issuer_name_hash, request.issuer_key_hash) != _issuer_hashes(ca, algorithm):
            return _unsuccessful(ocsp.OCSPResponseStatus.UNAUTHORIZED)
        now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
        builder = self._status(ocsp.OCSPResponseBuilder(), request, ca, now)
        builder = builder.responder_id(ocsp.OCSPResponderEncoding.HASH, ca)
        for ext in request.extensions:
            if ext.oid == x509.OCSPNonce.oid:
                builder = builder.add_extension(ext.value, critical=False)  # echo the nonce against replay
        return builder.sign(ca_key, hashes.SHA256()).public_bytes(serialization.Encoding.DER)

    def _status(self, builder: ocsp.OCSPResponseBuilder, request: ocsp.OCSPRequest, ca: x509.Certificate,
                now: dt.datetime) -> ocsp.OCSPResponseBuilder:
        serial = request.serial_number
        revoked = revocations(self.paths).get(serial)
        cert = issued_certificate(self.paths, serial)
        status = (ocsp.OCSPCertStatus.REVOKED if revoked else ocsp.OCSPCertStatus.GOOD if cert
                  else ocsp.OCSPCertStatus.UNKNOWN)
        reason = x509.ReasonFlags[revoked.reason] if revoked and revoked.reason != "unspecified" else None
        return builder.add_response_by_hash(
            issuer_name_hash=request.issuer_name_hash, issuer_key_hash=request.issuer_key_hash,
            serial_number=serial, algorithm=request.hash_algorithm, cert_status=status,
            this_update=now, next_update=now + VALIDITY, revocation_time=revoked.time if revoked else None,
            revocation_reason=reason)


def _unsuccessful(status: ocsp.OCSPResponseStatus) -> bytes:
    return ocsp.OCSPResponseBuilder.build_unsuccessful(status).public_bytes(serialization.Encoding.DER)


def _issuer_hashes(issuer: x509.Certificate, algorithm: hashes.HashAlgorithm) -> tuple[bytes, bytes]:
    """CertID's issuerNameHash and issuerKeyHash of ``issuer`` under ``algorithm``."""
    name = hashes.Hash(algorithm)
    name.update(issuer.subject.public_bytes())
    key = hashes.Hash(algorithm)
    key.update(issuer.public_key().public_bytes(serialization.Encoding.DER,
                                                serialization.PublicFormat.PKCS1))
    return name.finalize(), key.finalize()


def ocsp_url(cert: x509.Certificate) -> str | None:
    """The OCSP responder URL a certificate names (Authority Information Access), if any."""
    try:
        aia = cert.extensions.get_extension_for_oid(ExtensionOID.AUTHORITY_INFORMATION_ACCESS).value
    except x509.ExtensionNotFound:
        return None
    for desc in aia:
        if desc.access_method == AuthorityInformationAccessOID.OCSP and isinstance(
                desc.access_location, x509.UniformResourceIdentifier):
            return desc.access_location.value
    return None


def fetch_ocsp(cert: x509.Certificate, issuer: x509.Certificate, timeout: float = 5.0) -> bytes:
    """Ask the certificate's OCSP responder about it; the DER response, checked (raises OcspUnavailable)."""
    url = ocsp_url(cert)
    if url is None:
        raise OcspUnavailable("the certificate names no OCSP responder")
    if urllib.parse.urlsplit(url).scheme not in ("http", "https"):
        raise OcspUnavailable(f"OCSP URL {url!r} is not http(s)")
    request = (ocsp.OCSPRequestBuilder().add_certificate(cert, issuer, hashes.SHA256())
               .add_extension(x509.OCSPNonce(os.urandom(16)), critical=False).build())
    http = urllib.request.Request(url, data=request.public_bytes(serialization.Encoding.DER),
                                  headers={"Content-Type": "application/ocsp-request"})
    try:
        with urllib.request.urlopen(http, timeout=timeout) as reply:  # noqa: S310 - scheme checked above
            body = reply.read(MAX_RESPONSE + 1)
    except (urllib.error.URLError, OSError) as exc:
        raise OcspUnavailable(f"the OCSP responder at {url} did not answer: {exc}") from exc
    check_response(body, cert, issuer, request)
    return body


def check_response(body: bytes, cert: x509.Certificate, issuer: x509.Certificate,
                   request: ocsp.OCSPRequest | None = None,
                   now: dt.datetime | None = None) -> ocsp.OCSPResponse:
    """Parse an OCSP response and check it answers for ``cert``, signed by its issuer (raises OcspUnavailable).

    The answer about ``cert`` is found among the response's single responses; it must be
    current at ``now`` (default: the present). A nonce in the response must be ours.
    """
    if len(body) > MAX_RESPONSE:
        raise OcspUnavailable("the OCSP response is too large")
    try:
        response = ocsp.load_der_ocsp_response(body)
    except ValueError as exc:
        raise OcspUnavailable(f"the OCSP response cannot be parsed: {exc}") from exc
    if response.response_status != ocsp.OCSPResponseStatus.SUCCESSFUL:
        raise OcspUnavailable(f"the OCSP responder refused: {response.response_status.name}")
    single = _single_response(response, cert.serial_number, issuer)
    # Only the issuer's own key is accepted: the bundled responder has no delegated certificate.
    try:
        key = issuer.public_key()
        if not isinstance(key, rsa.RSAPublicKey):
            raise OcspUnavailable("only RSA issuers are supported for OCSP")
        key.verify(response.signature, response.tbs_response_bytes, padding.PKCS1v15(),
                   response.signature_hash_algorithm)  # type: ignore[arg-type]
    except (InvalidSignature, ValueError, TypeError) as exc:
        raise OcspUnavailable("the OCSP response is not signed by the certificate's issuer") from exc
    now = now or dt.datetime.now(dt.timezone.utc)
    if single.this_update_utc > now + CLOCK_SKEW:
        raise OcspUnavailable(f"the OCSP response is dated in the future ({single.this_update_utc.isoformat()})")
    if single.next_update_utc is not None and single.next_update_utc < now:
        raise OcspUnavailable(f"the OCSP response is stale (next update was due "
                              f"{single.next_update_utc.isoformat()})")
    if request is not None:
        try:
            sent = request.extensions.get_extension_for_class(x509.OCSPNonce).value.nonce
        except x509.ExtensionNotFound:
            sent = None
        try:
            got = response.extensions.get_extension_for_class(x509.OCSPNonce).value.nonce
        except (x509.ExtensionNotFound, ValueError):
            got = None
        if got is not None and got != sent:
            raise OcspUnavailable("the OCSP response answers another request (nonce mismatch)")
    return response


def _single_response(response: ocsp.OCSPResponse, serial: int,
                     issuer: x509.Certificate | None = None) -> ocsp.OCSPSingleResponse:
    """The single response about ``serial`` (and ``issuer``, if given) in a successful OCSP response."""
    try:
        for single in response.responses:
            if single.serial_number != serial:
                continue
            if issuer is None or (single.issuer_name_hash, single.issuer_key_hash) == _issuer_hashes(
                    issuer, single.hash_algorithm):
                return single
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise OcspUnavailable(f"the OCSP response cannot be read: {exc}") from exc
    raise OcspUnavailable("the OCSP response is about another certificate")


def status_of(body: bytes, serial: int | None = None) -> tuple[str, dt.datetime | None, str | None]:
    """The certificate status of a DER OCSP response: (GOOD/REVOKED/UNKNOWN, revocation time, reason).

    With ``serial``, the status of that certificate among the response's single responses
    (raises OcspUnavailable when it is not there); without, the response must hold one.
    """
    try:
        response = ocsp.load_der_ocsp_response(body)
        single: Any = response if serial is None else _single_response(response, serial)
        status = single.certificate_status
        if status != ocsp.OCSPCertStatus.REVOKED:
            return status.name, None, None
        reason = single.revocation_reason.name if single.revocation_reason else None
        return status.name, single.revocation_time_utc, reason
    except ValueError as exc:
        raise OcspUnavailable(f"the OCSP response cannot be read: {exc}") from exc


def encoded_get_request(request_der: bytes) -> str:
    """The path suffix of an RFC 6960 A.1 GET request (URL-safe: base64 then percent-encoded)."""
    return urllib.parse.quote(base64.b64encode(request_der).decode(), safe="")


def decode_get_request(suffix: str) -> bytes:
    """The DER request of an RFC 6960 A.1 GET path suffix."""
    return base64.b64decode(urllib.parse.unquote(suffix), validate=False)
