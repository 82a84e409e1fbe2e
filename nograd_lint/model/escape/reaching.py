"""What a binding reaches, on :class:`~nograd_lint.model.bindings.Bindings`: the reads of a name
that an assignment may reach (flow-sensitively: a rebinding that surely runs in between ends
it), and the module's own functions as a value passes through them (the parameter an argument
binds, the call sites a return value comes back through).  The output flow's names and calls."""

from __future__ import annotations

from nograd_lint import libcst as cst

from nograd_lint.model.bindings import Bindings, Event, How

#: Blocks a binding's rebinding must sit in directly to surely run before a later use (by class
#: name: libcst loads only once a file needs it).
_BLOCKS = frozenset({"IndentedBlock", "SimpleStatementSuite", "Module"})
#: Bindings that replace what a name held (``x += 1`` updates it).
_KILLS = frozenset({How.ASSIGN, How.FOR, How.AS, How.DEF, How.IMPORT})


class Reaching:
    """Uses reached from bindings, for one module's :class:`Bindings`."""

    def __init__(self, bindings: Bindings) -> None:
        self.bindings = bindings
        self._events: dict[cst.Name, Event] | None = None

    def event(self, name: cst.Name) -> Event | None:
        """The binding or use event of a Name node (a name is bound or read, not both, except
        the target of ``x += ...``, which maps to its binding)."""
        if self._events is None:
            self._events = {}
            for scope in self.bindings.scopes():
                for uses in scope.uses.values():
                    self._events.update((use.node, use) for use in uses)
                for bindings in scope.bindings.values():
                    self._events.update((b.node, b) for b in bindings)
        return self._events.get(name)

    def binding_before(self, name: cst.Name) -> Event | None:
        """The binding a read of ``name`` sees (the last one in its scope before it)."""
        use = self.event(name)
        if use is None:
            return None
        owner = self.bindings.lookup(use.scope, name.value)
        if owner is None:
            return None
        earlier = [b for b in owner.bindings.get(name.value, ())
                   if owner is not use.scope or b.order < use.order]
        return earlier[-1] if earlier else None

    def order(self, name: cst.Name) -> int:
        """Where the read ``name`` is in its scope's events (0: not known)."""
        use = self.event(name)
        return use.order if use is not None else 0

    def uses_reached(self, binding: Event, after: int = 0) -> list[Event]:
        """Reads of the bound name that ``binding`` may reach: later ones, and earlier ones in a
        loop around both (the next iteration), unless a rebinding surely runs in between."""
        scope, name = binding.scope, binding.node.value
        kills = [b for b in scope.bindings.get(name, ()) if b is not binding and b.how in _KILLS]
        reached = []
        for use in self.bindings.uses_of(scope, name):
            if use.scope is not scope:
                reached.append(use)  # a closure or function reading it: any time
                continue
            if use.order <= after:
                continue
            if use.order > binding.order:
                if not any(binding.order < k.order < use.order and self._dominates(k, use)
                           for k in kills):
                    reached.append(use)
            elif set(use.loops) & set(binding.loops):
                if not any(k.order < use.order and set(k.loops) >= set(use.loops)
                           and self._dominates(k, use) for k in kills):
                    reached.append(use)
        return reached

    def _dominates(self, kill: Event, use: Event) -> bool:
        """Does ``kill`` (earlier) surely run before ``use``: its block encloses the use, and
        the use is not in the rebinding statement itself (``x = f(x)`` reads the old ``x``)?"""
        parent = self.bindings.parent
        block, statement = self._block(kill.node), parent.get(kill.node)
        while isinstance(statement, (cst.Tuple, cst.List, cst.StarredElement)):
            statement = parent.get(statement)
        node, enclosed = use.node, False
        while node is not None:
            if node is statement:
                return False
            if node is block:
                enclosed = True
                break
            node = parent.get(node)
        return enclosed

    def _block(self, node: cst.CSTNode) -> cst.CSTNode | None:
        while node is not None and type(node).__name__ not in _BLOCKS:
            node = self.bindings.parent.get(node)
        return node

    # ------------------------------------------------------------------ the module's functions
    def enclosing_function(self, node: cst.CSTNode) -> cst.FunctionDef | None:
        """The function a node is in (None at module level, or in a lambda)."""
        while node is not None and not isinstance(node, (cst.FunctionDef, cst.Lambda, cst.Module)):
            node = self.bindings.parent.get(node)
        return node if isinstance(node, cst.FunctionDef) else None

    def call_sites(self, function: cst.FunctionDef) -> list[cst.Call]:
        """This module's calls ``f(...)``/``self.f(...)`` of ``function``'s name."""
        name = function.name.value
        references: list[cst.CSTNode] = [use.node for scope in self.bindings.scopes()
                                         for use in scope.uses.get(name, ())]
        references += self.bindings.attribute_refs.get(name, [])
        sites = []
        for reference in references:
            call = self.bindings.parent.get(reference)
            if isinstance(call, cst.Call) and call.func is reference:
                sites.append(call)
        return sites

    def callers_all_known(self, function: cst.FunctionDef) -> bool:
        """A ``_private`` or nested function: no caller outside this module."""
        scope = self.bindings.scope_of.get(function)
        owner = scope.parent if scope is not None else None
        private = function.name.value.startswith("_") and not function.name.value.endswith("__")
        return private or (owner is not None and owner.is_function)


def parameter_bound(function: cst.FunctionDef, call: cst.Call, argument: cst.Arg) -> cst.Name | None:
    """The parameter of ``function`` that ``argument`` of ``call`` binds (``self.f(x)``: the
    second)."""
    params = function.params
    if argument.keyword is not None:
        return next((p.name for p in (*params.posonly_params, *params.params, *params.kwonly_params)
                     if p.name.value == argument.keyword.value), None)
    positional = [*params.posonly_params, *params.params]
    if isinstance(call.func, cst.Attribute) and not any(
            isinstance(d.decorator, cst.Name) and d.decorator.value == "staticmethod"
            for d in function.decorators):
        positional = positional[1:]
    index = [a for a in call.args if a.keyword is None].index(argument)
    return positional[index].name if index < len(positional) else None
