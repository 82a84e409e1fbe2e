"""``runtime.nn``: Module bookkeeping, layers, losses and initialisers, through the public
torch-like API (expected values are PyTorch's documented/measured behaviour)."""

from __future__ import annotations

import math

import numpy as np
import pytest

import runtime
from runtime import nn
from runtime.nn import functional as F

LEAF_INPLACE = "a leaf Variable that requires grad is being used in an in-place operation."


class Block(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(3, 4)
        self.scale = nn.Parameter(runtime.ones(4))
        self.register_buffer("steps", runtime.zeros(1))
        self.act = nn.ReLU()

    def forward(self, x):
        return self.act(self.fc(x)) * self.scale


class Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.first = Block()
        self.drop = nn.Dropout(0.5)
        self.head = nn.Sequential(nn.Linear(4, 2), nn.BatchNorm1d(2))
        self.temperature = nn.Parameter(runtime.tensor([1.0]))

    def forward(self, x):
        return self.head(self.drop(self.first(x))) / self.temperature


def arr(t) -> np.ndarray:
    return t.detach().numpy()


# ----------------------------------------------------------------------------- registration


def test_registration_by_assignment():
    block = Block()
    assert list(block._parameters) == ["scale"]
    assert list(block._buffers) == ["steps"]
    assert list(block._modules) == ["fc", "act"]
    assert block.fc is block._modules["fc"]
    assert isinstance(block.scale, nn.Parameter)
    # plain attributes are not registered
    block.note = runtime.ones(2)
    assert "note" not in block._parameters and "note" not in block._buffers
    # re-assigning a buffer keeps it a buffer
    block.steps = runtime.ones(1)
    assert list(block._buffers) == ["steps"] and block.steps.tolist() == [1.0]


def test_register_parameter_module_and_delattr():
    m = nn.Module()
    m.register_parameter("w", nn.Parameter(runtime.zeros(2)))
    m.add_module("sub", nn.Linear(1, 1))
    m.register_buffer("b", runtime.ones(1))
    assert [n for n, _ in m.named_parameters()] == ["w", "sub.weight", "sub.bias"]
    del m.w
    assert [n for n, _ in m.named_parameters()] == ["sub.weight", "sub.bias"]
    with pytest.raises(AttributeError, match="'Module' object has no attribute 'w'"):
        m.w


def test_missing_attribute_message():
    with pytest.raises(AttributeError, match="'Linear' object has no attribute 'nope'"):
        nn.Linear(1, 1).nope


def test_forward_not_implemented():
    with pytest.raises(NotImplementedError, match='Module \\[Module\\] is missing the required "forward" function'):
        nn.Module()(runtime.ones(1))


def test_traversal_order():
    net = Net()
    assert [n for n, _ in net.named_parameters()] == [
        "temperature", "first.scale", "first.fc.weight", "first.fc.bias",
        "head.0.weight", "head.0.bias", "head.1.weight", "head.1.bias"]
    assert [n for n, _ in net.named_buffers()] == [
        "first.steps", "head.1.running_mean", "head.1.running_var", "head.1.num_batches_tracked"]
    assert [n for n, _ in net.named_modules()] == [
        "", "first", "first.fc", "first.act", "drop", "head", "head.0", "head.1"]
    assert [type(m).__name__ for m in net.modules()] == [
        "Net", "Block", "Linear", "ReLU", "Dropout", "Sequential", "Linear", "BatchNorm1d"]
    assert [type(m).__name__ for m in net.children()] == ["Block", "Dropout", "Sequential"]
    assert [n for n, _ in net.named_children()] == ["first", "drop", "head"]
    assert len(list(net.parameters())) == 8
    assert len(list(net.buffers())) == 4
    assert [n for n, _ in net.named_parameters(recurse=False)] == ["temperature"]


def test_shared_parameter_listed_once():
    shared = nn.Linear(2, 2)
    seq = nn.Sequential(shared, nn.ReLU(), shared)
    assert len(list(seq.parameters())) == 2
    assert [n for n, _ in seq.named_modules()] == ["", "0", "1"]


def test_train_eval_recurse_and_return_self():
    net = Net()
    assert all(m.training for m in net.modules())
    assert net.eval() is net
    assert not any(m.training for m in net.modules())
    assert net.train() is net
    assert all(m.training for m in net.modules())
    net.train(False)
    assert not net.head[1].training
    net.head.train()
    assert net.head[1].training and not net.training and not net.first.training


def test_eval_does_not_disable_grad():
    model = nn.Linear(2, 1).eval()
    out = model(runtime.ones(3, 2))
    assert out.requires_grad and out.grad_fn is not None
    assert runtime.is_grad_enabled()


def test_apply_visits_children_first():
    seen = []
    net = Net()
    assert net.apply(lambda m: seen.append(type(m).__name__)) is net
    assert seen == ["Linear", "ReLU", "Block", "Dropout", "Linear", "BatchNorm1d", "Sequential", "Net"]


def test_apply_init_in_place():
    net = nn.Sequential(nn.Linear(3, 3), nn.ReLU(), nn.Linear(3, 1))

    def init(m):
        if isinstance(m, nn.Linear):
            nn.init.constant_(m.weight, 0.5)
            nn.init.zeros_(m.bias)

    net.apply(init)
    for layer in (net[0], net[2]):
        assert (arr(layer.weight) == 0.5).all() and (arr(layer.bias) == 0).all()
        assert layer.weight.is_leaf and layer.weight.requires_grad


# ----------------------------------------------------------------------------- state dict


def test_state_dict_keys_and_detached_values():
    net = Net()
    state = net.state_dict()
    assert list(state) == [
        "temperature", "first.scale", "first.steps", "first.fc.weight", "first.fc.bias",
        "head.0.weight", "head.0.bias", "head.1.weight", "head.1.bias", "head.1.running_mean",
        "head.1.running_var", "head.1.num_batches_tracked"]
    weight = state["first.fc.weight"]
    assert not weight.requires_grad and weight.grad_fn is None and not isinstance(weight, nn.Parameter)
    # shares storage with the parameter
    with runtime.no_grad():
        net.first.fc.weight.fill_(3.0)
    assert (arr(weight) == 3.0).all()


def test_non_persistent_buffer_not_in_state_dict():
    m = nn.Module()
    m.register_buffer("kept", runtime.ones(1))
    m.register_buffer("temp", runtime.ones(1), persistent=False)
    assert list(m.state_dict()) == ["kept"]
    assert [n for n, _ in m.named_buffers()] == ["kept", "temp"]


def test_load_state_dict_copies_values():
    source, target = nn.Linear(3, 2), nn.Linear(3, 2)
    result = target.load_state_dict(source.state_dict())
    assert result.missing_keys == [] and result.unexpected_keys == []
    assert repr(result) == "<All keys matched successfully>"
    np.testing.assert_array_equal(arr(target.weight), arr(source.weight))
    np.testing.assert_array_equal(arr(target.bias), arr(source.bias))
    # still leaves that require grad, and independent storage
    assert target.weight.is_leaf and target.weight.requires_grad and target.weight.grad_fn is None
    with runtime.no_grad():
        source.weight.zero_()
    assert not (arr(target.weight) == 0).all()


def test_load_state_dict_missing_key_message():
    state = nn.Linear(2, 2).state_dict()
    del state["bias"]
    with pytest.raises(RuntimeError) as info:
        nn.Linear(2, 2).load_state_dict(state)
    assert str(info.value) == ('Error(s) in loading state_dict for Linear:\n\t'
                               'Missing key(s) in state_dict: "bias". ')


def test_load_state_dict_unexpected_and_missing_message():
    state = {"weight": runtime.zeros(2, 2), "extra": runtime.zeros(1), "more": runtime.zeros(1)}
    with pytest.raises(RuntimeError) as info:
        nn.Linear(2, 2).load_state_dict(state)
    assert str(info.value) == ('Error(s) in loading state_dict for Linear:\n\t'
                               'Missing key(s) in state_dict: "bias". \n\t'
                               'Unexpected key(s) in state_dict: "extra", "more". ')


def test_load_state_dict_non_strict():
    model = nn.Linear(2, 2)
    result = model.load_state_dict({"weight": runtime.ones(2, 2), "extra": runtime.zeros(1)},
                                   strict=False)
    assert result.missing_keys == ["bias"] and result.unexpected_keys == ["extra"]
    assert (arr(model.weight) == 1).all()


def test_load_state_dict_buffers():
    bn = nn.BatchNorm1d(2)
    bn(runtime.randn(8, 2))
    other = nn.BatchNorm1d(2)
    other.load_state_dict(bn.state_dict())
    np.testing.assert_array_equal(arr(other.running_mean), arr(bn.running_mean))
    assert int(other.num_batches_tracked) == 1


# ----------------------------------------------------------------------------- grads


def test_zero_grad_set_to_none_and_zero():
    model = nn.Linear(2, 1)
    model(runtime.ones(3, 2)).sum().backward()
    assert model.weight.grad is not None
    model.zero_grad(set_to_none=False)
    assert (arr(model.weight.grad) == 0).all() and (arr(model.bias.grad) == 0).all()
    model.zero_grad()  # default: set_to_none=True
    assert model.weight.grad is None and model.bias.grad is None


def test_requires_grad_():
    model = nn.Sequential(nn.Linear(2, 2), nn.Linear(2, 1))
    assert model.requires_grad_(False) is model
    assert not any(p.requires_grad for p in model.parameters())
    out = model(runtime.ones(1, 2))
    assert not out.requires_grad and out.grad_fn is None
    model[1].requires_grad_()
    assert [p.requires_grad for p in model.parameters()] == [False, False, True, True]


def test_grads_accumulate_over_backward_calls():
    model = nn.Linear(2, 1)
    x = runtime.tensor([[1.0, 2.0]])
    model(x).sum().backward()
    model(x).sum().backward()
    np.testing.assert_allclose(arr(model.weight.grad), [[2.0, 4.0]])
    np.testing.assert_allclose(arr(model.bias.grad), [2.0])


# ----------------------------------------------------------------------------- hooks


def test_forward_hook_sees_input_output_and_can_replace():
    model = nn.Linear(2, 2)
    calls = []

    def hook(module, inputs, output):
        calls.append((module, inputs, output))

    handle = model.register_forward_hook(hook)
    x = runtime.ones(1, 2)
    out = model(x)
    assert len(calls) == 1 and calls[0][0] is model and calls[0][1][0] is x and calls[0][2] is out
    handle.remove()
    model(x)
    assert len(calls) == 1
    handle = model.register_forward_hook(lambda m, i, o: o * 0)
    assert (arr(model(x)) == 0).all()
    handle.remove()
    handle.remove()  # removing twice is harmless
    assert not (arr(model(x)) == 0).all()


def test_forward_pre_hook_can_replace_input():
    model = nn.Identity()
    seen = []
    h1 = model.register_forward_pre_hook(lambda m, args: seen.append(args) or None)
    h2 = model.register_forward_pre_hook(lambda m, args: (args[0] * 2,))
    h3 = model.register_forward_pre_hook(lambda m, args: args[0] + 1)  # a bare value is wrapped
    assert model(runtime.tensor([1.0])).tolist() == [3.0]
    assert len(seen) == 1
    h2.remove()
    assert model(runtime.tensor([1.0])).tolist() == [2.0]
    h3.remove()
    h1.remove()
    assert model(runtime.tensor([1.0])).tolist() == [1.0]


def test_same_hook_registered_twice_runs_twice_and_removes_independently():
    model = nn.Identity()
    count = []

    def hook(module, inputs, output):
        count.append(1)

    first = model.register_forward_hook(hook)
    second = model.register_forward_hook(hook)
    model(runtime.ones(1))
    assert len(count) == 2
    first.remove()
    third = model.register_forward_hook(hook)
    model(runtime.ones(1))
    assert len(count) == 4
    second.remove()
    third.remove()
    model(runtime.ones(1))
    assert len(count) == 4


# ----------------------------------------------------------------------------- repr


def test_module_repr():
    model = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Dropout(0.1), nn.BatchNorm1d(3),
                          nn.Sequential(nn.Linear(3, 1, bias=False), nn.Sigmoid()))
    assert repr(model) == (
        "Sequential(\n"
        "  (0): Linear(in_features=2, out_features=3, bias=True)\n"
        "  (1): ReLU()\n"
        "  (2): Dropout(p=0.1, inplace=False)\n"
        "  (3): BatchNorm1d(3, eps=1e-05, momentum=0.1, affine=True, bias=True, track_running_stats=True)\n"
        "  (4): Sequential(\n"
        "    (0): Linear(in_features=3, out_features=1, bias=False)\n"
        "    (1): Sigmoid()\n"
        "  )\n"
        ")")
    assert repr(nn.Embedding(10, 3)) == "Embedding(10, 3)"
    assert repr(nn.Softmax(dim=1)) == "Softmax(dim=1)"


def test_parameter_repr_and_leaf():
    p = nn.Parameter(runtime.tensor([1.0, 2.0]))
    assert repr(p) == "Parameter containing:\ntensor([1., 2.], requires_grad=True)"
    assert p.is_leaf and p.requires_grad and p.grad_fn is None and p.grad is None
    assert isinstance(p, runtime.Tensor)
    frozen = nn.Parameter(runtime.ones(1), requires_grad=False)
    assert not frozen.requires_grad
    assert repr(frozen) == "Parameter containing:\ntensor([1.])"


def test_parameter_shares_storage():
    data = runtime.zeros(2)
    p = nn.Parameter(data)
    data.add_(1)
    assert p.tolist() == [1.0, 1.0]


def test_parameter_in_place_outside_no_grad_raises():
    weight = nn.Linear(2, 2).weight
    with pytest.raises(RuntimeError) as info:
        weight.normal_()
    assert str(info.value) == LEAF_INPLACE
    with pytest.raises(RuntimeError, match="a leaf Variable"):
        weight.add_(1)
    with runtime.no_grad():
        before = weight._version
        weight.normal_()
        assert weight._version == before + 1
    assert weight.is_leaf and weight.requires_grad


# ----------------------------------------------------------------------------- init


@pytest.mark.parametrize("call", [
    lambda w: nn.init.zeros_(w),
    lambda w: nn.init.ones_(w),
    lambda w: nn.init.constant_(w, 0.3),
    lambda w: nn.init.uniform_(w, -0.1, 0.1),
    lambda w: nn.init.normal_(w, 0.0, 0.02),
    lambda w: nn.init.xavier_uniform_(w),
    lambda w: nn.init.kaiming_uniform_(w, a=math.sqrt(5)),
    lambda w: nn.init.kaiming_uniform_(w, nonlinearity="relu"),
])
def test_init_in_place_on_parameter(call):
    weight = nn.Linear(4, 3).weight
    data_before = weight._data
    result = call(weight)
    assert result is weight
    assert weight._data is data_before  # in place
    assert weight.is_leaf and weight.requires_grad and weight.grad_fn is None
    assert runtime.is_grad_enabled()


def test_init_values_and_bounds():
    runtime.manual_seed(0)
    w = nn.Parameter(runtime.empty(200, 50))
    assert (arr(nn.init.constant_(w, 0.3)) == np.float32(0.3)).all()
    assert (arr(nn.init.zeros_(w)) == 0).all() and (arr(nn.init.ones_(w)) == 1).all()
    values = arr(nn.init.uniform_(w, -0.2, 0.5))
    assert values.min() >= -0.2 and values.max() <= 0.5 and values.std() > 0.1
    values = arr(nn.init.normal_(w, 1.0, 0.01))
    assert abs(values.mean() - 1.0) < 0.01 and abs(values.std() - 0.01) < 0.002
    bound = math.sqrt(6.0 / (50 + 200))
    values = arr(nn.init.xavier_uniform_(w))
    assert values.min() >= -bound and values.max() <= bound and values.max() > 0.9 * bound
    bound = math.sqrt(2.0) * math.sqrt(3.0 / 50)
    values = arr(nn.init.kaiming_uniform_(w, nonlinearity="relu"))
    assert values.min() >= -bound and values.max() <= bound and values.max() > 0.9 * bound


def test_calculate_gain():
    assert nn.init.calculate_gain("relu") == pytest.approx(math.sqrt(2))
    assert nn.init.calculate_gain("tanh") == pytest.approx(5 / 3)
    assert nn.init.calculate_gain("linear") == 1 and nn.init.calculate_gain("sigmoid") == 1
    assert nn.init.calculate_gain("leaky_relu") == pytest.approx(math.sqrt(2 / (1 + 0.01 ** 2)))
    assert nn.init.calculate_gain("leaky_relu", 0.2) == pytest.approx(math.sqrt(2 / 1.04))
    assert nn.init.calculate_gain("selu") == 0.75
    with pytest.raises(ValueError, match="Unsupported nonlinearity foo"):
        nn.init.calculate_gain("foo")


def test_fan_needs_two_dims():
    with pytest.raises(ValueError, match="Fan in and fan out can not be computed"):
        nn.init.xavier_uniform_(nn.Parameter(runtime.ones(3)))


# ----------------------------------------------------------------------------- layers


def test_linear_default_init_bounds_and_shapes():
    runtime.manual_seed(1)
    layer = nn.Linear(16, 300)
    assert layer.weight.shape == (300, 16) and layer.bias.shape == (300,)
    assert layer.weight.dtype == runtime.float32
    bound = 1 / math.sqrt(16)
    for values in (arr(layer.weight), arr(layer.bias)):
        assert np.abs(values).max() <= bound
        assert np.abs(values).max() > 0.9 * bound  # spans the range
        assert abs(values.mean()) < 0.05
    assert nn.Linear(2, 3, bias=False).bias is None
    assert [n for n, _ in nn.Linear(2, 3, bias=False).named_parameters()] == ["weight"]


def test_linear_forward_math_and_grad_fn():
    layer = nn.Linear(2, 3)
    x = runtime.tensor([[1.0, -2.0], [0.5, 4.0]])
    out = layer(x)
    expected = arr(x) @ arr(layer.weight).T + arr(layer.bias)
    np.testing.assert_allclose(arr(out), expected, rtol=1e-6)
    assert out.grad_fn.name() == "AddmmBackward0"
    out.sum().backward()
    np.testing.assert_allclose(arr(layer.weight.grad), np.tile(arr(x).sum(0), (3, 1)))
    np.testing.assert_allclose(arr(layer.bias.grad), [2.0, 2.0, 2.0])
    # a single vector and a 3-d batch
    assert layer(runtime.ones(2)).shape == (3,)
    assert layer(runtime.ones(4, 5, 2)).shape == (4, 5, 3)


def test_linear_float64():
    layer = nn.Linear(2, 2, dtype=runtime.float64)
    assert layer.weight.dtype == runtime.float64
    assert layer(runtime.ones(1, 2, dtype=runtime.float64)).dtype == runtime.float64


def test_activations():
    x = runtime.tensor([[-1.0, 0.0, 2.0]])
    assert nn.ReLU()(x).tolist() == [[0.0, 0.0, 2.0]]
    np.testing.assert_allclose(arr(nn.Sigmoid()(x)), 1 / (1 + np.exp(-arr(x))), rtol=1e-6)
    np.testing.assert_allclose(arr(nn.Tanh()(x)), np.tanh(arr(x)), rtol=1e-6)
    soft = arr(nn.Softmax(dim=1)(x))
    np.testing.assert_allclose(soft, np.exp(arr(x)) / np.exp(arr(x)).sum(), rtol=1e-6)
    np.testing.assert_allclose(arr(nn.LogSoftmax(dim=1)(x)), np.log(soft), rtol=1e-5)
    assert nn.Identity()(x) is x


def test_sequential_and_module_list():
    seq = nn.Sequential(nn.Linear(2, 3), nn.ReLU())
    assert len(seq) == 2 and isinstance(seq[0], nn.Linear) and isinstance(seq[-1], nn.ReLU)
    assert isinstance(seq[:1], nn.Sequential) and len(seq[:1]) == 1
    seq.append(nn.Linear(3, 1))
    assert [n for n, _ in seq.named_parameters()] == ["0.weight", "0.bias", "2.weight", "2.bias"]
    assert seq(runtime.ones(4, 2)).shape == (4, 1)
    layers = nn.ModuleList([nn.Linear(1, 1) for _ in range(3)])
    assert len(layers) == 3 and len(list(layers.parameters())) == 6
    layers.append(nn.ReLU())
    assert [type(m).__name__ for m in layers] == ["Linear"] * 3 + ["ReLU"]


def test_dropout_eval_is_identity():
    drop = nn.Dropout(0.7).eval()
    x = runtime.randn(5, 5, requires_grad=True)
    assert drop(x) is x  # PyTorch returns the input itself
    assert F.dropout(x, 0.7, training=False) is x


def test_dropout_train_zero_scale_pattern():
    runtime.manual_seed(3)
    p = 0.25
    drop = nn.Dropout(p)
    x = runtime.ones(100, 100, requires_grad=True)
    out = drop(x)
    values = arr(out)
    kept = values != 0
    np.testing.assert_allclose(values[kept], 1 / (1 - p), rtol=1e-6)
    assert 0.70 < kept.mean() < 0.80
    assert out.grad_fn is not None
    out.sum().backward()
    # gradient flows only through the kept elements, scaled the same way
    np.testing.assert_allclose(arr(x.grad), np.where(kept, 1 / (1 - p), 0), rtol=1e-6)


def test_dropout_p_zero_and_no_grad():
    x = runtime.ones(3, 3)
    np.testing.assert_array_equal(arr(nn.Dropout(0.0)(x)), arr(x))
    with runtime.no_grad():
        out = nn.Dropout(0.5)(runtime.ones(4, requires_grad=True))
    assert not out.requires_grad


def test_batchnorm_train_uses_batch_stats_and_updates_running():
    runtime.manual_seed(0)
    bn = nn.BatchNorm1d(3)
    x = runtime.randn(16, 3) * 2 + 5
    data = arr(x)
    out = arr(bn(x))
    expected = (data - data.mean(0)) / np.sqrt(data.var(0) + 1e-5)
    np.testing.assert_allclose(out, expected, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(arr(bn.running_mean), 0.1 * data.mean(0), rtol=1e-5)
    np.testing.assert_allclose(arr(bn.running_var), 0.9 + 0.1 * data.var(0, ddof=1), rtol=1e-5)
    assert int(bn.num_batches_tracked) == 1
    assert bn.num_batches_tracked.dtype == runtime.int64


def test_batchnorm_running_stats_update_under_no_grad():
    bn = nn.BatchNorm1d(2)
    x = runtime.tensor([[1.0, 2.0], [3.0, 6.0]])
    with runtime.no_grad():
        out = bn(x)
        bn(x)
    assert not out.requires_grad
    assert int(bn.num_batches_tracked) == 2
    assert not np.allclose(arr(bn.running_mean), 0)
    np.testing.assert_allclose(arr(bn.running_mean), (1 - 0.9 ** 2) * np.array([2.0, 4.0]), rtol=1e-5)


def test_batchnorm_eval_frozen():
    bn = nn.BatchNorm1d(2)
    bn(runtime.tensor([[1.0, 2.0], [3.0, 6.0]]))
    mean, var = arr(bn.running_mean).copy(), arr(bn.running_var).copy()
    bn.eval()
    x = runtime.tensor([[10.0, -3.0], [0.0, 1.0], [5.0, 5.0]], requires_grad=True)
    out = bn(x)
    np.testing.assert_allclose(arr(out), (arr(x) - mean) / np.sqrt(var + 1e-5), rtol=1e-5)
    np.testing.assert_array_equal(arr(bn.running_mean), mean)
    np.testing.assert_array_equal(arr(bn.running_var), var)
    assert int(bn.num_batches_tracked) == 1
    assert out.requires_grad
    out.sum().backward()
    np.testing.assert_allclose(arr(x.grad), np.tile(1 / np.sqrt(var + 1e-5), (3, 1)), rtol=1e-5)
    np.testing.assert_allclose(arr(bn.bias.grad), [3.0, 3.0])


def test_batchnorm_gradients_train():
    bn = nn.BatchNorm1d(2)
    x = runtime.tensor([[1.0, 2.0], [3.0, 6.0], [2.0, 1.0]], requires_grad=True)
    out = bn(x)
    assert out.grad_fn.name() == "NativeBatchNormBackward0"
    out.sum().backward()
    # the sum of normalised values does not depend on x
    np.testing.assert_allclose(arr(x.grad), 0, atol=1e-5)
    np.testing.assert_allclose(arr(bn.bias.grad), [3.0, 3.0])
    np.testing.assert_allclose(arr(bn.weight.grad), 0, atol=1e-5)


def test_batchnorm_options():
    bn = nn.BatchNorm1d(2, affine=False, track_running_stats=False)
    assert list(bn.parameters()) == [] and list(bn.state_dict()) == []
    out = arr(bn(runtime.tensor([[1.0, 2.0], [3.0, 4.0]])))
    np.testing.assert_allclose(out, [[-1, -1], [1, 1]], atol=1e-3)
    bn.eval()  # without running stats eval still normalises with batch statistics
    np.testing.assert_allclose(arr(bn(runtime.tensor([[1.0, 2.0], [3.0, 4.0]]))), out)
    cumulative = nn.BatchNorm1d(1, momentum=None)
    cumulative(runtime.tensor([[0.0], [2.0]]))
    cumulative(runtime.tensor([[4.0], [6.0]]))
    np.testing.assert_allclose(arr(cumulative.running_mean), [3.0])


def test_embedding():
    emb = nn.Embedding(5, 3)
    assert emb.weight.shape == (5, 3) and emb.weight.requires_grad
    idx = runtime.tensor([[0, 2], [2, 4]])
    out = emb(idx)
    assert out.shape == (2, 2, 3)
    np.testing.assert_array_equal(arr(out)[0, 1], arr(emb.weight)[2])
    assert out.grad_fn.name() == "EmbeddingBackward0"
    out.sum().backward()
    np.testing.assert_array_equal(arr(emb.weight.grad)[:, 0], [1, 0, 2, 0, 1])


# ----------------------------------------------------------------------------- losses

PRED = np.array([[0.5, -1.0, 2.0], [1.5, 0.0, -0.5]], dtype=np.float32)
TARGET = np.array([[1.0, -1.0, 0.0], [0.0, 1.0, -2.0]], dtype=np.float32)
LOGITS = np.array([[2.0, -1.0, 0.5], [0.1, 0.2, 3.0], [-1.0, -2.0, -0.5], [1.0, 1.0, 1.0]],
                  dtype=np.float32)
LABELS = np.array([0, 2, 1, 1])
PROBS = np.array([[1.0, 0.0, 1.0], [0.0, 0.5, 1.0]], dtype=np.float32)


def _reduce(values, reduction):
    return {"mean": values.mean(), "sum": values.sum(), "none": values}[reduction]


def _log_softmax(x):
    shifted = x - x.max(1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(1, keepdims=True))


REDUCTIONS = ["mean", "sum", "none"]


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_mse_loss(reduction):
    pred = runtime.tensor(PRED, requires_grad=True)
    loss = nn.MSELoss(reduction=reduction)(pred, runtime.tensor(TARGET))
    np.testing.assert_allclose(arr(loss), _reduce((PRED - TARGET) ** 2, reduction), rtol=1e-6)
    assert loss.grad_fn.name() == "MseLossBackward0"
    loss.sum().backward()
    scale = 1 / PRED.size if reduction == "mean" else 1
    np.testing.assert_allclose(arr(pred.grad), 2 * (PRED - TARGET) * scale, rtol=1e-6)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_l1_loss(reduction):
    pred = runtime.tensor(PRED, requires_grad=True)
    loss = nn.L1Loss(reduction=reduction)(pred, runtime.tensor(TARGET))
    np.testing.assert_allclose(arr(loss), _reduce(np.abs(PRED - TARGET), reduction), rtol=1e-6)
    assert loss.grad_fn.name() == {"mean": "MeanBackward0", "sum": "SumBackward0",
                                   "none": "AbsBackward0"}[reduction]
    loss.sum().backward()
    scale = 1 / PRED.size if reduction == "mean" else 1
    np.testing.assert_allclose(arr(pred.grad), np.sign(PRED - TARGET) * scale, rtol=1e-6)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_cross_entropy_loss(reduction):
    logits = runtime.tensor(LOGITS, requires_grad=True)
    loss = nn.CrossEntropyLoss(reduction=reduction)(logits, runtime.tensor(LABELS))
    per = -_log_softmax(LOGITS)[np.arange(4), LABELS]
    np.testing.assert_allclose(arr(loss), _reduce(per, reduction), rtol=1e-5)
    assert loss.grad_fn.name() == "NllLossBackward0"
    loss.sum().backward()
    soft = np.exp(_log_softmax(LOGITS))
    expected = soft - np.eye(3)[LABELS]
    if reduction == "mean":
        expected /= 4
    np.testing.assert_allclose(arr(logits.grad), expected, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_nll_loss(reduction):
    log_probs = runtime.tensor(_log_softmax(LOGITS), requires_grad=True)
    loss = nn.NLLLoss(reduction=reduction)(log_probs, runtime.tensor(LABELS))
    per = -_log_softmax(LOGITS)[np.arange(4), LABELS]
    np.testing.assert_allclose(arr(loss), _reduce(per, reduction), rtol=1e-5)
    assert loss.grad_fn.name() == "NllLossBackward0"
    loss.sum().backward()
    expected = -np.eye(3)[LABELS] / (4 if reduction == "mean" else 1)
    np.testing.assert_allclose(arr(log_probs.grad), expected)


def test_nll_loss_ignore_index():
    log_probs = runtime.tensor(_log_softmax(LOGITS))
    labels = runtime.tensor([0, -100, 1, -100])
    loss = F.nll_loss(log_probs, labels)
    per = -_log_softmax(LOGITS)[[0, 2], [0, 1]]
    np.testing.assert_allclose(arr(loss), per.mean(), rtol=1e-5)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_bce_with_logits_loss(reduction):
    logits = runtime.tensor(PRED, requires_grad=True)
    loss = nn.BCEWithLogitsLoss(reduction=reduction)(logits, runtime.tensor(PROBS))
    sig = 1 / (1 + np.exp(-PRED.astype(np.float64)))
    per = -(PROBS * np.log(sig) + (1 - PROBS) * np.log(1 - sig))
    np.testing.assert_allclose(arr(loss), _reduce(per, reduction), rtol=1e-5)
    assert loss.grad_fn.name() == "BinaryCrossEntropyWithLogitsBackward0"
    loss.sum().backward()
    expected = (sig - PROBS) / (PRED.size if reduction == "mean" else 1)
    np.testing.assert_allclose(arr(logits.grad), expected, rtol=1e-5)


def test_bce_with_logits_stable_for_large_logits():
    loss = F.binary_cross_entropy_with_logits(runtime.tensor([100.0, -100.0]),
                                              runtime.tensor([0.0, 1.0]), reduction="none")
    np.testing.assert_allclose(arr(loss), [100.0, 100.0], rtol=1e-6)


def test_loss_invalid_reduction():
    with pytest.raises(ValueError, match="foo is not a valid value for reduction"):
        nn.MSELoss(reduction="foo")(runtime.ones(2), runtime.ones(2))


def test_loss_modules_have_no_parameters():
    for loss in (nn.MSELoss(), nn.L1Loss(), nn.CrossEntropyLoss(), nn.NLLLoss(), nn.BCEWithLogitsLoss()):
        assert list(loss.parameters()) == [] and loss.reduction == "mean"


def test_assigning_a_plain_value_over_a_parameter_or_module():
    layer = nn.Linear(2, 2)
    with pytest.raises(TypeError) as info:
        layer.weight = runtime.ones(2, 2)
    assert str(info.value) == ("cannot assign 'torch.FloatTensor' as parameter 'weight' "
                               "(torch.nn.Parameter or None expected)")
    assert [n for n, _ in layer.named_parameters()] == ["weight", "bias"]
    layer.bias = None  # allowed: stays registered, as None
    assert layer.bias is None and list(layer._parameters) == ["weight", "bias"]
    assert list(layer.state_dict()) == ["weight"]
    layer.bias = nn.Parameter(runtime.zeros(2))
    assert [n for n, _ in layer.named_parameters()] == ["weight", "bias"]
    seq = nn.Sequential(nn.ReLU())
    with pytest.raises(TypeError, match="cannot assign 'int' as child module '0' \\(torch.nn.Module or None expected\\)"):
        setattr(seq, "0", 3)
    assert list(nn.Linear(2, 2, bias=False)._parameters) == ["weight", "bias"]
