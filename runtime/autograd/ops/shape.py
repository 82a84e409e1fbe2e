"""Ops that rearrange elements: views (which share storage with their input), expand,
concatenation and stacking."""

from __future__ import annotations

import numpy as np

from runtime.autograd.node import Node


class ViewBackward0(Node):
    is_view = True

    @staticmethod
    def forward(ctx, a, shape=None):
        ctx.shape = a.shape
        return a.reshape(shape)

    @staticmethod
    def backward(ctx, grad):
        return (grad.reshape(ctx.shape),)


class UnsafeViewReshape(ViewBackward0):
    """A reshape that had to copy: PyTorch's ``_unsafe_view`` of a contiguous copy."""

    is_view = False

    def name(self) -> str:
        return "UnsafeViewBackward0"


def reshape_op(array: np.ndarray, shape: tuple) -> type[Node]:
    """A reshape is a view unless the elements' order in memory forbids it."""
    if array.size == 0 or array.flags.c_contiguous or np.shares_memory(array.reshape(shape), array):
        return ViewBackward0
    return UnsafeViewReshape


class TransposeBackward0(Node):
    is_view = True

    @staticmethod
    def forward(ctx, a, dim0=0, dim1=1):
        ctx.dims = (dim0, dim1)
        return np.swapaxes(a, dim0, dim1)

    @staticmethod
    def backward(ctx, grad):
        return (grad.transpose(*ctx.dims),)


class TBackward0(Node):
    # t() of a 0-d or 1-d tensor is a (new) view of it, still recorded as TBackward0.
    is_view = True

    @staticmethod
    def forward(ctx, a):
        return a.T

    @staticmethod
    def backward(ctx, grad):
        return (grad.t(),)


class PermuteBackward0(Node):
    is_view = True

    @staticmethod
    def forward(ctx, a, dims=None):
        ctx.dims = dims
        return np.transpose(a, dims)

    @staticmethod
    def backward(ctx, grad):
        return (grad.permute(*np.argsort(ctx.dims).tolist()),)


class _Reshaped(Node):
    """Ops that only insert or drop size-1 dimensions."""

    is_view = True

    @staticmethod
    def backward(ctx, grad):
        return (grad.reshape(ctx.shape),)


class SqueezeBackward0(_Reshaped):
    @staticmethod
    def forward(ctx, a):
        ctx.shape = a.shape
        return a.squeeze()


class SqueezeBackward1(_Reshaped):
    @staticmethod
    def forward(ctx, a, dim=0):
        ctx.shape = a.shape
        return a.squeeze(dim) if a.ndim and a.shape[dim] == 1 else a


class UnsqueezeBackward0(_Reshaped):
    @staticmethod
    def forward(ctx, a, dim=0):
        ctx.shape = a.shape
        return np.expand_dims(a, dim)


class ExpandBackward0(Node):
    is_view = True

    @staticmethod
    def forward(ctx, a, shape=None):
        ctx.shape = a.shape
        # tuple(list), not tuple(generator): CPython then reuses freed tuples
        shape = tuple([a.shape[i - (len(shape) - a.ndim)] if n == -1 else n
                       for i, n in enumerate(shape)])
        return np.broadcast_to(a, shape)

    @staticmethod
    def backward(ctx, grad):
        return (grad.sum_to_size(ctx.shape),)


class CatBackward0(Node):
    @staticmethod
    def forward(ctx, *arrays, dim=0):
        axis = dim % arrays[0].ndim
        ctx.axis, ctx.sizes = axis, [a.shape[axis] for a in arrays]
        return np.concatenate(arrays, axis=axis)

    @staticmethod
    def backward(ctx, grad):
        before = (slice(None),) * ctx.axis
        bounds = np.cumsum([0, *ctx.sizes]).tolist()
        return tuple(grad[(*before, slice(start, stop))] if needed else None
                     for start, stop, needed in zip(bounds, bounds[1:], ctx.needs_input_grad))


class StackBackward0(Node):
    @staticmethod
    def forward(ctx, *arrays, dim=0):
        ctx.axis = axis = dim % (arrays[0].ndim + 1)
        return np.stack(arrays, axis=axis)

    @staticmethod
    def backward(ctx, grad):
        before = (slice(None),) * ctx.axis
        return tuple(grad[(*before, position)] if needed else None
                     for position, needed in enumerate(ctx.needs_input_grad))


class TransposeBackward1(TransposeBackward0):
    """``transpose_``: the tensor itself takes the swapped layout (no new view)."""

    is_view = False


class RepeatBackward0(Node):
    @staticmethod
    def forward(ctx, a, repeats=()):
        # a has as many leading size-1 dimensions added as repeats has more entries
        padded = (1,) * (len(repeats) - a.ndim) + a.shape
        ctx.shape, ctx.padded, ctx.repeats = a.shape, padded, tuple(repeats)
        return np.tile(a.reshape(padded), repeats)

    @staticmethod
    def backward(ctx, grad):
        # each output dimension is (repeat, size): sum over the repeat axes
        split = [n for pair in zip(ctx.repeats, ctx.padded) for n in pair]
        summed = grad.reshape(split).sum(dim=tuple(range(0, len(split), 2)))
        return (summed.reshape(ctx.shape),)
