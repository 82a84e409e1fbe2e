"""The expression half of the leaf interpreter: what an expression evaluates to, and the
in-place updates, saves for backward and ``backward()`` calls it makes on the way (calls in
:mod:`~nograd_lint.model.leaves.calls`, the records in :mod:`~nograd_lint.model.leaves.writes`).

:class:`~nograd_lint.model.leaves.interpreter.Interpreter` adds the statements on top.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from nograd_lint import libcst as cst

from nograd_lint.model.grad_mode import Grad
from nograd_lint.model.leaves.calls import Calls
from nograd_lint.model.leaves.values import TENSORS, Kind, State, Value, meet, requires_grad
from nograd_lint.model.leaves.writes import Writes
from nograd_lint.model.names import dotted_name
from nograd_lint.tree import children, is_expression
from nograd_lint.vocabulary import PLAIN_RESULTS, WEIGHTS, is_module_class

if TYPE_CHECKING:
    from nograd_lint.model.leaves import LeafAnalysis


@dataclass
class Loop:
    """A loop being interpreted, and the states its ``continue``/``break`` statements leave."""

    node: cst.CSTNode
    continues: list = field(default_factory=list)
    breaks: list = field(default_factory=list)


class ExpressionInterpreter(Calls, Writes):
    """Evaluates expressions for a :class:`LeafAnalysis`, adding what it finds to its records."""

    def __init__(self, analysis: LeafAnalysis) -> None:
        self.names, self.model, self.grad = analysis.names, analysis.model, analysis.grad
        self._where, self._applied = analysis.where_of, analysis.applied
        self._callers = analysis.callers
        self._inplace, self._rebindings, self._stale = (
            analysis.found_inplace, analysis.found_rebindings, analysis.found_stale)
        self._quiet = 0  # >0 while evaluating class attributes, which reports nothing
        self._statement_now: cst.CSTNode | None = None  # the statement being interpreted
        self._loops: list[Loop] = []
        self._class_attributes: dict[cst.ClassDef, dict[str, Value | None]] = {}
        self._summaries: dict[cst.FunctionDef, Value | None] = {}  # what functions return
        self._returned: list | None = None  # while one is summarised: its returned values
        self.shared: dict[str, Value] = {}  # the module-level values every function sees
        # The module's functions each call may run (set by the analysis), and what the calls
        # where gradients are on bind their parameters to (see ``_bind_arguments``).
        self.calls: dict[cst.Call, list[cst.FunctionDef]] = {}
        self.bound: dict[cst.FunctionDef, dict[str, Value]] = {}
        self._rebound: list[cst.FunctionDef] = []  # functions with a parameter newly bound
        self._function_now: cst.FunctionDef | None = None  # the function being interpreted

    def take_rebound(self) -> list[cst.FunctionDef]:
        """The functions that a parameter was bound of since the last call."""
        rebound, self._rebound = self._rebound, []
        return rebound

    # ------------------------------------------------------------------ expressions
    def _expression(self, node: cst.BaseExpression, state: State, grad: Grad) -> Value | None:
        """The value of ``node``, noting the in-place updates and backward calls inside it."""
        kind = type(node)  # exact types: these classes have no subclasses, and are ABCs
        if kind is cst.Name or kind is cst.Attribute:
            return self._reference(node, state, grad)
        if kind is cst.Call:
            return self._call(node, state, grad)
        if kind is cst.BinaryOperation:
            left = self._expression(node.left, state, grad)
            right = self._expression(node.right, state, grad)
            return self._binary(node, left, right, state, grad)
        if kind is cst.UnaryOperation:
            return self._derived(self._expression(node.expression, state, grad), grad)
        if kind is cst.Subscript:
            base = self._expression(node.value, state, grad)
            for element in node.slice:
                self._scan(element, state, grad)
            if base is not None and base.kind is Kind.GROUP:
                return Value(Kind.PARAMS, "an optimizer's param_groups")
            if base is not None and base.kind is Kind.GROUPS:
                return Value(Kind.GROUP)
            if base is not None and base.kind is Kind.MODULE:  # ``self.blocks[0]``
                return replace(base, classes=frozenset())
            return self._derived(base, grad)
        if kind is cst.IfExp:
            self._expression(node.test, state, grad)
            body = self._expression(node.body, state, grad)
            orelse = self._expression(node.orelse, state, grad)
            # ``nn.Parameter(...) if cond else None``: the None branch cannot be updated.
            if is_none(node.orelse):
                return body
            if is_none(node.body):
                return orelse
            return meet(body, orelse) if body is not None else None
        if isinstance(node, (cst.Lambda, cst.GeneratorExp, cst.ListComp, cst.SetComp, cst.DictComp)):
            return None  # their own scope, run later or never
        if kind is cst.List and not node.elements:
            return Value(Kind.EMPTY)
        self._scan(node, state, grad)
        return None

    def _scan(self, node: cst.CSTNode, state: State, grad: Grad) -> None:
        for child in children(node):
            if is_expression(child):
                self._expression(child, state, grad)
            else:
                self._scan(child, state, grad)

    def _reference(self, node: cst.Name | cst.Attribute, state: State, grad: Grad) -> Value | None:
        key = dotted_name(node)
        if key is not None and key in state.values:
            return state.values[key]
        if isinstance(node, cst.Attribute):
            base = self._expression(node.value, state, grad)
            attribute = node.attr.value
            if attribute == "param_groups" and not _is_self(node.value):
                return Value(Kind.GROUPS)  # an optimizer's (``self``'s: in an Optimizer only)
            if base is not None and base.kind is Kind.MODULE:
                return self._module_attribute(base, attribute)
            if attribute.startswith("original") and _parametrized(node.value) and base is not None \
                    and base.kind is Kind.LEAF:  # ``m.parametrizations.weight.original``
                return Value(Kind.LEAF, "a parametrization's original parameter")
            if attribute in PLAIN_RESULTS and base is not None and base.kind in TENSORS:
                return Value(Kind.PLAIN)
            if attribute in ("T", "mT") and base is not None:
                return self._derived(base, grad)
            if base is not None:
                return None
        return self._class_value(node)

    def _class_value(self, node: cst.BaseExpression) -> Value | None:
        """A module class, as a value: ``nn.Linear``, or a class of this module that derives
        from a torch module."""
        qualified = self.names.qualified_name(node)
        if qualified is not None:
            return Value(Kind.FACTORY, classes=frozenset({qualified})) \
                if is_module_class(qualified) else None
        if type(node) is cst.Name:
            klass = self._module_class(node.value)
            if klass is not None:
                return Value(Kind.FACTORY, classes=frozenset({klass}))
        return None

    def _module_class(self, name: str) -> cst.ClassDef | None:
        """This module's class ``name``, if it derives from a torch module."""
        klass = self.model.classes.get(name)
        if klass is not None and any(is_module_class(q) for q in self.grad.ancestors(klass)):
            return klass
        return None

    def _module_attribute(self, module: Value, attribute: str) -> Value | None:
        """``<module>.<attribute>``: a registered parameter or layer of the module's class, a
        ``weight``/``bias`` (a parameter of any torch layer), or else a submodule."""
        if module.frozen:
            return Value(Kind.PLAIN) if attribute in WEIGHTS else replace(module, classes=frozenset())
        known, assigned = self._registered(module.classes, attribute)
        if known is not None and known.kind is Kind.LEAF:
            return replace(known, in_module=True)
        if known is not None and known.kind is Kind.MODULE:
            return known
        if attribute in WEIGHTS:
            return None if assigned else Value(Kind.LEAF, f"a layer's .{attribute}", in_module=True)
        if known is not None:  # a plain tensor or a number: no module
            return None
        return Value(Kind.MODULE, f"a submodule .{attribute}")

    def _registered(self, classes: frozenset, attribute: str) -> tuple[Value | None, bool]:
        """What every one of this module's ``classes`` assigns to ``self.<attribute>``, and
        whether some assigns it at all."""
        key = f"self.{attribute}"
        found: list[Value | None] = []
        for klass in classes:
            if isinstance(klass, cst.ClassDef):
                attributes = self._attributes(klass)
                if key in attributes:
                    found.append(attributes[key])
        if not found:
            return None, False
        value = found[0]
        for other in found[1:]:
            value = meet(value, other) if value is not None else None
        return value, True

    def _derived(self, base: Value | None, grad: Grad) -> Value | None:
        """A tensor computed from ``base`` by an op that saves nothing."""
        if base is None or base.kind not in TENSORS:
            return None
        if base.kind is Kind.PLAIN or grad is Grad.DISABLED:
            return Value(Kind.PLAIN)
        if grad is Grad.MANAGED:
            return None
        return Value(Kind.TRACKED, history=base.history)

    def _binary(self, node, left: Value | None, right: Value | None, state: State,
                grad: Grad) -> Value | None:
        if left is None and right is None:
            return None
        tracked = [v for v in (left, right) if requires_grad(v)]
        if not tracked or grad is not Grad.ENABLED:
            tensors = [v for v in (left, right) if v is not None and v.kind in TENSORS]
            plain = tensors and (grad is Grad.DISABLED or not tracked and all(
                v is not None or isinstance(operand, (cst.Integer, cst.Float))
                for v, operand in ((left, node.left), (right, node.right))))
            return Value(Kind.PLAIN) if plain else None
        history = frozenset().union(*(v.history for v in tracked))
        operator = node.operator
        saves_left = saves_right = False
        if isinstance(operator, (cst.Multiply, cst.MatrixMultiply)):
            saves_left, saves_right = requires_grad(right), requires_grad(left)
        elif isinstance(operator, cst.Divide):
            saves_left, saves_right = requires_grad(right), True
        elif isinstance(operator, cst.Power):
            saves_left, saves_right = True, requires_grad(right)
        saved = [(n, v) for n, v, s in ((node.left, left, saves_left), (node.right, right, saves_right))
                 if s and v is not None and v.kind in TENSORS]
        for operand, _ in saved:
            self._mark_saved(operand, node, state)
        return Value(Kind.TRACKED, history=history | ({node} if saved else frozenset()))

def _parametrized(node: cst.BaseExpression) -> bool:
    """``<module>.parametrizations.<name>``: the parametrized tensor, whose ``original`` (or
    ``original0``...) is the parameter that holds the data (``torch.nn.utils.parametrize``)."""
    return type(node) is cst.Attribute and type(node.value) is cst.Attribute \
        and node.value.attr.value == "parametrizations"


def _is_self(node: cst.BaseExpression) -> bool:
    return type(node) is cst.Name and node.value == "self"


def is_none(node: cst.BaseExpression) -> bool:
    return type(node) is cst.Name and node.value == "None"
