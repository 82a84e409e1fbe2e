"""Shapes of expressions the escape analysis reads: what an update reaches, a call's operands."""

from __future__ import annotations

from typing import Iterator

from nograd_lint import libcst as cst

from nograd_lint.tree import children
from nograd_lint.vocabulary import KEEPS_IDENTITY, VIEW_ATTRIBUTES, returns_receiver


# By class name: libcst is loaded only once a file needs it (see nograd_lint/__init__.py).
LITERALS = frozenset({"Integer", "Float", "Imaginary", "SimpleString", "ConcatenatedString",
                      "FormattedString"})
CONTAINER_LITERALS = frozenset({"List", "Dict", "Set", "ListComp", "DictComp", "SetComp"})
NEW_VALUES = LITERALS | CONTAINER_LITERALS | {"BinaryOperation", "UnaryOperation", "Tuple",
                                              "GeneratorExp"}


def keeps_identity(method: str) -> bool:
    """May ``x.method(...)`` return ``x`` itself or a view of it?"""
    return method in KEEPS_IDENTITY or returns_receiver(method)


def method_name(call: cst.Call) -> str | None:
    return call.func.attr.value if isinstance(call.func, cst.Attribute) else None


def update_root(expression: cst.BaseExpression) -> cst.BaseExpression:
    """``x`` for ``x``, ``x[i]``, ``x.data``, ``x.view(-1)``: the object an update reaches."""
    while True:
        if isinstance(expression, cst.Subscript):
            expression = expression.value
        elif isinstance(expression, cst.Attribute) and expression.attr.value in VIEW_ATTRIBUTES:
            expression = expression.value
        elif isinstance(expression, cst.Call) and isinstance(expression.func, cst.Attribute) and (
                keeps_identity(expression.func.attr.value)):
            expression = expression.func.value
        else:
            return expression


def gradient_step(name: str, value: cst.BaseExpression | None) -> bool:
    """``w - lr * w.grad``: a value computed from ``name`` and a ``.grad`` (an update step)."""
    mentions = reads_grad = False
    stack = [value] if value is not None else []
    while stack:
        node = stack.pop()
        if isinstance(node, cst.Name) and node.value == name:
            mentions = True
        elif isinstance(node, cst.Attribute) and node.attr.value == "grad":
            reads_grad = True
        stack.extend(children(node))
    return mentions and reads_grad


def call_operands(call: cst.Call) -> Iterator[cst.BaseExpression]:
    """A call's argument values, with list and tuple displays opened (``torch.cat([a, b])``)."""
    for arg in call.args:
        if isinstance(arg.value, (cst.List, cst.Tuple)):
            yield from (element.value for element in arg.value.elements)
        else:
            yield arg.value
