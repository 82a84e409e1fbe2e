"""A backward pass without ``create_graph`` runs array-safe formulas on bare arrays and may
adopt a leaf's gradient without a copy: what it gives must not differ from torch (dtypes,
broadcasting, 0-d values, hooks in the middle, gradients not shared, the same graph
differentiated again with ``create_graph``)."""

from __future__ import annotations

import pytest

pytest.importorskip("torch")

from tests.runtime.test_vs_torch import assert_same  # noqa: E402


def integer_operand_keeps_float32(m):
    x = m.tensor([1.0, 2.0, 3.0], requires_grad=True)
    counts = m.tensor([1, 2, 3])
    y = x * counts
    seen = []
    y.register_hook(lambda grad: seen.append(repr(grad.dtype)))
    (y / counts * counts).sum().backward()
    return x.grad, seen


def float64_operand(m):
    x = m.tensor([1.0, 2.0], requires_grad=True)
    weights = m.tensor([0.5, 4.0], dtype=m.float64)
    (x * weights).tanh().sum().backward()
    return x.grad


def broadcast_operands(m):
    column = m.tensor([[1.0], [2.0]], requires_grad=True)
    row = m.tensor([0.5, -1.0, 2.0], requires_grad=True)
    ((column * row).relu() + row - column).sigmoid().mean().backward()
    return column.grad, row.grad


def zero_dimensional(m):
    x = m.tensor(0.3, requires_grad=True)
    ((x * 2 + 1).exp().log() / 3 - x.sqrt()).backward()
    return x.grad


def hooks_in_the_middle(m):
    x = m.tensor([[1.0, -2.0], [3.0, 0.5]], requires_grad=True)
    hidden = (x * 3).relu()
    hidden.register_hook(lambda grad: grad * 10)
    hidden.grad_fn.register_prehook(lambda grads: (grads[0] + 1,))
    out = m.nn.functional.linear(hidden, m.ones(2, 2), m.zeros(2))
    out.sum().backward()
    return x.grad


def again_with_create_graph(m):
    x = m.tensor([0.5, -1.5, 2.0], requires_grad=True)
    y = (x.tanh() * x).relu().sum()
    first, = m.autograd.grad(y, x, retain_graph=True)
    second, = m.autograd.grad(y, x, create_graph=True)
    third, = m.autograd.grad(second.sum(), x)
    return first, second, third, second.grad_fn.name()


def relu_backward_recorded(m):
    x = m.tensor([-1.0, 0.5, 2.0], requires_grad=True)
    y = x.relu()
    grad, = m.autograd.grad((y * y).sum(), x, create_graph=True)
    return grad, grad.grad_fn.name(), m.autograd.grad(grad.sum(), x)


def loss_backward_recorded(m):
    """cross_entropy's backward runs on arrays, or, with create_graph, is recorded as
    torch records it (NllLossBackwardBackward0, LogSoftmaxBackwardDataBackward0), ignored
    rows included."""
    logits = m.tensor([[0.5, -1.0, 2.0], [1.5, 0.2, -0.3], [0.1, 0.4, 0.9]], requires_grad=True)
    results = []
    for reduction in ("mean", "sum", "none"):
        log_probs = logits.log_softmax(1)
        loss = m.nn.functional.nll_loss(log_probs, m.tensor([2, -100, 0]), reduction=reduction)
        seed = (m.ones(loss.shape) * 0.5).requires_grad_()
        plain, = m.autograd.grad(loss, logits, seed, retain_graph=True)
        of_log_probs, of_logits = m.autograd.grad(loss, (log_probs, logits), seed,
                                                  create_graph=True)
        again = m.autograd.grad((of_logits * of_logits).sum() + (of_log_probs * 3).sum(),
                                (logits, seed))
        results += [plain, of_logits, again, of_log_probs.grad_fn.name(),
                    of_logits.grad_fn.name()]
    return results


def loss_saves_its_input(m):
    """nll_loss saves its log-probabilities, as torch does: their gradient's own gradient
    (zeros) exists, and changing them in place before backward is refused."""
    log_probs = m.tensor([[-0.5, -1.0, -2.0], [-1.5, -0.2, -0.3]], requires_grad=True)
    loss = m.nn.functional.nll_loss(log_probs, m.tensor([2, 0]))
    grad, = m.autograd.grad(loss, log_probs, create_graph=True)
    again = m.autograd.grad(grad.sum(), log_probs)
    with m.no_grad():
        log_probs.add_(1)
    return grad, grad.grad_fn.name(), again, loss.backward()


def saved_value_modified_in_place(m):
    x = m.tensor([1.0, 2.0], requires_grad=True)
    y = x * 2
    z = y.tanh()
    z.mul_(2)
    z.sum().backward()


def adopted_gradients_stay_unshared(m):
    """A leaf's first gradient may become its .grad without a copy, but only one nothing
    else holds: the seed, a gradient a hook kept, one handed to two inputs are copied."""
    x = m.ones(3, requires_grad=True)
    y = m.ones(3, requires_grad=True)
    seed = m.tensor([1.0, 2.0, 3.0])
    kept = []
    hidden = x * 2
    hidden.register_hook(lambda grad: kept.append(grad))
    (hidden + y + x).backward(seed)
    x.grad.mul_(10)
    y.grad.add_(1)
    z = m.ones(2, requires_grad=True)
    w = m.ones(2, requires_grad=True)
    (z + w).sum().backward()
    z.grad.add_(5)
    return x.grad, y.grad, seed, kept, z.grad, w.grad


CASES = [integer_operand_keeps_float32, adopted_gradients_stay_unshared, float64_operand,
         broadcast_operands, zero_dimensional, hooks_in_the_middle, again_with_create_graph,
         relu_backward_recorded, loss_backward_recorded,
         loss_saves_its_input, saved_value_modified_in_place]


@pytest.mark.parametrize("program", CASES, ids=[c.__name__ for c in CASES])
def test_same_as_torch(program):
    assert_same(program)
