"""A local RFC 3161 time-stamping authority over HTTP (and the CA's CRL and OCSP), for development and tests.

Production configures a trusted TSA URL instead. Requests are ``application/timestamp-query``
POSTs; replies are ``application/timestamp-reply``. The signing itself is pyHanko's
reference implementation of a TSA responder. When the TSA certificate sits in a PKI
folder with the CA key, the same server also answers OCSP (RFC 6960) at ``/ocsp``:
``application/ocsp-request`` POSTs, or GET ``/ocsp/<base64 request>``.
"""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from asn1crypto import keys, pem, tsp, x509
from pyhanko.sign.timestamps.dummy_client import DummyTimeStamper

from .ocsp import OcspResponder, decode_get_request
from .pki import PkiPaths

MAX_REQUEST = 64 * 1024


def _load_der(path: Path) -> bytes:
    data = path.read_bytes()
    return pem.unarmor(data)[2] if pem.detect(data) else data


def make_responder(cert_path: Path, key_path: Path) -> DummyTimeStamper:
    """A responder signing with the given TSA certificate and key (PEM or DER)."""
    cert = x509.Certificate.load(_load_der(cert_path))
    key = keys.PrivateKeyInfo.load(_load_der(key_path))
    return DummyTimeStamper(tsa_cert=cert, tsa_key=key)


def _ocsp_for(cert_path: Path) -> OcspResponder | None:
    """An OCSP responder for the PKI folder the TSA certificate sits in, when it holds the CA key."""
    paths = PkiPaths(Path(cert_path).parent)
    return OcspResponder(paths) if paths.ca_key.exists() and paths.ca_cert.exists() else None


class TsaServer:
    """A threaded HTTP TSA on loopback; ``url`` is what signers configure. Also serves the CRL and OCSP."""

    def __init__(self, cert_path: Path, key_path: Path, host: str = "127.0.0.1", port: int = 0,
                 crl_path: Path | None = None) -> None:
        responder = make_responder(Path(cert_path), Path(key_path))
        # The bundled PKI's certificates point at http://HOST:PORT/ca.crl and /ocsp: serve them when present.
        crl = Path(crl_path) if crl_path else Path(cert_path).parent / "ca.crl"
        ocsp = _ocsp_for(Path(cert_path))

        class Handler(BaseHTTPRequestHandler):
            def _reply(self, content_type: str, body: bytes) -> None:
                self.send_response(200)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                if self.path.startswith("/ocsp/") and ocsp is not None:
                    try:
                        request = decode_get_request(self.path[len("/ocsp/"):])
                    except ValueError:
                        self.send_error(400, "malformed OCSP request")
                        return
                    self._reply("application/ocsp-response", ocsp.respond(request))
                    return
                if self.path != "/ca.crl" or not crl.exists():
                    self.send_error(404, "only /ca.crl and /ocsp are served here")
                    return
                self._reply("application/pkix-crl", crl.read_bytes())

            def _ocsp_post(self, length: int) -> None:
                if ocsp is None:
                    self.send_error(404, "no OCSP responder here (the CA key is not beside the TSA)")
                    return
                self._reply("application/ocsp-response", ocsp.respond(self.rfile.read(length)))

            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                length = int(self.headers.get("Content-Length") or 0)
                if not 0 < length <= MAX_REQUEST:
                    self.send_error(400, "expected a request body")
                    return
                if self.headers.get("Content-Type") == "application/ocsp-request":
                    self._ocsp_post(length)
                    return
                if self.headers.get("Content-Type") != "application/timestamp-query":
                    self.send_error(400, "expected an application/timestamp-query body")
                    return
                try:
                    request = tsp.TimeStampReq.load(self.rfile.read(length))
                    request.native  # noqa: B018 - forces a full parse of the DER
                    reply = responder.request_tsa_response(request).dump()
                except Exception:  # noqa: BLE001 - any malformed request is the client's fault
                    self.send_error(400, "malformed time-stamp request")
                    return
                self._reply("application/timestamp-reply", reply)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer((host, port), Handler)
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        """Where the server listens: ``base_url + "/ca.crl"`` and ``base_url + "/ocsp"`` are served too."""
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def url(self) -> str:
        """The TSA URL."""
        return f"{self.base_url}/tsa"

    def start(self) -> TsaServer:
        """Serve in a background thread."""
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving."""
        self.httpd.shutdown()
        self.httpd.server_close()

    def __enter__(self) -> TsaServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
