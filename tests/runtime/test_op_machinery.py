"""The op machinery's fast paths (runtime/autograd/function.py, engine.py) keep PyTorch's
semantics: forward without recording runs on a shared prototype that keeps nothing, and the
engine handles a root given twice."""

from __future__ import annotations

import threading

import numpy as np

import runtime
from runtime.autograd import functions as F
from runtime.autograd.function import Function


def _op_classes(base=Function):
    for cls in base.__subclasses__():
        if "_Prototype" not in [c.__name__ for c in cls.__mro__]:
            yield cls
            yield from _op_classes(cls)


def test_every_op_has_its_own_prototype():
    for cls in _op_classes():
        assert isinstance(cls._prototype, cls), cls
        assert type(cls._prototype) is not cls, cls  # the stand-in, not a node


def test_forward_without_recording_keeps_nothing_on_the_prototype():
    x = runtime.tensor([[1.0, 5.0], [3.0, 2.0]])
    with runtime.no_grad():
        values, indices = x.max(dim=1)
        (x * 2).sum(dim=0).mean()
    assert values.tolist() == [5.0, 3.0] and indices.tolist() == [1, 0]
    for cls in (F.MaxBackward0, F.MulBackward0, F.SumBackward1, F.MeanBackward0):
        assert vars(cls._prototype) == {}, cls


def test_prototypes_serve_threads_at_once():
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
