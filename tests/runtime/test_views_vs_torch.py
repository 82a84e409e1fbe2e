"""Views with autograd history, on torch and on runtime (the harness of
``test_vs_torch.py``): an in-place change through a view rebases the view and its base
(``CopySlices``, ``AsStridedBackward0``), views taken before are re-derived, and PyTorch's
refusals for views made under ``no_grad``/``inference_mode``, multiple-output views and
``detach_``."""

from __future__ import annotations

import pytest

pytest.importorskip("torch")

from tests.runtime.test_vs_torch import assert_same  # noqa: E402


def _leaf(m):
    return m.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], requires_grad=True)


def inplace_on_a_view_rebases_view_and_base(m):
    a = _leaf(m)
    b = a * 1
    row = b[0]
    row.mul_(2)
    names = row.grad_fn.name(), b.grad_fn.name(), row._version, b._version
    b.sum().backward()
    return names, b, a.grad


def inplace_on_a_view_of_a_view(m):
    a = _leaf(m)
    b = a * 1
    column = b[:, 1]
    cell = column.view(2, 1)
    cell.add_(a[:, :1] * 3)
    names = cell.grad_fn.name(), column.grad_fn.name(), b.grad_fn.name()
    (b.sum() + column.sum()).backward()
    return names, a.grad


def inplace_on_a_transposed_view(m):
    a = _leaf(m)
    t = a.t() * 1
    rows = t[1:]
    rows.add_(1)
    (t * t).sum().backward()
    return t, a.grad


def base_without_history_takes_it_from_the_value(m):
    a = _leaf(m)
    base = m.zeros(2, 3)
    row = base[1]
    row.copy_(a[1] * 2)
    names = row.grad_fn.name(), base.grad_fn.name(), base.requires_grad
    base.sum().backward()
    return names, a.grad


def view_taken_before_its_base_changed(m):
    a = _leaf(m)
    b = a * 1
    row = b[0]
    b.mul_(3)
    name = row.grad_fn.name()
    row.sum().backward()
    return name, a.grad


def sibling_view_after_inplace_on_another(m):
    a = _leaf(m)
    b = a * 1
    first, second = b[0], b[0]
    first.mul_(2)
    name = second.grad_fn.name()
    second.sum().backward()
    return name, a.grad


def setitem_of_a_non_leaf(m):
    a = _leaf(m)
    x = a * 1
    x[0, 1:] = m.tensor([5.0, 6.0], requires_grad=True) * 2
    x.sum().backward()
    return x, a.grad


def view_made_under_no_grad_modified_with_grad(m):
    b = _leaf(m) * 1
    with m.no_grad():
        row = b[0]
    row.mul_(2)


def view_made_under_no_grad_modified_under_no_grad(m):
    b = _leaf(m) * 1
    with m.no_grad():
        row = b[0]
        row.mul_(2)
    return b


def view_of_a_plain_tensor_made_under_no_grad(m):
    c = m.ones(3)
    with m.no_grad():
        part = c[1:]
    part.mul_(2)
    return c


def view_of_a_plain_tensor_made_under_no_grad_given_a_gradient(m):
    c = m.ones(2, 3)
    with m.no_grad():
        row = c[0]
    row.mul_(_leaf(m)[0])


def view_of_a_leaf_made_under_no_grad(m):
    a = _leaf(m)
    with m.no_grad():
        row = a[0]
    row.mul_(2)


def view_made_in_inference_mode(m):
    a = _leaf(m)
    with m.inference_mode():
        row = a[0]
        flags = row.requires_grad, row.grad_fn, row.is_leaf
    return flags


def view_made_in_inference_mode_modified_outside(m):
    b = _leaf(m) * 1
    with m.inference_mode():
        row = b[0]
    row.mul_(2)


def view_made_in_inference_mode_modified_under_no_grad(m):
    b = _leaf(m) * 1
    with m.inference_mode():
        row = b[0]
    with m.no_grad():
        row.mul_(2)
    return b.detach()


def unbind_output_modified(m):
    first, _ = (_leaf(m) * 1).unbind(0)
    first.mul_(2)


def split_output_modified(m):
    _, second = (_leaf(m) * 1).split(1, 0)
    second.mul_(2)


def chunk_output_modified(m):
    first, _ = (_leaf(m) * 1).chunk(2, 1)
    first.mul_(2)


def unbind_output_modified_under_no_grad(m):
    b = _leaf(m) * 1
    first, _ = b.unbind(0)
    with m.no_grad():
        first.mul_(2)
    return b.detach()


def unbind_of_a_plain_tensor_given_a_gradient(m):
    _, second = m.ones(2, 3).unbind(0)
    second.mul_(_leaf(m)[0])


def split_and_chunk_values_and_gradients(m):
    a = _leaf(m)
    parts = (a * 2).unbind(1)
    sum(p.sum() * (i + 1) for i, p in enumerate(parts)).backward()
    names = ([p.grad_fn.name() for p in (a * 1).split([1, 1])],
             [p.grad_fn.name() for p in (a * 1).chunk(2, 1)],
             [p.grad_fn.name() for p in (a * 1).unbind()])
    sizes = [p.shape for p in m.ones(5, 2).split(2)], [p.shape for p in m.ones(5).chunk(2)]
    return names, sizes, a.grad, m.arange(6).split([1, 5])


def outputs_of_unbind_and_split_are_one_node(m):
    a = _leaf(m)
    first, second = (a * 1).unbind(0)
    seen = []
    first.register_hook(seen.append)  # its node runs for second only: the hook sees None
    first.retain_grad()
    second.sum().backward()
    pieces = (a * 1).split(2, 1)
    shared = [p.grad_fn is pieces[0].grad_fn for p in pieces], [p.output_nr for p in pieces]
    (pieces[1] * 3).sum().backward()
    return seen, first.grad, shared, [p.shape for p in pieces], a.grad


def retain_grad_follows_inplace(m):
    b = _leaf(m) * 1
    b.retain_grad()
    b.mul_(2)
    row = b[0]
    row.retain_grad()
    row.mul_(3)
    (b * b).sum().backward()
    return b.grad, row.grad, b.retains_grad, row.retains_grad


def hooks_of_a_view_stay_with_its_old_node(m):
    b = _leaf(m) * 1
    row = b[0]
    calls = []
    row.register_hook(lambda grad: calls.append("old"))
    row.mul_(2)
    row.register_hook(lambda grad: calls.append("new"))
    b.sum().backward()
    return calls


def function_marking_a_view_dirty(m):
    class Double(m.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            x.mul_(2)
            ctx.mark_dirty(x)
            return x

        @staticmethod
        def backward(ctx, grad):
            return grad * 2

    a = _leaf(m)
    b = a * 1
    row = Double.apply(b[1])
    names = row.grad_fn.name(), b.grad_fn.name(), row._version
    (b * b).sum().backward()
    return names, b, a.grad


def view_needing_a_copy(m):
    m.zeros(2, 3).t().view(-1)


def reshape_copies_where_a_view_cannot_be(m):
    transposed = (_leaf(m) * 1).t()
    flat = transposed.reshape(-1)
    return (flat, flat._base is None, transposed.is_contiguous(),
            transposed.contiguous().reshape(6)._base is not None)


def detach_in_place_of_a_view(m):
    (_leaf(m) * 1)[0].detach_()


def detach_in_place_of_a_plain_view(m):
    m.ones(3)[:2].detach_()


CASES = [
    inplace_on_a_view_rebases_view_and_base, inplace_on_a_view_of_a_view,
    inplace_on_a_transposed_view, base_without_history_takes_it_from_the_value,
    view_taken_before_its_base_changed, sibling_view_after_inplace_on_another,
    setitem_of_a_non_leaf, view_made_under_no_grad_modified_with_grad,
    view_made_under_no_grad_modified_under_no_grad, view_of_a_plain_tensor_made_under_no_grad,
    view_of_a_plain_tensor_made_under_no_grad_given_a_gradient,
    view_of_a_leaf_made_under_no_grad, view_made_in_inference_mode,
    view_made_in_inference_mode_modified_outside,
    view_made_in_inference_mode_modified_under_no_grad, unbind_output_modified,
    split_output_modified, chunk_output_modified, unbind_output_modified_under_no_grad,
    unbind_of_a_plain_tensor_given_a_gradient, split_and_chunk_values_and_gradients,
    outputs_of_unbind_and_split_are_one_node, retain_grad_follows_inplace,
    hooks_of_a_view_stay_with_its_old_node,
    function_marking_a_view_dirty, view_needing_a_copy, reshape_copies_where_a_view_cannot_be,
    detach_in_place_of_a_view, detach_in_place_of_a_plain_view,
]


@pytest.mark.parametrize("program", CASES, ids=[c.__name__ for c in CASES])
def test_same_outcome_as_torch(program):
    assert_same(program)
