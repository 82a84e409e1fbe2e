"""Apply the rules' fixes with libcst, safely.

Fixes are applied in passes until nothing changes (a fix nested in another one's target is
picked up by the next pass), so running ``--fix`` twice changes nothing the second time.  The
result is re-parsed before it is returned, and :func:`write_atomic` replaces a file only with
complete, parseable content.
"""

from __future__ import annotations

import errno
import os
import stat
import tempfile
from dataclasses import dataclass

import libcst as cst

from nograd_lint.config import Config
from nograd_lint.engine import analyze
from nograd_lint.rule import Finding, Fix, FixSafety

MAX_PASSES = 10


@dataclass
class FixResult:
    source: str | bytes  # the fixed text (the original when nothing applied)
    fixed: int  # findings that went away
    remaining: list[Finding]
    error: str | None = None  # why the file was left unchanged


def fix_source(source: str | bytes, path: str, config: Config, *, unsafe: bool = False) -> FixResult:
    analysis = analyze(source, path, config)
    before = len(analysis.findings)
    current = source
    for _ in range(MAX_PASSES):
        fixes = [f.fix for f in analysis.findings if _allowed(f.fix, unsafe)]
        if analysis.module is None or not fixes:
            break
        updated = analysis.module.visit(_ApplyFixes(fixes))
        candidate = updated.bytes if isinstance(source, bytes) else updated.code
        try:
            cst.parse_module(candidate)
        except (cst.ParserSyntaxError, RecursionError) as error:
            return FixResult(source, 0, analyze(source, path, config).findings,
                             f"{path}: a fix produced code that does not parse ({error}); "
                             "file left unchanged, please report this")
        if candidate == current:
            break
        current = candidate
        analysis = analyze(current, path, config)
    return FixResult(current, max(before - len(analysis.findings), 0), analysis.findings)


def _allowed(fix: Fix | None, unsafe: bool) -> bool:
    return fix is not None and (unsafe or fix.safety is FixSafety.SAFE)


class _ApplyFixes(cst.CSTTransformer):
    def __init__(self, fixes: list[Fix]) -> None:
        super().__init__()
        self._replacements: dict[cst.CSTNode, object] = {}
        for fix in fixes:
            # Two fixes for one node (e.g. NG301 and NG303 on one call): one per pass.
            self._replacements.setdefault(fix.target, fix.replacement)

    def on_leave(self, original_node, updated_node):
        replacement = self._replacements.get(original_node)
        if replacement is not None:
            return replacement
        return super().on_leave(original_node, updated_node)

    # A removed statement must not leave an empty line or block behind.
    def leave_SimpleStatementLine(self, original_node, updated_node):
        return updated_node if updated_node.body else cst.RemoveFromParent()

    def leave_IndentedBlock(self, original_node, updated_node):
        if updated_node.body:
            return updated_node
        return updated_node.with_changes(body=[cst.SimpleStatementLine([cst.Pass()])])


def write_atomic(path: str, data: bytes) -> None:
    """Replace ``path`` with ``data`` all at once: a temporary file in the same directory,
    flushed to disk, given the original's permissions, then renamed over the original.  On any
    error the original is untouched."""
    mode = os.stat(path).st_mode
    # Checked by hand because os.access says yes to root even for a file marked read-only.
    if not os.access(path, os.W_OK) or not mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH):
        raise PermissionError(errno.EACCES, "file is read-only")
    directory = os.path.dirname(os.path.abspath(path))
    handle, temporary = tempfile.mkstemp(dir=directory, prefix=".nograd-lint-", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        os.chmod(temporary, stat.S_IMODE(mode))
        os.replace(temporary, path)
    except BaseException:
        try:
            os.unlink(temporary)
        except OSError:
            pass
        raise
