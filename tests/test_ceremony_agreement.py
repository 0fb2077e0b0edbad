"""What the signer agreed to is in the sealed PDF itself (/Reason) and in the sealing's log entry."""

from __future__ import annotations

import io
import json

from pyhanko.pdf_utils.reader import PdfFileReader

from inkwitness.service.ceremony.agreement import utc_label
from inkwitness.service.ceremony.consent import CONSENT_VERSION

from .conftest import synthetic_signature
from .test_ceremony import _bound, _request, _token, ceremony  # noqa: F401
from .test_pdf_evidence import blank_pdf


def _reason(pdf: bytes) -> str:
    return str(PdfFileReader(io.BytesIO(pdf)).embedded_signatures[0].sig_object["/Reason"])


def test_the_sealed_pdf_names_the_consent_and_when_it_was_accepted(ceremony):  # noqa: F811
    client, auth, _, _ = ceremony
    req = _request(client, auth, reason="Account opening\nbranch 12")
    body = {"signature": _bound(client, _token(req), 31), "consent": {"accepted": True, "lang": "zh"}}
    assert client.post(f"/v1/capture/{_token(req)}/sign", json=body).status_code == 201
    outcome = client.get(f"/v1/documents/requests/{req['id']}", headers=auth).json()["outcome"]
    sealed = client.get(f"/v1/capture/{_token(req)}/copy.pdf").content
    reason = _reason(sealed)
    consent = outcome["consent"]
    assert reason.startswith("Handwritten signature; ")
    assert f"consent {CONSENT_VERSION} (zh) accepted {utc_label(consent['time'])}" in reason
    assert "signer: Li Wei" in reason and "requested by: Bank of Example, branch 12" in reason
    # The clerk's line break does not reach the signature panel.
    assert "purpose: Account opening branch 12" in reason and "\n" not in reason
    # The sealing's own log entry pins the same words and the consent record.
    signing = json.loads(client.app.state.ops.evidence.log.entry(outcome["log_index"])[0])
    assert signing["reason"] == reason
    assert signing["agreement"] == {"request": req["id"], "consent": consent}
    checked = client.post("/v1/documents/verify", headers=auth, files={"file": ("s.pdf", sealed, "application/pdf")})
    assert checked.status_code == 200 and checked.json()["ok"], checked.json()


def test_sealing_through_the_api_without_a_reason_keeps_the_default(ceremony):  # noqa: F811
    client, auth, _, _ = ceremony
    sig = synthetic_signature(32)
    r = client.post("/v1/documents/sign", headers=auth, files={"file": ("doc.pdf", blank_pdf(), "application/pdf")},
                    data={"signature": sig.canonical_bytes().decode(), "page": "1", "box": "100,100,300,160"})
    assert r.status_code == 200, r.text
    assert _reason(r.content) == "Handwritten signature"
    signing = json.loads(client.app.state.ops.evidence.log.entry(int(r.headers["X-Inkwitness-Log-Index"]))[0])
    assert "reason" not in signing and "agreement" not in signing
