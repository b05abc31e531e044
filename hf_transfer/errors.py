"""User-facing errors.

Every mistake a user can make in a recipe, on the command line or in their data
raises a subclass of :class:`HfTransferError`. The CLI prints its message and
exits non-zero without a traceback; the Python API lets it propagate.
"""

from __future__ import annotations


class HfTransferError(Exception):
    """A user error: the message says what was expected, what was found, and the fix."""

    exit_code = 1


class ConfigError(HfTransferError):
    """One or more problems in a recipe, reported together."""

    exit_code = 2

    def __init__(self, problems: list[str], source: str | None = None):
        self.problems = list(problems)
        self.source = source
        where = f" in {source}" if source else ""
        noun = "problem" if len(self.problems) == 1 else "problems"
        lines = [f"{len(self.problems)} {noun}{where}:"]
        lines += [f"  - {p}" for p in self.problems]
        super().__init__("\n".join(lines))


class DataError(HfTransferError):
    """The data does not match what the recipe says (columns, labels, paths)."""


class BackboneError(HfTransferError):
    """The backbone cannot be found, reached or used."""


class OutputError(HfTransferError):
    """The output folder cannot be written as asked."""


class ArtifactError(HfTransferError):
    """A saved artifact failed its reload check."""


class RunInterrupted(HfTransferError):
    """The run stopped on a signal (SIGTERM, SIGINT); the message says what was kept and how to resume."""

    def __init__(self, message: str, signum: int):
        super().__init__(message)
        self.signum = signum
        self.exit_code = 128 + signum
