"""Custom ``autograd.Function``\\ s and higher-order gradients, run on torch and on runtime
(the harness of ``test_vs_torch.py``: same values, same errors, same warnings)."""

from __future__ import annotations

import warnings

import pytest

pytest.importorskip("torch")

from tests.runtime.test_vs_torch import assert_same  # noqa: E402


def _exp(m):
    class Exp(m.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            result = x.exp()
            ctx.save_for_backward(result)
            return result

        @staticmethod
        def backward(ctx, grad):
            result, = ctx.saved_tensors
            return grad * result

    return Exp


def _leaf(m, values=(0.5, 1.0)):
    return m.tensor(list(values), requires_grad=True)


# ------------------------------------------------------------------------ custom Functions


def function_forward_backward(m):
    x = _leaf(m)
    y = _exp(m).apply(x)
    y.sum().backward()
    return y, x.grad, type(y.grad_fn).__name__


def function_differentiated_twice(m):
    x = _leaf(m)
    grad, = m.autograd.grad(_exp(m).apply(x).sum(), x, create_graph=True)
    grad.sum().backward()
    return grad.detach(), grad.requires_grad, x.grad


def function_under_no_grad(m):
    with m.no_grad():
        y = _exp(m).apply(_leaf(m))
    return y


def function_needs_input_grad_and_non_tensor_arguments(m):
    seen = []

    class Scale(m.autograd.Function):
        @staticmethod
        def forward(ctx, a, b, k):
            seen.append(ctx.needs_input_grad)
            ctx.save_for_backward(a, b)
            ctx.k = k
            return a * b * k

        @staticmethod
        def backward(ctx, grad):
            a, b = ctx.saved_tensors
            return (grad * b * ctx.k if ctx.needs_input_grad[0] else None,
                    grad * a * ctx.k if ctx.needs_input_grad[1] else None, None)

    a, b = _leaf(m), m.tensor([3.0, 4.0])
    Scale.apply(a, b, 2.0).sum().backward()
    with m.no_grad():
        Scale.apply(a, b, 2.0)
    return a.grad, seen


def function_setup_context_form(m):
    class Scale(m.autograd.Function):
        @staticmethod
        def forward(x, k):
            return x * k

        @staticmethod
        def setup_context(ctx, inputs, output):
            ctx.k = inputs[1]

        @staticmethod
        def backward(ctx, grad):
            return grad * ctx.k, None

    x = _leaf(m)
    y = Scale.apply(x, 3.0)
    y.sum().backward()
    return y, x.grad


def function_mark_dirty(m):
    class Double(m.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            x.mul_(2)
            ctx.mark_dirty(x)
            return x

        @staticmethod
        def backward(ctx, grad):
            return grad * 2

    x = _leaf(m)
    y = x * 1
    out = Double.apply(y)
    out.sum().backward()
    return out is y, y._version, x.grad


def function_mark_dirty_on_a_leaf(m):
    class Double(m.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            x.mul_(2)
            ctx.mark_dirty(x)
            return x

        @staticmethod
        def backward(ctx, grad):
            return grad * 2

    return Double.apply(_leaf(m))


def function_mark_non_differentiable_and_materialized_grads(m):
    received = []

    class Sorted(m.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            order = m.tensor([1, 0])
            ctx.mark_non_differentiable(order)
            return x * 2, order

        @staticmethod
        def backward(ctx, grad, grad_order):
            received.append(grad_order)
            return grad * 2

    x = _leaf(m)
    values, order = Sorted.apply(x)
    values.sum().backward()
    return values.requires_grad, order.requires_grad, x.grad, received


def function_set_materialize_grads_false(m):
    received = []

    class Pair(m.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.set_materialize_grads(False)
            return x * 1, x * 2

        @staticmethod
        def backward(ctx, first, second):
            received.append(second is None)
            return first

    x = _leaf(m)
    Pair.apply(x)[0].sum().backward()
    return x.grad, received


def function_returning_its_input(m):
    class Identity(m.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x

        @staticmethod
        def backward(ctx, grad):
            return grad * 5

    x = _leaf(m)
    y = Identity.apply(x)
    y.sum().backward()
    return y is x, y._base is x, x.grad_fn, x.grad


def function_saved_tensor_modified(m):
    class Keep(m.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x * 2

        @staticmethod
        def backward(ctx, grad):
            x, = ctx.saved_tensors
            return grad * x

    y = _leaf(m) * 1
    out = Keep.apply(y)
    y.add_(1)
    out.sum().backward()


def function_saved_tensors_after_backward(m):
    class Keep(m.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x * 2

        @staticmethod
        def backward(ctx, grad):
            x, = ctx.saved_tensors
            return grad * x

    out = Keep.apply(_leaf(m) * 1)
    out.sum().backward()
    return out.grad_fn.saved_tensors


def function_once_differentiable(m):
    class Square(m.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x * x

        @staticmethod
        @m.autograd.function.once_differentiable
        def backward(ctx, grad):
            x, = ctx.saved_tensors
            return 2 * x * grad

    x = _leaf(m)
    grad, = m.autograd.grad(Square.apply(x), x, m.ones(2, requires_grad=True), create_graph=True)
    names = grad.grad_fn.name()
    grad.sum().backward()
    return names


def function_wrong_number_of_gradients(m):
    class Product(m.autograd.Function):
        @staticmethod
        def forward(ctx, x, y):
            return x * y

        @staticmethod
        def backward(ctx, grad):
            return grad

    x = _leaf(m)
    Product.apply(x, x).sum().backward()


def function_gradient_for_a_number(m):
    class Scale(m.autograd.Function):
        @staticmethod
        def forward(ctx, x, k):
            return x * k

        @staticmethod
        def backward(ctx, grad):
            return grad, grad

    Scale.apply(_leaf(m), 2).sum().backward()


def function_gradient_of_the_wrong_shape(m):
    class Double(m.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2

        @staticmethod
        def backward(ctx, grad):
            return m.ones(3)

    Double.apply(_leaf(m)).sum().backward()


def function_gradient_broadcast_back(m):
    class Double(m.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2

        @staticmethod
        def backward(ctx, grad):
            return m.ones(3, 2)

    x = _leaf(m)
    Double.apply(x).sum().backward()
    return x.grad


def function_without_forward(m):
    class Empty(m.autograd.Function):
        pass

    Empty.apply(_leaf(m))


def function_without_backward(m):
    class Forward(m.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2

    Forward.apply(_leaf(m)).sum().backward()


def gradcheck_of_a_function(m):
    x = m.tensor([0.5, 1.0], dtype=m.float64, requires_grad=True)
    return (m.autograd.gradcheck(_exp(m).apply, (x,)),
            m.autograd.gradgradcheck(_exp(m).apply, (x,)))


# ------------------------------------------------------------------------ higher order


def second_derivative_of_a_cube(m):
    x = _leaf(m, (1.0, -2.0, 0.5))
    first, = m.autograd.grad((x ** 3).sum(), x, create_graph=True)
    second, = m.autograd.grad(first.sum(), x)
    return first.detach(), first.requires_grad, second, second.requires_grad


def backward_create_graph_then_backward_of_grad(m):
    x = _leaf(m)
    with warnings.catch_warnings():  # torch warns about the .grad cycle once per process
        warnings.simplefilter("ignore")
        (x.sin() * x).sum().backward(create_graph=True)
    grad = x.grad
    has_history = grad.requires_grad and grad.grad_fn is not None
    x.grad = None
    grad.sum().backward()
    return has_history, x.grad


def create_graph_retains_the_graph(m):
    x = _leaf(m)
    y = (x.exp() * x).sum()
    m.autograd.grad(y, x, create_graph=True)
    return m.autograd.grad(y, x)


def create_graph_inside_no_grad(m):
    x = _leaf(m)
    y = (x * x).sum()
    with m.no_grad():
        grad, = m.autograd.grad(y, x, create_graph=True)
    return grad.detach(), grad.requires_grad


def grad_without_create_graph_has_no_history(m):
    x = _leaf(m)
    grad, = m.autograd.grad((x * x).sum(), x)
    return grad


def gradient_penalty(m):
    m.manual_seed(0)
    weight = m.tensor([[0.2, -0.5, 0.3], [0.7, 0.1, -0.4]], requires_grad=True)
    bias = m.tensor([0.1, -0.2], requires_grad=True)
    x = m.tensor([[1.0, 2.0, -1.0], [0.5, -0.3, 0.8]], requires_grad=True)
    out = m.nn.functional.linear(x, weight, bias).tanh().log_softmax(dim=1)
    loss = m.nn.functional.nll_loss(out, m.tensor([1, 0]))
    grad, = m.autograd.grad(loss, x, create_graph=True)
    (loss + (grad.norm(dim=1) - 1).pow(2).mean()).backward()
    return weight.grad, bias.grad, x.grad


def hessian_vector_product(m):
    a = m.tensor([[2.0, 1.0], [1.0, 3.0]])
    x = _leaf(m, (0.5, -1.0))
    energy = (x @ a @ x) / 2 + x.sigmoid().sum() + (x.softmax(dim=0) * x).sum()
    grad, = m.autograd.grad(energy, x, create_graph=True)
    hvp, = m.autograd.grad(grad, x, m.tensor([1.0, 0.5]))
    return hvp


def second_order_through_batch_norm_and_mse(m):
    x = m.tensor([[1.0, 2.0], [0.5, -1.0], [2.0, 0.0]], requires_grad=True)
    norm = m.nn.BatchNorm1d(2)
    loss = m.nn.functional.mse_loss(norm(x) * x, m.zeros(3, 2))
    grad, = m.autograd.grad(loss, x, create_graph=True)
    grad.pow(2).sum().backward()
    return x.grad


CASES = [
    function_forward_backward, function_differentiated_twice, function_under_no_grad,
    function_needs_input_grad_and_non_tensor_arguments, function_setup_context_form,
    function_mark_dirty, function_mark_dirty_on_a_leaf,
    function_mark_non_differentiable_and_materialized_grads,
    function_set_materialize_grads_false, function_returning_its_input,
    function_saved_tensor_modified, function_saved_tensors_after_backward,
    function_once_differentiable, function_wrong_number_of_gradients,
    function_gradient_for_a_number, function_gradient_of_the_wrong_shape,
    function_gradient_broadcast_back, function_without_forward, function_without_backward,
    gradcheck_of_a_function, second_derivative_of_a_cube,
    backward_create_graph_then_backward_of_grad, create_graph_retains_the_graph,
    create_graph_inside_no_grad, grad_without_create_graph_has_no_history, gradient_penalty,
    hessian_vector_product, second_order_through_batch_norm_and_mse,
]


@pytest.mark.parametrize("program", CASES, ids=[c.__name__ for c in CASES])
def test_same_outcome_as_torch(program):
    assert_same(program)


def test_backward_with_create_graph_warns_about_the_grad_cycle():
    import runtime

    x = _leaf(runtime)
    with pytest.warns(UserWarning, match="^Using backward\\(\\) with create_graph=True will "
                                          "create a reference cycle"):
        (x * x).sum().backward(create_graph=True)
