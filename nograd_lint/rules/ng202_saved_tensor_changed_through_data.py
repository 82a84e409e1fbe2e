"""NG202: a tensor saved for backward, changed through ``.data`` before that backward."""

from __future__ import annotations

from nograd_lint.model.leaves import LeafAnalysis
from nograd_lint.rule import Invalid, Rule, Valid


class SavedTensorChangedThroughData(Rule):
    """## What it does
    Flags an in-place update through ``.data`` (``w.data.add_(1)``, ``y.data[0] = 0``) of a
    tensor that an op saved for backward, before a ``backward()`` through that op.

    ## Why is this bad?
    ``.data`` is the tensor's storage without autograd's version counter.  Ops keep some of their
    inputs or outputs for the backward pass (``a * b`` each operand, ``sigmoid`` its output...);
    change one in place and the backward raises ``one of the variables needed for gradient
    computation has been modified by an inplace operation`` (NG204), but change it through
    ``.data`` and nothing is checked: the backward computes the gradients from the new values,
    silently wrong.  It is the one such change PyTorch cannot detect.

    ## Known problems
    Reported only when the whole chain is visible in one function: the saving op on a tensor that
    requires grad, the update through ``.data``, and a ``backward()`` through that op.  The
    broader advice to update parameters under ``torch.no_grad()`` rather than through ``.data``
    is NG205 (opt-in).

    ## Fix safety
    No automatic fix: run the ``backward()`` before the update, or update a copy.
    """

    INVALID = (
        Invalid("""
            import torch

            w = torch.ones(2, requires_grad=True)
            loss = (w * w).sum()
            w.data.add_(1.0)  # expect: NG202
            loss.backward()
            """),
    )
    VALID = (
        Valid("""
            import torch

            w = torch.ones(2, requires_grad=True)
            loss = (w * w).sum()
            loss.backward()
            with torch.no_grad():
                w.add_(1.0)
            """),
    )
    fixtures = (
        "ng202_data_update.py",
        "ng202_sigmoid_output_through_data.py",
        "ok_update_after_backward.py",
        "ok_manual_sgd.py",
    )

    code = "NG202"
    name = "saved-tensor-changed-through-data"
    message = ("a tensor saved for backward changed through '.data' before that backward: the "
               "gradients are silently computed from the new values")
    triggers = (".data",)
    severity = "error"
    needs = (LeafAnalysis,)
    features = frozenset({"saved-data-update"})

    def finish(self) -> None:
        for stale in self.context.leaves.stale_backwards:
            site = stale.site
            if not site.through_data:
                continue  # NG204: the backward raises
            self.report(site.node, f"'{site.key}' is changed through '.data' after "
                        f"'{stale.op_source()}' saved it for backward: the backward() that "
                        "follows silently computes the gradients from the new values (a '.data' "
                        "write skips autograd's version check); run backward() first, or change "
                        "a copy")
