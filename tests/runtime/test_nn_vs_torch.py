"""``runtime.nn`` / ``runtime.optim`` against real PyTorch: identical weights and data must give
identical trajectories, statistics, names, messages and losses."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import runtime  # noqa: E402
from runtime import nn as rnn  # noqa: E402

tnn = torch.nn


def to_runtime(t) -> runtime.Tensor:
    return runtime.tensor(t.detach().numpy().copy())


def to_numpy(t) -> np.ndarray:
    return t.detach().numpy()


def copy_weights(torch_module, runtime_module) -> None:
    """Copy torch's state into runtime through NumPy (and check that the names agree)."""
    state = {k: to_runtime(v) for k, v in torch_module.state_dict().items()}
    runtime_module.load_state_dict(state)


def build(m, dtype):
    """The same small network, written once against either API."""

    class Net(m.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.hidden = m.nn.Linear(4, 8, dtype=dtype)
            self.act = m.nn.Tanh()
            self.out = m.nn.Sequential(m.nn.Linear(8, 8, dtype=dtype), m.nn.ReLU(),
                                       m.nn.Linear(8, 3, dtype=dtype))

        def forward(self, x):
            return self.out(self.act(self.hidden(x)))

    return Net()


def data(seed=0, n=16):
    rng = np.random.default_rng(seed)
    return rng.normal(0, 1, (n, 4)), rng.normal(0, 1, (n, 3)), rng.integers(0, 3, n)


# ----------------------------------------------------------------------------- optimisers

OPTIMISERS = {
    "sgd_momentum": lambda m, ps: m.optim.SGD(ps, lr=0.05, momentum=0.9),
    "sgd_momentum_dampening_wd": lambda m, ps: m.optim.SGD(ps, lr=0.05, momentum=0.8, dampening=0.2,
                                                           weight_decay=0.01),
    "sgd_nesterov": lambda m, ps: m.optim.SGD(ps, lr=0.05, momentum=0.9, nesterov=True),
    "adam": lambda m, ps: m.optim.Adam(ps, lr=0.01),
    "adam_options": lambda m, ps: m.optim.Adam(ps, lr=0.02, betas=(0.8, 0.95), eps=1e-6,
                                               weight_decay=0.01, amsgrad=True),
}


@pytest.mark.parametrize("name", list(OPTIMISERS))
def test_twenty_steps_match_torch_float64(name):
    torch.manual_seed(0)
    t_model = build(torch, torch.float64)
    r_model = build(runtime, runtime.float64)
    copy_weights(t_model, r_model)
    t_opt = OPTIMISERS[name](torch, t_model.parameters())
    r_opt = OPTIMISERS[name](runtime, r_model.parameters())
    x, y, labels = data()
    t_x, t_y, t_labels = torch.tensor(x), torch.tensor(y), torch.tensor(labels)
    r_x, r_y, r_labels = runtime.tensor(x), runtime.tensor(y), runtime.tensor(labels)

    for step in range(20):
        t_opt.zero_grad()
        r_opt.zero_grad()
        if step % 2:
            t_loss = tnn.functional.mse_loss(t_model(t_x), t_y)
            r_loss = rnn.functional.mse_loss(r_model(r_x), r_y)
        else:
            t_loss = tnn.functional.cross_entropy(t_model(t_x), t_labels)
            r_loss = rnn.functional.cross_entropy(r_model(r_x), r_labels)
        assert r_loss.item() == pytest.approx(t_loss.item(), rel=1e-9, abs=1e-12)
        t_loss.backward()
        r_loss.backward()
        t_opt.step()
        r_opt.step()

    t_params = dict(t_model.named_parameters())
    r_params = dict(r_model.named_parameters())
    assert list(t_params) == list(r_params)
    for key in t_params:
        assert r_params[key].dtype == runtime.float64
        np.testing.assert_allclose(to_numpy(r_params[key]), to_numpy(t_params[key]), rtol=0, atol=1e-5,
                                   err_msg=key)
        np.testing.assert_allclose(to_numpy(r_params[key]), to_numpy(t_params[key]), rtol=1e-9, atol=1e-12,
                                   err_msg=key)
        assert r_params[key].is_leaf and r_params[key].requires_grad


def test_optimizer_state_dict_layout_matches_torch():
    t_model, r_model = build(torch, torch.float32), build(runtime, runtime.float32)
    for m, model in ((torch, t_model), (runtime, r_model)):
        opt = m.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
        model(m.ones(2, 4)).sum().backward()
        opt.step()
        state = opt.state_dict()
        if m is torch:
            expected_state = {k: sorted(v) for k, v in state["state"].items()}
            expected_params = [g["params"] for g in state["param_groups"]]
        else:
            assert {k: sorted(v) for k, v in state["state"].items()} == expected_state
            assert [g["params"] for g in state["param_groups"]] == expected_params


# ----------------------------------------------------------------------------- layers


def test_dropout_eval_is_identity_in_both():
    x = np.random.default_rng(0).normal(0, 1, (6, 5)).astype(np.float32)
    t_drop, r_drop = tnn.Dropout(0.6).eval(), rnn.Dropout(0.6).eval()
    t_x, r_x = torch.tensor(x, requires_grad=True), runtime.tensor(x, requires_grad=True)
    t_out, r_out = t_drop(t_x), r_drop(r_x)
    np.testing.assert_array_equal(to_numpy(t_out), x)
    np.testing.assert_array_equal(to_numpy(r_out), x)
    assert (t_out is t_x) == (r_out is r_x)
    assert t_out.requires_grad == r_out.requires_grad


def test_dropout_train_scaling_matches_in_distribution():
    """The masks differ (different generators) but the kept values are scaled the same."""
    torch.manual_seed(0)
    runtime.manual_seed(0)
    t_out = to_numpy(tnn.Dropout(0.3)(torch.ones(50, 50)))
    r_out = to_numpy(rnn.Dropout(0.3)(runtime.ones(50, 50)))
    assert set(np.unique(t_out).round(6)) == set(np.unique(r_out).round(6))


@pytest.mark.parametrize("momentum", [0.1, 0.5, None])
def test_batchnorm_running_stats_match_after_five_batches(momentum):
    rng = np.random.default_rng(3)
    t_bn, r_bn = tnn.BatchNorm1d(4, momentum=momentum), rnn.BatchNorm1d(4, momentum=momentum)
    with torch.no_grad():
        t_bn.weight.uniform_(0.5, 1.5)
        t_bn.bias.uniform_(-0.5, 0.5)
    copy_weights(t_bn, r_bn)
    for batch in range(5):
        x = (rng.normal(0, 1, (12, 4)) * [1, 2, 3, 4] + [0, 1, -2, 5]).astype(np.float32)
        t_out, r_out = t_bn(torch.tensor(x)), r_bn(runtime.tensor(x))
        np.testing.assert_allclose(to_numpy(r_out), to_numpy(t_out), rtol=1e-4, atol=1e-5)
    for key in ("running_mean", "running_var"):
        np.testing.assert_allclose(to_numpy(getattr(r_bn, key)), to_numpy(getattr(t_bn, key)),
                                   rtol=1e-5, atol=1e-6, err_msg=key)
    assert int(r_bn.num_batches_tracked) == int(t_bn.num_batches_tracked) == 5
    # eval: frozen statistics, same outputs and gradients
    t_bn.eval(), r_bn.eval()
    x = rng.normal(0, 1, (3, 4)).astype(np.float32)
    t_x, r_x = torch.tensor(x, requires_grad=True), runtime.tensor(x, requires_grad=True)
    t_out, r_out = t_bn(t_x), r_bn(r_x)
    np.testing.assert_allclose(to_numpy(r_out), to_numpy(t_out), rtol=1e-5, atol=1e-6)
    assert r_out.grad_fn.name() == t_out.grad_fn.name()
    (t_out * torch.tensor(x)).sum().backward()
    (r_out * runtime.tensor(x)).sum().backward()
    np.testing.assert_allclose(to_numpy(r_x.grad), to_numpy(t_x.grad), rtol=1e-5)
    np.testing.assert_allclose(to_numpy(r_bn.weight.grad), to_numpy(t_bn.weight.grad), rtol=1e-5, atol=1e-6)


def test_batchnorm_train_gradients_match():
    rng = np.random.default_rng(4)
    x = rng.normal(0, 1, (10, 3))
    w = rng.normal(0, 1, (10, 3))
    t_bn, r_bn = tnn.BatchNorm1d(3, dtype=torch.float64), rnn.BatchNorm1d(3, dtype=runtime.float64)
    t_x, r_x = torch.tensor(x, requires_grad=True), runtime.tensor(x, requires_grad=True)
    t_out, r_out = t_bn(t_x), r_bn(r_x)
    assert r_out.grad_fn.name() == t_out.grad_fn.name() == "NativeBatchNormBackward0"
    (t_out * torch.tensor(w)).sum().backward()
    (r_out * runtime.tensor(w)).sum().backward()
    np.testing.assert_allclose(to_numpy(r_x.grad), to_numpy(t_x.grad), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(to_numpy(r_bn.weight.grad), to_numpy(t_bn.weight.grad), rtol=1e-9)
    np.testing.assert_allclose(to_numpy(r_bn.bias.grad), to_numpy(t_bn.bias.grad), rtol=1e-9)


def test_batchnorm_under_no_grad_in_train_mode_matches():
    x = np.random.default_rng(5).normal(0, 1, (8, 2)).astype(np.float32)
    results = []
    for m in (torch, runtime):
        bn = m.nn.BatchNorm1d(2)
        with m.no_grad():
            out = bn(m.tensor(x))
        results.append((out.requires_grad, int(bn.num_batches_tracked),
                        to_numpy(bn.running_mean).round(5).tolist()))
    assert results[0] == results[1]


def test_embedding_matches():
    t_emb = tnn.Embedding(6, 3)
    r_emb = rnn.Embedding(6, 3)
    copy_weights(t_emb, r_emb)
    idx = [[0, 5, 5], [2, 1, 0]]
    t_out, r_out = t_emb(torch.tensor(idx)), r_emb(runtime.tensor(idx))
    np.testing.assert_array_equal(to_numpy(r_out), to_numpy(t_out))
    assert r_out.grad_fn.name() == t_out.grad_fn.name()
    t_out.pow(2).sum().backward()
    r_out.pow(2).sum().backward()
    np.testing.assert_allclose(to_numpy(r_emb.weight.grad), to_numpy(t_emb.weight.grad), rtol=1e-6)


# ----------------------------------------------------------------------------- structure


class Custom:
    """The same custom module for both APIs: parameters, buffers, nested containers."""

    @staticmethod
    def build(m):
        class Encoder(m.nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.embed = m.nn.Embedding(5, 4)
                self.norm = m.nn.BatchNorm1d(4)
                self.register_buffer("scale", m.ones(1))
                self.register_buffer("cache", m.zeros(1), persistent=False)

        class Model(m.nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.gain = m.nn.Parameter(m.ones(2))
                self.encoder = Encoder()
                self.layers = m.nn.ModuleList([m.nn.Linear(4, 4), m.nn.Linear(4, 2, bias=False)])
                self.head = m.nn.Sequential(m.nn.ReLU(), m.nn.Dropout(0.2), m.nn.Linear(2, 1))
                self.offset = m.nn.Parameter(m.zeros(1))

        return Model()


def names(module):
    return {
        "state_dict": list(module.state_dict()),
        "named_parameters": [n for n, _ in module.named_parameters()],
        "named_buffers": [n for n, _ in module.named_buffers()],
        "named_modules": [n for n, _ in module.named_modules()],
        "named_children": [n for n, _ in module.named_children()],
        "module_types": [type(x).__name__ for x in module.modules()],
        "repr": repr(module),
    }


@pytest.mark.parametrize("make", [
    lambda m: m.nn.Sequential(m.nn.Linear(3, 4), m.nn.BatchNorm1d(4), m.nn.ReLU(), m.nn.Dropout(0.5),
                              m.nn.Linear(4, 2), m.nn.Sigmoid()),
    Custom.build,
    lambda m: (lambda shared: m.nn.Sequential(shared, m.nn.Tanh(), shared))(m.nn.Linear(2, 2)),
], ids=["sequential", "custom", "shared"])
def test_names_order_and_repr_match(make):
    t_names, r_names = names(make(torch)), names(make(runtime))
    for key in t_names:
        assert r_names[key] == t_names[key], key


def test_state_dict_round_trip_between_frameworks():
    t_model, r_model = Custom.build(torch), Custom.build(runtime)
    copy_weights(t_model, r_model)
    back = {k: torch.tensor(v.numpy()) for k, v in r_model.state_dict().items()}
    assert t_model.load_state_dict(back) is not None
    for key, value in t_model.state_dict().items():
        np.testing.assert_array_equal(value.numpy(), r_model.state_dict()[key].numpy())
        assert str(value.dtype) == repr(r_model.state_dict()[key].dtype)


@pytest.mark.parametrize("state", [
    {"weight": np.zeros((2, 2), np.float32)},
    {"weight": np.zeros((2, 2), np.float32), "bias": np.zeros(2, np.float32), "extra": np.zeros(1)},
    {"weight": np.zeros((2, 2), np.float32), "junk": np.zeros(1), "more": np.zeros(1)},
])
def test_load_state_dict_errors_match(state):
    messages = []
    for m in (torch, runtime):
        with pytest.raises(RuntimeError) as info:
            m.nn.Linear(2, 2).load_state_dict({k: m.tensor(v) for k, v in state.items()})
        messages.append(str(info.value))
    assert messages[0] == messages[1]


def test_non_strict_load_result_matches():
    results = []
    for m in (torch, runtime):
        result = m.nn.Linear(2, 2).load_state_dict({"weight": m.zeros(2, 2), "x": m.zeros(1)}, strict=False)
        results.append((list(result.missing_keys), list(result.unexpected_keys)))
    assert results[0] == results[1]


def test_parameter_repr_matches():
    values = [[1.0, -2.5], [0.125, 3.0]]
    assert repr(rnn.Parameter(runtime.tensor(values))) == repr(tnn.Parameter(torch.tensor(values)))
    assert repr(rnn.Parameter(runtime.ones(2), requires_grad=False)) == \
        repr(tnn.Parameter(torch.ones(2), requires_grad=False))


def test_leaf_in_place_error_matches():
    messages = []
    for m in (torch, runtime):
        weight = m.nn.Linear(2, 2).weight
        with pytest.raises(RuntimeError) as info:
            weight.normal_()
        messages.append(str(info.value))
        m.nn.init.zeros_(weight)  # fine: init runs under no_grad
        assert weight.is_leaf and weight.requires_grad
    assert messages[0] == messages[1]


# ----------------------------------------------------------------------------- losses

rng = np.random.default_rng(11)
PRED = rng.normal(0, 1, (5, 3)).astype(np.float32)
TARGET = rng.normal(0, 1, (5, 3)).astype(np.float32)
PROBS = rng.uniform(0, 1, (5, 3)).astype(np.float32)
LABELS = np.array([0, 2, 1, 1, 2])


def loss_cases(m):
    F = m.nn.functional
    return {
        "mse": (m.nn.MSELoss, lambda x: (x, m.tensor(TARGET))),
        "l1": (m.nn.L1Loss, lambda x: (x, m.tensor(TARGET))),
        "nll": (m.nn.NLLLoss, lambda x: (F.log_softmax(x, dim=1), m.tensor(LABELS))),
        "cross_entropy": (m.nn.CrossEntropyLoss, lambda x: (x, m.tensor(LABELS))),
        "bce_with_logits": (m.nn.BCEWithLogitsLoss, lambda x: (x, m.tensor(PROBS))),
    }


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("name", ["mse", "l1", "nll", "cross_entropy", "bce_with_logits"])
def test_losses_match(name, reduction):
    results = []
    for m in (torch, runtime):
        cls, args = loss_cases(m)[name]
        x = m.tensor(PRED, requires_grad=True)
        loss = cls(reduction=reduction)(*args(x))
        grad_fn = loss.grad_fn.name()
        loss.sum().backward() if reduction == "none" else loss.backward()
        results.append((to_numpy(loss), grad_fn, to_numpy(x.grad), loss.shape, str(loss.dtype)))
    (t_loss, t_fn, t_grad, t_shape, t_dtype), (r_loss, r_fn, r_grad, r_shape, r_dtype) = results
    np.testing.assert_allclose(r_loss, t_loss, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(r_grad, t_grad, rtol=1e-5, atol=1e-6)
    assert r_fn == t_fn
    assert tuple(r_shape) == tuple(t_shape) and r_dtype == t_dtype


def test_named_loss_grad_fns():
    x = runtime.tensor(PRED, requires_grad=True)
    assert rnn.MSELoss()(x, runtime.tensor(TARGET)).grad_fn.name() == "MseLossBackward0"
    assert rnn.NLLLoss()(x.log_softmax(1), runtime.tensor(LABELS)).grad_fn.name() == "NllLossBackward0"
    assert rnn.BCEWithLogitsLoss()(x, runtime.tensor(PROBS)).grad_fn.name() == \
        "BinaryCrossEntropyWithLogitsBackward0"


def test_seed_program_matches():
    results = []
    for m in (torch, runtime):
        class NN(m.nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.w1 = m.nn.Parameter(m.tensor([3.0]))
                self.w2 = m.nn.Parameter(m.tensor([2.0]))

            def forward(self, x):
                return self.w1 * x + self.w2 * x ** 2

        net = NN()
        x = m.tensor([2.0], requires_grad=True)
        loss = m.nn.MSELoss()(net(x), m.tensor([10.0]))
        loss.backward()
        results.append((loss.item(), x.grad.item(), loss.grad_fn.name(), net.w1.grad.item(),
                        net.w2.grad.item(), [n for n, _ in net.named_parameters()]))
    assert results[0] == results[1]


def test_assignment_errors_match():
    messages = []
    for m in (torch, runtime):
        layer = m.nn.Linear(2, 2)
        with pytest.raises(TypeError) as info:
            layer.weight = m.ones(2, 2)
        messages.append((str(info.value), list(m.nn.Linear(2, 2, bias=False)._parameters)))
    assert messages[0] == messages[1]
