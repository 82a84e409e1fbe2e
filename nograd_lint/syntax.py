"""Small helpers for reading and rewriting libcst call arguments and expressions, and for
knowing which class and function enclose the node a rule visits."""

from __future__ import annotations

import functools

from nograd_lint import libcst as cst


@functools.cache
def _atoms() -> tuple[type, ...]:
    """Expressions that bind tighter than any operator: safe anywhere without parentheses.
    (A function: libcst loads only once a file needs it.)"""
    return (cst.Name, cst.Attribute, cst.Call, cst.Subscript, cst.BaseNumber, cst.BaseString,
            cst.List, cst.Dict, cst.Set, cst.ListComp, cst.SetComp, cst.DictComp, cst.Ellipsis)


def keyword(call: cst.Call, name: str) -> cst.Arg | None:
    for arg in call.args:
        if arg.keyword is not None and arg.keyword.value == name:
            return arg
    return None


def keyword_value(call: cst.Call, name: str) -> cst.BaseExpression | None:
    """The value passed as ``name=...``, if any."""
    arg = keyword(call, name)
    return arg.value if arg is not None else None


def positional(call: cst.Call) -> list[cst.Arg]:
    """Plain positional arguments, in order (stops at the first ``*args``)."""
    args = []
    for arg in call.args:
        if arg.keyword is not None or arg.star:
            break
        args.append(arg)
    return args


def argument(call: cst.Call, name: str, index: int) -> cst.Arg | None:
    """The argument bound to parameter ``name`` at position ``index``, given either way."""
    by_keyword = keyword(call, name)
    if by_keyword is not None:
        return by_keyword
    plain = positional(call)
    return plain[index] if index < len(plain) else None


def without_arg(call: cst.Call, dropped: cst.Arg) -> cst.Call:
    """``call`` minus one argument, leaving no dangling comma behind."""
    args = [arg for arg in call.args if arg is not dropped]
    if args and call.args[-1] is dropped and not isinstance(dropped.comma, cst.Comma):
        args[-1] = args[-1].with_changes(comma=cst.MaybeSentinel.DEFAULT)
    return call.with_changes(args=args)


def parenthesized(expression: cst.BaseExpression) -> cst.BaseExpression:
    """``expression`` wrapped in parentheses unless it is an atom or already wrapped."""
    if isinstance(expression, _atoms()) or expression.lpar:
        return expression
    return expression.with_changes(lpar=[cst.LeftParen()], rpar=[cst.RightParen()])


def method_call(receiver: cst.BaseExpression, method: str, *args: cst.BaseExpression) -> cst.Call:
    """``receiver.method(args...)``."""
    return cst.Call(
        func=cst.Attribute(value=parenthesized(receiver), attr=cst.Name(method)),
        args=[cst.Arg(value) for value in args],
    )


def is_false(expression: cst.BaseExpression) -> bool:
    return isinstance(expression, cst.Name) and expression.value == "False"


def is_true(expression: cst.BaseExpression) -> bool:
    return isinstance(expression, cst.Name) and expression.value == "True"
