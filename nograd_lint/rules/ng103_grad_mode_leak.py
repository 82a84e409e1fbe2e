"""NG103: a bare ``set_grad_enabled(False)`` in a function, never restored."""

from __future__ import annotations

from nograd_lint import libcst as cst

from nograd_lint.model.grad_mode import Grad, GradRegions, Where, constant_bool
from nograd_lint.rule import Invalid, Rule, Valid
from nograd_lint.vocabulary import SET_GRAD_ENABLED


class GradModeLeak(Rule):
    """## What it does
    Flags ``torch.set_grad_enabled(False)`` called as a statement in a function that never
    switches gradients back on.

    ## Why is this bad?
    As a statement, ``set_grad_enabled(False)`` switches gradients off for the whole thread until
    something switches them on again: every caller of this function, and all code after it,
    silently stops recording gradients (training then fails with ``element 0 of tensors does not
    require grad``).  Use it as a context manager, or restore the previous mode in a ``finally``.

    ## Known problems
    Module-level calls (scripts that never train) are not flagged, nor are two places where the
    call restores a mode rather than leaking one: a context manager's ``__enter__`` whose class's
    ``__exit__`` calls ``set_grad_enabled`` again, and a function that runs with gradients
    disabled anyway (a Lightning ``validation_step``, a ``@torch.no_grad()`` function, one whose
    every caller has them off), which may switch them on for a while and then off again.

    ## Fix safety
    No automatic fix.
    """

    INVALID = (
        Invalid("""
            import torch

            def predict(model, x):
                torch.set_grad_enabled(False)  # expect: NG103
                return model(x)
            """),
    )
    VALID = (
        Valid("""
            import torch

            def predict(model, x):
                with torch.set_grad_enabled(False):
                    return model(x)
            """),
        Valid("""
            import torch

            def predict(model, x):
                torch.set_grad_enabled(False)
                try:
                    return model(x)
                finally:
                    torch.set_grad_enabled(True)
            """),
        Valid("""
            import torch

            class Frozen:
                def __enter__(self):
                    self.previous = torch.is_grad_enabled()
                    torch.set_grad_enabled(False)

                def __exit__(self, *exc):
                    torch.set_grad_enabled(self.previous)
            """),
        Valid("""
            import torch
            import pytorch_lightning as pl

            class MetaLearner(pl.LightningModule):
                def validation_step(self, batch, batch_idx):
                    torch.set_grad_enabled(True)  # fine-tune on the support set
                    self.adapt(batch)
                    torch.set_grad_enabled(False)  # back to the loop's no_grad
            """),
    )
    fixtures = (
        "ng103_set_grad_enabled_leak.py",
        "ok_conditional_no_grad.py",
        "ok_grad_off_context_manager.py",
        "ok_lightning_meta_validation_step.py",
    )

    code = "NG103"
    name = "grad-mode-leak"
    message = ("'set_grad_enabled(False)' as a statement leaks to every caller: use "
               "'with torch.set_grad_enabled(False):' or restore the mode in 'finally'")
    triggers = ("set_grad_enabled",)
    needs = (GradRegions,)
    features = frozenset({"grad-mode-statement"})

    def __init__(self, context) -> None:
        super().__init__(context)
        # Per enclosing function: bare set_grad_enabled(False) calls not yet followed by
        # another set_grad_enabled call.
        self._pending: list[list[cst.Call]] = []
        self._entries: list[Where] = []  # grad mode where each enclosing function starts
        self._bare_false: set[cst.Call] = set()  # set_grad_enabled(False) as a statement
        # (call, the function's entry, its class if it is ``__enter__``)
        self._leaks: list[tuple[cst.Call, Where, cst.ClassDef | None]] = []
        self._restoring: set[cst.ClassDef] = set()  # classes whose __exit__ switches grad mode
        self._switching: set[cst.FunctionDef] = set()  # functions that call set_grad_enabled

    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        self._pending.append([])
        self._entries.append(self.context.grad.where())

    def leave_FunctionDef(self, node: cst.FunctionDef) -> None:
        entry = self._entries.pop()
        klass = self.context.model.class_of(node)
        if node.name.value in ("__exit__", "__aexit__") and node in self._switching:
            self._restoring.add(klass)
        enter = node.name.value in ("__enter__", "__aenter__")
        self._leaks += [(call, entry, klass if enter else None) for call in self._pending.pop()]

    def finish(self) -> None:
        grad = self.context.grad
        for call, entry, manager in self._leaks:
            # Switched off where gradients were off already, or by a context manager that
            # restores the mode on exit: nothing leaks.
            if manager not in self._restoring and grad.state(entry) is not Grad.DISABLED:
                self.report(call)

    def visit_Expr(self, node: cst.Expr) -> None:
        call = node.value
        if isinstance(call, cst.Call) and call.args and constant_bool(call.args[0].value) is False:
            self._bare_false.add(call)

    def visit_Call(self, node: cst.Call) -> None:
        if self._pending and self.context.names.qualified_name(node.func) in SET_GRAD_ENABLED:
            self._switching.add(self.context.model.named_function())
            # Any later set_grad_enabled(...) restores (or manages) the earlier ones.
            self._pending[-1][:] = [node] if node in self._bare_false else []
