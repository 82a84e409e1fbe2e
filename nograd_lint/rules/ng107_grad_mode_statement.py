"""NG107: ``torch.no_grad()`` called as a statement, which does nothing."""

from __future__ import annotations

from nograd_lint import libcst as cst

from nograd_lint.rule import Invalid, Rule, Valid
from nograd_lint.vocabulary import ENABLE_GRAD, INFERENCE_MODE, NO_GRAD


class GradModeStatement(Rule):
    """
    ## What it does
    Flags ``torch.no_grad()``, ``torch.enable_grad()`` or ``torch.inference_mode()`` called
    as a statement of its own.

    ## Why is this bad?
    These are context managers: constructing one changes nothing, only entering it (``with``)
    or decorating a function with it does.  The statement builds the object and throws it away,
    so the code after it still records autograd graphs (or, for ``enable_grad()``, still runs
    without them).  Unlike ``torch.set_grad_enabled(False)``, which acts when called (NG103).

    ## Fix safety
    No automatic fix: which statements the ``with`` block should cover is the author's choice.
    """

    INVALID = (
        Invalid("""
            import torch

            def embed(model, x):
                torch.no_grad()  # expect: NG107
                return model(x)
            """),
    )
    VALID = (
        Valid("""
            import torch

            def embed(model, x):
                with torch.no_grad():
                    return model(x)
            """),
        Valid("""
            import torch

            def embed(model, x):
                torch.set_grad_enabled(False)
                try:
                    return model(x)
                finally:
                    torch.set_grad_enabled(True)
            """),
    )
    fixtures = ("ng107_no_grad_statement.py", "ok_eval_loop_no_grad.py")

    code = "NG107"
    name = "grad-mode-statement"
    message = ("a grad-mode context manager called as a statement does nothing: use "
               "'with torch.no_grad():' or '@torch.no_grad()'")
    triggers = ("no_grad", "inference_mode", "enable_grad")
    features = frozenset({"grad-mode-call-statement"})

    def visit_Expr(self, node: cst.Expr) -> None:
        call = node.value
        if not isinstance(call, cst.Call):
            return
        qualified = self.context.names.qualified_name(call.func)
        if qualified in NO_GRAD | ENABLE_GRAD | INFERENCE_MODE:
            spelled = cst.Module([]).code_for_node(call)
            self.report(call, f"'{spelled}' as a statement does nothing (only entering it "
                        f"switches grad mode): use 'with {spelled}:' around the code, or "
                        "decorate the function with it")
