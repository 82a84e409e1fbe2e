"""Elementwise functions of one tensor, and the elementwise selections (clamp, where,
masked_fill)."""

from __future__ import annotations

import math

import numpy as np

from runtime.autograd.node import Node, run_op

# 1 as a 0-d array of each float dtype: NumPy subtracts an array from it in 2/3 of the time it
# takes from a Python int (which it converts on every call), to the same bits.
_ONES = {np.dtype(kind): np.ones((), kind) for kind in (np.float32, np.float64)}


class _Unary(Node):
    """``y = function(x)`` with ``dy/dx = derivative(x)``, or ``derivative(y)`` when
    ``of_result`` (the cheaper one to keep)."""

    of_result = False

    @classmethod
    def forward(cls, ctx, a):
        result = cls.function(a)
        ctx.save_for_backward(result if cls.of_result else a)
        return result

    @classmethod
    def backward(cls, ctx, grad):
        saved, = ctx.saved_tensors
        return (cls.derivative(grad, saved),)


class ExpBackward0(_Unary):
    backward_on_arrays = True
    of_result = True
    function = staticmethod(np.exp)
    derivative = staticmethod(lambda grad, result: grad * result)


class LogBackward0(_Unary):
    backward_on_arrays = True
    function = staticmethod(np.log)
    derivative = staticmethod(lambda grad, a: grad / a)


class SqrtBackward0(_Unary):
    backward_on_arrays = True
    of_result = True
    function = staticmethod(np.sqrt)
    derivative = staticmethod(lambda grad, result: grad / (2 * result))


class AbsBackward0(_Unary):
    function = staticmethod(np.abs)
    derivative = staticmethod(lambda grad, a: grad * a.sign())


class SinBackward0(_Unary):
    function = staticmethod(np.sin)
    derivative = staticmethod(lambda grad, a: grad * a.cos())


class CosBackward0(_Unary):
    function = staticmethod(np.cos)
    derivative = staticmethod(lambda grad, a: -grad * a.sin())


class SinhBackward0(Node):
    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return np.sinh(a)

    @staticmethod
    def backward(ctx, grad):
        a, = ctx.saved_tensors
        return (grad * a.cosh(),)


class CoshBackward0(Node):
    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return np.cosh(a)

    @staticmethod
    def backward(ctx, grad):
        a, = ctx.saved_tensors
        return (grad * a.sinh(),)


class TanhBackwardBackward0(Node):
    """``grad * (1 - result ** 2)``, tanh's backward, as one op (ATen's ``tanh_backward``):
    one dispatch where the formula in tensor ops took three, and differentiable again."""

    backward_on_arrays = True

    @staticmethod
    def forward(ctx, grad, result):
        ctx.save_for_backward(grad if ctx.needs_input_grad[1] else None, result)
        return grad * (_ONES.get(result.dtype, 1) - result * result)

    @staticmethod
    def backward(ctx, outer):
        grad, result = ctx.saved_tensors
        need_grad, need_result = ctx.needs_input_grad
        return (outer * (1 - result * result) if need_grad else None,
                outer * grad * result * -2 if need_result else None)


_tanh = np.tanh  # (a global: NumPy's module __getattr__ keeps ``np.tanh`` from being cached)


class TanhBackward0(Node):
    # Written out rather than a _Unary: no class attributes to look up and no classmethod to
    # bind, on what most activations and chains of ops run.
    backward_on_arrays = True

    @staticmethod
    def forward(ctx, a):
        result = _tanh(a)
        ctx.save_for_backward(result)
        return result

    @staticmethod
    def backward(ctx, grad):
        result, = ctx.saved_tensors
        return (run_op(TanhBackwardBackward0, grad, result),)


class SigmoidBackward0(_Unary):
    backward_on_arrays = True
    of_result = True

    @staticmethod
    def function(a):
        return (1 / (1 + np.exp(-a))).astype(a.dtype, copy=False)

    derivative = staticmethod(lambda grad, result: grad * result * (1 - result))


class ThresholdBackwardBackward0(Node):
    """``grad`` where ``result > 0``, else 0: relu's backward as one op (ATen's
    ``threshold_backward``); no gradient flows to ``result`` through the mask."""

    backward_on_arrays = True

    @staticmethod
    def forward(ctx, grad, result):
        ctx.save_for_backward(result)
        # a float mask: NumPy multiplies by a bool array casting element by element, slowly
        return grad * (result > 0).astype(grad.dtype)

    @staticmethod
    def backward(ctx, outer):
        result, = ctx.saved_tensors
        return run_op(ThresholdBackwardBackward0, outer, result), None


class ReluBackward0(Node):
    backward_on_arrays = True  # (written out, as TanhBackward0)

    @staticmethod
    def forward(ctx, a):
        # (against an array of zeros: NumPy's maximum with a scalar 0 is several times slower)
        result = np.maximum(a, np.zeros(a.shape, a.dtype))
        ctx.save_for_backward(result)
        return result

    @staticmethod
    def backward(ctx, grad):
        result, = ctx.saved_tensors
        return (run_op(ThresholdBackwardBackward0, grad, result),)


class SignBackward0(Node):
    @staticmethod
    def forward(ctx, a):
        return np.sign(a)

    @staticmethod
    def backward(ctx, grad):
        return (grad.new_zeros(grad.shape),)


class ClampBackward1(Node):
    backward_on_arrays = True

    @staticmethod
    def forward(ctx, a, min=None, max=None):  # noqa: A002 - torch's names
        ctx.save_for_backward(a)
        ctx.bounds = (min, max)
        return np.clip(a, min, max).astype(a.dtype, copy=False)

    @staticmethod
    def backward(ctx, grad):
        a, = ctx.saved_tensors
        low, high = ctx.bounds
        if low is not None:
            grad = grad * (a >= low)
        if high is not None:
            grad = grad * (a <= high)
        return (grad,)


class CloneBackward0(Node):
    backward_on_arrays = True

    @staticmethod
    def forward(ctx, a):
        return a.copy()

    @staticmethod
    def backward(ctx, grad):
        return (grad,)


class WhereBackward0(Node):
    @staticmethod
    def forward(ctx, a, b, condition=None):
        ctx.condition = condition
        return np.where(condition, a, b)

    @staticmethod
    def backward(ctx, grad):
        return grad.masked_fill(~ctx.condition, 0), grad.masked_fill(ctx.condition, 0)


class RoundBackward0(Node):
    """Piecewise constant: the gradient is zero."""

    backward_on_arrays = True

    @staticmethod
    def forward(ctx, a):
        return np.round(a)  # halves to even, as PyTorch

    @staticmethod
    def backward(ctx, grad):
        return (grad * 0,)


class RoundBackward1(RoundBackward0):
    @staticmethod
    def forward(ctx, a, decimals=0):
        return np.round(a, decimals)


_erf = np.frompyfunc(math.erf, 1, 1)  # NumPy has no erf; SciPy is too heavy a dependency


def erf_array(a: np.ndarray) -> np.ndarray:
    return np.asarray(_erf(a), dtype=a.dtype)


class ErfBackward0(_Unary):
    function = staticmethod(erf_array)
    derivative = staticmethod(lambda grad, a: grad * (2 / math.sqrt(math.pi)) * (-a * a).exp())


class MaskedFillBackward0(Node):
    @staticmethod
    def forward(ctx, a, mask=None, value=0.0):
        ctx.save_for_backward(mask)  # (freed by backward, as in PyTorch)
        return np.where(mask, np.asarray(value, dtype=a.dtype), a)

    @staticmethod
    def backward(ctx, grad):
        mask, = ctx.saved_tensors
        return (grad.masked_fill(mask, 0),)


class DelayedError(Node):
    """The node over a gradient computed by an ``@once_differentiable`` backward: it refuses
    to be differentiated."""

    def name(self) -> str:
        return "torch::autograd::Error"  # PyTorch's name: this node is no codegen'd op

    @staticmethod
    def forward(ctx, a):
        return a

    @staticmethod
    def backward(ctx, grad):
        raise RuntimeError("trying to differentiate twice a function that was marked with "
                           "@once_differentiable")
