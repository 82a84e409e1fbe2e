"""The escape analysis' queries on what it recorded: value kinds, callers, side effects."""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable

from nograd_lint import libcst as cst

from nograd_lint.model.bindings import Event, EventKind, How, Scope
from nograd_lint.model.escape.expressions import (
    CONTAINER_LITERALS, LITERALS, NEW_VALUES, keeps_identity, method_name, update_root,
)
from nograd_lint.model.escape.judge import Judge
from nograd_lint.model.escape.records import Candidate
from nograd_lint.model.escape.recording import Recorder
from nograd_lint.model.grad_mode import Grad
from nograd_lint.model.names import dotted_name
from nograd_lint.syntax import keyword_value
from nograd_lint.vocabulary import (
    CONTAINER_BUILTINS, CONTAINER_FACTORIES, CONVERSION_METHODS, FOREACH_INPLACE_FUNCTIONS,
    METADATA_ATTRIBUTES, NUMERIC_MODULES, PARAMETER, PLAIN_BUILTINS, STATE_METHODS,
    STORING_METHODS, VIEW_ATTRIBUTES, VIEW_FUNCTIONS, is_inplace_method,
)

if TYPE_CHECKING:
    from nograd_lint.context import ModuleContext


class EscapeAnalysis(Recorder):
    """The layer NG106 reads: :meth:`candidates` judges every block after the walk."""

    def __init__(self, context: ModuleContext) -> None:
        super().__init__(context)
        self._judged = False
        self._summaries: dict[cst.FunctionDef, str | None] = {}
        self._forward_stores: str | None | bool = False  # False: not computed yet

    # ------------------------------------------------------------------ judgement
    def candidates(self) -> list[Candidate]:
        """Every candidate block, judged: ``reason`` is None for the ones that can migrate."""
        if not self._judged:
            self._judged = True
            for candidate in self.recorded:
                candidate.events = [e for e in candidate.scope.timeline if candidate.holds(e)]
                candidate.reason = Judge(self, candidate).run()
        return self.recorded

    def inference(self, candidate: Candidate, event: Event) -> bool:
        """Would ``event`` run in inference mode once ``candidate`` is migrated?"""
        return candidate.holds(event) and self.grad.state(event.where) is Grad.DISABLED

    # ------------------------------------------------------------------ value kinds
    def plain(self, expression: cst.BaseExpression | None, scope: Scope,
              seen: frozenset = frozenset()) -> bool:
        """Is ``expression`` certainly not a tensor (a number, string, NumPy value...)?"""
        if expression is None:
            return False
        if type(expression).__name__ in LITERALS:
            return True
        if isinstance(expression, cst.Name):
            if expression.value in ("True", "False", "None"):
                return True
            owner = self.bindings.lookup(scope, expression.value)
            key = (id(owner), expression.value)
            if owner is None or key in seen or expression.value in owner.declared:
                return False
            bindings = owner.bindings.get(expression.value, [])
            seen = seen | {key}
            return bool(bindings) and all(self._plain_binding(b, owner, seen) for b in bindings)
        if isinstance(expression, cst.UnaryOperation):
            return self.plain(expression.expression, scope, seen)
        if isinstance(expression, (cst.BinaryOperation, cst.BooleanOperation)):
            return (self.plain(expression.left, scope, seen)
                    and self.plain(expression.right, scope, seen))
        if isinstance(expression, cst.Comparison):
            return self.plain(expression.left, scope, seen) and all(
                self.plain(c.comparator, scope, seen) for c in expression.comparisons)
        if isinstance(expression, cst.IfExp):
            return (self.plain(expression.body, scope, seen)
                    and self.plain(expression.orelse, scope, seen))
        if isinstance(expression, cst.Tuple):  # a list or set may be filled with tensors later
            return all(self.plain(e.value, scope, seen) for e in expression.elements)
        if isinstance(expression, cst.Subscript):
            return self.plain(expression.value, scope, seen)
        if isinstance(expression, cst.Attribute):
            return expression.attr.value in METADATA_ATTRIBUTES or self._numeric(expression)
        if isinstance(expression, cst.Call):
            method = method_name(expression)
            if method in CONVERSION_METHODS:
                return True
            func = expression.func
            if isinstance(func, cst.Name) and self.bindings.is_builtin(scope, func.value):
                if func.value in PLAIN_BUILTINS:
                    return True
                return func.value in ("min", "max", "sum", "abs") and all(
                    self.plain(a.value, scope, seen) for a in expression.args)
            return self._numeric(func)
        return False

    def _plain_binding(self, binding: Event, scope: Scope, seen: frozenset) -> bool:
        if binding.how in (How.ASSIGN, How.WALRUS, How.AUGASSIGN):
            return self.plain(binding.value, scope, seen)
        if binding.how == How.FOR:
            iterable = binding.value
            return (isinstance(iterable, cst.Call) and isinstance(iterable.func, cst.Name)
                    and iterable.func.value == "range" and self.bindings.is_builtin(scope, "range"))
        return False

    def _numeric(self, expression: cst.BaseExpression) -> bool:
        qualified = self.names.qualified_name(expression)
        return qualified is not None and qualified.split(".", 1)[0] in NUMERIC_MODULES

    def fresh(self, expression: cst.BaseExpression | None, scope: Scope,
              region: Callable[[Event], bool], seen: frozenset = frozenset()) -> bool:
        """Is ``expression`` a tensor made in ``region`` (not a parameter, buffer, argument or
        other outside object, nor a view of one), which does not require grad?"""
        if expression is None:
            return False
        if type(expression).__name__ in NEW_VALUES:
            return True
        if isinstance(expression, cst.Subscript):
            return self.fresh(expression.value, scope, region, seen)
        if isinstance(expression, cst.Attribute):
            return expression.attr.value in VIEW_ATTRIBUTES and self.fresh(
                expression.value, scope, region, seen)
        if isinstance(expression, cst.IfExp):
            return (self.fresh(expression.body, scope, region, seen)
                    and self.fresh(expression.orelse, scope, region, seen))
        if isinstance(expression, cst.Call):
            if keyword_value(expression, "requires_grad") is not None:
                return False
            method = method_name(expression)
            if method is not None and keeps_identity(method):
                return self.fresh(expression.func.value, scope, region, seen)
            qualified = self.names.qualified_name(expression.func) or ""
            if qualified in PARAMETER:
                return False
            if qualified in VIEW_FUNCTIONS:
                first = expression.args[0].value if expression.args else None
                return self.fresh(first, scope, region, seen)
            return True
        if isinstance(expression, cst.Name):
            if expression.value in scope.declared or (id(scope), expression.value) in seen:
                return False
            bindings = scope.bindings.get(expression.value, [])
            made = [b for b in bindings if b.how != How.AUGASSIGN]
            seen = seen | {(id(scope), expression.value)}
            return bool(made) and all(
                b.how in (How.ASSIGN, How.WALRUS) and region(b)
                and self.fresh(b.value, scope, region, seen) for b in made)
        return False

    def container(self, expression: cst.BaseExpression, scope: Scope) -> tuple[Scope, str] | None:
        """``(scope, name)`` when ``expression`` names a list/dict/set made in ``scope`` itself:
        one of an enclosing scope (a global, a closure's) outlives the code that fills it."""
        if not isinstance(expression, cst.Name):
            return None
        owner = self.bindings.lookup(scope, expression.value)
        if owner is not scope or owner.is_class or expression.value in owner.declared:
            return None
        bindings = owner.bindings.get(expression.value, [])
        if bindings and all(b.how == How.ASSIGN and self._container_value(b.value, owner)
                            for b in bindings):
            return owner, expression.value
        return None

    def _container_value(self, value: cst.BaseExpression | None, scope: Scope) -> bool:
        if type(value).__name__ in CONTAINER_LITERALS:
            return True
        if isinstance(value, cst.Call):
            func = value.func
            if isinstance(func, cst.Name) and func.value in CONTAINER_BUILTINS:
                return self.bindings.is_builtin(scope, func.value)
            return self.names.qualified_name(func) in CONTAINER_FACTORIES
        return False

    # ------------------------------------------------------------------ functions
    def callers(self, function: cst.FunctionDef,
                manager: cst.BaseExpression | None) -> list[Event] | None:
        """The call events of ``function`` when every caller is known: a nested or
        ``_private`` function only ever called directly.  None when callers may be elsewhere."""
        scope = self.bindings.scope_of[function]
        name = function.name.value
        owner = scope.parent
        private = name.startswith("_") and not name.endswith("__")
        if not (private or (owner is not None and owner.is_function)):
            return None
        for decorator in function.decorators:
            if decorator.decorator is not manager and not (
                    isinstance(decorator.decorator, cst.Name)
                    and decorator.decorator.value in ("staticmethod", "classmethod")):
                return None  # a decorator may keep what it returns (a cache, a registry)
        references: list[cst.CSTNode] = [
            use.node for scope in self.bindings.scopes() for use in scope.uses.get(name, ())]
        if owner is not None and owner.is_class:
            references += self.bindings.attribute_refs.get(name, [])
        sites = []
        for reference in references:
            call = self.bindings.parent.get(reference)
            if not (isinstance(call, cst.Call) and call.func is reference):
                return None
            sites.append(self.bindings.call_events[call])
        return sites

    def callees(self, call: cst.Call) -> list[cst.FunctionDef]:
        """This module's functions a call may run: ``f(...)`` and ``self.f(...)``/``cls.f(...)``."""
        func = call.func
        if isinstance(func, cst.Name) and self.names.qualified_name(func) is not None:
            return []
        return self.model.callees(func, None, any_class=True)

    def side_effect(self, function: cst.FunctionDef) -> str | None:
        """Why calling ``function`` may store or update state it did not make (None: it
        cannot, as far as this module shows)."""
        if function in self._summaries:
            return self._summaries[function]
        self._summaries[function] = None  # recursion: assume the best until shown otherwise
        scope = self.bindings.scope_of[function]
        found = None
        for inner in self.bindings.descendants(scope):
            found = self._scope_side_effect(inner)
            if found:
                break
        self._summaries[function] = found
        return found

    def _scope_side_effect(self, scope: Scope) -> str | None:
        local = lambda event: True  # noqa: E731 - every binding of a function is its own
        if scope.declared:
            return f"declares '{sorted(scope.declared)[0]}' global/nonlocal"
        for event in scope.events:
            if event.kind == EventKind.STORE:
                target = event.node
                if isinstance(target, cst.Attribute):
                    return f"stores into '{dotted_name(target) or target.attr.value}'"
                root = update_root(target)
                if not (self.container(root, scope) or self.fresh(root, scope, local)):
                    return "updates an outside tensor or container in place"
            elif event.kind == EventKind.CALL:
                call = event.node
                method = method_name(call)
                receiver = call.func.value if method else None
                if method in STATE_METHODS and not (
                        method == "update" and self.container(receiver, scope)):
                    return f"calls '.{method}()'"
                if method in STORING_METHODS and not self.container(receiver, scope):
                    return f"stores through '.{method}()'"
                if method and is_inplace_method(method) and not self.fresh(receiver, scope, local):
                    return f"updates an outside tensor in place with '.{method}()'"
                if self._in_place_function(event) and not self.fresh(
                        call.args[0].value if call.args else None, scope, local):
                    return f"calls '{event.callee}'"
                if isinstance(call.func, cst.Name) and call.func.value == "setattr":
                    return "calls setattr()"
                for callee in self.callees(call):
                    if self.side_effect(callee):
                        return f"calls '{callee.name.value}', which {self.side_effect(callee)}"
        return None

    @staticmethod
    def _in_place_function(event: Event) -> bool:
        qualified = event.callee
        return qualified.startswith("torch.") and (
            is_inplace_method(qualified.rsplit(".", 1)[-1]) or qualified.startswith("torch.nn.init.")
            or qualified in FOREACH_INPLACE_FUNCTIONS)

    def forward_stores(self) -> str | None:
        """A ``forward``/``__call__`` of this module that stores values: model calls may keep
        what they compute."""
        if self._forward_stores is False:
            self._forward_stores = None
            for method in [*self.model.methods_by_name.get("forward", []),
                           *self.model.methods_by_name.get("__call__", [])]:
                effect = self.side_effect(method)
                if effect and not effect.startswith("updates"):
                    self._forward_stores = effect
                    break
        return self._forward_stores
