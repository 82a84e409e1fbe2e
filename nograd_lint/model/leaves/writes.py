"""In-place writes and what autograd makes of them: which syntax writes to a tensor, and the
leaf interpreter's bookkeeping of writes, saves for backward and ``backward()`` calls (the
records the leaf rules read)."""

from __future__ import annotations

from dataclasses import replace

from nograd_lint import libcst as cst

from nograd_lint.model.grad_mode import Grad, constant_bool
from nograd_lint.model.leaves.records import InPlace, StaleBackward
from nograd_lint.model.leaves.values import TENSORS, Kind, State, Value, requires_grad
from nograd_lint.model.names import ImportResolver, dotted_name
from nograd_lint.syntax import keyword_value, positional
from nograd_lint.vocabulary import (
    FOREACH_INPLACE_FUNCTIONS, INPLACE_FLAG_FUNCTIONS, INPLACE_FLAG_LAYERS, INPLACE_FUNCTIONS,
    VIEW_METHODS, is_inplace_method,
)


def inplace_method(call: cst.Call) -> str | None:
    """``x.add_(...)`` -> ``"add_"``: a tensor method that updates its receiver in place."""
    func = call.func
    if not isinstance(func, cst.Attribute):
        return None
    name = func.attr.value
    return name if is_inplace_method(name) else None


#: What :func:`functional_write` finds: a function that writes to its argument as the in-place
#: method would, one that writes to every tensor of it, or one that writes its result into it.
IN_PLACE, FOREACH, OUT = "in place", "foreach", "out"


def functional_write(call: cst.Call, names: ImportResolver) -> tuple[str, cst.BaseExpression] | None:
    """A torch function, not a tensor method, that writes to one of its arguments: (IN_PLACE,
    ``t``) for ``torch.relu_(t)``, ``F.relu(t, inplace=True)``, ``nn.ReLU(inplace=True)(t)``;
    (FOREACH, ``ts``) for ``torch._foreach_mul_(ts, 2)``; (OUT, ``t``) for
    ``torch.clamp(x, 0, 1, out=t)``."""
    func, args = call.func, positional(call)
    if isinstance(func, cst.Call):
        position = INPLACE_FLAG_LAYERS.get(names.qualified_name(func.func) or "")
        return (IN_PLACE, args[0].value) if position is not None and args and _flag_set(
            func, position) else None
    qualified = names.qualified_name(func)
    if qualified is None or not qualified.startswith("torch."):
        return None
    if args and (qualified in INPLACE_FUNCTIONS or qualified in INPLACE_FLAG_FUNCTIONS
                 and _flag_set(call, INPLACE_FLAG_FUNCTIONS[qualified])):
        return IN_PLACE, args[0].value
    if args and qualified in FOREACH_INPLACE_FUNCTIONS:
        return FOREACH, args[0].value
    out = keyword_value(call, "out")
    return (OUT, out) if out is not None else None


def _flag_set(call: cst.Call, position: int) -> bool:
    """``inplace=True``, or ``True`` as the positional argument at ``position``."""
    flag = keyword_value(call, "inplace")
    if flag is None:
        args = positional(call)
        flag = args[position].value if position < len(args) else None
    return flag is not None and constant_bool(flag) is True


def written(target: cst.BaseExpression) -> tuple[cst.BaseExpression, bool, bool, bool]:
    """Which tensor an in-place write to ``target`` changes: (its expression, through a view,
    through ``.data``, after another in-place update of it).  ``w[0]``, ``w.view(4)``,
    ``w.data``, ``w.add_(1)`` all write to ``w``."""
    through_view = through_data = chained = False
    while True:
        if isinstance(target, cst.Subscript):
            through_view, target = True, target.value
        elif isinstance(target, cst.Call) and isinstance(target.func, cst.Attribute) and (
                target.func.attr.value in VIEW_METHODS or inplace_method(target) is not None):
            through_view = through_view or target.func.attr.value in VIEW_METHODS
            chained = chained or target.func.attr.value not in VIEW_METHODS
            target = target.func.value
        elif isinstance(target, cst.Attribute) and target.attr.value == "data":
            through_data, target = True, target.value
        elif isinstance(target, cst.Attribute) and target.attr.value in ("T", "mT"):
            through_view, target = True, target.value
        else:
            return target, through_view, through_data, chained


def _shown(expression: cst.BaseExpression) -> str:
    """``model.get_classifier().weight``: an expression as a key to name it by."""
    return " ".join(cst.Module([]).code_for_node(expression).split())


class Writes:
    """The part of :class:`~nograd_lint.model.leaves.expressions.ExpressionInterpreter` that
    records in-place updates, saves for backward and ``backward()`` calls (with their
    consequences on the state: stale saved ops, rebound values)."""

    def _inplace_update(self, node, statement, target, state: State, grad: Grad,
                        operand: Value | None, out: str | None = None) -> None:
        """``target`` (an expression) is written in place by ``node`` (as the result of the
        function ``out``, if given)."""
        base, through_view, through_data, chained = written(target)
        key = dotted_name(base)
        if key is None and not isinstance(base, cst.Attribute):
            return
        value = self._reference(base, state, grad)
        if value is not None and value.kind is Kind.EMPTY:
            state.bind(key, None)  # ``xs += [t]``, ``xs[0] = t``: no longer known to hold leaves
        if value is None or value.kind not in TENSORS:
            return
        if key is None:  # nothing to bind, a name to say
            key = _shown(base)
        site = InPlace(node, statement, key, value, through_view, through_data, grad,
                       self._enclosing_for_loops(), out=out)
        if value.kind is Kind.LEAF and not chained:  # ``p.mul_(d).add_(x)`` fails at ``mul_``
            self._note(self._inplace, (node, key), site)
        # A write through ``.data`` skips the version counter: the ops that saved the tensor
        # do not go stale, they silently compute with the new values.
        changed = state.hidden if through_data else state.stale
        for op in value.saved_by:
            changed.setdefault(op, site)
        if through_data:
            return  # the tensor is the same to autograd, and still saved where it was
        if value.kind is Kind.TRACKED and grad is Grad.ENABLED:
            history = value.history | (operand.history if operand is not None else frozenset())
            state.bind(key, replace(value, history=history, saved_by=frozenset()))
        elif grad is not Grad.ENABLED:
            state.bind(key, replace(value, saved_by=frozenset()))

    def _written_value(self, target: cst.BaseExpression, state: State, grad: Grad) -> Value | None:
        """What an in-place update of ``target`` returns: the tensor written, if it has a name."""
        base = written(target)[0]
        return self._reference(base, state, grad) if dotted_name(base) else None

    def _enclosing_for_loops(self) -> tuple:
        return tuple(loop.node for loop in self._loops if isinstance(loop.node, cst.For))

    def _functional_update(self, node: cst.Call, form: str, target: cst.BaseExpression,
                           arguments: list, state: State, grad: Grad) -> Value | None:
        """What :func:`functional_write` found ``node`` writes: the in-place update it makes,
        and the call's value (the tensor written, for IN_PLACE and OUT)."""
        statement = self._statement_now
        operand = next((value for arg, value in zip(node.args, arguments)
                        if arg.value is not target and requires_grad(value)), None)
        if form == FOREACH:
            if isinstance(target, (cst.List, cst.Tuple)):
                for element in target.elements:
                    self._inplace_update(node, statement, element.value, state, grad, operand)
                return None
            collection = arguments[0]
            if collection is not None and collection.kind is Kind.PARAMS:
                key = dotted_name(target) or _shown(target)
                element = Value(Kind.LEAF, collection.origin)
                self._note(self._inplace, (node, key), InPlace(
                    node, statement, key, element, False, False, grad,
                    self._enclosing_for_loops(), each=True))
            return None
        function = self.names.qualified_name(node.func) if form == OUT else None
        self._inplace_update(node, statement, target, state, grad, operand,
                             out=function.rsplit(".", 1)[-1] if function else None)
        return self._written_value(target, state, grad)

    def _note(self, found: dict, key, item) -> None:
        if not self._quiet:
            found.setdefault(key, item)

    def _mark_saved(self, operand: cst.BaseExpression, op: cst.CSTNode, state: State) -> None:
        key = dotted_name(operand)
        value = state.values.get(key) if key is not None else None
        if value is not None and value.kind in TENSORS:
            state.values[key] = replace(value, saved_by=value.saved_by | {op})

    def _backward(self, node: cst.Call, value: Value | None, state: State) -> None:
        if value is None:
            return
        for op in value.history:
            for changed in (state.stale, state.hidden):
                site = changed.get(op)
                if site is not None:
                    self._note(self._stale, site.node, StaleBackward(node, op, site))
