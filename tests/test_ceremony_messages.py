"""Error bodies in Chinese and English: every code has a translation, Accept-Language picks the language."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

import inkwitness
from inkwitness.service.app import create_app
from inkwitness.service.messages import STATUS_CODES, ZH, code_of, known_codes, localise, pick_lang
from inkwitness.service.settings import Settings

ZH_CN = {"Accept-Language": "zh-CN,zh;q=0.9,en;q=0.8"}


def _import_everything() -> None:
    # inkwitness.service is a namespace package, which pkgutil.walk_packages does not descend.
    root = Path(inkwitness.__file__).parent
    for path in sorted(root.rglob("*.py")):
        if "migrations" in path.parts:  # alembic scripts run only inside alembic
            continue
        parts = path.relative_to(root.parent).with_suffix("").parts
        try:
            importlib.import_module(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
        except ImportError:  # an optional dependency missing: its errors are not reachable either
            continue


def test_every_error_code_has_a_chinese_text():
    _import_everything()
    codes = {cls.code for cls in known_codes().values()} | set(STATUS_CODES.values())
    missing = sorted(c for c in codes if c not in ZH)
    assert not missing, f"error codes without a Chinese message in service/messages.py: {missing}"


def test_codes_are_stable_and_languages_picked():
    assert code_of(404, {"error": "x", "type": "NotFound"}) == "not_found"
    assert code_of(410, {"error": "x", "type": "LinkUsed"}) == "link_used"
    assert code_of(422, {"error": "request is not valid", "details": []}) == "invalid_request"
    assert code_of(418, {"error": "teapot"}) == "bad_request"
    assert pick_lang("zh-CN,zh;q=0.9,en;q=0.8") == "zh" and pick_lang("en-GB,zh;q=0.5") == "en"
    assert pick_lang("fr-FR, zh-TW;q=0.7") == "zh" and pick_lang(None) == "en" and pick_lang("zh;q=0") == "en"
    body = localise(410, {"error": "this signing link has expired", "type": "LinkExpired"}, "zh")
    assert body["error"] == "this signing link has expired" and body["code"] == "link_expired"
    assert body["message"] == ZH["link_expired"] and body["lang"] == "zh"


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    app = create_app(Settings(data_dir=tmp_path_factory.mktemp("messages")))
    with TestClient(app) as c:
        yield c


def test_error_bodies_carry_code_and_the_readers_language(client):
    en = client.get("/v1/subjects")
    assert en.status_code == 401 and en.json()["error"].startswith("an API key is required")
    assert en.json()["code"] == "unauthorized" and en.json()["message"] == en.json()["error"]
    assert en.headers["content-language"] == "en" and "Accept-Language" in en.headers["vary"]
    zh = client.get("/v1/subjects", headers=ZH_CN)
    assert zh.json()["error"] == en.json()["error"] and zh.json()["message"] == ZH["unauthorized"]
    assert zh.headers["content-language"] == "zh" and int(zh.headers["content-length"]) == len(zh.content)
    link = client.get("/v1/capture/" + "a" * 32 + "/request", headers=ZH_CN)
    assert link.status_code in (404, 410) and link.json()["message"] == ZH[link.json()["code"]]
    invalid = client.post("/v1/capture/" + "a" * 32 + "/typed", json={"name": ""}, headers=ZH_CN)
    assert invalid.status_code == 422 and invalid.json()["code"] == "invalid_request"
    assert invalid.json()["details"] and invalid.json()["message"] == ZH["invalid_request"]
    ok = client.get("/healthz", headers=ZH_CN)
    assert "code" not in ok.text and "content-language" not in ok.headers
