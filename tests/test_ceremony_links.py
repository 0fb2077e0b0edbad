"""Plain enrol/verify links say who asks and why: given by the clerk, shown on the signer's page, purged with the link."""

from __future__ import annotations

import datetime as dt

import pytest

from inkwitness.service.ceremony.store import purge_requests, token_key

from .test_ceremony import ceremony  # noqa: F401


def _subject(client, auth) -> str:
    return client.post("/v1/subjects", json={"display_name": "Li Wei"}, headers=auth).json()["id"]


def test_an_enrolment_link_shows_who_asks_and_why(ceremony):  # noqa: F811
    client, auth, _, data = ceremony
    body = {"subject_id": _subject(client, auth), "purpose": "enrol", "requester": " 示例银行 河滨支行 ",
            "reason": "Update the signature on file for account 12 (new card)"}
    r = client.post("/v1/signing-sessions", json=body, headers=auth)
    assert r.status_code == 201, r.text
    link = r.json()
    assert link["requester"] == "示例银行 河滨支行" and link["reason"] == body["reason"]
    session = client.get(f"/v1/capture/{link['token']}/request").json()["session"]
    assert session["purpose"] == "enrol" and session["requester"] == "示例银行 河滨支行"
    assert session["reason"] == body["reason"]
    # Kept by the token's hash only, like the signing requests' links.
    assert (data / "ceremony" / "links" / f"{token_key(link['token'])}.json").exists()
    assert link["token"] not in "".join(p.name for p in (data / "ceremony").rglob("*"))

    # Once the link has expired longer than the retention ago, its note goes too.
    purge_requests(data / "ceremony", dt.timedelta(days=30), at=dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=32))
    assert not (data / "ceremony" / "links" / f"{token_key(link['token'])}.json").exists()


def test_who_and_why_are_optional(ceremony):  # noqa: F811
    client, auth, _, _ = ceremony
    r = client.post("/v1/signing-sessions", json={"subject_id": _subject(client, auth), "requester": "  "}, headers=auth)
    assert r.status_code == 201, r.text
    assert r.json()["requester"] is None and r.json()["reason"] is None
    session = client.get(f"/v1/capture/{r.json()['token']}/request").json()["session"]
    assert session["purpose"] == "verify" and session["requester"] is None and session["reason"] is None


@pytest.mark.parametrize("field, value", [("requester", "<b>Bank</b>"), ("requester", "x" * 201),
                                          ("reason", "a & b"), ("reason", "two\nlines"), ("reason", "y" * 501)])
def test_who_and_why_are_short_plain_text(ceremony, field, value):  # noqa: F811
    client, auth, _, _ = ceremony
    r = client.post("/v1/signing-sessions", json={"subject_id": _subject(client, auth), field: value}, headers=auth)
    assert r.status_code == 422 and r.json()["code"] == "invalid_request", r.text
