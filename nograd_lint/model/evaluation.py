"""Evaluation regions: code that runs a model only to look at its outputs.

Collected once per module during the traversal, for NG101 and NG105.  A region is evaluation
code by one of four kinds of evidence:

* a function whose name says so (``evaluate``, ``validate``, ``predict``, ``infer``...; pytest
  ``test_*`` functions and test helpers in test files excepted; more patterns from
  configuration);
* a ``for`` loop over data whose name says so (``val_loader``, ``test_set``, ``dev_data``);
* the statements after ``model.eval()`` / ``model.train(False)`` up to ``model.train()``;
* a forward pass whose outputs only reach places that look at them (``.item()``, ``.numpy()``,
  ``.detach()``, ``.data``, printing, logging, ``save_image``, metrics: the output flow of
  ``escape/outputs.py``), whatever the function is called: a GAN's ``sample_images()``, a plot
  after training, an agent picking an action.

A region that calls ``backward()``, ``autograd.grad`` or ``optimizer.step()``, or one of whose
forward outputs can reach such a gradient consumer (or a loss returned to training code, or a
``forward()``'s return value) is training, not evaluation.  Inside an evaluation region, a
forward call (``model(x)``, ``self.net(x)``, ``x.forward()``, a name that received ``.eval()`` or
was made by a model class, and, counted only when their outputs can be followed, other methods
of a model: ``model.decode(z)``, ``self.net.get_action(s)``) with grad enabled builds a graph
nobody uses.  Each region is judged once, at its first such forward call; a forward already
covered by a region with stronger evidence (function name, then loop, then ``eval()``, then
outputs) is not reported again.  A region's fix is offered only when every output of its
forwards is followed to an end that looks at it (none may reach a gradient consumer).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from nograd_lint import libcst as cst

from nograd_lint.model.escape.outputs import Fate, OutputFlow, Outputs
from nograd_lint.model.grad_mode import Grad, GradRegions, Where, constant_bool
from nograd_lint.model.layers import Layer
from nograd_lint.model.names import ImportResolver, dotted_name
from nograd_lint.vocabulary import (
    AUTOGRAD_GRAD, EVAL_DATA_WORDS, EVAL_FUNCTION_WORDS, OPTIMIZER_WORDS,
    PLACEMENT_METHODS, constructs_a_model, is_test_file, may_be_model_method, names_a_model, words,
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
    method: bool = False  # a model's method other than forward: a forward only if its outputs tell


@dataclass
class _Function:
    node: cst.FunctionDef | None
    evaluation_name: str | None = None  # its own or an enclosing function's evaluation name
    forwards: list[_Forward] = field(default_factory=list)
    trains: list[int] = field(default_factory=list)  # order of backward/step calls
    evals: list[tuple[int, str]] = field(default_factory=list)  # order, "model.eval()"
    resumes: list[int] = field(default_factory=list)  # order of X.train() calls
    loops: list[tuple[cst.For, int, int, str]] = field(default_factory=list)
    models: set[str] = field(default_factory=set)  # parameters annotated with a model class
    end: int = 0


@dataclass(frozen=True)
class Verdict:
    """An evaluation region that runs forward passes with gradients enabled."""

    code: str  # NG101 (name or loop evidence) or NG105 (only model.eval())
    forward: cst.Call  # the first forward call with grad enabled
    evidence: str  # e.g. "function 'validate'", "loop over 'val_loader'", "after 'model.eval()'"
    region: cst.CSTNode | None  # the FunctionDef or For to wrap in no_grad, if any
    whole_function: bool  # the region is a whole function that never trains
    fixable: bool  # no output of its forwards can reach a gradient consumer


class EvaluationRegions(Layer):
    """The traversal participant; :meth:`verdicts` answers after the traversal."""

    requires = (ImportResolver, GradRegions, OutputFlow)

    def __init__(self, context: ModuleContext) -> None:
        self.names, self.model, self.grad = context.names, context.model, context.grad
        self.config, self.path = context.config, context.path
        self._module = _Function(None)
        self._functions: dict[cst.FunctionDef, _Function] = {}
        self._done: list[_Function] = []  # in the order they end, inner functions first
        self._open_loops: list[tuple[cst.For, int, str]] = []
        self.flow: OutputFlow = context.layer(OutputFlow)
        self._modules: set[str] = set()  # names that received .eval()/.train(), or a model
        self._instances: set[str] = set()  # names made by a model class (``E1 = Encoder()``)
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

    def visit_Param(self, node: cst.Param) -> None:
        # ``pl_module: pl.LightningModule``: the parameter holds a model.
        annotation = node.annotation.annotation if node.annotation is not None else None
        if annotation is not None and constructs_a_model(dotted_name(annotation) or ""):
            self._current().models.add(node.name.value)

    def visit_For(self, node: cst.For) -> None:
        named = [name for name in identifiers(node.iter) if words(name) & EVAL_DATA_WORDS]
        self._open_loops.append((node, self.model.index, named[0] if named else ""))

    def leave_For(self, node: cst.For) -> None:
        loop, start, name = self._open_loops.pop()
        if name:
            self._current().loops.append((loop, start, self.model.index, name))

    def visit_Assign(self, node: cst.Assign) -> None:
        value = made = node.value
        while (isinstance(made, cst.Call) and isinstance(made.func, cst.Attribute)
               and made.func.attr.value in PLACEMENT_METHODS):
            made = made.func.value
        if (isinstance(made, cst.Call) and len(node.targets) == 1
                and constructs_a_model(dotted_name(made.func) or "")):
            # ``E1 = Encoder(...)``, ``netG = Generator().to(device)``: the name holds a model.
            name = dotted_name(node.targets[0].target)
            if name is not None:
                self._modules.add(name)
                self._instances.add(name)
        # ``encoder = EncoderCNN(...).eval()``: the name holds a model in eval mode.
        if (isinstance(value, cst.Call) and method_receiver(value, "eval") is not None
                and dotted_name(value.func.value) is None and len(node.targets) == 1):
            name = dotted_name(node.targets[0].target)
            if name is not None:
                self._modules.add(name)
                self._current().evals.append((self.model.index, f"{name}.eval()"))

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
        else:  # which calls run a model is known only once every model name is (see _forwards)
            function.forwards.append(_Forward(node, self.model.index, self.grad.where(),
                                              self.model.enclosing_class()))

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

    def _forward_kind(self, call: cst.Call, function: _Function | None = None) -> str | None:
        """"forward" for a call (in ``function``) that runs a model, "method" for another
        method of a model (``model.decode(z)``), None otherwise."""
        models = (function or self._module).models
        func = call.func
        if isinstance(func, cst.Attribute) and func.attr.value == "forward":
            return "forward"
        if isinstance(func, cst.Name) and func.value == "self":
            return "forward"
        name = dotted_name(func)
        if name is None or self.names.qualified_name(func) is not None:
            return None  # torch.* and other imported callables are not the user's model
        if name in self._modules or name in models or names_a_model(name.rsplit(".", 1)[-1]):
            return "forward"
        receiver, _, method = name.rpartition(".")
        if (receiver and receiver != "self" and (
                receiver in self._instances or receiver in models
                or names_a_model(receiver.rsplit(".", 1)[-1]))
                and may_be_model_method(method, bool(call.args))):
            return "method"
        return None

    def _is_forward(self, call: cst.Call) -> bool:
        return self._forward_kind(call) is not None and not self._own_definition(call)

    def _own_definition(self, call: cst.Call) -> bool:
        """``train_model(...)``, ``Net(...)``, ``model.adapt(...)``: a function or class of
        this module, or a method of it that trains or is decorated ``@torch.no_grad()``; its
        own forwards are judged where they are."""
        func = call.func
        if isinstance(func, cst.Attribute):
            return any(self._functions[method].trains
                       or self.grad.callee_grad(call, [method]) is Grad.DISABLED
                       for method in self.model.methods_by_name.get(func.attr.value, ()))
        return isinstance(func, cst.Name) and (
            func.value in self.model.functions or func.value in self.model.classes)

    def _outputs(self, forward: _Forward) -> Outputs:
        return self.flow.outputs(forward.call, self._is_forward)

    # ------------------------------------------------------------------ verdicts
    def verdicts(self) -> list[Verdict]:
        if self._verdicts is None:
            self._module.end = self.model.index
            self._verdicts = []
            covered: set[int] = set()
            functions = [*self._done, self._module]
            for function in functions:
                for region in self._regions(function):
                    self._judge(function, *region, covered)
            for function in functions:
                self._judge_outputs(function, covered)
        return self._verdicts

    def _regions(self, function: _Function):
        """(start, end, evidence, code, node to wrap) for each region, strongest evidence first."""
        if function.node is not None and self._is_test_code(function.node.name.value):
            return  # a test runs models however it needs to
        if self._is_forward_body(function):
            # A model's forward runs in its caller's grad mode: only eval() inside it counts.
            yield from self._eval_regions(function)
            return
        if function.evaluation_name is not None:
            yield 0, function.end, f"function '{function.evaluation_name}'", "NG101", function.node
        for loop, start, end, iterable in function.loops:
            yield start, end, f"loop over '{iterable}'", "NG101", loop
        yield from self._eval_regions(function)

    @staticmethod
    def _eval_regions(function: _Function):
        for order, call in function.evals:
            resume = min((r for r in function.resumes if r > order), default=function.end + 1)
            yield order, resume, f"after '{call}'", "NG105", None

    @staticmethod
    def _is_forward_body(function: _Function) -> bool:
        """``forward``, ``forward_features``, ``_forward_impl``: a model's own computation."""
        return function.node is not None and "forward" in words(function.node.name.value)

    def _is_test_code(self, name: str) -> bool:
        """A pytest test or a test's helper (``encoder_test``) in a test file."""
        return "test" in words(name) and is_test_file(self.path)

    def _is_eval_function(self, name: str) -> bool:
        if self._is_test_code(name):
            return False
        patterns = self.config.eval_function_patterns
        return bool(words(name) & EVAL_FUNCTION_WORDS) or any(re.search(p, name) for p in patterns)

    def _judge(self, function: _Function, start: int, end: int, evidence: str, code: str,
               region: cst.CSTNode | None, covered: set[int]) -> None:
        if any(start <= order <= end for order in function.trains):
            return  # it trains: not evaluation code
        forwards = [(f, self._outputs(f)) for f in self._forwards(function)
                    if start <= f.order <= end]
        if any(outputs.fate is Fate.TRAINING for _, outputs in forwards):
            return  # an output can reach a gradient consumer: training code
        forwards = [(f, outputs) for f, outputs in forwards
                    if not f.method or outputs.fate is Fate.INFERENCE]
        if not forwards or any(id(f.call) in covered for f, _ in forwards):
            return
        covered.update(id(f.call) for f, _ in forwards)
        whole = region is function.node and not function.trains
        fixable = all(outputs.fate is Fate.INFERENCE for _, outputs in forwards)
        self._verdicts.append(Verdict(code, self._first(f for f, _ in forwards), evidence, region,
                                      whole, fixable))

    @staticmethod
    def _first(forwards) -> cst.Call:
        """Where a region is reported: its first call of a model, else of a model's method."""
        forwards = list(forwards)
        return next((f for f in forwards if not f.method), forwards[0]).call

    def _forwards(self, function: _Function) -> list[_Forward]:
        """The function's forward calls that run with gradients enabled: not where they are
        off, nor as a call of a function that sets them off itself (``@torch.no_grad()``, a
        framework's ``generate``)."""
        found = []
        for call in function.forwards:
            kind = self._forward_kind(call.call, function)
            if kind is not None and self.grad.state(call.where) is Grad.ENABLED \
                    and not self._own_definition(call.call) and self._callee_keeps_grad(call):
                call.method = kind == "method"
                found.append(call)
        return found

    def _callee_keeps_grad(self, forward: _Forward) -> bool:
        """Not a call of a function that switches gradients off itself, nor of one of this
        module's functions that runs no forward pass with them (``self.generate_from_model(...)``,
        whose only forward is a ``model.generate(...)``)."""
        callees = self.model.callees(forward.call.func, forward.klass)
        if self._disables(forward, callees):
            return False
        return not callees or any(self._grad_forward_in(f) for f in callees)

    def _disables(self, forward: _Forward, callees: list[cst.FunctionDef] | None = None) -> bool:
        if callees is None:
            callees = self.model.callees(forward.call.func, forward.klass)
        return self.grad.callee_grad(forward.call, callees) is Grad.DISABLED

    def _grad_forward_in(self, function: cst.FunctionDef) -> bool:
        """May ``function`` run a forward pass with gradients?  Yes, unless something shows it
        runs its models without them (a forward in a disabled region, a call of a function
        that disables them) and no forward with them is seen: not every forward is named like
        one (``self.conv(x)``)."""
        known = self._runs_grad_forward.get(function)
        if known is None:
            self._runs_grad_forward[function] = False  # recursion: settled by the other calls
            record = self._functions[function]
            models = [f for f in record.forwards if self._forward_kind(f.call, record) is not None]
            known = bool(self._forwards(record)) or not models and not any(
                self._disables(f) for f in record.forwards)
            self._runs_grad_forward[function] = known
        return known

    def _judge_outputs(self, function: _Function, covered: set[int]) -> None:
        """Forwards not in any other region whose outputs are only looked at: one verdict
        per function (or the module), at the first.  Not in test files (tests look at outputs
        by nature), nor in a model's ``forward``/``forward_features``..."""
        if is_test_file(self.path) or self._is_forward_body(function):
            return
        judged = [(f, self._outputs(f)) for f in self._forwards(function)
                  if id(f.call) not in covered]
        inference = [(f, o) for f, o in judged if o.fate is Fate.INFERENCE]
        if not inference or self.flow.registers_hooks():
            return
        covered.update(id(f.call) for f, _ in inference)
        first = self._first(f for f, _ in inference)
        outputs = next(o for f, o in inference if f.call is first)
        every = [f for f in self._forwards(function)
                 if not f.method or self._outputs(f).fate is not Fate.UNKNOWN]
        whole = (function.node is not None and not function.trains
                 and all(self._outputs(f).fate is Fate.INFERENCE for f in every))
        sinks = ", ".join(outputs.sinks[:3])
        self._verdicts.append(Verdict("NG101", first, f"outputs only reach {sinks}",
                                      function.node if whole else None, whole, whole))
