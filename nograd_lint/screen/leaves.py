"""Leaves and in-place updates, the screen's mirror of model/leaves/.

``leaf-update``   an in-place update, not through ``.data``, of something that may be a leaf
                  (below), where gradients may be on (see grad_mode.py) (NG201).  In-place
                  updates include the function forms: a call named (or imported under a name)
                  like ``torch.relu_``, ``torch._foreach_mul_``, or a function or layer with an
                  ``inplace`` flag that may be set, writes its first argument (each element of
                  a list or tuple there; each tensor of a collection, for ``_foreach_*_``), and
                  ``out=`` writes its value.  ``x.data = t`` is none.
``leaf-data-update``  an in-place update through ``.data`` of something that may be a leaf
                  (NG205).
``leaf-rebinding``  a name that may be a leaf assigned something computed from it (not a copy
                  such as ``.clone()``, not a new ``nn.Parameter``), where gradients may be off
                  (NG203).
``saved-update``  a backward call and an in-place update, not through ``.data``, of a name
                  that may hold a tensor, in the same function (NG204 needs the whole chain
                  in one function).
``saved-data-update``  the same with the update through ``.data`` (NG202).

Something *may be a leaf* when it is a name bound anywhere in the module to something that can
evaluate to a leaf or a collection of leaves (``Parameter(...)``, a call with
``requires_grad=``, ``.requires_grad_()``, ``.parameters()``, ``param_groups``,
``group["params"]``, ``list(...)``/``zip(...)``/``filter(...)`` of one, a ``deepcopy`` or
dtype cast of a leaf, another such name, a list such a value is appended to...), given ``requires_grad`` or a parameter annotated
as a ``Parameter``; or an attribute of something that may be a module: its
``weight``/``bias``, its ``parametrizations.<name>.original``, or ``<attr>`` where some binding
of ``<anything>.<attr>`` may hold a leaf, or ``register_parameter("<attr>", ...)`` is called
(a module's registered parameter).  Which modules model/leaves sees (annotations, attribute
chains, ``self``, factories, methods that return one...) is not followed: anything may be one
but an attribute of a name that nothing binds (an unannotated parameter, an import), unless an
``isinstance`` may prove it a layer there or ``X.apply`` passes it a module.
A function's parameter is bound so by each call of a function of that name in the module
where gradients may be on (``f(...)``, ``self.f(...)``, ``g(...)`` after ``g = f`` or
``self.g = f``; by position, both with and without a receiver, or keyword), and by the call
sites in other files the project index knows (``Callers.parameters``; under ANY_CALLERS every
parameter of a function it can name may be bound to anything).
"""

from __future__ import annotations

import ast
import itertools
import re
from collections.abc import Iterable, Mapping
from typing import NamedTuple

from nograd_lint.ast_walk import children, dotted, push_children
from nograd_lint.config import Config
from nograd_lint.screen.grad_mode import GradModeScreen
from nograd_lint.screen.walk import Context, Disabler, Frame, assigned_targets, bound_names, callee
from nograd_lint.vocabulary import (
    COPIES, DTYPE_CASTS, FOREACH_INPLACE_FUNCTIONS, INPLACE_FLAG_FUNCTIONS, INPLACE_FLAG_LAYERS,
    INPLACE_FUNCTIONS, PARAMETER, WEIGHTS, Grad, bound_parameters,
    is_inplace_method,
)

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
_LEAF, _PARAMS, _GROUPS = frozenset({"leaf"}), frozenset({"params"}), frozenset({"groups"})
_ELEMENT = {"params": "leaf", "groups": "params"}  # what a loop binds
_VIEW_OR_DATA = frozenset({"data", "T", "mT"})
# How a binding's value makes its names hold something: assigned, looped over (the names get
# its elements), appended (a list that leaves go into holds leaves).
_BIND, _LOOP, _APPEND = "bind", "loop", "append"
_HELD_AS = {
    _BIND: lambda kinds: kinds,
    _LOOP: lambda kinds: frozenset(_ELEMENT[kind] for kind in kinds if kind in _ELEMENT),
    _APPEND: lambda kinds: _PARAMS if kinds & (_LEAF | _PARAMS) else frozenset(),
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


def _last_parts(names) -> frozenset[str]:
    return frozenset(name.rsplit(".", 1)[-1] for name in names)


# The functional in-place forms (see model/leaves' functional_write), by the last part of
# their names.
_INPLACE_FUNCTION_NAMES = _last_parts(INPLACE_FUNCTIONS | FOREACH_INPLACE_FUNCTIONS)
_FOREACH_NAMES = _last_parts(FOREACH_INPLACE_FUNCTIONS)
_INPLACE_FLAG_NAMES = _last_parts([*INPLACE_FLAG_FUNCTIONS, *INPLACE_FLAG_LAYERS])
_TENSOR_SOURCES = frozenset({ast.Name, ast.Attribute, ast.Call, ast.BinOp, ast.UnaryOp,
                             ast.Subscript})


def _prefixes(name: str) -> Iterable[str]:
    """``a``, ``a.b`` for ``a.b.c``."""
    parts = name.split(".")
    return (".".join(parts[:end]) for end in range(1, len(parts)))


def _annotation_names(annotation: ast.AST) -> Iterable[str]:
    """The names an annotation mentions, in quotes too (``"nn.Parameter"``)."""
    for node in ast.walk(annotation):
        if isinstance(node, ast.Name):
            yield node.id
        elif isinstance(node, ast.Attribute):
            yield node.attr
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            yield from re.findall(r"\w+", node.value)


def _written(target: ast.AST) -> tuple[str | None, bool]:
    """The name an in-place write to ``target`` changes, and whether it goes through ``.data``:
    ``w[0]``, ``w.data``, ``w.view(2)`` and ``w.add_(1)`` all write to ``w``.  Any call or
    subscript is stripped, more than model/leaves strips, so that every site it sees is seen.
    An attribute of something that is no name (``model.get_classifier().weight``) is named
    by its attribute alone: ``?.weight``."""
    through_data = False
    while True:
        kind = type(target)
        if kind is ast.Subscript:
            target = target.value
        elif kind is ast.Call and type(target.func) is ast.Attribute:
            target = target.func.value
        elif kind is ast.Attribute and target.attr in _VIEW_OR_DATA:
            through_data = through_data or target.attr == "data"
            target = target.value
        else:
            name = dotted(target)
            if name is None and kind is ast.Attribute:
                name = f"?.{target.attr}"
            return name, through_data


def _may_set_flag(call: ast.Call, positional: bool) -> bool:
    """Might ``call`` pass an ``inplace`` flag (by keyword, or as a positional argument when
    ``positional``, whatever its position)?"""
    return positional or any(k.arg in ("inplace", None) for k in call.keywords)


def _recomputes(value: ast.AST, name: str) -> bool:
    """Is ``value`` computed from ``name`` (not a deliberate copy such as ``name.clone()``)?
    As model/leaves decides it."""
    if isinstance(value, ast.Attribute) and value.attr == "data":
        return False
    if isinstance(value, ast.Call) and isinstance(value.func, ast.Attribute) and \
            value.func.attr in COPIES:
        return False
    return _reads(value, name)


def _reads(value: ast.AST, name: str) -> bool:
    stack = [value]
    while stack:
        node = stack.pop()
        if isinstance(node, (ast.Name, ast.Attribute)):
            name_read = dotted(node)
            if name_read is not None and (name_read == name or name_read.startswith(name + ".")):
                return True
        stack.extend(children(node))
    return False


class LeavesScreen(GradModeScreen):
    def __init__(self, source: str | bytes, path: str, config: Config,
                 callers: Mapping[str, Grad]) -> None:
        super().__init__(source, path, config, callers)
        # In-place writes: (name written, line, through .data, grad frame, disabler).
        self.sites: list[tuple[str, int, bool, Frame, Disabler]] = []
        self.marked: list[str | None] = []  # names given ``requires_grad``
        # Names an ``if isinstance(name, ...)`` may prove to be layers, with the lines where
        # model/leaves may know it: the ``if`` body, or on to the end when an ``else`` can exit.
        self.narrowed: dict[str, list[tuple[int, float]]] = {}
        self.tests_types = ("isinstance" if isinstance(source, str) else b"isinstance") in source
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
        # (name, the value assigned to it, grad frame, disabler)
        self.rebound: list[tuple[str, ast.AST, Frame, Disabler]] = []
        self.leaf_calls = self.known_as(_LEAF_CALLS)
        self.collection_calls = self.known_as(_COLLECTION_CALLS)
        # ``xs.append(v)``, ``xs.extend(vs)``: (xs, what goes in); leaves make xs a collection.
        self.appended: list[tuple[str, ast.AST]] = []
        # ``torch._foreach_mul_(tensors, ...)``: (tensors, grad frame, disabler).
        self.foreach_sites: list[tuple[ast.AST, Frame, Disabler]] = []
        self.inplace_functions = self.known_as(_INPLACE_FUNCTION_NAMES)
        self.foreach_functions = self.known_as(_FOREACH_NAMES)
        self.inplace_flagged = self.known_as(_INPLACE_FLAG_NAMES)

    # ------------------------------------------------------------------ the walk
    def on_function(self, node: ast.FunctionDef | ast.AsyncFunctionDef, outer: Context,
                    inner: Context) -> Context:
        parameters = [*node.args.posonlyargs, *node.args.args, *node.args.kwonlyargs]
        self.first_parameters.setdefault(node.name, []).extend(a.arg for a in parameters[:2])
        for parameter in parameters:
            if parameter.annotation is not None:
                self.annotated.add(parameter.arg)
                # ``p: nn.Parameter`` (model/leaves reads annotations).
                if not self.leaf_calls.isdisjoint(_annotation_names(parameter.annotation)):
                    self.marked.append(parameter.arg)
        positional = [a.arg for a in (*node.args.posonlyargs, *node.args.args)]
        keyword_only = [a.arg for a in node.args.kwonlyargs]
        self.parameters_of.setdefault(node.name, []).append((positional, keyword_only))
        if inner.frame.qualname is not None:
            self.qualified_parameters[inner.frame.qualname] = [*positional, *keyword_only]
        return inner

    def on_loop(self, node: ast.For | ast.AsyncFor, context: Context) -> Context:
        self.bindings.append((list(bound_names(node.target)), node.iter, True))
        return context

    def on_call(self, node: ast.Call, name: str | None, context: Context) -> None:
        self.functional_write(node, name, context)
        func = node.func
        # What model/leaves binds parameters through: ``f(...)``, ``self.f(...)``.
        if (node.args or node.keywords) and (type(func) is ast.Name or type(
                func) is ast.Attribute and type(func.value) is ast.Name and func.value.id in
                ("self", "cls")):
            self.argument_calls.append((name, node, context.grad_frame, context.disabler))
        if type(func) is not ast.Attribute:  # every call below is a method's
            return
        if name == "apply":
            self.applied.update(f for f in map(callee, node.args) if f is not None)
        if name in ("append", "extend") and node.args:
            receiver = dotted(func.value)
            if receiver is not None:
                self.appended.append((receiver, node.args[0]))
        if name == "register_parameter" and node.args and type(node.args[0]) is ast.Constant \
                and isinstance(node.args[0].value, str):
            self.registered_attributes.add(node.args[0].value)
        if name == "requires_grad_":
            self.marked.append(dotted(func.value))
        elif is_inplace_method(name):
            self.inplace(func.value, context)

    def functional_write(self, node: ast.Call, name: str | None, context: Context) -> None:
        """What model/leaves' ``functional_write`` may take for an in-place update:
        ``torch.relu_(w)``, ``F.relu(w, True)``, ``nn.ReLU(inplace=True)(w)``,
        ``torch._foreach_mul_([a, b], 2)``, ``out=w``."""
        for keyword in node.keywords:
            if keyword.arg == "out":
                self.inplace(keyword.value, context)
        if not node.args:
            return
        func = node.func
        if type(func) is ast.Call:  # a layer called as it is made
            if not (callee(func.func) in self.inplace_flagged
                    and _may_set_flag(func, bool(func.args))):
                return
        elif not (name in self.inplace_functions or name in self.inplace_flagged
                  and _may_set_flag(node, len(node.args) > 1)):
            return
        first = node.args[0]
        if type(first) in (ast.List, ast.Tuple):
            for target in first.elts:
                self.inplace(target, context)
        elif name in self.foreach_functions:
            # Each tensor of a collection: one that may hold parameters matters (see settle).
            self.foreach_sites.append((first, context.grad_frame, context.disabler))
        else:
            self.inplace(first, context)

    def on_augmented_assignment(self, node: ast.AugAssign, context: Context) -> None:
        self.inplace(node.target, context)

    def on_assignment(self, node: ast.Assign | ast.AnnAssign, context: Context) -> None:
        value = node.value
        if value is None:
            return
        for target in assigned_targets(node):
            if isinstance(target, ast.Attribute) and target.attr == "data":
                continue  # gives the tensor other data: no in-place update
            if isinstance(target, ast.Subscript):
                self.inplace(target, context)
            elif isinstance(target, ast.Attribute) and target.attr == "requires_grad":
                self.marked.append(dotted(target.value))
            else:
                names = list(bound_names(target))
                self.bindings.append((names, value, False))
                if type(value) is ast.Name and names:
                    self.aliases_of.setdefault(names[0].rsplit(".", 1)[-1], set()).add(value.id)
                self.rebound.extend((name, value, context.grad_frame, context.disabler)
                                    for name in names)

    def on_if(self, node: ast.If) -> None:
        if self.tests_types:
            self.narrow(node)

    def inplace(self, target: ast.AST, context: Context) -> None:
        name, through_data = _written(target)
        if name is None:
            return
        (context.frame.data_inplace if through_data else context.frame.inplace).append(name)
        self.sites.append((name, target.lineno, through_data, context.grad_frame,
                           context.disabler))

    def narrow(self, node: ast.If) -> None:
        """Note the names ``if isinstance(name, ...):`` may prove to be layers, and where.
        model/leaves keeps the fact after the ``if`` only when the branches that do not prove it
        end (return, raise...): a chain that ends in ``else`` is taken to do so."""
        end: float = node.body[-1].end_lineno
        chain = node
        while len(chain.orelse) == 1 and type(chain.orelse[0]) is ast.If:
            chain = chain.orelse[0]
        if chain.orelse:
            end = float("inf")
        stack = [node.test]
        while stack:
            child = stack.pop()
            push_children(child, stack)
            if type(child) is ast.Call and callee(child.func) == "isinstance" and child.args:
                name = dotted(child.args[0])
                if name is not None:
                    self.narrowed.setdefault(name, []).append((node.lineno, end))

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
        # it binds only where gradients may be on (see argument_bindings).
        self.argument_sites = [site for site in map(self.call_bindings, self.argument_calls)
                               if site.names]
        self.fixed_roots = self.may_be_module_roots()
        self.tensor_names = {name for names, value, _ in self.bindings
                             if type(value) in _TENSOR_SOURCES for name in names}
        # Per rebinding, whether it computes the name from itself (and not a new parameter):
        # read only where settle needs it (they are many, and seldom asked about).
        self.recomputing: dict[int, bool] = {}
        # The same by name: (index in rebound, value, grad frame, disabler).
        self.rebound_names: dict[str, list[tuple[int, ast.AST, Frame, Disabler]]] = {}
        for index, (name, value, frame, disabler) in enumerate(self.rebound):
            self.rebound_names.setdefault(name, []).append((index, value, frame, disabler))
        self.updating_frames = [frame for frame in self.frames if frame.backward and (
            frame.inplace or frame.data_inplace)]

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

    def settle(self) -> None:
        super().settle()
        found = self.found
        arguments = [site for site in self.argument_sites
                     if self.may_have_grad(site.frame, site.disabler)]
        self.module_roots = self.fixed_roots.union(*(site.names for site in arguments))
        bound = bound_parameters(self.callers)
        # Parameters that callers in other files may pass a module.
        self.module_roots.update(name for qualname, names in self.qualified_parameters.items()
                                 if bound.get(qualname) for name in names)
        held = self.may_hold(arguments)
        tensors = self.tensor_names.union(name for name, kinds in held.items() if "leaf" in kinds)
        if any(name in tensors or self.is_leaf(name, held)
               for frame in self.updating_frames for name in frame.inplace):
            found.add("saved-update")
        if any(name in tensors or self.is_leaf(name, held)
               for frame in self.updating_frames for name in frame.data_inplace):
            found.add("saved-data-update")
        if any(self.kinds(collection, held) & (_LEAF | _PARAMS)
               and self.may_have_grad(frame, disabler)
               for collection, frame, disabler in self.foreach_sites):
            found.add("leaf-update")
        for name, line, through_data, frame, disabler in self.sites:
            if not self.is_leaf(name, held, line):
                continue
            if through_data:
                found.add("leaf-data-update")
            elif self.may_have_grad(frame, disabler):
                found.add("leaf-update")
        if any(self.is_leaf(name, held) and any(
                self.is_leaf(name, held, value.lineno) and self.may_disable(frame, disabler)
                and self.recomputes(index) for index, value, frame, disabler in rebindings)
               for name, rebindings in self.rebound_names.items()):
            found.add("leaf-rebinding")

    def recomputes(self, rebinding: int) -> bool:
        """Is the ``rebinding``-th of ``rebound`` computed from the name it binds, and no new
        parameter?  (Remembered across settles.)"""
        if rebinding not in self.recomputing:
            name, value, _, _ = self.rebound[rebinding]
            self.recomputing[rebinding] = _recomputes(value, name) and not self.new_parameter(value)
        return self.recomputing[rebinding]

    def new_parameter(self, value: ast.AST) -> bool:
        """Is ``value`` surely a new leaf, ``nn.Parameter(...)`` (rebinding to one is fine)?"""
        if type(value) is not ast.Call or len(value.args) > 1 or any(
                k.arg in ("requires_grad", None) for k in value.keywords):
            return False
        name = dotted(value.func)
        return name is not None and self.resolves(name, value.lineno, PARAMETER)

    def may_hold(self, arguments: list[_CallSite]) -> dict[str, frozenset[str]]:
        """What each name may hold (see ``_LEAF`` and the kinds after it): a fixed point over
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
                held[name] = _LEAF
                self.note_leaf_attribute(name, _LEAF)
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
                kinds = _LEAF
            elif last in self.collection_calls:
                kinds = _PARAMS
            elif last in _WRAPPERS and value.args:
                kinds = frozenset().union(*(self.kinds(a, held) for a in value.args)) & (
                    _PARAMS | _GROUPS)
            elif last in _SAME_LEAF:
                copied = value.args[0] if value.args and last == "deepcopy" else \
                    value.func.value if type(value.func) is ast.Attribute else None
                kinds = self.kinds(copied, held) & _LEAF if copied is not None else frozenset()
            elif last == "getattr" and len(value.args) >= 2 and type(value.args[1]) is ast.Constant:
                kinds = _LEAF if self.is_leaf(f"?.{value.args[1].value}", held) else frozenset()
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
                kinds |= _LEAF
            if name.endswith("param_groups"):
                kinds |= _GROUPS
        if subscripted and kinds:  # ``groups[0]`` is a group, ``group["params"]`` leaves
            kinds = (kinds & _LEAF) | (_PARAMS if kinds & (_PARAMS | _GROUPS) else frozenset())
        return kinds
