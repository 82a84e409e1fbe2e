"""2-d convolution (``F.conv2d``, ``nn.Conv2d``, ``F.unfold``/``F.fold``) and ``F.pad`` on
torch and on runtime (the harness of ``test_vs_torch.py``): values, gradients, grad_fn names, reprs,
messages and warnings."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("torch")

from tests.runtime.test_vs_torch import assert_same  # noqa: E402

RNG = np.random.default_rng(7)
IMAGES = RNG.normal(size=(2, 4, 6, 7)).tolist()
WEIGHT = RNG.normal(size=(6, 2, 3, 2)).tolist()
BIAS = RNG.normal(size=6).tolist()


def _convolve(m, **geometry):
    x = m.tensor(IMAGES, requires_grad=True)
    weight = m.tensor(WEIGHT, requires_grad=True)
    bias = m.tensor(BIAS, requires_grad=True)
    out = m.nn.functional.conv2d(x, weight, bias, groups=2, **geometry)
    (out * out).sum().backward()
    return out, x.grad, weight.grad, bias.grad


def conv2d_plain(m):
    return _convolve(m)


def conv2d_strided_padded_dilated(m):
    return _convolve(m, stride=(2, 1), padding=(1, 2), dilation=(2, 1))


def conv2d_same_padding_of_an_even_kernel(m):
    return _convolve(m, padding="same")


def conv2d_valid_padding(m):
    return _convolve(m, padding="valid")


def conv2d_of_one_image(m):
    x = m.tensor(IMAGES[0], requires_grad=True)
    out = m.nn.functional.conv2d(x, m.tensor(WEIGHT)[:, :1].repeat(1, 4, 1, 1))
    out.sum().backward()
    return out, x.grad


def conv2d_module_padding_modes(m):
    results = []
    for mode in ("zeros", "reflect", "replicate", "circular"):
        layer = m.nn.Conv2d(4, 6, (3, 2), padding=(2, 1), groups=2, padding_mode=mode)
        with m.no_grad():
            layer.weight.copy_(m.tensor(WEIGHT))
            layer.bias.copy_(m.tensor(BIAS))
        x = m.tensor(IMAGES, requires_grad=True)
        out = layer(x)
        out.sum().backward()
        results.append((repr(layer), out, x.grad, layer.weight.grad))
    return results


def conv2d_module_shapes_and_repr(m):
    layers = [m.nn.Conv2d(3, 4, 3),
              m.nn.Conv2d(4, 8, (2, 3), stride=2, padding=1, dilation=2, groups=4, bias=False),
              m.nn.Conv2d(2, 2, 3, padding="same")]
    return [(repr(layer), layer.weight.shape, layer.bias is None,
             [name for name, _ in layer.named_parameters()]) for layer in layers]


def conv2d_input_of_wrong_rank(m):
    m.nn.functional.conv2d(m.ones(2, 3), m.ones(4, 3, 3, 3))


def conv2d_wrong_channels(m):
    m.nn.Conv2d(3, 4, 3)(m.ones(1, 5, 8, 8))


def conv2d_kernel_larger_than_input(m):
    m.nn.functional.conv2d(m.ones(1, 3, 4, 4), m.ones(4, 3, 3, 3), dilation=2)


def conv2d_wrong_bias(m):
    m.nn.functional.conv2d(m.ones(1, 3, 5, 5), m.ones(4, 3, 3, 3), m.ones(3))


def conv2d_same_padding_with_stride(m):
    m.nn.functional.conv2d(m.ones(1, 3, 5, 5), m.ones(4, 3, 3, 3), padding="same", stride=2)


def conv2d_unknown_padding_string(m):
    m.nn.functional.conv2d(m.ones(1, 3, 5, 5), m.ones(4, 3, 3, 3), padding="foo")


def conv2d_module_groups_not_dividing(m):
    m.nn.Conv2d(3, 4, 3, groups=2)


def conv2d_module_out_channels_not_dividing(m):
    m.nn.Conv2d(4, 3, 3, groups=2)


def conv2d_module_zero_groups(m):
    m.nn.Conv2d(3, 4, 3, groups=0)


def conv2d_module_same_padding_with_stride(m):
    m.nn.Conv2d(3, 4, 3, padding="same", stride=2)


def unfold_and_fold(m):
    x = m.tensor(IMAGES, requires_grad=True)
    columns = m.nn.functional.unfold(x, (2, 3), padding=1, stride=(2, 1))
    back = m.nn.functional.fold(columns, (6, 7), (2, 3), padding=1, stride=(2, 1))
    (back * back).sum().backward()
    one = m.nn.functional.unfold(x[0], 2)
    return columns, back, x.grad, one.shape, one.grad_fn.name()


def unfold_of_wrong_rank(m):
    m.nn.functional.unfold(m.ones(1, 2, 3, 4, 5), 2)


def fold_of_wrong_rank(m):
    m.nn.functional.fold(m.ones(2), (4, 4), 2)


def fold_of_wrong_block_count(m):
    m.nn.functional.fold(m.ones(1, 12, 5), (4, 4), 2)


def conv2d_refusals(m):
    functional, x, w = m.nn.functional, m.ones(1, 3, 6, 6), m.ones(2, 3, 2, 2)
    results = []
    for options in (dict(stride=0, padding=-1, dilation=0), dict(stride=0, dilation=0),
                    dict(padding=-1, dilation=0), dict(groups=0), dict(stride=(2,))):
        try:
            results.append(functional.conv2d(x, w, **options).shape)
        except RuntimeError as error:
            results.append(str(error))
    return results


def conv2d_of_mixed_dtypes(m):
    functional, results = m.nn.functional, []
    for x, w, b in ((m.ones(1, 1, 3, 3), m.ones(1, 1, 2, 2, dtype=m.float64), None),
                    (m.ones(1, 1, 3, 3, dtype=m.float64), m.ones(1, 1, 2, 2), None),
                    (m.ones(1, 1, 3, 3, dtype=m.float64), m.ones(1, 1, 2, 2), m.ones(1)),
                    (m.ones(1, 1, 3, 3), m.ones(1, 1, 2, 2), m.ones(1, dtype=m.float64))):
        try:
            functional.conv2d(x, w, b)
        except RuntimeError as error:
            results.append(str(error))
    return results


def conv2d_of_integers(m):
    return m.nn.functional.conv2d(m.ones(1, 1, 3, 3, dtype=m.int64),
                                  m.ones(1, 1, 2, 2, dtype=m.int64))


def conv2d_module_given_none(m):
    try:
        m.nn.Conv2d(3, 3, 3)(None)
    except TypeError as error:
        return str(error).splitlines()[0]
    return None


def _padded(m, shape, pad, mode, **options):
    x = m.arange(float(m.ones(shape).numel())).reshape(shape).requires_grad_()
    out = m.nn.functional.pad(x, pad, mode=mode, **options)
    (out * out).sum().backward()
    # (circular padding: PyTorch copies slices, CopySlices; runtime picks elements, IndexBackward0)
    return out.detach(), x.grad, out.grad_fn.name() if mode != "circular" else None


def pad_modes(m):
    return [_padded(m, (2, 3, 4), (1, 2), "constant", value=-1.0),
            _padded(m, (1, 2, 3, 4), (1, -1, 2, 0), "constant"),
            _padded(m, (2, 3, 4), (1, 2), "reflect"), _padded(m, (3, 4), (3, 1), "reflect"),
            _padded(m, (1, 2, 3, 4), (1, 2, 2, 1), "reflect"),
            _padded(m, (1, 2, 3, 4), (2, 3, 1, 2), "replicate"),
            _padded(m, (2, 3, 4), (-1, 2), "replicate"),
            _padded(m, (1, 2, 3, 4, 5), (1, 1, 1, 1, 1, 1), "replicate"),
            _padded(m, (1, 2, 3, 4, 5), (1, 0, 2, 1, 0, 1), "reflect"),
            _padded(m, (1, 2, 3, 4), (1, 2, 3, 3), "circular"),
            _padded(m, (2, 3, 4), (4, 4), "circular")]


def pad_refusals(m):
    x, results = m.ones(1, 2, 3), []
    for pad, options in (((1, 2, 1), {}), ((1,) * 8, {}), ((1, 1), dict(mode="foo")),
                         ((3, 3), dict(mode="reflect")), ((1, 1, 2, 2), dict(mode="reflect")),
                         ((1, 1), dict(mode="reflect", value=1.0)),
                         ((4, 4), dict(mode="circular")), ((1, 1) * 3, dict(mode="replicate"))):
        try:
            m.nn.functional.pad(x, pad, **options)
        except (RuntimeError, NotImplementedError) as error:
            results.append((type(error).__name__, str(error)))
    return results


CASES = [
    conv2d_plain, conv2d_strided_padded_dilated, conv2d_same_padding_of_an_even_kernel,
    conv2d_valid_padding, conv2d_of_one_image, conv2d_module_padding_modes,
    conv2d_module_shapes_and_repr, conv2d_input_of_wrong_rank, conv2d_wrong_channels,
    conv2d_kernel_larger_than_input, conv2d_wrong_bias, conv2d_same_padding_with_stride,
    conv2d_unknown_padding_string, conv2d_module_groups_not_dividing,
    conv2d_module_out_channels_not_dividing, conv2d_module_zero_groups,
    conv2d_module_same_padding_with_stride, unfold_and_fold, unfold_of_wrong_rank,
    fold_of_wrong_rank, fold_of_wrong_block_count, conv2d_refusals, conv2d_of_mixed_dtypes,
    conv2d_of_integers, conv2d_module_given_none, pad_modes, pad_refusals,
]


@pytest.mark.parametrize("program", CASES, ids=[c.__name__ for c in CASES])
def test_same_outcome_as_torch(program):
    assert_same(program)
