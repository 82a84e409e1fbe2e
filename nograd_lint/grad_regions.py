"""Grad-mode regions: is gradient recording on, off, or managed by the program at a node?

Built once per module during the engine's single traversal and queried by rules::

    where = context.grad.where()          # at visit time: cheap, remembers the local state
    ...
    context.grad.state(where)             # after the traversal (in ``finish``)

Grad mode at a point comes from, innermost first: a ``with`` item (``no_grad()``,
``inference_mode()``, ``set_grad_enabled(False)``, ``enable_grad()``, ``inference_mode(False)``),
an earlier bare ``set_grad_enabled(...)`` statement in the same block, a decorator
(``@no_grad()``, ``@no_grad``, ``@inference_mode()``...), and otherwise the function's callers:
a function (or method, or lambda) whose every call site in the module is in a disabled region
counts as disabled; one that is referenced in any other way (returned, stored) is called from
places we cannot see, so it counts as enabled.  A function passed as an argument
(``model.apply(init_weights)``) is taken to be called at that argument.  Call sites in other
files come from the project index (nograd_lint/project/): for a module-level function or a
method of a module-level class, the grad mode they run in (enabled if it escapes there)
joins its call sites here.

``MANAGED`` means the program decides at run time (``set_grad_enabled(phase == "train")``, a
context manager of its own that calls ``set_grad_enabled``): rules never flag it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Union

from nograd_lint import libcst as cst

from nograd_lint.names import ImportResolver, dotted_name
from nograd_lint.vocabulary import (
    GRAD_MODE_APIS, MANAGER_NAME, NO_FLAG, SET_GRAD_ENABLED, Grad, grad_api_effect, meet,
)


@dataclass(frozen=True)
class _Deferred:
    """A ``with`` over this module's own function or class: it manages grad mode if its body
    does, which is known only after the traversal.  ``outer`` is the state around it."""

    name: str
    outer: "Explicit"


Explicit = Union[Grad, _Deferred, None]  # None: nothing local, ask the callers


@dataclass(frozen=True)
class Where:
    explicit: Explicit
    function: cst.CSTNode | None  # FunctionDef or Lambda; None at module level


@dataclass
class _Frame:
    """Grad state inside one function (or lambda, or the module): innermost last."""

    function: cst.CSTNode | None
    states: list[Explicit] = field(default_factory=list)


def constant_bool(expression: cst.BaseExpression) -> bool | None:
    if isinstance(expression, cst.Name) and expression.value in ("True", "False"):
        return expression.value == "True"
    return None


def _flag_argument(call: cst.Call, keyword: str) -> cst.BaseExpression | None:
    for arg in call.args:
        if arg.keyword is None and not arg.star or (arg.keyword and arg.keyword.value == keyword):
            return arg.value
    return None


class GradRegions:
    """The traversal participant that tracks grad mode; see the module docstring."""

    def __init__(self, names: ImportResolver, callers: Mapping[str, Grad] = {}) -> None:
        self.names = names
        # From the project index: per module-level function or method (``f``, ``Class.f``),
        # the grad mode of its call sites in other files (ENABLED if it escapes there).
        self._outside_callers = callers
        self._qualified: dict[cst.CSTNode, str] = {}  # the functions ``callers`` can name
        self._frames = [_Frame(None, [None])]
        self._block_entry: list[Explicit] = []
        self._scopes: list[cst.CSTNode] = []  # enclosing ClassDef/FunctionDef/Lambda nodes
        self._functions: dict[str, list[cst.CSTNode]] = {}  # plain functions by name
        self._methods: dict[tuple[cst.ClassDef, str], list[cst.CSTNode]] = {}
        # (expression that may name one of our functions, where it is called, enclosing class)
        self._calls: list[tuple[cst.BaseExpression, Where, cst.ClassDef | None]] = []
        self._escaped_names: set[str] = set()  # used other than by calling or passing along
        self._escaped_methods: set[tuple[cst.ClassDef | None, str]] = set()
        self._lambda_sites: dict[cst.Lambda, list[Where]] = {}
        # By ``id`` (hashing libcst nodes calls Python code, and every Name is looked up):
        self._called: set[int] = set()  # expressions in callee or argument position
        self._definitions: set[int] = set()  # Name nodes that are not references
        self._managing: set[str] = set()  # own functions/classes whose body switches grad mode
        self._resolved: dict[cst.CSTNode, Grad] | None = None

    # ------------------------------------------------------------------ queries
    def where(self) -> Where:
        frame = self._frames[-1]
        return Where(frame.states[-1], frame.function)

    def effect(self, expression: cst.BaseExpression) -> Explicit:
        """What entering ``with <expression>:`` (or decorating with it) does to grad mode."""
        if isinstance(expression, cst.IfExp):
            branches = (self.effect(expression.body), self.effect(expression.orelse))
            return Grad.MANAGED if any(b is not None for b in branches) else None
        call = expression if isinstance(expression, cst.Call) else None
        target = call.func if call is not None else expression
        qualified = self.names.qualified_name(target)
        flag = _flag_argument(call, "mode") if call is not None else None
        api = grad_api_effect(qualified, call is not None,
                              NO_FLAG if flag is None else constant_bool(flag))
        if api is not None or qualified in GRAD_MODE_APIS:
            return api
        name = dotted_name(target)
        if name is None:
            return None
        last = name.rsplit(".", 1)[-1]
        if qualified is None and "." not in name:
            return _Deferred(name, self.where().explicit)
        if MANAGER_NAME.search(last):
            return Grad.MANAGED
        return None

    def state(self, where: Where) -> Grad:
        """The grad mode at a place recorded by :meth:`where`, once the traversal is over."""
        explicit = where.explicit
        while isinstance(explicit, _Deferred):
            if explicit.name in self._managing or MANAGER_NAME.search(explicit.name):
                return Grad.MANAGED
            explicit = explicit.outer
        if explicit is not None:
            return explicit
        if where.function is None:
            return Grad.ENABLED
        return self._function_states().get(where.function, Grad.ENABLED)

    # ------------------------------------------------------------------ traversal
    def _enclosing_class(self) -> cst.ClassDef | None:
        for scope in reversed(self._scopes):
            if isinstance(scope, cst.ClassDef):
                return scope
        return None

    def visit_ClassDef(self, node: cst.ClassDef) -> None:
        self._definitions.add(id(node.name))
        self._scopes.append(node)

    def leave_ClassDef(self, node: cst.ClassDef) -> None:
        self._scopes.pop()

    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        parent = self._scopes[-1] if self._scopes else None
        if isinstance(parent, cst.ClassDef):
            self._methods.setdefault((parent, node.name.value), []).append(node)
            if len(self._scopes) == 1:
                self._qualified[node] = f"{parent.name.value}.{node.name.value}"
        else:
            self._functions.setdefault(node.name.value, []).append(node)
            if not self._scopes:
                self._qualified[node] = node.name.value
        self._definitions.add(id(node.name))
        explicit: Explicit = None
        for decorator in node.decorators:
            effect = self.effect(decorator.decorator)
            if isinstance(effect, Grad):
                explicit = effect
        self._frames.append(_Frame(node, [explicit]))
        self._scopes.append(node)

    def leave_FunctionDef(self, node: cst.FunctionDef) -> None:
        self._frames.pop()
        self._scopes.pop()

    def visit_Lambda(self, node: cst.Lambda) -> None:
        self._frames.append(_Frame(node, [None]))
        self._scopes.append(node)

    def leave_Lambda(self, node: cst.Lambda) -> None:
        self._frames.pop()
        self._scopes.pop()

    def visit_With(self, node: cst.With) -> None:
        state = self.where().explicit
        for item in node.items:
            effect = self.effect(item.item)
            if effect is not None:
                state = effect if not isinstance(effect, _Deferred) else _Deferred(effect.name, state)
        self._frames[-1].states.append(state)

    def leave_With(self, node: cst.With) -> None:
        self._frames[-1].states.pop()

    def visit_IndentedBlock(self, node: cst.IndentedBlock) -> None:
        self._block_entry.append(self.where().explicit)
        self._frames[-1].states.append(self.where().explicit)

    def leave_IndentedBlock(self, node: cst.IndentedBlock) -> None:
        entry, final = self._block_entry.pop(), self._frames[-1].states.pop()
        if final != entry:
            # A bare set_grad_enabled in an if/for/try body: what follows depends on the path.
            self._frames[-1].states[-1] = Grad.MANAGED

    def visit_Call(self, node: cst.Call) -> None:
        if self.names.qualified_name(node.func) in GRAD_MODE_APIS:
            for scope in self._scopes:
                self._managing.add(scope.name.value if not isinstance(scope, cst.Lambda) else "")
        where, klass = self.where(), self._enclosing_class()
        self._note_call(node.func, where, klass)
        for arg in node.args:
            # A function passed along (``model.apply(init)``) is taken to run right here.
            if isinstance(arg.value, cst.Lambda):
                self._lambda_sites.setdefault(arg.value, []).append(where)
            else:
                self._note_call(arg.value, where, klass)

    def _note_call(self, expression: cst.BaseExpression, where: Where, klass) -> None:
        if isinstance(expression, cst.Name) or (
                isinstance(expression, cst.Attribute) and isinstance(expression.value, cst.Name)
                and expression.value.value in ("self", "cls")):
            self._called.add(id(expression))
            self._calls.append((expression, where, klass))

    def visit_Expr(self, node: cst.Expr) -> None:
        # A bare ``torch.set_grad_enabled(flag)`` switches the mode for the statements after it.
        call = node.value
        if isinstance(call, cst.Call) and self.names.qualified_name(call.func) in SET_GRAD_ENABLED:
            flag = _flag_argument(call, "mode")
            value = constant_bool(flag) if flag is not None else None
            self._frames[-1].states[-1] = (Grad.MANAGED if value is None
                                           else Grad.ENABLED if value else Grad.DISABLED)

    def visit_Attribute(self, node: cst.Attribute) -> None:
        self._definitions.add(id(node.attr))
        if isinstance(node.value, cst.Name) and node.value.value in ("self", "cls") \
                and id(node) not in self._called:
            self._escaped_methods.add((self._enclosing_class(), node.attr.value))

    def visit_Name(self, node: cst.Name) -> None:
        if id(node) not in self._called and id(node) not in self._definitions:
            self._escaped_names.add(node.value)

    def visit_Param(self, node: cst.Param) -> None:
        self._definitions.add(id(node.name))

    # ------------------------------------------------------------------ callers
    def _targets(self, expression: cst.BaseExpression, klass: cst.ClassDef | None) -> list[cst.CSTNode]:
        if isinstance(expression, cst.Name):
            return self._functions.get(expression.value, [])
        if (isinstance(expression, cst.Attribute) and isinstance(expression.value, cst.Name)
                and expression.value.value in ("self", "cls") and klass is not None):
            return self._methods.get((klass, expression.attr.value), [])
        return []

    def _function_states(self) -> dict[cst.CSTNode, Grad]:
        if self._resolved is not None:
            return self._resolved
        call_sites: dict[cst.CSTNode, list[Where]] = {}
        for expression, where, klass in self._calls:
            for function in self._targets(expression, klass):
                call_sites.setdefault(function, []).append(where)
        escaped = {f for name in self._escaped_names for f in self._functions.get(name, ())}
        escaped |= {f for key in self._escaped_methods for f in self._methods.get(key, ())}
        call_sites.update(self._lambda_sites)
        outside = {f: self._outside_callers[name] for f, name in self._qualified.items()
                   if name in self._outside_callers}
        # Greatest fixed point: start from "disabled" for every function with call sites and
        # weaken until stable, so recursion among no_grad-only helpers stays disabled.
        states = {f: Grad.DISABLED for f in (*call_sites, *outside) if f not in escaped}
        self._resolved = states
        changed = True
        while changed:
            changed = False
            for function in list(states):
                new = meet([*(self.state(where) for where in call_sites.get(function, ())),
                            *((outside[function],) if function in outside else ())])
                if new is not states[function]:
                    states[function] = new
                    changed = True
        return states
