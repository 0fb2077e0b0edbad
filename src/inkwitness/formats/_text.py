"""Shared helpers for the plain-text dataset formats: bounded reading and numeric tables."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..errors import InvalidSignature, UnsupportedFormat

#: No signature file is anywhere near this; larger input is refused before parsing.
MAX_FILE_BYTES = 32 * 1024 * 1024

Source = str | os.PathLike[str] | bytes


def read_bytes(source: Source) -> tuple[bytes, str]:
    """Read a file (or take bytes) with a size limit; returns the bytes and a name for messages."""
    if isinstance(source, (bytes, bytearray)):
        data = bytes(source)
        name = "<bytes>"
    else:
        path = Path(source)
        try:
            size = path.stat().st_size
        except OSError as exc:
            raise UnsupportedFormat(f"cannot read {path}: {exc.strerror or exc}") from exc
        if not path.is_file():
            raise UnsupportedFormat(f"{path} is not a file")
        if size > MAX_FILE_BYTES:
            raise InvalidSignature(f"{path.name} is {size} bytes; at most {MAX_FILE_BYTES} are accepted")
        data = path.read_bytes()
        name = path.name
    if len(data) > MAX_FILE_BYTES:
        raise InvalidSignature(f"input is {len(data)} bytes; at most {MAX_FILE_BYTES} are accepted")
    return data, name


def decode_text(data: bytes, name: str) -> str:
    """Decode ASCII/UTF-8 text, refusing binary input with a readable error."""
    if b"\x00" in data[:4096]:
        raise UnsupportedFormat(f"{name} is binary, not a text signature file")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise UnsupportedFormat(f"{name} is not UTF-8/ASCII text") from exc


def numeric_table(lines: list[str], name: str, columns: tuple[int, ...], first_line_no: int = 1) -> np.ndarray:
    """Parse whitespace-separated numeric rows; every row must have one of ``columns`` fields."""
    rows = [ln.split() for ln in lines if ln.strip()]
    if not rows:
        raise InvalidSignature(f"{name} has no samples")
    width = len(rows[0])
    if width not in columns:
        raise UnsupportedFormat(f"{name}: rows have {width} columns, expected {' or '.join(map(str, columns))}")
    for i, row in enumerate(rows):
        if len(row) != width:
            raise InvalidSignature(f"{name}: data row {i + first_line_no} has {len(row)} columns, expected {width}")
    try:
        table = np.array(rows, dtype=np.float64)
    except ValueError as exc:
        raise InvalidSignature(f"{name}: non-numeric value in the sample rows ({exc})") from exc
    if not np.isfinite(table).all():
        i = int(np.flatnonzero(~np.isfinite(table).all(axis=1))[0])
        raise InvalidSignature(f"{name}: data row {i + first_line_no} has a non-finite value")
    return table


def parse_count(token: str, name: str) -> int:
    """Parse a declared sample count, refusing nonsense."""
    try:
        n = int(token)
    except ValueError as exc:
        raise UnsupportedFormat(f"{name}: expected a sample count, got {token[:40]!r}") from exc
    if n < 0:
        raise InvalidSignature(f"{name}: negative sample count {n}")
    return n
