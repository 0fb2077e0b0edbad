"""RFC 6962 hashing and proofs: published test vectors, an independent implementation, every size."""

from __future__ import annotations

import hashlib

import pytest
from pymerkle import InmemoryTree

from inkwitness.evidence import merkle

# The RFC 6962 test inputs used by Certificate Transparency implementations.
INPUTS = [bytes.fromhex(h) for h in ("", "00", "10", "2021", "3031", "40414243", "5051525354555657",
                                     "606162636465666768696a6b6c6d6e6f")]
ROOTS = [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]
LEAVES = [merkle.leaf_hash(d) for d in INPUTS]


def test_empty_tree_and_hash_prefixes():
    assert merkle.root([]) == hashlib.sha256(b"").digest()
    assert merkle.leaf_hash(b"") == hashlib.sha256(b"\x00").digest()
    assert merkle.node_hash(b"a", b"b") == hashlib.sha256(b"\x01ab").digest()


@pytest.mark.parametrize("size", range(1, 9))
def test_roots_match_rfc6962_vectors(size):
    assert merkle.root(LEAVES[:size]).hex() == ROOTS[size - 1]


def test_incremental_roots_match():
    assert [r.hex() for r in merkle.iter_roots(LEAVES)] == ROOTS


# Known audit paths from the CT reference tests (tree of 8 leaves).
@pytest.mark.parametrize("index, size, path", [
    (0, 8, ["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"]),
    (5, 8, ["bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"]),
])
def test_inclusion_paths_match_reference(index, size, path):
    assert [h.hex() for h in merkle.inclusion_proof(index, LEAVES[:size])] == path


@pytest.mark.parametrize("old, new, proof", [
    (1, 8, ["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"]),
    (6, 8, ["0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"]),
    (2, 5, ["5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"]),
])
def test_consistency_proofs_match_reference(old, new, proof):
    assert [h.hex() for h in merkle.consistency_proof(old, LEAVES[:new])] == proof


def test_every_proof_verifies_up_to_size_40_and_tampering_fails():
    leaves = [merkle.leaf_hash(i.to_bytes(4, "big")) for i in range(40)]
    for n in range(1, 41):
        root = merkle.root(leaves[:n])
        for i in range(n):
            proof = merkle.inclusion_proof(i, leaves[:n])
            assert merkle.verify_inclusion(i, n, leaves[i], proof, root)
            assert not merkle.verify_inclusion(i, n, leaves[(i + 1) % 40], proof, root)
        for m in range(1, n + 1):
            proof = merkle.consistency_proof(m, leaves[:n])
            assert merkle.verify_consistency(m, n, merkle.root(leaves[:m]), root, proof)
            if m < n:
                assert not merkle.verify_consistency(m, n, merkle.root(leaves[1:m + 1]), root, proof)


def test_roots_agree_with_pymerkle():
    tree = InmemoryTree(algorithm="sha256")
    data = [f"entry {i}".encode() for i in range(37)]
    for i, d in enumerate(data, 1):
        tree.append_entry(d)
        assert tree.get_root() == merkle.root([merkle.leaf_hash(x) for x in data[:i]])
