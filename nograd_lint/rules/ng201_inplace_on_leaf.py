"""NG201: an in-place update of a leaf that requires grad, with gradients enabled."""

from __future__ import annotations

from nograd_lint import libcst as cst

from nograd_lint.edits import under_no_grad
from nograd_lint.model.grad_mode import Grad
from nograd_lint.model.leaves import InPlace, LeafAnalysis
from nograd_lint.rule import Fix, FixSafety, Invalid, Rule, Valid
from nograd_lint.vocabulary import LEAF_EVIDENCE


class InPlaceOnLeaf(Rule):
    """## What it does
    Flags an in-place update (``w += 1``, ``w[0] = 0``, ``w.add_(1)``, ``w.normal_()``, and the
    function forms ``torch.relu_(w)``, ``F.relu(w, inplace=True)``, ``nn.ReLU(inplace=True)(w)``,
    ``torch._foreach_mul_(params, 0.9)``, ``torch.clamp(w, -1, 1, out=w)``) of a leaf tensor that
    requires grad, where gradients are enabled.  Leaves are tensors made with
    ``requires_grad=True``, ``nn.Parameter``s, the loop variable over ``model.parameters()`` or an
    optimizer's ``group["params"]``, and the ``weight``/``bias`` of a layer (``nn.Linear(...)``,
    ``model.modules()``, the argument of a function passed to ``model.apply``).

    ## Why is this bad?
    Autograd cannot record an in-place change to a leaf it accumulates gradients into: the update
    raises ``RuntimeError: a leaf Variable that requires grad is being used in an in-place
    operation.`` (``a view of a leaf Variable ...`` through an index or a view; ``functions with
    out=... arguments don't support automatic differentiation`` for ``out=``), often minutes into
    a run.  Parameter updates, initialisation and clipping belong under
    ``torch.no_grad()``, as PyTorch's own optimizers and ``nn.init`` do.

    ## Known problems
    A parameter is recognised where the layer is made or iterated in the same function.  A
    layer made with ``inplace=True`` is seen only where it is called as it is made; the dropouts
    (which write only while training) are not counted.

    ## Fix safety
    Unsafe: the fix wraps the statement, or the loop over the parameters, in
    ``with torch.no_grad():``.
    """

    INVALID = (
        Invalid("""
            import torch

            def sgd_step(model, lr):
                for p in model.parameters():
                    p -= lr * p.grad  # expect: NG201
            """, fixed="""
            import torch

            def sgd_step(model, lr):
                with torch.no_grad():
                    for p in model.parameters():
                        p -= lr * p.grad
            """),
        Invalid("""
            import torch

            def init_weights(m):
                if isinstance(m, torch.nn.Linear):
                    m.weight.fill_(0.01)  # expect: NG201

            torch.nn.Sequential(torch.nn.Linear(4, 4)).apply(init_weights)
            """),
        Invalid("""
            import torch
            import torch.nn.functional as F

            def decay_and_clip(model, lr):
                params = list(model.parameters())
                torch._foreach_mul_(params, 1 - lr)  # expect: NG201
                for p in params:
                    torch.clamp(p, -1.0, 1.0, out=p)  # expect: NG201
                    F.relu_(p)  # expect: NG201
            """),
    )
    VALID = (
        Valid("""
            import torch

            def sgd_step(model, lr):
                with torch.no_grad():
                    for p in model.parameters():
                        p -= lr * p.grad
            """),
        Valid("""
            import torch

            @torch.no_grad()
            def init_weights(m):
                if isinstance(m, torch.nn.Linear):
                    m.weight.fill_(0.01)

            torch.nn.Sequential(torch.nn.Linear(4, 4)).apply(init_weights)
            """),
        Valid("""
            import torch
            import torch.nn.functional as F

            @torch.no_grad()
            def decay_and_clip(model, lr):
                params = list(model.parameters())
                torch._foreach_mul_(params, 1 - lr)
                for p in params:
                    torch.clamp(p, -1.0, 1.0, out=p)
                    F.relu_(p)
            """),
    )
    fixtures = (
        "ng201_custom_optimizer.py",
        "ng201_functional_inplace.py",
        "ng201_init_weights.py",
        "ng201_leaf_index.py",
        "ng201_manual_sgd.py",
        "ng201_weight_clipping.py",
        "ng201_written_for_runtime.py",
        "ok_custom_optimizer.py",
        "ok_functional_inplace_no_grad.py",
        "ok_init_weights_no_grad.py",
        "ok_manual_sgd.py",
        "ok_model_averaging.py",
        "ok_nn_init.py",
        "ok_non_leaf_inplace.py",
        "ok_plain_tensors.py",
        "ok_weight_clipping.py",
    )

    code = "NG201"
    name = "inplace-on-leaf"
    message = ("in-place update of a leaf tensor that requires grad raises RuntimeError: do it "
               "under 'with torch.no_grad():'")
    triggers = LEAF_EVIDENCE
    fix_safety = FixSafety.UNSAFE
    severity = "error"
    needs = (LeafAnalysis,)
    features = frozenset({"leaf-update"})

    def finish(self) -> None:
        leaves = self.context.leaves
        for site in leaves.inplace:
            if site.through_data or site.grad is not Grad.ENABLED:
                continue
            self.report(site.node, f"{_what(site)}: do it under 'with torch.no_grad():'",
                        self._fix(site))

    def _fix(self, site: InPlace) -> Fix | None:
        loop = site.value.loop
        target = loop if loop is not None and loop in site.loops else \
            self.context.leaves.line_of(site.statement)
        if not isinstance(target, (cst.For, cst.SimpleStatementLine)):
            return None  # a one-line suite (``if x: w += 1``) has no block to wrap in
        wrapped = under_no_grad(self.context.names, target)
        return Fix(target, wrapped, FixSafety.UNSAFE) if wrapped is not None else None


def _what(site: InPlace) -> str:
    """What the update is and the error PyTorch raises for it."""
    origin = site.value.origin
    if site.out is not None:
        return (f"'{site.key}', a leaf that requires grad ({origin}), as 'out=' of "
                f"{site.out}() raises RuntimeError ('{site.out}(): functions with out=... "
                "arguments don't support automatic differentiation, but one of the arguments "
                "requires grad.')")
    if site.each:
        return (f"in-place update of every tensor in '{site.key}', leaves that require grad "
                f"({origin}), raises RuntimeError ('a leaf Variable that requires grad is being "
                "used in an in-place operation')")
    view = "a view of " if site.through_view else ""
    return (f"in-place update of {view}'{site.key}', a leaf that requires grad ({origin}), "
            f"raises RuntimeError ('{view}a leaf Variable that requires grad is being used in an "
            "in-place operation')")
