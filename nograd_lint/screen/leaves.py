"""Leaves and in-place updates, the screen's mirror of model/leaves/.

``leaf-update``   an in-place update, not through ``.data``, of something that may be a leaf
                  (leaf_values.py), where gradients may be on (see grad_mode.py) (NG201).  In-place
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

What may be a leaf, and what a name may hold, leaf_values.py decides from the bindings the
hooks here collect.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable, Mapping

from nograd_lint.ast_walk import children, dotted, push_children
from nograd_lint.config import Config
from nograd_lint.screen.leaf_values import LEAF, PARAMS, LeafValues
from nograd_lint.screen.walk import Context, Disabler, Frame, assigned_targets, bound_names, callee
from nograd_lint.vocabulary import (
    COPIES, FOREACH_INPLACE_FUNCTIONS, INPLACE_FLAG_FUNCTIONS, INPLACE_FLAG_LAYERS,
    INPLACE_FUNCTIONS, PARAMETER, Grad, is_inplace_method,
)

_VIEW_OR_DATA = frozenset({"data", "T", "mT"})


def _last_parts(names) -> frozenset[str]:
    return frozenset(name.rsplit(".", 1)[-1] for name in names)


# The functional in-place forms (see model/leaves' functional_write), by the last part of
# their names.
_INPLACE_FUNCTION_NAMES = _last_parts(INPLACE_FUNCTIONS | FOREACH_INPLACE_FUNCTIONS)
_FOREACH_NAMES = _last_parts(FOREACH_INPLACE_FUNCTIONS)
_INPLACE_FLAG_NAMES = _last_parts([*INPLACE_FLAG_FUNCTIONS, *INPLACE_FLAG_LAYERS])


def _annotation_names(annotation: ast.AST) -> Iterable[str]:
    """The names an annotation mentions, in quotes too (``"nn.Parameter"``)."""
    stack = [annotation]
    while stack:
        node = stack.pop()
        push_children(node, stack)
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


class LeavesScreen(LeafValues):
    def __init__(self, source: str | bytes, path: str, config: Config,
                 callers: Mapping[str, Grad]) -> None:
        super().__init__(source, path, config, callers)
        # In-place writes: (name written, line, through .data, grad frame, disabler).
        self.sites: list[tuple[str, int, bool, Frame, Disabler]] = []
        self.tests_types = ("isinstance" if isinstance(source, str) else b"isinstance") in source
        # (name, the value assigned to it, grad frame, disabler)
        self.rebound: list[tuple[str, ast.AST, Frame, Disabler]] = []
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
        # Per rebinding, whether it computes the name from itself (and not a new parameter):
        # read only where settle needs it (they are many, and seldom asked about).
        self.recomputing: dict[int, bool] = {}
        # The same by name: (index in rebound, value, grad frame, disabler).
        self.rebound_names: dict[str, list[tuple[int, ast.AST, Frame, Disabler]]] = {}
        for index, (name, value, frame, disabler) in enumerate(self.rebound):
            self.rebound_names.setdefault(name, []).append((index, value, frame, disabler))
        self.updating_frames = [frame for frame in self.frames if frame.backward and (
            frame.inplace or frame.data_inplace)]

    def settle(self) -> None:
        super().settle()
        found = self.found
        held = self.settle_values()
        tensors = self.tensor_names.union(name for name, kinds in held.items() if "leaf" in kinds)
        if any(name in tensors or self.is_leaf(name, held)
               for frame in self.updating_frames for name in frame.inplace):
            found.add("saved-update")
        if any(name in tensors or self.is_leaf(name, held)
               for frame in self.updating_frames for name in frame.data_inplace):
            found.add("saved-data-update")
        if any(self.kinds(collection, held) & (LEAF | PARAMS)
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
