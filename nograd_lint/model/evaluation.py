"""Evaluation regions: code that runs a model only to look at its outputs.

Collected once per module during the traversal, for NG101 and NG105.  A region is evaluation
code by one of three kinds of evidence:

* a function whose name says so (``evaluate``, ``validate``, ``predict``, ``infer``...; pytest
  ``test_*`` functions in test files excepted; more patterns from configuration);
* a ``for`` loop over data whose name says so (``val_loader``, ``test_set``, ``dev_data``);
* the statements after ``model.eval()`` / ``model.train(False)`` up to ``model.train()``.

A region that calls ``backward()``, ``autograd.grad`` or ``optimizer.step()`` is training, not
evaluation.  Inside an evaluation region, a forward call (``model(x)``, ``self.net(x)``,
``x.forward()``, a name that received ``.eval()``) with grad enabled builds a graph nobody
uses.  Each region is judged once, at its first such forward call; a forward already covered by
a region with stronger evidence (function name, then loop, then ``eval()``) is not reported
again.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from nograd_lint import libcst as cst

from nograd_lint.model.grad_mode import Grad, GradRegions, Where, constant_bool
from nograd_lint.model.layers import Layer
from nograd_lint.model.names import ImportResolver, dotted_name
from nograd_lint.vocabulary import (
    AUTOGRAD_GRAD, EVAL_DATA_WORDS, EVAL_FUNCTION_WORDS, OPTIMIZER_WORDS, is_test_file, names_a_model, words,
)

if TYPE_CHECKING:
    from nograd_lint.context import ModuleContext


def identifiers(expression: cst.CSTNode) -> list[str]:
    """Names and attribute names in an expression, e.g. ``enumerate(self.val_loader)``."""
    found, stack = [], [expression]
    while stack:
        node = stack.pop()
        if isinstance(node, cst.Name):
            found.append(node.value)
        elif isinstance(node, cst.Attribute):
            found.append(node.attr.value)
            stack.append(node.value)
        elif isinstance(node, cst.Call):
            stack.extend(arg.value for arg in node.args)
            if isinstance(node.func, cst.Attribute):
                stack.append(node.func.value)
        elif isinstance(node, cst.Subscript):
            stack.append(node.value)
    return found


def method_receiver(node: cst.Call, *methods: str) -> cst.BaseExpression | None:
    """The receiver of ``receiver.method(...)`` when the method is one of ``methods``."""
    if isinstance(node.func, cst.Attribute) and node.func.attr.value in methods:
        return node.func.value
    return None


@dataclass
class _Forward:
    call: cst.Call
    order: int
    where: Where
    klass: cst.ClassDef | None  # the class around it (``self.f()``)
    detached: bool = False


@dataclass
class _Function:
    node: cst.FunctionDef | None
    evaluation_name: str | None = None  # its own or an enclosing function's evaluation name
    forwards: list[_Forward] = field(default_factory=list)
    trains: list[int] = field(default_factory=list)  # order of backward/step calls
    evals: list[tuple[int, str]] = field(default_factory=list)  # order, "model.eval()"
    resumes: list[int] = field(default_factory=list)  # order of X.train() calls
    loops: list[tuple[cst.For, int, int, str]] = field(default_factory=list)
    # Other calls (and the class around them): one of a function that sets gradients off
    # itself (``model.generate(...)``) runs models without them.
    calls: list[tuple[cst.Call, cst.ClassDef | None]] = field(default_factory=list)
    end: int = 0


@dataclass(frozen=True)
class Verdict:
    """An evaluation region that runs forward passes with gradients enabled."""

    code: str  # NG101 (name or loop evidence) or NG105 (only model.eval())
    forward: cst.Call  # the first forward call with grad enabled
    evidence: str  # e.g. "function 'validate'", "loop over 'val_loader'", "after 'model.eval()'"
    region: cst.CSTNode | None  # the FunctionDef or For to wrap in no_grad, if any
    whole_function: bool  # the region is a whole function that never trains


class EvaluationRegions(Layer):
    """The traversal participant; :meth:`verdicts` answers after the traversal."""

    requires = (ImportResolver, GradRegions)

    def __init__(self, context: ModuleContext) -> None:
        self.names, self.model, self.grad = context.names, context.model, context.grad
        self.config, self.path = context.config, context.path
        self._module = _Function(None)
        self._functions: dict[cst.FunctionDef, _Function] = {}
        self._done: list[_Function] = []  # in the order they end, inner functions first
        self._open_loops: list[tuple[cst.For, int, str]] = []
        self._detached: set[cst.CSTNode] = set()
        self._modules: set[str] = set()  # names that received .eval()/.train()
        self._verdicts: list[Verdict] | None = None
        self._runs_grad_forward: dict[cst.FunctionDef, bool] = {}

    def _record(self, function: cst.FunctionDef | None) -> _Function:
        return self._functions[function] if function is not None else self._module

    def _current(self) -> _Function:
        """The record of the innermost ``def`` around the node."""
        return self._record(self.model.named_function())

    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        name = node.name.value
        outer = self.model.named_function(below=node)
        inherited = self._record(outer).evaluation_name
        self._functions[node] = _Function(node, name if self._is_eval_function(name) else inherited)

    def leave_FunctionDef(self, node: cst.FunctionDef) -> None:
        function = self._functions[node]
        function.end = self.model.index
        self._done.append(function)

    def visit_For(self, node: cst.For) -> None:
        named = [name for name in identifiers(node.iter) if words(name) & EVAL_DATA_WORDS]
        self._open_loops.append((node, self.model.index, named[0] if named else ""))

    def leave_For(self, node: cst.For) -> None:
        loop, start, name = self._open_loops.pop()
        if name:
            self._current().loops.append((loop, start, self.model.index, name))

    def visit_Assign(self, node: cst.Assign) -> None:
        # ``encoder = EncoderCNN(...).eval()``: the name holds a model in eval mode.
        value = node.value
        if (isinstance(value, cst.Call) and method_receiver(value, "eval") is not None
                and dotted_name(value.func.value) is None and len(node.targets) == 1):
            name = dotted_name(node.targets[0].target)
            if name is not None:
                self._modules.add(name)
                self._current().evals.append((self.model.index, f"{name}.eval()"))

    def visit_Attribute(self, node: cst.Attribute) -> None:
        if node.attr.value == "detach":
            self._detached.add(node.value)

    def visit_Call(self, node: cst.Call) -> None:
        function = self._current()
        receiver = method_receiver(node, "eval", "train")
        if receiver is not None:
            self._note_mode_switch(node, receiver, function)
        elif method_receiver(node, "backward") is not None or \
                self.names.qualified_name(node.func) in AUTOGRAD_GRAD:
            function.trains.append(self.model.index)
        elif (step := method_receiver(node, "step")) is not None:
            if any(words(name) & OPTIMIZER_WORDS for name in identifiers(step)):
                function.trains.append(self.model.index)
        elif self._is_model_call(node):
            function.forwards.append(_Forward(node, self.model.index, self.grad.where(),
                                              self.model.enclosing_class()))
        else:
            function.calls.append((node, self.model.enclosing_class()))

    def _note_mode_switch(self, node: cst.Call, receiver: cst.BaseExpression, function: _Function) -> None:
        name = dotted_name(receiver)
        if name is None:
            return
        self._modules.add(name)
        method = node.func.attr.value
        flag = constant_bool(node.args[0].value) if node.args else None
        if (method == "eval" and not node.args) or (method == "train" and flag is False):
            function.evals.append((self.model.index, f"{name}.{method}({'False' if flag is False else ''})"))
        elif method == "train" and flag is not False:
            function.resumes.append(self.model.index)

    def leave_Call(self, node: cst.Call) -> None:
        forwards = self._current().forwards
        if forwards and forwards[-1].call is node and node in self._detached:
            forwards[-1].detached = True

    def _is_model_call(self, call: cst.Call) -> bool:
        func = call.func
        if isinstance(func, cst.Attribute) and func.attr.value == "forward":
            return True
        if isinstance(func, cst.Name) and func.value == "self":
            return True
        name = dotted_name(func)
        if name is None or self.names.qualified_name(func) is not None:
            return False  # torch.* and other imported callables are not the user's model
        if name in self._modules:
            return True
        return names_a_model(name.rsplit(".", 1)[-1])

    # ------------------------------------------------------------------ verdicts
    def verdicts(self) -> list[Verdict]:
        if self._verdicts is None:
            self._module.end = self.model.index
            self._verdicts = []
            covered: set[int] = set()
            for function in [*self._done, self._module]:
                for region in self._regions(function):
                    self._judge(function, *region, covered)
        return self._verdicts

    def _regions(self, function: _Function):
        """(start, end, evidence, code, node to wrap) for each region, strongest evidence first."""
        if function.node is not None and self._is_pytest_test(function.node.name.value):
            return  # a test runs models however it needs to
        if function.evaluation_name is not None:
            yield 0, function.end, f"function '{function.evaluation_name}'", "NG101", function.node
        for loop, start, end, iterable in function.loops:
            yield start, end, f"loop over '{iterable}'", "NG101", loop
        for order, call in function.evals:
            resume = min((r for r in function.resumes if r > order), default=function.end + 1)
            yield order, resume, f"after '{call}'", "NG105", None

    def _is_pytest_test(self, name: str) -> bool:
        return name.startswith("test") and is_test_file(self.path)

    def _is_eval_function(self, name: str) -> bool:
        if self._is_pytest_test(name):
            return False
        patterns = self.config.eval_function_patterns
        return bool(words(name) & EVAL_FUNCTION_WORDS) or any(re.search(p, name) for p in patterns)

    def _with_grad(self, forward: _Forward) -> bool:
        """Does ``forward`` run a model with gradients enabled?  Not where they are off, nor as
        a call of a function that sets them off itself (``@torch.no_grad()``, a framework's
        ``generate``) or runs no forward pass with them (``self.generate_from_model(...)``,
        whose only forward is a ``model.generate(...)``)."""
        if self.grad.state(forward.where) is not Grad.ENABLED:
            return False
        callees = self.model.callees(forward.call.func, forward.klass)
        if self.grad.callee_grad(forward.call, callees) is Grad.DISABLED:
            return False
        return not callees or any(self._grad_forward_in(f) for f in callees)

    def _grad_forward_in(self, function: cst.FunctionDef) -> bool:
        """May ``function`` run a forward pass with gradients?  Yes, unless something shows it
        runs its models without them (a forward in a disabled region, a call of a function
        that disables them) and no forward with them is seen: not every forward is named like
        one (``self.conv(x)``)."""
        known = self._runs_grad_forward.get(function)
        if known is None:
            self._runs_grad_forward[function] = False  # recursion: settled by the other calls
            record = self._functions[function]
            enabled = [self._with_grad(f) for f in record.forwards if not f.detached]
            known = any(enabled) or not enabled and not any(
                self.grad.callee_grad(call, self.model.callees(call.func, klass)) is Grad.DISABLED
                for call, klass in record.calls)
            self._runs_grad_forward[function] = known
        return known

    def _judge(self, function: _Function, start: int, end: int, evidence: str, code: str,
               region: cst.CSTNode | None, covered: set[int]) -> None:
        if any(start <= order <= end for order in function.trains):
            return  # it trains: not evaluation code
        forwards = [f for f in function.forwards if start <= f.order <= end and not f.detached
                    and self._with_grad(f)]
        if not forwards or any(id(f.call) in covered for f in forwards):
            return
        covered.update(id(f.call) for f in forwards)
        whole = region is function.node and not function.trains
        self._verdicts.append(Verdict(code, forwards[0].call, evidence, region, whole))
