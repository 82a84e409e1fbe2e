"""Parsing with libcst, and read-only, source-ordered access to a tree's children.

libcst's own ``visit`` rebuilds every node on the way back up, which costs more than parsing;
linting only needs to read.  Fields that hold only whitespace, comments and punctuation are
skipped (rules never look at them: it halves the nodes touched), and children come in source
order, which libcst's field order does not always follow (decorators, conditional
expressions, ``except`` clauses).
"""

from __future__ import annotations

import collections.abc
import dataclasses
import typing

from nograd_lint import libcst as cst

_LAYOUT_FIELDS = frozenset({
    "lpar", "rpar", "comma", "colon", "first_colon", "second_colon", "dot", "equal",
    "semicolon", "leading_lines", "lines_after_decorators", "header", "footer", "comment",
    "trailing_whitespace", "leading_whitespace", "newline", "lbrace", "lbracket", "rbrace",
    "rbracket", "empty_lines", "relative", "asynchronous", "posonly_ind", "star",
})
_SOURCE_ORDER = {  # by class name: libcst loads only once a file needs it
    "FunctionDef": ("decorators", "name", "type_parameters", "params", "returns", "body"),
    "ClassDef": ("decorators", "name", "type_parameters", "bases", "keywords", "body"),
    "IfExp": ("body", "test", "orelse"),
    "Parameters": ("posonly_params", "params", "star_arg", "kwonly_params", "star_kwarg"),
    "ExceptHandler": ("type", "name", "body"),
}
_fields: dict[type, tuple[str, ...]] = {}


def _child_fields(node_type: type) -> tuple[str, ...]:
    names = _fields.get(node_type)
    if names is None:
        names = _SOURCE_ORDER.get(node_type.__name__) or tuple(
            f.name for f in dataclasses.fields(node_type)
            if f.name not in _LAYOUT_FIELDS and not f.name.startswith("whitespace"))
        _fields[node_type] = names
    return names


# How to read each field, from its type annotation: always a node, always a sequence of
# nodes, or to be checked (optional, a sentinel...).  Text and flags are left out.
_NODE, _SEQUENCE, _CHECK = range(3)
_plans: dict[type, tuple[tuple[str, int], ...]] = {}


def _plan(node_type: type) -> tuple[tuple[str, int], ...]:
    try:
        hints = typing.get_type_hints(node_type)
    except Exception:  # an annotation that does not resolve: check every value
        hints = {}
    plan = []
    for name in _child_fields(node_type):
        hint = hints.get(name)
        if hint in (str, bool) or typing.get_origin(hint) is typing.Literal:
            continue
        if isinstance(hint, type) and issubclass(hint, cst.CSTNode):
            plan.append((name, _NODE))
        elif typing.get_origin(hint) is collections.abc.Sequence:
            plan.append((name, _SEQUENCE))
        else:
            plan.append((name, _CHECK))
    _plans[node_type] = plan = tuple(plan)
    return plan


# CSTNode is an abstract base class, and isinstance checks against one are slow enough to
# show in profiles: node-ness is decided once per type.
_is_node_type: dict[type, bool] = {}


def _is_node(value: object) -> bool:
    kind = type(value)
    known = _is_node_type.get(kind)
    if known is None:
        known = _is_node_type[kind] = issubclass(kind, cst.CSTNode)
    return known


_is_expression_type: dict[type, bool] = {}


def is_expression(node: cst.CSTNode) -> bool:
    """``isinstance(node, cst.BaseExpression)``, decided once per type (an ABC check)."""
    kind = type(node)
    known = _is_expression_type.get(kind)
    if known is None:
        known = _is_expression_type[kind] = issubclass(kind, cst.BaseExpression)
    return known


def children(node: cst.CSTNode) -> list[cst.CSTNode]:
    """The node's children that carry code, in source order."""
    found: list[cst.CSTNode] = []
    kind = type(node)
    plan = _plans.get(kind)
    for name, how in plan if plan is not None else _plan(kind):
        value = getattr(node, name)
        if how is _NODE:
            found.append(value)
        elif how is _SEQUENCE:
            found.extend(value)
        elif type(value) is tuple or type(value) is list:
            found.extend(item for item in value if _is_node(item))
        elif _is_node(value):
            found.append(value)
    return found


def parse_module(source: str | bytes) -> cst.Module:
    """``libcst.parse_module``, without validating every node the parser builds.

    Each libcst node checks its own invariants when it is constructed (``CSTNode.__post_init__``
    calls ``_validate``): about 15% of a parse.  A tree straight from the parser meets them by
    construction, as libcst's comment on ``__post_init__`` notes.  The check is off only while
    the parser runs, and back on after it, whatever happens; a process parses one file at a
    time (worker processes, not threads, share the work).
    """
    base = cst.CSTNode
    validate = base.__dict__.get("__post_init__")
    if validate is None:  # a libcst that no longer validates this way
        return cst.parse_module(source)
    base.__post_init__ = _trusted
    try:
        return cst.parse_module(source)
    finally:
        base.__post_init__ = validate


def _trusted(node: cst.CSTNode) -> None:
    """A parser-built node: nothing to validate."""
