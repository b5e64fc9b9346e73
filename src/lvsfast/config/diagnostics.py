"""Diagnostics for keepalived.conf: ``FILE:LINE: error: ...`` lines, and the error that carries them."""
from __future__ import annotations

from lvsfast.frozen import record

TYPE_CHECKING = False  # annotations only: typing stays unimported at run time (start-up, issue 25)
if TYPE_CHECKING:
    from typing import Iterable, Literal

    Severity = Literal["error", "warning", "notice"]  # a notice never changes -t's status
else:
    Severity = str


@record
class Diagnostic:
    file: str
    line: int
    severity: Severity
    message: str

    def __str__(self) -> str:
        # A complaint that belongs to no line (e.g. a missing file) still names the file.
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.severity}: {self.message}"


class ConfigError(ValueError):
    """The configuration cannot be used. ``diagnostics`` holds every error and warning found."""

    def __init__(self, diagnostics: Iterable[Diagnostic]):
        self.diagnostics: list[Diagnostic] = list(diagnostics)
        super().__init__("\n".join(str(d) for d in self.diagnostics) or "invalid configuration")

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.severity == "error"]


class Diagnostics:
    """Collects diagnostics while reading and building; the single sink for one load."""

    __slots__ = ("items", "fatal", "missing_value", "source_digest")

    def __init__(self) -> None:
        self.items: list[Diagnostic] = []
        # keepalived -t exits 6 rather than 5 for these: script security, failed include checks.
        self.fatal = False
        # keepalived -t exits 2 when a keyword lacks its parameter.
        self.missing_value = False
        # Every file read, hashed with the config id (reader.read); empty when the reading
        # was not reproducible (${_RANDOM}) or came from a string.
        self.source_digest = ""

    def error(self, file: str, line: int, message: str) -> None:
        self.items.append(Diagnostic(file, line, "error", message))

    def warning(self, file: str, line: int, message: str) -> None:
        self.items.append(Diagnostic(file, line, "warning", message))

    def notice(self, file: str, line: int, message: str) -> None:
        self.items.append(Diagnostic(file, line, "notice", message))

    @property
    def has_errors(self) -> bool:
        return any(d.severity == "error" for d in self.items)

    def sorted(self) -> list[Diagnostic]:
        # Stable: keeps the order of discovery within one line.
        return sorted(self.items, key=lambda d: (d.file, d.line))
