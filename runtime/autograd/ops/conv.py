"""2-d convolution by im2col: the sliding blocks of the input laid out as columns
(``Im2ColBackward0``, PyTorch's ``F.unfold``), so that the convolution is one matrix product
per group; ``Col2ImBackward0`` (``F.fold``) sums columns back into an image and is the
other's backward, and the reverse.  The convolution's backward is written with these two and
matrix products, so it can be differentiated again.

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
