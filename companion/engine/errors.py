"""The one error type front doors translate: a stable code and a sentence for people."""

from __future__ import annotations


class ProtectError(Exception):
    """A photo could not be protected. `code` is stable (the server and CLI report it)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    def __str__(self) -> str:
        return self.message


class MissingDependency(ImportError):
    """An optional package a feature needs is not installed; the message says how to get it."""

    def __init__(self, package: str, extra: str) -> None:
        super().__init__(f"{package} is needed for this; install it with: pip install 'imageprotector[{extra}]'")
