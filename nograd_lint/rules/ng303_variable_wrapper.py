"""NG303: the deprecated ``torch.autograd.Variable(...)`` wrapper."""

from __future__ import annotations

from nograd_lint import libcst as cst

from nograd_lint.rule import Fix, FixSafety, Invalid, Rule, Valid
from nograd_lint.syntax import argument, is_false, is_true, method_call, parenthesized
from nograd_lint.vocabulary import VARIABLE


class VariableWrapper(Rule):
    """## What it does
    Flags ``torch.autograd.Variable(x)``, a deprecated wrapper since PyTorch 0.4.

    ## Why is this bad?
    Tensors carry autograd state themselves.  ``Variable(x)`` returns a new tensor that shares
    ``x``'s storage and does not require grad; ``Variable(x, requires_grad=True)`` is
    ``x.detach().requires_grad_()``.  The wrapper is noise that hides what the code means.

    ## Fix safety
    Safe: ``Variable(x)`` becomes ``x`` (which differs only if ``x`` itself requires grad: then
    ``x.detach()`` is the exact equivalent) and ``Variable(x, requires_grad=True)`` becomes
    ``x.detach().requires_grad_()``.  An import of ``Variable`` left unused goes too, and so
    does ``x = x`` where ``x = Variable(x)`` stood.
    """

    INVALID = (
        Invalid("""
            import torch
            from torch.autograd import Variable

            x = Variable(torch.randn(3))  # expect: NG303
            w = Variable(torch.zeros(3), requires_grad=True)  # expect: NG303
            """, fixed="""
            import torch

            x = torch.randn(3)
            w = torch.zeros(3).detach().requires_grad_()
            """),
    )
    VALID = (
        Valid("""
            import torch

            x = torch.randn(3)
            w = torch.zeros(3, requires_grad=True)
            """),
    )
    fixtures = (
        "ng303_variable_wrapper.py",
        "ng303_written_for_runtime.py",
        "ng301_aliases.py",
        "ng301_variable_volatile.py",
        "ok_volatile_migrated.py",
    )

    code = "NG303"
    name = "variable-wrapper"
    message = ("'Variable(...)' is deprecated since PyTorch 0.4: use the tensor itself "
               "('x.detach().requires_grad_()' where requires_grad=True was passed)")
    triggers = ("Variable",)
    fix_safety = FixSafety.SAFE
    features = frozenset({"variable-call"})

    def visit_Call(self, node: cst.Call) -> None:
        if self.context.names.qualified_name(node.func) in VARIABLE:
            self.report(node, fix=_unwrap_variable(node))


def _unwrap_variable(call: cst.Call) -> Fix | None:
    data = argument(call, "data", 0)
    requires_grad = argument(call, "requires_grad", 1)
    volatile = argument(call, "volatile", 2)
    known = {id(a) for a in (data, requires_grad, volatile) if a is not None}
    if data is None or any(id(arg) not in known for arg in call.args):
        return None  # *args, **kwargs or unknown keywords: leave it to a human
    if requires_grad is None or is_false(requires_grad.value):
        replacement = parenthesized(data.value)
    else:
        flag = () if is_true(requires_grad.value) else (requires_grad.value,)
        replacement = method_call(method_call(data.value, "detach"), "requires_grad_", *flag)
    if call.lpar:
        replacement = replacement.with_changes(lpar=call.lpar, rpar=call.rpar)
    return Fix(call, replacement)
