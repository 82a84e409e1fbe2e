"""The autograd engine through the public API: accumulation, retain_graph, autograd.grad,
hooks, deep graphs, version counters, in-place rules, and that no_grad/inference_mode build
no graph at all."""

from __future__ import annotations

import gc
import sys
import weakref

import numpy as np
import pytest

import runtime
from runtime.autograd.graph import Node


def leaf(*values, dtype=None):
    return runtime.tensor(list(values), dtype=dtype, requires_grad=True)


def values(tensor):
    return tensor.detach().tolist()


# ---------------------------------------------------------------------- accumulation


def test_gradients_accumulate_across_backward_calls():
    x = leaf(1.0, 2.0)
    (x * 3).sum().backward()
    assert values(x.grad) == [3.0, 3.0]
    (x * x).sum().backward()
    assert values(x.grad) == [5.0, 7.0]
    x.grad = None
    (x * 2).sum().backward()
    assert values(x.grad) == [2.0, 2.0]


def test_grad_zeroed_in_place_under_no_grad():
    x = leaf(1.0, 2.0)
    (x * 3).sum().backward()
    with runtime.no_grad():
        x.grad.zero_()
    (x * 2).sum().backward()
    assert values(x.grad) == [2.0, 2.0]


def test_shared_subexpression_accumulates_within_one_backward():
    x = leaf(2.0)
    h = x * x          # used twice
    y = h * 3 + h.exp() * 0 + h
    y.sum().backward()
    assert values(x.grad) == pytest.approx([16.0])  # d(4h)/dx = 4 * 2x


def test_uses_outside_the_backward_neither_hold_up_nor_split_a_gradient():
    x = leaf(1.0, 2.0)
    h = x * x
    kept = h * 5  # uses of h that the backward below does not run: one kept, one dropped
    h * 7
    seen = []
    h.register_hook(lambda grad: seen.append(values(grad)))
    (h.tanh() + h * 3).sum().backward(retain_graph=True)
    dh = 1 - np.tanh([1.0, 4.0]) ** 2 + 3
    assert len(seen) == 1 and seen[0] == pytest.approx(dh)  # once, whole
    assert values(x.grad) == pytest.approx(dh * [2.0, 4.0])
    x.grad = None
    kept.sum().backward()
    assert values(x.grad) == pytest.approx([10.0, 20.0])
    assert len(seen) == 2 and seen[1] == pytest.approx([5.0, 5.0])


def test_grad_dtype_and_shape_follow_the_leaf():
    x = runtime.ones(2, 3, dtype=runtime.float64, requires_grad=True)
    (x * runtime.tensor([1.0, 2.0, 3.0])).sum().backward()
    assert x.grad.shape == (2, 3)
    assert x.grad.dtype == runtime.float64
    assert x.grad.requires_grad is False and x.grad.is_leaf


def test_non_scalar_backward_needs_a_gradient():
    x = leaf(1.0, 2.0)
    y = x * 2
    with pytest.raises(RuntimeError, match="^grad can be implicitly created only for scalar outputs$"):
        y.backward()
    y.backward(runtime.tensor([1.0, 10.0]))
    assert values(x.grad) == [2.0, 20.0]


def test_backward_with_inputs_only_fills_those():
    x, z = leaf(1.0), leaf(2.0)
    (x * z).sum().backward(inputs=[x])
    assert values(x.grad) == [2.0]
    assert z.grad is None


def test_backward_of_a_loss_built_under_no_grad_fails():
    x = leaf(1.0)
    with runtime.no_grad():
        loss = (x * 3).sum()
    assert loss.grad_fn is None and not loss.requires_grad
    with pytest.raises(RuntimeError, match="^element 0 of tensors does not require grad and does not have a grad_fn$"):
        loss.backward()


def test_backward_itself_runs_under_no_grad():
    x = leaf(1.0, 2.0)
    loss = (x * 3).sum()
    with runtime.no_grad():
        loss.backward()
    assert values(x.grad) == [3.0, 3.0]


# ---------------------------------------------------------------------- retain_graph


FREED = "Trying to backward through the graph a second time"


def test_second_backward_without_retain_graph_fails():
    x = leaf(1.0, 2.0)
    y = (x.exp() * x).sum()
    y.backward()
    with pytest.raises(RuntimeError, match=FREED):
        y.backward()


def test_retain_graph_allows_a_second_backward():
    x = leaf(1.0, 2.0)
    y = (x * x).sum()
    y.backward(retain_graph=True)
    y.backward(retain_graph=True)
    y.backward()
    assert values(x.grad) == [6.0, 12.0]
    with pytest.raises(RuntimeError, match=FREED):
        y.backward()


def test_graph_without_saved_tensors_can_be_walked_twice():
    # Like PyTorch: only *saved* values are freed; add and sum save nothing.
    x = leaf(1.0, 2.0)
    y = (x + 1).sum()
    y.backward()
    y.backward()
    assert values(x.grad) == [2.0, 2.0]


def test_backward_frees_saved_arrays():
    x = leaf(1.0, 2.0)
    y = x.exp()
    node = y.grad_fn
    assert node._saved
    y.sum().backward()
    assert node._saved is None


# ---------------------------------------------------------------------- autograd.grad


def test_autograd_grad_returns_gradients_and_leaves_grad_alone():
    x, w = leaf(1.0, 2.0), leaf(3.0, 4.0)
    loss = (x * w).sum()
    gx, gw = runtime.autograd.grad(loss, [x, w])
    assert values(gx) == [3.0, 4.0] and values(gw) == [1.0, 2.0]
    assert x.grad is None and w.grad is None
    assert not gx.requires_grad


def test_autograd_grad_single_input_and_grad_outputs():
    x = leaf(1.0, 2.0)
    (g,) = runtime.autograd.grad(x * x, x, grad_outputs=runtime.tensor([1.0, 0.5]))
    assert values(g) == [2.0, 2.0]


def test_autograd_grad_with_respect_to_an_intermediate():
    x = leaf(1.0, 2.0)
    h = x * 2
    (g,) = runtime.autograd.grad((h * h).sum(), [h])
    assert values(g) == [4.0, 8.0]


def test_autograd_grad_unused_input():
    x, unused = leaf(1.0), leaf(2.0)
    with pytest.raises(RuntimeError, match="^The differentiated Tensor at index 1 appears to not have been used in the graph"):
        runtime.autograd.grad((x * 2).sum(), [x, unused])
    gx, gu = runtime.autograd.grad((x * 2).sum(), [x, unused], allow_unused=True)
    assert values(gx) == [2.0] and gu is None


def test_autograd_grad_frees_the_graph_unless_retained():
    x = leaf(1.0)
    y = (x * x).sum()
    runtime.autograd.grad(y, x, retain_graph=True)
    runtime.autograd.grad(y, x)
    with pytest.raises(RuntimeError, match=FREED):
        runtime.autograd.grad(y, x)


# ---------------------------------------------------------------------- hooks, retain_grad


def test_hook_on_leaf_sees_and_replaces_gradient():
    x = leaf(1.0, 2.0)
    seen = []
    x.register_hook(lambda g: seen.append(values(g)))
    x.register_hook(lambda g: g * 10)
    (x * 3).sum().backward()
    assert seen == [[3.0, 3.0]]
    assert values(x.grad) == [30.0, 30.0]


def test_hook_on_non_leaf_changes_what_flows_back():
    x = leaf(1.0, 2.0)
    h = x * 2
    h.register_hook(lambda g: g + 1)
    (h * 3).sum().backward()
    assert values(x.grad) == [8.0, 8.0]  # (3 + 1) * 2


def test_hook_handle_remove():
    x = leaf(1.0)
    handle = x.register_hook(lambda g: g * 0)
    handle.remove()
    (x * 5).sum().backward()
    assert values(x.grad) == [5.0]


def test_hook_on_tensor_without_grad_fails():
    with pytest.raises(RuntimeError, match="doesn't require gradient"):
        runtime.ones(1).register_hook(lambda g: g)


def test_retain_grad_on_non_leaf():
    x = leaf(1.0, 2.0)
    h = x * 2
    h.retain_grad()
    (h * h).sum().backward()
    assert values(h.grad) == [4.0, 8.0]
    assert values(x.grad) == [8.0, 16.0]


def test_non_leaf_grad_warns_and_is_none():
    h = leaf(1.0) * 2
    with pytest.warns(UserWarning, match="The .grad attribute of a Tensor that is not a leaf Tensor is being accessed"):
        assert h.grad is None


# ---------------------------------------------------------------------- deep graphs


def test_deep_chain_backward_has_no_recursion_limit():
    depth = 100_000
    assert depth > sys.getrecursionlimit() * 10
    x = leaf(1.0, dtype=runtime.float64)
    y = x
    for _ in range(depth):
        y = y * 1.00001
    y.sum().backward()
    assert values(x.grad) == pytest.approx([1.00001 ** depth])
    del y
    gc.collect()  # freeing the chain must not recurse either


def test_deep_chain_of_mixed_ops_and_autograd_grad():
    x = leaf(0.5, dtype=runtime.float64)
    y = x
    for i in range(20_000):
        y = (y + 1.0) - 1.0 if i % 2 else y.view(1) * 1.0
    (g,) = runtime.autograd.grad(y.sum(), x)
    assert values(g) == pytest.approx([1.0])


def test_wide_graph_many_uses_of_one_leaf():
    x = leaf(1.0)
    total = x * 0
    for _ in range(5_000):
        total = total + x
    total.sum().backward()
    assert values(x.grad) == [5000.0]


# ---------------------------------------------------------------------- version counters


def test_in_place_ops_bump_the_version():
    t = runtime.zeros(3)
    assert t._version == 0
    t.add_(1)
    t.mul_(2)
    t[0] = 5
    assert t._version == 3
    assert values(t) == [5.0, 2.0, 2.0]


@pytest.mark.parametrize("make_view", [
    lambda b: b[0], lambda b: b[:, 1:], lambda b: b.view(6), lambda b: b.t(),
    lambda b: b.transpose(0, 1), lambda b: b.unsqueeze(0), lambda b: b.permute(1, 0),
    lambda b: b.reshape(3, 2), lambda b: b.squeeze(), lambda b: b[None],
], ids=["select", "slice", "view", "t", "transpose", "unsqueeze", "permute", "reshape",
        "squeeze", "none_index"])
def test_views_share_the_version_counter_and_storage(make_view):
    base = runtime.zeros(2, 3)
    view = make_view(base)
    view.add_(1)
    assert base._version == view._version == 1
    assert float(base.sum()) == view.numel()  # the write went through to the base
    base.mul_(3)
    assert view._version == 2
    assert float(view.sum()) == 3 * view.numel()


def test_expand_shares_version_with_base():
    base = runtime.zeros(1, 3)
    expanded = base.expand(4, 3)
    base.add_(1)
    assert expanded._version == 1
    assert values(expanded) == [[1.0, 1.0, 1.0]] * 4


def test_data_shares_storage_but_not_the_version():
    x = leaf(1.0, 2.0)
    x.data.add_(1)
    assert x._version == 0
    assert values(x) == [2.0, 3.0]
    d = x.data
    assert not d.requires_grad and d.is_leaf


def test_detach_shares_storage_and_version():
    y = leaf(1.0, 2.0) * 2
    d = y.detach()
    d.add_(1)
    assert y._version == 1 and d._version == 1
    assert values(y) == [3.0, 5.0]
    assert not d.requires_grad and d.is_leaf


def test_modified_saved_tensor_is_detected():
    x = leaf(1.0, 2.0)
    y = x.sigmoid()
    y.mul_(2)
    with pytest.raises(RuntimeError, match=r"\[torch.FloatTensor \[2\]\], which is output 0 of Sigmoid, is at version 1; expected version 0 instead"):
        y.sum().backward()


def test_modified_saved_input_is_named_after_its_current_grad_fn():
    x = leaf(1.0, 2.0)
    h = x * 1
    y = h * h
    h.add_(1)
    with pytest.raises(RuntimeError, match=r"which is output 0 of Add, is at version 1; expected version 0"):
        y.sum().backward()


def test_modified_leaf_is_described_without_an_op():
    x = runtime.ones(2, 3, dtype=runtime.float64, requires_grad=True)
    y = x * x
    with runtime.no_grad():
        x.mul_(2)
    with pytest.raises(RuntimeError, match=r"inplace operation: \[torch.DoubleTensor \[2, 3\]\] is at version 1; expected version 0"):
        y.sum().backward()


def test_modifying_an_unsaved_input_is_fine():
    x = leaf(1.0, 2.0)
    h = x * 1
    y = h + 2  # add saves nothing
    h.add_(1)
    y.sum().backward()
    assert values(x.grad) == [1.0, 1.0]


# ---------------------------------------------------------------------- leaves and in-place


def test_in_place_on_leaf_fails_with_grad_on():
    x = leaf(1.0, 2.0)
    with pytest.raises(RuntimeError, match="^a leaf Variable that requires grad is being used in an in-place operation.$"):
        x += 1
    with pytest.raises(RuntimeError, match="^a view of a leaf Variable that requires grad is being used in an in-place operation.$"):
        x[0] = 5
    with pytest.raises(RuntimeError, match="^a view of a leaf Variable"):
        x[:1].add_(1)
    assert x._version == 0 and values(x) == [1.0, 2.0]


def test_in_place_under_no_grad_keeps_grad_and_leaf_status():
    x = leaf(1.0, 2.0)
    (x * 3).sum().backward()
    grad = x.grad
    with runtime.no_grad():
        x -= 0.5 * x.grad
        x[0] = 7.0
        x.mul_(2)
    assert values(x) == [14.0, 1.0]
    assert x.grad is grad and values(x.grad) == [3.0, 3.0]
    assert x.is_leaf and x.requires_grad and x.grad_fn is None
    assert x._version == 3
    (x * 2).sum().backward()  # still trainable
    assert values(x.grad) == [5.0, 5.0]


def test_rebinding_under_no_grad_makes_a_new_constant():
    w = leaf(1.0, 2.0)
    (w * w).sum().backward()
    with runtime.no_grad():
        w = w - 0.1 * w.grad
    assert not w.requires_grad and w.is_leaf and w.grad is None


def test_in_place_on_non_leaf_rebases_history():
    x = leaf(1.0, 2.0)
    h = x * 2
    h.exp_()
    assert h.grad_fn.name() == "ExpBackward0"
    assert h.grad_fn.next_functions[0][0].name() == "MulBackward0"
    h.sum().backward()
    assert values(x.grad) == pytest.approx((2 * np.exp([2.0, 4.0])).tolist())


def test_requires_grad_rules():
    y = leaf(1.0) * 2
    with pytest.raises(RuntimeError, match="^you can only change requires_grad flags of leaf variables."):
        y.requires_grad = False
    with pytest.raises(RuntimeError, match="^Only Tensors of floating point and complex dtype can require gradients$"):
        runtime.ones(2, dtype=runtime.long, requires_grad=True)
    with pytest.raises(RuntimeError, match="^Can't call numpy\\(\\) on Tensor that requires grad. Use tensor.detach\\(\\).numpy\\(\\) instead.$"):
        leaf(1.0).numpy()
    t = runtime.ones(2)
    assert t.requires_grad_() is t and t.requires_grad and t.is_leaf


# ---------------------------------------------------------------------- the seed program


def test_seed_program():
    nn = runtime.nn

    class NN(nn.Module):
        def __init__(self):
            super().__init__()
            self.w1 = nn.Parameter(runtime.tensor([3.0]))
            self.w2 = nn.Parameter(runtime.tensor([2.0]))

        def forward(self, x):
            return self.w1 * x + self.w2 * x ** 2

    x = runtime.tensor([2.0], requires_grad=True)
    model = NN()
    y = model(x)
    loss = nn.MSELoss()(y, runtime.tensor([10.0]))
    loss.backward()
    assert values(y) == [14.0]
    assert loss.item() == 16.0
    assert values(x.grad) == [88.0]  # 2 (y - 10) * (3 + 4x)
    assert loss.grad_fn.name() == "MseLossBackward0"
    assert values(model.w1.grad) == [16.0] and values(model.w2.grad) == [32.0]
    assert repr(x) == "tensor([2.], requires_grad=True)"


# ---------------------------------------------------- no graph under no_grad / inference


def _live_nodes():
    gc.collect()
    # type(), not isinstance(): some torch objects warn when their __class__ is read.
    return sum(issubclass(type(o), Node) for o in gc.get_objects())


def _forward(x, w, keep):
    """A small network; weak references to every intermediate tensor and array go to keep."""
    steps = []
    h = x @ w
    steps.append(h)
    h = h.sigmoid()
    steps.append(h)
    h = (h * h).exp()
    steps.append(h)
    h = h.log_softmax(1)
    steps.append(h)
    out = (h ** 2).mean()
    for t in steps:
        keep.append(weakref.ref(t))
        keep.append(weakref.ref(t._data))
    return out


@pytest.mark.parametrize("mode", ["grad", "no_grad", "inference_mode"])
def test_forward_under_no_grad_records_no_graph_and_saves_nothing(mode):
    x = runtime.randn(4, 3)
    w = runtime.randn(3, 5, requires_grad=True)
    keep = []
    baseline = _live_nodes()
    if mode == "grad":
        out = _forward(x, w, keep)
    else:
        with getattr(runtime, mode)():
            out = _forward(x, w, keep)
    gc.collect()
    alive = [r for r in keep if r() is not None]
    if mode == "grad":
        # The control: with grad on, the graph holds nodes and keeps intermediates' arrays.
        assert out.grad_fn is not None
        assert _live_nodes() - baseline >= 6
        assert alive
        out.backward()
        del out
        gc.collect()
        assert _live_nodes() == baseline
    else:
        assert out.grad_fn is None and not out.requires_grad and out.is_leaf
        assert out.is_inference() == (mode == "inference_mode")
        assert _live_nodes() == baseline, "no graph node may outlive the forward"
        assert alive == [], "no intermediate tensor or array may be retained"
    assert w.grad_fn is None and w.is_leaf


def test_graph_is_freed_when_the_output_is_dropped():
    x = leaf(1.0, 2.0)
    baseline = _live_nodes()
    y = (x.exp() * x).sigmoid().sum()
    node = weakref.ref(y.grad_fn)
    assert _live_nodes() > baseline
    del y
    gc.collect()
    assert node() is None
    assert _live_nodes() == baseline
