"""Differential tests for the API that training scripts touch (issue 21): each program runs on
torch and on runtime and must give the same values, exceptions (type and message) and
warnings.  torch's own "warn once" warnings are made to warn every time, as runtime does."""

from __future__ import annotations

import pickle
import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import runtime  # noqa: E402
from tests.runtime.test_vs_torch import run  # noqa: E402


def assert_same(program):
    previous = torch.is_warn_always_enabled()
    torch.set_warn_always(True)
    try:
        expected = run(program, torch)
    finally:
        torch.set_warn_always(previous)
    assert run(program, runtime) == expected
    return expected


def _linear(m, weight, bias):
    layer = m.nn.Linear(len(weight[0]), len(weight))
    with m.no_grad():
        layer.weight.copy_(m.tensor(weight))
        layer.bias.copy_(m.tensor(bias))
    return layer


# ------------------------------------------------------------------------------ grad modes


def set_grad_enabled_none(m):
    m.set_grad_enabled(None)


def set_grad_enabled_int(m):
    m.set_grad_enabled(0)


def set_grad_enabled_str(m):
    m.set_grad_enabled("x")


def set_grad_enabled_decorator_without_argument(m):
    @m.set_grad_enabled
    def predict(x):
        return x * 2

    return predict


def set_grad_enabled_numpy_bool(m):
    m.set_grad_enabled(np.bool_(True))


def set_grad_enabled_repr(m):
    with m.set_grad_enabled(mode=True) as entered:
        return repr(m.set_grad_enabled(False)), entered


def set_grad_enabled_leaves_mode_unchanged_after_bad_argument(m):
    try:
        m.set_grad_enabled(1)
    except TypeError:
        pass
    return m.is_grad_enabled()


def no_grad_decorating_a_class(m):
    seen = []

    @m.no_grad()
    class Model:
        def __init__(self) -> None:
            seen.append(m.is_grad_enabled())

        def forward(self):
            return m.is_grad_enabled()

    return seen, Model().forward(), seen


def autograd_grad_mode_module(m):
    x = m.ones(2, requires_grad=True)
    with m.autograd.grad_mode.no_grad():
        y = x * 2
    with m.autograd.grad_mode.set_grad_enabled(False):
        z = x * 2
    return y.requires_grad, z.requires_grad, m.is_grad_enabled()


def is_inference(m):
    x = m.ones(2)
    with m.inference_mode():
        y = m.ones(2)
    return m.is_inference(x), m.is_inference(y), m.is_inference(y * 2)


# ------------------------------------------------------------------------------ tensors


def requires_grad_true_on_non_leaf(m):
    y = m.ones(2, requires_grad=True) * 2
    return y.requires_grad_() is y, y.requires_grad, y.requires_grad_(True) is y


def requires_grad_false_on_non_leaf(m):
    (m.ones(2, requires_grad=True) * 2).requires_grad_(False)


def requires_grad_setter_on_non_leaf(m):
    y = m.ones(2, requires_grad=True) * 2
    y.requires_grad = True


def requires_grad_setter_not_bool(m):
    m.ones(2).requires_grad = 1


def requires_grad_deleter(m):
    x = m.ones(2)
    del x.requires_grad


def numpy_inside_no_grad(m):
    x = m.ones(2, requires_grad=True)
    with m.no_grad():
        return x.numpy().tolist()


def numpy_force(m):
    return (m.ones(2, requires_grad=True) * 3).numpy(force=True).tolist()


def numpy_requires_grad(m):
    m.ones(2, requires_grad=True).numpy()


def retains_grad(m):
    x = m.ones(2, requires_grad=True)
    y = x * 2
    before = y.retains_grad
    y.retain_grad()
    x.retain_grad()
    return x.retains_grad, before, y.retains_grad


def grad_setter_not_tensor(m):
    m.ones(2, requires_grad=True).grad = 0


def grad_setter_wrong_shape(m):
    m.ones(2, requires_grad=True).grad = m.ones(3)


def grad_setter_wrong_dtype(m):
    m.ones(2, requires_grad=True).grad = m.ones(2, dtype=m.float64)


def grad_setter_integer_dtype(m):
    m.ones(2, requires_grad=True).grad = m.ones(2, dtype=m.int64)


def grad_setter_itself(m):
    x = m.ones(2)
    x.grad = x


def grad_setter_and_deleter(m):
    x = m.ones(2, requires_grad=True)
    x.grad = m.full((2,), 3.0)
    first = x.grad
    del x.grad
    return first, x.grad


def data_setter_not_tensor(m):
    m.ones(2).data = 0


def data_setter_integer_on_leaf_requiring_grad(m):
    m.ones(2, requires_grad=True).data = m.ones(2, dtype=m.int64)


def data_setter_new_shape(m):
    x = m.ones(2, requires_grad=True)
    x.data = m.zeros(3)
    return x


def data_deleter(m):
    x = m.ones(2)
    del x.data


def data_ptr_of_views(m):
    x = m.zeros(4)
    return x.data_ptr() == x.detach().data_ptr(), x[1:].data_ptr() - x.data_ptr()


def float_of_one_element_requiring_grad(m):
    return float(m.ones(1, requires_grad=True) * 2)


def float_of_many_elements(m):
    float(m.ones(2))


def int_of_many_elements(m):
    int(m.ones(2))


def int_of_one_element_requiring_grad(m):
    return int(m.ones(1, requires_grad=True) * 2)


def index_with_integer_tensor(m):
    return [10, 20, 30][m.tensor(1)]


def index_with_float_tensor(m):
    return [10, 20, 30][m.tensor(1.0)]


def new_factories(m):
    x = m.ones(2, dtype=m.float64)
    return (x.new_zeros(2, 3), x.new_zeros((1, 2)), x.new_ones(3, dtype=m.int64),
            x.new_full((2,), 7), x.new_empty(0).shape, x.new_zeros(2, requires_grad=True))


def legacy_constructors(m):
    x = m.ones(2, dtype=m.float64)
    # sizes give uninitialised memory in PyTorch: only shapes and dtypes are compared
    return (m.LongTensor([0, 2]), m.FloatTensor(2, 3).shape, m.BoolTensor(2).dtype,
            m.LongTensor().shape,
            isinstance(m.ones(2), m.FloatTensor), isinstance(m.ones(2), m.LongTensor),
            x.new(3).shape, x.new([1, 2]), x.new().shape, x.new(m.Size([1, 2])).shape)


def pickle_round_trip(m):
    copy = pickle.loads(pickle.dumps(m.tensor([1.0, 2.0], requires_grad=True)))
    return copy, copy.requires_grad, copy.is_leaf


def pickle_non_leaf(m):
    copy = pickle.loads(pickle.dumps(m.ones(2, requires_grad=True) * 2))
    return copy, copy.is_leaf


def _backward_twice(m, make):
    """``make(leaf)``'s sum, backward twice without retain_graph: the second fails where the
    graph saved something the first freed."""
    leaf = m.tensor([[1.0, -2.0, 3.0], [4.0, 5.0, -6.0]], requires_grad=True)
    out = make(leaf)
    name = out.grad_fn.name()
    out.sum().backward()
    try:
        out.sum().backward()
    except RuntimeError as error:
        return name, str(error), leaf.grad
    return name, None, leaf.grad


def _set(index, value=7.0):
    def make(leaf):
        copy = leaf * 1
        copy[index] = value
        return copy
    return make


def graphs_freed_by_backward(m):
    index = m.tensor([[0], [2]])
    return [_backward_twice(m, make) for make in (
        lambda a: a[[0, 1, 1]], lambda a: a[:, 1:], lambda a: a[0], lambda a: a.gather(1, index),
        lambda a: a.masked_fill(a.detach() > 2, 0.0),
        lambda a: m.nn.functional.embedding(m.tensor([1, 0, 1]), a),
        lambda a: m.nn.functional.nll_loss(a, m.tensor([2, 0])),
        _set([0, 1]), _set((slice(None), [0, 2])), _set(0), _set((1, slice(0, 2))),
        _set(m.tensor(1)), _set(m.tensor([[True, False, True], [False, False, True]])))]


def advanced_setitem_on_a_plain_tensor_given_a_gradient(m):
    leaf = m.tensor([1.0, 2.0], requires_grad=True)
    target = m.zeros(2, 3)
    target[[1, 0], [2, 2]] = leaf * 3
    target.sum().backward()
    return target, leaf.grad


def _outcome(m, make):
    try:
        made = make()
    except RuntimeError as error:
        return str(error)
    name = made.grad_fn.name() if made.grad_fn is not None else None
    return m.is_inference(made), made.requires_grad, made._is_view(), made.is_leaf, name


def inference_tensors_outside_inference_mode(m):
    """Ops on inference tensors alone are not recorded (a view of one is no view); with a
    normal tensor among the inputs they are."""
    with m.inference_mode():
        c = m.ones(2, 3, requires_grad=True)
        d = m.ones(2, 3)
    return [_outcome(m, make) for make in (
        lambda: c * 2, lambda: c.view(-1), lambda: c + m.ones(2, 3), lambda: c.sum(),
        lambda: c.t(), lambda: c[0], lambda: d.view(-1), lambda: c.unbind()[0],
        lambda: c.exp(), lambda: c * m.ones(2, 3, requires_grad=True), lambda: c.tanh(),
        lambda: c @ d.t(), lambda: m.var_mean(c)[0])]


def views_made_in_inference_mode(m):
    with m.inference_mode():
        inference = m.ones(2, 3, requires_grad=True)
        of_inference = _outcome(m, lambda: inference.view(-1))
    base = m.ones(2, 3, requires_grad=True).clone()
    with m.inference_mode():
        view = base.view(-1)
        of_normal = _outcome(m, lambda: view)
    before = _outcome(m, lambda: view)
    base.add_(1)
    return of_inference, of_normal, before, _outcome(m, lambda: view)


def view_made_in_inference_mode_after_a_sibling_changed(m):
    base = m.ones(2, 3, requires_grad=True).clone()
    with m.inference_mode():
        view = base[0]
    base[1].mul_(2)
    return _outcome(m, lambda: view)


def accumulate_grad_post_hooks_see_the_stored_gradient(m):
    leaf = m.tensor([1.0, 2.0], requires_grad=True)
    accumulate = (leaf * 1).grad_fn.next_functions[0][0]
    seen = []
    leaf.register_post_accumulate_grad_hook(lambda tensor: tensor.grad.add_(0.5))
    accumulate.register_hook(lambda grad_in, grad_out: seen.append(grad_out[0].clone()))
    (leaf * 3).sum().backward()
    (leaf * 5).sum().backward()  # .grad exists now: the hook sees the incoming gradient
    return seen, leaf.grad


def _backward_after(m, change, saved_by):
    leaf = m.tensor([1.0, 2.0], requires_grad=True)
    middle = leaf * 1
    out = saved_by(middle)
    change(leaf, middle)
    out.sum().backward()
    return leaf.grad


def saved_non_leaf_detached_in_place(m):
    _backward_after(m, lambda leaf, middle: middle.detach_(), lambda middle: middle * middle)


def detached_non_leaf_not_needed_by_backward(m):
    return (_backward_after(m, lambda leaf, middle: middle.detach_(), lambda middle: middle * 3),
            _backward_after(m, lambda leaf, middle: middle.detach_(), lambda middle: middle.exp()))


def leaf_no_longer_requiring_grad_gets_no_gradient(m):
    return (_backward_after(m, lambda leaf, middle: leaf.requires_grad_(False),
                            lambda middle: middle * middle),
            _backward_after(m, lambda leaf, middle: leaf.detach_(), lambda middle: middle * 2))


def _call(node, *grads):
    try:
        return node(*grads)
    except TypeError as error:
        return str(error)


def calling_a_grad_fn_directly(m):
    x = m.tensor([1.0, 2.0], requires_grad=True)
    w = m.tensor([3.0, -1.0], requires_grad=True)
    product = x * w
    first, second = x.unbind()
    accumulate = product.grad_fn.next_functions[0][0]
    results = [_call(product.grad_fn, m.ones(2)), _call(product.grad_fn),
               _call(product.grad_fn, m.ones(2), m.ones(2)), _call(product.grad_fn, None),
               _call(product.grad_fn, 1.0), _call(product.sum().grad_fn, m.tensor(2.0)),
               _call(first.grad_fn, m.tensor(1.0), None), _call(accumulate, m.ones(2)), x.grad]
    with m.no_grad():
        results.append(_call(product.grad_fn, m.ones(2)))
    return results


# ------------------------------------------------------------------------------ devices


def device_objects(m):
    cpu = m.device("cpu")
    return (repr(cpu), str(cpu), repr(m.device("cuda", 0)), str(m.device("cuda:1")),
            cpu == m.device("cpu"), cpu == "cpu", m.ones(1).device == cpu, str(m.ones(1).device))


def device_unknown_type(m):
    m.device("gpu")


def device_bad_string(m):
    m.device("cuda:x")


def cuda_is_not_available(m):
    return m.cuda.is_available(), m.cuda.device_count()


def tensor_cuda(m):
    m.ones(2).cuda()


def tensor_to_cuda(m):
    m.ones(2).to("cuda")


def module_cuda(m):
    m.nn.Linear(2, 2).cuda()


def tensor_to_device_and_dtype(m):
    x = m.ones(2)
    return (x.to("cpu") is x, x.to(m.device("cpu")) is x, x.to("cpu", m.float64),
            x.to(device="cpu", dtype=m.float64), x.to(m.zeros(1, dtype=m.int64)))


def version_compares(m):
    version = m.__version__
    return (isinstance(version, str), version >= "2.0", version < "3", version >= (2, 1),
            len(version.split("+")[0].split(".")))


# ------------------------------------------------------------------------------ nn


def train_with_a_string(m):
    m.nn.Sequential(m.nn.Linear(2, 2)).train("yes")


def dropout_probability_above_one(m):
    m.nn.Dropout(p=1.5)


def dropout_probability_negative(m):
    m.nn.Dropout(-0.1)


def dropout_everything(m):
    x = m.ones(2, 3, requires_grad=True)
    out = m.nn.Dropout(p=1.0)(x)
    out.sum().backward()
    return out.detach(), x.grad


def batch_norm_single_value_per_channel(m):
    m.nn.BatchNorm1d(3)(m.ones(1, 3))


def batch_norm_single_value_per_channel_of_3d_input(m):
    layer = m.nn.BatchNorm1d(3)
    try:
        layer(m.ones(1, 3, 1))
    except ValueError as error:
        return str(error), layer.num_batches_tracked  # counted before the refusal, as torch
    return None


def functional_batch_norm_single_value_per_channel(m):
    m.nn.functional.batch_norm(m.ones(1, 3), m.zeros(3), m.ones(3), training=True)


def batch_norm_of_1d_input(m):
    m.nn.BatchNorm1d(3)(m.ones(3))


def batch_norm_statistics_of_the_wrong_size(m):
    functional = m.nn.functional
    results = []
    for arguments in ((m.zeros(3), m.ones(3), m.ones(3), m.ones(3)),
                      (m.zeros(4), m.ones(3), m.ones(3), m.ones(3)),
                      (None, None, m.ones(3), None), (None, None, None, m.ones(3))):
        for training in (True, False):
            try:
                functional.batch_norm(m.ones(2, 4), *arguments, training=training)
            except RuntimeError as error:
                results.append(str(error))
    return results


def batch_norm_single_value_per_channel_in_eval(m):
    return m.nn.BatchNorm1d(3).eval()(m.ones(1, 3))


def full_backward_hook(m):
    layer = _linear(m, [[1.0, 2.0], [3.0, 4.0]], [0.5, -0.5])
    seen = []

    def hook(module, grad_input, grad_output):
        seen.append((module is layer, grad_input, grad_output))
        return (grad_input[0] * 10,)

    handle = layer.register_full_backward_hook(hook)
    x = m.tensor([[1.0, -1.0]], requires_grad=True)
    (layer(x) * m.tensor([[1.0, 2.0]])).sum().backward()
    handle.remove()
    layer(x).sum().backward()
    return seen, x.grad


def full_backward_hook_input_without_grad(m):
    layer = _linear(m, [[1.0, 2.0]], [0.0])
    seen = []
    layer.register_full_backward_hook(lambda module, gi, go: seen.append((gi, go)))
    layer(m.tensor([[1.0, 1.0]])).sum().backward()
    return seen, layer.weight.grad


def parameter_list(m):
    params = m.nn.ParameterList([m.nn.Parameter(m.ones(2)), m.zeros(3)])
    params.append(m.ones(1))
    params.append("not a tensor")
    holder = m.nn.Module()
    holder.params = params
    return (len(params), [name for name, _ in holder.named_parameters()],
            isinstance(params[1], m.nn.Parameter), params[-1], repr(params))


def linear_weight_replaced_by_a_plain_tensor(m):
    """As pruning does: the parameter deleted, a computed tensor set as a plain attribute."""
    m.manual_seed(0)
    layer = m.nn.Linear(3, 2)
    original = layer.weight
    del layer.weight
    layer.weight = original.detach() * m.tensor([[1.0, 0.0, 1.0], [0.0, 1.0, 1.0]])
    output = layer(m.tensor([[1.0, 2.0, 3.0]]))
    output.sum().backward()
    return (output.detach() - layer.bias.detach()) - m.tensor([[1.0, 2.0, 3.0]]) @ layer.weight.T, \
        [name for name, _ in layer.named_parameters()], layer.bias.grad


def buffers(m):
    module = m.nn.Module()
    module.steps = m.nn.Buffer(m.zeros(1))
    module.cache = m.nn.Buffer(m.ones(2), persistent=False)
    module.steps = m.ones(1)  # still a buffer
    return (sorted(name for name, _ in module.named_buffers()), list(module.state_dict()),
            module.cache.requires_grad)


def module_conversions(m):
    layer = _linear(m, [[1.0, 2.0]], [3.0])
    weight = layer.weight
    layer.weight.grad = m.ones(1, 2)
    same = layer.double() is layer
    return (same, layer.weight is weight, layer.weight.dtype, layer.weight.grad.dtype,
            layer.to(m.float32).weight.dtype, layer.to("cpu") is layer,
            layer.float().bias.dtype, layer.weight.requires_grad, layer.weight.is_leaf)


def module_to_integer_dtype(m):
    m.nn.Linear(2, 2).to(m.int64)


def module_to_copy(m):
    m.nn.Linear(2, 2).to("cpu", copy=True)


def cross_entropy_weight_and_smoothing(m):
    logits = m.tensor([[1.0, 2.0, 0.5], [0.1, 0.2, 3.0], [1.0, 1.0, 1.0]], requires_grad=True)
    target = m.tensor([1, 2, 0])
    weight = m.tensor([1.0, 2.0, 0.5])
    results = []
    for loss in (m.nn.CrossEntropyLoss(weight=weight), m.nn.CrossEntropyLoss(label_smoothing=0.2),
                 m.nn.CrossEntropyLoss(weight=weight, label_smoothing=0.1),
                 m.nn.CrossEntropyLoss(weight=weight, reduction="sum", label_smoothing=0.3),
                 m.nn.CrossEntropyLoss(weight=weight, reduction="none", label_smoothing=0.1),
                 m.nn.CrossEntropyLoss(weight=weight, ignore_index=2, label_smoothing=0.1)):
        logits.grad = None
        value = loss(logits, target)
        value.sum().backward()
        results.append((value.detach(), logits.grad))
    return results


def nll_loss_weight(m):
    log_probs = m.tensor([[-1.0, -2.0], [-0.5, -3.0], [-2.0, -0.1]], requires_grad=True)
    loss = m.nn.NLLLoss(weight=m.tensor([3.0, 1.0]))(log_probs, m.tensor([0, 1, 1]))
    loss.backward()
    return loss.detach(), log_probs.grad


def embedding_padding_idx(m):
    table = m.nn.Embedding(4, 2, padding_idx=1)
    zero_row = table.weight[1].detach().clone()
    table(m.tensor([[0, 1], [1, 3]])).sum().backward()
    return zero_row, table.weight.grad, table.padding_idx, repr(table)


def embedding_negative_padding_idx(m):
    return m.nn.Embedding(4, 2, padding_idx=-1).padding_idx


def embedding_padding_idx_out_of_range(m):
    m.nn.Embedding(4, 2, padding_idx=4)


def clip_grad_norm(m):
    a = m.nn.Parameter(m.tensor([3.0, 4.0]))
    b = m.nn.Parameter(m.tensor([12.0]))
    a.grad, b.grad = m.tensor([3.0, 4.0]), m.tensor([12.0])
    total = m.nn.utils.clip_grad_norm_([a, b], max_norm=1.0)
    return total, a.grad, b.grad


def clip_grad_norm_infinity_and_no_clipping(m):
    a = m.nn.Parameter(m.tensor([0.3, -0.4]))
    a.grad = m.tensor([0.3, -0.4])
    small = m.nn.utils.clip_grad_norm_(a, max_norm=1.0)
    largest = m.nn.utils.clip_grad_norm_([a], max_norm=0.1, norm_type=float("inf"))
    return small, largest, a.grad


def clip_grad_value(m):
    a = m.nn.Parameter(m.tensor([1.0, -5.0, 0.2]))
    a.grad = m.tensor([1.0, -5.0, 0.2])
    result = m.nn.utils.clip_grad_value_([a], clip_value=0.5)
    return result, a.grad


# ------------------------------------------------------------------------------ optim


def _quadratic_steps(m, optimizer_of, steps=5, scheduler_of=None):
    w = m.nn.Parameter(m.tensor([1.0, -2.0, 3.0]))
    optimizer = optimizer_of([w])
    scheduler = scheduler_of(optimizer) if scheduler_of else None
    lrs = []
    for _ in range(steps):
        optimizer.zero_grad()
        (w * w).sum().backward()
        optimizer.step()
        if scheduler:
            scheduler.step()
            lrs.append(scheduler.get_last_lr())
    return w.detach(), lrs


def adamw(m):
    return _quadratic_steps(m, lambda p: m.optim.AdamW(p, lr=0.1, weight_decay=0.5))


def adamw_amsgrad_default_decay(m):
    return _quadratic_steps(m, lambda p: m.optim.AdamW(p, lr=0.05, amsgrad=True))


def adam_invalid_arguments(m):
    problems = []
    for kwargs in ({"lr": -1}, {"eps": -1}, {"betas": (1.0, 0.9)}, {"betas": (0.9, 1.5)},
                   {"weight_decay": -1}):
        try:
            m.optim.AdamW([m.nn.Parameter(m.ones(1))], **kwargs)
        except ValueError as error:
            problems.append(str(error))
    return problems


def step_lr(m):
    return _quadratic_steps(m, lambda p: m.optim.SGD(p, lr=0.1), 7,
                            lambda o: m.optim.lr_scheduler.StepLR(o, step_size=2, gamma=0.5))


def cosine_annealing_lr(m):
    return _quadratic_steps(m, lambda p: m.optim.SGD(p, lr=0.1), 12,
                            lambda o: m.optim.lr_scheduler.CosineAnnealingLR(o, T_max=4, eta_min=0.01))


def lambda_lr(m):
    return _quadratic_steps(m, lambda p: m.optim.SGD(p, lr=0.1), 5,
                            lambda o: m.optim.lr_scheduler.LambdaLR(o, lambda epoch: 0.9 ** epoch))


def scheduler_stepped_before_optimizer(m):
    w = m.nn.Parameter(m.ones(1))
    optimizer = m.optim.SGD([w], lr=0.1)
    scheduler = m.optim.lr_scheduler.StepLR(optimizer, step_size=1)
    scheduler.step()
    return scheduler.get_last_lr(), optimizer.param_groups[0]["initial_lr"]


def scheduler_state_dict(m):
    optimizer = m.optim.SGD([m.nn.Parameter(m.ones(1))], lr=0.1)
    scheduler = m.optim.lr_scheduler.StepLR(optimizer, step_size=3, gamma=0.5)
    state = scheduler.state_dict()
    return sorted(state), state["last_epoch"], state["base_lrs"]


def scheduler_get_lr_called_directly(m):
    optimizer = m.optim.SGD([m.nn.Parameter(m.ones(1))], lr=0.1)
    return m.optim.lr_scheduler.StepLR(optimizer, step_size=3).get_lr()


def lambda_lr_wrong_count(m):
    optimizer = m.optim.SGD([m.nn.Parameter(m.ones(1))], lr=0.1)
    m.optim.lr_scheduler.LambdaLR(optimizer, [lambda e: 1.0, lambda e: 2.0])


def scheduler_of_something_else(m):
    m.optim.lr_scheduler.StepLR(object(), step_size=1)


CASES = [
    set_grad_enabled_none, set_grad_enabled_int, set_grad_enabled_str,
    set_grad_enabled_decorator_without_argument, set_grad_enabled_numpy_bool,
    set_grad_enabled_repr,
    set_grad_enabled_leaves_mode_unchanged_after_bad_argument, no_grad_decorating_a_class,
    autograd_grad_mode_module, is_inference, requires_grad_true_on_non_leaf,
    requires_grad_false_on_non_leaf, requires_grad_setter_on_non_leaf,
    requires_grad_setter_not_bool, requires_grad_deleter, numpy_inside_no_grad, numpy_force,
    numpy_requires_grad, retains_grad, grad_setter_not_tensor, grad_setter_wrong_shape,
    grad_setter_wrong_dtype, grad_setter_integer_dtype, grad_setter_itself,
    grad_setter_and_deleter, data_setter_not_tensor, data_setter_integer_on_leaf_requiring_grad,
    data_setter_new_shape, data_deleter, data_ptr_of_views, float_of_one_element_requiring_grad,
    float_of_many_elements, int_of_many_elements, int_of_one_element_requiring_grad,
    index_with_integer_tensor, index_with_float_tensor, graphs_freed_by_backward,
    advanced_setitem_on_a_plain_tensor_given_a_gradient, calling_a_grad_fn_directly,
    inference_tensors_outside_inference_mode, views_made_in_inference_mode,
    view_made_in_inference_mode_after_a_sibling_changed,
    accumulate_grad_post_hooks_see_the_stored_gradient, saved_non_leaf_detached_in_place,
    detached_non_leaf_not_needed_by_backward, leaf_no_longer_requiring_grad_gets_no_gradient,
    new_factories, legacy_constructors,
    pickle_round_trip, pickle_non_leaf, device_objects, device_unknown_type, device_bad_string,
    cuda_is_not_available, tensor_cuda, tensor_to_cuda, module_cuda, tensor_to_device_and_dtype,
    version_compares, train_with_a_string, dropout_probability_above_one,
    dropout_probability_negative, dropout_everything, batch_norm_single_value_per_channel,
    batch_norm_single_value_per_channel_of_3d_input, functional_batch_norm_single_value_per_channel,
    batch_norm_of_1d_input, batch_norm_statistics_of_the_wrong_size,
    batch_norm_single_value_per_channel_in_eval, full_backward_hook,
    full_backward_hook_input_without_grad, parameter_list, linear_weight_replaced_by_a_plain_tensor,
    buffers, module_conversions,
    module_to_integer_dtype, module_to_copy, cross_entropy_weight_and_smoothing, nll_loss_weight,
    embedding_padding_idx, embedding_negative_padding_idx, embedding_padding_idx_out_of_range,
    clip_grad_norm, clip_grad_norm_infinity_and_no_clipping, clip_grad_value, adamw,
    adamw_amsgrad_default_decay, adam_invalid_arguments, step_lr, cosine_annealing_lr, lambda_lr,
    scheduler_stepped_before_optimizer, scheduler_state_dict, scheduler_get_lr_called_directly,
    lambda_lr_wrong_count, scheduler_of_something_else,
]


@pytest.mark.parametrize("program", CASES, ids=[c.__name__ for c in CASES])
def test_same_outcome_as_torch(program):
    assert_same(program)


def test_cases_raise_or_warn_where_expected():
    """The behaviours above are not vacuous: the error cases do fail, the warning cases warn."""
    assert run(set_grad_enabled_none, runtime)["error"] == (
        "TypeError", "set_grad_enabled(): argument 'enabled' (position 1) must be bool, not NoneType")
    assert run(no_grad_decorating_a_class, runtime)["warnings"][0][0] == "FutureWarning"
    assert run(scheduler_stepped_before_optimizer, runtime)["warnings"][0][1].startswith(
        "Detected call of `lr_scheduler.step()` before `optimizer.step()`.")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(UserWarning, match="Converting a tensor with requires_grad=True"):
            float(runtime.ones(1, requires_grad=True))
