"""The syntax-tree screen (``screen.py``): it must let through every program a rule fires on —
including the ones built to fool it (aliases, late imports, rebound names, grad mode switched
back on, callers that disable gradients) — and it should keep out common code no rule fires on.

Each source marks the lines the linter must flag with a trailing ``# NGxxx`` comment; they are
linted with the pre-filters on and off.  Their text also joins the corpus of
``test_prefilter.py``.
"""

from __future__ import annotations

import ast
import subprocess
import sys
import textwrap
from dataclasses import replace

import pytest

from nograd_lint.config import Config
from nograd_lint.rules import RULES
from nograd_lint.screen import features
from nograd_lint.testing import check as flags_exactly_marked_lines
from nograd_lint.testing import expected_findings

EVERY_RULE = Config(extend_select=("NG205",))


def check(source: str, path: str = "train.py") -> None:
    """The marked findings, with the pre-filters on and off."""
    assert expected_findings(textwrap.dedent(source)), "a case must expect a finding"
    for config in (EVERY_RULE, replace(EVERY_RULE, prefilter=False)):
        flags_exactly_marked_lines(source, path=path, config=config)


def rules_let_through(source: str, path: str = "model.py") -> set[str]:
    source = textwrap.dedent(source)
    present = features(ast.parse(source), source, path, Config())
    return {rule.code for rule in RULES.values() if rule.default_enabled and rule.features
            and rule.features <= present}


# --------------------------------------------------------------- what must get through

@pytest.mark.parametrize("source", [
    # An alias that reads like no_grad but enables gradients.
    """
    import torch
    from torch import enable_grad as no_grad
    w = torch.zeros(3, requires_grad=True)
    with torch.no_grad():
        with no_grad():
            w.add_(1)  # expect: NG201
    """,
    # Gradients switched back on inside the block.
    """
    import torch
    w = torch.zeros(3, requires_grad=True)
    with torch.no_grad():
        torch.set_grad_enabled(True)
        w.add_(1)  # expect: NG201
    """,
    """
    import torch
    w = torch.zeros(3, requires_grad=True)
    with torch.no_grad():
        with torch.inference_mode(False):
            w.add_(1)  # expect: NG201
    """,
    # A function defined under no_grad runs when it is called, not where it is defined.
    """
    import torch
    w = torch.zeros(3, requires_grad=True)
    with torch.no_grad():
        def init():
            w.add_(1)  # expect: NG201
    init()
    """,
    # Parameter under another name.
    """
    import torch
    from torch.nn import Parameter as P
    w = P(torch.zeros(3))
    w.add_(1)  # expect: NG201
    """,
    # Gradients off through the callers only (model/grad_mode.py follows calls).
    """
    import torch
    def sgd(model):
        for p in model.parameters():
            p = p - 0.1 * p.grad  # expect: NG203
    with torch.no_grad():
        sgd(torch.nn.Linear(2, 2))
    """,
    """
    import torch
    class Trainer:
        def __init__(self):
            self.w = torch.nn.Parameter(torch.zeros(3))
        def update(self):
            self.w = self.w - 0.1 * self.w.grad  # expect: NG203
        def step(self):
            with torch.no_grad():
                self.update()
    """,
    """
    import torch
    w = torch.zeros(3, requires_grad=True)
    def step(x):
        loss = (w * x).sum()
        loss.backward()  # expect: NG104
    def run(x):
        step(x)
    with torch.no_grad():
        run(torch.ones(3))
    """,
    # A model known only by the .eval() it received elsewhere.
    """
    import torch
    def prepare(G):
        G.eval()
    def sample(G, z):
        G.eval()
        return G(z)  # expect: NG105
    """,
    """
    import torch
    def setup(G):
        G.eval()
    def check(G, val_loader):
        for z in val_loader:
            G(z)  # expect: NG101
    """,
    # A tensor name that other code binds to a number.
    """
    import torch
    def count():
        y = 0
        y += 1
    def step():
        y = torch.zeros(3, requires_grad=True).sigmoid()
        y += 1  # expect: NG204
        y.sum().backward()
    """,
    # autograd.grad imported by name: the backward the update breaks.
    """
    import torch
    from torch.autograd import grad
    def step():
        w = torch.zeros(3, requires_grad=True)
        y = w.sigmoid()
        y.add_(1)  # expect: NG204
        return grad(y.sum(), w)
    """,
    # Blanks, continuations and comments around '.' and before '(' (the text triggers).
    """
    import torch
    def check(model, x):
        model . eval ()
        return model (x)  # expect: NG105
    """,
    """
    import torch
    w = torch.nn.Parameter(torch.zeros(3))
    (w.  # expect: NG205
        data.add_(1))
    for p in torch.nn.Linear(2, 2).parameters \\
            ():
        p.add_(1)  # expect: NG201
    """,
    # Variable under another name.
    """
    import torch
    from torch.autograd import Variable as V
    x = V(torch.zeros(3), volatile=True)  # expect: NG301, NG303
    """,
    # Evaluation code that trains after its loop: the loop is still evaluation.
    """
    import torch
    def validate(model, val_loader, w):
        for x in val_loader:
            print(model(x).argmax(1))  # expect: NG101
        loss = w.sum()
        loss.backward()
    """,

    # Called under no_grad, but also stored: it may run anywhere.
    """
    import torch
    w = torch.zeros(3, requires_grad=True)
    def step():
        w.add_(1)  # expect: NG201
    with torch.no_grad():
        step()
    callbacks = [step]
    """,
    # A later set_grad_enabled that is not torch's restores nothing.
    """
    import torch
    def predict(model, x):
        torch.set_grad_enabled(False)  # expect: NG103
        model.set_grad_enabled(True)
        return x
    """,
    """
    import torch
    from torch import no_grad as inference_mode
    def predict(x):
        with inference_mode(False):  # expect: NG102
            return x
    """,
    # A param group is no leaf, its params are.
    """
    import torch
    class SGD(torch.optim.Optimizer):
        def step(self):
            for group in self.param_groups:
                group["lr"] = 0.1
                for p in group["params"]:
                    p.add_(p.grad, alpha=-group["lr"])  # expect: NG201
    """,
    # Layers known from isinstance, from apply, from .modules().
    """
    import torch
    from torch import nn
    def init(m):
        if isinstance(m, nn.Linear):
            m.weight.data.fill_(0)  # expect: NG205
    nn.Sequential(nn.Linear(2, 2)).apply(init)
    """,
    """
    import torch
    from torch import nn
    def reset(m):
        if isinstance(m, nn.Linear):
            pass
        else:
            return
        m.weight.data.zero_()  # expect: NG205
    """,
    """
    import torch
    def reset(model):
        for m in model.modules():
            m.bias.data.zero_()  # expect: NG205
    """,
    # Functional in-place forms under other names, over collections, and .data writes to a
    # tensor saved for backward.
    """
    import torch
    from torch import relu_ as rectify, _foreach_mul_ as scale
    from torch.nn import ReLU as R
    from torch.nn.functional import relu as act
    w = torch.nn.Parameter(torch.zeros(3))
    rectify(w)  # expect: NG201
    R(inplace=True)(w)  # expect: NG201
    act(w, True)  # expect: NG201
    def decay(model):
        scale(tuple(model.parameters()), 0.5)  # expect: NG201
        torch._foreach_add_(list(model.parameters()), 1.0)  # expect: NG201
        torch.clamp(w, 0, 1, out=w)  # expect: NG201
    """,
    """
    import torch
    def step():
        y = torch.ones(2, requires_grad=True).exp()
        y.  data[0] = 1  # expect: NG202
        y.sum().backward()
    """,
])
def test_the_screen_lets_through(source):
    check(source)


def test_pytest_tests_are_no_evaluation_regions_but_their_helpers_are():
    check("""
        import torch
        def helper(model, x):
            model.eval()
            return model(x)  # expect: NG105
        def test_forward(model, x):
            model.eval()
            assert helper(model, x) is not None and model(x) is not None
        """, path="tests/test_models.py")


@pytest.mark.parametrize("source", [
    # A forward's output reaches a place that only looks at it through a name...
    """
    import torch
    def sample(model, z):
        images = model(z)  # expect: NG101
        mean = images.mean()
        print(mean.item())
    """,
    # ... through a container, in a loop...
    """
    import torch
    def report(model, batches):
        outs = []
        for x in batches:
            outs.append(model(x))  # expect: NG101
        for out in outs:
            print(out.argmax(1))
    """,
    # ... returned to a caller in the module...
    """
    import torch
    def _scores(model, x):
        return model(x)  # expect: NG101
    def show(model, x):
        print(_scores(model, x).argmax(1))
    """,
    # ... passed by keyword to a helper of the module, and a model's other method whose
    # output is only looked at (in a module where another function has a model parameter).
    """
    import torch
    from torch import nn
    def _log(step, value):
        print(step, value.tolist())
    def probe(model, x):
        _log(0, value=model(x))  # expect: NG101
    def act(net, state):
        return int(net.get_action(state).argmax())  # expect: NG101
    def init(self, m: nn.Module):
        m.reset(0)
    """,
])
def test_the_screen_follows_outputs_to_where_they_are_looked_at(source):
    check(source)


# --------------------------------------------------------------- what it keeps out

def test_an_optimizer_step_under_no_grad_with_a_closure_under_enable_grad():
    assert "NG201" not in rules_let_through("""
        import torch

        class SGD(torch.optim.Optimizer):
            @torch.no_grad()
            def step(self, closure=None):
                loss = None
                if closure is not None:
                    with torch.enable_grad():
                        loss = closure()
                for group in self.param_groups:
                    for p in group["params"]:
                        p.add_(p.grad, alpha=-group["lr"])
                return loss
        """)


def test_a_training_loop_that_sums_numbers_in_place():
    assert rules_let_through("""
        import torch

        def train(model, loader, optimizer):
            model.train()
            total, correct = 0.0, 0
            for x, y in loader:
                loss = torch.nn.functional.cross_entropy(model(x), y)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                total += loss.item()
                correct += (model(x).argmax(1) == y).sum().item()
            return total, correct
        """) == {"NG101"}  # the second forward only counts: a graph nobody uses


def test_evaluation_under_no_grad_and_model_registrations():
    assert rules_let_through("""
        import torch
        from torch import nn

        @torch.no_grad()
        def validate(model, val_loader):
            model.eval()
            return [model(x).argmax(1) for x, _ in val_loader]

        def evaluate(model, test_loader):
            model.eval()
            with torch.inference_mode():
                for x, _ in test_loader:
                    model(x)

        def test_vit(pretrained=False, **kwargs):
            return _create_vision_transformer("test_vit", pretrained=pretrained, **kwargs)

        class Block(nn.Module):
            def set_input_size(self, size):
                with torch.no_grad():
                    self.pos_embed = nn.Parameter(resample(self.pos_embed, size))
        """) == set()


def test_timm_style_code_no_rule_fires_on():
    """Shapes from pytorch-image-models that the screen used to let through."""
    assert rules_let_through("""
        import torch
        from torch import nn
        from timm.utils import unwrap_model

        def _single_tensor_step(p, grad, lr):
            p.add_(grad, alpha=-lr)

        class Muon(torch.optim.Optimizer):
            def __setstate__(self, state):
                for group in self.param_groups:
                    group.setdefault("nesterov", False)
                    group["lr"] = group.get("lr", 0.1)

            @torch.no_grad()
            def step(self):
                for group in self.param_groups:
                    for p in group["params"]:
                        _single_tensor_step(p, p.grad, group["lr"])

        class Teacher(nn.Module):
            def __init__(self, model):
                model.eval()
                self.config = unwrap_model(model).pretrained_cfg

        def resample(x, cache):
            with torch.inference_mode(False), torch.autocast("cpu", enabled=False):
                return cache(x)

        def focal(x, disable):
            if disable:
                torch.set_grad_enabled(False)
            y = x * x
            if disable:
                torch.set_grad_enabled(True)
            return y

        def merge_pre_bn(module, scale):
            weight = module.weight.data
            if isinstance(module, nn.Linear):
                weight.mul_(scale)
            elif isinstance(module, nn.Conv2d):
                weight.mul_(scale)
            module.weight.data = weight
        """) == set()


def test_pytest_tests_that_switch_models_to_eval():
    assert rules_let_through("""
        import torch

        def test_drop_block_is_identity_in_eval(module):
            x = torch.ones(2, 3)
            module.eval()
            assert torch.equal(module(x), x)
        """, path="tests/test_layers.py") == set()


def test_a_banner_comment_before_an_alias_is_read_in_linear_time(tmp_path):
    """The alias scan once backtracked exponentially on a row of '#' before an ``as``."""
    source = tmp_path / "banner.py"
    source.write_text("import torch\n" + "#" * 40 + "\nfrom torch import (enable_grad  # on\n"
                      "    as no_grad)\nw = torch.zeros(3, requires_grad=True)\n"
                      "with no_grad():\n    w.add_(1)\n")
    done = subprocess.run([sys.executable, "-m", "nograd_lint", str(source)],
                          capture_output=True, text=True, timeout=60)
    assert "banner.py:7:5: NG201" in done.stdout, done.stdout + done.stderr


def test_grad_mode_calls_as_statements_under_aliases():
    check("""
        import torch as T
        from torch import inference_mode as im
        from torch.autograd import enable_grad

        def embed(model, x):
            T.no_grad()  # expect: NG107
            im()  # expect: NG107
            enable_grad()  # expect: NG107
            with T.no_grad():
                return model(x)
        """)


def test_forward_outputs_that_never_reach_a_look_are_kept_out():
    """NG101's outputs flow, mirrored: a forward whose output only feeds a loss and backward,
    is stored in an attribute or thrown away is no evaluation, even in a function that looks
    at other values; so are calls of the module's own functions, a model method called without
    arguments, and a method of a parameter annotated with a model class in another function."""
    assert "NG101" not in rules_let_through("""
        import re
        import torch
        from torch import nn

        def fit_step(model, optimizer, x, y, epoch):
            out = model(x)
            loss = torch.nn.functional.mse_loss(out, y)
            loss.backward()
            optimizer.step()
            if epoch % 10 == 0:
                print(epoch, len(y))

        def build_model(name):
            return nn.Linear(1, 1)

        class Features(nn.Module):
            def __init__(self, model, builder, indices):
                super().__init__()
                self.blocks = nn.Sequential(*builder(3, indices))
                self.indices = model.prune_intermediate_layers(indices, prune_norm=True)
                self.size = model.get_patch_size()
                model.reset_classifier(0)
                self.head = build_model("head")

            def _init_weights(self, m: nn.Module):
                nn.init.zeros_(m.bias)

        def remap(m: re.Match) -> str:
            return f"stages.{int(m.group(1)) - 1}"
        """)
