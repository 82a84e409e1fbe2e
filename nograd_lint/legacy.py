"""Python 2 and old Python 3 files: linted after mechanical repairs, never fixed.

Code from before PyTorch 0.4 is where ``volatile`` and ``Variable`` live, and much of it only
parses as Python 2 (``print x``, ``except E, e``) or as Python before 3.7 (``.cuda(async=True)``).
When CPython rejects a file, :func:`repair` rewrites a scratch copy token by token: print and
exec statements become calls, ``except E, e`` becomes ``except E as e``, ``raise E, v`` becomes
``raise E(v)``, backticks become ``repr(...)``, ``<>`` becomes ``!=``, ``0777`` becomes
``0o777`` (and ``10L`` ``10``), ``ur""`` becomes ``r""``, an ``async`` keyword argument becomes
``non_blocking`` (its name since PyTorch 0.4) and other ``async`` identifiers ``async_``, and
tabs in indentation are expanded as Python 2 did.  No line is added or removed, and every
repair records how it moved the columns after it, so the findings on the repaired copy are
reported at their place in the original file, with one NG001 saying what was repaired.  The
file itself is never written: fixes computed on a repaired copy would carry its repairs.
"""

from __future__ import annotations

import ast
import bisect
import io
import re
import tokenize
from dataclasses import dataclass, field

from nograd_lint.config import Config
from nograd_lint.rule import Finding
from nograd_lint.rules import PARSE_ERROR

_TOKEN = re.compile(r"""
    (?P<comment>\#[^\r\n]*)
  | (?P<string>(?:[rRuUbBfF]{1,2})?(?:'''(?:\\.|[^\\])*?'''|\"\"\"(?:\\.|[^\\])*?\"\"\"
                                    |'(?:\\.|[^\\'\r\n])*'|"(?:\\.|[^\\"\r\n])*"))
  | (?P<number>0[xXoObB][0-9a-fA-F_]+[lL]?|(?:\d[\d_]*\.?[\d_]*|\.\d[\d_]*)(?:[eE][+-]?\d+)?[jJlL]?)
  | (?P<name>[^\W\d]\w*)
  | (?P<newline>\r\n|\r|\n)
  | (?P<continuation>\\(?:\r\n|\r|\n))
  | (?P<space>[ \t\f]+)
  | (?P<op><>|!=|\*\*=?|//=?|>>=?|<<=?|->|:=|[-+*/%&|^@=<>!]=?|[()\[\]{},:;.~`])
  | (?P<other>.)
""", re.VERBOSE | re.DOTALL)

_OPENERS, _CLOSERS = "([{", ")]}"
_COMPOUND = {"if", "elif", "else", "for", "while", "try", "except", "finally", "with", "def",
             "class"}
_STATEMENT_KEYWORDS = {"print", "exec"}
_NOT_AN_OPERAND = set(_CLOSERS) | {"(", "=", ".", ",", ":", ";", "if", "else", "for", "in",
                                   "and", "or", "is"}
_OLD_OCTAL = re.compile(r"0[0-7_]*[1-7][0-7_]*[lL]?")
_LONG = re.compile(r"(?:0[xXoObB][0-9a-fA-F_]+|\d[\d_]*)[lL]")


@dataclass
class _Token:
    kind: str
    text: str
    start: int
    line: int
    depth: int  # bracket depth before the token


@dataclass
class Repaired:
    """The repaired text, what was repaired (kind -> lines), and the column shifts."""

    text: str
    repairs: dict[str, list[int]]
    # Per repaired line (1-based): sorted (column in the repaired line where a shift starts,
    # total shift from there on), the columns being 0-based.
    shifts: dict[int, list[tuple[int, int]]] = field(default_factory=dict)

    def original_column(self, line: int, column: int) -> int:
        """The 0-based column in the original line of ``column`` in the repaired line."""
        marks = self.shifts.get(line)
        if not marks:
            return column
        index = bisect.bisect_right(marks, (column, float("inf"))) - 1
        return column if index < 0 else max(column - marks[index][1], 0)

    def describe(self) -> str:
        parts = []
        for kind, lines in self.repairs.items():
            shown = ", ".join(map(str, lines[:3])) + (", ..." if len(lines) > 3 else "")
            parts.append(f"{kind} (line{'s' if len(lines) > 1 else ''} {shown})")
        return "; ".join(parts)


def _tokens(text: str) -> list[_Token]:
    tokens, depth, line = [], 0, 1
    for match in _TOKEN.finditer(text):
        kind, value = match.lastgroup, match.group()
        if kind in ("space", "comment"):
            continue
        tokens.append(_Token(kind, value, match.start(), line, depth))
        if kind == "op" and value in _OPENERS:
            depth += 1
        elif kind == "op" and value in _CLOSERS:
            depth = max(depth - 1, 0)
        line += value.count("\n") + value.count("\r") - value.count("\r\n")
    return tokens


class _Editor:
    def __init__(self) -> None:
        self.edits: list[tuple[int, int, str]] = []  # (start, end, replacement) in the original
        self.repairs: dict[str, list[int]] = {}

    def replace(self, start: int, end: int, text: str, kind: str, line: int) -> None:
        self.edits.append((start, end, text))
        lines = self.repairs.setdefault(kind, [])
        if not lines or lines[-1] != line:
            lines.append(line)


def _statement_starts(tokens: list[_Token]) -> list[int]:
    """Indexes of the tokens that begin a (small) statement."""
    starts, first = [], 0
    for index, token in enumerate(tokens):
        if index == first:
            starts.append(index)
        if token.kind == "newline" and token.depth == 0 or token.text == ";" and token.depth == 0:
            first = index + 1
        elif (token.text == ":" and token.depth == 0 and tokens[first].text in _COMPOUND
              and index + 1 < len(tokens) and tokens[index + 1].kind != "newline"):
            first = index + 1  # ``if x: print y``
    return starts


def _statement_end(tokens: list[_Token], index: int) -> int:
    """The index of the last token of the statement ``tokens[index]`` is in."""
    end = index
    while end + 1 < len(tokens):
        following = tokens[end + 1]
        if following.depth == 0 and (following.kind == "newline" or following.text == ";"):
            break
        end += 1
    return end


def _end_offset(token: _Token) -> int:
    return token.start + len(token.text)


def _is_print_operand(token: _Token) -> bool:
    """Whether ``token``, after ``print`` or ``exec``, starts a Python 2 statement's operand
    (``print(``, ``print = f``, ``print.x`` are Python 3 already)."""
    if token.kind in ("name", "string", "number"):
        return token.text not in _NOT_AN_OPERAND
    return token.text in ("-", "+", "~", "[", "{", "`", ">>")


def _open_call(text: str, token: _Token, editor: _Editor, kind: str) -> None:
    """``print x`` -> ``print(x``: the blank after the keyword becomes the parenthesis, so
    the columns of the operand stay where they were."""
    gap = _end_offset(token)
    width = 1 if text[gap:gap + 1] in (" ", "\t") else 0
    editor.replace(gap, gap + width, "(", kind, token.line)


def _repair_statements(tokens: list[_Token], text: str, editor: _Editor) -> None:
    for index in _statement_starts(tokens):
        token = tokens[index]
        following = tokens[index + 1] if index + 1 < len(tokens) else None
        if following is None or following.kind == "newline":
            continue
        end = _statement_end(tokens, index)
        if token.text in _STATEMENT_KEYWORDS and _is_print_operand(following):
            kind = f"{token.text} statements"
            _open_call(text, token, editor, kind)
            if following.text == ">>":  # print >>stream, x: the stream becomes an argument
                editor.replace(following.start, following.start + 2, "  ", kind, token.line)
            editor.replace(_end_offset(tokens[end]), _end_offset(tokens[end]), ")", kind,
                           token.line)
        elif token.text == "except":
            colon = next((i for i in range(index + 1, end + 1)
                          if tokens[i].text == ":" and tokens[i].depth == 0), None)
            commas = [i for i in range(index + 1, colon or index)
                      if tokens[i].text == "," and tokens[i].depth == 0]
            if len(commas) == 1:
                comma = tokens[commas[0]]
                editor.replace(comma.start, comma.start + 1, " as", "'except E, e'", token.line)
        elif token.text == "raise":
            comma = next((tokens[i] for i in range(index + 1, end + 1)
                          if tokens[i].text == "," and tokens[i].depth == 0), None)
            if comma is not None:
                editor.replace(comma.start, comma.start + 1, "(", "'raise E, value'", token.line)
                editor.replace(_end_offset(tokens[end]), _end_offset(tokens[end]), ")",
                               "'raise E, value'", token.line)


def _repair_tokens(tokens: list[_Token], editor: _Editor) -> None:
    backtick_open = False
    for index, token in enumerate(tokens):
        text = token.text
        if token.kind == "op" and text == "<>":
            editor.replace(token.start, token.start + 2, "!=", "'<>'", token.line)
        elif token.kind == "op" and text == "`":
            editor.replace(token.start, token.start + 1, ")" if backtick_open else "repr(",
                           "backticks", token.line)
            backtick_open = not backtick_open
        elif token.kind == "number" and _OLD_OCTAL.fullmatch(text):
            digits = text.rstrip("lL").lstrip("0")
            editor.replace(token.start, _end_offset(token), "0o" + digits, "old octal literals",
                           token.line)
        elif token.kind == "number" and _LONG.fullmatch(text):
            editor.replace(_end_offset(token) - 1, _end_offset(token), "", "long literals",
                           token.line)
        elif token.kind == "string" and text[:2].lower() == "ur":
            editor.replace(token.start, token.start + 1, "", "'ur' string prefixes", token.line)
        elif token.kind == "name" and text == "async":
            following = tokens[index + 1].text if index + 1 < len(tokens) else ""
            if following == "=" and token.depth > 0:
                editor.replace(token.start, _end_offset(token), "non_blocking",
                               "'async=' arguments", token.line)
            elif following not in ("def", "with", "for"):
                editor.replace(token.start, _end_offset(token), "async_",
                               "'async' names", token.line)


_INDENT = re.compile(r"^[ \t\f]*\t[ \t\f]*(?=\S)", re.MULTILINE)


def _repair_tabs(text: str, editor: _Editor, inside_strings: list[tuple[int, int]]) -> None:
    """Tabs in indentation expanded to Python 2's tab stops (every 8 columns), where Python 3
    refuses tabs and spaces mixed."""
    for match in _INDENT.finditer(text):
        if any(start < match.start() < end for start, end in inside_strings):
            continue
        line = text.count("\n", 0, match.start()) + 1
        editor.replace(match.start(), match.end(), match.group().expandtabs(8),
                       "tabs in indentation", line)


def repair(text: str) -> Repaired | None:
    """``text`` with the legacy syntax it has repaired, or None when there was nothing to
    repair."""
    tokens = _tokens(text)
    editor = _Editor()
    _repair_statements(tokens, text, editor)
    _repair_tokens(tokens, editor)
    if "\t" in text:
        strings = [(t.start, _end_offset(t)) for t in tokens if t.kind == "string" and "\n" in t.text]
        _repair_tabs(text, editor, strings)
    if not editor.edits:
        return None
    return _apply(text, editor)


def _apply(text: str, editor: _Editor) -> Repaired:
    pieces, shifts, position = [], {}, 0
    line, repaired_line_start, repaired_length, shift = 1, 0, 0, 0
    for start, end, replacement in sorted(editor.edits):
        if start < position:
            continue  # overlapping repairs: the first one wins
        between = text[position:start]
        newlines = between.count("\n")
        if newlines:
            line += newlines
            repaired_line_start = repaired_length + between.rindex("\n") + 1
            shift = 0
        pieces.append(between)
        repaired_length += len(between)
        pieces.append(replacement)
        repaired_length += len(replacement)
        shift += len(replacement) - (end - start)
        repaired_end_column = repaired_length - repaired_line_start
        shifts.setdefault(line, []).append((repaired_end_column, shift))
        position = end
    pieces.append(text[position:])
    return Repaired("".join(pieces), editor.repairs, shifts)


def _decoded(source: str | bytes) -> str | None:
    if isinstance(source, str):
        return source
    try:
        encoding, _ = tokenize.detect_encoding(io.BytesIO(source).readline)
        return source.decode(encoding)
    except (SyntaxError, UnicodeError, LookupError):
        return None


def analyze_repaired(source: str | bytes, path: str, config: Config, error: SyntaxError, *,
                     honor_noqa: bool, report_parse_errors: bool):
    """The engine's analysis of ``source`` (which CPython rejected with ``error``) after legacy
    repairs, with findings placed in the original and no fixes; None if the repairs do not
    make it parse."""
    from nograd_lint.engine import Analysis, analyze

    text = _decoded(source)
    repaired = repair(text) if text is not None else None
    if repaired is None:
        return None
    try:
        ast.parse(repaired.text)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None
    analysis = analyze(repaired.text, path, config, honor_noqa=honor_noqa,
                       report_parse_errors=report_parse_errors, repair_legacy=False)
    findings = [Finding(f.path, f.line, repaired.original_column(f.line, f.column - 1) + 1,
                        f.code, f.message) for f in analysis.findings]
    if report_parse_errors:
        findings.append(Finding(
            path, max(error.lineno or 1, 1), max(error.offset or 1, 1), PARSE_ERROR.code,
            f"legacy syntax (Python 2 or before 3.7): checked after repairing a scratch copy: "
            f"{repaired.describe()}; --fix leaves this file unchanged"))
    findings.sort(key=lambda f: f.sort_key)
    return Analysis(None, findings)
