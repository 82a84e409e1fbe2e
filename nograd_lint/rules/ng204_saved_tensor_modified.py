"""NG204: a tensor modified in place after an op saved it for backward."""

from __future__ import annotations

from nograd_lint.model.grad_mode import Grad
from nograd_lint.model.leaves import Kind, LeafAnalysis
from nograd_lint.rule import Invalid, Rule, Valid


class SavedTensorModified(Rule):
    """## What it does
    Flags an in-place update of a tensor that an op saved for backward, before a ``backward()``
    through that op.

    ## Why is this bad?
    Ops keep some of their inputs or outputs for the backward pass: ``sigmoid``, ``tanh``,
    ``exp``, ``relu`` and ``softmax`` their output; ``a * b`` and ``a @ b`` each operand the other
    one's gradient needs; ``log``, ``pow``, ``sin`` their input.  Changing such a tensor in place
    (``y.mul_(2)``, ``y += 1``, ``y[0] = 0``, with or without ``no_grad``) bumps its version, and
    the later ``backward()`` raises ``RuntimeError: one of the variables needed for gradient
    computation has been modified by an inplace operation``.

    ## Known problems
    Reported only when the whole chain is visible in one function: the saving op on a tensor that
    requires grad, the in-place update, and a ``backward()`` through that op.

    ## Fix safety
    No automatic fix: use the out-of-place op (``y = y.mul(2)``).
    """

    INVALID = (
        Invalid("""
            import torch

            x = torch.randn(3, requires_grad=True)
            y = x.sigmoid()
            y.mul_(2)  # expect: NG204
            y.sum().backward()
            """),
    )
    VALID = (
        Valid("""
            import torch

            x = torch.randn(3, requires_grad=True)
            y = x.sigmoid()
            y = y.mul(2)
            y.sum().backward()
            """),
    )
    fixtures = (
        "ng204_clamp_under_no_grad.py",
        "ng204_saved_input.py",
        "ng204_sigmoid_then_inplace.py",
        "ok_custom_function.py",
        "ok_inplace_after_backward.py",
        "ok_non_leaf_inplace.py",
        "ok_seed_nn_gradient.py",
    )

    code = "NG204"
    name = "saved-tensor-modified"
    message = ("in-place update of a tensor saved for backward makes the later backward() "
               "raise RuntimeError: use the out-of-place op ('y = y.mul(2)')")
    triggers = ("backward", "autograd")  # torch.autograd.grad comes through an import
    severity = "error"
    needs = (LeafAnalysis,)
    features = frozenset({"saved-update"})

    def finish(self) -> None:
        for stale in self.context.leaves.stale_backwards:
            site = stale.site
            if site.through_data:
                continue  # NG202: autograd never notices
            if site.value.kind is Kind.LEAF and site.grad is Grad.ENABLED:
                continue  # NG201: it raises already, at the update
            self.report(site.node, f"'{site.key}' is modified in place after "
                        f"'{stale.op_source()}' saved it for backward: the backward() that "
                        "follows raises RuntimeError ('one of the "
                        "variables needed for gradient computation has been modified by an "
                        "inplace operation'); use the out-of-place op")
