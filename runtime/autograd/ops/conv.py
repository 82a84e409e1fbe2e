"""Padding (``F.pad``), and 2-d convolution by im2col: the sliding blocks of the input laid
out as columns (``Im2ColBackward0``, PyTorch's ``F.unfold``), so that the convolution is one
matrix product per group; ``Col2ImBackward0`` (``F.fold``) sums columns back into an image
and is the other's backward, and the reverse.  The convolution's backward is written with
these two and matrix products, so it can be differentiated again.

A ``geometry`` is ``(kernel, dilation, padding, stride)``: pairs (rows, columns), with
``padding`` as ``((top, bottom), (left, right))``."""

from __future__ import annotations

import numpy as np

from runtime.autograd.node import Node


def output_size(size: tuple, geometry: tuple) -> tuple:
    """How many block positions fit along each of the two spatial dimensions."""
    kernel, dilation, padding, stride = geometry
    return tuple([(n + before + after - d * (k - 1) - 1) // s + 1
                  for n, k, d, (before, after), s in zip(size, kernel, dilation, padding, stride)])


def _block_slices(geometry: tuple, blocks: tuple) -> list:
    """For each kernel position (i, j): the slices of the padded image that its elements of
    every block come from."""
    (kh, kw), (dh, dw), _, (sh, sw) = geometry
    rows, columns = blocks
    return [(i, j, slice(i * dh, i * dh + sh * (rows - 1) + 1, sh),
             slice(j * dw, j * dw + sw * (columns - 1) + 1, sw))
            for i in range(kh) for j in range(kw)]


def im2col(image: np.ndarray, geometry: tuple) -> np.ndarray:
    """(N, C, H, W) -> (N, C * kh * kw, L): each column one block, channel-major as in
    PyTorch."""
    kernel, _, ((top, bottom), (left, right)), _ = geometry
    n, c = image.shape[:2]
    blocks = output_size(image.shape[2:], geometry)
    padded = np.pad(image, ((0, 0), (0, 0), (top, bottom), (left, right)))
    columns = np.empty((n, c, *kernel, *blocks), dtype=image.dtype)
    for i, j, rows, cols in _block_slices(geometry, blocks):
        columns[:, :, i, j] = padded[:, :, rows, cols]
    return columns.reshape(n, c * kernel[0] * kernel[1], blocks[0] * blocks[1])


def col2im(columns: np.ndarray, size: tuple, geometry: tuple) -> np.ndarray:
    """(N, C * kh * kw, L) -> (N, C, H, W): each column added back where its block lies."""
    kernel, _, ((top, bottom), (left, right)), _ = geometry
    n = columns.shape[0]
    c = columns.shape[1] // (kernel[0] * kernel[1])
    blocks = output_size(size, geometry)
    columns = columns.reshape(n, c, *kernel, *blocks)
    padded = np.zeros((n, c, size[0] + top + bottom, size[1] + left + right), dtype=columns.dtype)
    for i, j, rows, cols in _block_slices(geometry, blocks):
        padded[:, :, rows, cols] += columns[:, :, i, j]
    return padded[:, :, top:top + size[0], left:left + size[1]]


class Im2ColBackward0(Node):
    """``F.unfold``: the sliding blocks of an image, or a batch of them, as columns."""

    @staticmethod
    def forward(ctx, image, geometry=None):
        ctx.size, ctx.geometry = image.shape[-2:], geometry
        if image.ndim == 3:  # one image, not a batch
            return im2col(image[None], geometry)[0]
        return im2col(image, geometry)

    @staticmethod
    def backward(ctx, grad):
        return (grad._apply(Col2ImBackward0, size=ctx.size, geometry=ctx.geometry),)


class Col2ImBackward0(Node):
    """``F.fold``: columns of blocks summed back into an image of ``size`` (or a batch)."""

    @staticmethod
    def forward(ctx, columns, size=None, geometry=None):
        ctx.geometry = geometry
        if columns.ndim == 2:  # one image's columns, not a batch
            return col2im(columns[None], size, geometry)[0]
        return col2im(columns, size, geometry)

    @staticmethod
    def backward(ctx, grad):
        return (grad._apply(Im2ColBackward0, geometry=ctx.geometry),)


class ConvolutionBackward0(Node):
    """``conv2d`` of (N, C, H, W) with weight (O, C / groups, kh, kw) and an optional bias:
    per group, weight rows times the input's columns."""

    @staticmethod
    def forward(ctx, image, weight, bias=None, geometry=None, groups=1):
        ctx.save_for_backward(image if ctx.needs_input_grad[1] else None,
                              weight if ctx.needs_input_grad[0] else None)
        ctx.size, ctx.weight_shape = image.shape[2:], weight.shape
        ctx.geometry, ctx.groups = geometry, groups
        n, out_channels = image.shape[0], weight.shape[0]
        blocks = output_size(image.shape[2:], geometry)
        columns = im2col(image, geometry).reshape(n, groups, -1, blocks[0] * blocks[1])
        out = weight.reshape(groups, out_channels // groups, -1) @ columns
        out = out.reshape(n, out_channels, *blocks)
        if bias is not None:
            out += bias.reshape(-1, 1, 1)
        return out

    @staticmethod
    def backward(ctx, grad):
        image, weight = ctx.saved_tensors
        need_image, need_weight, need_bias = ctx.needs_input_grad
        n, out_channels, rows, columns = grad.shape
        groups = ctx.groups
        per_group = grad.reshape(n, groups, out_channels // groups, rows * columns)
        grad_image = grad_weight = grad_bias = None
        if need_image:
            kernel_rows = weight.reshape(groups, out_channels // groups, -1).transpose(1, 2)
            image_columns = (kernel_rows @ per_group).reshape(n, -1, rows * columns)
            grad_image = image_columns._apply(Col2ImBackward0, size=ctx.size,
                                              geometry=ctx.geometry)
        if need_weight:
            image_columns = image._apply(Im2ColBackward0, geometry=ctx.geometry)
            image_columns = image_columns.reshape(n, groups, -1, rows * columns)
            products = per_group @ image_columns.transpose(2, 3)
            grad_weight = products.sum(dim=0).reshape(ctx.weight_shape)
        if need_bias:
            grad_bias = grad.sum(dim=(0, 2, 3))
        return grad_image, grad_weight, grad_bias


def _axis_pads(ndim: int, pad: tuple) -> list:
    """``F.pad``'s ``pad`` (last dimension first, (before, after) each) as one pair per axis."""
    widths = [(0, 0)] * ndim
    for nr in range(len(pad) // 2):
        widths[ndim - 1 - nr] = (pad[2 * nr], pad[2 * nr + 1])
    return widths


class ConstantPadNdBackward0(Node):
    """``F.pad(mode="constant")``: ``value`` added around the last dimensions (a negative
    width crops).  Its backward is the opposite padding of the gradient."""

    @staticmethod
    def forward(ctx, a, pad=(), value=0.0):
        ctx.pad = pad
        widths = _axis_pads(a.ndim, pad)
        kept = a[tuple([slice(max(-before, 0), n - max(-after, 0))
                        for (before, after), n in zip(widths, a.shape)])]
        return np.pad(kept, [(max(before, 0), max(after, 0)) for before, after in widths],
                      constant_values=value)

    @staticmethod
    def backward(ctx, grad):
        return (grad._apply(ConstantPadNdBackward0, pad=tuple([-n for n in ctx.pad])),)


class _PadByIndex(Node):
    """``F.pad`` with a mode that repeats input elements: every output element picks one of
    the input (``numpy_mode`` of ``np.pad`` over the positions), and its gradient goes back
    there."""

    numpy_mode = ""

    @classmethod
    def forward(cls, ctx, a, pad=()):
        ctx.shape = a.shape
        ctx.index = index = padding_index(a.shape, pad, cls.numpy_mode)
        return a[index]

    @staticmethod
    def backward(ctx, grad):
        return (grad.new_zeros(ctx.shape).index_put(ctx.index, grad, accumulate=True),)


def padding_index(shape: tuple, pad: tuple, numpy_mode: str) -> tuple:
    """The index into an array of ``shape`` that gives it padded by ``pad`` in ``numpy_mode``."""
    widths = _axis_pads(len(shape), pad)
    padded = len(pad) // 2
    positions = []
    for n, (before, after) in zip(shape[-padded:], widths[-padded:]):
        picked = np.pad(np.arange(n), (max(before, 0), max(after, 0)), mode=numpy_mode)
        positions.append(picked[max(-before, 0):len(picked) - max(-after, 0)])  # (< 0 crops)
    return (slice(None),) * (len(shape) - padded) + np.ix_(*positions)


class ReflectionPad1DBackward0(_PadByIndex):
    numpy_mode = "reflect"


class ReflectionPad2DBackward0(ReflectionPad1DBackward0):
    pass


class ReflectionPad3DBackward0(ReflectionPad1DBackward0):
    pass


class ReplicationPad1DBackward0(_PadByIndex):
    numpy_mode = "edge"


class ReplicationPad2DBackward0(ReplicationPad1DBackward0):
    pass


class ReplicationPad3DBackward0(ReplicationPad1DBackward0):
    pass
