"""NG101-NG105 and the grad-region analysis, through the engine's public API."""

from __future__ import annotations

import textwrap

import pytest

from nograd_lint.config import Config
from nograd_lint.engine import lint_source
from nograd_lint.fix import fix_source

# NG106 (opt-in migration advice on no_grad blocks) is tested in test_inference_mode.py.
ALL = Config(select=("NG",), ignore=("NG106",))


def codes(source: str, config: Config = ALL, path: str = "train.py") -> list[tuple[int, str]]:
    return [(f.line, f.code) for f in lint_source(textwrap.dedent(source), path, config)]


@pytest.mark.parametrize("region", [
    "with torch.no_grad():",
    "with torch.inference_mode():",
    "with torch.inference_mode(mode=True):",
    "with torch.set_grad_enabled(False):",
    "with torch.autograd.no_grad():",
    "with torch.no_grad(), open('log') as log:",
    "with torch.set_grad_enabled(phase == 'train'):",  # managed by the program
    "with (torch.no_grad() if eval_only else nullcontext()):",  # managed
    "with evaluating(model):",  # somebody else's grad-mode manager, by its name
])
def test_disabled_or_managed_regions_are_not_flagged(region):
    source = f"""
    import torch
    def validate(model, val_loader, phase="val", eval_only=True):
        {region}
            return [model(x) for x in val_loader]
    """
    assert codes(source) == []


@pytest.mark.parametrize("region", ["with torch.enable_grad():", "with torch.inference_mode(False):"])
def test_re_enabled_regions_are_flagged(region):
    source = f"""
    import torch
    @torch.no_grad()
    def validate(model, val_loader):
        {region}
            return [model(x) for x in val_loader]
    """
    assert codes(source) == [(6, "NG101")]


def test_decorators_with_and_without_parentheses_and_aliases():
    source = """
    import torch as T
    from torch import no_grad as ng
    from torch.autograd import inference_mode
    @T.no_grad
    def predict(model, x):
        return model(x)
    @ng()
    def infer(model, x):
        return model(x)
    @inference_mode()
    def evaluate(model, x):
        return model(x)
    """
    assert codes(source) == []


def test_earlier_bare_set_grad_enabled_in_the_same_function():
    source = """
    import torch
    def evaluate(model, x):
        torch.set_grad_enabled(False)
        out = model(x)
        torch.set_grad_enabled(True)
        return out, model(x)
    """
    assert codes(source) == [(7, "NG101")]


def test_helpers_called_only_from_disabled_regions_inherit_it():
    source = """
    import torch
    def predict(model, x):
        return model(x)
    class Runner:
        def evaluate(self, x):
            return self.model(x)
        def run(self, x):
            with torch.no_grad():
                return self.evaluate(x), predict(self.model, x)
    """
    assert codes(source) == []


def test_a_helper_also_called_with_grad_or_passed_around_is_not_disabled():
    source = """
    import torch
    def predict(model, x):
        return model(x)
    def run(model, x):
        with torch.no_grad():
            predict(model, x)
        return predict(model, x)
    def infer(model, x):
        return model(x)
    callbacks = [infer]
    """
    assert codes(source) == [(4, "NG101"), (10, "NG101")]


def test_model_apply_under_no_grad_counts_as_a_call_there():
    source = """
    import torch
    def predict_init(m):
        return m.model(torch.ones(1))
    with torch.no_grad():
        net.apply(predict_init)
    """
    assert codes(source) == []


def test_lambdas_and_nested_functions_inherit_nothing_from_the_enclosing_with():
    source = """
    import torch
    def evaluate(model, val_loader):
        with torch.no_grad():
            later = lambda x: model(x)
            def nested(x):
                return model(x)
        return later, nested
    """
    assert codes(source) == [(5, "NG101"), (7, "NG101")]


def test_a_lambda_named_in_a_function_runs_where_it_is_called():
    source = """
    import torch
    class Solver:
        def predict_noise(self, x):
            return self.model(x)

        def sample(self, x):
            update = lambda v: self.predict_noise(v)
            with torch.no_grad():
                return update(x)

        def score(self, x):
            step = lambda v: self.model(v)
            return step(x)  # a call with gradients: the lambda's forward is flagged
    """
    assert codes(source) == [(13, "NG101")]


def test_training_regions_are_never_flagged():
    source = """
    import torch
    def train_and_evaluate(model, loader, optimizer):
        model.eval()
        for x, y in loader:
            loss = model(x).sum()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    def validate_grads(model, val_loader):
        for x in val_loader:
            torch.autograd.grad(model(x).sum(), model.parameters())
    """
    assert codes(source) == []


def test_detached_outputs_are_inference_and_test_code_in_test_files_is_not():
    # ``.detach()`` drops the graph only after the forward pass recorded it.
    source = """
    import torch
    def predict(model, x):
        return model(x).detach()
    def test_model_shapes(model):
        assert model(torch.ones(1)).shape == (1,)
    def encoder_test(model):
        assert model(torch.ones(1)).shape == (1,)
    """
    assert codes(source, path="tests/test_model.py") == [(4, "NG101")]
    assert codes(source, path="train.py") == [(4, "NG101"), (6, "NG101"), (8, "NG101")]


def test_configured_evaluation_patterns():
    source = """
    import torch
    def rollout(policy_net, states):
        return [policy_net(s) for s in states]
    """
    assert codes(source) == []
    assert codes(source, Config(select=("NG",), eval_function_patterns=("^rollout$",))) == [(4, "NG101")]


def test_eval_only_evidence_is_ng105_until_train_is_called():
    source = """
    import torch
    def embed(encoder, x):
        encoder.eval()
        first = encoder(x)
        encoder.train()
        return first, encoder(x)
    """
    assert codes(source) == [(5, "NG105")]


def test_ng102_forms():
    source = """
    import torch
    with torch.no_grad:
        pass
    with torch.enable_grad(False):
        pass
    with torch.set_grad_enabled:
        pass
    with torch.inference_mode(False):
        pass
    """
    assert codes(source) == [(3, "NG102"), (5, "NG102"), (7, "NG102")]
    fixed = fix_source(textwrap.dedent(source), "t.py", ALL).source
    assert "with torch.no_grad():" in fixed and "with torch.set_grad_enabled:" in fixed


def test_ng103_only_when_not_restored_in_the_function():
    source = """
    import torch
    torch.set_grad_enabled(False)
    def leak():
        torch.set_grad_enabled(False)
    def restore():
        torch.set_grad_enabled(False)
        try:
            pass
        finally:
            torch.set_grad_enabled(True)
    """
    assert codes(source) == [(5, "NG103")]


def test_ng104_needs_the_value_computed_in_the_disabled_region():
    source = """
    import torch
    def step(model, x, w):
        outside = model(x).sum()
        with torch.no_grad():
            outside.backward()
            inside = model(x).sum()
            alias = inside
            alias.backward()
            (outside * 2).backward()
            leaf = torch.ones(2, requires_grad=True)
            leaf.backward(torch.ones(2))
            with torch.enable_grad():
                fine = model(x).sum()
                fine.backward()
        inside.backward()  # after the block: still no graph
    """
    assert codes(source) == [(9, "NG104"), (10, "NG104"), (16, "NG104")]


def test_unsafe_fixes_need_the_flag_and_use_the_modules_alias():
    source = textwrap.dedent("""
    import torch as T
    def validate(model, val_data):
        return [model(x).argmax(1) for x in val_data]
    """)
    assert fix_source(source, "t.py", ALL).source == source
    fixed = fix_source(source, "t.py", ALL, unsafe=True).source
    assert "@T.no_grad()\ndef validate" in fixed
    assert codes(fixed) == []


def test_outputs_that_reach_backward_make_it_training():
    source = """
    import torch
    def validate(model, val_loader):
        for x in val_loader:
            out = model(x)
        loss = out.sum()
        loss.backward()
    def check(net, x):
        net.eval()
        return encoder(x)  # imported below: no model of this module's
    from models import encoder
    """
    assert codes(source) == []


def test_no_fix_where_an_output_may_reach_a_gradient_consumer():
    # Returned to callers nobody sees (a public function): they may call backward() on it.
    source = textwrap.dedent("""
    import torch
    def validate(model, val_data):
        return [model(x) for x in val_data]
    def _score(model, x):
        return model(x)
    def report(model, x, y):
        print(_score(model, x).argmax(1).eq(y).sum().item())
    """)
    assert codes(source) == [(4, "NG101"), (6, "NG101")]
    fixed = fix_source(source, "t.py", ALL, unsafe=True).source
    assert "def validate" in fixed and "@torch.no_grad()\ndef validate" not in fixed
    assert "@torch.no_grad()\ndef _score" in fixed


def test_model_factories_and_pytest_tests_are_not_forward_passes():
    source = """
    import torch
    def test_vit(pretrained=False):
        model = _create_vision_transformer("test_vit", pretrained=pretrained)
        return build_model(model)
    def test_eval_mode(model):
        model.eval()
        assert model(torch.ones(1)).shape == (1,)
    """
    assert codes(source, path="timm/models/vit.py") == [(8, "NG101")]
    assert codes(source, path="tests/test_models.py") == []


def test_eval_chained_on_construction():
    source = """
    import torch
    def main(image):
        encoder = EncoderCNN(256).eval()
        feature = encoder(image)
        return feature
    """
    assert codes(source) == [(5, "NG105")]


def test_eval_region_starts_at_the_eval_call_not_at_the_forward_before_it():
    # Intended change with the semantic model's pre-order index: a region after
    # ``encoder = EncoderCNN().eval()`` used to start at the call before that statement.
    source = """
    import torch
    def main(model, image):
        warm = model(image)
        encoder = EncoderCNN(256).eval()
        return warm, encoder
    """
    assert codes(source) == []
