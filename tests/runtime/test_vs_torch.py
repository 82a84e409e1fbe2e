"""Differential tests: the same small program runs on ``torch`` and on ``runtime``.

Each case is a function ``program(m)`` written against the torch API, where ``m`` is the
module (``torch`` or ``runtime``).  Its observable outcome (returned values turned into plain
data, the exception type and message, every warning's category and message) must be
identical, except that tensor values are compared with a float32 tolerance.
"""

from __future__ import annotations

import threading
import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import runtime  # noqa: E402


# ----------------------------------------------------------------------- the harness


class Values:
    """Tensor contents, compared with a tolerance (NumPy and torch round differently)."""

    def __init__(self, array: np.ndarray) -> None:
        self.array = array

    def __eq__(self, other) -> bool:
        if not isinstance(other, Values) or self.array.shape != other.array.shape:
            return False
        if self.array.dtype.kind == "f" or other.array.dtype.kind == "f":
            return bool(np.allclose(self.array, other.array, rtol=1e-5, atol=1e-6, equal_nan=True))
        return bool((self.array == other.array).all())

    def __repr__(self) -> str:
        return f"Values({self.array.tolist()!r})"


def observe(value):
    """Plain data for a result: tensors become their values, dtype, and autograd state."""
    if isinstance(value, (torch.Tensor, runtime.Tensor)):
        grad_fn = value.grad_fn.name() if value.grad_fn is not None else None
        return ("tensor", tuple(value.shape), repr(value.dtype),
                Values(np.array(value.detach().tolist())),
                value.requires_grad, value.is_leaf, grad_fn)
    if isinstance(value, (tuple, list)):
        # torch.return_types.max and runtime's (values, indices) tuple compare as tuples.
        return "list" if isinstance(value, list) else "tuple", [observe(v) for v in value]
    if isinstance(value, dict):
        return {k: observe(v) for k, v in value.items()}
    if isinstance(value, float):
        return Values(np.array(value))
    if isinstance(value, (torch.dtype, runtime.dtype)):
        return repr(value)
    return value


def run(program, module):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            result, error = observe(program(module)), None
        except Exception as exception:  # noqa: BLE001 - the exception is the outcome
            result, error = None, (type(exception).__name__, str(exception))
    # Whatever warnings the modules themselves raise at import time are not the program's.
    messages = [(w.category.__name__, str(w.message)) for w in caught]
    return {"result": result, "error": error, "warnings": messages}


def assert_same(program):
    expected = run(program, torch)
    actual = run(program, runtime)
    assert actual == expected
    return expected


# ------------------------------------------------------------------------- op values


def _inputs(m):
    a = m.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], requires_grad=True)
    b = m.tensor([[0.5, 1.0, 2.0], [3.0, 1.5, 2.5]], requires_grad=True)
    return a, b


def _mask(m):
    return m.tensor([[True, False, True], [False, False, True]])


OPS = {
    "add": lambda m, a, b: a + b,
    "add_scalar": lambda m, a, b: a + 2,
    "radd": lambda m, a, b: 2 + a,
    "add_method_alpha": lambda m, a, b: a.add(b, alpha=2),
    "sub": lambda m, a, b: a - b,
    "sub_scalar": lambda m, a, b: a - 1,
    "sub_method_alpha": lambda m, a, b: a.sub(b, alpha=2),
    "rsub": lambda m, a, b: 1.5 - a,
    "mul": lambda m, a, b: a * b,
    "mul_scalar": lambda m, a, b: a * 2,
    "rmul": lambda m, a, b: 2 * a,
    "div": lambda m, a, b: a / b,
    "div_scalar": lambda m, a, b: a / 2,
    "rdiv": lambda m, a, b: 2 / a,
    "pow_scalar": lambda m, a, b: a ** 2,
    "pow_fractional": lambda m, a, b: a ** 0.5,
    "pow_tensor": lambda m, a, b: a ** b,
    "rpow": lambda m, a, b: 2 ** a,
    "neg": lambda m, a, b: -a,
    "matmul_1d_1d": lambda m, a, b: a[0] @ b[0],
    "matmul_2d_1d": lambda m, a, b: a @ b[0],
    "matmul_1d_2d": lambda m, a, b: a[0] @ b.t(),
    "matmul_2d_2d": lambda m, a, b: a @ b.t(),
    "matmul_3d_3d": lambda m, a, b: a.unsqueeze(0) @ b.t().unsqueeze(0),
    "matmul_3d_2d": lambda m, a, b: a.unsqueeze(0) @ b.t(),
    "matmul_function": lambda m, a, b: m.matmul(a, b.t()),
    "exp": lambda m, a, b: a.exp(),
    "log": lambda m, a, b: a.log(),
    "sqrt": lambda m, a, b: a.sqrt(),
    "abs": lambda m, a, b: (a - 3.5).abs(),
    "sin": lambda m, a, b: a.sin(),
    "cos": lambda m, a, b: a.cos(),
    "sinh": lambda m, a, b: (a / 4).sinh(),
    "cosh": lambda m, a, b: m.cosh(a / 4),
    "tanh": lambda m, a, b: a.tanh(),
    "sigmoid": lambda m, a, b: a.sigmoid(),
    "relu": lambda m, a, b: (a - 3.5).relu(),
    "clamp": lambda m, a, b: a.clamp(2.5, 4.5),
    "clamp_min": lambda m, a, b: a.clamp(min=2.5),
    "clamp_max": lambda m, a, b: a.clamp(max=2.5),
    "function_forms": lambda m, a, b: m.exp(a) + m.sigmoid(b) * m.tanh(a),
    "sum": lambda m, a, b: a.sum(),
    "sum_dim": lambda m, a, b: a.sum(0),
    "sum_keepdim": lambda m, a, b: a.sum(1, keepdim=True),
    "mean": lambda m, a, b: a.mean(),
    "mean_dim": lambda m, a, b: a.mean(dim=1),
    "mean_keepdim": lambda m, a, b: a.mean(0, keepdim=True),
    "max": lambda m, a, b: a.max(),
    "max_dim": lambda m, a, b: a.max(1),
    "max_dim_keepdim": lambda m, a, b: a.max(0, keepdim=True).values,
    "min": lambda m, a, b: a.min(),
    "min_dim": lambda m, a, b: a.min(dim=0),
    "argmax": lambda m, a, b: b.argmax(),
    "norm": lambda m, a, b: a.norm(),
    "norm_dim": lambda m, a, b: a.norm(dim=1),
    "std": lambda m, a, b: a.std(),
    "std_dim": lambda m, a, b: a.std(1),
    "var": lambda m, a, b: a.var(),
    "var_dim_biased": lambda m, a, b: a.var(0, unbiased=False),
    "softmax": lambda m, a, b: a.softmax(1),
    "log_softmax": lambda m, a, b: a.log_softmax(-1),
    "reshape": lambda m, a, b: a.reshape(3, 2),
    "reshape_copies": lambda m, a, b: a.t().reshape(6),
    "view": lambda m, a, b: a.view(6),
    "view_minus1": lambda m, a, b: a.view(-1, 2),
    "transpose": lambda m, a, b: a.transpose(0, 1),
    "t": lambda m, a, b: a.t(),
    "t_1d": lambda m, a, b: a[0].t(),
    "T": lambda m, a, b: a.T,
    "permute": lambda m, a, b: a.permute(1, 0),
    "squeeze": lambda m, a, b: a.unsqueeze(0).squeeze(),
    "squeeze_dim": lambda m, a, b: a.unsqueeze(0).squeeze(0),
    "squeeze_noop": lambda m, a, b: a.squeeze(0),
    "unsqueeze": lambda m, a, b: a.unsqueeze(1),
    "flatten": lambda m, a, b: a.flatten(),
    "flatten_noop": lambda m, a, b: a.flatten(1),
    "expand": lambda m, a, b: a[0:1].expand(4, 3),
    "index_int": lambda m, a, b: a[1],
    "index_two_ints": lambda m, a, b: a[1, 2],
    "index_slice": lambda m, a, b: a[1:],
    "index_slice_then_int": lambda m, a, b: a[1:, 0],
    "index_int_then_slice": lambda m, a, b: a[0, 1:3],
    "index_none": lambda m, a, b: a[None],
    "index_ellipsis_int": lambda m, a, b: a[..., 0],
    "index_tensor": lambda m, a, b: a[m.tensor([0, 1, 0])],
    "index_list": lambda m, a, b: a[[1, 0]],
    "index_bool_mask": lambda m, a, b: a[_mask(m)],
    "cat": lambda m, a, b: m.cat([a, b]),
    "cat_dim1": lambda m, a, b: m.cat((a, b), dim=1),
    "stack": lambda m, a, b: m.stack([a, b]),
    "stack_dim_neg": lambda m, a, b: m.stack([a, b], dim=-1),
    "where": lambda m, a, b: m.where(_mask(m), a, b),
    "gather": lambda m, a, b: a.gather(1, m.tensor([[0], [2]])),
    "masked_fill": lambda m, a, b: a.masked_fill(_mask(m), 0.0),
    "clone": lambda m, a, b: a.clone(),
    "double": lambda m, a, b: a.double(),
    "broadcast_row": lambda m, a, b: a + b[0],
    "broadcast_col": lambda m, a, b: a * b[:, :1],
    "broadcast_outer": lambda m, a, b: a[0].unsqueeze(1) - b[1].unsqueeze(0),
    "comparison": lambda m, a, b: a > b,
    "detach": lambda m, a, b: a.detach(),
    "mse": lambda m, a, b: ((a - b) ** 2).mean(),
    "narrow": lambda m, a, b: a.narrow(1, 1, 2),
    "narrow_negative_start": lambda m, a, b: m.narrow(a, 0, -1, 1),
    "select": lambda m, a, b: a.select(1, -1),
    "repeat": lambda m, a, b: a.repeat(2, 1, 2),
    "var_mean": lambda m, a, b: m.var_mean(a, 1),
    "var_mean_all_biased": lambda m, a, b: m.var_mean(a, unbiased=False),
    "transpose_": lambda m, a, b: (a * 1).transpose_(0, 1),
    "square": lambda m, a, b: a.square(),
    "amax": lambda m, a, b: m.amax(a, 1),
    "amax_ties": lambda m, a, b: (a * 0).amax(),
    "amin_keepdim": lambda m, a, b: a.amin(0, keepdim=True),
    "cumsum": lambda m, a, b: a.cumsum(1),
    "cumsum_function": lambda m, a, b: m.cumsum(b, dim=0),
    "logsumexp": lambda m, a, b: a.logsumexp(1),
    "logsumexp_keepdim": lambda m, a, b: m.logsumexp(a, (0, 1), keepdim=True),
    "prod": lambda m, a, b: a.prod(),
    "prod_with_zero": lambda m, a, b: (a - 2).prod(1),
    "prod_all_with_zero": lambda m, a, b: m.prod(a - 2),
    "round": lambda m, a, b: (b * 1.5).round(),
    "round_decimals": lambda m, a, b: m.round(a / 3, decimals=2),
    "maximum": lambda m, a, b: m.maximum(a, b * 2),
    "maximum_ties": lambda m, a, b: m.maximum(a, a.detach()),
    "minimum_broadcast": lambda m, a, b: m.minimum(a, b[0]),
    "dot": lambda m, a, b: m.dot(a[0], b[1]),
    "outer": lambda m, a, b: m.outer(a[0], b[1, :2]),
    "erf": lambda m, a, b: (a / 4).erf(),
    "pow_tensor_at_zero": lambda m, a, b: (a * 0) ** (b * 0),
    "gelu": lambda m, a, b: m.nn.functional.gelu(a - 3),
    "gelu_tanh": lambda m, a, b: m.nn.functional.gelu(a - 3, approximate="tanh"),
    "gelu_module": lambda m, a, b: m.nn.GELU()(a - 3),
    "leaky_relu": lambda m, a, b: m.nn.functional.leaky_relu(a - 3, 0.2),
    "softplus": lambda m, a, b: m.nn.functional.softplus(a - 3),
    "softplus_threshold": lambda m, a, b: m.nn.functional.softplus(a, beta=4.0, threshold=10.0),
    "binary_cross_entropy": lambda m, a, b: m.nn.functional.binary_cross_entropy(
        (a - 3).sigmoid(), b / 3),
    "binary_cross_entropy_weight_sum": lambda m, a, b: m.nn.functional.binary_cross_entropy(
        (a - 3).sigmoid(), b / 3, weight=m.tensor([1.0, 2.0, 0.5]), reduction="sum"),
    "binary_cross_entropy_at_zero": lambda m, a, b: m.nn.functional.binary_cross_entropy(
        a * 0, b / 3, reduction="none"),
}


@pytest.mark.parametrize("name", OPS)
def test_op_values_flags_names_and_gradients(name):
    def program(m):
        a, b = _inputs(m)
        out = OPS[name](m, a, b)
        first = out[0] if isinstance(out, tuple) else out
        if first.requires_grad:
            (first * first.detach() + first).sum().backward()
        return out, a.grad, b.grad

    assert_same(program)


# ----------------------------------------------------------------------------- repr

REPRS = {
    "leaf_requires_grad": lambda m: m.tensor([2.0], requires_grad=True),
    "mean_grad_fn": lambda m: (m.tensor([14.0], requires_grad=True) - 10).pow(2).mean(),
    "seed_loss": lambda m: (m.tensor([6.0, -2.0], requires_grad=True) - 2).pow(2).mean(),
    "float64": lambda m: m.tensor([1.5, 2.0], dtype=m.float64),
    "float64_requires_grad": lambda m: m.tensor([1.0, 2.0], dtype=m.float64, requires_grad=True),
    "float64_grad_fn": lambda m: m.tensor(2.0, dtype=m.float64, requires_grad=True) * 1,
    "float_scalar": lambda m: m.tensor(3.0),
    "int_scalar": lambda m: m.tensor(3),
    "int_vector": lambda m: m.tensor([-10, 2]),
    "int32": lambda m: m.tensor([1, 2], dtype=m.int32),
    "bool": lambda m: m.tensor([True, False]),
    "matrix": lambda m: m.zeros(2, 3),
    "padding": lambda m: m.tensor([-1.0, 2.0, 100.0]),
    "decimals": lambda m: m.tensor([0.1234567, 100.5]),
    "scientific": lambda m: m.tensor([1e10, 1.0]),
    "small": lambda m: m.tensor([1e-5, 1.0]),
    "non_finite": lambda m: m.tensor([float("nan"), 1.5, float("inf")]),
    "empty": lambda m: m.tensor([]),
    "no_grad_result": lambda m: _no_grad_times_two(m),
}


def _no_grad_times_two(m):
    x = m.tensor([2.0], requires_grad=True)
    with m.no_grad():
        return x * 2


@pytest.mark.parametrize("name", REPRS)
def test_repr(name):
    assert_same(lambda m: repr(REPRS[name](m)))


def test_repr_of_the_seed_values():
    assert repr(runtime.tensor([2.0], requires_grad=True)) == "tensor([2.], requires_grad=True)"
    loss = (runtime.tensor([14.0], requires_grad=True) - 10).pow(2).mean()
    assert repr(loss) == "tensor(16., grad_fn=<MeanBackward0>)"


# ------------------------------------------------------- errors, warnings and flags


def leaf_inplace(m):
    x = m.ones(2, requires_grad=True)
    x += 1


def leaf_inplace_method(m):
    m.ones(2, requires_grad=True).mul_(2)


def view_of_leaf_setitem(m):
    x = m.ones(2, requires_grad=True)
    x[0] = 5


def view_of_leaf_slice_add_(m):
    x = m.ones(2, requires_grad=True)
    x[:1].add_(1)


def view_of_leaf_view_mul_(m):
    x = m.ones(4, requires_grad=True)
    x.view(2, 2).mul_(2)


def linear_weight_normal_(m):
    m.nn.Linear(2, 2).weight.normal_()


def init_zeros_is_fine(m):
    layer = m.nn.Linear(2, 2)
    m.nn.init.zeros_(layer.weight)
    return layer.weight, layer.weight.is_leaf


def inplace_under_no_grad_keeps_leaf(m):
    x = m.tensor([1.0, 2.0], requires_grad=True)
    (x * 3).sum().backward()
    with m.no_grad():
        x += 1
        x.mul_(2)
    return x, x.grad, x.is_leaf, x.requires_grad, x._version


def data_add_keeps_version(m):
    x = m.ones(2, requires_grad=True)
    x.data.add_(1)
    return x, x._version


def sigmoid_output_modified(m):
    x = m.ones(2, requires_grad=True)
    y = x.sigmoid()
    y.mul_(2)
    y.sum().backward()


def saved_input_modified(m):
    x = m.ones(2, requires_grad=True)
    h = x * 1
    y = h * h
    h.add_(1)
    y.sum().backward()


def leaf_modified_under_no_grad(m):
    x = m.ones(2, requires_grad=True)
    y = x * x
    with m.no_grad():
        x.mul_(2)
    y.sum().backward()


def float64_saved_modified(m):
    x = m.ones(2, 3, dtype=m.float64, requires_grad=True)
    y = x.exp()
    y.add_(1)
    y.sum().backward()


def saved_self_multiplied_in_place(m):
    h = m.ones(2, requires_grad=True) * 1
    h.mul_(h)
    h.sum().backward()


def detach_shares_version(m):
    y = m.ones(2, requires_grad=True) * 2
    d = y.detach()
    d.add_(1)
    return y, d, y._version, d._version, d.requires_grad


def rebind_leaf_under_no_grad(m):
    w = m.tensor([1.0, 2.0], requires_grad=True)
    (w * w).sum().backward()
    with m.no_grad():
        w = w - 0.1 * w.grad
    return w, w.requires_grad, w.is_leaf, w.grad


def rebind_then_backward(m):
    w = m.tensor([1.0, 2.0], requires_grad=True)
    (w * w).sum().backward()
    with m.no_grad():
        w = w - 0.1 * w.grad
    (w * 2).sum().backward()


def rebinding_vs_augmented_assignment(m):
    a = m.tensor([1.0], requires_grad=True)
    (a * 2).sum().backward()
    b = a
    with m.no_grad():
        a = a + 1
        b += 1
    return a, a.grad, b, b.grad, b.is_leaf


def backward_twice(m):
    x = m.ones(2, requires_grad=True)
    y = (x.exp() * x).sum()
    y.backward()
    y.backward()


def backward_twice_retained(m):
    x = m.ones(2, requires_grad=True)
    y = (x.exp() * x).sum()
    y.backward(retain_graph=True)
    y.backward()
    return x.grad


def non_scalar_backward(m):
    (m.ones(2, requires_grad=True) * 2).backward()


def non_scalar_backward_with_gradient(m):
    x = m.ones(2, requires_grad=True)
    (x * 2).backward(m.tensor([1.0, 3.0]))
    return x.grad


def backward_without_grad_fn(m):
    x = m.ones(2, requires_grad=True)
    with m.no_grad():
        loss = (x * 3).sum()
    loss.backward()


def backward_of_constant(m):
    m.ones(2).sum().backward()


def backward_under_no_grad_works(m):
    x = m.ones(2, requires_grad=True)
    loss = (x * 3).sum()
    with m.no_grad():
        loss.backward()
    return x.grad


def non_leaf_grad_warns(m):
    y = m.ones(2, requires_grad=True) * 2
    return y.grad


def retained_non_leaf_grad(m):
    y = m.ones(2, requires_grad=True) * 2
    y.retain_grad()
    (y * y).sum().backward()
    return y.grad


def numpy_of_requires_grad(m):
    m.ones(2, requires_grad=True).numpy()


def numpy_of_detached(m):
    return m.ones(2, requires_grad=True).detach().numpy().tolist()


def requires_grad_setter_on_non_leaf(m):
    y = m.ones(2, requires_grad=True) * 2
    y.requires_grad = False


def requires_grad_on_long(m):
    m.ones(2, dtype=m.long, requires_grad=True)


def requires_grad_flags(m):
    x = m.ones(2, requires_grad=True)
    y = x * 2
    c = m.ones(2) * 2
    with m.no_grad():
        z = x * 2
    return [(t.requires_grad, t.is_leaf) for t in (x, y, c, z, y.detach())]


def grad_fn_names_of_seed_ops(m):
    x = m.ones(2, 2, requires_grad=True)
    outs = [x + 1, x * 2, x.sum(), x.mean(), x ** 2, x.sigmoid(), x.mm(x),
            m.nn.functional.mse_loss(x, m.zeros(2, 2))]
    names = [o.grad_fn.name() for o in outs]
    edges = [fn for fn, _ in (x * 2).grad_fn.next_functions if fn is not None]
    return names, [fn.name() for fn in edges], [type(fn).__name__ for fn in edges]


def variable_volatile(m):
    v = m.autograd.Variable(m.randn(3), volatile=True)
    return type(v).__name__, v.requires_grad


def variable_wraps(m):
    x = m.ones(2)
    v = m.autograd.Variable(x)
    w = m.autograd.Variable(x, requires_grad=True)
    return v is x, type(v).__name__, v.requires_grad, w.requires_grad, w.is_leaf


def volatile_read(m):
    return m.ones(2).volatile


def volatile_write(m):
    t = m.ones(2)
    t.volatile = True
    return t.requires_grad


def inference_tensor_flags(m):
    with m.inference_mode():
        a = m.ones(2)
    with m.no_grad():
        b = m.ones(2)
    return a.is_inference(), a.requires_grad, b.is_inference(), b.requires_grad


def inference_tensor_saved(m):
    with m.inference_mode():
        a = m.ones(2)
    w = m.ones(2, requires_grad=True)
    return a * w


def inference_tensor_added(m):
    with m.inference_mode():
        a = m.ones(2)
    return a + m.ones(2, requires_grad=True)  # add saves nothing: allowed


def inference_tensor_inplace(m):
    with m.inference_mode():
        a = m.ones(2)
    a.add_(1)


def inference_tensor_inplace_inside(m):
    with m.inference_mode():
        a = m.ones(2)
    with m.inference_mode():
        a.add_(1)
    return a


def inference_tensor_version(m):
    with m.inference_mode():
        a = m.ones(2)
    return a._version


def inference_tensor_clone_is_normal(m):
    with m.inference_mode():
        a = m.ones(2)
    b = a.clone()
    w = m.ones(2, requires_grad=True)
    return b.is_inference(), b * w


def requires_grad_inside_inference_mode(m):
    with m.inference_mode():
        t = m.ones(2)
        t.requires_grad_()
        return t.requires_grad, t.is_inference()


def with_bare_no_grad(m):
    with m.no_grad:
        pass


def with_bare_enable_grad(m):
    with m.enable_grad:
        pass


def with_bare_inference_mode(m):
    with m.inference_mode:
        pass


def with_no_grad_false(m):
    with m.no_grad(False):
        pass


def decorator_without_parentheses(m):
    x = m.ones(2, requires_grad=True)

    @m.no_grad
    def f(t):
        return t * 2

    @m.inference_mode
    def g(t):
        return t * 2

    @m.enable_grad
    def h(t):
        return t * 2

    with m.no_grad():
        enabled = h(x)
    return f(x).requires_grad, g(x).requires_grad, g(x).is_inference(), enabled.requires_grad


def generator_with_no_grad(m):
    seen = []

    @m.no_grad()
    def numbers():
        for i in range(3):
            seen.append(("body", m.is_grad_enabled()))
            yield i

    for _ in numbers():
        seen.append(("caller", m.is_grad_enabled()))
    return seen


def set_grad_enabled_plain_call(m):
    try:
        m.set_grad_enabled(False)
        inside = m.is_grad_enabled()
        y = m.ones(2, requires_grad=True) * 2
        still = m.is_grad_enabled()
    finally:
        m.set_grad_enabled(True)
    return inside, y.requires_grad, still, m.is_grad_enabled()


def set_grad_enabled_context(m):
    with m.set_grad_enabled(False):
        inside = m.is_grad_enabled()
    with m.no_grad():
        with m.set_grad_enabled(True):
            enabled = m.is_grad_enabled()
        after = m.is_grad_enabled()
    return inside, m.is_grad_enabled(), enabled, after


def enable_grad_inside_no_grad(m):
    x = m.ones(2, requires_grad=True)
    with m.no_grad():
        with m.enable_grad():
            y = x * 2
        z = x * 2
    return y.requires_grad, z.requires_grad


def inference_mode_false_inside_inference_mode(m):
    with m.inference_mode():
        with m.inference_mode(False):
            return m.is_inference_mode_enabled(), m.is_grad_enabled()


def inference_mode_false_inside_no_grad(m):
    with m.no_grad():
        with m.inference_mode(False):
            inside = m.is_grad_enabled(), m.is_inference_mode_enabled()
        return inside, m.is_grad_enabled()


def exception_restores_modes(m):
    states = []
    # set_grad_enabled(False) switches when constructed: build each switch inside ``outer``.
    switches = (m.no_grad, m.enable_grad, m.inference_mode, lambda: m.set_grad_enabled(False),
                lambda: m.inference_mode(False), lambda: m.set_grad_enabled(True))
    for outer in (m.no_grad, m.enable_grad, m.inference_mode):
        for switch in switches:
            with outer():
                try:
                    with switch():
                        inside = m.is_grad_enabled(), m.is_inference_mode_enabled()
                        raise ValueError("boom")
                except ValueError:
                    pass
                states.append((inside, m.is_grad_enabled(), m.is_inference_mode_enabled()))
    return states


def exception_in_decorated_function(m):
    @m.no_grad()
    def fail():
        raise KeyError("x")

    try:
        fail()
    except KeyError:
        pass
    return m.is_grad_enabled()


def new_thread_starts_enabled(m):
    seen = []
    with m.no_grad():
        thread = threading.Thread(target=lambda: seen.append(m.is_grad_enabled()))
        thread.start()
        thread.join()
        return seen, m.is_grad_enabled()


def eval_does_not_disable_grad(m):
    model = m.nn.Linear(2, 1)
    model.eval()
    return model(m.ones(1, 2)).requires_grad


def batchnorm_under_no_grad(m):
    bn = m.nn.BatchNorm1d(2)
    with m.no_grad():
        out = bn(m.tensor([[1.0, 2.0], [3.0, 5.0]]))
    return out.requires_grad, bn.num_batches_tracked, bn.running_mean


def seed_program(m):
    class NN(m.nn.Module):
        def __init__(self):
            super().__init__()
            self.w1 = m.nn.Parameter(m.tensor([3.0]))
            self.w2 = m.nn.Parameter(m.tensor([2.0]))

        def forward(self, x):
            return self.w1 * x + self.w2 * x ** 2

    x = m.tensor([2.0], requires_grad=True)
    y = NN()(x)
    loss = m.nn.MSELoss()(y, m.tensor([10.0]))
    loss.backward()
    return y, loss, x.grad, loss.grad_fn.name(), repr(x), repr(loss)


def autograd_grad_unused(m):
    x = m.ones(2, requires_grad=True)
    z = m.ones(2, requires_grad=True)
    return m.autograd.grad((x * 2).sum(), [x, z])


def autograd_grad_allow_unused(m):
    x = m.ones(2, requires_grad=True)
    z = m.ones(2, requires_grad=True)
    return m.autograd.grad((x * x).sum(), [x, z], allow_unused=True), x.grad


CASES = [
    leaf_inplace, leaf_inplace_method, view_of_leaf_setitem, view_of_leaf_slice_add_,
    view_of_leaf_view_mul_, linear_weight_normal_, init_zeros_is_fine,
    inplace_under_no_grad_keeps_leaf, data_add_keeps_version, sigmoid_output_modified,
    saved_input_modified, leaf_modified_under_no_grad, float64_saved_modified,
    saved_self_multiplied_in_place, detach_shares_version, rebind_leaf_under_no_grad,
    rebind_then_backward, rebinding_vs_augmented_assignment, backward_twice,
    backward_twice_retained, non_scalar_backward, non_scalar_backward_with_gradient,
    backward_without_grad_fn, backward_of_constant, backward_under_no_grad_works,
    non_leaf_grad_warns, retained_non_leaf_grad, numpy_of_requires_grad, numpy_of_detached,
    requires_grad_setter_on_non_leaf, requires_grad_on_long, requires_grad_flags,
    grad_fn_names_of_seed_ops, variable_volatile, variable_wraps, volatile_read,
    volatile_write, inference_tensor_flags, inference_tensor_saved, inference_tensor_added,
    inference_tensor_inplace, inference_tensor_inplace_inside, inference_tensor_version,
    inference_tensor_clone_is_normal, requires_grad_inside_inference_mode, with_bare_no_grad,
    with_bare_enable_grad, with_bare_inference_mode, with_no_grad_false,
    decorator_without_parentheses, generator_with_no_grad, set_grad_enabled_plain_call,
    set_grad_enabled_context, enable_grad_inside_no_grad,
    inference_mode_false_inside_inference_mode, inference_mode_false_inside_no_grad,
    exception_restores_modes, exception_in_decorated_function, new_thread_starts_enabled,
    eval_does_not_disable_grad, batchnorm_under_no_grad, seed_program, autograd_grad_unused,
    autograd_grad_allow_unused,
]


@pytest.mark.parametrize("program", CASES, ids=[c.__name__ for c in CASES])
def test_same_outcome_as_torch(program):
    assert_same(program)
    assert runtime.is_grad_enabled() and not runtime.is_inference_mode_enabled()


# A few outcomes pinned to the facts file's exact text, so a change in both torch and runtime
# (or a wrong harness) cannot pass silently.
PINNED = {
    leaf_inplace: ("RuntimeError", "a leaf Variable that requires grad is being used in an in-place operation."),
    view_of_leaf_setitem: ("RuntimeError", "a view of a leaf Variable that requires grad is being used in an in-place operation."),
    non_scalar_backward: ("RuntimeError", "grad can be implicitly created only for scalar outputs"),
    backward_without_grad_fn: ("RuntimeError", "element 0 of tensors does not require grad and does not have a grad_fn"),
    with_bare_no_grad: ("TypeError", "'type' object does not support the context manager protocol"),
    with_no_grad_false: ("TypeError", "'function' object does not support the context manager protocol"),
    inference_tensor_version: ("RuntimeError", "Inference tensors do not track version counter."),
    requires_grad_on_long: ("RuntimeError", "Only Tensors of floating point and complex dtype can require gradients"),
}


@pytest.mark.parametrize("program", PINNED, ids=[p.__name__ for p in PINNED])
def test_pinned_messages(program):
    assert run(program, runtime)["error"] == PINNED[program]


def test_sigmoid_message_in_full():
    error = run(sigmoid_output_modified, runtime)["error"]
    assert error == ("RuntimeError",
                     "one of the variables needed for gradient computation has been modified by an "
                     "inplace operation: [torch.FloatTensor [2]], which is output 0 of Sigmoid, is "
                     "at version 1; expected version 0 instead. Hint: enable anomaly detection to "
                     "find the operation that failed to compute its gradient, with "
                     "torch.autograd.set_detect_anomaly(True, check_nan=False).")
    assert "which is output 0 of Add," in run(saved_input_modified, runtime)["error"][1]


def test_volatile_warnings_text():
    outcome = run(variable_volatile, runtime)
    assert outcome["warnings"] == [("UserWarning", "volatile was removed and now has no effect. "
                                                   "Use `with torch.no_grad():` instead.")]
    assert run(volatile_read, runtime)["warnings"] == [
        ("UserWarning", "volatile was removed (Variable.volatile is always False)")]
