"""NG201-NG204 and the leaf analysis behind them, through the engine's public API.

Each source marks the lines the linter must flag with a trailing ``# expect: NGxxx`` comment.
"""

from __future__ import annotations

import textwrap

import pytest

from nograd_lint.config import Config
from nograd_lint.engine import lint_source
from nograd_lint.fix import fix_source
from nograd_lint.testing import check as flags_exactly_marked_lines

LEAF_RULES = Config(select=("NG2", "NG205"))


def check(source: str, config: Config = LEAF_RULES) -> None:
    flags_exactly_marked_lines(source, config=config)


def fixed(source: str, *, unsafe: bool = False) -> str:
    result = fix_source(textwrap.dedent(source), "train.py", LEAF_RULES, unsafe=unsafe)
    assert result.error is None
    return result.source


# ------------------------------------------------------------------------- what is a leaf


@pytest.mark.parametrize("creation", [
    "torch.zeros(3, requires_grad=True)",
    "torch.randn_like(x, requires_grad=True)",
    "torch.tensor([1.0, 2.0], requires_grad=True)",
    "nn.Parameter(torch.zeros(3))",
    "torch.nn.parameter.Parameter(x)",
    "torch.zeros(3).requires_grad_()",
    "x.detach().clone().requires_grad_(True)",
])
def test_leaf_creations(creation):
    check(f"""
    import torch
    from torch import nn
    x = torch.ones(3)
    w = {creation}
    w += 1  # expect: NG201
    w.mul_(2)  # expect: NG201
    w[0] = 1  # expect: NG201
    w[1:].zero_()  # expect: NG201
    w.view(3, 1).fill_(0)  # expect: NG201
    """)


@pytest.mark.parametrize("creation", [
    "torch.zeros(3)",
    "torch.zeros(3, requires_grad=False)",
    "nn.Parameter(torch.zeros(3), requires_grad=False)",
    "torch.zeros(3, requires_grad=flag)",
    "make_weights()",
])
def test_not_leaves(creation):
    check(f"""
    import torch
    from torch import nn
    flag = True
    w = {creation}
    w += 1
    w.mul_(2)
    """)


def test_requires_grad_flag_and_method_statements():
    check("""
    import torch
    a = torch.zeros(2)
    a.add_(1)
    a.requires_grad = True
    a.add_(1)  # expect: NG201
    b = torch.zeros(2)
    b.requires_grad_()
    b.sub_(1)  # expect: NG201
    b.requires_grad_(False)
    b.sub_(1)
    """)


def test_parameters_loops_and_optimizer_groups():
    check("""
    import torch

    def step(model, lr):
        for p in model.parameters():
            p.add_(p.grad, alpha=-lr)  # expect: NG201
        for name, p in model.named_parameters():
            p -= lr * p.grad  # expect: NG201
        for i, p in enumerate(model.parameters()):
            p.zero_()  # expect: NG201
        params = list(model.parameters())
        for p in params:
            p.clamp_(-1, 1)  # expect: NG201
        for name, p in model.named_buffers():
            p.zero_()

    class Lion(torch.optim.Optimizer):
        def step(self):
            for group in self.param_groups:
                for p in group["params"]:
                    p.mul_(1 - group["lr"])  # expect: NG201
                    p.grad.zero_()

    class NotAnOptimizer:
        def step(self):
            for group in self.param_groups:
                for p in group["params"]:
                    p.mul_(0.5)
    """)


def test_layer_weights_modules_apply_and_isinstance():
    check("""
    import torch
    from torch import nn

    layer = nn.Linear(2, 2)
    layer.weight.normal_()  # expect: NG201
    layer.bias.data.zero_()  # expect: NG205

    def init(m):
        m.weight.fill_(1)  # expect: NG201

    def guarded(m):
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            m.bias.zero_()  # expect: NG201
        m.weight.zero_()

    def walk(model):
        for m in model.modules():
            if m.bias is not None:
                m.bias.fill_(0)  # expect: NG201
        for name, child in model.named_children():
            nn.init.zeros_(child.weight)

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(2, 2)
            self.scale = nn.Parameter(torch.ones(1))
            self.apply(self._init)
            self.reset_parameters()

        def _init(self, module):
            module.weight.uniform_(-1, 1)  # expect: NG201

        def reset_parameters(self):
            self.fc.weight.uniform_(-1, 1)  # expect: NG201
            self.scale.data.fill_(1)  # expect: NG205
            with torch.no_grad():
                self.scale.fill_(1)

    net = nn.Sequential(nn.Linear(2, 2))
    net.apply(init)
    """)


# ------------------------------------------------------------------------- flow sensitivity


def test_statement_order_rebinding_detach_and_data_end_leaf_status():
    check("""
    import torch
    w = torch.zeros(3, requires_grad=True)
    w = w * 2
    w += 1
    v = torch.zeros(3, requires_grad=True)
    v.add_(1)  # expect: NG201
    v = v.detach()
    v.add_(1)
    u = torch.zeros(3, requires_grad=True)
    d = u.data
    d.add_(1)
    u.detach().add_(1)
    alias = u
    alias.add_(1)  # expect: NG201
    """)


def test_branches_merge_conservatively():
    check("""
    import torch

    def f(flag):
        w = torch.zeros(3, requires_grad=True)
        if flag:
            w = w * 2
        w += 1
        v = torch.zeros(3, requires_grad=True)
        if flag:
            v.add_(1)  # expect: NG201
        else:
            v = torch.ones(3, requires_grad=True)
        v.sub_(1)  # expect: NG201
        u = torch.zeros(3, requires_grad=True)
        if flag:
            u = None
            return
        u.add_(1)  # expect: NG201
    """)


def test_loops_reach_a_fixed_point():
    check("""
    import torch

    def f(steps):
        w = torch.zeros(3, requires_grad=True)
        for _ in range(steps):
            w.add_(1)  # expect: NG201
            w = w * 2
        v = torch.zeros(3, requires_grad=True)
        while steps:
            v = v + 1
            steps -= 1
        v.add_(1)
        u = torch.zeros(3, requires_grad=True)
        for _ in range(steps):
            if steps > 2:
                continue
            u = u + 1
        u.mul_(2)
    """)


@pytest.mark.parametrize("region", [
    "with torch.no_grad():",
    "with torch.inference_mode():",
    "with torch.set_grad_enabled(training):",  # decided at run time: not flagged
])
def test_grad_disabled_or_managed_regions(region):
    check(f"""
    import torch

    def step(model, lr, training=False):
        {region}
            for p in model.parameters():
                p -= lr * p.grad
                p.grad.zero_()
    """)


def test_parameters_bound_by_callers_in_the_module():
    check("""
    import math
    import torch
    from torch import nn

    def _fill(tensor, low, high):
        tensor.uniform_(low, high)  # expect: NG201
        tensor.mul_(2)  # expect: NG201

    def fill_(tensor, bound=1.0):
        _fill(tensor, -bound, bound)

    def sgd(params, lr):
        for p in params:
            p -= lr * p.grad  # expect: NG201

    def scale(w, *, by):
        w.div_(by)  # expect: NG201

    def plain(t):
        t.add_(1)

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(2, 2)
            self.pos = nn.Parameter(torch.zeros(3))
            fill_(self.pos)
            self._rescale(self.fc.weight, 2)

        def _rescale(self, weight, layer):
            weight.div_(math.sqrt(layer))  # expect: NG201

    def train(model):
        sgd(model.parameters(), 0.1)
        scale(nn.Linear(2, 2), by=2)
        scale(by=3, w=nn.Parameter(torch.ones(2)))
        plain(torch.zeros(3))
    """)


def test_parameters_bound_only_by_callers_with_gradients():
    check("""
    import torch

    def sgd(params, lr):
        for p in params:
            p -= lr * p.grad

    def decay(p):
        p.mul_(0.9)

    @torch.no_grad()
    def step(model):
        sgd(model.parameters(), 0.1)

    def shrink(model):
        with torch.no_grad():
            for p in model.parameters():
                decay(p)

    def recursive(params, depth):
        if depth:
            recursive(params, depth - 1)
        for p in params:
            p.zero_()
    """)


def test_parameters_bound_through_chains_aliases_and_appended_lists():
    check("""
    import torch

    def _single(params, lr):
        for i, param in enumerate(params):
            param.mul_(lr)  # expect: NG201

    def _multi(params, lr):
        for p in params:
            p.add_(lr)  # expect: NG201

    def functional(params, lr, foreach=False):
        func = _multi if foreach else _single
        if foreach:
            func = _multi
        else:
            func = _single
        func(params, lr)

    def update_fn(p, lr):
        p.add_(-lr)  # expect: NG201

    def ping(params, n):
        pong(params, n)

    def pong(params, n):
        if n:
            ping(params, n - 1)
        for p in params:
            p.zero_()  # expect: NG201

    class Opt(torch.optim.Optimizer):
        def __init__(self, params):
            super().__init__(params, {})
            self.update = update_fn

        def step(self):
            for group in self.param_groups:
                kept = []
                for p in group["params"]:
                    if p.grad is None:
                        continue
                    kept.append(p)
                functional(kept, 0.1)
                for p in filter(lambda p: p.grad is not None, group["params"]):
                    self.update(p, 0.1)
                ping(group["params"], 3)
    """)


def test_helpers_called_only_under_no_grad_and_decorated_functions():
    check("""
    import torch

    def update(model, lr):
        for p in model.parameters():
            p.sub_(lr * p.grad)

    @torch.no_grad()
    def train(model):
        update(model, 0.1)

    @torch.enable_grad()
    def clip(model):
        for p in model.parameters():
            p.clamp_(-1, 1)  # expect: NG201
    """)


# ------------------------------------------------------------------------- NG202, NG205, NG203


def test_data_updates_of_leaves_only_and_no_rebinding():
    source = textwrap.dedent("""
    import torch
    w = torch.zeros(3, requires_grad=True)
    w.data.add_(1)
    w.data = torch.ones(3)
    w.data[0] = 2
    with torch.no_grad():
        w.data.mul_(2)
    buffer = torch.zeros(3)
    buffer.data.add_(1)
    """)
    findings = lint_source(source, "train.py", LEAF_RULES)
    assert [(f.line, f.code) for f in findings] == [(4, "NG205"), (6, "NG205"), (8, "NG205")]
    assert "under 'with torch.no_grad():'" in findings[0].message
    assert "gradients are already off here" in findings[2].message


def test_data_writes_to_saved_tensors_before_their_backward():
    check("""
    import torch
    w = torch.ones(3, requires_grad=True)
    x = torch.ones(3, requires_grad=True)
    loss = (w * x).sum()
    w.data.mul_(2)  # expect: NG202, NG205
    gate = x.sigmoid()
    gate.data[0] = 0  # expect: NG202
    (loss + gate.sum()).backward()

    def rebinding(source):
        w = torch.ones(3, requires_grad=True)
        loss = (w * w).sum()
        w.data = source.data  # other data for w: nothing saved is written
        loss.backward()

    def after_backward(model, x):
        loss = model(x).sum()
        loss.backward()
        for p in model.parameters():
            p.data.add_(p.grad, alpha=-0.1)  # expect: NG205

    def not_saved():
        v = torch.ones(3, requires_grad=True)
        loss = (v + 1).sum()  # addition saves neither operand
        v.data.add_(1)  # expect: NG205
        loss.backward()
    """)


def test_data_writes_only_on_some_paths_and_in_place_writes_are_told_apart():
    check("""
    import torch

    def maybe(flag):
        w = torch.ones(3, requires_grad=True)
        loss = (w * w).sum()
        if flag:
            w.data.zero_()  # expect: NG205
        loss.backward()

    def data_then_in_place():
        y = torch.ones(3, requires_grad=True).exp()
        y.data.add_(1)  # expect: NG202
        y.mul_(2)  # expect: NG204
        y.sum().backward()
    """)


# ------------------------------------------------------------------------- functional forms


def test_functional_inplace_forms_on_leaves():
    check("""
    import torch
    import torch.nn.functional as F
    from torch import nn
    from torch import relu_ as rectify

    w = nn.Parameter(torch.randn(3))
    torch.relu_(w)  # expect: NG201
    rectify(w)  # expect: NG201
    torch.sigmoid_(w)  # expect: NG201
    F.leaky_relu_(w, 0.1)  # expect: NG201
    F.relu(w, inplace=True)  # expect: NG201
    F.hardtanh(w, -1.0, 1.0, True)  # expect: NG201
    F.relu(w)
    F.relu(w, inplace=False)
    nn.ReLU(inplace=True)(w)  # expect: NG201
    nn.LeakyReLU(0.1, True)(w)  # expect: NG201
    nn.ReLU()(w)
    F.dropout(w, 0.5, inplace=True)  # writes only while training: not counted
    torch.nn.init.zeros_(w)  # nn.init runs under no_grad
    torch.clamp(w, -1, 1, out=w)  # expect: NG201
    torch.add(w, 1)
    with torch.no_grad():
        torch.relu_(w)
        torch.clamp(w, -1, 1, out=w)

    def decay(model, others, lr):
        params = list(model.parameters())
        torch._foreach_mul_(params, 1 - lr)  # expect: NG201
        torch._foreach_add_(params, others, alpha=-lr)  # expect: NG201
        torch._foreach_mul_([w], 0.5)  # expect: NG201
        torch._foreach_mul_(others, 0.5)
        torch._foreach_mul_(tuple(model.parameters()), 0.5)  # expect: NG201
    """)


def test_lists_that_only_leaves_go_into_hold_leaves():
    check("""
    import torch

    class Lion(torch.optim.Optimizer):
        def step(self):
            for group in self.param_groups:
                params = []
                grads = []
                decayed = []
                for p in filter(lambda p: p.grad is not None, group["params"]):
                    params.append(p)
                    grads.append(p.grad)
                    decayed.extend(group["params"])
                torch._foreach_mul_(params, 0.9)  # expect: NG201
                torch._foreach_mul_(decayed, 0.9)  # expect: NG201
                torch._foreach_mul_(grads, 0.9)
                for p in params:
                    p.sub_(p.grad)  # expect: NG201

    def not_only_leaves(model, xs, fill):
        handed = []
        fill(handed)  # may come back holding anything
        handed.append(next(model.parameters()))
        torch._foreach_mul_(handed, 2)
        mixed = []
        for x in xs:
            mixed.append(x * 2)
        torch._foreach_mul_(mixed, 2)
        grown = []
        grown += xs
        for p in model.parameters():
            grown.append(p)
        torch._foreach_mul_(grown, 2)
    """)


def test_functional_forms_fix_and_messages():
    source = """
    import torch

    def decay(model, lr):
        params = list(model.parameters())
        torch._foreach_mul_(params, 1 - lr)
        torch.clamp(params[0], -1, 1, out=params[0])
    """
    findings = lint_source(textwrap.dedent(source), "train.py", LEAF_RULES)
    assert [f.line for f in findings] == [6]
    assert "every tensor in 'params'" in findings[0].message
    assert fixed(source, unsafe=True) == textwrap.dedent("""
    import torch

    def decay(model, lr):
        params = list(model.parameters())
        with torch.no_grad():
            torch._foreach_mul_(params, 1 - lr)
        torch.clamp(params[0], -1, 1, out=params[0])
    """)
    out = lint_source("import torch\nw = torch.zeros(2, requires_grad=True)\n"
                      "torch.clamp(w, 0, 1, out=w)\n", "train.py", LEAF_RULES)
    assert "clamp(): functions with out=... arguments don't support automatic" in out[0].message


def test_functional_forms_modify_saved_tensors():
    check("""
    import torch
    x = torch.ones(3, requires_grad=True)
    y = x.exp()
    torch.relu_(y)  # expect: NG204
    z = x.tanh()
    torch.clamp(z, 0, 1, out=z)  # expect: NG204
    (y.sum() + z.sum()).backward()
    """)


def test_rebinding_a_leaf_under_no_grad():
    check("""
    import torch
    from torch import nn
    w = torch.zeros(3, requires_grad=True)
    b = torch.zeros(3, requires_grad=True)
    with torch.no_grad():
        w = w - 0.1 * w.grad  # expect: NG203
        b = b.clamp(0, 1)  # expect: NG203
    with torch.no_grad():
        b = b.detach()
        w = nn.Parameter(resize(w))
    c = torch.zeros(3, requires_grad=True)
    c = c - 1
    with torch.no_grad():
        c = c - 1
    """)


def test_rebinding_fix_is_the_in_place_form():
    source = """
    import torch
    w = torch.zeros(3, requires_grad=True)
    b = torch.zeros(3, requires_grad=True)
    with torch.no_grad():
        w = w - lr * w.grad  # why: a comment survives
        b = b * 0.5 + 1
    """
    assert fixed(source) == textwrap.dedent("""
    import torch
    w = torch.zeros(3, requires_grad=True)
    b = torch.zeros(3, requires_grad=True)
    with torch.no_grad():
        w -= lr * w.grad  # why: a comment survives
        b = b * 0.5 + 1
    """)


# ------------------------------------------------------------------------- NG201 fix


def test_in_place_fix_wraps_the_parameters_loop_or_the_statement():
    source = """
    import torch as T
    w = T.zeros(3, requires_grad=True)
    w += 1

    def step(model, lr):
        for p in model.parameters():
            p -= lr * p.grad
            p.grad.zero_()
    """
    assert fixed(source) == textwrap.dedent(source)  # unsafe: not applied by default
    assert fixed(source, unsafe=True) == textwrap.dedent("""
    import torch as T
    w = T.zeros(3, requires_grad=True)
    with T.no_grad():
        w += 1

    def step(model, lr):
        with T.no_grad():
            for p in model.parameters():
                p -= lr * p.grad
                p.grad.zero_()
    """)
    assert lint_source(fixed(source, unsafe=True), "train.py", LEAF_RULES) == []


def test_no_fix_without_a_spelling_for_no_grad():
    source = """
    from torch import nn
    p = nn.Parameter(nn.init.zeros_(nn.Linear(2, 2).weight.detach()))
    p += 1
    """
    findings = lint_source(textwrap.dedent(source), "train.py", LEAF_RULES)
    assert [(f.code, f.fix) for f in findings] == [("NG201", None)]


# ------------------------------------------------------------------------- NG204


def test_saved_tensors_modified_before_backward():
    check("""
    import torch
    import torch.nn.functional as F

    def saved_output():
        x = torch.randn(3, requires_grad=True)
        y = torch.tanh(x)
        y += 1  # expect: NG204
        y.sum().backward()

    def saved_input_of_a_product():
        w = torch.randn(3, requires_grad=True)
        features = torch.randn(3)
        out = w * features
        features.mul_(2)  # expect: NG204
        loss = out.sum()
        torch.autograd.backward(loss)

    def through_a_view_and_a_loss_function(criterion, target):
        x = torch.randn(3, requires_grad=True)
        probs = F.softmax(x, dim=0)
        probs[0] = 0  # expect: NG204
        criterion(probs, target).backward()
    """)


def test_saved_tensor_cases_that_do_not_raise():
    check("""
    import torch

    def after_backward():
        x = torch.randn(3, requires_grad=True)
        y = x.sigmoid()
        y.sum().backward()
        y.mul_(2)

    def nothing_saved_it():
        x = torch.randn(3, requires_grad=True)
        y = x * 2
        y.mul_(2)
        z = x + y
        y.add_(1)
        (z * 3).sum().backward()

    def no_backward_follows():
        x = torch.randn(3, requires_grad=True)
        y = x.exp()
        y.mul_(2)
        return y

    def inputs_without_grad():
        x = torch.randn(3)
        y = x.sigmoid()
        y.mul_(2)
        y.sum().backward()

    def through_data_the_version_is_not_bumped():  # silently wrong instead: NG202
        x = torch.randn(3, requires_grad=True)
        y = x.sigmoid()
        y.data.mul_(2)  # expect: NG202
        y.sum().backward()

    def rebound_before_backward():
        x = torch.randn(3, requires_grad=True)
        y = x.sigmoid()
        y.mul_(2)  # expect: NG204
        y.sum().backward()
        y = x.sigmoid()
        y.sum().backward()
    """)


def test_leaf_update_is_reported_once_as_ng201():
    check("""
    import torch
    w = torch.randn(3, requires_grad=True)
    y = (w * w).sum()
    w.add_(1)  # expect: NG201
    y.backward()
    with torch.no_grad():
        z = (w * w).sum()
    v = torch.randn(3, requires_grad=True)
    loss = (v * v).sum()
    with torch.no_grad():
        v.add_(1)  # expect: NG204
    loss.backward()
    """)


def test_noqa_and_selection():
    source = """
    import torch
    w = torch.zeros(3, requires_grad=True)
    w += 1  # noqa: NG201
    w.data.add_(1)  # expect: NG205
    """
    check(source)
    check(source.replace("  # expect: NG205", ""), Config(select=("NG2", "NG205"), ignore=("NG205",)))
