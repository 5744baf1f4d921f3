"""Whose fault is it? The one distinction every error in edge-runtime makes.

A :class:`UserError` is a mistake in something a user wrote (a YAML file, a flag, a path). The
CLI prints it as one line, ``FILE:LINE: key.path: what is wrong (the fix)``, and exits with 2.
Anything else that escapes is a bug in edge-runtime and keeps its traceback (h11 draws the same
line between ``LocalProtocolError`` and ``RemoteProtocolError``).
"""

from __future__ import annotations

from pathlib import Path

#: Everything ``str.splitlines`` breaks a line at: escaped in a UserError's text, so that a key
#: or value quoted from the user's file (``"a\nb": 1``) cannot split the one line in two.
_LINE_BREAKS = str.maketrans({c: repr(c)[1:-1] for c in "\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029"})

#: Exit status for a user's mistake (as argparse uses for usage errors).
EXIT_USER_ERROR = 2
#: Exit status when a build ran but its result failed the accuracy gate.
EXIT_GATE_FAILED = 3


class UserError(Exception):
    """A mistake in the user's input, reported in one line with where it is and how to fix it."""

    def __init__(
        self,
        message: str,
        *,
        file: str | Path | None = None,
        line: int | None = None,
        key: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.file = str(file) if file is not None else None
        self.line = line
        self.key = key

    def __str__(self) -> str:
        where = ""
        if self.file is not None:
            where = self.file if self.line is None else f"{self.file}:{self.line}"
            where += ": "
        key = f"{self.key}: " if self.key else ""
        return f"{where}{key}{self.message}".translate(_LINE_BREAKS)


class MissingDependencyError(UserError):
    """An optional extra is needed for what was asked (e.g. TensorRT on an x86 host)."""

    def __init__(self, what: str, extra: str, detail: str = "") -> None:
        hint = f"install it with: pip install 'edge-runtime[{extra}]'"
        super().__init__(f"{what} is not available ({detail}); {hint}" if detail
                         else f"{what} is not available; {hint}")


class GateFailedError(UserError):
    """A build's accuracy fell further than the recipe allows, even with fallbacks tried."""

    exit_status = EXIT_GATE_FAILED


class EngineUnavailableError(RuntimeError):
    """A remote engine cannot be reached (its server is down, the network failed, the model
    was unloaded): the request did not run. Neither the user's mistake nor a bug: the session
    marks the variant down, falls back to a local one and probes the server until it is back;
    the CLI says it in one line (exit 2: the address in the recipe may be the mistake)."""
