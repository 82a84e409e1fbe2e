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

Something *may be a leaf* when it is any ``X.weight``/``X.bias`` of something that may be a
layer, or a name bound anywhere in the module to something that can evaluate to a leaf or a
collection of leaves (``Parameter(...)``, a call with ``requires_grad=``, ``.requires_grad_()``,
``.parameters()``, ``param_groups``, ``group["params"]``, ``list(...)`` or ``filter(f, ...)`` of
one, another such name, a list such a value is appended to...), or given ``requires_grad``.
"""

from __future__ import annotations

import ast
from collections.abc import Mapping

from nograd_lint.ast_walk import children, dotted, push_children
from nograd_lint.config import Config
from nograd_lint.screen.grad_mode import GradModeScreen
from nograd_lint.screen.walk import Context, Disabler, Frame, assigned_targets, bound_names, callee
from nograd_lint.vocabulary import (
    COPIES, FOREACH_INPLACE_FUNCTIONS, INPLACE_FLAG_FUNCTIONS, INPLACE_FLAG_LAYERS,
    INPLACE_FUNCTIONS, LAYERS, MODULE_COLLECTIONS, PARAMETER, WEIGHTS, Grad, is_inplace_method,
)

# Identifiers through which a value can come to hold a leaf, or a collection whose elements
# (in a ``for`` loop) may be leaves or such collections again (see model/leaves).
_LEAF_CALLS = frozenset({"Parameter", "requires_grad_"})
_COLLECTION_CALLS = frozenset({"parameters", "named_parameters"})
_WRAPPERS = frozenset({"list", "tuple", "enumerate", "filter"})  # filter(f, xs): xs
# What a value may hold, as the kinds of model/leaves: a leaf, an iterable of leaves (or an optimizer's
# param group), ``param_groups``, a torch layer, an iterable of layers.
_LEAF, _PARAMS, _GROUPS = frozenset({"leaf"}), frozenset({"params"}), frozenset({"groups"})
_MODULE, _MODULES = frozenset({"module"}), frozenset({"modules"})
_ELEMENT = {"params": "leaf", "groups": "params", "modules": "module"}  # what a loop binds
_LAYER_NAMES = frozenset(name.rsplit(".", 1)[-1] for name in LAYERS)
_VIEW_OR_DATA = frozenset({"data", "T", "mT"})


def _last_parts(names) -> frozenset[str]:
    return frozenset(name.rsplit(".", 1)[-1] for name in names)


# The functional in-place forms (see model/leaves' functional_write), by the last part of
# their names.
_INPLACE_FUNCTION_NAMES = _last_parts(INPLACE_FUNCTIONS | FOREACH_INPLACE_FUNCTIONS)
_FOREACH_NAMES = _last_parts(FOREACH_INPLACE_FUNCTIONS)
_INPLACE_FLAG_NAMES = _last_parts([*INPLACE_FLAG_FUNCTIONS, *INPLACE_FLAG_LAYERS])
_TENSOR_SOURCES = frozenset({ast.Name, ast.Attribute, ast.Call, ast.BinOp, ast.UnaryOp,
                             ast.Subscript})


def _written(target: ast.AST) -> tuple[str | None, bool]:
    """The name an in-place write to ``target`` changes, and whether it goes through ``.data``:
    ``w[0]``, ``w.data``, ``w.view(2)`` and ``w.add_(1)`` all write to ``w``.  Any call or
    subscript is stripped, more than model/leaves strips, so that every site it sees is seen."""
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
            return dotted(target), through_data


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
        self.leading_parameters: dict[str, list[str]] = {}  # function name -> first two
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
        inner = super().on_function(node, outer, inner)
        arguments = node.args
        self.leading_parameters.setdefault(node.name, []).extend(
            a.arg for a in [*arguments.posonlyargs, *arguments.args, *arguments.kwonlyargs][:2])
        return inner

    def on_loop(self, node: ast.For | ast.AsyncFor, context: Context) -> Context:
        context = super().on_loop(node, context)
        self.bindings.append((list(bound_names(node.target)), node.iter, True))
        return context

    def on_call(self, node: ast.Call, name: str | None, context: Context) -> None:
        super().on_call(node, name, context)
        self.functional_write(node, name, context)
        func = node.func
        if type(func) is not ast.Attribute:  # every call below is a method's
            return
        if name == "apply":
            self.applied.update(f for f in map(callee, node.args) if f is not None)
        if name in ("append", "extend") and node.args:
            receiver = dotted(func.value)
            if receiver is not None:
                self.appended.append((receiver, node.args[0]))
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
        super().on_augmented_assignment(node, context)
        self.inplace(node.target, context)

    def on_assignment(self, node: ast.Assign | ast.AnnAssign, context: Context) -> None:
        super().on_assignment(node, context)
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
                self.rebound.extend((name, value, context.grad_frame, context.disabler)
                                    for name in names)

    def on_if(self, node: ast.If) -> None:
        super().on_if(node)
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
    def settle(self) -> None:
        super().settle()
        found = self.found
        held = self.may_hold()
        tensors = self.may_hold_tensors(held)
        if any(frame.backward and any(name in tensors or self.is_leaf(name, held)
                                      for name in frame.inplace)
               for frame in self.frames):
            found.add("saved-update")
        if any(frame.backward and any(name in tensors or self.is_leaf(name, held)
                                      for name in frame.data_inplace)
               for frame in self.frames):
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
        if any(self.is_leaf(name, held, value.lineno) and self.may_disable(frame, disabler)
               and _recomputes(value, name) and not self.new_parameter(value)
               for name, value, frame, disabler in self.rebound):
            found.add("leaf-rebinding")

    def new_parameter(self, value: ast.AST) -> bool:
        """Is ``value`` surely a new leaf, ``nn.Parameter(...)`` (rebinding to one is fine)?"""
        if type(value) is not ast.Call or len(value.args) > 1 or any(
                k.arg in ("requires_grad", None) for k in value.keywords):
            return False
        name = dotted(value.func)
        return name is not None and self.resolves(name, value.lineno, PARAMETER)

    def may_hold_tensors(self, held: dict[str, frozenset[str]]) -> set[str]:
        """Names something may bind to a tensor.  model/leaves follows values only through names,
        attributes, calls, operators and subscripts: ``total = 0`` and ``losses = []`` never
        make ``total += loss`` or ``losses[i] = x`` a tensor update."""
        return {name for name, kinds in held.items() if "leaf" in kinds} | {
            name for names, value, _ in self.bindings if type(value) in _TENSOR_SOURCES
            for name in names}

    def may_hold(self) -> dict[str, frozenset[str]]:
        """What each name may hold (see ``_LEAF`` and the kinds after it): a fixed point over
        the module's bindings, flow-insensitive.  Collections and layers are followed apart
        from leaves, as model/leaves does: a loop over ``param_groups`` binds groups, over a
        group's ``["params"]`` or ``.parameters()`` leaves, ``group["lr"] = lr`` updates no
        tensor, and ``m.weight`` is a leaf only when ``m`` may be a layer (made by one of
        ``LAYERS``, a loop over ``.modules()``, the first parameter of a function passed to
        ``X.apply``, or where ``if isinstance(m, ...)`` narrows it)."""
        held: dict[str, frozenset[str]] = {}
        seeds = [(self.marked, _LEAF), (
            [p for f in self.applied if f in self.leading_parameters
             for p in self.leading_parameters[f]], _MODULE)]
        for names, kinds in seeds:
            for name in names:
                if name is not None:
                    held[name] = held.get(name, frozenset()) | kinds
        changed = True
        while changed:
            changed = False
            for names, value, loop in self.bindings:
                kinds = self.kinds(value, held)
                if loop:
                    kinds = frozenset(_ELEMENT[kind] for kind in kinds if kind in _ELEMENT)
                for name in names:
                    old = held.get(name, frozenset())
                    if not kinds <= old:
                        held[name] = old | kinds
                        changed = True
            for name, value in self.appended:  # a list that leaves go into holds leaves
                old = held.get(name, frozenset())
                if self.kinds(value, held) & (_LEAF | _PARAMS) and not _PARAMS <= old:
                    held[name] = old | _PARAMS
                    changed = True
        return held

    def is_leaf(self, name: str, held: dict[str, frozenset[str]], line: int | None = None) -> bool:
        """May ``name`` hold a leaf (on ``line``, or anywhere): bound to one, or
        ``X.weight``/``X.bias`` of a layer ``X``?"""
        if "leaf" in held.get(name, ()):
            return True
        base, _, attribute = name.rpartition(".")
        return attribute in WEIGHTS and ("module" in held.get(base, ()) or any(
            line is None or start <= line <= end for start, end in self.narrowed.get(base, ())))

    def kinds(self, value: ast.AST, held: dict[str, frozenset[str]]) -> frozenset[str]:
        """What ``value`` may evaluate to.  (A subscript of a leaf is no leaf, but is kept as
        one.)"""
        subscripted = type(value) is ast.Subscript
        while type(value) is ast.Subscript:
            value = value.value
        if type(value) is ast.Call:
            last = callee(value.func)
            if last in self.leaf_calls or any(k.arg == "requires_grad" for k in value.keywords):
                kinds = _LEAF
            elif last in self.collection_calls:
                kinds = _PARAMS
            elif last in MODULE_COLLECTIONS:
                kinds = _MODULES
            elif last in _LAYER_NAMES:
                kinds = _MODULE
            elif last in _WRAPPERS and value.args:
                kinds = self.kinds(value.args[-1] if last == "filter" else value.args[0], held) \
                    & (_PARAMS | _GROUPS | _MODULES)
            else:
                kinds = frozenset()
        else:
            name = dotted(value)
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
