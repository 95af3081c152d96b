"""Domain errors. They carry no HTTP status: ``service.errors`` maps each to one."""
from __future__ import annotations


class KefuError(Exception):
    """Base of every error kefu raises on purpose."""

    def __init__(self, message: str, *, errors: dict | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.errors = errors


class NotFound(KefuError):
    """The thing asked for does not exist (unknown customer, model, item)."""


class InvalidInput(KefuError):
    """Input that passed the wire schema but breaks a domain rule."""


class Conflict(KefuError):
    """The request clashes with the current state (e.g. a version that already exists)."""


class NotReady(KefuError):
    """A needed part (model, store) is not loaded or reachable yet."""
