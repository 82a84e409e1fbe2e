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
    optimizer's ``group["params"]`` (through ``zip``, ``enumerate`` and ``filter`` too), and the
    ``weight``/``bias`` and registered parameters of a module, however it is reached: made by a
    torch layer, a ``functools.partial`` of one, ``timm.create_model``, ``torchvision.models``,
    ``from_pretrained`` or ``copy.deepcopy``; a parameter annotated ``nn.Module``, a layer or a
    module class of the file; ``self`` in a module class; an attribute, item, ``getattr`` or
    ``get_classifier()`` of a module; a loop over ``model.modules()`` or an ``nn.Sequential``;
    the argument of a function passed to ``model.apply``.  A module after
    ``requires_grad_(False)`` has none.  A function's
    parameter is one where a caller with gradients enabled passes one (or an iterable of them)
    to it: in the same file, or in another file of the project (the project index).

    ## Why is this bad?
    Autograd cannot record an in-place change to a leaf it accumulates gradients into: the update
    raises ``RuntimeError: a leaf Variable that requires grad is being used in an in-place
    operation.`` (``a view of a leaf Variable ...`` through an index or a view; ``functions with
    out=... arguments don't support automatic differentiation`` for ``out=``), often minutes into
    a run.  Parameter updates, initialisation and clipping belong under
    ``torch.no_grad()``, as PyTorch's own optimizers and ``nn.init`` do.

    ## Known problems
    A module's class is read from this file only: a parameter annotated with a module class
    imported from another file of the project is not taken for a module.  A layer made with
    ``inplace=True`` is seen only where it is called as it is made; the dropouts (which write
    only while training) are not counted.
    A parameter its callers pass in is followed through calls ``f(...)`` and ``self.f(...)``;
    calls through other receivers (``trainer.step()``) and ``*args`` are not.

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
        Invalid("""
            import torch
            from torch import nn

            class Encoder(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.blocks = nn.ModuleList([nn.Linear(4, 4) for _ in range(3)])
                    self.cls_token = nn.Parameter(torch.zeros(1, 4))

            def load(model: Encoder, weights):
                model.cls_token.copy_(weights["cls"])  # expect: NG201
                for i, block in enumerate(model.blocks):
                    block.weight.copy_(weights[i])  # expect: NG201
            """),
        Invalid("""
            import copy
            from functools import partial

            import timm
            import torch
            from torch import nn

            def rebuild(old, use_conv):
                layer = partial(nn.Conv2d, kernel_size=1) if use_conv else nn.Linear
                new = layer(4, 4)
                new.weight.copy_(old.weight)  # expect: NG201

            def average(model, decay):
                ema = copy.deepcopy(model)
                for e, p in zip(ema.parameters(), model.parameters()):
                    e.mul_(decay).add_(p, alpha=1 - decay)  # expect: NG201

            model = timm.create_model("resnet18")
            model.get_classifier().weight.mul_(0.5)  # expect: NG201
            """),
        Invalid("""
            import torch

            def fill_(tensor, value):
                tensor.fill_(value)  # expect: NG201

            layer = torch.nn.Linear(4, 4)
            fill_(layer.weight, 0.5)
            """, fixed="""
            import torch

            def fill_(tensor, value):
                with torch.no_grad():
                    tensor.fill_(value)

            layer = torch.nn.Linear(4, 4)
            fill_(layer.weight, 0.5)
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
        Valid("""
            import torch
            from torch import nn

            class Encoder(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.blocks = nn.ModuleList([nn.Linear(4, 4) for _ in range(3)])

            @torch.no_grad()
            def load(model: Encoder, weights):
                for i, block in enumerate(model.blocks):
                    block.weight.copy_(weights[i])

            def reset_teacher(model: nn.Module):
                model.requires_grad_(False)
                for p in model.parameters():
                    p.zero_()
                model.head.weight.zero_()
            """),
        Valid("""
            import torch

            def fill_(tensor, value):
                tensor.fill_(value)

            layer = torch.nn.Linear(4, 4)
            with torch.no_grad():
                fill_(layer.weight, 0.5)
            fill_(torch.empty(4), 0.5)
            """),
    )
    fixtures = (
        "ng201_annotated_loader.py",
        "ng201_blocks_rescale.py",
        "ng201_caller_passed_parameters.py",
        "ng201_custom_optimizer.py",
        "ng201_ema_zip.py",
        "ng201_filtered_groups.py",
        "ng201_functional_inplace.py",
        "ng201_init_weights.py",
        "ng201_layer_factory.py",
        "ng201_leaf_index.py",
        "ng201_manual_sgd.py",
        "ng201_weight_clipping.py",
        "ng201_written_for_runtime.py",
        "ok_annotated_loader.py",
        "ok_blocks_rescale.py",
        "ok_caller_passed_parameters.py",
        "ok_custom_optimizer.py",
        "ok_ema_zip.py",
        "ok_filtered_groups.py",
        "ok_functional_inplace_no_grad.py",
        "ok_init_weights_no_grad.py",
        "ok_layer_factory.py",
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
