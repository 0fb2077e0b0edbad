"""The typed error hierarchy that the CLI and the service map to exit codes and 4xx responses."""

from __future__ import annotations

import re
from typing import Any, ClassVar


def snake_case(name: str) -> str:
    """``LowQualityCapture`` -> ``low_quality_capture`` (the default machine code of an error class)."""
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name).lower()


class InkwitnessError(Exception):
    """Base of every error inkwitness raises on purpose."""

    #: Stable machine code in the service's error bodies; subclasses get the snake_case of their
    #: name unless they set one (service/messages.py translates every code).
    code: ClassVar[str] = "unprocessable"

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "code" not in cls.__dict__:
            cls.code = snake_case(cls.__name__)


class InvalidSignature(InkwitnessError):
    """A signature packet or file is malformed, empty, non-finite or absurd."""


class UnsupportedFormat(InkwitnessError):
    """The input is not in any format inkwitness can read (or write)."""


class DatasetError(InkwitnessError):
    """A dataset folder is missing, incomplete or not laid out as expected."""


class EnrolmentError(InkwitnessError):
    """An enrolment cannot be built: too few or inconsistent references."""


class IncompatibleSignatures(InkwitnessError):
    """Two signatures share too few channels to be compared."""


class StorageError(InkwitnessError):
    """The database cannot be opened, reached or migrated."""


class ComparisonBudgetExceeded(StorageError):
    """A request's comparisons ran past its time budget and were stopped (the service answers 503 with
    Retry-After, like other temporary unavailability: the server is busy, nothing was stored)."""
