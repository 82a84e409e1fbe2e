"""NG102: a grad-mode context manager used without calling it."""

from __future__ import annotations

from nograd_lint import libcst as cst

from nograd_lint.model.names import dotted_name
from nograd_lint.rule import Fix, FixSafety, Invalid, Rule, Valid
from nograd_lint.vocabulary import ENABLE_GRAD, INFERENCE_MODE, NO_GRAD, SET_GRAD_ENABLED


class GradModeNotCalled(Rule):
    """## What it does
    Flags ``with torch.no_grad:`` (and ``enable_grad``, ``inference_mode``,
    ``set_grad_enabled``) without the call, and ``no_grad(False)``/``enable_grad(False)``.

    ## Why is this bad?
    These are classes: ``with`` needs an instance, and Python 3.11 raises ``TypeError: 'type'
    object does not support the context manager protocol`` before the block runs.
    ``with torch.no_grad(False):`` fails too, because ``no_grad(False)`` takes ``False`` for a
    function to decorate.  (``inference_mode(False)`` is legal and *enables* grad.)

    ## Fix safety
    Safe: the fix adds the missing parentheses (``set_grad_enabled`` needs an argument, so it has
    no fix).
    """

    INVALID = (
        Invalid("""
            import torch

            def evaluate(model, x):
                with torch.no_grad:  # expect: NG102
                    return model(x)
            """, fixed="""
            import torch

            def evaluate(model, x):
                with torch.no_grad():
                    return model(x)
            """),
        Invalid("""
            import torch

            def evaluate(model, x, training):
                with torch.no_grad(training):  # expect: NG102
                    return model(x)
            """),
    )
    VALID = (
        Valid("""
            import torch

            def evaluate(model, x, training):
                with torch.set_grad_enabled(training):
                    return model(x)
            """),
        Valid("""
            import torch

            def forward_with_grad(model, x):
                with torch.inference_mode(False):
                    return model(x)
            """),
    )
    fixtures = (
        "ng102_no_grad_false.py",
        "ng102_no_grad_not_called.py",
        "ok_inference_mode_false.py",
    )

    code = "NG102"
    name = "grad-mode-not-called"
    message = ("grad-mode context manager used without calling it raises TypeError: write "
               "'with torch.no_grad():' (with parentheses)")
    triggers = ("no_grad", "inference_mode", "enable_grad", "set_grad_enabled")
    fix_safety = FixSafety.SAFE
    severity = "error"
    features = frozenset({"grad-mode-with"})

    def visit_WithItem(self, node: cst.WithItem) -> None:
        expression = node.item
        qualified = self.context.names.qualified_name(
            expression.func if isinstance(expression, cst.Call) else expression)
        if qualified not in NO_GRAD | ENABLE_GRAD | INFERENCE_MODE | SET_GRAD_ENABLED:
            return
        short = qualified.rsplit(".", 1)[-1]
        if not isinstance(expression, cst.Call):
            fix = None
            if qualified not in SET_GRAD_ENABLED:
                fix = Fix(expression, cst.Call(func=expression))
            self.report(expression, f"'with {dotted_name(expression)}:' raises TypeError ('type' "
                        f"object does not support the context manager protocol): call it, "
                        f"'with {dotted_name(expression)}():'", fix)
        elif qualified in NO_GRAD | ENABLE_GRAD and expression.args:
            self.report(expression, f"{short}() takes no arguments: '{short}(False)' treats "
                        "False as a function to decorate and the with statement raises "
                        "TypeError; use 'torch.set_grad_enabled(flag)' for a conditional mode")
