"""``runtime.optim``: SGD and Adam update math against NumPy re-implementations of PyTorch's
algorithms, grad-mode behaviour of ``step()``, zero_grad, param groups and state dicts."""

from __future__ import annotations

import numpy as np
import pytest

import runtime
from runtime import nn, optim
from runtime.autograd.graph import Node

START = np.array([[0.5, -1.5, 2.0], [1.0, 0.25, -0.75]])
CURVE = np.array([[1.0, 2.0, 0.5], [3.0, 0.1, 1.5]])
SHIFT = np.array([[0.3, -0.2, 0.1], [0.0, 0.5, -1.0]])


def loss_of(p):
    """sum(CURVE * p**2 + SHIFT * p): gradient 2*CURVE*p + SHIFT."""
    return (runtime.tensor(CURVE, dtype=runtime.float64) * p * p
            + runtime.tensor(SHIFT, dtype=runtime.float64) * p).sum()


def grad_of(p: np.ndarray) -> np.ndarray:
    return 2 * CURVE * p + SHIFT


def run(make_optimizer, steps=15):
    p = nn.Parameter(runtime.tensor(START, dtype=runtime.float64))
    opt = make_optimizer([p])
    for _ in range(steps):
        opt.zero_grad()
        loss_of(p).backward()
        opt.step()
    return p.detach().numpy(), opt


def sgd_reference(steps=15, lr=1e-3, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False):
    p, buf = START.copy(), None
    for _ in range(steps):
        g = grad_of(p)
        if weight_decay:
            g = g + weight_decay * p
        if momentum:
            buf = g.copy() if buf is None else momentum * buf + (1 - dampening) * g
            g = g + momentum * buf if nesterov else buf
        p = p - lr * g
    return p


def adam_reference(steps=15, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, amsgrad=False):
    p = START.copy()
    m, v, vmax = np.zeros_like(p), np.zeros_like(p), np.zeros_like(p)
    b1, b2 = betas
    for t in range(1, steps + 1):
        g = grad_of(p)
        if weight_decay:
            g = g + weight_decay * p
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        second = v
        if amsgrad:
            vmax = np.maximum(vmax, v)
            second = vmax
        denom = np.sqrt(second) / np.sqrt(1 - b2 ** t) + eps
        p = p - lr / (1 - b1 ** t) * m / denom
    return p


SGD_CASES = [
    dict(lr=0.1),
    dict(lr=0.05, momentum=0.9),
    dict(lr=0.05, momentum=0.9, dampening=0.5),
    dict(lr=0.05, momentum=0.8, nesterov=True),
    dict(lr=0.05, weight_decay=0.1),
    dict(lr=0.02, momentum=0.9, dampening=0.1, weight_decay=0.01),
    dict(lr=0.02, momentum=0.5, weight_decay=0.2, nesterov=True),
]


@pytest.mark.parametrize("options", SGD_CASES, ids=lambda o: ",".join(f"{k}={v}" for k, v in o.items()))
def test_sgd_update_math(options):
    result, _ = run(lambda params: optim.SGD(params, **options))
    np.testing.assert_allclose(result, sgd_reference(**options), rtol=1e-12, atol=1e-14)


def test_sgd_single_step_exact():
    p = nn.Parameter(runtime.tensor([1.0, 2.0]))
    p.grad = runtime.tensor([0.5, -1.0])
    optim.SGD([p], lr=0.1).step()
    np.testing.assert_allclose(p.detach().numpy(), [0.95, 2.1], rtol=1e-6)


def test_sgd_default_lr_and_nesterov_validation():
    p = nn.Parameter(runtime.ones(1))
    assert optim.SGD([p]).param_groups[0]["lr"] == 1e-3
    with pytest.raises(ValueError, match="Nesterov momentum requires a momentum and zero dampening"):
        optim.SGD([p], lr=0.1, nesterov=True)
    with pytest.raises(ValueError, match="Nesterov momentum requires a momentum and zero dampening"):
        optim.SGD([p], lr=0.1, momentum=0.9, dampening=0.1, nesterov=True)


ADAM_CASES = [
    dict(lr=0.01),
    dict(lr=0.05, betas=(0.8, 0.99)),
    dict(lr=0.01, eps=1e-3),
    dict(lr=0.01, weight_decay=0.1),
    dict(lr=0.05, amsgrad=True),
    dict(lr=0.03, betas=(0.5, 0.9), eps=1e-6, weight_decay=0.05, amsgrad=True),
]


@pytest.mark.parametrize("options", ADAM_CASES, ids=lambda o: ",".join(f"{k}={v}" for k, v in o.items()))
def test_adam_update_math(options):
    result, _ = run(lambda params: optim.Adam(params, **options), steps=25)
    np.testing.assert_allclose(result, adam_reference(steps=25, **options), rtol=1e-10, atol=1e-12)


def test_adam_first_step_moves_by_lr():
    # After one step Adam's update is lr * sign(grad) (up to eps).
    p = nn.Parameter(runtime.tensor([1.0, -2.0, 3.0]))
    p.grad = runtime.tensor([10.0, -0.01, 0.5])
    optim.Adam([p], lr=0.1).step()
    np.testing.assert_allclose(p.detach().numpy(), [0.9, -1.9, 2.9], rtol=1e-5)


def test_adam_defaults():
    group = optim.Adam([nn.Parameter(runtime.ones(1))]).param_groups[0]
    assert group["lr"] == 1e-3 and group["betas"] == (0.9, 0.999) and group["eps"] == 1e-8
    assert group["weight_decay"] == 0 and group["amsgrad"] is False


def test_float32_parameters_stay_float32():
    for make in (lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9), lambda ps: optim.Adam(ps, lr=0.1)):
        p = nn.Parameter(runtime.ones(3))
        opt = make([p])
        for _ in range(2):
            (p * p).sum().backward()
            opt.step()
        assert p.dtype == runtime.float32 and p._data.dtype == np.float32


# ----------------------------------------------------------------------------- grad mode


@pytest.mark.parametrize("make", [lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9, weight_decay=0.1),
                                  lambda ps: optim.Adam(ps, lr=0.1, amsgrad=True)])
def test_step_builds_no_graph_and_keeps_leaves(make, monkeypatch):
    model = nn.Linear(3, 2)
    opt = make(model.parameters())
    model(runtime.ones(4, 3)).pow(2).sum().backward()
    grads = [p.grad for p in model.parameters()]
    versions = [p._version for p in model.parameters()]

    recorded = []
    original = runtime.Tensor._set_history
    monkeypatch.setattr(runtime.Tensor, "_set_history",
                        lambda self, node: (recorded.append(node), original(self, node))[1])
    opt.step()
    monkeypatch.undo()

    assert recorded == []
    assert runtime.is_grad_enabled()
    for p, grad, version in zip(model.parameters(), grads, versions):
        assert isinstance(p, nn.Parameter)
        assert p.is_leaf and p.requires_grad and p.grad_fn is None
        assert p.grad is grad  # step does not touch .grad
        assert p._version == version + 1  # updated in place
    # the updated parameters still train
    model.zero_grad()
    out = model(runtime.ones(1, 3)).sum()
    assert out.grad_fn is not None
    out.backward()
    assert all(p.grad is not None for p in model.parameters())


def test_step_leaves_no_live_graph_nodes():
    import gc

    model = nn.Linear(3, 2)
    opt = optim.Adam(model.parameters(), lr=0.1)
    model(runtime.ones(4, 3)).sum().backward()
    gc.collect()
    before = sum(issubclass(type(o), Node) for o in gc.get_objects())
    for _ in range(3):
        opt.step()
    gc.collect()
    after = sum(issubclass(type(o), Node) for o in gc.get_objects())
    assert after <= before


def test_step_with_closure_runs_it_with_grad_enabled():
    p = nn.Parameter(runtime.tensor([2.0]))
    opt = optim.SGD([p], lr=0.1)
    seen = []

    def closure():
        opt.zero_grad()
        seen.append(runtime.is_grad_enabled())
        loss = (p * p).sum()
        loss.backward()
        return loss

    loss = opt.step(closure)
    assert seen == [True] and loss.item() == 4.0
    np.testing.assert_allclose(p.detach().numpy(), [2.0 - 0.1 * 4.0], rtol=1e-6)


def test_step_skips_parameters_without_grad():
    a, b = nn.Parameter(runtime.ones(2)), nn.Parameter(runtime.ones(2))
    opt = optim.Adam([a, b], lr=0.1)
    (a * 3).sum().backward()
    opt.step()
    assert b.tolist() == [1.0, 1.0] and a.tolist() != [1.0, 1.0]
    assert list(opt.state_dict()["state"]) == [0]


# ----------------------------------------------------------------------------- zero_grad


def test_zero_grad_set_to_none_default_and_false():
    p = nn.Parameter(runtime.ones(2))
    opt = optim.SGD([p], lr=0.1)
    (p * 2).sum().backward()
    opt.zero_grad(set_to_none=False)
    assert p.grad is not None and p.grad.tolist() == [0.0, 0.0]
    opt.zero_grad()
    assert p.grad is None
    opt.zero_grad()  # no grad: nothing to do
    assert p.grad is None


def test_gradients_accumulate_without_zero_grad():
    p = nn.Parameter(runtime.ones(1))
    opt = optim.SGD([p], lr=0.1)
    (p * 2).sum().backward()
    opt.step()
    (p * 2).sum().backward()  # accumulates: grad 4
    opt.step()
    np.testing.assert_allclose(p.detach().numpy(), [1 - 0.2 - 0.4], rtol=1e-6)


# ----------------------------------------------------------------------------- groups


def test_param_groups_with_own_options():
    a, b = nn.Parameter(runtime.ones(1)), nn.Parameter(runtime.ones(1))
    opt = optim.SGD([{"params": [a]}, {"params": [b], "lr": 0.5}], lr=0.1, momentum=0.9)
    assert len(opt.param_groups) == 2
    assert opt.param_groups[0]["lr"] == 0.1 and opt.param_groups[1]["lr"] == 0.5
    assert opt.param_groups[1]["momentum"] == 0.9  # inherited default
    (a + b).sum().backward()
    opt.step()
    np.testing.assert_allclose(a.detach().numpy(), [0.9], rtol=1e-6)
    np.testing.assert_allclose(b.detach().numpy(), [0.5], rtol=1e-6)


def test_add_param_group_and_lr_change():
    a, b = nn.Parameter(runtime.ones(1)), nn.Parameter(runtime.ones(1))
    opt = optim.Adam([a], lr=0.1)
    opt.add_param_group({"params": [b], "lr": 0.01})
    assert [g["lr"] for g in opt.param_groups] == [0.1, 0.01]
    assert opt.param_groups[1]["betas"] == (0.9, 0.999)
    for group in opt.param_groups:
        group["lr"] *= 2  # a scheduler-style change takes effect
    (a + b).sum().backward()
    opt.step()
    np.testing.assert_allclose([a.item(), b.item()], [0.8, 0.98], rtol=1e-5)


def test_params_as_generator_and_errors():
    model = nn.Linear(2, 2)
    opt = optim.SGD(model.parameters(), lr=0.1)
    assert len(opt.param_groups[0]["params"]) == 2
    with pytest.raises(ValueError, match="optimizer got an empty parameter list"):
        optim.SGD([], lr=0.1)
    with pytest.raises(TypeError, match="params argument given to the optimizer should be an iterable"):
        optim.SGD(nn.Parameter(runtime.ones(2)), lr=0.1)


# ----------------------------------------------------------------------------- state dict


def test_sgd_state_dict():
    result, opt = run(lambda ps: optim.SGD(ps, lr=0.05, momentum=0.9), steps=3)
    state = opt.state_dict()
    assert set(state) == {"state", "param_groups"}
    group = state["param_groups"][0]
    assert group["params"] == [0]
    assert {k: group[k] for k in ("lr", "momentum", "dampening", "weight_decay", "nesterov")} == \
        dict(lr=0.05, momentum=0.9, dampening=0.0, weight_decay=0.0, nesterov=False)
    assert list(state["state"]) == [0] and "momentum_buffer" in state["state"][0]


def test_adam_state_dict_contents():
    result, opt = run(lambda ps: optim.Adam(ps, lr=0.01), steps=4)
    entry = opt.state_dict()["state"][0]
    assert {"step", "exp_avg", "exp_avg_sq"} <= set(entry)
    assert int(np.asarray(entry["step"])) == 4
    assert np.asarray(entry["exp_avg"]).shape == START.shape


def test_state_dict_indices_span_groups():
    a, b, c = (nn.Parameter(runtime.ones(1)) for _ in range(3))
    opt = optim.SGD([{"params": [a, b]}, {"params": [c], "lr": 1.0}], lr=0.1)
    assert [g["params"] for g in opt.state_dict()["param_groups"]] == [[0, 1], [2]]


@pytest.mark.parametrize("make", [lambda ps: optim.SGD(ps, lr=0.05, momentum=0.9),
                                  lambda ps: optim.Adam(ps, lr=0.05, amsgrad=True)])
def test_load_state_dict_resumes_identically(make):
    reference, _ = run(make, steps=10)

    p = nn.Parameter(runtime.tensor(START, dtype=runtime.float64))
    opt = make([p])
    for _ in range(5):
        opt.zero_grad()
        loss_of(p).backward()
        opt.step()
    saved_state, saved_p = opt.state_dict(), p.detach().numpy().copy()

    q = nn.Parameter(runtime.tensor(saved_p))
    resumed = make([q])
    resumed.load_state_dict(saved_state)
    for _ in range(5):
        resumed.zero_grad()
        loss_of(q).backward()
        resumed.step()
    np.testing.assert_allclose(q.detach().numpy(), reference, rtol=1e-12)
