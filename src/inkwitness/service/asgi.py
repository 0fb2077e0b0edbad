"""ASGI entry point for uvicorn workers: settings come from the environment set by ``inkwitness serve``."""

from __future__ import annotations

import json
import os
from pathlib import Path

from fastapi import FastAPI

from .app import create_app
from .settings import Settings

SETTINGS_ENV = "INKWITNESS_SERVICE_SETTINGS"


def settings_to_env(settings: Settings) -> str:
    """Serialise settings for worker processes."""
    return json.dumps({k: (str(v) if isinstance(v, Path) else v) for k, v in vars(settings).items()})


def app() -> FastAPI:
    """Factory used by ``uvicorn --factory``."""
    raw = json.loads(os.environ.get(SETTINGS_ENV, "{}"))
    paths = {"data_dir", "storage_key_file", "escrow_public_key", "pki_dir"}
    kwargs = {k: (Path(v) if k in paths and v is not None else v) for k, v in raw.items()}
    return create_app(Settings(**kwargs))
