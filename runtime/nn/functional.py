"""``runtime.nn.functional``: layers and losses as functions.  Most are single ops
(``runtime/autograd/ops/nn.py``), named like PyTorch's (``MseLossBackward0``...)."""

from __future__ import annotations

import warnings

import numpy as np

from runtime.autograd.ops import conv
from runtime.autograd.ops.conv import (
    Col2ImBackward0, ConstantPadNdBackward0, ConvolutionBackward0, Im2ColBackward0,
)
from runtime.autograd.ops.indexing import IndexBackward0
from runtime.autograd.ops.conv import output_size as _block_counts
from runtime.autograd.ops.nn import (
    AddmmBackward0, BinaryCrossEntropyBackward0, BinaryCrossEntropyWithLogitsBackward0,
    EmbeddingBackward0, GeluBackward0, LeakyReluBackward0, MseLossBackward0,
    NativeBatchNormBackward0, NativeBatchNormEval, NllLossBackward0, SoftplusBackward0,
)
from runtime.random import default_generator
from runtime.tensor import C_TYPE_NAMES, MATRIX_SHAPES, SCALAR_TYPE_NAMES, Tensor, apply


# ------------------------------------------------------------------------------ functions


def linear(input: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:  # noqa: A002
    """As PyTorch: with a bias one addmm over the input's rows (viewed back to the batch
    shape: ViewBackward0), without one a matmul."""
    shape = input._data.shape  # (not input.shape: no Size object per call)
    features = shape[-1] if shape else 1
    if features != weight._data.shape[-1]:
        rows = input.numel() // features if features else 0
        raise RuntimeError(MATRIX_SHAPES.format(rows, features, *reversed(weight.shape)))
    if bias is None:
        return input @ weight.t()
    if len(shape) == 2:
        return apply(AddmmBackward0, input, weight, bias)
    out = apply(AddmmBackward0, input.reshape(-1, features), weight, bias)
    return out.view(*input.shape[:-1], weight.shape[0])


PADDING_SIZES = (
    "Padding size {size} is not supported for {ndim}D input tensor.\n"
    "Supported combinations for non-constant padding:\n"
    "  - 2D or 3D input: padding size = 2 (pads last dimension)\n"
    "  - 3D or 4D input: padding size = 4 (pads last 2 dimensions)\n"
    "  - 4D or 5D input: padding size = 6 (pads last 3 dimensions)")
PAD_OPS = {"reflect": (conv.ReflectionPad1DBackward0, conv.ReflectionPad2DBackward0,
                       conv.ReflectionPad3DBackward0),
           "replicate": (conv.ReplicationPad1DBackward0, conv.ReplicationPad2DBackward0,
                         conv.ReplicationPad3DBackward0)}


def pad(input: Tensor, pad, mode: str = "constant", value=None) -> Tensor:  # noqa: A002
    """Pad the last ``len(pad) // 2`` dimensions (``pad`` lists the last one's (before,
    after) first): with ``value`` (``"constant"``; negative widths crop), or by repeating
    input elements (``"reflect"``, ``"replicate"``, ``"circular"``)."""
    widths = tuple(pad)
    if len(widths) % 2:
        raise RuntimeError("Padding length must be divisible by 2")
    if len(widths) > 2 * input.dim():
        raise RuntimeError("Padding length should be less than or equal to two times the input "
                           f"dimension but got padding length {len(widths)} and input of "
                           f"dimension {input.dim()}")
    if mode == "constant":
        return apply(ConstantPadNdBackward0, input, pad=widths,
                     value=0.0 if value is None else value)
    if mode not in ("reflect", "replicate", "circular"):
        raise NotImplementedError(f"Unrecognised padding mode {mode}")
    if value is not None and value != 0:
        raise RuntimeError(f'Padding mode "{mode}" doesn\'t take in value argument')
    padded = len(widths) // 2
    if not 1 <= padded <= 3 or not padded + 1 <= input.dim() <= padded + 2:
        raise NotImplementedError(PADDING_SIZES.format(size=len(widths), ndim=input.dim()))
    for nr in range(padded):
        size, before, after = input.shape[-1 - nr], widths[2 * nr], widths[2 * nr + 1]
        if mode == "reflect" and (before >= size or after >= size):
            raise RuntimeError(
                f"Argument #{4 + 2 * nr}: Padding size should be less than the corresponding "
                f"input dimension, but got: padding ({before}, {after}) at dimension "
                f"{input.dim() - 1 - nr} of input {list(input.shape)}")
        if mode == "circular" and (before > size or after > size):
            raise RuntimeError("Padding value causes wrapping around more than once.")
    if mode == "circular":  # (PyTorch copies slices; runtime picks elements, as for the others)
        return apply(IndexBackward0, input, index=conv.padding_index(input.shape, widths, "wrap"))
    return apply(PAD_OPS[mode][padded - 1], input, pad=widths)


SAME_PADDING_COPY = (
    "Using padding='same' with even kernel lengths and odd dilation may require a zero-padded "
    "copy of the input be created (Triggered internally at "
    "/__w/pytorch/pytorch/aten/src/ATen/native/Convolution.cpp:1101.)")


def pair(value) -> tuple:
    """``3``, ``(3,)`` or ``(3, 3)`` as ``(3, 3)``: a size given for both spatial dimensions."""
    if isinstance(value, (tuple, list)):
        return tuple(value) * 2 if len(value) == 1 else tuple(value)
    return value, value


CONV2D_SIGNATURES = (
    " * (Tensor input, Tensor weight, Tensor bias = None, tuple of ints stride = 1, tuple of "
    "ints padding = 0, tuple of ints dilation = 1, int groups = 1)\n"
    " * (Tensor input, Tensor weight, Tensor bias = None, tuple of ints stride = 1, str padding "
    "= \"valid\", tuple of ints dilation = 1, int groups = 1)\n")


def conv_padding(padding, kernel: tuple, dilation: tuple, stride: tuple) -> tuple:
    """``padding`` (a number, a pair, ``"valid"`` or ``"same"``) as ``((top, bottom), (left,
    right))``; ``"same"`` puts an odd extra row or column at the end, as PyTorch does."""
    if not isinstance(padding, str):
        return tuple([(n, n) for n in pair(padding)])
    if padding == "valid":
        return ((0, 0), (0, 0))
    if padding != "same":
        raise RuntimeError(f"Invalid padding string: '{padding}'")
    if any(s != 1 for s in stride):
        raise RuntimeError("padding='same' is not supported for strided convolutions")
    totals = [d * (k - 1) for k, d in zip(kernel, dilation)]
    if any(total % 2 for total in totals):
        warnings.warn(SAME_PADDING_COPY, UserWarning, stacklevel=3)
    return tuple([(total // 2, total - total // 2) for total in totals])


def conv2d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride=1, padding=0,  # noqa: A002
           dilation=1, groups: int = 1) -> Tensor:
    """2-d convolution (PyTorch's cross-correlation) of (N, C, H, W) or (C, H, W)."""
    if not isinstance(input, Tensor) or not isinstance(weight, Tensor):
        given = ", ".join(type(arg).__name__
                          for arg in (input, weight, bias, stride, padding, dilation, groups))
        raise TypeError("conv2d() received an invalid combination of arguments - got "
                        f"({given}), but expected one of:\n{CONV2D_SIGNATURES}")
    if input.dim() not in (3, 4):
        raise RuntimeError("Expected 3D (unbatched) or 4D (batched) input to conv2d, but got "
                           f"input of size: {list(input.shape)}")
    if input.dim() == 3:
        batch = conv2d(input.unsqueeze(0), weight, bias, stride, padding, dilation, groups)
        return batch.squeeze(0)
    kernel, dilation, stride = tuple(weight.shape[2:]), pair(dilation), pair(stride)
    padding = conv_padding(padding, kernel, dilation, stride)
    for refused, problem in ((any(n < 0 for sides in padding for n in sides), "negative padding"),
                             (any(n <= 0 for n in stride), "non-positive stride"),
                             (any(n <= 0 for n in dilation), "non-positive dilation"),
                             (groups <= 0, "non-positive groups")):
        if refused:
            raise RuntimeError(f"{problem} is not supported")
    channels = weight.shape[1] * groups
    if input.shape[1] != channels:
        raise RuntimeError(f"Given groups={groups}, weight of size {list(weight.shape)}, expected "
                           f"input{list(input.shape)} to have {channels} channels, but got "
                           f"{input.shape[1]} channels instead")
    if bias is not None and (bias.dim() != 1 or bias.numel() != weight.shape[0]):
        raise RuntimeError(f"Given weight of size {list(weight.shape)}, expected bias to be "
                           f"1-dimensional with {weight.shape[0]} elements, but got bias of size "
                           f"{list(bias.shape)} instead")
    padded = [n + before + after for n, (before, after) in zip(input.shape[2:], padding)]
    spans = [d * (k - 1) + 1 for k, d in zip(kernel, dilation)]
    if any(n < span for n, span in zip(padded, spans)):
        raise RuntimeError(f"Calculated padded input size per channel: ({padded[0]} x "
                           f"{padded[1]}). Kernel size: ({spans[0]} x {spans[1]}). Kernel size "
                           "can't be greater than actual input size")
    if bias is not None and bias.dtype != input.dtype:
        raise RuntimeError(f"Input type ({C_TYPE_NAMES[input.dtype.name]}) and bias type "
                           f"({C_TYPE_NAMES[bias.dtype.name]}) should be the same")
    if weight.dtype != input.dtype:
        # (PyTorch's oneDNN kernel, which it picks for some float32 shapes, words it otherwise)
        raise RuntimeError(f"expected scalar type {SCALAR_TYPE_NAMES[input.dtype.name]} but "
                           f"found {SCALAR_TYPE_NAMES[weight.dtype.name]}")
    return apply(ConvolutionBackward0, input, weight, bias,
                 geometry=(kernel, dilation, padding, stride), groups=groups)


def _geometry(kernel_size, dilation, padding, stride) -> tuple:
    return pair(kernel_size), pair(dilation), tuple([(n, n) for n in pair(padding)]), pair(stride)


def unfold(input: Tensor, kernel_size, dilation=1, padding=0, stride=1) -> Tensor:  # noqa: A002
    """The sliding blocks of (N, C, H, W) (or (C, H, W)) as columns (N, C * kh * kw, L)."""
    if input.dim() not in (3, 4):
        raise RuntimeError("Expected 3D or 4D (batch mode) tensor with possibly 0 batch size and "
                           f"other non-zero dimensions for input, but got: {list(input.shape)}")
    return apply(Im2ColBackward0, input, geometry=_geometry(kernel_size, dilation, padding, stride))


def fold(input: Tensor, output_size: tuple, kernel_size, dilation=1, padding=0, stride=1) -> Tensor:  # noqa: A002
    """The inverse layout of ``unfold``: columns (N, C * kh * kw, L) summed back into
    (N, C, H, W) of ``output_size`` (overlapping blocks add up)."""
    if input.dim() not in (2, 3):
        raise RuntimeError("Expected 2D or 3D (batch mode) tensor for input with possibly 0 batch "
                           "size and non-zero dimensions for input, but got: "
                           f"{list(input.shape)}")
    geometry = _geometry(kernel_size, dilation, padding, stride)
    size = pair(output_size)
    blocks = _block_counts(size, geometry)
    if input.shape[-1] != blocks[0] * blocks[1]:
        kernel, dilation, padding, stride = geometry
        raise RuntimeError(
            f"Given output_size={size}, kernel_size={kernel}, dilation={dilation}, "
            f"padding={tuple(p for p, _ in padding)}, stride={stride}, expected size of input's "
            f"dimension {input.dim() - 1} to match the calculated number of sliding blocks "
            f"{blocks[0]} * {blocks[1]} = {blocks[0] * blocks[1]}, but got "
            f"input.size({input.dim() - 1})={input.shape[-1]}.")
    return apply(Col2ImBackward0, input, size=size, geometry=geometry)


def relu(input: Tensor, inplace: bool = False) -> Tensor:  # noqa: A002
    return input.relu_() if inplace else input.relu()


def relu_(input: Tensor) -> Tensor:  # noqa: A002
    return input.relu_()


def sigmoid(input: Tensor) -> Tensor:  # noqa: A002
    return input.sigmoid()


def tanh(input: Tensor) -> Tensor:  # noqa: A002
    return input.tanh()


def gelu(input: Tensor, approximate: str = "none") -> Tensor:  # noqa: A002
    if approximate not in ("none", "tanh"):
        raise RuntimeError("approximate argument must be either none or tanh.")
    return apply(GeluBackward0, input, approximate=approximate)


def leaky_relu(input: Tensor, negative_slope: float = 0.01, inplace: bool = False) -> Tensor:  # noqa: A002
    if inplace:
        return input._inplace(LeakyReluBackward0, negative_slope=negative_slope)
    return apply(LeakyReluBackward0, input, negative_slope=negative_slope)


def softplus(input: Tensor, beta: float = 1.0, threshold: float = 20.0) -> Tensor:  # noqa: A002
    return apply(SoftplusBackward0, input, beta=beta, threshold=threshold)


def softmax(input: Tensor, dim: int = -1) -> Tensor:  # noqa: A002
    return input.softmax(dim)


def log_softmax(input: Tensor, dim: int = -1) -> Tensor:  # noqa: A002
    return input.log_softmax(dim)


def check_probability(p: float) -> None:
    if p < 0 or p > 1:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")


def dropout(input: Tensor, p: float = 0.5, training: bool = True, inplace: bool = False) -> Tensor:  # noqa: A002
    check_probability(p)
    if not training or p == 0:
        return input
    if p == 1:  # everything dropped: zeros, not 0 * inf
        return input.mul_(0.0) if inplace else input * 0.0
    keep = default_generator.uniform(0, 1, input.shape) >= p
    mask = Tensor._wrap((keep / (1 - p)).astype(input._data.dtype))
    return input.mul_(mask) if inplace else input * mask


def embedding(input: Tensor, weight: Tensor) -> Tensor:  # noqa: A002
    return apply(EmbeddingBackward0, weight, indices=input._data)


def mse_loss(input: Tensor, target: Tensor, reduction: str = "mean") -> Tensor:  # noqa: A002
    return apply(MseLossBackward0, input, target, reduction=reduction)


def l1_loss(input: Tensor, target: Tensor, reduction: str = "mean") -> Tensor:  # noqa: A002
    # Composite in PyTorch: the loss's grad_fn is MeanBackward0 / SumBackward0 / AbsBackward0.
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"{reduction} is not a valid value for reduction")
    losses = (input - target).abs()
    return losses.mean() if reduction == "mean" else losses.sum() if reduction == "sum" else losses


def nll_loss(input: Tensor, target: Tensor, reduction: str = "mean", ignore_index: int = -100) -> Tensor:  # noqa: A002
    return apply(NllLossBackward0, input, target=target._data, reduction=reduction,
                 ignore_index=ignore_index)


def cross_entropy(input: Tensor, target: Tensor, reduction: str = "mean", ignore_index: int = -100) -> Tensor:  # noqa: A002
    return nll_loss(input.log_softmax(-1 if input.dim() == 1 else 1), target, reduction, ignore_index)


def binary_cross_entropy_with_logits(input: Tensor, target: Tensor, reduction: str = "mean") -> Tensor:  # noqa: A002
    return apply(BinaryCrossEntropyWithLogitsBackward0, input, target, reduction=reduction)


def binary_cross_entropy(input: Tensor, target: Tensor, weight: Tensor | None = None,  # noqa: A002
                         reduction: str = "mean") -> Tensor:
    if target.shape != input.shape:
        raise ValueError(f"Using a target size ({target.shape!r}) that is different to the input "
                         f"size ({input.shape!r}) is deprecated. Please ensure they have the same size.")
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"{reduction} is not a valid value for reduction")
    if weight is not None and weight.requires_grad:
        raise RuntimeError("The function 'binary_cross_entropy' is not differentiable with respect "
                           "to argument 'weight'. This input cannot have requires_grad True.")
    return apply(BinaryCrossEntropyBackward0, input, target, weight, reduction=reduction)


def batch_norm(input: Tensor, running_mean, running_var, weight=None, bias=None,  # noqa: A002
               training=False, momentum=0.1, eps=1e-5) -> Tensor:
    """Training: normalise with batch statistics and update the running ones in place (also
    under no_grad, as PyTorch does).  Evaluation: use the running statistics."""
    if training and input.numel() // input.shape[1] == 1:
        raise ValueError("Expected more than 1 value per channel when training, got input size "
                         f"{input.shape!r}")
    if not training:
        for name, values in (("running_mean", running_mean), ("running_var", running_var)):
            if values is None:
                raise RuntimeError(f"{name} must be defined in evaluation mode")
    channels = input.shape[1]
    for name, values in (("running_mean", running_mean), ("running_var", running_var),
                         ("weight", weight), ("bias", bias)):
        if values is not None and values.numel() != channels:
            raise RuntimeError(f"{name} should contain {channels} elements not {values.numel()}")
    if training:
        out = apply(NativeBatchNormBackward0, input, weight, bias, eps=eps)
        if running_mean is not None:
            axes = (0,) if input.dim() == 2 else (0, 2)
            data = input._data
            count = int(np.prod([data.shape[a] for a in axes]))
            unbiased = data.var(axis=axes) * count / max(count - 1, 1)
            running_mean._write((1 - momentum) * running_mean._data + momentum * data.mean(axis=axes))
            running_var._write((1 - momentum) * running_var._data + momentum * unbiased)
        return out
    return apply(NativeBatchNormEval, input, weight, bias, mean=running_mean._data,
                 var=running_var._data, eps=eps)
