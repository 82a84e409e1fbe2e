"""What names may hold, the screen's mirror of model/leaves' values: the fixed point over the
module's bindings that the in-place updates of leaves.py are judged by.

Something *may be a leaf* when it is a name bound anywhere in the module to something that can
evaluate to a leaf or a collection of leaves (``Parameter(...)``, a call with
``requires_grad=``, ``.requires_grad_()``, ``.parameters()``, ``param_groups``,
``group["params"]``, ``list(...)``/``zip(...)``/``filter(...)`` of one, a ``deepcopy`` or dtype
cast of a leaf, another such name, a list such a value is appended to...), given
``requires_grad`` or a parameter annotated as a ``Parameter``; or an attribute of something
that may be a module: its ``weight``/``bias``, its ``parametrizations.<name>.original``, or
``<attr>`` where some binding of ``<anything>.<attr>`` may hold a leaf, or
``register_parameter("<attr>", ...)`` is called (a module's registered parameter).  Which
modules model/leaves sees (annotations, attribute chains, ``self``, factories, methods that
return one...) is not followed: anything may be one but an attribute of a name that nothing
binds (an unannotated parameter, an import), unless an ``isinstance`` may prove it a layer
there or ``X.apply`` passes it a module.
A function's parameter is bound so by each call of a function of that name in the module
where gradients may be on (``f(...)``, ``self.f(...)``, ``g(...)`` after ``g = f`` or
``self.g = f``; by position, both with and without a receiver, or keyword), and by the call
sites in other files the project index knows (``Callers.parameters``; under ANY_CALLERS every
parameter of a function it can name may be bound to anything).
"""

from __future__ import annotations

import ast
import itertools
from collections.abc import Iterable, Mapping
from typing import NamedTuple

from nograd_lint.ast_walk import dotted
from nograd_lint.config import Config
from nograd_lint.screen.grad_mode import GradModeScreen
from nograd_lint.screen.walk import Disabler, Frame, callee
from nograd_lint.vocabulary import DTYPE_CASTS, WEIGHTS, Grad, bound_parameters

# Identifiers through which a value can come to hold a leaf, or a collection whose elements
# (in a ``for`` loop) may be leaves or such collections again (see model/leaves).
_LEAF_CALLS = frozenset({"Parameter", "requires_grad_"})
_COLLECTION_CALLS = frozenset({"parameters", "named_parameters"})
_WRAPPERS = frozenset({"list", "tuple", "enumerate", "zip", "filter"})
# Calls whose result may be their first argument itself: a copy of a parameter is one, and a
# dtype cast returns the tensor when it already has the dtype (as model/leaves reads them).
_SAME_LEAF = frozenset({"deepcopy"}) | DTYPE_CASTS
# What a value may hold, as the kinds of model/leaves: a leaf, an iterable of leaves (or an
# optimizer's param group), ``param_groups``.  Modules are not followed (see above).
LEAF, PARAMS, GROUPS = frozenset({"leaf"}), frozenset({"params"}), frozenset({"groups"})
_ELEMENT = {"params": "leaf", "groups": "params"}  # what a loop binds
# How a binding's value makes its names hold something: assigned, looped over (the names get
# its elements), appended (a list that leaves go into holds leaves).
_BIND, _LOOP, _APPEND = "bind", "loop", "append"
_HELD_AS = {
    _BIND: lambda kinds: kinds,
    _LOOP: lambda kinds: frozenset(_ELEMENT[kind] for kind in kinds if kind in _ELEMENT),
    _APPEND: lambda kinds: PARAMS if kinds & (LEAF | PARAMS) else frozenset(),
}


class _Binding(NamedTuple):
    names: list[str]
    value: ast.AST
    mode: str  # _BIND, _LOOP or _APPEND
    reads: list[str]  # see LeavesScreen.names_read


class _CallSite(NamedTuple):
    """A call of the module's functions with arguments (see LeavesScreen.call_bindings)."""

    frame: Frame  # its grad frame
    disabler: Disabler
    names: list[str]  # the parameters it may bind
    fixed: list[tuple[list[str], frozenset[str]]]  # and what, as LeavesScreen.fixed_bindings
    open: list[_Binding]  # as LeavesScreen.open_bindings
_TENSOR_SOURCES = frozenset({ast.Name, ast.Attribute, ast.Call, ast.BinOp, ast.UnaryOp,
                             ast.Subscript})


def _prefixes(name: str) -> Iterable[str]:
    """``a``, ``a.b`` for ``a.b.c``."""
    parts = name.split(".")
    return (".".join(parts[:end]) for end in range(1, len(parts)))


class LeafValues(GradModeScreen):
    """The bindings leaves.py's hooks collect, and what they make each name hold."""

    def __init__(self, source: str | bytes, path: str, config: Config,
                 callers: Mapping[str, Grad]) -> None:
        super().__init__(source, path, config, callers)
        self.marked: list[str | None] = []  # names given ``requires_grad``
        # Names an ``if isinstance(name, ...)`` may prove to be layers, with the lines where
        # model/leaves may know it: the ``if`` body, or on to the end when an ``else`` can exit.
        self.narrowed: dict[str, list[tuple[int, float]]] = {}
        self.applied: set[str] = set()  # functions passed to ``X.apply``
        self.first_parameters: dict[str, list[str]] = {}  # function name -> its first two
        self.annotated: set[str] = set()  # parameters with an annotation
        # Attribute names that may hold a module's parameter: any
        # ``register_parameter("name", ...)``, and those may_hold notes (which depend on the
        # callers, so each settle derives them again).
        self.registered_attributes: set[str] = set()
        self.leaf_attributes: set[str] = set()
        self.module_roots: set[str] = set()  # see may_be_module_roots
        # Per function name, each such function's (positional, keyword-only) parameters; and
        # per function the project index can name, all of them.
        self.parameters_of: dict[str, list[tuple[list[str], list[str]]]] = {}
        self.qualified_parameters: dict[str, list[str]] = {}
        # f(...)/self.f(...) with arguments: (f, the call, grad frame, disabler)
        self.argument_calls: list[tuple[str, ast.Call, Frame, Disabler]] = []
        # ``f = g``, ``self.f = g``: calls of ``f`` may run ``g`` (by the last names).
        self.aliases_of: dict[str, set[str]] = {}
        # (names bound, what they get, whether a loop binds them to its elements)
        self.bindings: list[tuple[list[str], ast.AST, bool]] = []
        self.leaf_calls = self.known_as(_LEAF_CALLS)
        self.collection_calls = self.known_as(_COLLECTION_CALLS)
        # ``xs.append(v)``, ``xs.extend(vs)``: (xs, what goes in); leaves make xs a collection.
        self.appended: list[tuple[str, ast.AST]] = []

    # ------------------------------------------------------------------ after the walk
    def prepare(self) -> None:
        super().prepare()
        # What settle's fixed point (may_hold) reads that no callers change: the bindings
        # whose values name nothing (what they may hold is known now: those that may hold
        # something), and the others by the names they read.
        self.fixed_bindings: list[tuple[list[str], frozenset[str]]] = []
        self.open_bindings: list[_Binding] = []
        for names, value, loop in self.bindings:
            self.add_binding(names, value, _LOOP if loop else _BIND, self.fixed_bindings,
                             self.open_bindings)
        for name, value in self.appended:
            self.add_binding([name], value, _APPEND, self.fixed_bindings, self.open_bindings)
        # The same for each call of the module's functions with arguments, with where it is:
        # it binds only where gradients may be on (see settle_values).
        self.argument_sites = [site for site in map(self.call_bindings, self.argument_calls)
                               if site.names]
        self.fixed_roots = self.may_be_module_roots()
        self.settled_values: dict[tuple, tuple] = {}  # see settle_values
        # Names something may bind to a tensor.  model/leaves follows values only through
        # names, attributes, calls, operators and subscripts: ``total = 0`` and ``losses = []``
        # never make ``total += loss`` or ``losses[i] = x`` a tensor update.
        self.tensor_names = {name for names, value, _ in self.bindings
                             if type(value) in _TENSOR_SOURCES for name in names}

    def settle_values(self) -> dict[str, frozenset[str]]:
        """What each name may hold under ``callers`` (may_hold), with the names that may hold
        modules (``module_roots``) and the attributes that may hold leaves settled too."""
        active = tuple(self.may_have_grad(site.frame, site.disabler)
                       for site in self.argument_sites)
        bound = bound_parameters(self.callers)
        passed = tuple(
            tuple(map(kinds.get, names)) if kinds else None
            for kinds, names in zip(map(bound.get, self.qualified_parameters),
                                    self.qualified_parameters.values())) if bound else None
        # Settles under other callers often bind the same: what they settled is kept.
        settled = self.settled_values.get((active, passed))
        if settled is None:
            arguments = [site for site, on in zip(self.argument_sites, active) if on]
            self.module_roots = self.fixed_roots.union(*(site.names for site in arguments))
            # Parameters that callers in other files may pass a module.
            self.module_roots.update(name for qualname, names in self.qualified_parameters.items()
                                     if bound.get(qualname) for name in names)
            held = self.may_hold(arguments)
            settled = self.settled_values[active, passed] = (
                held, self.module_roots, self.leaf_attributes)
        held, self.module_roots, self.leaf_attributes = settled
        return held

    def add_binding(self, names: list[str], value: ast.AST, mode: str,
                    fixed: list[tuple[list[str], frozenset[str]]], open: list[_Binding]) -> None:
        """Add the binding of ``names`` to ``value`` to ``fixed`` if its value names nothing
        (and it may hold something), else to ``open``."""
        reads = list(self.names_read(value))
        if reads:
            open.append(_Binding(names, value, mode, reads))
            return
        kinds = _HELD_AS[mode](self.kinds(value, {}))
        if kinds:
            fixed.append((names, kinds))

    def call_bindings(self, call_site: tuple[str, ast.Call, Frame, Disabler]) -> _CallSite:
        """What one call of a function of the module may bind its parameters to: by position
        (the next one too, for a method called without its receiver) up to a starred
        argument, and by keyword."""
        name, call, frame, disabler = call_site
        site = _CallSite(frame, disabler, [], [], [])
        for positional, keyword_only in (
                signature for function in (name, *self.aliases_of.get(name, ()))
                for signature in self.parameters_of.get(function, ())):
            passed = [(positional[position:position + 2], argument)
                      for position, argument in enumerate(itertools.takewhile(
                          lambda argument: type(argument) is not ast.Starred, call.args))]
            passed += [([k.arg], k.value) for k in call.keywords
                       if k.arg in positional or k.arg in keyword_only]
            for names, value in passed:
                site.names.extend(names)
                self.add_binding(names, value, _BIND, site.fixed, site.open)
        return site

    def may_hold(self, arguments: list[_CallSite]) -> dict[str, frozenset[str]]:
        """What each name may hold (see ``LEAF`` and the kinds after it): a fixed point over
        the module's bindings, flow-insensitive.  Collections are followed apart from leaves,
        as model/leaves does: a loop over ``param_groups`` binds groups, over a group's
        ``["params"]``, ``.parameters()`` or a ``zip``/``enumerate``/``filter`` of them
        leaves, and ``group["lr"] = lr`` updates no tensor.  Which attribute names may hold a
        leaf (``self.cls_token = nn.Parameter(...)``) is noted on the way (``leaf_attributes``).
        Each step only adds, so a worklist reaches the fixed point: a binding is read again
        when a name it reads, or a leaf attribute it may name, changes."""
        held: dict[str, frozenset[str]] = {}
        self.leaf_attributes = set(self.registered_attributes)
        for name in self.marked:
            if name is not None:
                held[name] = LEAF
                self.note_leaf_attribute(name, LEAF)
        bound = bound_parameters(self.callers)
        for qualname, names in self.qualified_parameters.items():
            passed = bound.get(qualname) or {}
            for name in names:
                kinds = passed.get(name)
                if kinds:
                    held[name] = held.get(name, frozenset()) | kinds
        bindings = list(self.open_bindings)
        for names, kinds in [*self.fixed_bindings, *(
                binding for site in arguments for binding in site.fixed)]:
            for name in names:
                held[name] = held.get(name, frozenset()) | kinds
                self.note_leaf_attribute(name, kinds)
        bindings += (binding for site in arguments for binding in site.open)
        readers: dict[str, list[_Binding]] = {}  # by name read, and by its last attribute
        for binding in bindings:
            for name in binding.reads:
                readers.setdefault(name, []).append(binding)
                if "." in name:
                    readers.setdefault("." + name.rsplit(".", 1)[1], []).append(binding)
        pending = list(reversed(bindings))
        while pending:
            names, value, mode, _ = pending.pop()
            kinds = _HELD_AS[mode](self.kinds(value, held))
            for name in names:
                old = held.get(name, frozenset())
                if not kinds <= old:
                    held[name] = old | kinds
                    pending.extend(readers.get(name, ()))
                    attribute = self.note_leaf_attribute(name, kinds)
                    if attribute is not None:
                        pending.extend(readers.get("." + attribute, ()))
        return held

    def names_read(self, value: ast.AST) -> Iterable[str]:
        """The names whose holdings (or, for an attribute, whether its name may hold a leaf)
        ``kinds(value)`` reads."""
        while type(value) is ast.Subscript:
            value = value.value
        if type(value) is ast.IfExp:
            yield from self.names_read(value.body)
            yield from self.names_read(value.orelse)
        elif type(value) is ast.Call:
            last = callee(value.func)
            if last in self.leaf_calls or any(k.arg == "requires_grad" for k in value.keywords) \
                    or last in self.collection_calls:
                return
            if last in _WRAPPERS:
                for argument in value.args:
                    yield from self.names_read(argument)
            elif last in _SAME_LEAF:
                copied = value.args[0] if value.args and last == "deepcopy" else \
                    value.func.value if type(value.func) is ast.Attribute else None
                if copied is not None:
                    yield from self.names_read(copied)
            elif last == "getattr" and len(value.args) >= 2 and type(value.args[1]) is ast.Constant:
                yield f"?.{value.args[1].value}"
        else:
            name = dotted(value)
            if name is None and type(value) is ast.Attribute:
                name = f"?.{value.attr}"
            if name is not None:
                yield name

    def note_leaf_attribute(self, name: str, kinds: frozenset[str]) -> str | None:
        """``self.cls_token`` may hold a leaf: so may ``model.cls_token`` of any module (model/
        leaves reads a module's registered parameters through its class).  The attribute name
        when it is new."""
        if "leaf" in kinds and "." in name:
            attribute = name.rsplit(".", 1)[1]
            if attribute not in self.leaf_attributes:
                self.leaf_attributes.add(attribute)
                return attribute
        return None

    def may_be_module_roots(self) -> set[str]:
        """The names whose attributes model/leaves may take for a module's (``model`` in
        ``model.fc.weight``): ``self``, and names something binds, an annotation types or
        ``X.apply`` passes a module to (and, where it may prove one, ``isinstance``: see
        ``narrow``).  A parameter without any of these, or an imported name, never holds a
        module there; settle adds those that calls may pass a module."""
        roots = {"self"} | self.stored | self.annotated
        roots.update(name.partition(".")[0] for names, _, _ in self.bindings for name in names)
        roots.update(p for f in self.applied for p in self.first_parameters.get(f, ()))
        return roots

    def is_leaf(self, name: str, held: dict[str, frozenset[str]], line: int | None = None) -> bool:
        """May ``name`` hold a leaf (on ``line``, or anywhere): bound to one, or an attribute
        of a module that may be a parameter (``X.weight``, ``X.cls_token``...), ``X`` rooted in
        a name that may hold a module (or narrowed to a layer on ``line``)?"""
        if "leaf" in held.get(name, ()):
            return True
        root, dot, attribute = name.partition(".")[0], *name.rpartition(".")[1:]
        parametrization = attribute.startswith("original") and ".parametrizations." in name
        return bool(dot) and (attribute in WEIGHTS or attribute in self.leaf_attributes
                              or parametrization) and (
            root == "?" or root in self.module_roots or any(
                line is None or start <= line <= end
                for base in _prefixes(name) for start, end in self.narrowed.get(base, ())))

    def kinds(self, value: ast.AST, held: dict[str, frozenset[str]]) -> frozenset[str]:
        """What ``value`` may evaluate to.  (A subscript of a leaf is no leaf, but is kept as
        one.)"""
        subscripted = type(value) is ast.Subscript
        while type(value) is ast.Subscript:
            value = value.value
        if type(value) is ast.IfExp:
            kinds = self.kinds(value.body, held) | self.kinds(value.orelse, held)
        elif type(value) is ast.Call:
            last = callee(value.func)
            if last in self.leaf_calls or any(k.arg == "requires_grad" for k in value.keywords):
                kinds = LEAF
            elif last in self.collection_calls:
                kinds = PARAMS
            elif last in _WRAPPERS and value.args:
                kinds = frozenset().union(*(self.kinds(a, held) for a in value.args)) & (
                    PARAMS | GROUPS)
            elif last in _SAME_LEAF:
                copied = value.args[0] if value.args and last == "deepcopy" else \
                    value.func.value if type(value.func) is ast.Attribute else None
                kinds = self.kinds(copied, held) & LEAF if copied is not None else frozenset()
            elif last == "getattr" and len(value.args) >= 2 and type(value.args[1]) is ast.Constant:
                kinds = LEAF if self.is_leaf(f"?.{value.args[1].value}", held) else frozenset()
            else:
                kinds = frozenset()
        else:
            name = dotted(value)
            if name is None and type(value) is ast.Attribute:
                name = f"?.{value.attr}"  # ``model.get_classifier().weight``
            if name is None:
                return frozenset()
            kinds = held.get(name, frozenset())
            if self.is_leaf(name, held, value.lineno):
                kinds |= LEAF
            if name.endswith("param_groups"):
                kinds |= GROUPS
        if subscripted and kinds:  # ``groups[0]`` is a group, ``group["params"]`` leaves
            kinds = (kinds & LEAF) | (PARAMS if kinds & (PARAMS | GROUPS) else frozenset())
        return kinds
