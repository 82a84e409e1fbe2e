"""Reductions over all elements or along dimensions, and the normalising ones (softmax)."""

from __future__ import annotations

import numpy as np

from runtime.autograd.node import Node, run_op
from runtime.autograd.ops.shape import ExpandBackward0


def _axes(dim, ndim):
    if dim is None:
        return None
    return tuple([d % ndim for d in (dim if isinstance(dim, (tuple, list)) else (dim,))])


def expand_back(grad, shape, axes, keepdim):
    """Broadcast a reduced gradient back over the reduced ``axes`` of ``shape``."""
    if axes is not None and not keepdim:
        for axis in sorted(axes):
            grad = grad.unsqueeze(axis)
    return grad.expand(shape)


class SumBackward0(Node):
    backward_on_arrays = True

    @staticmethod
    def forward(ctx, a):
        ctx.shape = a.shape
        return np.asarray(a.sum(), dtype=a.dtype if a.dtype != np.bool_ else np.int64)

    @staticmethod
    def backward(ctx, grad):
        return (run_op(ExpandBackward0, grad, shape=ctx.shape),)


class SumBackward1(Node):
    @staticmethod
    def forward(ctx, a, dim=None, keepdim=False):
        axes = _axes(dim, a.ndim)
        ctx.shape, ctx.axes, ctx.keepdim = a.shape, axes, keepdim
        return a.sum(axis=axes, keepdims=keepdim)

    @staticmethod
    def backward(ctx, grad):
        return (expand_back(grad, ctx.shape, ctx.axes, ctx.keepdim),)


class MeanBackward0(Node):
    backward_on_arrays = True

    @staticmethod
    def forward(ctx, a):
        ctx.shape = a.shape
        return np.asarray(a.mean(), dtype=a.dtype)

    @staticmethod
    def backward(ctx, grad):
        return (run_op(ExpandBackward0, grad / max(int(np.prod(ctx.shape)), 1), shape=ctx.shape),)


class MeanBackward1(Node):
    @staticmethod
    def forward(ctx, a, dim=None, keepdim=False):
        axes = _axes(dim, a.ndim)
        ctx.shape, ctx.axes, ctx.keepdim = a.shape, axes, keepdim
        ctx.count = int(np.prod([a.shape[d] for d in axes]))
        return a.mean(axis=axes, keepdims=keepdim).astype(a.dtype, copy=False)

    @staticmethod
    def backward(ctx, grad):
        return (expand_back(grad / ctx.count, ctx.shape, ctx.axes, ctx.keepdim),)


class _Extreme(Node):
    """max()/min() of all elements: the gradient is shared evenly among the extreme values."""

    @classmethod
    def forward(cls, ctx, a):
        result = np.asarray(cls.pick(a))
        ctx.save_for_backward(a, result)
        return result

    @staticmethod
    def backward(ctx, grad):
        a, result = ctx.saved_tensors
        hits = (a == result).to(a.dtype)
        return (grad * hits / hits.sum(),)


class MaxBackward1(_Extreme):
    pick = staticmethod(np.max)


class MinBackward1(_Extreme):
    pick = staticmethod(np.min)


class _ExtremeAlong(Node):
    """max(dim)/min(dim): the gradient goes to the index that was picked."""

    @classmethod
    def forward(cls, ctx, a, dim=0, keepdim=False):
        axis = dim % a.ndim
        indices = np.expand_dims(cls.arg(a, axis=axis), axis)
        ctx.shape, ctx.axis, ctx.keepdim, ctx.indices = a.shape, axis, keepdim, indices
        values = np.take_along_axis(a, indices, axis=axis)
        return values if keepdim else values.squeeze(axis)

    @staticmethod
    def backward(ctx, grad):
        grad = grad if ctx.keepdim else grad.unsqueeze(ctx.axis)
        return (grad.new_zeros(ctx.shape).scatter_add(ctx.axis, ctx.indices, grad),)


class MaxBackward0(_ExtremeAlong):
    arg = staticmethod(np.argmax)


class MinBackward0(_ExtremeAlong):
    arg = staticmethod(np.argmin)


def _variance_grad(grad, a, axes, correction, keepdim):
    count = a.numel() if axes is None else int(np.prod([a.shape[d] for d in axes]))
    centered = a - a.mean(dim=axes, keepdim=True)
    grad = expand_back(grad, a.shape, axes, keepdim or axes is None)
    return grad * 2 * centered / (count - correction)


class VarBackward0(Node):
    @staticmethod
    def forward(ctx, a, dim=None, correction=1, keepdim=False):
        axes = _axes(dim, a.ndim)
        ctx.save_for_backward(a)
        ctx.axes, ctx.correction, ctx.keepdim = axes, correction, keepdim
        return np.asarray(a.var(axis=axes, ddof=correction, keepdims=keepdim), dtype=a.dtype)

    @staticmethod
    def backward(ctx, grad):
        a, = ctx.saved_tensors
        return (_variance_grad(grad, a, ctx.axes, ctx.correction, ctx.keepdim),)


class StdBackward0(Node):
    @staticmethod
    def forward(ctx, a, dim=None, correction=1, keepdim=False):
        axes = _axes(dim, a.ndim)
        result = np.sqrt(np.asarray(a.var(axis=axes, ddof=correction, keepdims=keepdim), dtype=a.dtype))
        ctx.save_for_backward(a, result)
        ctx.axes, ctx.correction, ctx.keepdim = axes, correction, keepdim
        return result

    @staticmethod
    def backward(ctx, grad):
        a, result = ctx.saved_tensors
        return (_variance_grad(grad / (2 * result), a, ctx.axes, ctx.correction, ctx.keepdim),)


class LinalgVectorNormBackward0(Node):
    @staticmethod
    def forward(ctx, a, dim=None, keepdim=False):
        axes = _axes(dim, a.ndim)
        result = np.asarray(np.sqrt((a * a).sum(axis=axes, keepdims=keepdim)), dtype=a.dtype)
        ctx.save_for_backward(a, result)
        ctx.axes, ctx.keepdim = axes, keepdim
        return result

    @staticmethod
    def backward(ctx, grad):
        a, norm = ctx.saved_tensors
        zero = norm == 0  # the subgradient there is 0
        scale = (grad / norm.masked_fill(zero, 1)).masked_fill(zero, 0)
        return (a * expand_back(scale, a.shape, ctx.axes, ctx.keepdim or ctx.axes is None),)


class SoftmaxBackward0(Node):
    @staticmethod
    def forward(ctx, a, dim=-1):
        shifted = np.exp(a - a.max(axis=dim, keepdims=True))
        result = (shifted / shifted.sum(axis=dim, keepdims=True)).astype(a.dtype, copy=False)
        ctx.save_for_backward(result)
        ctx.dim = dim
        return result

    @staticmethod
    def backward(ctx, grad):
        result, = ctx.saved_tensors
        return (result * (grad - (grad * result).sum(dim=ctx.dim, keepdim=True)),)


class LogSoftmaxBackward0(Node):
    backward_on_arrays = True

    @staticmethod
    def forward(ctx, a, dim=-1):
        shifted = a - a.max(axis=dim, keepdims=True)
        result = (shifted - np.log(np.exp(shifted).sum(axis=dim, keepdims=True))).astype(a.dtype, copy=False)
        ctx.save_for_backward(result)
        ctx.dim = dim
        return result

    @staticmethod
    def backward(ctx, grad):
        result, = ctx.saved_tensors
        return (run_op(LogSoftmaxBackwardDataBackward0, grad, result, dim=ctx.dim),)


class LogSoftmaxBackwardDataBackward0(Node):
    """log_softmax's backward as one op (ATen's ``_log_softmax_backward_data``):
    ``grad - exp(result) * grad.sum(dim)``."""

    @staticmethod
    def forward(ctx, grad, result, dim=-1):
        ctx.save_for_backward(grad if ctx.needs_input_grad[1] else None, result)
        ctx.dim = dim
        return grad - np.exp(result) * grad.sum(axis=dim, keepdims=True)

    @staticmethod
    def backward(ctx, outer):
        grad, result = ctx.saved_tensors
        probabilities = result.exp()
        need_grad, need_result = ctx.needs_input_grad
        dim = ctx.dim
        return ((outer - (outer * probabilities).sum(dim=dim, keepdim=True)) if need_grad else None,
                -outer * probabilities * grad.sum(dim=dim, keepdim=True) if need_result else None)


class VarMeanBackward0(Node):
    """``var_mean``: one node with two outputs, the variance and the mean."""

    @staticmethod
    def forward(ctx, a, dim=None, correction=1, keepdim=False):
        axes = _axes(dim, a.ndim)
        ctx.save_for_backward(a)
        ctx.axes, ctx.correction, ctx.keepdim = axes, correction, keepdim
        count = a.size if axes is None else int(np.prod([a.shape[d] for d in axes]))
        ctx.count = count
        return (np.asarray(a.var(axis=axes, ddof=correction, keepdims=keepdim), dtype=a.dtype),
                np.asarray(a.mean(axis=axes, keepdims=keepdim), dtype=a.dtype))

    @staticmethod
    def backward(ctx, grad_var, grad_mean):
        a, = ctx.saved_tensors
        grad = None
        if grad_var is not None:
            grad = _variance_grad(grad_var, a, ctx.axes, ctx.correction, ctx.keepdim)
        if grad_mean is not None:
            spread = expand_back(grad_mean / ctx.count, a.shape, ctx.axes,
                                 ctx.keepdim or ctx.axes is None)
            grad = spread if grad is None else grad + spread
        return (grad,)


class AmaxBackward0(Node):
    """``amax``/``amin``: the gradient is shared evenly among the extreme values."""

    pick = staticmethod(np.max)

    @classmethod
    def forward(cls, ctx, a, dim=(), keepdim=False):
        axes = _axes(dim, a.ndim) if dim != () else None
        result = np.asarray(cls.pick(a, axis=axes, keepdims=keepdim))
        ctx.save_for_backward(a, result)
        ctx.axes, ctx.keepdim = axes, keepdim or axes is None
        return result

    @staticmethod
    def backward(ctx, grad):
        a, result = ctx.saved_tensors
        hits = (a == expand_back(result, a.shape, ctx.axes, ctx.keepdim)).to(a.dtype)
        count = hits.sum(dim=ctx.axes, keepdim=True) if ctx.axes is not None else hits.sum()
        return (expand_back(grad, a.shape, ctx.axes, ctx.keepdim) * hits / count,)


class AminBackward0(AmaxBackward0):
    pick = staticmethod(np.min)


class CumsumBackward0(Node):
    @staticmethod
    def forward(ctx, a, dim=0):
        ctx.dim = dim
        return np.cumsum(a, axis=dim if a.ndim else None).reshape(a.shape)

    @staticmethod
    def backward(ctx, grad):
        # each input reaches every later output: a reversed cumulative sum
        return (grad.sum(dim=ctx.dim, keepdim=True) - grad.cumsum(ctx.dim) + grad,)


class LogsumexpBackward0(Node):
    @staticmethod
    def forward(ctx, a, dim=(), keepdim=False):
        axes = _axes(dim, a.ndim)
        peak = a.max(axis=axes, keepdims=True) if a.size else np.zeros((1,) * a.ndim, a.dtype)
        peak = np.where(np.isfinite(peak), peak, 0)
        result = np.log(np.exp(a - peak).sum(axis=axes, keepdims=True)) + peak
        result = np.asarray(result if keepdim else result.squeeze(axes), dtype=a.dtype)
        ctx.save_for_backward(a, result)
        ctx.axes, ctx.keepdim = axes, keepdim
        return result

    @staticmethod
    def backward(ctx, grad):
        a, result = ctx.saved_tensors
        result = expand_back(result, a.shape, ctx.axes, ctx.keepdim)
        return (expand_back(grad, a.shape, ctx.axes, ctx.keepdim) * (a - result).exp(),)


def _prod_of_others(a, axis: int):
    """For each element of ``a``, the product of the others along ``axis`` (zeros allowed):
    the elements repeated along a new axis with the diagonal set to 1, then multiplied."""
    size = a.shape[axis]
    repeated = a.unsqueeze(axis).expand(*a.shape[:axis], size, *a.shape[axis:])
    diagonal = np.eye(size, dtype=bool).reshape((size, size) + (1,) * (a.dim() - axis - 1))
    return repeated.masked_fill(diagonal, 1).prod(axis + 1)


class ProdBackward0(Node):
    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return np.asarray(a.prod(), dtype=a.dtype)

    @staticmethod
    def backward(ctx, grad):
        a, = ctx.saved_tensors
        flat = a.reshape(-1)
        return ((grad * _prod_of_others(flat, 0)).reshape(a.shape),)


class ProdBackward1(Node):
    @staticmethod
    def forward(ctx, a, dim=0, keepdim=False):
        axis = dim % max(a.ndim, 1)
        ctx.save_for_backward(a)
        ctx.axis, ctx.keepdim = axis, keepdim
        return np.asarray(a.prod(axis=axis if a.ndim else None, keepdims=keepdim), dtype=a.dtype)

    @staticmethod
    def backward(ctx, grad):
        a, = ctx.saved_tensors
        if not a.dim():
            return (grad,)
        return (expand_back(grad, a.shape, (ctx.axis,), ctx.keepdim) * _prod_of_others(a, ctx.axis),)
