"""Arithmetic: +, -, *, /, reciprocal, negation, powers and matrix products."""

from __future__ import annotations

import numpy as np

from runtime.autograd.node import Node


def promoted(result, a, b=None):
    """A float64 ``result`` of ``a`` and ``b`` in PyTorch's dtype where NumPy's differs: an
    integer tensor with a Python float, or divided, gives the default float dtype (float32),
    and so do integer and float32 tensors together; NumPy gives float64 unless an operand is
    float64.  Forwards call it only for a float64 result (``result.dtype is _FLOAT64``, an
    identity test on NumPy's one float64 dtype): the call would cost more than most of the
    operations it follows."""
    if a.dtype != np.float64 and getattr(b, "dtype", None) != np.float64:
        return result.astype(np.float32)
    return result


_FLOAT64 = np.dtype(np.float64)


class AddBackward0(Node):
    backward_on_arrays = True
    alpha = 1  # (stored on a node only when another: one store fewer per ``a + b``)

    @staticmethod
    def forward(ctx, a, b, alpha=1):
        if alpha != 1:
            ctx.alpha = alpha
            result = a + b * alpha
        else:
            result = a + b
        return result if result.dtype is not _FLOAT64 else promoted(result, a, b)

    @staticmethod
    def backward(ctx, grad):
        scaled = ctx.needs_input_grad[1] and ctx.alpha != 1
        return grad, grad * ctx.alpha if scaled else grad


class SubBackward0(Node):
    backward_on_arrays = True
    alpha = 1  # (as AddBackward0's)

    @staticmethod
    def forward(ctx, a, b, alpha=1):
        if alpha != 1:
            ctx.alpha = alpha
            result = a - b * alpha
        else:
            result = a - b
        return result if result.dtype is not _FLOAT64 else promoted(result, a, b)

    @staticmethod
    def backward(ctx, grad):
        if not ctx.needs_input_grad[1]:
            return grad, None
        return grad, -grad * ctx.alpha if ctx.alpha != 1 else -grad


class RsubBackward1(Node):
    """``number - tensor``: inputs (tensor, number)."""

    backward_on_arrays = True

    @staticmethod
    def forward(ctx, a, b):
        result = b - a
        return result if result.dtype is not _FLOAT64 else promoted(result, a, b)

    @staticmethod
    def backward(ctx, grad):
        return -grad, None


class MulBackward0(Node):
    backward_on_arrays = True

    @staticmethod
    def forward(ctx, a, b):
        # each operand only for the other one's gradient
        ctx.save_for_backward(b if ctx.needs_input_grad[0] else None,
                              a if ctx.needs_input_grad[1] else None)
        result = a * b
        return result if result.dtype is not _FLOAT64 else promoted(result, a, b)

    @staticmethod
    def backward(ctx, grad):
        b, a = ctx.saved_tensors
        return (grad * b if ctx.needs_input_grad[0] else None,
                grad * a if ctx.needs_input_grad[1] else None)


class DivBackward0(Node):
    backward_on_arrays = True

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a if ctx.needs_input_grad[1] else None, b)
        result = a / b
        return result if result.dtype is not _FLOAT64 else promoted(result, a, b)

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved_tensors
        return (grad / b if ctx.needs_input_grad[0] else None,
                -grad * a / (b * b) if ctx.needs_input_grad[1] else None)


class ReciprocalBackward0(Node):
    """``1 / tensor``: PyTorch computes ``number / tensor`` as ``reciprocal() * number``."""

    backward_on_arrays = True

    @staticmethod
    def forward(ctx, a):
        result = np.reciprocal(a) if a.dtype.kind == "f" else promoted(1.0 / a, a)
        ctx.save_for_backward(result)
        return result

    @staticmethod
    def backward(ctx, grad):
        result, = ctx.saved_tensors
        return (-grad * result * result,)


class NegBackward0(Node):
    backward_on_arrays = True

    @staticmethod
    def forward(ctx, a):
        return -a

    @staticmethod
    def backward(ctx, grad):
        return (-grad,)


class PowBackward0(Node):
    """``tensor ** number``."""

    backward_on_arrays = True

    @staticmethod
    def forward(ctx, a, exponent):
        ctx.save_for_backward(a)
        ctx.exponent = exponent
        return a ** exponent

    @staticmethod
    def backward(ctx, grad):
        a, = ctx.saved_tensors
        if ctx.exponent == 0:
            return grad * 0, None
        return grad * ctx.exponent * a ** (ctx.exponent - 1), None


class PowBackward1(Node):
    """``tensor ** tensor``."""

    @staticmethod
    def forward(ctx, a, b):
        result = a ** b
        ctx.save_for_backward(a, b, result)
        return result

    @staticmethod
    def backward(ctx, grad):
        a, b, result = ctx.saved_tensors
        need_a, need_b = ctx.needs_input_grad
        # d/da is 0 where b == 0, even at a == 0 (as PyTorch): there the exponent b - 1 is
        # replaced by 1 so that 0 ** -1 is never taken;
        # d/db a**b = a**b log a, taken as 0 where a <= 0 (as PyTorch does at a == 0)
        return (grad * b * a ** (b - 1).masked_fill(b == 0, 1) if need_a else None,
                grad * result * a.masked_fill(a <= 0, 1).log() if need_b else None)


class PowBackward2(Node):
    """``number ** tensor``."""

    @staticmethod
    def forward(ctx, base, b):
        result = np.asarray(base ** b, dtype=np.result_type(b, np.float32))
        ctx.save_for_backward(result)
        ctx.log_base = float(np.log(base)) if base > 0 else float("nan")
        return result

    @staticmethod
    def backward(ctx, grad):
        result, = ctx.saved_tensors
        return None, grad * result * ctx.log_base


class _MatMul(Node):
    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a if ctx.needs_input_grad[1] else None,
                              b if ctx.needs_input_grad[0] else None)
        ctx.ndims = (a.ndim, b.ndim)
        return a @ b

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved_tensors
        a_ndim, b_ndim = ctx.ndims
        need_a, need_b = ctx.needs_input_grad
        # As products of matrices: a 1-D left operand is a row, a 1-D right one a column.
        if b_ndim == 1:
            grad = grad.unsqueeze(-1)
            b = b.unsqueeze(-1) if need_a else None
        if a_ndim == 1:
            grad = grad.unsqueeze(-2)
            a = a.unsqueeze(0) if need_b else None
        grad_a = grad_b = None
        if need_a:
            grad_a = grad @ b.transpose(-1, -2)
            grad_a = grad_a.squeeze(-2) if a_ndim == 1 else grad_a
        if need_b:
            grad_b = a.transpose(-1, -2) @ grad
            grad_b = grad_b.squeeze(-1) if b_ndim == 1 else grad_b
        return grad_a, grad_b


class MmBackward0(_MatMul):
    pass


class MvBackward0(_MatMul):
    pass


class DotBackward0(_MatMul):
    pass


class BmmBackward0(_MatMul):
    pass


# torch.matmul reduces other shapes to mm/bmm and reshapes the result: its grad_fn is the
# last of those steps, so these nodes carry that step's name.
class SqueezeBackward4(_MatMul):
    """1-D @ 2-D: ``a.unsqueeze(0).mm(b).squeeze_(0)``."""


class UnsafeViewBackward0(_MatMul):
    """Batched matmul: folded into bmm/mm, then viewed back to the batch shape."""


class _MatMulClone(_MatMul):
    """2-D @ batched: computed transposed, then made contiguous."""

    def name(self) -> str:
        return "CloneBackward0"


def matmul_op(a_ndim: int, b_ndim: int) -> type[Node]:
    if a_ndim == 1 and b_ndim == 1:
        return DotBackward0
    if a_ndim == 2 and b_ndim == 1:
        return MvBackward0
    if a_ndim == 2 and b_ndim == 2:
        return MmBackward0
    if a_ndim == 1 and b_ndim == 2:
        return SqueezeBackward4
    if a_ndim == 2:
        return _MatMulClone
    return UnsafeViewBackward0


class MaximumBackward0(Node):
    """``maximum(a, b)``: the gradient goes to the larger input, half to each on a tie."""

    pick = staticmethod(np.maximum)

    @classmethod
    def forward(cls, ctx, a, b):
        ctx.save_for_backward(a, b)
        return cls.pick(a, b)

    @classmethod
    def backward(cls, ctx, grad):
        a, b = ctx.saved_tensors
        share_a = ((cls.pick(a._data, b._data) == a._data) - (a._data == b._data) * 0.5
                   ).astype(grad._data.dtype)
        need_a, need_b = ctx.needs_input_grad
        return (grad * share_a if need_a else None, grad * (1 - share_a) if need_b else None)


class MinimumBackward0(MaximumBackward0):
    pick = staticmethod(np.minimum)
