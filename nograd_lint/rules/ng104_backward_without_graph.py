"""NG104: ``backward()`` on a value computed where gradients are disabled."""

from __future__ import annotations

from nograd_lint import libcst as cst

from nograd_lint.model.evaluation import method_receiver
from nograd_lint.model.grad_mode import Grad, GradRegions, Where
from nograd_lint.rule import Invalid, Rule, Valid
from nograd_lint.vocabulary import AUTOGRAD_GRAD


class BackwardWithoutGraph(Rule):
    """## What it does
    Flags ``backward()`` (or ``torch.autograd.grad``) on a value computed under
    ``no_grad``/``inference_mode``.

    ## Why is this bad?
    Nothing is recorded with gradients disabled, so a loss computed there has no ``grad_fn`` and
    ``loss.backward()`` raises ``RuntimeError: element 0 of tensors does not require grad and
    does not have a grad_fn``.

    The most common form computes the loss inside the block and calls ``backward()`` after
    it: leaving the block does not give the value the graph it never recorded.

    ## Known problems
    Calling ``backward()`` inside ``no_grad`` on a graph built *outside* it is fine (backward does
    not need grad mode) and is not flagged; an ``enable_grad()`` block inside the region
    re-enables recording, and ``requires_grad_()`` on the value makes it a leaf backward
    accepts.  Only a value computed in the same function, by the last assignment before the
    call in source order, is followed.

    ## Fix safety
    No automatic fix.
    """

    INVALID = (
        Invalid("""
            import torch

            def train_step(model, criterion, x, y):
                with torch.no_grad():
                    loss = criterion(model(x), y)
                    loss.backward()  # expect: NG104
            """),
        Invalid("""
            import torch

            def train_step(model, criterion, optimizer, x, y):
                with torch.no_grad():
                    loss = criterion(model(x), y)
                loss.backward()  # expect: NG104
                optimizer.step()
            """),
    )
    VALID = (
        Valid("""
            import torch

            def train_step(model, criterion, x, y):
                loss = criterion(model(x), y)
                loss.backward()
            """),
        Valid("""
            import torch

            def train_step(model, criterion, x, y):
                with torch.no_grad():
                    target = model(x)
                loss = criterion(model(y), target)
                loss.backward()
            """),
    )
    fixtures = (
        "ng104_backward_after_no_grad.py",
        "ng104_backward_under_no_grad.py",
        "ok_grad_accumulation.py",
        "ok_no_grad_then_recomputed.py",
    )

    code = "NG104"
    name = "backward-without-graph"
    message = ("backward() on a value computed with gradients disabled raises 'element 0 of "
               "tensors does not require grad': compute it outside 'no_grad'/'inference_mode'")
    triggers = ("backward", "autograd")  # torch.autograd.grad comes through an import
    needs = (GradRegions,)
    severity = "error"
    features = frozenset({"backward-without-grad", "grad-mode"})

    def __init__(self, context) -> None:
        super().__init__(context)
        # Per function: name -> where its current value was computed (None: not computed here)
        self._computed: list[dict[str, Where | None]] = [{}]
        self._candidates: list[tuple[cst.CSTNode, Where]] = []  # (backward call, origin)

    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        self._computed.append({})

    def leave_FunctionDef(self, node: cst.FunctionDef) -> None:
        self._computed.pop()

    def visit_Assign(self, node: cst.Assign) -> None:
        origin = self._origin(node.value)
        for target in node.targets:
            if isinstance(target.target, cst.Name):
                self._computed[-1][target.target.value] = origin
            elif isinstance(target.target, cst.Attribute) and \
                    target.target.attr.value == "requires_grad":
                self._made_leaf(target.target.value)

    def _made_leaf(self, value: cst.BaseExpression) -> None:
        """``x.requires_grad = True``, ``x.requires_grad_()``: backward on ``x`` works."""
        if isinstance(value, cst.Name):
            self._computed[-1][value.value] = None

    def _origin(self, value: cst.BaseExpression) -> Where | None:
        if isinstance(value, cst.Name):
            return self._computed[-1].get(value.value)
        if isinstance(value, cst.Call) and (
                method_receiver(value, "requires_grad_") is not None or any(
                    arg.keyword is not None and arg.keyword.value == "requires_grad"
                    for arg in value.args)):
            return None  # a fresh leaf that requires grad: backward on it works
        if isinstance(value, (cst.Call, cst.BinaryOperation, cst.UnaryOperation)):
            return self.context.grad.where()
        return None

    def visit_Call(self, node: cst.Call) -> None:
        leaf = method_receiver(node, "requires_grad_")
        if leaf is not None:
            self._made_leaf(leaf)
        receiver = method_receiver(node, "backward")
        if receiver is None and self.context.names.qualified_name(node.func) in AUTOGRAD_GRAD:
            receiver = node.args[0].value if node.args else None
        if receiver is None:
            return
        origin = self._origin(receiver)
        if origin is not None:
            self._candidates.append((node, origin))

    def finish(self) -> None:
        grad = self.context.grad
        # Where backward runs does not matter: a value computed with gradients disabled has
        # no graph, inside the block or after it.
        for node, origin in self._candidates:
            if grad.state(origin) is Grad.DISABLED:
                self.report(node)
