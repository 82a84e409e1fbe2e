"""Every differentiable op: forward and backward together, one small class each.

Class names are PyTorch's ``grad_fn`` names.  Gradients are returned at the broadcast shape of
the output; the engine sums them back to each input's shape.
"""

from __future__ import annotations

import numpy as np

from runtime.autograd.function import RESULT, Function


# ------------------------------------------------------------------------------ arithmetic


class AddBackward0(Function):
    def forward(self, a, b, alpha=1):
        self.alpha = alpha
        return a + b * alpha if alpha != 1 else a + b

    def backward(self, grad):
        scaled = self.alpha != 1 and self.needs_input_grad[1]
        return grad, grad * self.alpha if scaled else grad


class SubBackward0(Function):
    def forward(self, a, b, alpha=1):
        self.alpha = alpha
        return a - b * alpha if alpha != 1 else a - b

    def backward(self, grad):
        if not self.needs_input_grad[1]:
            return grad, None
        return grad, -grad * self.alpha if self.alpha != 1 else -grad


class RsubBackward1(Function):
    """``number - tensor``."""

    def forward(self, a, b):
        return b - a

    def backward(self, grad):
        return -grad, None


class MulBackward0(Function):
    def forward(self, a, b):
        self.save_crosswise()
        return a * b

    def backward(self, grad):
        need_a, need_b = self.needs_input_grad
        return (grad * self.saved(1) if need_a else None,
                grad * self.saved(0) if need_b else None)


class DivBackward0(Function):
    def forward(self, a, b):
        needs = self.needs_input_grad  # empty on the prototype, which records nothing
        self.save(*((0,) if needs and needs[1] else ()), 1)
        return a / b

    def backward(self, grad):
        b = self.saved(1)
        need_a, need_b = self.needs_input_grad
        return (grad / b if need_a else None,
                -grad * self.saved(0) / (b * b) if need_b else None)


class ReciprocalBackward0(Function):
    """``1 / tensor``: PyTorch computes ``number / tensor`` as ``reciprocal() * number``."""

    def forward(self, a):
        self.save(RESULT)
        return np.reciprocal(a) if a.dtype.kind == "f" else 1.0 / a

    def backward(self, grad):
        y = self.saved(RESULT)
        return (-grad * y * y,)


class NegBackward0(Function):
    def forward(self, a):
        return -a

    def backward(self, grad):
        return (-grad,)


class PowBackward0(Function):
    """``tensor ** number``."""

    def forward(self, a, exponent):
        self.save(0)
        self.exponent = exponent
        return a ** exponent

    def backward(self, grad):
        a = self.saved(0)
        return grad * self.exponent * a ** (self.exponent - 1), None


class PowBackward1(Function):
    """``tensor ** tensor``."""

    def forward(self, a, b):
        self.save(0, 1, RESULT)
        return a ** b

    def backward(self, grad):
        a, b, result = self.saved(0), self.saved(1), self.saved(RESULT)
        with np.errstate(divide="ignore", invalid="ignore"):
            grad_b = grad * result * np.where(a > 0, np.log(np.where(a > 0, a, 1)), 0)
        need_a, need_b = self.needs_input_grad
        return (grad * b * a ** (b - 1) if need_a else None,
                grad_b if need_b else None)


class PowBackward2(Function):
    """``number ** tensor``."""

    def forward(self, base, b):
        self.save(RESULT)
        self.base = base
        return np.asarray(base ** b, dtype=np.result_type(b, np.float32))

    def backward(self, grad):
        return None, grad * self.saved(RESULT) * np.log(self.base)


class _MatMul(Function):
    def forward(self, a, b):
        self.save_crosswise()
        self.ndims = (a.ndim, b.ndim)
        return a @ b

    def backward(self, grad):
        a_ndim, b_ndim = self.ndims
        need_a, need_b = self.needs_input_grad
        grad_a = grad_b = None
        if need_a:
            b = self.saved(1)
            if b_ndim == 1:
                grad_a = np.multiply.outer(grad, b)
            elif a_ndim == 1:  # (k,) @ (..., k, m): batches of b broadcast a
                grad_a = (b @ grad[..., None])[..., 0]
            else:
                grad_a = grad @ np.swapaxes(b, -1, -2)
        if need_b:
            a = self.saved(0)
            if a_ndim == 1:
                grad_b = a[:, None] * grad[..., None, :] if b_ndim > 1 else a * grad
            elif b_ndim == 1:
                grad_b = (np.swapaxes(a, -1, -2) @ grad[..., None])[..., 0]
            else:
                grad_b = np.swapaxes(a, -1, -2) @ grad
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


def matmul_op(a_ndim: int, b_ndim: int) -> type[Function]:
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


# ---------------------------------------------------------------------- elementwise unary


class _Unary(Function):
    """``y = f(x)`` whose derivative is computed from the saved input or the saved result."""

    uses = 0  # 0: the derivative needs the input; RESULT: it needs the output

    def forward(self, a):
        self.save(self.uses)
        return self.function(a)

    def backward(self, grad):
        return (grad * self.derivative(self.saved(self.uses)),)


class ExpBackward0(_Unary):
    uses = RESULT
    function = staticmethod(np.exp)
    derivative = staticmethod(lambda y: y)


class LogBackward0(_Unary):
    function = staticmethod(np.log)
    derivative = staticmethod(lambda x: 1 / x)


class SqrtBackward0(_Unary):
    uses = RESULT
    function = staticmethod(np.sqrt)
    derivative = staticmethod(lambda y: 0.5 / y)


class AbsBackward0(_Unary):
    function = staticmethod(np.abs)
    derivative = staticmethod(np.sign)


class SinBackward0(_Unary):
    function = staticmethod(np.sin)
    derivative = staticmethod(np.cos)


class CosBackward0(_Unary):
    function = staticmethod(np.cos)
    derivative = staticmethod(lambda x: -np.sin(x))


class TanhBackward0(_Unary):
    uses = RESULT
    function = staticmethod(np.tanh)
    derivative = staticmethod(lambda y: 1 - y * y)


class SigmoidBackward0(_Unary):
    uses = RESULT

    @staticmethod
    def function(x):
        return (1 / (1 + np.exp(-x))).astype(x.dtype, copy=False)

    derivative = staticmethod(lambda y: y * (1 - y))


class ReluBackward0(_Unary):
    uses = RESULT
    function = staticmethod(lambda x: np.maximum(x, 0).astype(x.dtype, copy=False))
    derivative = staticmethod(lambda y: (y > 0).astype(y.dtype))


class ClampBackward1(Function):
    def forward(self, a, min=None, max=None):  # noqa: A002 - torch's names
        self.save(0)
        self.bounds = (min, max)
        return np.clip(a, min, max).astype(a.dtype, copy=False)

    def backward(self, grad):
        a, (low, high) = self.saved(0), self.bounds
        keep = np.ones(a.shape, dtype=bool)
        if low is not None:
            keep &= a >= low
        if high is not None:
            keep &= a <= high
        return (grad * keep,)


class CloneBackward0(Function):
    def forward(self, a):
        return a.copy()

    def backward(self, grad):
        return (grad,)


class WhereBackward0(Function):
    def forward(self, a, b, condition=None):
        self.condition = condition
        return np.where(condition, a, b)

    def backward(self, grad):
        zero = np.zeros_like(grad)
        return np.where(self.condition, grad, zero), np.where(self.condition, zero, grad)


class MaskedFillBackward0(Function):
    def forward(self, a, mask=None, value=0.0):
        self.mask = mask
        return np.where(mask, np.asarray(value, dtype=a.dtype), a)

    def backward(self, grad):
        return (np.where(self.mask, 0, grad),)


# ------------------------------------------------------------------------------ reductions


def _axes(dim, ndim):
    if dim is None:
        return None
    return tuple(d % ndim for d in (dim if isinstance(dim, (tuple, list)) else (dim,)))


def _expand_back(grad, shape, axes, keepdim):
    """Broadcast a reduced gradient back over the reduced ``axes`` of ``shape``."""
    if axes is not None and not keepdim:
        grad = np.expand_dims(grad, axes)
    return np.broadcast_to(grad, shape)


class SumBackward0(Function):
    def forward(self, a):
        self.shape = a.shape
        return np.asarray(a.sum(), dtype=a.dtype if a.dtype != np.bool_ else np.int64)

    def backward(self, grad):
        return (np.broadcast_to(grad, self.shape),)


class SumBackward1(Function):
    def forward(self, a, dim=None, keepdim=False):
        axes = _axes(dim, a.ndim)
        self.shape, self.axes, self.keepdim = a.shape, axes, keepdim
        return a.sum(axis=axes, keepdims=keepdim)

    def backward(self, grad):
        return (_expand_back(grad, self.shape, self.axes, self.keepdim),)


class MeanBackward0(Function):
    def forward(self, a):
        self.shape = a.shape
        return np.asarray(a.mean(), dtype=a.dtype)

    def backward(self, grad):
        return (np.broadcast_to(grad / max(np.prod(self.shape), 1), self.shape),)


class MeanBackward1(Function):
    def forward(self, a, dim=None, keepdim=False):
        axes = _axes(dim, a.ndim)
        self.shape, self.axes, self.keepdim = a.shape, axes, keepdim
        self.count = np.prod([a.shape[d] for d in axes])
        return a.mean(axis=axes, keepdims=keepdim).astype(a.dtype, copy=False)

    def backward(self, grad):
        return (_expand_back(grad / self.count, self.shape, self.axes, self.keepdim),)


class _Extreme(Function):
    """max()/min() of all elements: the gradient is shared evenly among the extreme values."""

    pick = staticmethod(np.max)

    def forward(self, a):
        self.save(0, RESULT)
        return np.asarray(self.pick(a))

    def backward(self, grad):
        hits = self.saved(0) == self.saved(RESULT)
        return (grad * hits / hits.sum(),)


class MaxBackward1(_Extreme):
    pick = staticmethod(np.max)


class MinBackward1(_Extreme):
    pick = staticmethod(np.min)


class _ExtremeAlong(Function):
    """max(dim)/min(dim): the gradient goes to the index that was picked."""

    arg = staticmethod(np.argmax)

    def forward(self, a, dim=0, keepdim=False):
        axis = dim % a.ndim
        indices = np.expand_dims(self.arg(a, axis=axis), axis)
        self.shape, self.axis, self.keepdim, self.indices = a.shape, axis, keepdim, indices
        values = np.take_along_axis(a, indices, axis=axis)
        return values if keepdim else values.squeeze(axis)

    def backward(self, grad):
        full = np.zeros(self.shape, dtype=grad.dtype)
        grad = grad if self.keepdim else np.expand_dims(grad, self.axis)
        np.put_along_axis(full, self.indices, grad, axis=self.axis)
        return (full,)


class MaxBackward0(_ExtremeAlong):
    arg = staticmethod(np.argmax)


class MinBackward0(_ExtremeAlong):
    arg = staticmethod(np.argmin)


class VarBackward0(Function):
    def forward(self, a, dim=None, correction=1, keepdim=False):
        self.save(0)
        axes = _axes(dim, a.ndim)
        self.axes, self.correction, self.keepdim = axes, correction, keepdim
        return np.asarray(a.var(axis=axes, ddof=correction, keepdims=keepdim), dtype=a.dtype)

    def backward(self, grad):
        a = self.saved(0)
        count = a.size if self.axes is None else np.prod([a.shape[d] for d in self.axes])
        centered = a - a.mean(axis=self.axes, keepdims=True)
        grad = _expand_back(grad, a.shape, self.axes, self.keepdim or self.axes is None)
        return (grad * 2 * centered / (count - self.correction),)


class StdBackward0(VarBackward0):
    def forward(self, a, dim=None, correction=1, keepdim=False):
        variance = super().forward(a, dim, correction, keepdim)
        self.save(0, RESULT)
        return np.sqrt(variance)

    def backward(self, grad):
        std = self.saved(RESULT)
        return super().backward(grad / (2 * std))


class LinalgVectorNormBackward0(Function):
    def forward(self, a, dim=None, keepdim=False):
        self.save(0, RESULT)
        axes = _axes(dim, a.ndim)
        self.axes, self.keepdim = axes, keepdim
        return np.asarray(np.sqrt((a * a).sum(axis=axes, keepdims=keepdim)), dtype=a.dtype)

    def backward(self, grad):
        a, norm = self.saved(0), self.saved(RESULT)
        scale = np.divide(grad, norm, out=np.zeros_like(np.asarray(grad / np.ones_like(norm))),
                          where=norm != 0)
        return (a * _expand_back(scale, a.shape, self.axes, self.keepdim or self.axes is None),)


class SoftmaxBackward0(Function):
    def forward(self, a, dim=-1):
        self.save(RESULT)
        self.axis = dim
        shifted = np.exp(a - a.max(axis=dim, keepdims=True))
        return (shifted / shifted.sum(axis=dim, keepdims=True)).astype(a.dtype, copy=False)

    def backward(self, grad):
        y = self.saved(RESULT)
        return (y * (grad - (grad * y).sum(axis=self.axis, keepdims=True)),)


class LogSoftmaxBackward0(Function):
    def forward(self, a, dim=-1):
        self.save(RESULT)
        self.axis = dim
        shifted = a - a.max(axis=dim, keepdims=True)
        return (shifted - np.log(np.exp(shifted).sum(axis=dim, keepdims=True))).astype(a.dtype, copy=False)

    def backward(self, grad):
        y = self.saved(RESULT)
        return (grad - np.exp(y) * grad.sum(axis=self.axis, keepdims=True),)


# ---------------------------------------------------------------------------- shape, views


class ViewBackward0(Function):
    is_view = True

    def forward(self, a, shape=None):
        self.shape = a.shape
        out = a.reshape(shape)
        if not np.shares_memory(out, a) and a.size:
            self.is_view = False  # reshape had to copy
        return out

    def name(self) -> str:
        # A reshape that had to copy is PyTorch's ``_unsafe_view`` of a contiguous copy.
        return "ViewBackward0" if self.is_view else "UnsafeViewBackward0"

    def backward(self, grad):
        return (grad.reshape(self.shape),)


class TransposeBackward0(Function):
    is_view = True

    def forward(self, a, dim0=0, dim1=1):
        self.dims = (dim0, dim1)
        return np.swapaxes(a, dim0, dim1)

    def backward(self, grad):
        return (np.swapaxes(grad, *self.dims),)


class TBackward0(TransposeBackward0):
    # t() of a 0-d or 1-d tensor is a (new) view of it, still recorded as TBackward0.
    def forward(self, a, dim0=0, dim1=-1):
        return a.T

    def backward(self, grad):
        return (grad.T,)


class PermuteBackward0(Function):
    is_view = True

    def forward(self, a, dims=None):
        self.dims = dims
        return np.transpose(a, dims)

    def backward(self, grad):
        return (np.transpose(grad, np.argsort(self.dims)),)


class _Reshaped(Function):
    """Ops that only insert or drop size-1 dimensions."""

    is_view = True

    def backward(self, grad):
        return (grad.reshape(self.shape),)


class SqueezeBackward0(_Reshaped):
    def forward(self, a):
        self.shape = a.shape
        return a.squeeze()


class SqueezeBackward1(_Reshaped):
    def forward(self, a, dim=0):
        self.shape = a.shape
        return a.squeeze(dim) if a.ndim and a.shape[dim] == 1 else a


class UnsqueezeBackward0(_Reshaped):
    def forward(self, a, dim=0):
        self.shape = a.shape
        return np.expand_dims(a, dim)


class ExpandBackward0(Function):
    is_view = True

    def forward(self, a, shape=None):
        self.shape = a.shape
        shape = tuple(a.shape[i - (len(shape) - a.ndim)] if n == -1 else n
                      for i, n in enumerate(shape))
        return np.broadcast_to(a, shape)

    def backward(self, grad):
        return (grad,)  # the engine sums it back to the input's shape


def _is_basic(index) -> bool:
    items = index if isinstance(index, tuple) else (index,)
    return all(isinstance(i, (int, np.integer, slice)) or i is None or i is Ellipsis for i in items)


class _Indexing(Function):
    def forward(self, a, index=None):
        self.shape, self.index = a.shape, index
        return a[index]

    def backward(self, grad):
        full = np.zeros(self.shape, dtype=grad.dtype)
        np.add.at(full, self.index, grad)
        return (full,)


class SelectBackward0(_Indexing):
    is_view = True


class SliceBackward0(_Indexing):
    is_view = True


class IndexBackward0(_Indexing):
    pass


class UnsqueezeIndexBackward0(_Indexing):
    is_view = True

    def name(self) -> str:
        return "UnsqueezeBackward0"


class AliasBackward0(_Indexing):
    is_view = True


def indexing_op(index) -> type[Function]:
    if isinstance(index, (int, np.integer)) or (isinstance(index, np.ndarray) and index.ndim == 0
                                                and index.dtype.kind in "iu"):
        return SelectBackward0
    if not _is_basic(index):
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


class CatBackward0(Function):
    def forward(self, *arrays, dim=0):
        axis = dim % arrays[0].ndim
        self.axis, self.sizes = axis, [a.shape[axis] for a in arrays]
        return np.concatenate(arrays, axis=axis)

    def backward(self, grad):
        return tuple(np.split(grad, np.cumsum(self.sizes)[:-1], axis=self.axis))


class StackBackward0(Function):
    def forward(self, *arrays, dim=0):
        self.axis = axis = dim % (arrays[0].ndim + 1)
        return np.stack(arrays, axis=axis)

    def backward(self, grad):
        return tuple(np.moveaxis(grad, self.axis, 0))


class GatherBackward0(Function):
    def forward(self, a, dim=0, index=None):
        self.shape, self.axis, self.index = a.shape, dim, index
        return np.take_along_axis(a, index, axis=dim)

    def backward(self, grad):
        full = np.zeros(self.shape, dtype=grad.dtype)
        indices = list(np.indices(self.index.shape, sparse=True))
        indices[self.axis] = self.index
        np.add.at(full, tuple(indices), grad)
        return (full,)
