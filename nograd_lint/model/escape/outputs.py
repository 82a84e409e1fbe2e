"""Where a forward pass's output goes: to a gradient consumer, or only to be looked at.

The escape analysis' other question, on the same scopes, bindings, uses and parent links
(:class:`~nograd_lint.model.bindings.Bindings`): NG106 asks whether a tensor made under
``no_grad`` can reach code that needs gradients; NG101 and NG105 ask whether the output of a
forward pass run *with* gradients can reach one (then it is training), or only reaches places
that look at it (then its graph is wasted), and NG301 whether a value is trained against.

A value is followed up the tree from the expression that makes it, a step per parent type, and
through names it is assigned to (uses the assignment reaches: a later rebinding that surely runs
in between, in a block around the use, ends it), containers it is stored in, loops over it, and
the calls of a function that returns it.  Its :class:`Fate`:

* ``TRAINING``: it can reach ``backward()`` (as receiver or argument), ``torch.autograd.grad``
  or ``autograd.backward``, ``requires_grad_``/``retain_grad``/``register_hook``, or is returned
  by a ``forward``/``__call__``, by a function named like training (``training_step``) or a
  loss (``compute_loss``), or returned as a loss (through a ``*loss*``/``criterion`` call or a
  ``loss`` name) by a function not named like evaluation;
* ``INFERENCE``: every path ends where nothing differentiates it, and one at least where its
  values are looked at: ``.item()``, ``.tolist()``,
  ``.numpy()``, ``.detach()``, ``.data``, comparisons and conditions, indices,
  printing, f-strings, logging and summary writers, saving and plotting (``save_image``,
  ``make_grid``, ``torch.save``, matplotlib), NumPy and metrics;
* ``UNKNOWN``: anything else (stored in an attribute, passed to code the analysis does not
  know, returned to callers it cannot see, never used, or only its metadata read: ``.shape``,
  ``.size()``, ``len()``, ``isinstance()``).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

from nograd_lint import libcst as cst

from nograd_lint.model.bindings import Bindings, target_names
from nograd_lint.model.escape.reaching import Reaching, parameter_bound
from nograd_lint.model.grad_mode import GradRegions
from nograd_lint.model.layers import Layer
from nograd_lint.model.names import ImportResolver, dotted_name
from nograd_lint.vocabulary import (
    AUTOGRAD_METHODS, BACKWARD_FUNCTIONS, CONVERSION_METHODS, EVAL_FUNCTION_WORDS, HOOK_METHODS,
    INSPECTING_FUNCTIONS, INSPECTING_MODULES, LOGGING_METHODS, LOSS_WORDS, METADATA_ATTRIBUTES,
    METRIC_WORDS, NONDIFFERENTIABLE_FUNCTIONS, NONDIFFERENTIABLE_METHODS, NUMERIC_MODULES,
    PASSING_BUILTINS, PLAIN_BUILTINS, STORING_METHODS, TENSOR_ARGUMENT_METHODS, words,
)

if TYPE_CHECKING:
    from nograd_lint.context import ModuleContext

#: Functions whose return value is what training differentiates.
_TRAINING_RETURNS = frozenset({"forward", "__call__"})
#: Statements and expressions that look at a value and keep nothing of it.
_CONSUMERS = frozenset({"Comparison", "FormattedString", "FormattedStringExpression", "If",
                        "While", "Assert", "Del"})
_CARRIERS = frozenset({"BinaryOperation", "BooleanOperation", "Tuple", "List", "Set", "Dict",
                       "ListComp", "SetComp", "DictComp", "GeneratorExp", "Await",
                       "StarredElement", "Element", "DictElement"})
#: Attributes that tell whether a graph was recorded: code reading them wants one.
_AUTOGRAD_STATE = frozenset({"grad", "grad_fn", "requires_grad", "is_leaf"})
#: Reads of a tensor's metadata: they look at no value, so they are no evidence of inference
#: (``model(dummy).shape`` probes a size) and neither keep nor differentiate it.
_SHAPE_QUERIES = frozenset({
    "size", "dim", "ndimension", "numel", "nelement", "element_size", "is_inference",
    "is_floating_point", "is_complex", "is_contiguous", "get_device", "data_ptr", "stride",
    "storage_offset", "__len__",
})
_SHAPE_BUILTINS = frozenset({"len", "isinstance", "issubclass", "type", "id", "hash", "callable",
                             "hasattr"})
#: How far one value is followed before the analysis gives up (UNKNOWN).
_BUDGET = 2000


class Fate(enum.IntEnum):
    """The strongest place a value reaches; combining takes the maximum."""

    INFERENCE = 0
    UNKNOWN = 1
    TRAINING = 2


@dataclass(frozen=True)
class Outputs:
    fate: Fate
    reason: str  # the place that decided it: "'loss.backward()'", "'save_image()'"...
    sinks: tuple[str, ...] = ()  # where the value is looked at, when INFERENCE


class _Stop(Exception):
    def __init__(self, fate: Fate, reason: str) -> None:
        super().__init__(reason)
        self.fate, self.reason = fate, reason


class OutputFlow(Layer):
    """Answers :meth:`outputs` after the traversal (it records nothing of its own)."""

    requires = (ImportResolver, GradRegions, Bindings)

    def __init__(self, context: ModuleContext) -> None:
        self.names, self.model = context.names, context.model
        self.bindings: Bindings = context.layer(Bindings)
        self.reach = Reaching(self.bindings)
        self._cache: dict[cst.CSTNode, Outputs] = {}

    def registers_hooks(self) -> bool:
        """Forward hooks may keep what a forward computes, wherever its output goes."""
        return any(method in self.bindings.attribute_refs for method in HOOK_METHODS)

    def outputs(self, value: cst.BaseExpression,
                is_model_call: Callable[[cst.Call], bool] = lambda call: False) -> Outputs:
        """Where ``value`` (an expression of the module, e.g. a forward call) can go;
        ``is_model_call`` tells which calls are forward passes (their output carries their
        arguments on)."""
        if value not in self._cache:
            self._cache[value] = _Follow(self, is_model_call).run(value)
        return self._cache[value]


class _Follow:
    """One value's walk: a worklist of expressions carrying it (with whether it is a loss by
    then) and of names holding it."""

    def __init__(self, flow: OutputFlow, is_model_call: Callable[[cst.Call], bool]) -> None:
        self.flow, self.bindings, self.names, self.reach = flow, flow.bindings, flow.names, flow.reach
        self.is_model_call = is_model_call
        self.work: list[tuple[cst.CSTNode, bool]] = []
        self.seen: set[tuple[int, bool]] = set()
        self.sinks: list[str] = []
        self.unknown: str | None = None

    def run(self, value: cst.BaseExpression) -> Outputs:
        self._push(value, False)
        budget = _BUDGET
        try:
            while self.work:
                budget -= 1
                if budget == 0:
                    raise _Stop(Fate.UNKNOWN, "it is used in too many places to follow")
                node, loss = self.work.pop()
                self._step(node, loss)
        except _Stop as stop:
            if stop.fate is Fate.TRAINING:
                return Outputs(Fate.TRAINING, stop.reason)
            self.unknown = self.unknown or stop.reason
        if self.unknown is not None:
            return Outputs(Fate.UNKNOWN, self.unknown)
        if not self.sinks:
            return Outputs(Fate.UNKNOWN, "its output is never used")
        sinks = tuple(dict.fromkeys(self.sinks))
        return Outputs(Fate.INFERENCE, sinks[0], sinks)

    # ------------------------------------------------------------------ bookkeeping
    def _push(self, node: cst.CSTNode, loss: bool) -> None:
        key = (id(node), loss)
        if key not in self.seen:
            self.seen.add(key)
            self.work.append((node, loss))

    def _sink(self, shown: str) -> None:
        self.sinks.append(shown)

    def _unknown(self, reason: str) -> None:
        # Keep following: a gradient consumer elsewhere still decides the fate.
        self.unknown = self.unknown or reason

    # ------------------------------------------------------------------ one step up
    def _step(self, node: cst.CSTNode, loss: bool) -> None:
        parent = self.bindings.parent.get(node)
        kind = type(parent).__name__
        if parent is None:
            self._unknown("it leaves the code the analysis sees")
        elif kind == "Attribute":
            self._attribute(parent, loss)
        elif kind == "Call":
            if parent.func is node:
                self._unknown("it is called")
            else:
                self._argument(node, parent, loss)
        elif kind in _CARRIERS:
            self._push(parent, loss)
        elif kind == "UnaryOperation":
            if isinstance(parent.operator, cst.Not):
                self._sink("a condition")
            else:
                self._push(parent, loss)
        elif kind == "IfExp":
            if parent.test is node:
                self._sink("a condition")
            else:
                self._push(parent, loss)
        elif kind == "Subscript":
            if parent.value is node:
                self._push(parent, loss)
            else:
                self._sink("an index")
        elif kind == "Comparison" and all(
                isinstance(c.operator, (cst.Is, cst.IsNot, cst.In, cst.NotIn))
                for c in parent.comparisons):
            pass  # ``out is None``, ``"logits" in out`` look at no value
        elif kind in _CONSUMERS:
            self._sink("a comparison" if kind == "Comparison" else "a condition or f-string")
        elif kind == "Expr":
            pass  # a value thrown away: nothing keeps it
        elif kind in ("For", "CompFor"):
            if parent.iter is node:
                self._targets(parent.target, loss)
            else:
                self._unknown("it is a loop target")
        elif kind == "NamedExpr":
            self._targets(parent.target, loss)
            self._push(parent, loss)
        elif kind in ("Assign", "AnnAssign", "AugAssign"):
            if kind == "Assign":
                for target in parent.targets:
                    self._targets(target.target, loss)
            else:
                self._targets(parent.target, loss)
        elif kind == "Return":
            self._returned(parent, loss)
        else:
            self._unknown(f"it reaches a {kind.lower()} the analysis does not follow")

    def _attribute(self, attribute: cst.Attribute, loss: bool) -> None:
        name = attribute.attr.value
        call = self.bindings.parent.get(attribute)
        if isinstance(call, cst.Call) and call.func is attribute:
            self._method(name, call, loss)
        elif name == "data":
            self._sink("'.data'")
        elif name in _AUTOGRAD_STATE:
            self._unknown(f"its autograd state '.{name}' is read")
        elif name in METADATA_ATTRIBUTES:
            pass  # metadata: see _SHAPE_QUERIES
        else:
            holder = self.bindings.parent.get(attribute)
            if isinstance(holder, (cst.Assign, cst.AugAssign, cst.AnnAssign)) and holder.value is not attribute:
                self._unknown(f"its '.{name}' is set")
            else:
                self._push(attribute, loss or bool(words(name) & LOSS_WORDS))

    def _method(self, method: str, call: cst.Call, loss: bool) -> None:
        """``value.method(...)``."""
        if method in AUTOGRAD_METHODS:
            raise _Stop(Fate.TRAINING, f"'.{method}()'")
        if method in _SHAPE_QUERIES:
            return
        if method == "detach" or method in CONVERSION_METHODS or method in NONDIFFERENTIABLE_METHODS:
            self._sink(f"'.{method}()'")
        else:
            self._push(call, loss)  # views, casts, reductions, arithmetic: the result carries it

    def _argument(self, node: cst.CSTNode, call: cst.Call, loss: bool) -> None:
        """``f(..., value, ...)``."""
        func = call.func
        shown = f"'{dotted_name(func) or 'a call'}()'"
        qualified = self.names.qualified_name(func) or ""
        last = func.attr.value if isinstance(func, cst.Attribute) else (dotted_name(func) or "")
        if qualified in BACKWARD_FUNCTIONS or "backward" in words(last):  # ``manual_backward``
            raise _Stop(Fate.TRAINING, shown)
        if qualified:
            if qualified in NONDIFFERENTIABLE_FUNCTIONS or last in INSPECTING_FUNCTIONS or any(
                    qualified == m or qualified.startswith(m + ".")
                    for m in INSPECTING_MODULES | NUMERIC_MODULES):
                self._sink(shown)
            elif qualified.startswith("torch."):
                self._push(call, loss or bool(words(last) & LOSS_WORDS))
            else:
                self._unknown(f"it is passed to {shown}")
            return
        if isinstance(func, cst.Name):
            if func.value in _SHAPE_BUILTINS and self._builtin(func):
                return
            if func.value in PLAIN_BUILTINS and self._builtin(func):
                self._sink(shown)
                return
            if func.value in PASSING_BUILTINS and self._builtin(func):
                self._push(call, loss)
                return
        callee_words = words(last)
        if isinstance(func, cst.Attribute):
            receiver_words = set().union(*(words(n) for n in (dotted_name(func.value) or "").split(".")))
            if last in STORING_METHODS:
                self._stored(func.value, loss)
                return
            if last in LOGGING_METHODS or (last == "update" and receiver_words & METRIC_WORDS):
                self._sink(shown)
                return
            if last in TENSOR_ARGUMENT_METHODS:
                self._push(call, loss)
                return
        if last in INSPECTING_FUNCTIONS or callee_words & METRIC_WORDS:
            self._sink(shown)
        elif callee_words & LOSS_WORDS:
            self._push(call, True)
        elif self.is_model_call(call) or self._submodule(func):
            self._push(call, loss)
        elif not self._into_callees(node, call, loss):
            self._unknown(f"it is passed to {shown}")

    def _submodule(self, func: cst.BaseExpression) -> bool:
        """``self.fc_val(x)`` where ``fc_val`` is no method of this module: a layer."""
        return (isinstance(func, cst.Attribute) and isinstance(func.value, cst.Name)
                and func.value.value == "self" and func.attr.value not in self.flow.model.methods_by_name)

    def _into_callees(self, node: cst.CSTNode, call: cst.Call, loss: bool) -> bool:
        """``helper(value)``, ``self._accumulate(value)``: into the parameter of each of this
        module's functions the call may run (what they return comes back through their
        call sites).  False when there are none, or the argument cannot be matched."""
        func = call.func
        if isinstance(func, cst.Name) and self.names.qualified_name(func) is not None:
            return False
        callees = self.flow.model.callees(func, None, any_class=True)
        if not callees:
            return False
        argument = next((a for a in call.args if a.value is node), None)
        if argument is None or argument.star:
            return False
        for callee in callees:
            parameter = parameter_bound(callee, call, argument)
            binding = self.reach.event(parameter) if parameter is not None else None
            if binding is None:
                return False
            for use in self.reach.uses_reached(binding):
                self._push(use.node, loss)
        return True

    def _builtin(self, func: cst.Name) -> bool:
        return self.names.qualified_name(func) is None and not self.bindings.binds(func.value)

    # ------------------------------------------------------------------ names
    def _targets(self, target: cst.BaseExpression, loss: bool) -> None:
        for simple in target_names(target):
            if isinstance(simple, cst.Name):
                self._name(simple, loss or bool(words(simple.value) & LOSS_WORDS))
            elif isinstance(simple, cst.Subscript):
                self._stored(simple.value, loss)
            else:
                self._unknown(f"it is stored in '{dotted_name(simple) or 'an attribute'}'")

    def _stored(self, container: cst.BaseExpression, loss: bool) -> None:
        """Stored in ``container`` (``outs.append(value)``, ``outs[i] = value``): the
        container carries it, if it is a plain local name."""
        root = container
        while isinstance(root, cst.Subscript):
            root = root.value
        if not isinstance(root, cst.Name):
            self._unknown(f"it is stored in '{dotted_name(root) or 'a container'}'")
            return
        binding = self.reach.binding_before(root)
        if binding is None:
            self._unknown(f"it is stored in '{root.value}', which comes from elsewhere")
            return
        # A list of losses returned is no loss returned (``fit()`` returning validation losses).
        for use in self.reach.uses_reached(binding, after=self.reach.order(root)):
            self._push(use.node, False)

    def _name(self, name: cst.Name, loss: bool) -> None:
        binding = self.reach.event(name)
        if binding is None:
            self._unknown(f"it is stored in '{name.value}'")
            return
        scope = binding.scope
        if name.value in scope.declared or scope.is_class:
            self._unknown(f"it is stored in '{name.value}', which outlives the function")
        for use in self.reach.uses_reached(binding):
            self._push(use.node, loss)

    # ------------------------------------------------------------------ returns
    def _returned(self, statement: cst.Return, loss: bool) -> None:
        function = self.reach.enclosing_function(statement)
        if function is None:
            self._unknown("it is returned")
            return
        name = function.name.value
        name_words = words(name)
        if name in _TRAINING_RETURNS or name_words & LOSS_WORDS or (
                "step" in name_words and name_words & {"train", "training"}):
            raise _Stop(Fate.TRAINING, f"the return value of '{name}()'")
        if loss and not name_words & EVAL_FUNCTION_WORDS:
            raise _Stop(Fate.TRAINING, f"a loss returned by '{name}()'")
        for site in self.reach.call_sites(function):
            self._push(site, loss)
        if not self.reach.callers_all_known(function):
            self._unknown(f"'{name}()' returns it to callers the analysis cannot see")
