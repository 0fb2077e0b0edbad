"""The ceremony's refusals, each with its own machine code (and so its own translation)."""

from __future__ import annotations

from ...errors import InkwitnessError
from ..storage import Gone, NotFound


class LinkUsed(Gone):
    """The link was used already, or its session expired (410)."""


class LinkExpired(Gone):
    """The request's link expired before it was used (410)."""


class RequestDeclined(Gone):
    """The signer declined; the link shows nothing more (410)."""


class CopyExpired(Gone):
    """The signer's copy is no longer kept behind the link (410)."""


class NoDocument(NotFound):
    """The link is a plain enrol/verify link, with no document (404)."""


class SealingUnavailable(InkwitnessError):
    """The server cannot seal documents, so it takes no signing requests (422)."""
