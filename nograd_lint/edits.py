"""Code edits that several rules' fixes share."""

from __future__ import annotations

from nograd_lint import libcst as cst

from nograd_lint.model.names import ImportResolver


def under_no_grad(names: ImportResolver, statement: cst.BaseStatement) -> cst.With | None:
    """``statement`` wrapped in ``with torch.no_grad():``, spelled the way this module imports
    torch (``T.no_grad()``, ``no_grad()``...); None when nothing imported reaches it."""
    no_grad = names.spelling("torch.no_grad")
    if no_grad is None:
        return None
    return cst.With(items=[cst.WithItem(cst.parse_expression(f"{no_grad}()"))],
                    body=cst.IndentedBlock([statement.with_changes(leading_lines=())]),
                    leading_lines=statement.leading_lines)
