"""Indexing, and the ops that put values at indices (their backward ops)."""

from __future__ import annotations

import numpy as np

from runtime.autograd.node import Node
from runtime.autograd.ops.shape import CatBackward0, StackBackward0


def is_basic(index) -> bool:
    items = index if isinstance(index, tuple) else (index,)
    return all(isinstance(i, (int, np.integer, slice)) or i is None or i is Ellipsis for i in items)


class _Indexing(Node):
    @staticmethod
    def forward(ctx, a, index=None):
        ctx.shape, ctx.index = a.shape, index
        return a[index]

    @staticmethod
    def backward(ctx, grad):
        return (grad.new_zeros(ctx.shape).index_put(ctx.index, grad, accumulate=True),)


class SelectBackward0(_Indexing):
    is_view = True


class SliceBackward0(_Indexing):
    is_view = True


class IndexBackward0(Node):
    """Advanced indexing.  As in PyTorch it saves its indices, so a backward that does not
    retain the graph frees them."""

    @staticmethod
    def forward(ctx, a, index=None):
        ctx.shape = a.shape
        ctx.save_for_backward(index)
        return a[index]

    @staticmethod
    def backward(ctx, grad):
        index, = ctx.saved_tensors
        return (grad.new_zeros(ctx.shape).index_put(index, grad, accumulate=True),)


class UnsqueezeIndexBackward0(_Indexing):
    is_view = True

    def name(self) -> str:
        return "UnsqueezeBackward0"


class AliasBackward0(_Indexing):
    is_view = True


class AsStridedBackward0(_Indexing):
    """A view re-derived from its base after an in-place change of it: the elements of the
    base at ``index``.  (Only its node is used: the view keeps its own storage.)"""


def _materialized(grads: tuple, shapes: tuple) -> list:
    """The gradients of a node's outputs, with zeros for those no gradient flowed to."""
    known = next(grad for grad in grads if grad is not None)
    return [known.new_zeros(shape) if grad is None else grad for grad, shape in zip(grads, shapes)]


class UnbindBackward0(Node):
    """``unbind(dim)``: one node whose outputs are views of the input, one per position
    along ``dim``."""

    is_view = True

    @staticmethod
    def forward(ctx, a, dim=0):
        ctx.dim = dim
        before = (slice(None),) * dim
        return tuple([a[(*before, position)] for position in range(a.shape[dim])])

    @staticmethod
    def backward(ctx, *grads):
        first, *others = _materialized(grads, ctx._shapes)
        return (first._apply(StackBackward0, *others, dim=ctx.dim),)


class SplitBackward0(Node):
    """``split``/``chunk``: one node whose outputs are views of consecutive pieces of the
    input along ``dim``, ``sizes`` long."""

    is_view = True

    @staticmethod
    def forward(ctx, a, sizes=(), dim=0):
        ctx.dim = dim
        before = (slice(None),) * dim
        starts = np.cumsum([0, *sizes]).tolist()
        return tuple([a[(*before, slice(start, start + size))]
                      for start, size in zip(starts, sizes)])

    @staticmethod
    def backward(ctx, *grads):
        first, *others = _materialized(grads, ctx._shapes)
        return (first._apply(CatBackward0, *others, dim=ctx.dim),)


class SplitWithSizesBackward0(SplitBackward0):
    """``split`` with a list of sizes."""


def indexing_op(index) -> type[Node]:
    if isinstance(index, (int, np.integer)) or (isinstance(index, np.ndarray) and index.ndim == 0
                                                and index.dtype.kind in "iu"):
        return SelectBackward0
    if not is_basic(index):
        return IndexBackward0
    if not isinstance(index, tuple):
        return UnsqueezeIndexBackward0 if index is None else SliceBackward0
    # PyTorch applies a basic index item by item; the node is the last step that did
    # anything (a full ``:`` inside a tuple, or ``...``, does nothing; nothing at all: alias).
    for item in reversed(index):
        if item is None:
            return UnsqueezeIndexBackward0
        if isinstance(item, (int, np.integer)):
            return SelectBackward0
        if isinstance(item, slice) and item != slice(None):
            return SliceBackward0
    return AliasBackward0


def _without_new_axes(index):
    """``index`` for an array whose size-1 axes from ``None`` items were not added: the
    places ``np.add.at`` should write to."""
    items = index if isinstance(index, tuple) else (index,)
    return tuple(i for i in items if i is not None)


class IndexPutBackward0(Node):
    """``base.index_put(index, values, accumulate)``: base with ``values`` written (or added)
    at ``index``."""

    @staticmethod
    def forward(ctx, base, values, index=None, accumulate=False):
        ctx.save_for_backward(index)  # (freed by backward, as PyTorch's saved indices)
        ctx.accumulate = accumulate
        result = base.copy()
        if accumulate:
            where = _without_new_axes(index)
            np.add.at(result, where, np.asarray(values).reshape(result[where].shape)
                      if np.ndim(values) else values)
        else:
            result[index] = values
        return result

    @staticmethod
    def backward(ctx, grad):
        index, = ctx.saved_tensors
        need_base, need_values = ctx.needs_input_grad
        grad_base = grad_values = None
        if need_base:
            grad_base = grad if ctx.accumulate else grad.index_put(index, 0.0)
        if need_values:
            grad_values = grad[index]
        return grad_base, grad_values


class GatherBackward0(Node):
    @staticmethod
    def forward(ctx, a, dim=0, index=None):
        ctx.shape, ctx.dim = a.shape, dim
        ctx.save_for_backward(index)  # (freed by backward, as in PyTorch)
        return np.take_along_axis(a, index, axis=dim)

    @staticmethod
    def backward(ctx, grad):
        index, = ctx.saved_tensors
        return (grad.new_zeros(ctx.shape).scatter_add(ctx.dim, index, grad),)


class ScatterAddBackward0(Node):
    @staticmethod
    def forward(ctx, base, source, dim=0, index=None):
        ctx.dim, ctx.index = dim, index
        result = base.copy()
        positions = list(np.indices(index.shape, sparse=True))
        positions[dim] = index
        np.add.at(result, tuple(positions), source[tuple(slice(0, n) for n in index.shape)])
        return result

    @staticmethod
    def backward(ctx, grad):
        need_base, need_source = ctx.needs_input_grad
        return (grad if need_base else None,
                grad.gather(ctx.dim, ctx.index) if need_source else None)
