"""Ops only tensors' in-place methods use: new values (fill, random), copies, assignment to
an index, and the dtype conversion."""

from __future__ import annotations

import numpy as np

from runtime import dtypes
from runtime.autograd.node import Node


class FillBackward0(Node):
    """``zero_``/``fill_``/``normal_``/``uniform_``: new values that depend on nothing."""

    @staticmethod
    def forward(ctx, a, value=0):
        return np.broadcast_to(np.asarray(value, dtype=a.dtype), a.shape)

    @staticmethod
    def backward(ctx, grad):
        return (grad.new_zeros(grad.shape),)


# PyTorch names the node after the in-place op (fill_ with a number or a tensor, zero_...).
class FillBackward2(FillBackward0):
    pass


class FillBackward3(FillBackward0):
    pass


class ZeroBackward0(FillBackward0):
    pass


class NormalBackward0(FillBackward0):
    pass


class UniformBackward0(FillBackward0):
    pass


class CopyBackwards(Node):
    def name(self) -> str:
        return "torch::autograd::CopyBackwards"  # PyTorch's name: this node is no codegen'd op

    @staticmethod
    def forward(ctx, a, source):
        ctx.source_dtype = np.asarray(source).dtype
        return np.broadcast_to(np.asarray(source, dtype=a.dtype), a.shape)

    @staticmethod
    def backward(ctx, grad):
        return grad.new_zeros(grad.shape), grad.to(dtypes.from_numpy(ctx.source_dtype))


class CopySlices(Node):
    """``x[index] = value`` on a tensor with history.  A backward that does not retain the
    graph frees it, as PyTorch's (which drops the op it wraps)."""

    def name(self) -> str:
        return "torch::autograd::CopySlices"  # PyTorch's name: this node is no codegen'd op

    @staticmethod
    def forward(ctx, a, value, index=None):
        ctx.save_for_backward(index)
        result = a.copy()
        result[index] = value
        return result

    @staticmethod
    def backward(ctx, grad):
        index, = ctx.saved_tensors
        need_a, need_value = ctx.needs_input_grad
        return (grad.index_put(index, 0.0) if need_a else None,
                grad[index] if need_value else None)


class ToCopyBackward0(Node):
    @staticmethod
    def forward(ctx, a, dtype=None):
        ctx.input_dtype = a.dtype
        return a.astype(dtype)

    @staticmethod
    def backward(ctx, grad):
        return (grad.to(dtypes.from_numpy(ctx.input_dtype)),)


class BernoulliBackward0(FillBackward0):
    """``bernoulli()``: draws (``value``) with this tensor's probabilities, a new tensor."""

    @staticmethod
    def forward(ctx, a, value=0):
        return np.asarray(value, dtype=a.dtype)


class BernoulliBackward1(FillBackward0):
    """``bernoulli_(p)``: this tensor refilled with draws."""
