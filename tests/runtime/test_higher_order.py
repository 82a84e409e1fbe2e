"""Gradients of gradients: ``gradcheck`` and ``gradgradcheck`` (runtime's public ones, as
torch's) for every op, and ``create_graph`` against torch.

Each case is ``(name, function, inputs[, check options])``: float64 inputs, every one requiring grad, kept
away from the points where the op has a kink (abs, relu, clamp, ties of max).
"""

from __future__ import annotations

import numpy as np
import pytest

import runtime
from runtime.autograd import GradcheckError, gradcheck, gradgradcheck

RNG = np.random.default_rng(0)


def _tensor(values):
    return runtime.tensor(np.asarray(values, dtype=np.float64), dtype=runtime.float64,
                          requires_grad=True)


def normal(*shape):
    return _tensor(RNG.normal(size=shape))


def positive(*shape):
    return _tensor(RNG.uniform(0.5, 2.0, size=shape))


def away_from_zero(*shape):
    return _tensor(RNG.uniform(0.3, 1.5, size=shape) * RNG.choice([-1.0, 1.0], size=shape))


def distinct(*shape):
    values = RNG.permutation(int(np.prod(shape))).astype(np.float64) * 0.3
    return _tensor(values.reshape(shape) + RNG.uniform(-0.05, 0.05, size=shape))


def _mask():
    return runtime.tensor([[True, False, True], [False, False, True]])


def _in_place(method, *args):
    """An in-place op on a non-leaf copy of the input (a leaf that requires grad refuses)."""
    def run(x, *others):
        y = x * 1
        getattr(y, method)(*args, *others)
        return y
    return run


def _view_mul_(x, other):
    y = x * 1
    y[1:, ::2].mul_(other)
    return y


def _stale_view(x):
    """A view taken before its base changed in place: re-derived from the base."""
    y = x * 1
    view = y[0]
    y.mul_(3)
    return view * y


def _set_index(x, value):
    y = x * 1
    y[0, 1:] = value
    return y


class Cube(runtime.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x ** 3

    @staticmethod
    def backward(ctx, grad):
        x, = ctx.saved_tensors
        return grad * 3 * x ** 2


F = runtime.nn.functional
CASES = [
    # arithmetic
    ("add", lambda a, b: a + b, [normal(2, 3), normal(2, 3)]),
    ("add_broadcast_alpha", lambda a, b: a.add(b, alpha=2), [normal(2, 3), normal(3)]),
    ("sub_alpha", lambda a, b: a.sub(b, alpha=3), [normal(2, 3), normal(2, 1)]),
    ("rsub", lambda a: 1.5 - a, [normal(2, 3)]),
    ("mul", lambda a, b: a * b, [normal(2, 3), normal(2, 3)]),
    ("mul_self", lambda a: a * a, [normal(3)]),
    ("div", lambda a, b: a / b, [normal(2, 3), positive(2, 3)]),
    ("rdiv", lambda a: 2 / a, [positive(2, 3)]),
    ("reciprocal", lambda a: a.reciprocal(), [positive(3)]),
    ("neg", lambda a: -a, [normal(2, 3)]),
    ("pow_number", lambda a: a ** 3, [normal(2, 3)]),
    ("pow_fraction", lambda a: a ** 0.5, [positive(2, 3)]),
    ("pow_tensor", lambda a, b: a ** b, [positive(2, 3), normal(2, 3)]),
    ("rpow", lambda b: 2.0 ** b, [normal(2, 3)]),
    ("dot", lambda a, b: a @ b, [normal(3), normal(3)]),
    ("mv", lambda a, b: a @ b, [normal(2, 3), normal(3)]),
    ("mm", lambda a, b: a @ b, [normal(2, 3), normal(3, 2)]),
    ("vector_matrix", lambda a, b: a @ b, [normal(3), normal(3, 2)]),
    ("batched", lambda a, b: a @ b, [normal(2, 2, 3), normal(3, 2)]),
    ("matrix_batched", lambda a, b: a @ b, [normal(2, 3), normal(2, 3, 2)]),
    ("vector_batched", lambda a, b: a @ b, [normal(3), normal(2, 3, 2)]),
    # elementwise
    ("exp", lambda a: a.exp(), [normal(2, 3)]),
    ("log", lambda a: a.log(), [positive(2, 3)]),
    ("sqrt", lambda a: a.sqrt(), [positive(2, 3)]),
    ("abs", lambda a: a.abs(), [away_from_zero(2, 3)]),
    ("sin", lambda a: a.sin(), [normal(2, 3)]),
    ("cos", lambda a: a.cos(), [normal(2, 3)]),
    ("sinh", lambda a: runtime.sinh(a), [normal(2, 3)]),
    ("cosh", lambda a: runtime.cosh(a), [normal(2, 3)]),
    ("tanh", lambda a: a.tanh(), [normal(2, 3)]),
    ("sigmoid", lambda a: a.sigmoid(), [normal(2, 3)]),
    ("relu", lambda a: a.relu(), [away_from_zero(2, 3)]),
    ("sign", lambda a: a.sign() * a, [away_from_zero(2, 3)]),
    ("clamp", lambda a: a.clamp(-0.2, 0.9), [away_from_zero(2, 3)]),
    ("clone", lambda a: a.clone(), [normal(2, 3)]),
    ("where", lambda a, b: runtime.where(_mask(), a, b), [normal(2, 3), normal(2, 3)]),
    ("masked_fill", lambda a: a.masked_fill(_mask(), 2.0), [normal(2, 3)]),
    # float32 on the way: checked with a step float32 resolves
    ("to_float32_and_back", lambda a: a.float().double() * a, [normal(3)],
     {"eps": 1e-3, "atol": 1e-3, "rtol": 1e-3}),
    # reductions
    ("sum", lambda a: a.sum(), [normal(2, 3)]),
    ("sum_dim", lambda a: a.sum(dim=1), [normal(2, 3)]),
    ("sum_dims_keepdim", lambda a: a.sum(dim=(0, 2), keepdim=True), [normal(2, 3, 2)]),
    ("mean", lambda a: a.mean(), [normal(2, 3)]),
    ("mean_dim", lambda a: a.mean(dim=0, keepdim=True), [normal(2, 3)]),
    ("max", lambda a: a.max(), [distinct(2, 3)]),
    ("min", lambda a: a.min(), [distinct(2, 3)]),
    ("max_dim", lambda a: a.max(dim=1).values, [distinct(2, 3)]),
    ("min_dim_keepdim", lambda a: a.min(dim=0, keepdim=True)[0], [distinct(2, 3)]),
    ("var", lambda a: a.var(), [normal(2, 3)]),
    ("var_dim", lambda a: a.var(dim=1, unbiased=False), [normal(2, 3)]),
    ("std", lambda a: a.std(), [normal(2, 3)]),
    ("std_dim", lambda a: a.std(dim=0, keepdim=True), [normal(3, 2)]),
    ("norm", lambda a: a.norm(), [normal(2, 3)]),
    ("norm_dim", lambda a: a.norm(dim=1), [normal(2, 3)]),
    ("softmax", lambda a: a.softmax(dim=1), [normal(2, 3)]),
    ("log_softmax", lambda a: a.log_softmax(dim=0), [normal(2, 3)]),
    ("var_mean", lambda a: runtime.stack(runtime.var_mean(a, dim=1)), [normal(2, 3)]),
    ("var_mean_only_mean", lambda a: runtime.var_mean(a)[1], [normal(2, 3)]),
    ("amax", lambda a: a.amax(dim=1), [distinct(2, 3)]),
    ("amin_all", lambda a: runtime.amin(a), [distinct(2, 3)]),
    ("cumsum", lambda a: a.cumsum(1), [normal(2, 3)]),
    ("logsumexp", lambda a: a.logsumexp(dim=(0, 1)), [normal(2, 3)]),
    ("prod", lambda a: a.prod(), [normal(2, 3)]),
    ("prod_dim", lambda a: a.prod(1, keepdim=True), [normal(2, 3)]),
    ("square", lambda a: a.square(), [normal(2, 3)]),
    ("round", lambda a: a.round() * a + runtime.round(a, decimals=1), [away_from_zero(2, 3)]),
    ("erf", lambda a: a.erf(), [normal(2, 3)]),
    ("maximum", lambda a, b: runtime.maximum(a, b), [distinct(2, 3), distinct(3)]),
    ("minimum", lambda a, b: a.minimum(b), [distinct(2, 3), distinct(2, 3)]),
    ("dot_method", lambda a, b: runtime.dot(a, b), [normal(3), normal(3)]),
    ("outer", lambda a, b: runtime.outer(a, b), [normal(3), normal(2)]),
    ("bernoulli", lambda a: a * (a * 0 + 1).bernoulli(), [normal(2, 3)]),  # draws all 1
    # shape
    ("view", lambda a: a.view(3, 2), [normal(2, 3)]),
    ("reshape_copying", lambda a: a.t().reshape(6), [normal(2, 3)]),
    ("transpose", lambda a: a.transpose(0, 2), [normal(2, 3, 2)]),
    ("t", lambda a: a.t(), [normal(2, 3)]),
    ("permute", lambda a: a.permute(2, 0, 1), [normal(2, 3, 2)]),
    ("squeeze", lambda a: a.squeeze(), [normal(2, 1, 3)]),
    ("squeeze_dim", lambda a: a.squeeze(1), [normal(2, 1, 3)]),
    ("unsqueeze", lambda a: a.unsqueeze(1), [normal(2, 3)]),
    ("expand", lambda a: a.expand(2, 3, 4), [normal(3, 1)]),
    ("flatten", lambda a: a.flatten(), [normal(2, 3)]),
    ("select", lambda a: a[1], [normal(2, 3)]),
    ("slice", lambda a: a[:, 1:], [normal(2, 3)]),
    ("index", lambda a: a[[0, 0, 1]], [normal(2, 3)]),
    ("new_axis", lambda a: a[None], [normal(2, 3)]),
    ("narrow", lambda a: a.narrow(1, -2, 2), [normal(2, 3)]),
    ("select_method", lambda a: runtime.select(a, 1, 2), [normal(2, 3)]),
    ("repeat", lambda a: a.repeat(2, 1, 2), [normal(2, 3)]),
    ("transpose_", _in_place("transpose_", 0, 1), [normal(2, 3)]),
    ("cat", lambda a, b: runtime.cat([a, b], dim=1), [normal(2, 3), normal(2, 2)]),
    ("stack", lambda a, b: runtime.stack([a, b], dim=1), [normal(2, 3), normal(2, 3)]),
    ("gather", lambda a: a.gather(1, runtime.tensor([[0, 0], [2, 1]])), [normal(2, 3)]),
    ("scatter_add", lambda a, b: a.scatter_add(1, runtime.tensor([[0, 0], [2, 1]]), b),
     [normal(2, 3), normal(2, 2)]),
    ("index_put", lambda a, b: a.index_put((runtime.tensor([0, 1]),), b), [normal(2, 3), normal(3)]),
    # in place
    ("add_", _in_place("add_"), [normal(2, 3), normal(2, 3)]),
    ("mul_", _in_place("mul_"), [normal(2, 3), normal(2, 3)]),
    ("div_", _in_place("div_"), [normal(2, 3), positive(2, 3)]),
    ("pow_", _in_place("pow_", 2), [normal(2, 3)]),
    ("exp_", _in_place("exp_"), [normal(2, 3)]),
    ("sigmoid_", _in_place("sigmoid_"), [normal(2, 3)]),
    ("clamp_", _in_place("clamp_", -0.2, 0.9), [away_from_zero(2, 3)]),
    ("copy_", _in_place("copy_"), [normal(2, 3), normal(3)]),
    ("fill_", lambda a: _in_place("fill_", 2.0)(a) * a, [normal(2, 3)]),
    ("setitem", _set_index, [normal(2, 3), normal(2)]),
    ("view_mul_", _view_mul_, [normal(3, 3), normal(2, 2)]),
    ("stale_view", _stale_view, [normal(2, 3)]),
    ("unbind", lambda a: runtime.stack([p * (i + 1) for i, p in enumerate(a.unbind(1))]),
     [normal(2, 3)]),
    ("split", lambda a: a.split(2, dim=1)[1] * a.split([1, 2], dim=1)[0], [normal(2, 3)]),
    ("chunk", lambda a: a.chunk(2)[0] - a.chunk(2)[1], [normal(4, 2)]),
    # nn
    ("linear", lambda x, w, b: F.linear(x, w, b), [normal(4, 3), normal(2, 3), normal(2)]),
    ("linear_batched", lambda x, w, b: F.linear(x, w, b), [normal(2, 2, 3), normal(2, 3), normal(2)]),
    ("mse_loss", lambda a, b: F.mse_loss(a, b), [normal(2, 3), normal(2, 3)]),
    ("mse_loss_none", lambda a, b: F.mse_loss(a, b, reduction="none"), [normal(2, 3), normal(2, 3)]),
    ("l1_loss", lambda a, b: F.l1_loss(a, b), [normal(2, 3), normal(2, 3) + 3]),
    ("cross_entropy", lambda a: F.cross_entropy(a, runtime.tensor([2, 0])), [normal(2, 3)]),
    ("nll_loss_sum", lambda a: F.nll_loss(a, runtime.tensor([1, 2]), reduction="sum"),
     [normal(2, 3)]),
    ("nll_loss_none", lambda a: F.nll_loss(a, runtime.tensor([1, 2]), reduction="none"),
     [normal(2, 3)]),
    ("bce_with_logits", lambda a, t: F.binary_cross_entropy_with_logits(a, t),
     [normal(2, 3), positive(2, 3) / 2]),
    ("gelu", lambda a: F.gelu(a), [normal(2, 3)]),
    ("gelu_tanh", lambda a: F.gelu(a, approximate="tanh"), [normal(2, 3)]),
    ("leaky_relu", lambda a: F.leaky_relu(a, 0.2), [away_from_zero(2, 3)]),
    ("softplus", lambda a: F.softplus(a, beta=2.0), [normal(2, 3)]),
    ("binary_cross_entropy", lambda p, t: F.binary_cross_entropy(
        p, t, runtime.tensor([[0.5, 1.0, 2.0], [1.5, 0.2, 1.0]], dtype=runtime.float64)),
     [positive(2, 3) / 2.5, positive(2, 3) / 2.5]),
    ("binary_cross_entropy_none", lambda p, t: F.binary_cross_entropy(p, t, reduction="none"),
     [positive(2, 3) / 2.5, positive(2, 3) / 2.5]),
    ("batch_norm_train", lambda x, w, b: F.batch_norm(x, None, None, w, b, training=True),
     [normal(4, 3), normal(3), normal(3)]),
    ("batch_norm_train_3d", lambda x: F.batch_norm(x, None, None, training=True),
     [normal(3, 2, 2)]),
    ("batch_norm_eval", lambda x, w, b: F.batch_norm(
        x, runtime.tensor([0.1, -0.2, 0.3], dtype=runtime.float64),
        runtime.tensor([1.0, 2.0, 0.5], dtype=runtime.float64), w, b),
     [normal(4, 3), normal(3), normal(3)]),
    ("embedding", lambda w: F.embedding(runtime.tensor([[0, 2], [2, 1]]), w), [normal(3, 2)]),
    ("conv2d", lambda x, w, b: F.conv2d(x, w, b, stride=(2, 1), padding=1, dilation=(1, 2)),
     [normal(2, 2, 5, 6), normal(3, 2, 2, 3), normal(3)]),
    ("conv2d_groups_same", lambda x, w: F.conv2d(x, w, padding="same", groups=2),
     [normal(1, 4, 4, 4), normal(2, 2, 3, 3)]),
    ("unfold", lambda x: F.unfold(x, (2, 3), padding=1, stride=2), [normal(2, 2, 4, 5)]),
    ("pad_constant", lambda x: F.pad(x, (1, -1, 2, 0), value=0.5), [normal(2, 3, 4)]),
    ("pad_reflect", lambda x: F.pad(x, (1, 2), mode="reflect"), [normal(2, 4)]),
    ("pad_reflect_2d", lambda x: F.pad(x, (1, 2, 2, 1), mode="reflect"), [normal(1, 3, 4)]),
    ("pad_reflect_3d", lambda x: F.pad(x, (1, 0, 0, 1, 1, 1), mode="reflect"),
     [normal(1, 2, 2, 3)]),
    ("pad_replicate", lambda x: F.pad(x, (2, -1), mode="replicate"), [normal(2, 3)]),
    ("pad_replicate_2d", lambda x: F.pad(x, (1, 1, 0, 2), mode="replicate"), [normal(1, 2, 3)]),
    ("pad_replicate_3d", lambda x: F.pad(x, (1, 0, 1, 0, 0, 1), mode="replicate"),
     [normal(1, 2, 2, 2)]),
    ("pad_circular", lambda x: F.pad(x, (1, 2, 1, 0), mode="circular"), [normal(1, 2, 3)]),
    ("fold", lambda c: F.fold(c, (4, 5), 2, stride=(2, 1)), [normal(2, 8, 8)]),
    ("custom_function", Cube.apply, [normal(2, 3)]),
]
CASES = [case if len(case) == 4 else (*case, {}) for case in CASES]
IDS = [name for name, _, _, _ in CASES]


@pytest.mark.parametrize("name, function, inputs, options", CASES, ids=IDS)
def test_gradcheck(name, function, inputs, options):
    assert gradcheck(function, inputs, **options)


@pytest.mark.parametrize("name, function, inputs, options", CASES, ids=IDS)
def test_gradgradcheck(name, function, inputs, options):
    assert gradgradcheck(function, inputs, **options)


def test_every_built_in_op_has_a_case():
    """Each op class in runtime/autograd/ops has a gradcheck case above that records it."""
    from runtime.autograd.graph import Node

    seen = set()

    def walk(node):
        if node is None or node in seen:
            return
        seen.add(node)
        for child, _ in node.next_functions:
            walk(child)

    for _, function, inputs, _ in CASES:
        outputs = function(*inputs)
        walk(outputs.grad_fn)
        with runtime.enable_grad():  # the backward ops too: gradgradcheck records them
            grads = runtime.autograd.grad(outputs, inputs, runtime.ones_like(outputs),
                                          create_graph=True, allow_unused=True)
        for grad in grads:
            if grad is not None:
                walk(grad.grad_fn)
    recorded = {type(node) for node in seen}
    ops = set()
    stack = [Node]
    while stack:
        for cls in stack.pop().__subclasses__():
            stack.append(cls)
            if cls.__module__.startswith("runtime.autograd.ops.") and "forward" in vars(cls):
                ops.add(cls)
    missing = {cls.__name__ for cls in ops if not any(issubclass(r, cls) for r in recorded)}
    assert missing <= {"DelayedError", "NormalBackward0", "UniformBackward0", "ZeroBackward0",
                       "FillBackward3"}, missing


def test_gradcheck_reports_a_wrong_backward():
    class Wrong(runtime.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2

        @staticmethod
        def backward(ctx, grad):
            return grad * 3

    x = runtime.ones(2, dtype=runtime.float64, requires_grad=True)
    with pytest.raises(GradcheckError, match="Jacobian mismatch for output 0 with respect to input 0"):
        gradcheck(Wrong.apply, (x,))
    assert gradcheck(Wrong.apply, (x,), raise_exception=False) is False


def test_gradgradcheck_reports_a_wrong_second_derivative():
    class FirstOrderOnly(runtime.autograd.Function):
        # d/dx x**2 = 2x, but written with x's values only: its own gradient is lost
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x * x

        @staticmethod
        def backward(ctx, grad):
            x, = ctx.saved_tensors
            return grad * 2 * x.detach()

    x = runtime.tensor([1.0, 2.0], dtype=runtime.float64, requires_grad=True)
    assert gradcheck(FirstOrderOnly.apply, (x,))
    assert gradgradcheck(FirstOrderOnly.apply, (x,), raise_exception=False) is False


def test_gradcheck_warns_about_single_precision():
    x = runtime.ones(2, requires_grad=True)
    with pytest.warns(UserWarning, match="Input #0 requires gradient and is not a double precision"):
        gradcheck(lambda a: a * 2, (x,), eps=1e-2, atol=1e-2, rtol=1e-2)
