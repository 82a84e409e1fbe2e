"""Differential tests of issue 21's API against torch: ops' error messages, factories,
dtype promotion, grad mode inside inference mode, ``F.linear``'s nodes, ``F.dropout``'s
checks, ``backward(inputs=)``/``autograd.grad`` inputs, and hooks on graph nodes.  Each
program runs on both modules; outcome, exception and warnings must be identical."""

from __future__ import annotations

import pytest

pytest.importorskip("torch")

from tests.runtime.test_vs_torch import assert_same  # noqa: E402


def _x(m):
    return m.tensor([[1.0, -2.0, 3.0], [0.5, 4.0, -1.0]], requires_grad=True)


def _increment_version(m):
    x = _x(m)
    y = x.sigmoid()
    versions = [y._version]
    m.autograd.graph.increment_version(y)
    versions.append(y._version)
    y.sum().backward()  # sigmoid saved its output, which now counts as changed


ERRORS = {
    "narrow_past_the_end": lambda m: _x(m).narrow(0, 1, 5),
    "select_out_of_range": lambda m: _x(m).select(0, 5),
    "repeat_too_few_dims": lambda m: _x(m).repeat(2),
    "dot_of_matrices": lambda m: m.dot(_x(m), _x(m)),
    "dot_sizes": lambda m: m.dot(_x(m)[0], _x(m)[1, :2]),
    "dot_dtypes": lambda m: m.dot(_x(m)[0].double(), _x(m)[1]),
    "outer_of_matrix": lambda m: m.outer(_x(m), _x(m)[0]),
    "outer_of_matrix_second": lambda m: m.outer(_x(m)[0], _x(m)),
    "transpose_of_leaf": lambda m: _x(m).transpose_(0, 1),
    "bernoulli_of_leaf": lambda m: _x(m).bernoulli_(),
    "gelu_approximate": lambda m: m.nn.functional.gelu(_x(m), approximate="fast"),
    "bce_out_of_range": lambda m: m.nn.functional.binary_cross_entropy(_x(m), _x(m).detach()),
    "bce_target_size": lambda m: m.nn.functional.binary_cross_entropy(
        _x(m).sigmoid(), m.ones(3)),
    "bce_weight_requires_grad": lambda m: m.nn.functional.binary_cross_entropy(
        _x(m).sigmoid(), m.ones(2, 3), weight=m.ones(3, requires_grad=True)),
    "bce_reduction": lambda m: m.nn.functional.binary_cross_entropy(
        _x(m).sigmoid(), m.ones(2, 3), reduction="all"),
    "tensor_of_vectors": lambda m: m.tensor([m.ones(2), m.ones(2)]),
    "dropout_p_above_1": lambda m: m.nn.functional.dropout(_x(m), 1.5),
    "dropout_p_below_0": lambda m: m.nn.functional.dropout(_x(m), -0.1, training=False),
    "mean_of_long": lambda m: m.tensor([1, 2]).mean(),
    "mean_of_long_dim": lambda m: m.tensor([[1, 2]]).mean(0),
    "mm_shapes": lambda m: m.ones(4, 5) @ m.ones(3, 2),
    "linear_shapes": lambda m: m.nn.functional.linear(m.ones(4, 5), m.ones(2, 3)),
    "linear_shapes_1d": lambda m: m.nn.functional.linear(m.ones(5), m.ones(2, 3), m.ones(2)),
    "linear_shapes_3d": lambda m: m.nn.functional.linear(m.ones(6, 4, 5), m.ones(2, 3)),
    "zeros_on_cuda": lambda m: m.zeros(2, device="cuda"),
    "tensor_on_cuda": lambda m: m.tensor([1.0], device="cuda"),
    "ones_like_on_cuda": lambda m: m.ones_like(_x(m), device="cuda"),
    "arange_on_cuda": lambda m: m.arange(3, device=m.device("cuda")),
    "backward_gradient_shape": lambda m: (_x(m) * 2).backward(m.ones(3)),
    "grad_output_shape": lambda m: m.autograd.grad([_x(m) * 2], [_x(m)], [m.ones(1, 3)]),
    "mul_out_requires_grad": lambda m: m.mul(_x(m), 2.0, out=m.zeros(2, 3)),
    "add_out_requires_grad": lambda m: m.add(m.ones(2), m.ones(2), out=m.zeros(2, requires_grad=True)),
    "view_of_unbind_output_in_place": lambda m: (_x(m) * 1).unbind(0)[0].view_as(
        m.ones(3)).mul_(2),
    "backward_empty_inputs": lambda m: (_x(m) * 2).sum().backward(inputs=[]),
    "grad_empty_inputs": lambda m: m.autograd.grad((_x(m) * 2).sum(), []),
    "post_accumulate_hook_on_non_leaf": lambda m: (_x(m) * 2).register_post_accumulate_grad_hook(
        lambda t: None),
    "increment_version": _increment_version,
    "post_accumulate_hook_without_grad": lambda m: m.ones(2).register_post_accumulate_grad_hook(
        lambda t: None),
}


@pytest.mark.parametrize("name", ERRORS)
def test_error(name):
    outcome = assert_same(ERRORS[name])
    assert outcome["error"] is not None


def _out_variants(m):
    x, out, resized = _x(m), m.zeros(2, 3), m.zeros(4)
    with m.no_grad():
        returned = m.mul(x, x, out=out)
        m.sub(x, 1, alpha=2, out=resized)
    m.div(m.ones(2), 4, out=m.zeros(2))
    return returned is out, out, resized, out._version


def _enable_grad_in_inference_mode(m):
    x = _x(m)
    with m.inference_mode():
        with m.enable_grad():
            return m.is_grad_enabled(), x * 2, x.view(6)


def _linear_nodes(m):
    F = m.nn.functional
    w, b = m.ones(2, 3, requires_grad=True), m.ones(2, requires_grad=True)
    outs = [F.linear(m.ones(*shape), w, bias) for shape in ((4, 3), (3,), (5, 4, 3))
            for bias in (None, b)]
    outs[-1].sum().backward()
    return outs, w.grad, b.grad


def _backward_inputs_one_tensor(m):
    x, y = _x(m), m.ones(2, 3, requires_grad=True)
    (x * y).sum().backward(inputs=y)
    return x.grad, y.grad


def _node_hooks(m):
    log = []
    a = m.tensor([1.0, 2.0], requires_grad=True)
    b = a.clone()
    b.grad_fn.register_prehook(lambda grads: log.append("pre") or (grads[0] * 2,))
    b.grad_fn.register_hook(lambda grad_in, grad_out: log.append("post") or (grad_in[0] + 1,))
    removed = b.grad_fn.register_prehook(lambda grads: log.append("removed"))
    removed.remove()
    b.register_hook(lambda grad: log.append("tensor") or grad * 3)
    accumulate = b.grad_fn.next_functions[0][0]
    accumulate.register_prehook(lambda grads: log.append("acc pre"))
    accumulate.register_hook(lambda grad_in, grad_out: log.append(("acc post", len(grad_in))))
    a.register_post_accumulate_grad_hook(lambda t: log.append(("accumulated", t.grad.tolist())))
    b.sum().backward()
    return log, a.grad, type(removed).__name__


def _hook_returns(m, returned):
    x = m.ones(2, requires_grad=True)
    y = x * 2
    y.grad_fn.register_prehook(lambda grads: returned)
    y.sum().backward()
    return x.grad


def _grad_skips_nodes_it_does_not_need(m):
    log = []
    a = m.tensor(1.0, requires_grad=True)
    b = a * 2
    c = b * 2
    b.register_hook(lambda grad: log.append("b tensor"))
    b.grad_fn.register_prehook(lambda grads: log.append("b pre"))
    a.register_hook(lambda grad: log.append("a tensor"))
    m.autograd.grad(c, inputs=b, retain_graph=True)
    log.append("|")
    m.autograd.grad(c, inputs=(a, b), retain_graph=True)
    log.append("|")
    c.backward(inputs=(b,))
    return log, a.grad, b.grad


def _post_accumulate_hook_returning(m):
    x = m.ones(2, requires_grad=True)
    x.register_post_accumulate_grad_hook(lambda t: t.grad)
    x.sum().backward()


PROGRAMS = {
    "out_variants": _out_variants,
    "tensor_copy_construct_warns": lambda m: m.tensor(_x(m)),
    # (torch warns once per process for elements that require grad: not compared here)
    "tensor_of_tensors_list_is_quiet": lambda m: m.tensor([m.ones(2)[0], m.zeros(())]),
    "as_tensor_is_quiet": lambda m: m.as_tensor(_x(m), dtype=m.float64),
    "factories_on_cpu": lambda m: [m.zeros(2, device="cpu"), m.ones(2, device=m.device("cpu")),
                                  m.arange(3, device="cpu"), m.full((2,), 1.5, device="cpu"),
                                  m.zeros_like(_x(m), device="cpu")],
    "enable_grad_in_inference_mode": _enable_grad_in_inference_mode,
    "long_times_float": lambda m: m.tensor([1, 2]) * 1.5,
    "long_plus_float": lambda m: 1.5 + m.tensor([1, 2]),
    "long_divided": lambda m: m.tensor([1, 2]) / 2,
    "float_minus_long": lambda m: 1.5 - m.tensor([1, 2]),
    "long_times_float32_tensor": lambda m: m.tensor([1, 2]) * m.tensor([0.5, 0.25]),
    "float32_tensor_times_long": lambda m: m.tensor([0.5, 0.25]) * m.tensor([1, 2]),
    "long_times_float64_tensor": lambda m: m.tensor([1, 2]) * m.tensor([0.5, 0.25], dtype=m.float64),
    "long_of_requires_grad": lambda m: [_x(m).long(), (_x(m) * 2).int(), _x(m).to(m.bool)],
    "linear_nodes": _linear_nodes,
    "dropout_p_1_zeros": lambda m: m.nn.functional.dropout(_x(m), 1.0),
    "dropout_module_p_1_zeros": lambda m: m.nn.Dropout(1.0)(_x(m)),
    "backward_inputs_one_tensor": _backward_inputs_one_tensor,
    "node_hooks": _node_hooks,
    "prehook_returns_none": lambda m: _hook_returns(m, None),
    "prehook_returns_not_a_tuple": lambda m: _hook_returns(m, 1),
    "prehook_returns_too_many": lambda m: _hook_returns(m, (m.ones(2), m.ones(2))),
    "grad_skips_nodes_it_does_not_need": _grad_skips_nodes_it_does_not_need,
    "post_accumulate_hook_returning": _post_accumulate_hook_returning,
    "removable_handle_name": lambda m: type(m.ones(1, requires_grad=True).register_hook(
        lambda g: None)).__name__,
}


@pytest.mark.parametrize("name", PROGRAMS)
def test_same_outcome(name):
    assert_same(PROGRAMS[name])
