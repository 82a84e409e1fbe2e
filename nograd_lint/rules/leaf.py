"""NG201-NG204: in-place updates of tensors that require grad, or that backward still needs."""

from __future__ import annotations

from nograd_lint import libcst as cst

from nograd_lint.edits import under_no_grad
from nograd_lint.grad_regions import Grad
from nograd_lint.leaves import AUGMENTED, InPlace, Kind
from nograd_lint.names import dotted_name
from nograd_lint.rule import Fix, FixSafety, Rule

# Text without which no grad leaf can exist in a file.
LEAF_EVIDENCE = ("requires_grad", "Parameter", "parameters(", "param_groups", ".weight",
                 ".bias", "modules(", "children(")


class InPlaceOnLeaf(Rule):
    """In-place update of a leaf tensor that requires grad, with gradients enabled.

    Autograd cannot record an in-place change to a leaf it accumulates gradients into:
    ``w += 1``, ``w[0] = 0``, ``w.add_(1)``, ``w.normal_()`` raise ``RuntimeError: a leaf
    Variable that requires grad is being used in an in-place operation.`` (``a view of a leaf
    Variable ...`` through an index or a view), often minutes into a run.  Leaves are tensors
    made with ``requires_grad=True``, ``nn.Parameter``s, the loop variable over
    ``model.parameters()`` or an optimizer's ``group["params"]``, and the ``weight``/``bias``
    of a layer (``nn.Linear(...)``, ``model.modules()``, the argument of a function passed to
    ``model.apply``).  Parameter updates, initialisation and clipping belong under
    ``torch.no_grad()`` — as PyTorch's own optimizers and ``nn.init`` do.  The unsafe fix wraps
    the statement, or the loop over the parameters, in ``with torch.no_grad():``.

    Bad::

        for p in model.parameters():
            p -= lr * p.grad

    Good::

        with torch.no_grad():
            for p in model.parameters():
                p -= lr * p.grad
    """

    code = "NG201"
    name = "inplace-on-leaf"
    message = ("in-place update of a leaf tensor that requires grad raises RuntimeError: do it "
               "under 'with torch.no_grad():'")
    triggers = LEAF_EVIDENCE
    fix_safety = FixSafety.UNSAFE
    severity = "error"
    needs = frozenset({"grad", "leaves"})
    features = frozenset({"leaf-update"})

    def finish(self) -> None:
        leaves = self.context.leaves
        for site in leaves.inplace:
            if site.through_data or site.grad is not Grad.ENABLED:
                continue
            view = "a view of " if site.through_view else ""
            self.report(site.node, f"in-place update of {view}'{site.key}', a leaf that requires "
                        f"grad ({site.value.origin}), raises RuntimeError ('{view}a leaf Variable "
                        "that requires grad is being used in an in-place operation'): do it "
                        "under 'with torch.no_grad():'", self._fix(site))

    def _fix(self, site: InPlace) -> Fix | None:
        loop = site.value.loop
        target = loop if loop is not None and loop in site.loops else \
            self.context.leaves.line_of(site.statement)
        if not isinstance(target, (cst.For, cst.SimpleStatementLine)):
            return None  # a one-line suite (``if x: w += 1``) has no block to wrap in
        wrapped = under_no_grad(self.context.names, target)
        return Fix(target, wrapped, FixSafety.UNSAFE) if wrapped is not None else None


class InPlaceThroughData(Rule):
    """In-place update of a parameter through ``.data``.

    ``p.data.add_(...)``, ``p.data = ...`` and ``p.data[i] = ...`` work, but ``.data`` hides
    the change from autograd's version counter: if ``p`` was saved for a backward pass that has
    not run yet, that backward silently computes gradients from the new values instead of
    raising.  It is the pre-0.4 idiom; update the tensor itself under ``torch.no_grad()``, which
    keeps the check.  Reported for grad leaves (parameters and tensors made with
    ``requires_grad=True``).

    Bad::

        for p in model.parameters():
            p.data.add_(p.grad, alpha=-lr)

    Good::

        with torch.no_grad():
            for p in model.parameters():
                p.add_(p.grad, alpha=-lr)
    """

    code = "NG202"
    name = "inplace-through-data"
    message = ("in-place update through '.data' bypasses autograd's version checks (gradients "
               "can silently go wrong): update the tensor itself under 'with torch.no_grad():'")
    triggers = (".data",)
    severity = "info"
    needs = frozenset({"grad", "leaves"})
    features = frozenset({"leaf-data-update"})

    def finish(self) -> None:
        for site in self.context.leaves.inplace:
            if not site.through_data:
                continue
            instead = ("update it directly, gradients are already off here"
                       if site.grad is Grad.DISABLED else "update it under 'with torch.no_grad():'")
            self.report(site.node, f"in-place update of '{site.key}.data' bypasses autograd's "
                        f"version checks (gradients can silently go wrong): {instead}")


class LeafRebinding(Rule):
    """A leaf rebound to a new tensor computed from it, with gradients disabled.

    Under ``no_grad``, ``w = w - lr * w.grad`` does not update ``w``: it makes a *new* tensor
    that does not require grad and has no ``.grad``, and rebinds the name to it.  The next
    forward pass records no graph through ``w``, and ``backward()`` raises ``element 0 of
    tensors does not require grad and does not have a grad_fn`` (or ``w.grad`` stays
    ``None``); for a loop variable over ``model.parameters()`` the model is never updated at
    all.  The safe fix uses the in-place form, ``w -= lr * w.grad``, when the right-hand side
    is ``w <op> expression``.

    Bad::

        with torch.no_grad():
            w = w - lr * w.grad

    Good::

        with torch.no_grad():
            w -= lr * w.grad
    """

    code = "NG203"
    name = "leaf-rebound-under-no-grad"
    message = ("rebinding a leaf under no_grad replaces it with a tensor that does not require "
               "grad: update it in place ('w -= lr * w.grad')")
    triggers = LEAF_EVIDENCE
    fix_safety = FixSafety.SAFE
    needs = frozenset({"grad", "leaves"})
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


class SavedTensorModified(Rule):
    """A tensor modified in place after an op saved it for backward, before that backward.

    Ops keep some of their inputs or outputs for the backward pass: ``sigmoid``, ``tanh``,
    ``exp``, ``relu`` and ``softmax`` their output; ``a * b`` and ``a @ b`` each operand the
    other one's gradient needs; ``log``, ``pow``, ``sin`` their input.  Changing such a tensor
    in place (``y.mul_(2)``, ``y += 1``, ``y[0] = 0`` — with or without ``no_grad``) bumps its
    version, and the later ``backward()`` raises ``RuntimeError: one of the variables needed
    for gradient computation has been modified by an inplace operation``.  Reported only when
    the whole chain is visible in one function: the saving op on a tensor that requires grad,
    the in-place update, and a ``backward()`` through that op.

    Bad::

        y = x.sigmoid()
        y.mul_(2)
        y.sum().backward()

    Good::

        y = x.sigmoid()
        y = y.mul(2)
        y.sum().backward()
    """

    code = "NG204"
    name = "saved-tensor-modified"
    message = ("in-place update of a tensor saved for backward makes the later backward() "
               "raise RuntimeError: use the out-of-place op ('y = y.mul(2)')")
    triggers = ("backward", "autograd")  # torch.autograd.grad comes through an import
    severity = "error"
    needs = frozenset({"grad", "leaves"})
    features = frozenset({"saved-update"})

    def finish(self) -> None:
        for stale in self.context.leaves.stale_backwards:
            site = stale.site
            if site.value.kind is Kind.LEAF and site.grad is Grad.ENABLED and not site.through_data:
                continue  # NG201: it raises already, at the update
            op = " ".join(cst.Module([]).code_for_node(stale.op).split())
            op = op if len(op) <= 40 else op[:37] + "..."
            self.report(site.node, f"'{site.key}' is modified in place after '{op}' saved it for "
                        "backward: the backward() that follows raises RuntimeError ('one of the "
                        "variables needed for gradient computation has been modified by an "
                        "inplace operation'); use the out-of-place op")
