"""Every differentiable op's gradient against central finite differences (float64).

Each case is ``(name, function, input arrays)``: the analytic gradient of ``sum(f(*x) * w)``
(``w`` a fixed random weight, so every output element matters) is compared with the
numerical one, for every input.  Inputs keep away from kinks (abs, relu, clamp, ties of max).
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import runtime

RNG = np.random.default_rng(0)


def _normal(*shape):
    return RNG.normal(size=shape)


def _positive(*shape):
    return RNG.uniform(0.5, 2.0, size=shape)


def _away_from_zero(*shape):
    values = RNG.uniform(0.3, 1.5, size=shape)
    return values * RNG.choice([-1.0, 1.0], size=shape)


def _distinct(*shape):
    # Distinct values with gaps wider than the finite-difference step: max/min have no ties.
    values = RNG.permutation(int(np.prod(shape))).astype(np.float64) * 0.3
    return values.reshape(shape) + RNG.uniform(-0.05, 0.05, size=shape)


def _objective(function, arrays, weight):
    tensors = [runtime.tensor(a, dtype=runtime.float64) for a in arrays]
    with runtime.no_grad():
        out = function(*tensors)
    return float((out.numpy() * weight).sum())


def numerical_grads(function, arrays, weight, eps=1e-6):
    grads = []
    for index, array in enumerate(arrays):
        grad = np.zeros_like(array)
        for position in np.ndindex(array.shape):
            shifted = [a.copy() for a in arrays]
            shifted[index][position] = array[position] + eps
            plus = _objective(function, shifted, weight)
            shifted[index][position] = array[position] - eps
            minus = _objective(function, shifted, weight)
            grad[position] = (plus - minus) / (2 * eps)
        grads.append(grad)
    return grads


def analytic_grads(function, arrays, weight):
    tensors = [runtime.tensor(a, dtype=runtime.float64, requires_grad=True) for a in arrays]
    out = function(*tensors)
    assert out.requires_grad
    assert out.dtype == runtime.float64
    (out * runtime.tensor(weight, dtype=runtime.float64)).sum().backward()
    return [t.grad.numpy() if t.grad is not None else np.zeros_like(a)
            for t, a in zip(tensors, arrays)]


def check_gradients(function, arrays, atol=1e-6, rtol=1e-5):
    arrays = [np.asarray(a, dtype=np.float64) for a in arrays]
    tensors = [runtime.tensor(a, dtype=runtime.float64) for a in arrays]
    with runtime.no_grad():
        shape = function(*tensors).shape
    weight = RNG.normal(size=tuple(shape))
    analytic = analytic_grads(function, arrays, weight)
    numerical = numerical_grads(function, arrays, weight)
    for index, (got, want) in enumerate(zip(analytic, numerical)):
        assert got.shape == arrays[index].shape, f"input {index}: grad shape {got.shape}"
        np.testing.assert_allclose(got, want, atol=atol, rtol=rtol, err_msg=f"input {index}")


def _iadd_twice(a, b):
    h = a * 2
    h += b
    h *= b
    return h


def _setitem(a, b):
    h = a * 1
    h[1] = b * 3
    return h * a


MASK = np.array([[True, False, True], [False, False, True]])

CASES = [
    # arithmetic
    ("add", lambda a, b: a + b, [_normal(2, 3), _normal(2, 3)]),
    ("add_scalar", lambda a: a + 2.5, [_normal(2, 3)]),
    ("radd_scalar", lambda a: 2.5 + a, [_normal(2, 3)]),
    ("add_alpha", lambda a, b: a.add(b, alpha=3), [_normal(3), _normal(3)]),
    ("sub", lambda a, b: a - b, [_normal(2, 3), _normal(2, 3)]),
    ("sub_alpha", lambda a, b: a.sub(b, alpha=2), [_normal(3), _normal(3)]),
    ("rsub_scalar", lambda a: 1.5 - a, [_normal(4)]),
    ("mul", lambda a, b: a * b, [_normal(2, 3), _normal(2, 3)]),
    ("mul_scalar", lambda a: a * -1.5, [_normal(2, 3)]),
    ("rmul_scalar", lambda a: 3.0 * a, [_normal(2, 3)]),
    ("div", lambda a, b: a / b, [_normal(2, 3), _away_from_zero(2, 3)]),
    ("div_scalar", lambda a: a / 4.0, [_normal(5)]),
    ("rdiv_scalar", lambda a: 2.0 / a, [_away_from_zero(5)]),
    ("pow_scalar", lambda a: a ** 3, [_normal(2, 3)]),
    ("pow_fractional", lambda a: a ** 1.5, [_positive(4)]),
    ("pow_negative", lambda a: a ** -2, [_away_from_zero(4)]),
    ("pow_tensor", lambda a, b: a ** b, [_positive(2, 3), _normal(2, 3)]),
    ("pow_tensor_broadcast", lambda a, b: a ** b, [_positive(2, 3), _normal(3)]),
    ("rpow", lambda a: 2.0 ** a, [_normal(2, 3)]),
    ("neg", lambda a: -a, [_normal(2, 3)]),
    ("neg_method", lambda a: a.neg(), [_normal(3)]),
    # matmul
    ("matmul_1d_1d", lambda a, b: a @ b, [_normal(4), _normal(4)]),
    ("matmul_2d_1d", lambda a, b: a @ b, [_normal(3, 4), _normal(4)]),
    ("matmul_1d_2d", lambda a, b: a @ b, [_normal(3), _normal(3, 4)]),
    ("matmul_2d_2d", lambda a, b: a @ b, [_normal(2, 3), _normal(3, 4)]),
    ("matmul_3d_3d", lambda a, b: a @ b, [_normal(2, 3, 4), _normal(2, 4, 2)]),
    # A vector against a batch: found by the broadcasting property test (test_stress.py).
    ("matmul_1d_3d", lambda a, b: a @ b, [_normal(3), _normal(2, 3, 4)]),
    ("matmul_3d_1d", lambda a, b: a @ b, [_normal(2, 3, 4), _normal(4)]),
    ("matmul_function", lambda a, b: runtime.matmul(a, b), [_normal(2, 3), _normal(3, 2)]),
    ("mm_function", lambda a, b: runtime.mm(a, b), [_normal(2, 3), _normal(3, 2)]),
    # elementwise
    ("exp", lambda a: a.exp(), [_normal(2, 3)]),
    ("log", lambda a: a.log(), [_positive(2, 3)]),
    ("sqrt", lambda a: a.sqrt(), [_positive(2, 3)]),
    ("abs", lambda a: a.abs(), [_away_from_zero(2, 3)]),
    ("sin", lambda a: a.sin(), [_normal(2, 3)]),
    ("cos", lambda a: a.cos(), [_normal(2, 3)]),
    ("tanh", lambda a: a.tanh(), [_normal(2, 3)]),
    ("sigmoid", lambda a: a.sigmoid(), [_normal(2, 3)]),
    ("relu", lambda a: a.relu(), [_away_from_zero(2, 3)]),
    ("clamp_both", lambda a: a.clamp(-0.5, 0.5), [np.array([-1.0, -0.3, 0.1, 0.4, 0.9, 2.0])]),
    ("clamp_min", lambda a: a.clamp(min=0.0), [np.array([-1.0, -0.3, 0.1, 0.4])]),
    ("clamp_max", lambda a: a.clamp(max=0.2), [np.array([-1.0, -0.3, 0.1, 0.4])]),
    ("function_forms", lambda a: runtime.exp(a) + runtime.sin(a) * runtime.tanh(a), [_normal(3)]),
    # reductions
    ("sum_all", lambda a: a.sum(), [_normal(2, 3)]),
    ("sum_dim0", lambda a: a.sum(0), [_normal(2, 3)]),
    ("sum_dim_neg", lambda a: a.sum(dim=-1), [_normal(2, 3, 4)]),
    ("sum_dim_keepdim", lambda a: a.sum(1, keepdim=True), [_normal(2, 3, 4)]),
    ("sum_dims_tuple", lambda a: a.sum((0, 2)), [_normal(2, 3, 4)]),
    ("mean_all", lambda a: a.mean(), [_normal(2, 3)]),
    ("mean_dim", lambda a: a.mean(1), [_normal(2, 3)]),
    ("mean_dim_keepdim", lambda a: a.mean(0, keepdim=True), [_normal(2, 3)]),
    ("max_all", lambda a: a.max(), [_distinct(2, 3)]),
    ("min_all", lambda a: a.min(), [_distinct(2, 3)]),
    ("max_dim", lambda a: a.max(dim=1).values, [_distinct(3, 4)]),
    ("max_dim_keepdim", lambda a: a.max(0, keepdim=True)[0], [_distinct(3, 4)]),
    ("min_dim", lambda a: a.min(dim=0).values, [_distinct(3, 4)]),
    ("min_dim_neg", lambda a: a.min(-1)[0], [_distinct(2, 3, 4)]),
    ("norm", lambda a: a.norm(), [_normal(2, 3)]),
    ("norm_dim", lambda a: a.norm(dim=1), [_normal(2, 3)]),
    ("norm_dim_keepdim", lambda a: a.norm(dim=0, keepdim=True), [_normal(2, 3)]),
    ("std", lambda a: a.std(), [_normal(2, 3)]),
    ("std_dim", lambda a: a.std(dim=1), [_normal(3, 4)]),
    ("std_biased", lambda a: a.std(unbiased=False), [_normal(5)]),
    ("var", lambda a: a.var(), [_normal(2, 3)]),
    ("var_dim_keepdim", lambda a: a.var(0, keepdim=True), [_normal(3, 4)]),
    ("var_biased", lambda a: a.var(unbiased=False), [_normal(5)]),
    ("softmax", lambda a: a.softmax(dim=-1), [_normal(2, 4)]),
    ("softmax_dim0", lambda a: a.softmax(0), [_normal(3, 2)]),
    ("log_softmax", lambda a: a.log_softmax(dim=1), [_normal(2, 4)]),
    ("log_softmax_dim0", lambda a: a.log_softmax(0), [_normal(3, 2)]),
    # shape
    ("reshape", lambda a: a.reshape(3, 2) * runtime.tensor([[1.0, 2], [3, 4], [5, 6]], dtype=runtime.float64), [_normal(2, 3)]),
    ("reshape_minus1", lambda a: a.reshape(-1), [_normal(2, 3)]),
    ("view", lambda a: a.view(6), [_normal(2, 3)]),
    ("view_tuple", lambda a: a.view((3, 2)), [_normal(2, 3)]),
    ("transpose", lambda a: a.transpose(0, 2), [_normal(2, 3, 4)]),
    ("transpose_then_view", lambda a: a.transpose(0, 1).reshape(6), [_normal(2, 3)]),
    ("t", lambda a: a.t(), [_normal(2, 3)]),
    ("T", lambda a: a.T, [_normal(2, 3)]),
    ("T_3d", lambda a: a.T, [_normal(2, 3, 4)]),
    ("permute", lambda a: a.permute(2, 0, 1), [_normal(2, 3, 4)]),
    ("squeeze_all", lambda a: a.squeeze(), [_normal(2, 1, 3, 1)]),
    ("squeeze_dim", lambda a: a.squeeze(1), [_normal(2, 1, 3)]),
    ("unsqueeze", lambda a: a.unsqueeze(1), [_normal(2, 3)]),
    ("unsqueeze_neg", lambda a: a.unsqueeze(-1), [_normal(2, 3)]),
    ("flatten", lambda a: a.flatten(), [_normal(2, 3, 4)]),
    ("flatten_start", lambda a: a.flatten(1), [_normal(2, 3, 4)]),
    ("expand", lambda a: a.expand(4, 3), [_normal(1, 3)]),
    ("expand_minus1", lambda a: a.expand(2, -1, 3), [_normal(4, 1)]),
    ("expand_new_dims", lambda a: a.expand(2, 3), [_normal(3)]),
    # indexing
    ("index_int", lambda a: a[1], [_normal(3, 4)]),
    ("index_negative_int", lambda a: a[-1], [_normal(3, 4)]),
    ("index_slice", lambda a: a[1:], [_normal(3, 4)]),
    ("index_step_slice", lambda a: a[:, ::2], [_normal(3, 4)]),
    ("index_tuple", lambda a: a[0, 1:3], [_normal(3, 4)]),
    ("index_array", lambda a: a[runtime.tensor([0, 2, 0])], [_normal(3, 4)]),
    ("index_list", lambda a: a[[2, 2, 1]], [_normal(3, 4)]),
    ("index_array_dim1", lambda a: a[:, runtime.tensor([3, 0, 3])], [_normal(3, 4)]),
    ("index_none", lambda a: a[None, 1], [_normal(3, 4)]),
    # combining
    ("cat", lambda a, b: runtime.cat([a, b]), [_normal(2, 3), _normal(1, 3)]),
    ("cat_dim1", lambda a, b: runtime.cat([a, b], dim=1), [_normal(2, 3), _normal(2, 2)]),
    ("cat_dim_neg", lambda a, b, c: runtime.cat((a, b, c), -1), [_normal(2), _normal(3), _normal(1)]),
    ("stack", lambda a, b: runtime.stack([a, b]), [_normal(2, 3), _normal(2, 3)]),
    ("stack_dim1", lambda a, b: runtime.stack([a, b], dim=1), [_normal(2, 3), _normal(2, 3)]),
    ("stack_dim_neg", lambda a, b: runtime.stack([a, b], dim=-1), [_normal(2, 3), _normal(2, 3)]),
    ("where", lambda a, b: runtime.where(runtime.tensor(MASK), a, b), [_normal(2, 3), _normal(2, 3)]),
    ("where_broadcast", lambda a, b: runtime.where(runtime.tensor(MASK), a, b), [_normal(2, 3), _normal(3)]),
    ("where_scalar", lambda a: runtime.where(runtime.tensor(MASK), a, 0.0), [_normal(2, 3)]),
    ("gather_dim1", lambda a: a.gather(1, runtime.tensor([[0, 0, 2], [1, 2, 1]])), [_normal(2, 3)]),
    ("gather_dim0", lambda a: a.gather(0, runtime.tensor([[1, 0, 1]])), [_normal(2, 3)]),
    ("gather_function", lambda a: runtime.gather(a, 1, runtime.tensor([[2], [0]])), [_normal(2, 3)]),
    ("masked_fill", lambda a: a.masked_fill(runtime.tensor(MASK), -1.0), [_normal(2, 3)]),
    ("clone", lambda a: a.clone() * 2, [_normal(3)]),
    # in-place ops on a non-leaf: backward must see the values from before the write
    ("inplace_add_", lambda a, b: (a * 1).add_(b, alpha=2), [_normal(3), _normal(3)]),
    ("inplace_sub_", lambda a, b: (a * 1).sub_(b), [_normal(3), _normal(3)]),
    ("inplace_mul_", lambda a, b: (a * 1).mul_(b), [_normal(3), _normal(3)]),
    ("inplace_div_", lambda a, b: (a * 1).div_(b), [_normal(3), _away_from_zero(3)]),
    ("inplace_pow_", lambda a: (a * 1).pow_(3), [_normal(3)]),
    ("inplace_log_", lambda a: (a * 1).log_(), [_positive(3)]),
    ("inplace_exp_", lambda a: (a * 1).exp_(), [_normal(3)]),
    ("inplace_sqrt_", lambda a: (a * 1).sqrt_(), [_positive(3)]),
    ("inplace_abs_", lambda a: (a * 1).abs_(), [_away_from_zero(3)]),
    ("inplace_sigmoid_", lambda a: (a * 1).sigmoid_(), [_normal(3)]),
    ("inplace_tanh_", lambda a: (a * 1).tanh_(), [_normal(3)]),
    ("inplace_relu_", lambda a: (a * 1).relu_(), [_away_from_zero(3)]),
    ("inplace_clamp_", lambda a: (a * 1).clamp_(-0.5, 0.5), [np.array([-1.0, -0.3, 0.1, 0.9])]),
    ("inplace_neg_", lambda a: (a * 1).neg_(), [_normal(3)]),
    ("inplace_masked_fill_", lambda a: (a * 1).masked_fill_(runtime.tensor(MASK), 0.0), [_normal(2, 3)]),
    ("inplace_iadd_chain", lambda a, b: _iadd_twice(a, b), [_normal(3), _normal(3)]),
    ("inplace_setitem", lambda a, b: _setitem(a, b), [_normal(2, 3), _normal(3)]),
    ("inplace_copy_", lambda a, b: (a * 1).copy_(b) * a, [_normal(3), _normal(3)]),
    # broadcasting
    ("bcast_add_row", lambda a, b: a + b, [_normal(2, 3), _normal(3)]),
    ("bcast_add_col", lambda a, b: a + b, [_normal(2, 3), _normal(2, 1)]),
    ("bcast_mul_outer", lambda a, b: a * b, [_normal(3, 1), _normal(1, 4)]),
    ("bcast_sub_3d", lambda a, b: a - b, [_normal(2, 1, 4), _normal(3, 1)]),
    ("bcast_div", lambda a, b: a / b, [_normal(2, 3), _away_from_zero(1, 3)]),
    ("bcast_rsub_tensor", lambda a, b: b - a, [_normal(2, 3), _normal(3)]),
    ("bcast_scalar_tensor", lambda a, b: a * b, [_normal(2, 3), _normal()]),
    ("bcast_matmul_batch", lambda a, b: a @ b, [_normal(2, 3, 4), _normal(4, 2)]),
    # compositions (shared inputs, several paths)
    ("reuse", lambda a: a * a + a.exp() * a, [_normal(2, 3)]),
    ("mse", lambda a, b: ((a - b) ** 2).mean(), [_normal(4), _normal(4)]),
    ("layer", lambda x, w, b: (x @ w.t() + b).tanh().sum(1), [_normal(3, 4), _normal(2, 4), _normal(2)]),
    ("softmax_cross_entropy",
     lambda logits: -(logits.log_softmax(1).gather(1, runtime.tensor([[1], [0]]))).mean(),
     [_normal(2, 3)]),
]


@pytest.mark.parametrize("name, function, arrays", CASES, ids=[c[0] for c in CASES])
def test_gradient_matches_finite_differences(name, function, arrays):
    check_gradients(function, arrays)


def test_every_case_name_is_unique():
    names = [c[0] for c in CASES]
    assert len(names) == len(set(names))


# ------------------------------------------------------------------ property-based tests

dims = st.integers(1, 3)


@st.composite
def broadcastable_shapes(draw):
    """Two shapes that broadcast together: from one shape, drop leading dims and set some to 1."""
    full = draw(st.lists(dims, min_size=0, max_size=3))

    def derive():
        ndim = draw(st.integers(0, len(full)))
        tail = full[len(full) - ndim:]
        return tuple(1 if draw(st.booleans()) else n for n in tail)

    return tuple(full), derive()


@settings(max_examples=30, deadline=None)
@given(shapes=broadcastable_shapes(), swap=st.booleans(), op=st.sampled_from(["add", "mul", "sub"]))
def test_broadcasting_binary_gradients(shapes, swap, op):
    a_shape, b_shape = shapes if not swap else shapes[::-1]
    a, b = RNG.normal(size=a_shape), RNG.normal(size=b_shape)
    ta = runtime.tensor(a, dtype=runtime.float64, requires_grad=True)
    tb = runtime.tensor(b, dtype=runtime.float64, requires_grad=True)
    out = {"add": ta + tb, "mul": ta * tb, "sub": ta - tb}[op]
    want = {"add": a + b, "mul": a * b, "sub": a - b}[op]
    np.testing.assert_allclose(out.detach().numpy(), want)
    out_shape = np.broadcast_shapes(a_shape, b_shape)
    weight = RNG.normal(size=out_shape)
    (out * runtime.tensor(weight, dtype=runtime.float64)).sum().backward()
    # d/da sum(w * op(a, b)), summed over the broadcast dimensions of a.
    da = {"add": weight, "mul": weight * b, "sub": weight}[op]
    db = {"add": weight, "mul": weight * a, "sub": -weight}[op]

    def reduce_to(grad, shape):
        grad = np.broadcast_to(grad, out_shape)
        grad = grad.sum(axis=tuple(range(len(out_shape) - len(shape))))
        axes = tuple(i for i, n in enumerate(shape) if n == 1)
        return grad.sum(axis=axes, keepdims=True).reshape(shape)

    assert ta.grad.shape == a_shape and tb.grad.shape == b_shape
    np.testing.assert_allclose(ta.grad.numpy(), reduce_to(da, a_shape), atol=1e-12)
    np.testing.assert_allclose(tb.grad.numpy(), reduce_to(db, b_shape), atol=1e-12)


@st.composite
def reduction_case(draw):
    shape = tuple(draw(st.lists(dims, min_size=1, max_size=3)))
    dim = draw(st.one_of(st.none(), st.integers(-len(shape), len(shape) - 1)))
    keepdim = draw(st.booleans())
    op = draw(st.sampled_from(["sum", "mean", "max", "min", "var", "std", "norm", "softmax",
                               "log_softmax"]))
    return shape, dim, keepdim, op


def _reduce(tensor, op, dim, keepdim):
    if op in ("softmax", "log_softmax"):
        return getattr(tensor, op)(dim if dim is not None else 0)
    if dim is None:
        return getattr(tensor, op)()
    if op in ("max", "min"):
        return getattr(tensor, op)(dim, keepdim=keepdim).values
    if op == "norm":
        return tensor.norm(dim=dim, keepdim=keepdim)
    return getattr(tensor, op)(dim, keepdim=keepdim)


@settings(max_examples=30, deadline=None)
@given(case=reduction_case())
def test_reduction_gradients_over_random_shapes(case):
    shape, dim, keepdim, op = case
    count = int(np.prod(shape)) if dim is None else shape[dim]
    if op in ("var", "std") and count < 2:
        return  # unbiased variance of one element is undefined (nan, as in torch)
    array = _distinct(*shape) + 1.0  # distinct: no max ties; nonzero: norm is smooth
    check_gradients(lambda t: _reduce(t, op, dim, keepdim), [array])
