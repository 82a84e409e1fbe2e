"""Read-only, source-ordered access to a libcst tree's children.

libcst's own ``visit`` rebuilds every node on the way back up, which costs more than parsing;
linting only needs to read.  Fields that hold only whitespace, comments and punctuation are
skipped (rules never look at them: it halves the nodes touched), and children come in source
order, which libcst's field order does not always follow (decorators, conditional
expressions, ``except`` clauses).
"""

from __future__ import annotations

import dataclasses

import libcst as cst

_LAYOUT_FIELDS = frozenset({
    "lpar", "rpar", "comma", "colon", "first_colon", "second_colon", "dot", "equal",
    "semicolon", "leading_lines", "lines_after_decorators", "header", "footer", "comment",
    "trailing_whitespace", "leading_whitespace", "newline", "lbrace", "lbracket", "rbrace",
    "rbracket", "empty_lines", "relative", "asynchronous", "posonly_ind", "star",
})
_SOURCE_ORDER = {
    cst.FunctionDef: ("decorators", "name", "type_parameters", "params", "returns", "body"),
    cst.ClassDef: ("decorators", "name", "type_parameters", "bases", "keywords", "body"),
    cst.IfExp: ("body", "test", "orelse"),
    cst.Parameters: ("posonly_params", "params", "star_arg", "kwonly_params", "star_kwarg"),
    cst.ExceptHandler: ("type", "name", "body"),
}
_fields: dict[type, tuple[str, ...]] = {}


def _child_fields(node_type: type) -> tuple[str, ...]:
    names = _fields.get(node_type)
    if names is None:
        names = _SOURCE_ORDER.get(node_type) or tuple(
            f.name for f in dataclasses.fields(node_type)
            if f.name not in _LAYOUT_FIELDS and not f.name.startswith("whitespace"))
        _fields[node_type] = names
    return names


# CSTNode is an abstract base class, and isinstance checks against one are slow enough to
# show in profiles: node-ness is decided once per type.
_is_node_type: dict[type, bool] = {}


def _is_node(value: object) -> bool:
    kind = type(value)
    known = _is_node_type.get(kind)
    if known is None:
        known = _is_node_type[kind] = issubclass(kind, cst.CSTNode)
    return known


def children(node: cst.CSTNode) -> list[cst.CSTNode]:
    """The node's children that carry code, in source order."""
    found: list[cst.CSTNode] = []
    for name in _child_fields(type(node)):
        value = getattr(node, name)
        kind = type(value)
        if kind is tuple or kind is list:
            found.extend(item for item in value if _is_node(item))
        elif _is_node(value):
            found.append(value)
    return found
