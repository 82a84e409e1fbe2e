"""Fast reading of CPython's ``ast``, shared by the screen (screen/) and the project index
(project/indexer.py): dotted names, and a node's children without ``ast.iter_child_nodes``
(a generator over every field, several times slower on the millions of nodes of a run)."""

from __future__ import annotations

import ast


def dotted(node: ast.AST) -> str | None:
    """``a.b.c`` for a Name/Attribute chain, None for anything else."""
    parts = []
    while type(node) is ast.Attribute:
        parts.append(node.attr)
        node = node.value
    if type(node) is not ast.Name:
        return None
    parts.append(node.id)
    return ".".join(reversed(parts))


# Fields that never hold a node worth looking into: identifiers, numbers, ``Load``/``Store``,
# operators (``Add``, ``Eq``: a tenth of the expression nodes, and empty), import aliases (read
# from the Import node itself).
_LEAF_FIELDS = frozenset({"ctx", "op", "ops", "id", "attr", "name", "arg", "module", "level",
                          "names", "asname", "kind", "type_comment", "conversion", "is_async",
                          "simple", "tag", "kwd_attrs", "rest"})
CHILD_FIELDS: dict[type, tuple[str, ...]] = {ast.Constant: (), ast.MatchSingleton: ()}


def child_fields(kind: type) -> tuple[str, ...]:
    """The fields of node type ``kind`` that may hold nodes (memoised in CHILD_FIELDS)."""
    fields = CHILD_FIELDS.get(kind)
    if fields is None:  # anything without ``_fields`` (None in ``Dict.keys``) has no children
        fields = CHILD_FIELDS[kind] = tuple(
            f for f in getattr(kind, "_fields", ()) if f not in _LEAF_FIELDS)
    return fields


def push_children(node: ast.AST, stack: list) -> None:
    for name in child_fields(type(node)):
        value = getattr(node, name)
        if type(value) is list:
            stack.extend(value)
        elif value is not None:
            stack.append(value)


def children(node: ast.AST) -> list[ast.AST]:
    found: list = []
    push_children(node, found)
    return found
