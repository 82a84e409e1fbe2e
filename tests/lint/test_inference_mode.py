"""NG106 and its escape analysis, through the engine's public API and the CLI."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from nograd_lint.config import Config
from nograd_lint.engine import lint_source
from nograd_lint.fix import fix_source

NG106 = Config(select=("NG106",))


def flagged(source: str, config: Config = NG106) -> list[int]:
    """The lines NG106 reports in ``source``."""
    findings = lint_source(textwrap.dedent(source), "evaluate.py", Config(
        select=(*config.select, "NG001") if config.select else None,
        extend_select=config.extend_select))
    assert not [f for f in findings if f.code == "NG001"], "the snippet does not parse"
    return [f.line for f in findings if f.code == "NG106"]


def fixed(source: str) -> str:
    return fix_source(textwrap.dedent(source), "evaluate.py", NG106).source


EVAL_LOOP = """
import torch
import torch.nn.functional as F

def test(model, device, test_loader):
    model.eval()
    test_loss, correct = 0, 0
    with torch.no_grad():
        for data, target in test_loader:
            data, target = data.to(device), target.to(device)
            output = model(data)
            test_loss += F.nll_loss(output, target, reduction="sum").item()
            pred = output.argmax(dim=1, keepdim=True)
            correct += pred.eq(target.view_as(pred)).sum().item()
    test_loss /= len(test_loader.dataset)
    print(f"loss {test_loss:.4f}, accuracy {correct}")
"""


def test_opt_in_only():
    assert flagged(EVAL_LOOP, Config()) == []
    assert flagged(EVAL_LOOP, Config(extend_select=("NG106",))) == [8]
    assert flagged(EVAL_LOOP) == [8]


# ------------------------------------------------------------------ safe consumers


@pytest.mark.parametrize("consumer", [
    "print(out)",
    "print(f'{out.mean():.3f}')",
    "value = out.sum().item()",
    "values = out.tolist()",
    "array = out.cpu().numpy()",
    "hit = bool((out > 0).all())",
    "mask = out == labels",
    "if out.max() > 0.5:\n            pass",
    "shape = tuple(out.shape)",
    "logger.info('loss %s', out)",
    "writer.add_scalar('val/loss', out.mean(), step)",
    "rows = [row.tolist() for row in out]",
    "best = np.argmax(out.numpy())",
    "total = out.sum() + 1",
    "picked = labels[out.argmax()]",  # an index computed from it records nothing
    "outputs.append(out)\n        print(torch.cat(outputs).argmax(1).tolist())",
])
def test_outputs_consumed_safely_are_flagged(consumer):
    source = f"""
    import numpy as np
    import torch
    def evaluate(model, x, labels, logger, writer, step):
        outputs = []
        with torch.no_grad():
            out = model(x)
        {consumer}
    """
    assert flagged(source) == [6]


# ------------------------------------------------------------------ (a) meets autograd


@pytest.mark.parametrize("use", [
    "loss = F.mse_loss(student(x), out)",  # saved by a loss with gradients on
    "loss = (student(x) * out).sum()",  # arithmetic with a tensor that may require grad
    "logits = torch.cat([student(x), out])",  # torch.cat into a tracked tensor
    "y = student(out)",  # a module call in training code
    "out.requires_grad_()",  # made a leaf
    "grads = torch.autograd.grad(out.sum(), params)",
    "weights = scale.mul(out)",
])
def test_values_meeting_autograd_are_not_flagged(use):
    source = f"""
    import torch
    import torch.nn.functional as F
    def train_step(teacher, student, x, scale, params):
        with torch.no_grad():
            out = teacher(x)
        {use}
    """
    assert flagged(source) == []


def test_index_with_a_block_tensor_under_grad_is_not_flagged():
    source = """
    import torch
    def gather(model, weight, x):
        with torch.no_grad():
            index = model(x).long()
        return weight[index].sum().item()
    """
    assert flagged(source) == []


def test_an_object_built_in_the_block_and_trained_later_is_not_flagged():
    source = """
    import torch
    from torch import nn
    def build(x):
        with torch.no_grad():
            head = nn.Linear(2, 2)
        return head(x).sum().item()
    """
    assert flagged(source) == []


def test_the_same_use_under_another_no_grad_block_is_safe():
    source = """
    import torch
    def compare(teacher, student, x):
        with torch.no_grad():
            target = teacher(x)
        with torch.no_grad():
            gap = (student(x) - target).abs().max().item()
        return gap
    """
    assert flagged(source) == [4, 6]


# ------------------------------------------------------------------ (b) in place outside


@pytest.mark.parametrize("update", [
    "out += 1",
    "out /= out.norm()",
    "out[0] = 0.0",
    "out.clamp_(0, 1)",
    "out.view(-1).zero_()",
    "torch.add(bias, bias, out=out)",
    "torch.nn.init.zeros_(out)",
    "out.data = bias",
])
def test_in_place_updates_after_the_block_are_not_flagged(update):
    source = f"""
    import torch
    def normalise(model, x, bias):
        with torch.no_grad():
            out = model(x)
        {update}
        return None
    """
    assert flagged(source) == []


def test_in_place_inside_the_block_on_its_own_tensors_is_flagged():
    source = """
    import torch
    def scores(model, x):
        with torch.no_grad():
            out = model(x)
            out.clamp_(0, 1)
            out[out < 0.5] = 0
            out += 1
        return out.sum().item()
    """
    assert flagged(source) == [4]


def test_an_accumulator_that_stays_a_tensor_and_is_updated_after_is_not_flagged():
    source = """
    import torch
    def evaluate(model, loader):
        total = 0.0
        with torch.no_grad():
            for x in loader:
                total += model(x).sum()
        total /= len(loader)
        print(total)
    """
    assert flagged(source) == []


# ------------------------------------------------------------------ (c) outlives the block


@pytest.mark.parametrize("store", [
    "self.cache = model(x)",
    "self.history.append(model(x))",
    "self.table[key] = model(x)",
    "self.register_buffer('center', model(x).mean(0))",
    "setattr(self, 'center', model(x))",
    "results[key] = model(x)",  # a container that is not local
    "CACHE.append(model(x))",  # a global one
])
def test_stores_that_outlive_the_block_are_not_flagged(store):
    source = f"""
    import torch
    CACHE = []
    class Tracker:
        def observe(self, model, x, key, results):
            with torch.no_grad():
                {store}
    """
    assert flagged(source) == []


def test_global_and_returned_values_are_not_flagged():
    source = """
    import torch
    LAST = None
    def remember(model, x):
        global LAST
        with torch.no_grad():
            LAST = model(x)
    def embed(model, x):
        with torch.no_grad():
            features = model(x)
        return features
    @torch.no_grad()
    def predict(model, x):
        return model(x)
    def generate(model, xs):
        with torch.no_grad():
            for x in xs:
                yield model(x)
    """
    assert flagged(source) == []


def test_local_containers_are_followed_to_their_uses():
    safe = """
    import torch
    def evaluate(model, loader):
        predictions, scores = [], {}
        with torch.no_grad():
            for index, x in enumerate(loader):
                predictions.append(model(x).argmax(1))
                scores[index] = model(x).max()
        print(torch.cat(predictions).tolist(), {k: v.item() for k, v in scores.items()})
    """
    assert flagged(safe) == [5]
    unsafe = safe.replace("print(torch.cat(predictions).tolist()",
                          "predictions[0].add_(1); print(0")
    assert flagged(unsafe) == []


def test_returns_are_followed_when_every_caller_is_known():
    source = """
    import torch
    @torch.no_grad()
    def _predict(model, x):
        return model(x)
    def report(model, x):
        print(_predict(model, x).argmax(1).tolist())
    """
    assert flagged(source) == [3]
    assert flagged(source + "    _predict(model, x).add_(1)\n") == []
    assert flagged(source + "hooks = [_predict]\n") == []  # called from places we cannot see


def test_nested_functions_and_closures():
    source = """
    import torch
    def run(model, xs, student):
        with torch.no_grad():
            target = model(xs)
        def loss():
            return (student(xs) * target).sum()
        return loss
    """
    assert flagged(source) == []


# ------------------------------------------------------------------ not inference at all


@pytest.mark.parametrize("body", [
    "for p in model.parameters():\n                p.add_(-0.1 * p.grad)",
    "for avg, p in zip(ema.parameters(), model.parameters()):\n"
    "                avg.mul_(0.99).add_(p, alpha=0.01)",
    "model.apply(init_weights)",
    "torch.nn.init.xavier_uniform_(model.weight)",
    "model.weight.fill_(1.0)",
    "optimizer.step()",
    "ema.update(model)",
    "model.load_state_dict(state)",
    "for p in model.parameters():\n                p = p - 0.1 * p.grad",
    "model.weight[0] = 0.0",
    "w -= 0.1 * w.grad",
    "torch._foreach_mul_(w, 0.99)",
    "torch.relu_(w)",
])
def test_parameter_updates_are_never_proposed(body):
    source = f"""
    import torch
    def update(model, ema, optimizer, state, init_weights, w):
        with torch.no_grad():
            {body}
    """
    assert flagged(source) == []


def test_helpers_of_this_module_that_update_state_are_not_inference():
    source = """
    import torch
    def soft_update(target, source):
        for t, s in zip(target.parameters(), source.parameters()):
            t.copy_(s)
    def sync(target, source):
        with torch.no_grad():
            soft_update(target, source)
    """
    assert flagged(source) == []


@pytest.mark.parametrize("body", [
    "with torch.enable_grad():\n                out = model(x)",
    "loss = model(x).sum()\n            loss.backward()",
])
def test_blocks_that_need_autograd_are_not_proposed(body):
    source = f"""
    import torch
    def step(model, x):
        with torch.no_grad():
            {body}
    """
    assert flagged(source) == []


def test_forward_hooks_or_storing_forwards_make_model_calls_unsafe():
    hooks = """
    import torch
    feats = []
    net.layer.register_forward_hook(lambda m, i, o: feats.append(o))
    with torch.no_grad():
        net(x)
    """
    storing = """
    import torch
    from torch import nn
    class Net(nn.Module):
        def forward(self, x):
            self.last = x * 2
            return self.last
    with torch.no_grad():
        print(Net()(x).sum().item())
    """
    assert flagged(hooks) == []
    assert flagged(storing) == []


# ------------------------------------------------------------------ forms and fixes


def test_decorator_forms_and_alias_spellings():
    source = """
    import torch as T
    from torch import no_grad as ng
    from torch.autograd import no_grad

    @T.no_grad()
    def _a(m, x):
        print(m(x).sum().item())

    @T.no_grad
    def _b(m, x):
        print(m(x).sum().item())

    @ng()
    def _c(m, x):
        print(m(x).sum().item())

    @no_grad()
    def _d(m, x):
        print(m(x).sum().item())

    with T.autograd.no_grad():
        print(m(x).sum().item())
    """
    assert flagged(source) == [6, 10, 14, 18, 22]


def test_fix_keeps_the_modules_spelling():
    source = """
    import torch as T
    @T.no_grad
    def _a(m, x):
        print(m(x).item())
    with T.autograd.no_grad():
        print(m(x).item())
    with T.no_grad(), open("log") as log:
        log.write(str(m(x).item()))
    """
    result = fixed(source)
    assert "@T.inference_mode\ndef _a" in result
    assert "with T.autograd.inference_mode():" in result
    assert 'with T.inference_mode(), open("log") as log:' in result
    assert flagged(result) == []


def test_fix_adds_inference_mode_to_a_from_import():
    source = """
    from torch import nn, no_grad
    with no_grad():
        print(nn.Linear(2, 2)(x).sum().item())
    """
    result = fixed(source)
    assert "from torch import nn, inference_mode\n" in result  # no_grad, now unused, goes
    assert "with inference_mode():" in result
    assert fixed(result) == result  # fixing twice changes nothing


def test_fix_uses_an_existing_spelling_and_keeps_parenthesised_imports():
    existing = fixed("""
    import torch
    from torch import no_grad
    with no_grad():
        print(m(x).item())
    """)
    assert "with torch.inference_mode():" in existing
    parenthesised = fixed("""
    from torch import (
        nn,
        no_grad,
    )
    with no_grad():
        print(nn.Linear(2, 2)(x).sum().item())
    """)
    assert "    nn,\n    inference_mode,\n)" in parenthesised
    assert "with inference_mode():" in parenthesised


def test_no_fix_when_inference_mode_is_taken():
    source = textwrap.dedent("""
    from torch import no_grad
    def inference_mode():
        return None
    with no_grad():
        print(m(x).item())
    """)
    findings = lint_source(source, "evaluate.py", NG106)
    assert [(f.line, f.fix) for f in findings] == [(5, None)]
    assert fixed(source) == source


def test_cli_migrates_a_directory_in_one_command(tmp_path):
    (tmp_path / "evaluate.py").write_text(textwrap.dedent(EVAL_LOOP))
    (tmp_path / "train.py").write_text(textwrap.dedent("""
    import torch
    def step(model, opt):
        with torch.no_grad():
            for p in model.parameters():
                p.add_(1)
    """))
    done = subprocess.run([sys.executable, "-m", "nograd_lint", "--select", "NG106", "--fix", "."],
                          capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "with torch.inference_mode():" in (tmp_path / "evaluate.py").read_text()
    assert "with torch.no_grad():" in (tmp_path / "train.py").read_text()
    explained = subprocess.run([sys.executable, "-m", "nograd_lint", "--explain", "NG106"],
                               capture_output=True, text=True, timeout=60)
    assert "opt-in" in explained.stdout and "## Example" in explained.stdout


def test_a_list_filled_in_the_block_and_returned_is_not_flagged():
    source = """
    import torch
    def accuracy(output, target, topk=(1,)):
        with torch.no_grad():
            res = []
            for k in topk:
                res.append(output.topk(k)[1].eq(target).float().sum())
            return res
    """
    assert flagged(source) == []


def test_a_meter_fed_numbers_is_not_a_state_update_but_one_fed_tensors_is():
    source = """
    import torch
    def validate(model, x, losses, top1):
        with torch.no_grad():
            out = model(x)
            losses.update(out.mean().item(), len(x))
            {extra}
    """
    assert flagged(source.format(extra="pass")) == [4]
    assert flagged(source.format(extra="top1.update(out.max(), len(x))")) == []


@pytest.mark.parametrize("method, migratable", [
    ("share_memory_", True), ("detach_", True), ("add_(1)", False), ("requires_grad_", False)])
def test_only_methods_that_write_the_data_are_in_place_updates(method, migratable):
    # PyTorch allows detach_() and share_memory_() on an inference tensor outside inference
    # mode (see tests/lint/test_vocabulary.py); add_() and requires_grad_() raise.
    call = method if "(" in method else f"{method}()"
    source = f"""
    import torch

    def embed(model, x):
        with torch.no_grad():
            out = model(x)
        out.{call}
        return out.tolist()
    """
    assert flagged(source) == ([5] if migratable else [])
