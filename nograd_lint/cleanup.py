"""What applying fixes leaves behind, tidied so that the result needs no lint pass of its own:
self-assignments (``x = Variable(x)`` fixed to ``x = x``), imports no longer used (the
``Variable`` import), and ``with torch.no_grad():`` blocks that fixes put around consecutive
statements, merged into one.
"""

from __future__ import annotations

import ast
from collections import Counter
from collections.abc import Sequence

from nograd_lint import libcst as cst

from nograd_lint.rule import Fix


def is_self_assignment(node: cst.Assign) -> bool:
    """``x = x``: a plain name assigned to itself, which does nothing."""
    return (len(node.targets) == 1 and isinstance(node.targets[0].target, cst.Name)
            and isinstance(node.value, cst.Name) and not node.value.lpar
            and node.targets[0].target.value == node.value.value)


def merge_adjacent(body: Sequence[cst.BaseStatement],
                   created: dict[int, cst.With]) -> list[cst.BaseStatement]:
    """``body`` with each run of consecutive ``with`` blocks that fixes created (``created``,
    by id) over the same context manager merged into the first; the comments and blank lines
    above a merged block move onto its first statement."""
    merged: list[cst.BaseStatement] = []
    module = cst.Module([])
    for statement in body:
        previous = merged[-1] if merged else None
        if (previous is not None and created.get(id(statement)) is statement
                and created.get(id(previous)) is previous
                and module.code_for_node(previous.items[0]) == module.code_for_node(statement.items[0])):
            first, *rest = statement.body.body
            first = first.with_changes(leading_lines=[*statement.leading_lines, *first.leading_lines])
            joined = previous.with_changes(body=previous.body.with_changes(
                body=[*previous.body.body, first, *rest]))
            created[id(joined)] = joined
            merged[-1] = joined
        else:
            merged.append(statement)
    return merged


def _loaded_names(tree: ast.Module) -> Counter:
    """How often each name is read, plus the strings of ``__all__`` (a re-export is a use)."""
    counts: Counter = Counter()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and not isinstance(node.ctx, ast.Store):
            counts[node.id] += 1
        elif (isinstance(node, (ast.Assign, ast.AugAssign)) and any(
                isinstance(t, ast.Name) and t.id == "__all__"
                for t in (node.targets if isinstance(node, ast.Assign) else [node.target]))):
            for item in ast.walk(node.value):
                if isinstance(item, ast.Constant) and isinstance(item.value, str):
                    counts[item.value] += 1
    return counts


def imports_made_unused(before: str | bytes, after: str | bytes) -> frozenset[str]:
    """Names bound by imports that ``before`` reads and ``after`` no longer reads at all."""
    was, now = _loaded_names(ast.parse(before)), _loaded_names(ast.parse(after))
    return frozenset(name for name in was if now[name] == 0)


def _bound_name(alias: cst.ImportAlias) -> str | None:
    if alias.asname is not None:
        return alias.asname.name.value if isinstance(alias.asname.name, cst.Name) else None
    name = alias.name
    while isinstance(name, cst.Attribute):  # ``import a.b`` binds ``a``
        name = name.value
    return name.value if isinstance(name, cst.Name) else None


def _is_reexport(alias: cst.ImportAlias) -> bool:
    """``from m import x as x``: the typing convention for an explicit re-export."""
    return (alias.asname is not None and isinstance(alias.asname.name, cst.Name)
            and isinstance(alias.name, cst.Name) and alias.asname.name.value == alias.name.value)


class _ImportFinder(cst.CSTVisitor):
    def __init__(self, unused: frozenset[str]) -> None:
        super().__init__()
        self.unused = unused
        self.fixes: list[Fix] = []

    def visit_Import(self, node: cst.Import) -> None:
        self._drop(node, node.names)

    def visit_ImportFrom(self, node: cst.ImportFrom) -> None:
        if not isinstance(node.names, cst.ImportStar):
            self._drop(node, node.names)

    def _drop(self, node: cst.Import | cst.ImportFrom, aliases: Sequence[cst.ImportAlias]) -> None:
        kept = [a for a in aliases if _bound_name(a) not in self.unused or _is_reexport(a)]
        if len(kept) == len(aliases):
            return
        if not kept:
            self.fixes.append(Fix(node, cst.RemoveFromParent()))
            return
        if kept[-1] is not aliases[-1]:  # the new last alias takes the old last one's comma
            kept[-1] = kept[-1].with_changes(comma=aliases[-1].comma)
        self.fixes.append(Fix(node, node.with_changes(names=kept)))


def unused_import_fixes(module: cst.Module, unused: frozenset[str]) -> list[Fix]:
    """Fixes that drop the import aliases binding ``unused`` names (whole statements when no
    alias is left)."""
    if not unused:
        return []
    finder = _ImportFinder(unused)
    module.visit(finder)
    return finder.fixes
