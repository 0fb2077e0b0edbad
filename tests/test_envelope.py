"""Escrow containers: only the escrow key opens them, and they stay bound to their document."""

from __future__ import annotations

import hashlib
import json

import pytest

from inkwitness.evidence.envelope import (ALG_RSA, ALG_X25519, Container, EvidenceError, find_key,
                                          generate_escrow_key, load_private_key, open_container, private_pem,
                                          public_pem, seal)

from .conftest import synthetic_signature

DOC = hashlib.sha256(b"the contract").hexdigest()


@pytest.fixture(scope="module", params=["x25519", "rsa"])
def key(request):
    return generate_escrow_key(request.param)


def _sealed(key):
    sig = synthetic_signature()
    return sig, seal(sig.canonical_bytes(), sig.sha256, DOC, key.public_key())


def test_roundtrip_recovers_the_exact_packet(key):
    sig, container = _sealed(key)
    assert container.header["alg"] in (ALG_X25519, ALG_RSA)
    again = Container.from_bytes(container.to_bytes())
    assert open_container(again, key, DOC) == sig.canonical_bytes()


def test_ciphertext_reveals_no_coordinates(key):
    sig, container = _sealed(key)
    assert str(int(sig.x[3])).encode() not in container.ciphertext
    assert b'"x"' not in container.to_bytes()


def test_another_key_cannot_open_it(key):
    _, container = _sealed(key)
    with pytest.raises(EvidenceError, match="not the one the container was sealed to"):
        open_container(container, generate_escrow_key("x25519"))


def test_binding_to_another_document_is_refused(key):
    _, container = _sealed(key)
    with pytest.raises(EvidenceError, match="bound to document"):
        open_container(container, key, hashlib.sha256(b"another contract").hexdigest())


@pytest.mark.parametrize("field", ["document_sha256", "signature_sha256", "created"])
def test_edited_header_makes_decryption_fail(key, field):
    _, container = _sealed(key)
    obj = json.loads(container.to_bytes())
    obj["header"][field] = hashlib.sha256(b"x").hexdigest() if field != "created" else "2001-01-01T00:00:00+00:00"
    with pytest.raises(EvidenceError, match="does not decrypt"):
        open_container(Container.from_bytes(json.dumps(obj).encode()), key)


def test_flipped_ciphertext_byte_is_detected(key):
    _, container = _sealed(key)
    bad = Container(container.header, container.key, container.nonce,
                    bytes([container.ciphertext[0] ^ 1]) + container.ciphertext[1:])
    with pytest.raises(EvidenceError, match="does not decrypt"):
        open_container(bad, key)


def test_rotation_keeps_old_containers_decryptable(tmp_path):
    old, new = generate_escrow_key(), generate_escrow_key()
    sig = synthetic_signature()
    c_old = seal(sig.canonical_bytes(), sig.sha256, DOC, old.public_key())
    c_new = seal(sig.canonical_bytes(), sig.sha256, DOC, new.public_key())
    (tmp_path / "old.pem").write_bytes(private_pem(old, b"pw"))
    keyring = [load_private_key(tmp_path / "old.pem", b"pw"), new]
    assert open_container(c_old, find_key(c_old, keyring)) == open_container(c_new, find_key(c_new, keyring))
    with pytest.raises(EvidenceError, match="none of the given escrow keys"):
        find_key(c_old, [new])


@pytest.mark.parametrize("payload", [b"", b"{}", b"[1]", b'{"format":"inkwitness.escrow/1","header":{}}',
                                     b"\xff\xfe", b'{"format":"inkwitness.escrow/1","header":{"alg":"ROT13",'
                                     b'"key_id":"","document_sha256":"","signature_sha256":"","created":""}}'])
def test_malformed_containers_raise_evidence_error(payload):
    with pytest.raises(EvidenceError):
        Container.from_bytes(payload)


def test_packet_hash_must_match():
    key = generate_escrow_key()
    with pytest.raises(EvidenceError, match="does not match the packet"):
        seal(b"{}", "0" * 64, DOC, key.public_key())
    assert public_pem(key.public_key()).startswith(b"-----BEGIN PUBLIC KEY-----")
