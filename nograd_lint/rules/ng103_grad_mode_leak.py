"""NG103: a bare ``set_grad_enabled(False)`` in a function, never restored."""

from __future__ import annotations

from nograd_lint import libcst as cst

from nograd_lint.model.grad_mode import constant_bool
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
    Module-level calls (scripts that never train) are not flagged.

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
    )
    fixtures = (
        "ng103_set_grad_enabled_leak.py",
        "ok_conditional_no_grad.py",
    )

    code = "NG103"
    name = "grad-mode-leak"
    message = ("'set_grad_enabled(False)' as a statement leaks to every caller: use "
               "'with torch.set_grad_enabled(False):' or restore the mode in 'finally'")
    triggers = ("set_grad_enabled",)
    features = frozenset({"grad-mode-statement"})

    def __init__(self, context) -> None:
        super().__init__(context)
        # Per enclosing function: bare set_grad_enabled(False) calls not yet followed by
        # another set_grad_enabled call.
        self._pending: list[list[cst.Call]] = []
        self._bare_false: set[cst.Call] = set()  # set_grad_enabled(False) as a statement

    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        self._pending.append([])

    def leave_FunctionDef(self, node: cst.FunctionDef) -> None:
        for call in self._pending.pop():
            self.report(call)

    def visit_Expr(self, node: cst.Expr) -> None:
        call = node.value
        if isinstance(call, cst.Call) and call.args and constant_bool(call.args[0].value) is False:
            self._bare_false.add(call)

    def visit_Call(self, node: cst.Call) -> None:
        if self._pending and self.context.names.qualified_name(node.func) in SET_GRAD_ENABLED:
            # Any later set_grad_enabled(...) restores (or manages) the earlier ones.
            self._pending[-1][:] = [node] if node in self._bare_false else []
