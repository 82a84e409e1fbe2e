"""End to end: an MLP trained with DataLoader + Adam on a synthetic, separable set, then an
evaluation loop under no_grad that must build no autograd graph."""

from __future__ import annotations

import gc
import time

import numpy as np
import pytest

import runtime
from runtime import nn, optim
from runtime.autograd.graph import Node
from runtime.utils.data import DataLoader, TensorDataset


def xor_quadrants(n: int, seed: int):
    """Points in [-1, 1]^2 away from the axes; class 1 where x*y > 0 (not linearly separable)."""
    rng = np.random.default_rng(seed)
    points = rng.uniform(0.15, 1.0, (n, 2)) * rng.choice([-1.0, 1.0], (n, 2))
    labels = (points[:, 0] * points[:, 1] > 0).astype(np.int64)
    return runtime.tensor(points.astype(np.float32)), runtime.tensor(labels)


def make_model():
    return nn.Sequential(nn.Linear(2, 32), nn.BatchNorm1d(32), nn.ReLU(), nn.Dropout(0.1),
                         nn.Linear(32, 32), nn.Tanh(), nn.Linear(32, 2))


def live_functions() -> int:
    gc.collect()
    return sum(issubclass(type(o), Node) for o in gc.get_objects())


def evaluate(model, loader):
    correct, total, outputs = 0, 0, []
    model.eval()
    with runtime.no_grad():
        for xb, yb in loader:
            logits = model(xb)
            loss = nn.functional.cross_entropy(logits, yb)
            outputs.extend([logits, loss])
            correct += int((logits.argmax(1) == yb).sum().item())
            total += len(yb)
    return correct / total, outputs


@pytest.fixture(scope="module")
def trained():
    runtime.manual_seed(0)
    x, y = xor_quadrants(512, seed=0)
    dataset = TensorDataset(x, y)
    loader = DataLoader(dataset, batch_size=32, shuffle=True, generator=runtime.Generator(0))
    model = make_model()
    optimizer = optim.Adam(model.parameters(), lr=0.01)
    loss_fn = nn.CrossEntropyLoss()
    losses = []
    start = time.perf_counter()
    for _epoch in range(15):
        model.train()
        total = 0.0
        for xb, yb in loader:
            optimizer.zero_grad()
            loss = loss_fn(model(xb), yb)
            loss.backward()
            optimizer.step()
            total += loss.item()
        losses.append(total / len(loader))
    elapsed = time.perf_counter() - start
    return model, dataset, losses, elapsed


def test_training_reaches_high_accuracy(trained):
    model, dataset, losses, elapsed = trained
    accuracy, _ = evaluate(model, DataLoader(dataset, batch_size=128))
    assert accuracy >= 0.95, (accuracy, losses)
    assert losses[-1] < losses[0] * 0.5
    assert elapsed < 10


def test_parameters_remain_trainable_leaves(trained):
    model = trained[0]
    for name, p in model.named_parameters():
        assert isinstance(p, nn.Parameter), name
        assert p.is_leaf and p.requires_grad and p.grad_fn is None, name
    assert int(model[1].num_batches_tracked) == 15 * 16


def test_generalises_to_fresh_samples(trained):
    model = trained[0]
    x, y = xor_quadrants(400, seed=99)
    accuracy, _ = evaluate(model, DataLoader(TensorDataset(x, y), batch_size=100))
    assert accuracy >= 0.9


def test_eval_loop_under_no_grad_builds_no_graph(trained, monkeypatch):
    model, dataset, _, _ = trained
    loader = DataLoader(dataset, batch_size=64)
    state_before = {k: v.numpy().copy() for k, v in model.state_dict().items()}

    recorded = []
    original = runtime.Tensor._set_history
    monkeypatch.setattr(runtime.Tensor, "_set_history",
                        lambda self, node: (recorded.append(type(node).__name__), original(self, node))[1])
    before = live_functions()
    accuracy, outputs = evaluate(model, loader)
    after = live_functions()
    monkeypatch.undo()

    assert accuracy >= 0.95
    assert recorded == []  # no tensor was given a history
    assert after == before  # no graph node is alive while the outputs are
    assert outputs
    for out in outputs:
        assert out.grad_fn is None and not out.requires_grad and out.is_leaf
    with pytest.raises(RuntimeError, match="element 0 of tensors does not require grad and does not have a grad_fn"):
        outputs[1].backward()
    # eval mode + no_grad: the parameters and BatchNorm statistics did not move
    for key, value in model.state_dict().items():
        np.testing.assert_array_equal(value.numpy(), state_before[key], err_msg=key)
    model.train()


def test_same_forward_with_grad_builds_graph(trained):
    """Control for the test above: the counters do see a graph when one is built."""
    model = trained[0].eval()
    xb = trained[1].tensors[0][:8]
    before = live_functions()
    logits = model(xb)
    assert logits.grad_fn is not None and logits.requires_grad
    assert live_functions() > before
    del logits
    model.train()


def test_no_function_instance_created_under_no_grad(trained, monkeypatch):
    model, dataset, _, _ = trained
    created = []
    original = Node.__init__

    def counting_init(self, *args, **kwargs):
        created.append(type(self).__name__)
        original(self, *args, **kwargs)

    monkeypatch.setattr(Node, "__init__", counting_init)
    evaluate(model, DataLoader(dataset, batch_size=256))
    monkeypatch.undo()
    model.train()
    assert created == []


def test_binary_classifier_with_bce_and_sgd():
    runtime.manual_seed(1)
    rng = np.random.default_rng(1)
    points = rng.normal(0, 1, (256, 3)).astype(np.float32)
    labels = (points @ np.array([1.5, -2.0, 0.5], dtype=np.float32) > 0).astype(np.float32)
    loader = DataLoader(TensorDataset(runtime.tensor(points), runtime.tensor(labels)),
                        batch_size=32, shuffle=True, generator=runtime.Generator(1))
    model = nn.Sequential(nn.Linear(3, 8), nn.ReLU(), nn.Linear(8, 1))
    opt = optim.SGD(model.parameters(), lr=0.2, momentum=0.9)
    loss_fn = nn.BCEWithLogitsLoss()
    for _ in range(10):
        for xb, yb in loader:
            opt.zero_grad()
            loss_fn(model(xb).squeeze(1), yb).backward()
            opt.step()
    with runtime.no_grad():
        predictions = (model(runtime.tensor(points)).squeeze(1) > 0).numpy()
    assert (predictions == labels.astype(bool)).mean() >= 0.95
