"""The typed error hierarchy that the CLI and the service map to exit codes and 4xx responses."""

from __future__ import annotations


class InkwitnessError(Exception):
    """Base of every error inkwitness raises on purpose."""


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
