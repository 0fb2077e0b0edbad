"""Sealed PDFs and evidence bundles: PAdES B-T, several signers, byte flips named, offline checks."""

from __future__ import annotations

import io
import random
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from reportlab.pdfgen import canvas

from inkwitness.evidence.bundle import build_bundle, verify_bundle
from inkwitness.evidence.context import EvidenceContext
from inkwitness.evidence.envelope import EvidenceError, generate_escrow_key, open_container, public_pem
from inkwitness.evidence.pdf import SealConfig, sign_pdf, verify_pdf
from inkwitness.evidence.pki import create_pki
from inkwitness.evidence.tsa import TsaServer

from .conftest import synthetic_signature
from .test_cli import run


def blank_pdf(text: str = "Agreement. Signed below by both parties.") -> bytes:
    buf = io.BytesIO()
    c = canvas.Canvas(buf, invariant=1)
    c.drawString(72, 720, text)
    c.showPage()
    c.save()
    return buf.getvalue()


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return create_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="module")
def tsa(pki):
    with TsaServer(pki.tsa_cert, pki.tsa_key) as server:
        yield server


@pytest.fixture(scope="module")
def escrow():
    return generate_escrow_key()


@pytest.fixture(scope="module")
def sealed(pki, tsa, escrow):
    config = SealConfig(pki.signer_cert, pki.signer_key, (pki.ca_cert,), tsa.url, escrow.public_key())
    original = blank_pdf()
    # The first seal certifies the document and reserves the second signer's field.
    first, c1 = sign_pdf(original, synthetic_signature(1), 1, (300, 100, 500, 180), config, signer_name="A",
                         reserve=[(1, (300, 200, 500, 280))])
    second, c2 = sign_pdf(first, synthetic_signature(2), 1, (300, 200, 500, 280), config, signer_name="B")
    return original, first, second, c1, c2


def test_two_signers_both_validate_with_timestamps_and_bound_biometrics(sealed, pki):
    original, first, second, c1, c2 = sealed
    checks = verify_pdf(second, [pki.ca_cert])
    assert [c.ok for c in checks] == [True, True], [c.problems for c in checks]
    assert checks[0].modified_after and checks[0].modification_level == "FORM_FILLING"
    assert not checks[1].modified_after
    assert all(c.timestamp and c.timestamp["trusted"] for c in checks)
    assert checks[0].biometric["signature_sha256"] == synthetic_signature(1).sha256
    assert second.startswith(first) and first.startswith(original)
    assert checks[0].certification == "FILL_FORMS" and checks[1].certification is None


def test_escrow_holder_recovers_the_packet_bound_to_the_pre_signing_document(sealed, escrow):
    import hashlib

    original, first, _, c1, c2 = sealed
    assert open_container(c1, escrow, hashlib.sha256(original).hexdigest()) == synthetic_signature(1).canonical_bytes()
    assert open_container(c2, escrow, hashlib.sha256(first).hexdigest()) == synthetic_signature(2).canonical_bytes()


def test_pyhanko_own_validator_agrees(sealed, pki, tmp_path):
    _, _, second, _, _ = sealed
    path = tmp_path / "s.pdf"
    path.write_bytes(second)
    exe = Path(sys.executable).parent / "pyhanko"
    out = subprocess.run([str(exe), "sign", "validate", "--executive-summary", "--no-revocation-check",
                          "--trust-replace", "--trust", str(pki.ca_cert), str(path)],
                         capture_output=True, text=True, timeout=120)
    verdicts = [line.rsplit(":", 1)[-1] for line in out.stdout.split()]
    ours = verify_pdf(second, [pki.ca_cert])
    assert verdicts == ["VALID" if c.ok else "INVALID" for c in ours] == ["VALID", "VALID"]


@pytest.mark.parametrize("text", ["1,2,3", "a,b,c,d", "0,0,inf,10", "0,nan,5,5", ""])
def test_malformed_boxes_are_refused(text):
    from inkwitness.evidence.pdf import parse_box

    with pytest.raises(EvidenceError, match="four finite numbers"):
        parse_box(text)
    assert parse_box("1,2.5,30,40") == (1.0, 2.5, 30.0, 40.0)


def test_untrusted_root_is_reported(sealed, tmp_path):
    other = create_pki(tmp_path / "other")
    checks = verify_pdf(sealed[2], [other.ca_cert])
    assert not any(c.ok for c in checks)
    assert all("does not chain to a trusted root" in " ".join(c.problems) for c in checks)


def test_every_sampled_byte_flip_of_a_sealed_pdf_is_detected_and_named(sealed, pki):
    pdf = sealed[2]
    rng = random.Random(7)
    contents = pdf.rfind(b"/Contents <")
    positions = sorted(set(rng.sample(range(len(pdf)), 40) + [len(pdf) - 3, contents + 11, contents + 5000]))
    for pos in positions:
        damaged = pdf[:pos] + bytes([pdf[pos] ^ 0x01]) + pdf[pos + 1:]
        try:
            checks = verify_pdf(damaged, [pki.ca_cert])
        except EvidenceError as exc:
            assert str(exc), pos
            continue
        failed = [c for c in checks if not c.ok]
        assert failed, f"flip at byte {pos} went unnoticed"
        assert all(c.problems for c in failed), pos


def test_verify_pdf_cli_exits_1_on_damage(sealed, pki, tmp_path):
    pdf = sealed[2]
    good, bad = tmp_path / "good.pdf", tmp_path / "bad.pdf"
    good.write_bytes(pdf)
    i = pdf.find(b"Agreement")
    bad.write_bytes(pdf[:i] + b"B" + pdf[i + 1:])
    assert run("verify-pdf", str(good), "--trust", str(pki.ca_cert)).returncode == 0
    out = run("verify-pdf", str(bad), "--trust", str(pki.ca_cert))
    assert out.returncode == 1 and "signed bytes were altered" in out.stdout


@pytest.fixture(scope="module")
def bundle(sealed, pki, escrow, tmp_path_factory):
    import hashlib

    ctx = EvidenceContext.resolve(tmp_path_factory.mktemp("data"))
    original, first, second, c1, c2 = sealed
    event = {"type": "signing", "document_sha256": hashlib.sha256(first).hexdigest(),
             "signed_document_sha256": hashlib.sha256(second).hexdigest(), "container_sha256": c2.sha256}
    ctx.log.append({"type": "capture", "signature_sha256": "0" * 64})
    entry = ctx.log.append(event)
    data, _ = ctx.log.entry(entry.index)
    return build_bundle(entry.index, data, ctx.log.inclusion_proof(entry.index), ctx.log.latest_checkpoint(),
                        ctx.log.verifier_key, ctx.log.key.sign, container=c2.to_bytes(), pdf=second,
                        trust={"ca.cert.pem": pki.ca_cert.read_bytes()}, escrow_public=public_pem(escrow.public_key())
                        ), ctx.log.verifier_key


def test_bundle_verifies_offline(bundle, pki):
    data, key = bundle
    report = verify_bundle(data, [pki.ca_cert], key)
    assert report.ok, report.problems
    names = zipfile.ZipFile(io.BytesIO(data)).namelist()
    assert {"MANIFEST.json", "MANIFEST.sig", "entry.json", "proof.json", "checkpoint.txt", "log-key.txt",
            "container.json", "signed.pdf", "README.md", "escrow-public.pem", "trust/ca.cert.pem"} <= set(names)


def test_every_sampled_byte_flip_of_a_bundle_is_detected_and_named(bundle, pki):
    data, key = bundle
    zf = zipfile.ZipFile(io.BytesIO(data))
    # One flip inside every member's content, plus random positions anywhere in the file.
    positions = [info.header_offset + 30 + len(info.filename) + min(5, info.file_size - 1)
                 for info in zf.infolist()]
    positions += random.Random(3).sample(range(len(data)), 25)
    for pos in sorted(set(positions)):
        damaged = data[:pos] + bytes([data[pos] ^ 0x01]) + data[pos + 1:]
        report = verify_bundle(damaged, [pki.ca_cert], key)
        assert not report.ok, f"flip at byte {pos} went unnoticed"
        assert report.problems and all(":" in p for p in report.problems)


def test_bundle_with_a_foreign_log_key_fails(bundle, pki, tmp_path):
    from inkwitness.evidence.checkpoint import verifier_key
    from inkwitness.evidence.log import load_or_create_log_key

    data, _ = bundle
    other = verifier_key("inkwitness-log", load_or_create_log_key(tmp_path / "k.pem").public_key())
    assert not verify_bundle(data, [pki.ca_cert], other).ok


def test_garbage_bundle_is_reported_not_raised():
    report = verify_bundle(b"PK\x03\x04garbage")
    assert not report.ok and "zip" in report.problems[0]


def form_pdf(days: str = "30") -> bytes:
    """A contract with one text field, ``days``."""
    buf = io.BytesIO()
    c = canvas.Canvas(buf, invariant=1)
    c.drawString(72, 720, "Payment is due within this many days:")
    c.acroForm.textfield(name="days", value=days, x=300, y=712, width=60, height=18)
    c.showPage()
    c.save()
    return buf.getvalue()


def fill_field(pdf: bytes, name: str, value: str) -> bytes:
    """An incremental update that changes one text field's value, as any PDF editor would."""
    from pyhanko.pdf_utils import generic
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter

    writer = IncrementalPdfFileWriter(io.BytesIO(pdf))
    for ref in writer.root["/AcroForm"]["/Fields"]:
        node = ref.get_object()
        if node.get("/T") == name:
            node["/V"] = generic.TextStringObject(value)
            writer.update_container(node)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


@pytest.fixture(scope="module")
def config(pki, tsa, escrow):
    return SealConfig(pki.signer_cert, pki.signer_key, (pki.ca_cert,), tsa.url, escrow.public_key())


def test_a_form_value_changed_after_sealing_is_named_and_fails(config, pki):
    sealed, _ = sign_pdf(form_pdf(), synthetic_signature(1), 1, (300, 100, 500, 180), config)
    (check,) = verify_pdf(sealed, [pki.ca_cert])
    assert check.ok and check.certification == "NO_CHANGES"
    (check,) = verify_pdf(fill_field(sealed, "days", "90"), [pki.ca_cert])
    assert not check.ok
    assert check.field_changes == [{"field": "days", "old": "30", "new": "90", "change": "changed", "allowed": False}]
    assert any("form field 'days' changed after this signature: '30' \u2192 '90'" in p for p in check.problems)


def test_a_reserved_multi_signer_document_still_locks_its_fields(config, pki):
    first, _ = sign_pdf(form_pdf(), synthetic_signature(1), 1, (300, 100, 500, 180), config,
                        reserve=[(1, (300, 200, 500, 280))])
    second, _ = sign_pdf(first, synthetic_signature(2), 1, (1, 1, 2, 2), config)  # fills the reserved field
    assert [c.ok for c in verify_pdf(second, [pki.ca_cert])] == [True, True]
    checks = verify_pdf(fill_field(second, "days", "90"), [pki.ca_cert])
    assert [c.ok for c in checks] == [False, False]
    assert all(c.field_changes[0]["old"] == "30" and c.field_changes[0]["new"] == "90" for c in checks)
    with pytest.raises(EvidenceError, match="no empty reserved signature field"):
        sign_pdf(second, synthetic_signature(3), 1, (1, 1, 50, 50), config)


def test_certified_with_no_changes_refuses_another_seal(config):
    sealed, _ = sign_pdf(form_pdf(), synthetic_signature(1), 1, (300, 100, 500, 180), config)
    with pytest.raises(EvidenceError, match="no changes allowed"):
        sign_pdf(sealed, synthetic_signature(2), 1, (300, 200, 500, 280), config)


def test_form_filling_policy_allows_and_still_names_the_change(config, pki):
    import dataclasses

    fill = dataclasses.replace(config, form_policy="fill")
    sealed, _ = sign_pdf(form_pdf(), synthetic_signature(1), 1, (300, 100, 500, 180), fill)
    (check,) = verify_pdf(fill_field(sealed, "days", "90"), [pki.ca_cert])
    assert check.ok and check.certification == "FILL_FORMS"
    assert check.field_changes == [{"field": "days", "old": "30", "new": "90", "change": "changed", "allowed": True}]


def test_a_damaged_time_stamp_token_is_named_as_such(sealed, pki):
    from asn1crypto import cms

    pdf = sealed[1]
    start, end = pdf.rfind(b"/Contents <") + 11, None
    end = pdf.index(b">", start)
    blob = bytes.fromhex(pdf[start:end].decode())
    info = cms.ContentInfo.load(blob)
    (token,) = [a["values"][0] for a in info["content"]["signer_infos"][0]["unsigned_attrs"]
                if a["type"].native == "signature_time_stamp_token"]
    der = token.dump()
    at = blob.index(der)
    step = max(1, len(der) // 60)
    for offset in range(0, len(der), step):
        damaged = bytearray(blob)
        damaged[at + offset] ^= 0x01
        flipped = pdf[:start] + bytes(damaged).hex().encode() + pdf[start + 2 * len(blob):]
        (check,) = [c for c in verify_pdf(flipped, [pki.ca_cert]) if c.field == "inkwitness-signature-1"]
        assert not check.ok, f"flip at token byte {offset} went unnoticed"
        assert any("time-stamp" in p for p in check.problems), (offset, check.problems)


def test_label_shows_the_tsa_time_and_leaves_the_ink_alone(sealed, pki):
    import base64
    import re

    from asn1crypto import cms, tsp

    from inkwitness.evidence.pdf import LABEL_STRIP, render_ink_pdf
    from pyhanko.pdf_utils.reader import PdfFileReader

    ink = PdfFileReader(io.BytesIO(render_ink_pdf(synthetic_signature(1), 200, 80, bottom=LABEL_STRIP)))
    stream = ink.root["/Pages"]["/Kids"][0]["/Contents"].data.decode("latin-1")
    ys = [float(y) for y in re.findall(r"[-\d.]+ ([-\d.]+) (?:m|l)\b", stream)]
    assert ys and min(ys) >= LABEL_STRIP + 1.0, min(ys)
    _, first, _, c1, _ = sealed
    extra = c1.header["extra"]
    token = cms.ContentInfo.load(base64.b64decode(extra["label_timestamp_token"]))
    gen = token["content"]["encap_content_info"]["content"].parsed["gen_time"].native
    assert extra["label_time"] == gen.strftime("%Y-%m-%d %H:%M:%S UTC")
    assert isinstance(token["content"]["encap_content_info"]["content"].parsed, tsp.TSTInfo)
    # The label text is in the signature field's appearance.
    reader = PdfFileReader(io.BytesIO(first))
    field = [f for f in reader.root["/AcroForm"]["/Fields"] if f.get_object()["/T"] == "inkwitness-signature-1"][0]
    appearance = field.get_object()["/AP"]["/N"]
    texts = [appearance.data] + [x.get_object().data for x in appearance["/Resources"].get("/XObject", {}).values()]
    # PDF literal strings may escape characters as octal (\\055 is "-").
    shown = [re.sub(rb"\\([0-7]{3})", lambda m: bytes([int(m.group(1), 8)]), t) for t in texts]
    assert any(b"TSA time " + extra["label_time"].encode() in t for t in shown), shown[0][:300]


def test_b_lta_seal_embeds_crls_in_the_dss_and_a_document_timestamp(config, pki, tsa):
    import dataclasses
    import urllib.request

    lta = dataclasses.replace(config, crls=(pki.crl,))
    first, _ = sign_pdf(form_pdf(), synthetic_signature(1), 1, (300, 100, 500, 180), lta,
                        reserve=[(1, (300, 200, 500, 280))])
    second, _ = sign_pdf(first, synthetic_signature(2), 1, (1, 1, 2, 2), lta)
    checks = verify_pdf(second, [pki.ca_cert])
    assert [c.ok for c in checks] == [True, True], [c.problems for c in checks]
    ltv = checks[0].ltv
    assert ltv["level"] == "B-LTA" and ltv["dss_crls"] >= 1 and len(ltv["document_timestamps"]) == 2
    assert all(d["valid"] and d["trusted"] for d in ltv["document_timestamps"])
    # A form value changed after all that is still named (the lock is the recorded policy).
    changed = verify_pdf(fill_field(second, "days", "90"), [pki.ca_cert])
    assert not any(c.ok for c in changed) and all(c.field_changes for c in changed)
    # The certificates name a CRL URL; the local TSA serves the CRL there.
    from cryptography import x509

    cert = x509.load_pem_x509_certificate(pki.signer_cert.read_bytes())
    (point,) = cert.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
    assert point.full_name[0].value.endswith("/ca.crl")
    with urllib.request.urlopen(tsa.url.rsplit("/", 1)[0] + "/ca.crl") as reply:  # noqa: S310 - loopback
        assert reply.read() == pki.crl.read_bytes()


def test_a_revoked_signing_certificate_cannot_seal(tmp_path, escrow):
    from cryptography import x509

    from inkwitness.evidence.pki import issue_crl

    revoked_pki = create_pki(tmp_path / "pki")
    serial = x509.load_pem_x509_certificate(revoked_pki.signer_cert.read_bytes()).serial_number
    issue_crl(revoked_pki, revoked=(serial,))
    with TsaServer(revoked_pki.tsa_cert, revoked_pki.tsa_key) as own_tsa:
        config = SealConfig(revoked_pki.signer_cert, revoked_pki.signer_key, (revoked_pki.ca_cert,), own_tsa.url,
                            escrow.public_key(), crls=(revoked_pki.crl,))
        with pytest.raises(EvidenceError, match="certificate was revoked"):
            sign_pdf(blank_pdf(), synthetic_signature(1), 1, (300, 100, 500, 180), config)


def test_b_lta_keeps_a_signature_valid_after_its_certificate_expires(tmp_path, escrow):
    import dataclasses
    import datetime as dt

    short = create_pki(tmp_path / "pki", signer_days=365)
    later = dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=2 * 365)
    after_all = dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=6 * 365)
    with TsaServer(short.tsa_cert, short.tsa_key) as own_tsa:
        bt = SealConfig(short.signer_cert, short.signer_key, (short.ca_cert,), own_tsa.url, escrow.public_key())
        plain, _ = sign_pdf(blank_pdf(), synthetic_signature(1), 1, (300, 100, 500, 180), bt)
        lta, _ = sign_pdf(blank_pdf(), synthetic_signature(1), 1, (300, 100, 500, 180),
                          dataclasses.replace(bt, crls=(short.crl,)))
    (check,) = verify_pdf(plain, [short.ca_cert], at=later)
    assert not check.ok and any("signing certificate expired" in p for p in check.problems)
    (check,) = verify_pdf(lta, [short.ca_cert], at=later)
    assert check.ok, check.problems
    assert check.ltv["level"] == "B-LTA" and "validated_at_signing_time" in check.ltv
    # Once the TSA certificate behind the document time-stamp expires too, nothing proves it.
    (check,) = verify_pdf(lta, [short.ca_cert], at=after_all)
    assert not check.ok and any("expired" in p for p in check.problems)
