"""The scopes of a module as the project index walks CPython's ``ast``: the definitions the
project can name (``qualified_definitions``, which the screen shares), the blocks of a compound
statement, and what the walk keeps per function (``Frame``) and per call (``PendingCall``)."""

from __future__ import annotations

import ast
from collections.abc import Iterator, Sequence
from typing import NamedTuple, Optional, Union

from nograd_lint.vocabulary import Grad

_DEFINITIONS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
TRY = frozenset({ast.Try, *((ast.TryStar,) if hasattr(ast, "TryStar") else ())})  # 3.11+
MATCH = ast.Match
#: Statements with blocks of statements in them (see blocks).
COMPOUND = frozenset({ast.If, ast.For, ast.AsyncFor, ast.While, ast.With, ast.AsyncWith,
                       MATCH, *TRY})



def qualified_definitions(tree: ast.Module) -> dict[int, str]:
    """``id`` of each module-level function and class, and of each method of a module-level
    class, to its qualified name (``f``, ``Model``, ``Model.forward``): the functions the
    project index can name, as model/grad_mode.py tells them apart (a ``def`` inside an ``if``
    or ``try`` at module level is module-level too)."""
    found: dict[int, str] = {}
    for node in _definitions_in(tree.body):
        found[id(node)] = node.name
        if type(node) is ast.ClassDef:
            for method in _definitions_in(node.body):
                if type(method) is not ast.ClassDef:
                    found[id(method)] = f"{node.name}.{method.name}"
    return found


def _definitions_in(statements: list[ast.stmt]) -> Iterator[ast.stmt]:
    """The ``def``s and ``class``es of a block, also inside its compound statements."""
    stack = list(reversed(statements))
    while stack:
        node = stack.pop()
        if isinstance(node, _DEFINITIONS):
            yield node
            continue
        for block in blocks(node):
            stack.extend(reversed(block))


def blocks(node: ast.stmt) -> list[list[ast.stmt]]:
    """The statement blocks of a compound statement (not a function's or class's)."""
    kind = type(node)
    if kind is ast.If or kind is ast.For or kind is ast.AsyncFor or kind is ast.While:
        return [node.body, node.orelse]
    if kind is ast.With or kind is ast.AsyncWith:
        return [node.body]
    if kind in TRY:
        return [node.body, *(h.body for h in node.handlers), node.orelse, node.finalbody]
    if kind is MATCH:
        return [case.body for case in node.cases]
    return []



class Deferred(NamedTuple):
    """A ``with`` over this module's own function or class (model/grad_mode.py's Deferred)."""

    name: str
    outer: Explicit


Explicit = Union[Grad, Deferred, None]


class Frame:
    """What the walk keeps of the function (or lambda, or the module) it is in."""

    __slots__ = ("caller", "states", "parameters", "loops", "assigned", "appended", "pending")

    def __init__(self, caller: str | None, state: Explicit,
                 parameters: frozenset[str] = frozenset()) -> None:
        self.caller = caller  # the qualified name the project can settle, if any
        self.states: list[Explicit] = [state]
        # What the function's names may hold, for the arguments of its calls (see
        # ``CallArguments.name_value``): its parameters, and by name the iterables a ``for``
        # loops over, the values assigned, the values appended (``xs.append(x)``).
        self.parameters = parameters
        self.loops: dict[str, list[ast.expr]] = {}
        self.assigned: dict[str, list[ast.expr]] = {}
        self.appended: dict[str, list[ast.expr]] = {}
        self.pending: list[list] = []  # the arguments of its calls that name its names


class PendingCall(NamedTuple):
    """A call site whose grad mode and arguments are settled once the module is read."""

    callee: str
    caller: Optional[str]
    explicit: Explicit
    line: int
    receiver: bool = False
    arguments: Sequence = ()  # as CallSite.arguments; ``~name`` and ``self:attr`` until settled

