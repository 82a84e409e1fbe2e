"""Apply the rules' fixes with libcst, safely.

Fixes are applied in passes until nothing changes (a fix nested in another one's target is
picked up by the next pass), so running ``--fix`` twice changes nothing the second time.  The
result is re-parsed before it is returned, and :func:`write_atomic` replaces a file only with
complete, parseable content.  What fixes leave behind (``x = x``, an import no longer used,
adjacent ``with torch.no_grad():`` blocks) is tidied up (``cleanup.py``).
"""

from __future__ import annotations

import errno
import functools
import os
import re
import stat
from collections.abc import Mapping
from dataclasses import dataclass

from nograd_lint import libcst as cst

from nograd_lint.cleanup import (
    imports_made_unused, is_self_assignment, merge_adjacent, unused_import_fixes,
)
from nograd_lint.config import Config
from nograd_lint.engine import Analysis
from nograd_lint.files import replace_atomically
from nograd_lint.engine import analyze as analyze_module
from nograd_lint.rule import Finding, Fix, FixSafety
from nograd_lint.vocabulary import Grad

MAX_PASSES = 10


@dataclass
class FixResult:
    source: str | bytes  # the fixed text (the original when nothing applied)
    fixed: int  # findings that went away
    remaining: list[Finding]
    error: str | None = None  # why the file was left unchanged


def fix_source(source: str | bytes, path: str, config: Config, *, unsafe: bool = False,
               callers: Mapping[str, Grad] = {}) -> FixResult:
    """``callers`` as for ``engine.lint_source``."""
    analyze = functools.partial(analyze_module, callers=callers)
    analysis = analyze(source, path, config)
    before = len(analysis.findings)
    if analysis.module is None or not any(_allowed(f.fix, unsafe) for f in analysis.findings):
        return FixResult(source, 0, analysis.findings)
    # libcst writes some files back differently from how it read them (blank lines at the end,
    # form feeds, a final lone carriage return).  Blank and comment lines at the end are set
    # aside and put back; any other difference would leak into lines no fix touches.
    current, tail = _split_trailing_blank_lines(source)
    if tail:
        trimmed = analyze(current, path, config)
        if trimmed.module is not None:
            analysis = trimmed
        else:
            current, tail = source, source[:0]
    if _render(analysis.module, source) != current:
        return FixResult(source, 0, analysis.findings,
                         f"{path}: libcst does not reproduce this file exactly (form feeds or "
                         "stray carriage returns?), so fixing it could change other lines; file "
                         "left unchanged")
    for _ in range(MAX_PASSES):
        fixes = [f.fix for f in analysis.findings if _allowed(f.fix, unsafe)]
        if analysis.module is None or not fixes:
            break
        candidate = _apply(analysis.module, fixes, source)
        if candidate is None:
            return _unparseable_fix(source, analyze(source, path, config), path)
        if candidate == current:
            break
        current = candidate
        analysis = analyze(current, path, config)
    unused = imports_made_unused(source, current)
    if unused:
        module = cst.parse_module(current)
        candidate = _apply(module, unused_import_fixes(module, unused), source)
        if candidate is None:
            return _unparseable_fix(source, analyze(source, path, config), path)
        current = candidate
        analysis = analyze(current, path, config)
    return FixResult(current + tail, max(before - len(analysis.findings), 0), analysis.findings)


def _apply(module: cst.Module, fixes: list[Fix], like: str | bytes) -> str | bytes | None:
    """The module's text with ``fixes`` applied, or None if that does not parse."""
    candidate = _render(module.visit(_ApplyFixes(fixes)), like)
    try:
        cst.parse_module(candidate)
    except (cst.ParserSyntaxError, RecursionError):
        return None
    return candidate


def _unparseable_fix(source: str | bytes, analysis: Analysis, path: str) -> FixResult:
    return FixResult(source, 0, analysis.findings,
                     f"{path}: a fix produced code that does not parse; file left unchanged, "
                     "please report this")


def _render(module: cst.Module, like: str | bytes) -> str | bytes:
    return module.bytes if isinstance(like, bytes) else module.code


_LINE = {str: re.compile(r"[^\r\n]*(?:\r\n|\r|\n)?"), bytes: re.compile(rb"[^\r\n]*(?:\r\n|\r|\n)?")}
_BLANK_OR_COMMENT = {str: re.compile(r"[ \t\f]*(?:#[^\r\n]*)?(?:\r\n|\r|\n)?\Z"),
                     bytes: re.compile(rb"[ \t\f]*(?:#[^\r\n]*)?(?:\r\n|\r|\n)?\Z")}


def _split_trailing_blank_lines(source: str | bytes) -> tuple[str | bytes, str | bytes]:
    """``source`` as (everything up to the last line with code, the blank or comment-only
    lines after it)."""
    kind = type(source)
    lines = _LINE[kind].findall(source)
    keep = len(lines)
    while keep and _BLANK_OR_COMMENT[kind].match(lines[keep - 1]):
        keep -= 1
    cut = sum(len(line) for line in lines[:keep])
    return source[:cut], source[cut:]


def _allowed(fix: Fix | None, unsafe: bool) -> bool:
    return fix is not None and (unsafe or fix.safety is FixSafety.SAFE)


class _ApplyFixes(cst.CSTTransformer):
    def __init__(self, fixes: list[Fix]) -> None:
        super().__init__()
        self._replacements: dict[cst.CSTNode, object] = {}
        # Statement lines whose every statement was removed, by id (kept alive, so that no
        # other node can get the same id).
        self._emptied: dict[int, cst.SimpleStatementLine] = {}
        for fix in fixes:
            # Two fixes for one node (e.g. NG301 and NG303 on one call): one per pass.
            self._replacements.setdefault(fix.target, fix.replacement)
        # The ``with`` blocks fixes wrap statements in, by id: adjacent ones are merged.
        self._created = {id(r): r for r in self._replacements.values() if isinstance(r, cst.With)}

    def on_leave(self, original_node, updated_node):
        replacement = self._replacements.get(original_node)
        if replacement is not None:
            return replacement
        return super().on_leave(original_node, updated_node)

    def leave_Assign(self, original_node, updated_node):
        # ``x = Variable(x)`` fixed to ``x = x``: a statement that does nothing goes.
        if is_self_assignment(updated_node) and not is_self_assignment(original_node):
            return cst.RemoveFromParent()
        return updated_node

    # A removed statement must leave no empty line, empty block or dangling ';' behind, and
    # must not take the comment lines above it along.  libcst itself would drop a line left
    # empty, leading lines and all, so such a line is kept as a marked ``pass`` until its
    # block, which drops it and hands its leading lines to the next statement (or keeps them
    # at its end).
    def leave_SimpleStatementLine(self, original_node, updated_node):
        if not updated_node.body:
            emptied = updated_node.with_changes(body=[cst.Pass()])
            self._emptied[id(emptied)] = emptied
            return emptied
        return _without_dangling_semicolon(original_node, updated_node)

    def leave_SimpleStatementSuite(self, original_node, updated_node):
        return _without_dangling_semicolon(original_node, updated_node)

    def leave_IndentedBlock(self, original_node, updated_node):
        if not self._emptied:
            return updated_node.with_changes(body=self._merged(updated_node.body))
        body, carried = self._drop_emptied(updated_node.body)
        body = self._merged(body)
        if not body:
            body = [cst.SimpleStatementLine([cst.Pass()], leading_lines=carried)]
            carried = []
        return updated_node.with_changes(body=body, footer=[*carried, *updated_node.footer])

    def leave_Module(self, original_node, updated_node):
        if not self._emptied:
            return updated_node.with_changes(body=self._merged(updated_node.body))
        body, carried = self._drop_emptied(updated_node.body)
        body = self._merged(body)
        return updated_node.with_changes(body=body, footer=[*carried, *updated_node.footer])

    def _merged(self, body):
        return merge_adjacent(body, self._created) if self._created else body

    def _drop_emptied(self, body):
        """``body`` without the lines fixes emptied, and the leading lines (comments, blank
        lines) of such lines at the end, which no statement is left to carry."""
        kept, carried = [], []
        for statement in body:
            if self._emptied.get(id(statement)) is statement:
                carried.extend(statement.leading_lines)
                continue
            if carried:
                statement = statement.with_changes(leading_lines=[*carried, *statement.leading_lines])
                carried = []
            kept.append(statement)
        return kept, carried


def _without_dangling_semicolon(original_node, updated_node):
    body = updated_node.body
    if (body and len(body) < len(original_node.body)
            and isinstance(body[-1].semicolon, cst.Semicolon)
            and not isinstance(original_node.body[-1].semicolon, cst.Semicolon)):
        return updated_node.with_changes(
            body=[*body[:-1], body[-1].with_changes(semicolon=cst.MaybeSentinel.DEFAULT)])
    return updated_node


def write_atomic(path: str, data: bytes) -> None:
    """Replace ``path`` with ``data`` all at once: a temporary file in the same directory,
    flushed to disk, given the original's permissions, then renamed over the original.  On any
    error the original is untouched."""
    mode = os.stat(path).st_mode
    # Checked by hand because os.access says yes to root even for a file marked read-only.
    if not os.access(path, os.W_OK) or not mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH):
        raise PermissionError(errno.EACCES, "file is read-only")
    replace_atomically(path, data, mode=stat.S_IMODE(mode), durable=True)
