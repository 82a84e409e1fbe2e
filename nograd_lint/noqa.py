"""``# noqa`` handling as flake8 does it.

``# noqa`` silences every finding on its line, ``# noqa: NG301,NG302`` only those codes (and
codes they prefix).  A comment anywhere in a multi-line statement covers all of its lines, so a
``# noqa`` at the end of a long call silences a finding reported at the call's first line.
"""

from __future__ import annotations

import io
import re
import tokenize

# flake8's own pattern (flake8/defaults.py), so the two tools agree on what a noqa comment is.
NOQA_INLINE = re.compile(
    r"# noqa"
    r"(?::[\s]?(?P<codes>([A-Z]+[0-9]+(?:[,\s]+)?)+))?",
    re.IGNORECASE,
)
ALL_CODES = frozenset({"*"})
# flake8's file-level pattern (flake8/defaults.py NOQA_FILE, matched at a line's start): a
# ``# flake8: noqa`` line of its own silences the whole file.
_NOQA_FILE = {str: re.compile(r"^[ \t\f]*# flake8[:=][ \t]*noqa", re.IGNORECASE | re.MULTILINE),
              bytes: re.compile(rb"^[ \t\f]*# flake8[:=][ \t]*noqa", re.IGNORECASE | re.MULTILINE)}


def _codes(comment: str) -> frozenset[str] | None:
    match = NOQA_INLINE.search(comment)
    if match is None:
        return None
    codes = match.group("codes")
    if not codes:
        return ALL_CODES
    return frozenset(c.upper() for c in re.split(r"[,\s]+", codes) if c)


def ignores_file(source: str | bytes) -> bool:
    """Whether a ``# flake8: noqa`` line tells linters to skip the whole file, as flake8 does."""
    return _NOQA_FILE[type(source)].search(source) is not None


def suppressions(source: str) -> dict[int, frozenset[str]]:
    """Map each physical line to the codes a noqa comment suppresses on it."""
    by_line: dict[int, frozenset[str]] = {}
    if NOQA_INLINE.search(source) is None:
        return by_line  # no noqa comment anywhere: nothing to tokenize
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(source).readline))
    except (tokenize.TokenError, SyntaxError):
        # Unbalanced brackets and the like: fall back to plain per-line comments.
        for number, text in enumerate(source.splitlines(), start=1):
            codes = _codes(text) if "#" in text else None
            if codes is not None:
                by_line[number] = codes
        return by_line
    statement_start = 1
    depth = 0  # bracket depth: a line break inside brackets does not end the statement
    pending: frozenset[str] = frozenset()
    for token in tokens:
        if token.type == tokenize.OP and token.string in "([{":
            depth += 1
        elif token.type == tokenize.OP and token.string in ")]}":
            depth = max(depth - 1, 0)
        elif token.type == tokenize.COMMENT:
            codes = _codes(token.string)
            if codes is not None:
                pending |= codes
        elif token.type in (tokenize.NEWLINE, tokenize.ENDMARKER) or (
            token.type == tokenize.NL and depth == 0
        ):
            for line in range(statement_start, token.start[0] + 1):
                if pending:
                    by_line[line] = pending
            pending = frozenset()
            statement_start = token.end[0] + 1
    return by_line


def is_suppressed(codes_by_line: dict[int, frozenset[str]], line: int, code: str) -> bool:
    codes = codes_by_line.get(line)
    if codes is None:
        return False
    return "*" in codes or code.startswith(tuple(codes))
