"""Grad-mode regions: is gradient recording on, off, or managed by the program at a node?

Built once per module during the engine's single traversal and queried by rules::

    where = context.grad.where()          # at visit time: cheap, remembers the local state
    ...
    context.grad.state(where)             # after the traversal (in ``finish``)

Grad mode at a point comes from, innermost first: a ``with`` item (``no_grad()``,
``inference_mode()``, ``set_grad_enabled(False)``, ``enable_grad()``, ``inference_mode(False)``),
an earlier bare ``set_grad_enabled(...)`` or ``no_grad().__enter__()`` statement in the same
block (at module level: for the rest of the script, and the functions it calls), a decorator
(``@no_grad()``, ``@no_grad``, ``@inference_mode()``...), a framework that runs the method as
one of its hooks (Lightning's ``validation_step``: ``frameworks.py``), and otherwise the
function's callers:
a function (or method, or lambda, passed along or assigned to a name in a function) whose every
call site in the module is in a disabled region counts as disabled; one that is referenced in
any other way (returned, stored) is called from places we cannot see, so it counts as enabled.
A function passed as an argument (``model.apply(init_weights)``) is taken to be called at that
argument.  Call sites in other
files come from the project index (nograd_lint/project/): for a module-level function or a
method of a module-level class, the grad mode they run in (enabled if it escapes there)
joins its call sites here.

``MANAGED`` means the program decides at run time (``set_grad_enabled(phase == "train")``, a
context manager of its own that calls ``set_grad_enabled``): rules never flag it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Union

from nograd_lint import libcst as cst

from nograd_lint.frameworks import NO_GRAD_METHODS, HookMode, configured_hooks, hook_mode
from nograd_lint.model.layers import Layer
from nograd_lint.model.scopes import receiver_method
from nograd_lint.model.names import ImportResolver, dotted_name
from nograd_lint.vocabulary import (
    GRAD_MODE_APIS, MANAGER_NAME, NO_FLAG, SET_GRAD_ENABLED, Grad, grad_api_effect, meet,
)

if TYPE_CHECKING:
    from nograd_lint.context import ModuleContext

_HOOK_GRAD = {HookMode.DISABLED: Grad.DISABLED, HookMode.MANAGED: Grad.MANAGED}


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


def constant_bool(expression: cst.BaseExpression) -> bool | None:
    if isinstance(expression, cst.Name) and expression.value in ("True", "False"):
        return expression.value == "True"
    return None


def _flag_argument(call: cst.Call, keyword: str) -> cst.BaseExpression | None:
    for arg in call.args:
        if arg.keyword is None and not arg.star or (arg.keyword and arg.keyword.value == keyword):
            return arg.value
    return None


def _entered(call: cst.Call) -> cst.Call | None:
    """``api(...)`` for a call ``api(...).__enter__()``."""
    func = call.func
    if type(func) is cst.Attribute and func.attr.value == "__enter__" and \
            type(func.value) is cst.Call:
        return func.value
    return None


class GradRegions(Layer):
    """The traversal participant that tracks grad mode; see the module docstring."""

    requires = (ImportResolver,)

    def __init__(self, context: ModuleContext) -> None:
        self.names, self.model = context.names, context.model
        # From the project index: per module-level function or method (``f``, ``Class.f``),
        # the grad mode of its call sites in other files (ENABLED if it escapes there).
        self._outside_callers = context.callers
        self._qualified: dict[cst.CSTNode, str] = {}  # the functions ``callers`` can name
        # Per enclosing function (or lambda, or the module), innermost last: its grad states,
        # innermost last.
        self._frames: list[list[Explicit]] = [[None]]
        self._block_entry: list[Explicit] = []
        # (expression that may name one of our functions, where it is called, enclosing class)
        self._calls: list[tuple[cst.BaseExpression, Where, cst.ClassDef | None]] = []
        self._escaped_names: set[str] = set()  # used other than by calling or passing along
        self._escaped_methods: set[tuple[cst.ClassDef | None, str]] = set()
        self._lambda_sites: dict[cst.Lambda, list[Where]] = {}
        # ``update = lambda x: ...`` in a function: called wherever ``update(...)`` is.
        self._named_lambdas: dict[str, list[cst.Lambda]] = {}
        # By ``id`` (hashing libcst nodes calls Python code, and every Name is looked up):
        self._called: set[int] = set()  # expressions in callee or argument position
        self._definitions: set[int] = set()  # Name nodes that are not references
        self._managing: set[str] = set()  # own functions/classes whose body switches grad mode
        self._resolved: dict[cst.CSTNode, Grad] | None = None
        self._class_ancestors: dict[cst.ClassDef, frozenset[str]] = {}
        self._configured_hooks = configured_hooks(context.config.no_grad_hooks)
        # Functions whose decorators (or framework) set their grad mode: ``@torch.no_grad()``.
        self._decorated: dict[cst.FunctionDef, Grad] = {}
        self._where = Where(None, None)  # the last where() answered

    # ------------------------------------------------------------------ queries
    def where(self) -> Where:
        explicit, function = self._frames[-1][-1], self.model.function()
        where = self._where
        if where.explicit is not explicit or where.function is not function:
            # Asked at every call and name event, and mostly unchanged since: made anew only
            # when the mode or the function changed.
            where = self._where = Where(explicit, function)
        return where

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

    def callee_grad(self, call: cst.Call, callees: list[cst.FunctionDef]) -> Grad | None:
        """The grad mode a call's callee sets for its own body, whatever the call site's: that
        of its decorators when every function it may run has the same (``callees``, this
        module's; for ``<object>.f(...)``, every method ``f`` of the module); DISABLED for a
        framework method that runs without gradients (frameworks.NO_GRAD_METHODS:
        ``model.generate(...)``) when the module defines no method of that name."""
        func = call.func
        if not callees and type(func) is cst.Attribute and receiver_method(func) is None \
                and self.names.qualified_name(func) is None:
            callees = self.model.methods_by_name.get(func.attr.value, [])
            if not callees and func.attr.value in NO_GRAD_METHODS:
                return Grad.DISABLED
        if callees:
            modes = {self._decorated.get(function) for function in callees}
            return modes.pop() if len(modes) == 1 else None
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

    def qualified_name(self, function: cst.FunctionDef) -> str | None:
        """How the project index names ``function`` (``f``, ``Model.step``), if it can."""
        return self._qualified.get(function)

    # ------------------------------------------------------------------ traversal
    def visit_ClassDef(self, node: cst.ClassDef) -> None:
        self._definitions.add(id(node.name))

    def ancestors(self, klass: cst.ClassDef) -> frozenset[str]:
        """The qualified names of ``klass``'s bases, through the module's own classes (once per
        class: every method of a framework subclass asks)."""
        found = self._class_ancestors.get(klass)
        if found is not None:
            return found
        self._class_ancestors[klass] = frozenset()  # a cycle of own classes ends here
        ancestors: set[str] = set()
        for base in klass.bases:
            if base.keyword is not None:
                continue
            qualified = self.names.qualified_name(base.value)
            if qualified is not None:
                ancestors.add(qualified)
            own = self.model.classes.get(base.value.value) if isinstance(base.value, cst.Name) else None
            if own is not None:
                ancestors |= self.ancestors(own)
        self._class_ancestors[klass] = found = frozenset(ancestors)
        return found

    def _framework_mode(self, function: cst.FunctionDef, outer: cst.CSTNode | None) -> Explicit:
        """How a framework runs ``function`` if it is one of its hooks (frameworks.py)."""
        if type(outer) is not cst.ClassDef or not outer.bases:
            return None
        mode = hook_mode(self.ancestors(outer), function.name.value, self._configured_hooks)
        return None if mode is None else _HOOK_GRAD[mode]

    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        outer = self.model.outer(node)
        if outer is None:
            self._qualified[node] = node.name.value
        elif type(outer) is cst.ClassDef and self.model.outer(outer) is None:
            self._qualified[node] = f"{outer.name.value}.{node.name.value}"
        self._definitions.add(id(node.name))
        explicit: Explicit = self._framework_mode(node, outer)
        for decorator in node.decorators:
            effect = self.effect(decorator.decorator)
            if isinstance(effect, Grad):
                explicit = effect
        if isinstance(explicit, Grad):
            self._decorated[node] = explicit
        self._frames.append([explicit])

    def leave_FunctionDef(self, node: cst.FunctionDef) -> None:
        self._frames.pop()

    def visit_Assign(self, node: cst.Assign) -> None:
        if (len(node.targets) == 1 and type(node.targets[0].target) is cst.Name
                and type(node.value) is cst.Lambda and self.model.function() is not None):
            name = node.targets[0].target
            self._definitions.add(id(name))
            self._named_lambdas.setdefault(name.value, []).append(node.value)

    def visit_Lambda(self, node: cst.Lambda) -> None:
        self._frames.append([None])

    def leave_Lambda(self, node: cst.Lambda) -> None:
        self._frames.pop()

    def visit_With(self, node: cst.With) -> None:
        state = self.where().explicit
        for item in node.items:
            effect = self.effect(item.item)
            if effect is not None:
                state = effect if not isinstance(effect, _Deferred) else _Deferred(effect.name, state)
        self._frames[-1].append(state)

    def leave_With(self, node: cst.With) -> None:
        self._frames[-1].pop()

    def visit_IndentedBlock(self, node: cst.IndentedBlock) -> None:
        self._block_entry.append(self.where().explicit)
        self._frames[-1].append(self.where().explicit)

    def leave_IndentedBlock(self, node: cst.IndentedBlock) -> None:
        entry, final = self._block_entry.pop(), self._frames[-1].pop()
        if final != entry:
            # A bare set_grad_enabled in an if/for/try body: what follows depends on the path.
            self._frames[-1][-1] = Grad.MANAGED

    def visit_Call(self, node: cst.Call) -> None:
        if self.names.qualified_name(node.func) in GRAD_MODE_APIS:
            for scope in self.model.scopes:
                self._managing.add(scope.name.value if not isinstance(scope, cst.Lambda) else "")
        where, klass = self.where(), self.model.enclosing_class()
        self._note_call(node.func, where, klass)
        for arg in node.args:
            # A function passed along (``model.apply(init)``) is taken to run right here.
            if isinstance(arg.value, cst.Lambda):
                self._lambda_sites.setdefault(arg.value, []).append(where)
            else:
                self._note_call(arg.value, where, klass)

    def _note_call(self, expression: cst.BaseExpression, where: Where, klass) -> None:
        if isinstance(expression, cst.Name) or receiver_method(expression) is not None:
            self._called.add(id(expression))
            self._calls.append((expression, where, klass))

    def visit_Expr(self, node: cst.Expr) -> None:
        # A bare ``torch.set_grad_enabled(flag)`` switches the mode for the statements after it.
        call = node.value
        if isinstance(call, cst.Call) and self.names.qualified_name(call.func) in SET_GRAD_ENABLED:
            flag = _flag_argument(call, "mode")
            value = constant_bool(flag) if flag is not None else None
            self._frames[-1][-1] = (Grad.MANAGED if value is None
                                    else Grad.ENABLED if value else Grad.DISABLED)
        elif isinstance(call, cst.Call) and _entered(call) is not None:
            # ``torch.no_grad().__enter__()``: the block's mode, never left (a script's way).
            effect = self.effect(_entered(call))
            if isinstance(effect, Grad):
                self._frames[-1][-1] = effect

    def visit_Attribute(self, node: cst.Attribute) -> None:
        self._definitions.add(id(node.attr))
        if receiver_method(node) is not None and id(node) not in self._called:
            self._escaped_methods.add((self.model.enclosing_class(), node.attr.value))

    def visit_Name(self, node: cst.Name) -> None:
        if id(node) not in self._called and id(node) not in self._definitions:
            self._escaped_names.add(node.value)

    def visit_Param(self, node: cst.Param) -> None:
        self._definitions.add(id(node.name))

    # ------------------------------------------------------------------ callers
    def _function_states(self) -> dict[cst.CSTNode, Grad]:
        if self._resolved is not None:
            return self._resolved
        call_sites: dict[cst.CSTNode, list[Where]] = {}
        for expression, where, klass in self._calls:
            for function in self.model.callees(expression, klass):
                call_sites.setdefault(function, []).append(where)
        functions, methods = self.model.functions, self.model.methods
        escaped = {f for name in self._escaped_names for f in functions.get(name, ())}
        escaped |= {f for klass, name in self._escaped_methods if klass is not None
                    for f in methods(klass, name)}
        call_sites.update(self._lambda_sites)
        for expression, where, _ in self._calls:
            if type(expression) is cst.Name and expression.value not in self._escaped_names:
                for function in self._named_lambdas.get(expression.value, ()):
                    call_sites.setdefault(function, []).append(where)
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
