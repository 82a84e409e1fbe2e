"""runtime: a NumPy autograd package with PyTorch's grad-mode semantics.

Its public names mirror ``torch`` for the supported subset, so a torch program of that subset
runs unchanged with ``python -m runtime.torch_alias program.py``.
"""

from __future__ import annotations

import builtins
import functools
import warnings

import numpy as np

from runtime import autograd  # first: runtime.tensor builds on its submodules
from runtime import dtypes
from runtime.autograd.ops.shape import CatBackward0, StackBackward0
from runtime.autograd.ops.unary import WhereBackward0
from runtime.dtypes import bool_ as bool  # noqa: A001 - torch.bool
from runtime.dtypes import (
    double, dtype, float, float32, float64, int, int8, int16, int32, int64,  # noqa: A001
    long, short, uint8,
)
from runtime.grad_mode import (
    enable_grad, inference_mode, is_grad_enabled, is_inference_mode_enabled, no_grad,
    set_grad_enabled,
)
from runtime.random import Generator, manual_seed
from runtime.random import default_generator as _generator
from runtime.tensor import Size, Tensor, _operand, apply

# ---- torch's device API and module-level names (issue 21); kept in one block for merges
from runtime import cuda
from runtime.device import check_available, device
from runtime.legacy_types import (
    BoolTensor, ByteTensor, CharTensor, DoubleTensor, FloatTensor, IntTensor, LongTensor,
    ShortTensor,
)
from runtime.version import __version__


def is_inference(input: Tensor) -> __builtins__["bool"]:  # noqa: A002 - torch's name
    return input.is_inference()
# ---- end of the issue-21 block


# ------------------------------------------------------------------------------ factories

COPY_CONSTRUCT = (
    "To copy construct from a tensor, it is recommended to use sourceTensor.detach().clone() or "
    "sourceTensor.detach().clone().requires_grad_(True), rather than torch.tensor(sourceTensor).")


def _make(array: np.ndarray, dtype=None, requires_grad: bool = False) -> Tensor:
    chosen = dtype if dtype is not None else float32
    tensor = Tensor._wrap(np.asarray(array, dtype=chosen.numpy))
    return tensor.requires_grad_(requires_grad) if requires_grad else tensor


def _on_device(factory):
    """A factory's ``device=``: the CPU, or PyTorch's error for a device not available."""
    @functools.wraps(factory)
    def make(*args, device=None, **kwargs):
        if device is not None:
            check_available(device)
        return factory(*args, **kwargs)
    return make


def _size(size) -> tuple:
    return tuple(size[0]) if len(size) == 1 and isinstance(size[0], (tuple, list)) else tuple(size)


@_on_device
def tensor(data, dtype=None, requires_grad=False) -> Tensor:
    if isinstance(data, Tensor):
        warnings.warn(COPY_CONSTRUCT, UserWarning, stacklevel=3)  # past the device wrapper
    result = Tensor(data, dtype)
    return result.requires_grad_(requires_grad) if requires_grad else result


@_on_device
def as_tensor(data, dtype=None) -> Tensor:
    if isinstance(data, Tensor):
        return data if dtype in (None, data.dtype) else data.to(dtype)
    return tensor(data, dtype)


def from_numpy(array: np.ndarray) -> Tensor:
    return Tensor._wrap(array)


@_on_device
def zeros(*size, dtype=None, requires_grad=False) -> Tensor:
    return _make(np.zeros(_size(size)), dtype, requires_grad)


@_on_device
def ones(*size, dtype=None, requires_grad=False) -> Tensor:
    return _make(np.ones(_size(size)), dtype, requires_grad)


@_on_device
def empty(*size, dtype=None, requires_grad=False) -> Tensor:
    return _make(np.zeros(_size(size)), dtype, requires_grad)


@_on_device
def full(size, fill_value, dtype=None, requires_grad=False) -> Tensor:
    if dtype is None and isinstance(fill_value, (builtins.int, builtins.bool)):
        dtype = int64 if not isinstance(fill_value, builtins.bool) else bool
    return _make(np.full(tuple(size), fill_value), dtype, requires_grad)


@_on_device
def eye(n, m=None, dtype=None, requires_grad=False) -> Tensor:
    return _make(np.eye(n, m), dtype, requires_grad)


@_on_device
def arange(start, end=None, step=1, dtype=None, requires_grad=False) -> Tensor:
    if end is None:
        start, end = 0, start
    values = np.arange(start, end, step)
    if dtype is None:
        dtype = int64 if values.dtype.kind in "iu" else float32
    return _make(values, dtype, requires_grad)


@_on_device
def linspace(start, end, steps, dtype=None, requires_grad=False) -> Tensor:
    return _make(np.linspace(start, end, steps), dtype, requires_grad)


@_on_device
def rand(*size, dtype=None, requires_grad=False, generator=None) -> Tensor:
    return _make((generator or _generator).uniform(0, 1, _size(size)), dtype, requires_grad)


@_on_device
def randn(*size, dtype=None, requires_grad=False, generator=None) -> Tensor:
    return _make((generator or _generator).normal(0, 1, _size(size)), dtype, requires_grad)


@_on_device
def randint(low, high=None, size=(), dtype=None, generator=None) -> Tensor:
    if high is None:
        low, high = 0, low
    return _make((generator or _generator).integers(low, high, tuple(size)), dtype or int64)


@_on_device
def randperm(n, generator=None, dtype=None) -> Tensor:
    return _make((generator or _generator).permutation(n), dtype or int64)


def _like(factory):
    def like(other: Tensor, dtype=None, requires_grad=False, device=None, **kwargs) -> Tensor:
        return factory(*other.shape, dtype=dtype or other.dtype, requires_grad=requires_grad,
                       device=device, **kwargs)
    like.__name__ = factory.__name__ + "_like"
    return like


zeros_like, ones_like, empty_like = _like(zeros), _like(ones), _like(empty)
rand_like, randn_like = _like(rand), _like(randn)


@_on_device
def full_like(other: Tensor, fill_value, dtype=None, requires_grad=False) -> Tensor:
    return full(other.shape, fill_value, dtype=dtype or other.dtype, requires_grad=requires_grad)


def is_tensor(value) -> builtins.bool:
    return isinstance(value, Tensor)


# ------------------------------------------------------------------------------ operations


def unbind(input: Tensor, dim=0) -> tuple:  # noqa: A002 - torch's names
    return input.unbind(dim)


def split(input: Tensor, split_size_or_sections, dim=0) -> tuple:  # noqa: A002
    return input.split(split_size_or_sections, dim)


def chunk(input: Tensor, chunks, dim=0) -> tuple:  # noqa: A002
    return input.chunk(chunks, dim)


def cat(tensors, dim=0) -> Tensor:
    return apply(CatBackward0, *tensors, dim=dim)


concat = cat


def stack(tensors, dim=0) -> Tensor:
    return apply(StackBackward0, *tensors, dim=dim)


def where(condition, input, other) -> Tensor:  # noqa: A002 - torch's names
    return apply(WhereBackward0, _operand(input), _operand(other), condition=condition._data)


def matmul(a: Tensor, b: Tensor) -> Tensor:
    return a @ b


mm = matmul


def equal(a: Tensor, b: Tensor) -> builtins.bool:
    return a.equal(b)


def allclose(a: Tensor, b: Tensor, rtol=1e-05, atol=1e-08) -> builtins.bool:
    return a.allclose(b, rtol, atol)


# ------------------------------------------------------------------------------ functions
# that are Tensor methods: ``runtime.exp(x)`` is ``x.exp()``, as in torch.


def exp(input: Tensor):  # noqa: A002 - torch's names
    return input.exp()


def log(input: Tensor):  # noqa: A002 - torch's names
    return input.log()


def sqrt(input: Tensor):  # noqa: A002 - torch's names
    return input.sqrt()


def abs(input: Tensor):  # noqa: A001, A002 - torch's names
    return input.abs()


def sin(input: Tensor):  # noqa: A002 - torch's names
    return input.sin()


def cos(input: Tensor):  # noqa: A002 - torch's names
    return input.cos()


def sinh(input: Tensor):  # noqa: A002 - torch's names
    return input.sinh()


def cosh(input: Tensor):  # noqa: A002 - torch's names
    return input.cosh()


def tanh(input: Tensor):  # noqa: A002 - torch's names
    return input.tanh()


def sigmoid(input: Tensor):  # noqa: A002 - torch's names
    return input.sigmoid()


def relu(input: Tensor):  # noqa: A002 - torch's names
    return input.relu()


def relu_(input: Tensor):  # noqa: A002 - torch's names
    return input.relu_()


def sign(input: Tensor):  # noqa: A002 - torch's names
    return input.sign()


def clip(input: Tensor, min=None, max=None):  # noqa: A002 - torch's names
    return input.clip(min, max)


def sum(input: Tensor, dim=None, keepdim=False):  # noqa: A001, A002 - torch's names
    return input.sum(dim, keepdim)


def mean(input: Tensor, dim=None, keepdim=False):  # noqa: A002 - torch's names
    return input.mean(dim, keepdim)


def max(input: Tensor, dim=None, keepdim=False):  # noqa: A001, A002 - torch's names
    return input.max(dim, keepdim)


def min(input: Tensor, dim=None, keepdim=False):  # noqa: A001, A002 - torch's names
    return input.min(dim, keepdim)


def argmax(input: Tensor, dim=None, keepdim=False):  # noqa: A002 - torch's names
    return input.argmax(dim, keepdim)


def argmin(input: Tensor, dim=None, keepdim=False):  # noqa: A002 - torch's names
    return input.argmin(dim, keepdim)


def norm(input: Tensor, p=2, dim=None, keepdim=False):  # noqa: A002 - torch's names
    return input.norm(p, dim, keepdim)


def std(input: Tensor, dim=None, unbiased=True, keepdim=False, correction=None):  # noqa: A002 - torch's names
    return input.std(dim, unbiased, keepdim, correction)


def var(input: Tensor, dim=None, unbiased=True, keepdim=False, correction=None):  # noqa: A002 - torch's names
    return input.var(dim, unbiased, keepdim, correction)


def softmax(input: Tensor, dim):  # noqa: A002 - torch's names
    return input.softmax(dim)


def log_softmax(input: Tensor, dim):  # noqa: A002 - torch's names
    return input.log_softmax(dim)


def reshape(input: Tensor, *shape):  # noqa: A002 - torch's names
    return input.reshape(*shape)


def transpose(input: Tensor, dim0, dim1):  # noqa: A002 - torch's names
    return input.transpose(dim0, dim1)


def t(input: Tensor):  # noqa: A002 - torch's names
    return input.t()


def permute(input: Tensor, *dims):  # noqa: A002 - torch's names
    return input.permute(*dims)


def squeeze(input: Tensor, dim=None):  # noqa: A002 - torch's names
    return input.squeeze(dim)


def unsqueeze(input: Tensor, dim):  # noqa: A002 - torch's names
    return input.unsqueeze(dim)


def flatten(input: Tensor, start_dim=0, end_dim=-1):  # noqa: A002 - torch's names
    return input.flatten(start_dim, end_dim)


def gather(input: Tensor, dim, index):  # noqa: A002 - torch's names
    return input.gather(dim, index)


def masked_fill(input: Tensor, mask, value):  # noqa: A002 - torch's names
    return input.masked_fill(mask, value)


OUT_WITH_GRAD = ("{}(): functions with out=... arguments don't support automatic "
                 "differentiation, but one of the arguments requires grad.")
OUT_RESIZED = (
    "An output with one or more elements was resized since it had shape {}, which does not "
    "match the required output shape {}. This behavior is deprecated, and in a future PyTorch "
    "release outputs will not be resized unless they have zero elements. You can explicitly "
    "reuse an out tensor t by resizing it, inplace, to zero elements with t.resize_(0). "
    "(Triggered internally at /__w/pytorch/pytorch/aten/src/ATen/native/Resize.cpp:30.)")


def _with_out(function):
    """``out=``: the result is written into that tensor, as PyTorch's out= variants, which
    are not differentiable (refused while an argument requires grad)."""
    @functools.wraps(function)
    def run(*args, out=None, **kwargs):
        if out is None:
            return function(*args, **kwargs)
        tensors = [a for a in (*args, out) if isinstance(a, Tensor)]
        if is_grad_enabled() and any(t.requires_grad for t in tensors):
            raise RuntimeError(OUT_WITH_GRAD.format(function.__name__))
        result = function(*args, **kwargs)
        if result.shape != out.shape:
            if out.numel():
                warnings.warn(OUT_RESIZED.format(list(out.shape), list(result.shape)),
                              UserWarning, stacklevel=2)
            out._data = np.zeros_like(result._data, dtype=out._data.dtype)
        return out.copy_(result)
    return run


@_with_out
def add(input: Tensor, other, alpha=1):  # noqa: A002 - torch's names
    return input.add(other, alpha)


@_with_out
def sub(input: Tensor, other, alpha=1):  # noqa: A002 - torch's names
    return input.sub(other, alpha)


@_with_out
def mul(input: Tensor, other):  # noqa: A002 - torch's names
    return input.mul(other)


@_with_out
def div(input: Tensor, other):  # noqa: A002 - torch's names
    return input.div(other)


@_with_out
def clamp(input: Tensor, min=None, max=None):  # noqa: A002 - torch's names
    return input.clamp(min, max)


def _foreach_mul_(tensors, scalar):
    """Every tensor of ``tensors`` multiplied in place, as one call (the optimizers' kernels)."""
    for tensor in tensors:
        tensor.mul_(scalar)


def _foreach_add_(tensors, others, alpha=1):
    """Every tensor of ``tensors`` added ``alpha`` times its partner of ``others`` in place."""
    for tensor, other in zip(tensors, others):
        tensor.add_(other, alpha=alpha)


def pow(input: Tensor, exponent):  # noqa: A001, A002 - torch's names
    return input.pow(exponent)


def neg(input: Tensor):  # noqa: A002 - torch's names
    return input.neg()


def clone(input: Tensor):  # noqa: A002 - torch's names
    return input.clone()


def detach(input: Tensor):  # noqa: A002 - torch's names
    return input.detach()


def numel(input: Tensor):  # noqa: A002 - torch's names
    return input.numel()


def eq(input: Tensor, other):  # noqa: A002 - torch's names
    return input.eq(other)


def ne(input: Tensor, other):  # noqa: A002 - torch's names
    return input.ne(other)


def lt(input: Tensor, other):  # noqa: A002 - torch's names
    return input.lt(other)


def le(input: Tensor, other):  # noqa: A002 - torch's names
    return input.le(other)


def gt(input: Tensor, other):  # noqa: A002 - torch's names
    return input.gt(other)


def ge(input: Tensor, other):  # noqa: A002 - torch's names
    return input.ge(other)


def narrow(input: Tensor, dim, start, length):  # noqa: A002 - torch's names
    return input.narrow(dim, start, length)


def select(input: Tensor, dim, index):  # noqa: A002 - torch's names
    return input.select(dim, index)


def var_mean(input: Tensor, dim=None, unbiased=True, keepdim=False, correction=None):  # noqa: A002
    return input.var_mean(dim, unbiased=unbiased, keepdim=keepdim, correction=correction)


def square(input: Tensor):  # noqa: A002 - torch's names
    return input.square()


def amax(input: Tensor, dim=(), keepdim=False):  # noqa: A002 - torch's names
    return input.amax(dim, keepdim)


def amin(input: Tensor, dim=(), keepdim=False):  # noqa: A002 - torch's names
    return input.amin(dim, keepdim)


def cumsum(input: Tensor, dim):  # noqa: A002 - torch's names
    return input.cumsum(dim)


def logsumexp(input: Tensor, dim, keepdim=False):  # noqa: A002 - torch's names
    return input.logsumexp(dim, keepdim)


def prod(input: Tensor, dim=None, keepdim=False):  # noqa: A002 - torch's names
    return input.prod(dim, keepdim)


def round(input: Tensor, decimals=0):  # noqa: A001, A002 - torch's names
    return input.round(decimals=decimals)


def maximum(input: Tensor, other: Tensor):  # noqa: A002 - torch's names
    return input.maximum(other)


def minimum(input: Tensor, other: Tensor):  # noqa: A002 - torch's names
    return input.minimum(other)


def dot(input: Tensor, other: Tensor):  # noqa: A002 - torch's names
    return input.dot(other)


def outer(input: Tensor, vec2: Tensor):  # noqa: A002 - torch's names
    return input.outer(vec2)


def erf(input: Tensor):  # noqa: A002 - torch's names
    return input.erf()


def bernoulli(input: Tensor, generator=None):  # noqa: A002 - torch's names
    return input.bernoulli(generator=generator)


def save(obj, path) -> None:
    from runtime.serialization import save as _save
    _save(obj, path)


def load(path, weights_only=True, map_location=None):
    from runtime.serialization import load as _load
    return _load(path)


def set_num_threads(count: builtins.int) -> None:
    """Accepted for compatibility; NumPy's BLAS threads are set through its environment."""


def __getattr__(name: str):
    # Submodules load on first use, so `import runtime` stays cheap.
    import importlib
    if name in ("autograd", "nn", "optim", "utils", "serialization", "torch_alias"):
        return importlib.import_module(f"runtime.{name}")
    raise AttributeError(f"module 'runtime' has no attribute '{name}'")
