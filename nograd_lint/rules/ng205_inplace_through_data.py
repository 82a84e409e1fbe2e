"""NG205 (opt-in): an in-place update of a parameter through ``.data``."""

from __future__ import annotations

from nograd_lint.model.grad_mode import Grad
from nograd_lint.model.leaves import LeafAnalysis
from nograd_lint.rule import Invalid, Rule, Valid


class InPlaceThroughData(Rule):
    """## What it does
    Flags an in-place update of a grad leaf (a parameter, or a tensor made with
    ``requires_grad=True``) through ``.data``: ``p.data.add_(...)``, ``p.data[i] = ...``.
    Opt-in: ``--extend-select NG205``.  ``p.data = t`` gives ``p`` other data and updates
    nothing in place: it is not flagged.

    ## Why is this bad?
    ``.data`` hides the change from autograd's version counter: if ``p`` was saved for a backward
    pass that has not run yet, that backward silently computes gradients from the new values
    instead of raising (NG202 reports the cases it can prove).  It is the pre-0.4 idiom; update
    the tensor itself under ``torch.no_grad()``, which keeps the check.

    ## Known problems
    Advice on style: most ``.data`` writes (initialisation, copying pretrained weights) happen
    where no backward is pending and do no harm, which is why the rule is opt-in.

    ## Fix safety
    No automatic fix.
    """

    INVALID = (
        Invalid("""
            import torch

            def sgd_step(model, lr):
                for p in model.parameters():
                    p.data.add_(p.grad, alpha=-lr)  # expect: NG205
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
        Valid("""
            import torch

            def tie(encoder, decoder):
                decoder.weight.data = encoder.weight.data
            """),
    )
    fixtures = (
        "ng205_data_sgd_step.py",
        "ng202_data_update.py",
        "ok_manual_sgd.py",
    )

    code = "NG205"
    name = "inplace-through-data"
    message = ("in-place update through '.data' bypasses autograd's version checks (gradients "
               "can silently go wrong): update the tensor itself under 'with torch.no_grad():'")
    triggers = (".data",)
    default_enabled = False
    severity = "info"  # advice on style: most such updates work as written
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
