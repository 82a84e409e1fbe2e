"""The ops behind ``runtime.nn.functional``: losses, batch normalisation, embedding and the
fused linear layer, each a single node named like PyTorch's."""

from __future__ import annotations

import math

import numpy as np

from runtime.autograd.node import Node, run_op
from runtime.autograd.ops.unary import erf_array


def _reduce(values: np.ndarray, reduction: str) -> np.ndarray:
    if reduction == "mean":
        return np.asarray(values.mean(), dtype=values.dtype)
    if reduction == "sum":
        return np.asarray(values.sum(), dtype=values.dtype)
    if reduction == "none":
        return values
    raise ValueError(f"{reduction} is not a valid value for reduction")


def _spread(grad, shape: tuple, reduction: str):
    """Spread the gradient of a reduced loss back over the per-element losses."""
    if reduction == "mean":
        return (grad / max(int(np.prod(shape)), 1)).expand(shape)
    if reduction == "sum":
        return grad.expand(shape)
    return grad


class MseLossBackward0(Node):
    @staticmethod
    def forward(ctx, prediction, target, reduction="mean"):
        ctx.save_for_backward(prediction, target)
        ctx.reduction = reduction
        return _reduce((prediction - target) ** 2, reduction)

    @staticmethod
    def backward(ctx, grad):
        prediction, target = ctx.saved_tensors
        diff = prediction - target
        g = 2 * diff * _spread(grad, diff.shape, ctx.reduction)
        return g, -g


class NllLossBackward0(Node):
    """Negative log likelihood of class indices, given log-probabilities (N, C) or (C,)."""

    backward_on_arrays = True

    @staticmethod
    def forward(ctx, log_probs, target=None, reduction="mean", ignore_index=-100):
        rows = log_probs.reshape(-1, log_probs.shape[-1])
        target = np.asarray(target).reshape(-1)
        valid = target != ignore_index
        count = np.count_nonzero(valid)
        everything = count == len(target)  # (the common case: no row ignored, nothing to mask)
        picked_class = target if everything else np.where(valid, target, 0)
        picked = -rows[np.arange(len(picked_class)), picked_class]
        if not everything:
            picked *= valid
        count = max(count, 1)
        ctx.reduction, ctx.count = reduction, count
        # (freed by backward, as in PyTorch; no mask when no row is ignored)
        ctx.save_for_backward(log_probs, None if everything else valid, picked_class)
        if reduction == "mean":
            return np.asarray(picked.sum() / count, dtype=log_probs.dtype)
        return _reduce(picked.reshape(target.shape if log_probs.ndim > 1 else ()), reduction)

    @staticmethod
    def backward(ctx, grad):
        log_probs, valid, target = ctx.saved_tensors
        return (run_op(NllLossBackwardBackward0, grad, log_probs, valid, target,
                       reduction=ctx.reduction, count=ctx.count),)


class NllLossBackwardBackward0(Node):
    """nll_loss's backward as one op (ATen's ``nll_loss_backward``): ``-grad`` (spread as
    the loss was reduced) at each row's target class, 0 elsewhere and in ignored rows.  As in
    PyTorch, the log-probabilities are an input (for their shape; their gradient is 0)."""

    @staticmethod
    def forward(ctx, grad, log_probs, valid, target, reduction="mean", count=1):
        ctx.save_for_backward(valid, target)
        ctx.reduction, ctx.count, ctx.grad_shape = reduction, count, grad.shape
        shape = log_probs.shape
        rows = np.zeros((len(target), shape[-1]), dtype=grad.dtype)
        values = -(grad / count if reduction == "mean" else grad).reshape(-1)
        if valid is not None:
            values = np.where(valid, values, 0)
        rows[np.arange(len(target)), target] = values
        return rows.reshape(shape)

    @staticmethod
    def backward(ctx, outer):
        """The gradient is linear in ``grad``: its own gradient is the loss of ``outer``."""
        valid, target = ctx.saved_tensors
        picked = -outer.reshape(-1, outer.shape[-1]).gather(1, target.reshape(-1, 1)).squeeze(1)
        if valid is not None:
            picked = picked.masked_fill(~valid, 0)
        if ctx.reduction == "mean":
            of_grad = picked.sum() / ctx.count
        elif ctx.reduction == "sum":
            of_grad = picked.sum()
        else:
            of_grad = picked.reshape(ctx.grad_shape)
        need_grad, need_log_probs = ctx.needs_input_grad[:2]
        return (of_grad if need_grad else None,
                outer.new_zeros(outer.shape) if need_log_probs else None, None, None)


class BinaryCrossEntropyWithLogitsBackward0(Node):
    @staticmethod
    def forward(ctx, logits, target, reduction="mean"):
        ctx.save_for_backward(logits, target)
        ctx.reduction = reduction
        # max(x, 0) - x * t + log(1 + exp(-|x|)): stable for large |x|
        losses = np.maximum(logits, 0) - logits * target + np.log1p(np.exp(-np.abs(logits)))
        return _reduce(losses.astype(logits.dtype, copy=False), reduction)

    @staticmethod
    def backward(ctx, grad):
        logits, target = ctx.saved_tensors
        spread = _spread(grad, logits.shape, ctx.reduction)
        need_logits, need_target = ctx.needs_input_grad
        return ((logits.sigmoid() - target) * spread if need_logits else None,
                -logits * spread if need_target else None)


def _channel_shape(ndim: int) -> tuple:
    return (1, -1) + (1,) * (ndim - 2)


class NativeBatchNormBackward0(Node):
    """Batch normalisation with batch statistics (training mode), over dim 0 (and 2 if any)."""

    @staticmethod
    def forward(ctx, x, weight=None, bias=None, eps=1e-5):
        axes = (0,) if x.ndim == 2 else (0, 2)
        shape = _channel_shape(x.ndim)
        normalized = (x - x.mean(axis=axes, keepdims=True)) / np.sqrt(
            x.var(axis=axes, keepdims=True) + eps)
        ctx.save_for_backward(x, weight)
        ctx.axes, ctx.eps = axes, eps
        out = normalized
        if weight is not None:
            out = out * weight.reshape(shape)
        if bias is not None:
            out = out + bias.reshape(shape)
        return out.astype(x.dtype, copy=False)

    @staticmethod
    def backward(ctx, grad):
        x, weight = ctx.saved_tensors
        axes = ctx.axes
        centered = x - x.mean(dim=axes, keepdim=True)
        inv_std = ((centered * centered).mean(dim=axes, keepdim=True) + ctx.eps) ** -0.5
        normalized = centered * inv_std
        need_x, need_weight, need_bias = ctx.needs_input_grad
        grad_weight = (grad * normalized).sum(dim=axes) if need_weight else None
        grad_bias = grad.sum(dim=axes) if need_bias else None
        grad_x = None
        if need_x:
            if weight is not None:
                grad = grad * weight.reshape(_channel_shape(x.dim()))
            count = int(np.prod([x.shape[a] for a in axes]))
            grad_x = (inv_std / count) * (
                count * grad - grad.sum(dim=axes, keepdim=True)
                - normalized * (grad * normalized).sum(dim=axes, keepdim=True))
        return grad_x, grad_weight, grad_bias


class NativeBatchNormEval(Node):
    """Batch normalisation with given (running) statistics: evaluation mode."""

    def name(self) -> str:
        return "NativeBatchNormBackward0"

    @staticmethod
    def forward(ctx, x, weight=None, bias=None, mean=None, var=None, eps=1e-5):
        shape = _channel_shape(x.ndim)
        shift = mean.reshape(shape).astype(x.dtype)
        inv_std = (1 / np.sqrt(var + eps)).reshape(shape).astype(x.dtype)
        normalized = (x - shift) * inv_std
        ctx.save_for_backward(x, weight, shift, inv_std)
        ctx.axes = tuple(a for a in range(x.ndim) if a != 1)
        out = normalized
        if weight is not None:
            out = out * weight.reshape(shape)
        if bias is not None:
            out = out + bias.reshape(shape)
        return out.astype(x.dtype, copy=False)

    @staticmethod
    def backward(ctx, grad):
        x, weight, shift, inv_std = ctx.saved_tensors
        need_x, need_weight, need_bias = ctx.needs_input_grad
        scale = inv_std if weight is None else inv_std * weight.reshape(_channel_shape(x.dim()))
        return (grad * scale if need_x else None,
                (grad * (x - shift) * inv_std).sum(dim=ctx.axes) if need_weight else None,
                grad.sum(dim=ctx.axes) if need_bias else None)


class EmbeddingBackward0(Node):
    @staticmethod
    def forward(ctx, weight, indices=None):
        ctx.shape = weight.shape
        ctx.save_for_backward(indices)  # (freed by backward, as in PyTorch)
        return weight[indices]

    @staticmethod
    def backward(ctx, grad):
        indices, = ctx.saved_tensors
        return (grad.new_zeros(ctx.shape).index_put(indices, grad, accumulate=True),)


class AddmmBackward0(Node):
    """``x @ weight.T + bias`` for a batch of vectors: one node, as in PyTorch."""

    backward_on_arrays = True

    @staticmethod
    def forward(ctx, x, weight, bias=None):
        ctx.save_for_backward(weight if ctx.needs_input_grad[0] else None,
                              x if ctx.needs_input_grad[1] else None)
        out = x @ weight.T
        if bias is not None:
            out += bias
        return out

    @staticmethod
    def backward(ctx, grad):
        weight, x = ctx.saved_tensors
        need_x, need_weight, need_bias = ctx.needs_input_grad
        return (grad @ weight if need_x else None,
                grad.T @ x if need_weight else None,
                grad.sum(0) if need_bias else None)


_SQRT_2_OVER_PI = math.sqrt(2 / math.pi)
_GELU_CUBIC = 0.044715


class GeluBackward0(Node):
    """``x * Phi(x)`` (Phi: the normal CDF), or with ``approximate="tanh"`` PyTorch's tanh
    approximation of it."""

    @staticmethod
    def forward(ctx, a, approximate="none"):
        ctx.save_for_backward(a)
        ctx.approximate = approximate
        if approximate == "tanh":
            inner = _SQRT_2_OVER_PI * (a + _GELU_CUBIC * a ** 3)
            return (0.5 * a * (1 + np.tanh(inner))).astype(a.dtype, copy=False)
        return (a * 0.5 * (1 + erf_array(a / math.sqrt(2)))).astype(a.dtype, copy=False)

    @staticmethod
    def backward(ctx, grad):
        a, = ctx.saved_tensors
        if ctx.approximate == "tanh":
            tanh = (_SQRT_2_OVER_PI * (a + _GELU_CUBIC * a ** 3)).tanh()
            slope = _SQRT_2_OVER_PI * (1 + 3 * _GELU_CUBIC * a * a)
            return (grad * (0.5 * (1 + tanh) + 0.5 * a * (1 - tanh * tanh) * slope),)
        cdf = 0.5 * (1 + (a / math.sqrt(2)).erf())
        pdf = (-0.5 * a * a).exp() / math.sqrt(2 * math.pi)
        return (grad * (cdf + a * pdf),)


class LeakyReluBackward0(Node):
    @staticmethod
    def forward(ctx, a, negative_slope=0.01):
        ctx.save_for_backward(a)
        ctx.negative_slope = negative_slope
        return np.where(a > 0, a, a * negative_slope).astype(a.dtype, copy=False)

    @staticmethod
    def backward(ctx, grad):
        a, = ctx.saved_tensors
        slope = ctx.negative_slope
        return (grad * ((a > 0).to(grad.dtype) * (1 - slope) + slope),)


class SoftplusBackward0(Node):
    """``log(1 + exp(beta x)) / beta``, and ``x`` itself where ``beta x > threshold``."""

    @staticmethod
    def forward(ctx, a, beta=1.0, threshold=20.0):
        ctx.save_for_backward(a)
        ctx.beta, ctx.threshold = beta, threshold
        scaled = a * beta
        smooth = np.logaddexp(0, scaled) / beta
        return np.where(scaled > threshold, a, smooth).astype(a.dtype, copy=False)

    @staticmethod
    def backward(ctx, grad):
        a, = ctx.saved_tensors
        scaled = a * ctx.beta
        return (grad * scaled.sigmoid().masked_fill(scaled > ctx.threshold, 1),)


class BinaryCrossEntropyBackward0(Node):
    """``-w (t log x + (1 - t) log(1 - x))`` of probabilities ``x``, each log clamped at -100
    as PyTorch does."""

    @staticmethod
    def forward(ctx, probabilities, target, weight=None, reduction="mean"):
        if ((probabilities < 0) | (probabilities > 1)).any():
            raise RuntimeError("all elements of input should be between 0 and 1")
        ctx.save_for_backward(probabilities, target, weight)
        ctx.reduction = reduction
        with np.errstate(divide="ignore"):
            log_p = np.maximum(np.log(probabilities), -100)
            log_q = np.maximum(np.log(1 - probabilities), -100)
        losses = -(target * log_p + (1 - target) * log_q)
        if weight is not None:
            losses = losses * weight
        return _reduce(losses.astype(probabilities.dtype, copy=False), reduction)

    @staticmethod
    def backward(ctx, grad):
        probabilities, target, weight = ctx.saved_tensors
        spread = _spread(grad, probabilities.shape, ctx.reduction)
        if weight is not None:
            spread = spread * weight
        need_input, need_target = ctx.needs_input_grad[:2]
        grad_input = grad_target = None
        if need_input:
            # PyTorch's epsilon keeps the gradient finite at 0 and 1
            grad_input = spread * (probabilities - target) / (
                (1 - probabilities) * probabilities).clamp(min=1e-12)
        if need_target:
            # unclamped, as PyTorch: infinite where a probability is 0 or 1 (and silent)
            with np.errstate(divide="ignore"):
                grad_target = spread * ((1 - probabilities).log() - probabilities.log())
        return grad_input, grad_target, None
