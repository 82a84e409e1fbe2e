"""The in-place function forms the leaf rules count (NG201), against torch: ``torch.relu_``,
``F.relu_``, ``F.relu(inplace=True)``, ``nn.ReLU(inplace=True)``, ``torch._foreach_mul_``/
``_foreach_add_`` and ``clamp(out=)``.  Each program runs on both modules; outcome, exception
and warnings must be identical."""

from __future__ import annotations

import pytest

pytest.importorskip("torch")

from tests.runtime.test_vs_torch import assert_same  # noqa: E402


def _leaf(m):
    return m.tensor([-1.0, 0.5, 2.0], requires_grad=True)


ON_A_LEAF = {
    "torch_relu_": lambda m: m.relu_(_leaf(m)),
    "functional_relu_": lambda m: m.nn.functional.relu_(_leaf(m)),
    "functional_relu_inplace": lambda m: m.nn.functional.relu(_leaf(m), inplace=True),
    "relu_module_inplace": lambda m: m.nn.ReLU(inplace=True)(_leaf(m)),
    "foreach_mul_": lambda m: m._foreach_mul_([m.ones(2), _leaf(m)], 2.0),
    "foreach_add_": lambda m: m._foreach_add_([_leaf(m)], [m.ones(3)], alpha=0.5),
    "clamp_out_itself": lambda m: (lambda w: m.clamp(w, 0.0, 1.0, out=w))(_leaf(m)),
    "clamp_out_plain": lambda m: m.clamp(_leaf(m), 0.0, 1.0, out=m.zeros(3)),
}


@pytest.mark.parametrize("name", ON_A_LEAF)
def test_refused_on_a_leaf_that_requires_grad(name):
    assert assert_same(ON_A_LEAF[name])["error"] is not None


def _under_no_grad(m):
    w, v = _leaf(m), _leaf(m)
    with m.no_grad():
        m.relu_(w)
        m._foreach_mul_([w, v], 0.5)
        m._foreach_add_([v], [w], alpha=2.0)
        returned = m.clamp(v, 0.0, 1.0, out=v)
        m.nn.ReLU(inplace=True)(v)
    return w, v, returned is v, w._version, v._version, w.is_leaf and w.requires_grad


def _on_non_leaves(m):
    x = _leaf(m)
    y = x * 2
    m.nn.functional.relu_(y)
    z = m.nn.ReLU()(x * 1)
    (y.sum() + z.sum()).backward()
    return x.grad, y.grad_fn.name(), repr(m.nn.ReLU(inplace=True)), repr(m.nn.ReLU())


@pytest.mark.parametrize("program", [_under_no_grad, _on_non_leaves])
def test_values_and_versions(program):
    assert assert_same(program)["error"] is None
