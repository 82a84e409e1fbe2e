"""NG101-NG105: evaluation with gradients enabled, and misuse of grad mode itself."""

from __future__ import annotations

from nograd_lint import libcst as cst

from nograd_lint.edits import under_no_grad
from nograd_lint.evaluation import Verdict, method_receiver
from nograd_lint.grad_regions import Grad, Where, constant_bool
from nograd_lint.names import dotted_name
from nograd_lint.rule import Fix, FixSafety, Rule
from nograd_lint.vocabulary import (
    AUTOGRAD_GRAD, ENABLE_GRAD, EVIDENCE_TEXT, INFERENCE_MODE, NO_GRAD, SET_GRAD_ENABLED,
)

# --------------------------------------------------------------------------------- NG102


class GradModeNotCalled(Rule):
    """``with torch.no_grad:`` without the call raises ``TypeError`` before the block runs.

    ``no_grad``, ``enable_grad``, ``inference_mode`` and ``set_grad_enabled`` are classes:
    ``with`` needs an instance.  Python 3.11 says ``TypeError: 'type' object does not support
    the context manager protocol``.  ``with torch.no_grad(False):`` fails too, because
    ``no_grad(False)`` takes ``False`` for a function to decorate.  (``inference_mode(False)``
    is legal and *enables* grad.)  The fix adds the missing parentheses.

    Bad::

        with torch.no_grad:
            outputs = model(inputs)

    Good::

        with torch.no_grad():
            outputs = model(inputs)
    """

    code = "NG102"
    name = "grad-mode-not-called"
    message = ("grad-mode context manager used without calling it raises TypeError: write "
               "'with torch.no_grad():' (with parentheses)")
    triggers = ("no_grad", "inference_mode", "enable_grad", "set_grad_enabled")
    fix_safety = FixSafety.SAFE
    severity = "error"
    features = frozenset({"grad-mode-with"})

    def visit_WithItem(self, node: cst.WithItem) -> None:
        expression = node.item
        qualified = self.context.names.qualified_name(
            expression.func if isinstance(expression, cst.Call) else expression)
        if qualified not in NO_GRAD | ENABLE_GRAD | INFERENCE_MODE | SET_GRAD_ENABLED:
            return
        short = qualified.rsplit(".", 1)[-1]
        if not isinstance(expression, cst.Call):
            fix = None
            if qualified not in SET_GRAD_ENABLED:
                fix = Fix(expression, cst.Call(func=expression))
            self.report(expression, f"'with {dotted_name(expression)}:' raises TypeError ('type' "
                        f"object does not support the context manager protocol): call it, "
                        f"'with {dotted_name(expression)}():'", fix)
        elif qualified in NO_GRAD | ENABLE_GRAD and expression.args:
            self.report(expression, f"{short}() takes no arguments: '{short}(False)' treats "
                        "False as a function to decorate and the with statement raises "
                        "TypeError; use 'torch.set_grad_enabled(flag)' for a conditional mode")


# --------------------------------------------------------------------------------- NG103


class GradModeLeak(Rule):
    """A bare ``torch.set_grad_enabled(False)`` in a function, never restored.

    Called as a statement, ``set_grad_enabled(False)`` switches gradients off for the whole
    thread until something switches them on again: every caller of this function, and all
    code after it, silently stops recording gradients (training then fails with ``element 0
    of tensors does not require grad``).  Use it as a context manager, or restore the previous
    mode in a ``finally``.  Module-level calls (scripts that never train) are not flagged.

    Bad::

        def predict(model, x):
            torch.set_grad_enabled(False)
            return model(x)

    Good::

        def predict(model, x):
            with torch.set_grad_enabled(False):
                return model(x)
    """

    code = "NG103"
    name = "grad-mode-leak"
    message = ("'set_grad_enabled(False)' as a statement leaks to every caller: use "
               "'with torch.set_grad_enabled(False):' or restore the mode in 'finally'")
    triggers = ("set_grad_enabled",)
    features = frozenset({"grad-mode-statement"})

    def __init__(self, context) -> None:
        super().__init__(context)
        # Per enclosing function: bare set_grad_enabled(False) calls not yet followed by
        # another set_grad_enabled call.
        self._pending: list[list[cst.Call]] = []
        self._bare_false: set[cst.Call] = set()  # set_grad_enabled(False) as a statement

    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        self._pending.append([])

    def leave_FunctionDef(self, node: cst.FunctionDef) -> None:
        for call in self._pending.pop():
            self.report(call)

    def visit_Expr(self, node: cst.Expr) -> None:
        call = node.value
        if isinstance(call, cst.Call) and call.args and constant_bool(call.args[0].value) is False:
            self._bare_false.add(call)

    def visit_Call(self, node: cst.Call) -> None:
        if self._pending and self.context.names.qualified_name(node.func) in SET_GRAD_ENABLED:
            # Any later set_grad_enabled(...) restores (or manages) the earlier ones.
            self._pending[-1][:] = [node] if node in self._bare_false else []


# --------------------------------------------------------------------------------- NG104


class BackwardWithoutGraph(Rule):
    """``backward()`` on a value computed where gradients are disabled.

    Under ``no_grad``/``inference_mode`` nothing is recorded, so a loss computed there has no
    ``grad_fn`` and ``loss.backward()`` raises ``RuntimeError: element 0 of tensors does not
    require grad and does not have a grad_fn``.  Calling ``backward()`` inside ``no_grad`` on a
    graph built *outside* it is fine (backward does not need grad mode) and is not flagged; an
    ``enable_grad()`` block inside the region re-enables recording.

    Bad::

        with torch.no_grad():
            loss = criterion(model(x), y)
            loss.backward()

    Good::

        loss = criterion(model(x), y)
        loss.backward()
    """

    code = "NG104"
    name = "backward-without-graph"
    message = ("backward() on a value computed with gradients disabled raises 'element 0 of "
               "tensors does not require grad': compute it outside 'no_grad'/'inference_mode'")
    triggers = ("backward", "autograd")  # torch.autograd.grad comes through an import
    needs = frozenset({"grad"})
    severity = "error"
    features = frozenset({"backward-without-grad", "grad-mode"})

    def __init__(self, context) -> None:
        super().__init__(context)
        # Per function: name -> where its current value was computed (None: not computed here)
        self._computed: list[dict[str, Where | None]] = [{}]
        self._candidates: list[tuple[cst.CSTNode, Where, Where]] = []

    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        self._computed.append({})

    def leave_FunctionDef(self, node: cst.FunctionDef) -> None:
        self._computed.pop()

    def visit_Assign(self, node: cst.Assign) -> None:
        origin = self._origin(node.value)
        for target in node.targets:
            if isinstance(target.target, cst.Name):
                self._computed[-1][target.target.value] = origin

    def _origin(self, value: cst.BaseExpression) -> Where | None:
        if isinstance(value, cst.Name):
            return self._computed[-1].get(value.value)
        if isinstance(value, cst.Call) and any(
                arg.keyword is not None and arg.keyword.value == "requires_grad" for arg in value.args):
            return None  # a fresh leaf that requires grad: backward on it works
        if isinstance(value, (cst.Call, cst.BinaryOperation, cst.UnaryOperation)):
            return self.context.grad.where()
        return None

    def visit_Call(self, node: cst.Call) -> None:
        receiver = method_receiver(node, "backward")
        if receiver is None and self.context.names.qualified_name(node.func) in AUTOGRAD_GRAD:
            receiver = node.args[0].value if node.args else None
        if receiver is None:
            return
        here = self.context.grad.where()
        origin = self._origin(receiver)
        if origin is not None:
            self._candidates.append((node, here, origin))

    def finish(self) -> None:
        grad = self.context.grad
        for node, here, origin in self._candidates:
            if grad.state(here) is Grad.DISABLED and grad.state(origin) is Grad.DISABLED:
                self.report(node)


# --------------------------------------------------------------------------- NG101, NG105


class EvaluationWithGrad(Rule):
    """Evaluation code runs forward passes with gradients enabled.

    Outside ``no_grad``/``inference_mode`` every forward pass records an autograd graph and
    keeps every intermediate activation alive as long as its output lives: an evaluation loop
    that collects outputs holds the memory of every batch's graph, and each forward is slower.
    Evaluation code is a function named like ``evaluate``/``validate``/``predict``/``infer``
    (more with ``eval-function-patterns``), or a loop over ``val``/``test``/``dev`` data, that
    never calls ``backward()`` or ``optimizer.step()``.  Reported once per region, at its first
    forward call.  The unsafe fix decorates the function with ``@torch.no_grad()`` or wraps
    the loop in ``with torch.no_grad():``.

    Bad::

        def validate(model, val_loader):
            return [model(x).argmax(1) for x, _ in val_loader]

    Good::

        @torch.no_grad()
        def validate(model, val_loader):
            return [model(x).argmax(1) for x, _ in val_loader]
    """

    code = "NG101"
    name = "evaluation-with-grad"
    message = ("evaluation code runs forward passes with gradients enabled: wrap it in "
               "'with torch.no_grad():' or 'torch.inference_mode()'")
    triggers = EVIDENCE_TEXT
    fix_safety = FixSafety.UNSAFE
    needs = frozenset({"grad", "evaluation"})
    features = frozenset({"eval-forward"})

    @classmethod
    def trigger_strings(cls, config) -> tuple[str, ...]:
        # Configured name patterns are regular expressions: no text can rule them out.
        return ("",) if config.eval_function_patterns else cls.triggers

    def finish(self) -> None:
        for verdict in self.context.evaluation.verdicts():
            if verdict.code == self.code:
                self.report(verdict.forward, f"evaluation code ({verdict.evidence}) runs forward "
                            "passes with gradients enabled: wrap it in 'with torch.no_grad():' "
                            "or 'torch.inference_mode()'", self._fix(verdict))

    def _fix(self, verdict: Verdict) -> Fix | None:
        no_grad = self.context.names.spelling("torch.no_grad")
        if no_grad is None:
            return None
        call = cst.parse_expression(f"{no_grad}()")
        region = verdict.region
        if isinstance(region, cst.FunctionDef) and verdict.whole_function:
            decorated = region.with_changes(decorators=[cst.Decorator(call), *region.decorators])
            return Fix(region, decorated, FixSafety.UNSAFE)
        if isinstance(region, cst.For):
            return Fix(region, under_no_grad(self.context.names, region), FixSafety.UNSAFE)
        return None


class EvalIsNotNoGrad(Rule):
    """``model.eval()`` does not disable gradients.

    ``eval()`` only switches modules such as Dropout and BatchNorm to their inference
    behaviour; forward passes after it still record autograd graphs.  Code that calls
    ``model.eval()`` and then runs the model without ``no_grad`` (and without training) pays
    for graphs nobody uses.  Reported when ``eval()`` is the only evidence that the code is
    evaluation (NG101 covers evaluation functions and loops).

    Bad::

        model.eval()
        logits = model(batch)

    Good::

        model.eval()
        with torch.no_grad():
            logits = model(batch)
    """

    code = "NG105"
    name = "eval-is-not-no-grad"
    message = ("'model.eval()' does not disable gradients (it only changes Dropout/BatchNorm): "
               "run the forward pass under 'with torch.no_grad():' or 'torch.inference_mode()'")
    triggers = ("eval(", "train(")
    needs = frozenset({"grad", "evaluation"})
    features = frozenset({"forward-after-eval"})

    def finish(self) -> None:
        for verdict in self.context.evaluation.verdicts():
            if verdict.code == self.code:
                call = verdict.evidence.removeprefix("after ").strip("'")
                self.report(verdict.forward, f"'{call}' does not disable gradients (it only "
                            "changes Dropout/BatchNorm behaviour): run this forward pass under "
                            "'with torch.no_grad():' or 'torch.inference_mode()'")
