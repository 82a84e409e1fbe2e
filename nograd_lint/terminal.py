"""What a person at a terminal sees on top of the findings: colour, a summary line and a
progress line on long runs.  None of it reaches a pipe unless asked for (``--color always``,
``FORCE_COLOR``), so tools that parse ``path:line:col: CODE message`` lines are unaffected.

Hand-written rather than rich or tqdm: a few escape codes do, and the CLI's start-up (about
0.19 s on a file the pre-filters rule out) would grow by the import of either.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Sequence
from typing import TextIO

from nograd_lint.rule import Finding, FixSafety

_BOLD, _RED, _CYAN, _RESET = "\033[1m", "\033[1;31m", "\033[36m", "\033[0m"


def use_color(choice: str, stream: TextIO) -> bool:
    """``--color``: ``always``, ``never``, or ``auto``: ``NO_COLOR`` (any value) turns colour
    off and ``FORCE_COLOR`` on (https://no-color.org, https://force-color.org); otherwise
    colour goes only to a terminal that is not ``TERM=dumb``."""
    if choice != "auto":
        return choice == "always"
    if os.environ.get("NO_COLOR"):
        return False
    if os.environ.get("FORCE_COLOR"):
        return True
    return stream.isatty() and os.environ.get("TERM") != "dumb"


def colored_text(findings: Sequence[Finding]) -> str:
    """The text format with the path in bold and the code in red, as ruff colours them."""
    return "".join(
        f"{_BOLD}{f.path}{_RESET}{_CYAN}:{_RESET}{f.line}{_CYAN}:{_RESET}{f.column}{_CYAN}:"
        f"{_RESET} {_RED}{f.code}{_RESET} {f.message}\n" for f in findings)


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def summary(findings: Sequence[Finding], *, fixed: int | None = None, unsafe_fixes: bool = False,
            color: bool = False) -> str:
    """"Found 12 findings (5 fixable with --fix)." after the text output; with ``fixed``
    (a --fix run) how many were fixed and how many remain.  Nothing when there is nothing."""
    total = len(findings) + (fixed or 0)
    if total == 0:
        return ""
    if fixed is not None:
        detail = f"{fixed} fixed, {len(findings)} remaining"
    else:
        safe = sum(1 for f in findings if f.fix and f.fix.safety is FixSafety.SAFE)
        unsafe = sum(1 for f in findings if f.fix and f.fix.safety is FixSafety.UNSAFE)
        fixable = safe + unsafe if unsafe_fixes else safe
        detail = f"{fixable} fixable with --fix" + (
            "" if unsafe_fixes or not unsafe else f"; {unsafe} more with --fix --unsafe-fixes")
    line = f"Found {_plural(total, 'finding')} ({detail})."
    return f"{_BOLD}{line}{_RESET}\n" if color else f"{line}\n"


class Progress:
    """``nograd-lint: 120/315 files`` on one rewritten line of a terminal's standard error,
    shown only once a run has taken ``delay`` seconds (short runs stay quiet) and erased at the
    end, so that the findings printed afterwards start on a clean line."""

    def __init__(self, total: int, stream: TextIO = sys.stderr, delay: float = 2.0) -> None:
        self._total = total
        self._stream = stream
        self._enabled = total > 1 and stream.isatty()
        self._start = time.monotonic()
        self._delay = delay
        self._shown = False
        self._last = 0.0

    def update(self, done: int) -> None:
        if not self._enabled:
            return
        now = time.monotonic()
        if now - self._start < self._delay or now - self._last < 0.1 and done < self._total:
            return
        self._last = now
        self._shown = True
        self._stream.write(f"\rnograd-lint: {done}/{self._total} files")
        self._stream.flush()

    def close(self) -> None:
        if self._shown:
            self._stream.write("\r\033[K")
            self._stream.flush()
            self._shown = False
