"""NG203: a leaf rebound to a new tensor computed from it, with gradients disabled."""

from __future__ import annotations

from nograd_lint import libcst as cst

from nograd_lint.model.grad_mode import Grad
from nograd_lint.model.leaves import LeafAnalysis
from nograd_lint.model.names import dotted_name
from nograd_lint.rule import Fix, FixSafety, Invalid, Rule, Valid
from nograd_lint.vocabulary import AUGMENTED, LEAF_EVIDENCE


class LeafRebinding(Rule):
    """## What it does
    Flags a leaf that requires grad rebound, under ``no_grad``, to a new tensor computed from it:
    ``w = w - lr * w.grad``.

    ## Why is this bad?
    Under ``no_grad`` the assignment does not update ``w``: it makes a *new* tensor that does not
    require grad and has no ``.grad``, and rebinds the name to it.  The next forward pass records
    no graph through ``w``, and ``backward()`` raises ``element 0 of tensors does not require
    grad and does not have a grad_fn`` (or ``w.grad`` stays ``None``); for a loop variable over
    ``model.parameters()`` the model is never updated at all.

    ## Known problems
    Rebinding to a new ``nn.Parameter`` or a copy is not flagged: that is a deliberate new leaf.

    ## Fix safety
    Safe: when the right-hand side is ``w <op> expression``, the fix writes the in-place form,
    ``w -= lr * w.grad``.
    """

    INVALID = (
        Invalid("""
            import torch

            w = torch.randn(3, requires_grad=True)
            for step in range(10):
                loss = (w * w).sum()
                loss.backward()
                with torch.no_grad():
                    w = w - 0.1 * w.grad  # expect: NG203
            """, fixed="""
            import torch

            w = torch.randn(3, requires_grad=True)
            for step in range(10):
                loss = (w * w).sum()
                loss.backward()
                with torch.no_grad():
                    w -= 0.1 * w.grad
            """),
    )
    VALID = (
        Valid("""
            import torch

            w = torch.randn(3, requires_grad=True)
            for step in range(10):
                loss = (w * w).sum()
                loss.backward()
                with torch.no_grad():
                    w -= 0.1 * w.grad
                w.grad = None
            """),
    )
    fixtures = (
        "ng203_manual_sgd_rebind.py",
        "ng203_parameters_loop.py",
        "ng203_rebind_vs_inplace.py",
        "ok_manual_sgd.py",
    )

    code = "NG203"
    name = "leaf-rebound-under-no-grad"
    message = ("rebinding a leaf under no_grad replaces it with a tensor that does not require "
               "grad: update it in place ('w -= lr * w.grad')")
    triggers = LEAF_EVIDENCE
    fix_safety = FixSafety.SAFE
    needs = (LeafAnalysis,)
    features = frozenset({"leaf-rebinding", "grad-mode"})

    def finish(self) -> None:
        for rebinding in self.context.leaves.rebindings:
            if rebinding.grad is not Grad.DISABLED:
                continue
            fix = self._fix(rebinding.node, rebinding.key)
            example = (cst.Module([]).code_for_node(fix.replacement) if fix is not None
                       else f"{rebinding.key}.<op>_(...)")
            self.report(rebinding.node, f"'{rebinding.key}' is a leaf that requires grad "
                        f"({rebinding.value.origin}); rebinding it under no_grad replaces it with "
                        f"a new tensor that does not require grad: update it in place, "
                        f"'{example}'", fix)

    @staticmethod
    def _fix(node: cst.Assign, key: str) -> Fix | None:
        value = node.value
        if (len(node.targets) != 1 or not isinstance(value, cst.BinaryOperation)
                or dotted_name(value.left) != key or type(value.operator).__name__ not in AUGMENTED
                or value.lpar):
            return None
        augmented = cst.AugAssign(target=node.targets[0].target,
                                  operator=getattr(cst, AUGMENTED[type(value.operator).__name__])(),
                                  value=value.right)
        return Fix(node, augmented, FixSafety.SAFE)
