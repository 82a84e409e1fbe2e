"""The op machinery's fast paths (runtime/autograd/node.py, runtime/tensor.py's apply,
engine.py) keep PyTorch's semantics: an op that records nothing runs on the shared null
context, which keeps nothing, and the engine handles a root given twice."""

from __future__ import annotations

import threading

import numpy as np

import runtime
from runtime.autograd.graph import Node
from runtime.autograd.node import NULL_CTX


def test_forward_without_recording_makes_no_node_and_keeps_nothing(monkeypatch):
    made = []
    monkeypatch.setattr(Node, "__init__", lambda self: made.append(type(self).__name__))
    x = runtime.tensor([[1.0, 5.0], [3.0, 2.0]])
    with runtime.no_grad():
        values, indices = x.max(dim=1)
        (x * 2).sum(dim=0).mean()
    y = runtime.tensor([1.0, 2.0])
    (y / y).exp()  # grad enabled, but nothing requires grad
    assert values.tolist() == [5.0, 3.0] and indices.tolist() == [1, 0]
    assert made == []
    assert not hasattr(NULL_CTX, "__dict__")  # so writes to it cannot be kept


def test_null_ctx_needs_no_input_grad():
    assert NULL_CTX.needs_input_grad[0] is False and NULL_CTX.needs_input_grad[5] is False
    assert not any(NULL_CTX.needs_input_grad)


def test_null_ctx_serves_threads_at_once():
    rng = np.random.default_rng(0)
    arrays = [rng.normal(size=(50, 7)).astype(np.float32) for _ in range(8)]
    expected = [a.argmax(axis=1) for a in arrays]
    results, errors = {}, []

    def work(index):
        try:
            with runtime.no_grad():
                for _ in range(200):
                    _, indices = runtime.tensor(arrays[index]).max(dim=1)
                    if indices.numpy().tolist() != expected[index].tolist():
                        raise AssertionError(f"thread {index} saw another thread's indices")
            results[index] = True
        except BaseException as error:  # reported below, from the main thread
            errors.append(error)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(arrays))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors and len(results) == len(arrays)


def test_backward_of_the_same_root_twice_accumulates_both():
    x = runtime.ones(2, requires_grad=True)
    y = (x * 3).sum()
    runtime.autograd.backward([y, y])
    assert x.grad.tolist() == [6.0, 6.0]  # as PyTorch


def test_broadcast_gradient_is_summed_to_the_leaf_shape_after_data_is_replaced():
    bias = runtime.zeros(3, requires_grad=True)
    (runtime.ones(2, 3) + bias).sum().backward()
    bias.data = runtime.zeros(1, 3)
    bias.grad = None
    (runtime.ones(2, 3) + bias).sum().backward()
    assert bias.grad.shape == (1, 3) and bias.grad.tolist() == [[2.0, 2.0, 2.0]]
