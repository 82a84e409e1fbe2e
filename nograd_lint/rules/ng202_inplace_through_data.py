"""NG202: an in-place update of a parameter through ``.data``."""

from __future__ import annotations

from nograd_lint.model.grad_mode import Grad
from nograd_lint.model.leaves import LeafAnalysis
from nograd_lint.rule import Invalid, Rule, Valid


class InPlaceThroughData(Rule):
    """## What it does
    Flags an in-place update of a grad leaf (a parameter, or a tensor made with
    ``requires_grad=True``) through ``.data``: ``p.data.add_(...)``, ``p.data = ...``,
    ``p.data[i] = ...``.

    ## Why is this bad?
    ``.data`` hides the change from autograd's version counter: if ``p`` was saved for a backward
    pass that has not run yet, that backward silently computes gradients from the new values
    instead of raising.  It is the pre-0.4 idiom; update the tensor itself under
    ``torch.no_grad()``, which keeps the check.

    ## Known problems
    Most ``.data`` writes (initialisation, copying pretrained weights) happen where no backward is
    pending and do no harm.

    ## Fix safety
    No automatic fix.
    """

    INVALID = (
        Invalid("""
            import torch

            def sgd_step(model, lr):
                for p in model.parameters():
                    p.data.add_(p.grad, alpha=-lr)  # expect: NG202
            """),
    )
    VALID = (
        Valid("""
            import torch

            def sgd_step(model, lr):
                with torch.no_grad():
                    for p in model.parameters():
                        p.add_(p.grad, alpha=-lr)
            """),
    )
    fixtures = (
        "ng202_data_update.py",
        "ok_manual_sgd.py",
    )

    code = "NG202"
    name = "inplace-through-data"
    message = ("in-place update through '.data' bypasses autograd's version checks (gradients "
               "can silently go wrong): update the tensor itself under 'with torch.no_grad():'")
    triggers = (".data",)
    severity = "info"
    needs = (LeafAnalysis,)
    features = frozenset({"leaf-data-update"})

    def finish(self) -> None:
        for site in self.context.leaves.inplace:
            if not site.through_data:
                continue
            instead = ("update it directly, gradients are already off here"
                       if site.grad is Grad.DISABLED else "update it under 'with torch.no_grad():'")
            self.report(site.node, f"in-place update of '{site.key}.data' bypasses autograd's "
                        f"version checks (gradients can silently go wrong): {instead}")
