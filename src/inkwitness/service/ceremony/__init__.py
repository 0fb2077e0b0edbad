"""The signing ceremony: the signer's page behind a link, the clerk's console, and their routes."""

from .routes import router

__all__ = ["router"]
