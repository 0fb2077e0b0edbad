"""Write secrets (private keys, keyrings) so that no other user can read them, not even briefly."""

from __future__ import annotations

import os
import secrets
from pathlib import Path


def write_secret(path: str | Path, data: bytes, exclusive: bool = False) -> Path:
    """Write ``data`` to ``path`` readable by the owner only (mode 0600 from creation), atomically.

    The bytes go to a temporary file in the same folder, created with ``O_EXCL`` and mode
    0600 (never a moment with the umask's wider mode), flushed to disk, then renamed over
    ``path``: a reader sees the old file or the whole new one, never a half-written one.
    With ``exclusive`` an existing ``path`` is never replaced (FileExistsError), not even
    one created meanwhile: the file is linked into place, which fails if the name is taken.
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        if exclusive:
            os.link(tmp, path)
            tmp.unlink()
        else:
            os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path
