"""The pre-filters are sound: skipping files by text and by syntax-tree features never hides a
finding.  Every fixture and every code snippet of the lint tests is linted with and without
``--no-prefilter`` (through the CLI), and the findings must be identical."""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from nograd_lint.config import Config
from nograd_lint.rules import RULES
from nograd_lint.screen import features
from nograd_lint.testing import expected_findings, rule_examples
from tests.fixture_programs import FIXTURES, ROOT

_SNIPPET = re.compile(r'"""(.*?)"""', re.DOTALL)


def _snippets() -> list[str]:
    """The Python programs quoted in the lint tests (``{region}`` placeholders filled in), and
    every rule's documented examples."""
    found = []
    for test in sorted((ROOT / "tests" / "lint").glob("test_*.py")):
        for text in _SNIPPET.findall(test.read_text()):
            code = textwrap.dedent(text.replace("{region}", "with torch.no_grad():")
                                   .replace("{creation}", "torch.zeros(3, requires_grad=True)"))
            if "torch" not in code:
                continue
            try:
                ast.parse(code)
            except SyntaxError:
                continue
            found.append(code)
    found += [example.source for _, example, _ in rule_examples()]
    return found


def _lint(directory: Path, *extra: str) -> list[tuple]:
    done = subprocess.run(
        [sys.executable, "-m", "nograd_lint", "--select", "NG,NG106,NG205", "--format", "json", "--jobs", "1",
         *extra, str(directory)], capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert done.returncode in (0, 1), done.stderr
    return sorted((row["path"], row["line"], row["column"], row["code"])
                  for row in json.loads(done.stdout) if row["code"] != "NG001")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    directory = tmp_path_factory.mktemp("corpus")
    for number, code in enumerate(_snippets()):
        (directory / f"snippet_{number:03d}.py").write_text(code)
    for fixture in FIXTURES.glob("*.py"):
        (directory / fixture.name).write_text(fixture.read_text())
    return directory


def test_the_corpus_exercises_every_rule(corpus):
    codes = {code for *_, code in _lint(corpus, "--no-prefilter")}
    assert set(RULES) - {"NG001"} <= codes


def test_prefilters_hide_no_finding(corpus):
    assert _lint(corpus) == _lint(corpus, "--no-prefilter")


def test_rules_declare_only_features_the_screen_knows():
    documented = "".join(path.read_text() for path in (ROOT / "nograd_lint" / "screen").glob("*.py"))
    known = set(re.findall(r"^``([a-z-]+)``", documented, re.MULTILINE))
    for rule in RULES.values():
        assert rule.features <= known, rule.code
    source = (FIXTURES / "ng201_custom_optimizer.py").read_text()
    everything = features(ast.parse(source), source, "ng201_custom_optimizer.py", Config())
    assert everything <= known


def test_the_screen_skips_files_no_rule_can_fire_on(tmp_path):
    # Text triggers everywhere (``.weight``, ``val``, ``backward``), yet nothing to flag.
    (tmp_path / "model.py").write_text(textwrap.dedent("""
        import torch
        from torch import nn

        class Block(nn.Module):
            def __init__(self, dim):
                super().__init__()
                self.proj = nn.Linear(dim, dim)
                self.scale = nn.Parameter(torch.ones(dim))

            def forward(self, x):
                value = self.proj(x) * self.scale
                return value + self.proj.bias
        """))
    source = (tmp_path / "model.py").read_text()
    present = features(ast.parse(source), source, "model.py", Config())
    enabled = [rule for rule in RULES.values() if rule.default_enabled and rule.code != "NG001"]
    assert not [rule.code for rule in enabled if rule.features <= present and rule.features]


# Projects of several files, where callers in other files decide a function's grad mode (the
# project index).  A trailing ``# NGxxx`` marks each line the linter must flag.
CROSS_FILE = {
    "called only under no_grad elsewhere": {
        "b.py": """
            import torch

            def evaluate(model, loader):
                for x in loader:
                    model(x)
            """,
        "a.py": """
            import torch
            from b import evaluate

            def main(model, val_loader):
                with torch.no_grad():
                    evaluate(model, val_loader)
            """,
    },
    "called once with gradients elsewhere": {
        "b.py": """
            import torch

            def evaluate(model, loader):
                for x in loader:
                    model(x)  # expect: NG101
            """,
        "a.py": """
            import torch
            from b import evaluate

            @torch.no_grad()
            def main(model, val_loader):
                evaluate(model, val_loader)
            """,
        "c.py": """
            import b

            def once(model, loader):
                b.evaluate(model, loader)
            """,
    },
    "disabled here, enabled elsewhere": {
        "b.py": """
            import torch

            def evaluate(model, loader):
                for x in loader:
                    model(x)  # expect: NG101

            def check(model, loader):
                with torch.no_grad():
                    evaluate(model, loader)
            """,
        "a.py": """
            import torch
            import b

            def main(model, loader):
                b.evaluate(model, loader)
            """,
    },
    "a chain of callers through three files": {
        "c.py": """
            import torch

            def predict(model, x):
                return model(x)
            """,
        "b.py": """
            import torch
            from c import predict

            def outer(model, x):
                return predict(model, x)
            """,
        "a.py": """
            import torch
            from b import outer

            def main(model, x):
                with torch.no_grad():
                    outer(model, x)
            """,
    },
    "backward in a helper called under no_grad": {
        "b.py": """
            import torch

            def step(model, x):
                loss = model(x).sum()
                loss.backward()  # expect: NG104
            """,
        "a.py": """
            import torch
            from b import step

            def main(model, x):
                with torch.no_grad():
                    step(model, x)
            """,
    },
    "leaf updates in helpers": {
        "b.py": """
            import torch

            layer = torch.nn.Linear(2, 2)

            def bump():
                layer.weight.add_(1)

            def shift():
                layer.bias.add_(1)  # expect: NG201

            class Net(torch.nn.Module):
                def __init__(self):
                    super().__init__()
                    self.fc = torch.nn.Linear(2, 2)

                def reset(self):
                    self.fc.weight.mul_(0)
            """,
        "a.py": """
            import torch
            from b import Net, bump, shift

            class Big(Net):
                def prepare(self):
                    with torch.no_grad():
                        self.reset()
                        bump()
                        shift()

            def train():
                shift()
            """,
    },
    "parameters bound by callers in other files": {
        "pkg/__init__.py": "",
        "pkg/weight_init.py": """
            import torch

            def _fill(tensor, low, high):
                tensor.uniform_(low, high)  # expect: NG201
                return tensor

            def fill_(tensor, bound=1.0):
                return _fill(tensor, -bound, bound)

            def safe_fill_(tensor):
                with torch.no_grad():
                    return _fill(tensor, -1.0, 1.0)
            """,
        "pkg/optim.py": """
            import torch

            def sgd_(params, lr):
                for p in params:
                    p -= lr * p.grad  # expect: NG201

            def decay_(params, rate):
                for p in params:
                    p.mul_(rate)
            """,
        "pkg/models.py": """
            import torch
            from torch import nn
            from .weight_init import fill_, safe_fill_

            class Net(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.pos = nn.Parameter(torch.zeros(3))
                    self.head = nn.Linear(3, 3)
                    fill_(self.pos)
                    safe_fill_(self.head.weight)
            """,
        "train.py": """
            import torch
            from pkg import optim

            def train(net, batches):
                for x in batches:
                    net(x).sum().backward()
                    optim.sgd_(net.parameters(), lr=0.1)
                    with torch.no_grad():
                        optim.decay_(net.parameters(), 0.99)
            """,
    },
    "a parameter passed on through a chain of files": {
        "helpers.py": """
            import torch

            def clip_(tensor, bound):
                tensor.clamp_(-bound, bound)  # expect: NG201
            """,
        "layers.py": """
            import torch
            import helpers

            def clip_all(weights, bound):
                for w in weights:
                    helpers.clip_(w, bound)
            """,
        "main.py": """
            import torch
            from layers import clip_all

            def main(model):
                clip_all(model.parameters(), 1.0)
            """,
    },
    "escapes elsewhere, or managed elsewhere": {
        "pkg/__init__.py": """
            from .metrics import evaluate, validate
            """,
        "pkg/metrics.py": """
            import torch

            def evaluate(model, loader):
                for x in loader:
                    model(x)  # expect: NG101

            def validate(model, loader):
                for x in loader:
                    model(x)
            """,
        "main.py": """
            import torch
            from pkg import evaluate, validate

            HOOKS = {"eval": evaluate}

            def main(model, loader, training):
                with torch.no_grad():
                    evaluate(model, loader)
                with torch.set_grad_enabled(training):
                    validate(model, loader)
            """,
    },
    "methods called through receivers of unknown class": {
        "models/__init__.py": """
            from .vae import *
            """,
        "models/vae.py": """
            import torch

            class VAE(torch.nn.Module):
                def generate(self, x, labels=None):
                    return self.forward(x)

                def predict(self, count, device):
                    return self.decode(torch.randn(count, device=device))

            class Flow(torch.nn.Module):
                def generate(self, x, temperature):
                    return self.forward(x)  # expect: NG101

            class Sampler:
                def predict(self, x, steps=20):
                    return self.model(x)  # expect: NG101
            """,
        "experiment.py": """
            import torch
            import pytorch_lightning as pl
            from models import VAE

            class Experiment(pl.LightningModule):
                def on_validation_end(self):
                    self.sample_images()

                def sample_images(self):
                    recons = self.model.generate(self.x, labels=self.y)
                    return recons.data

            def train(flow, x):
                return flow.generate(x, temperature=0.5)

            def draw(sampler, x):
                return sampler.predict(x, steps=10)

            @torch.no_grad()
            def show(vae):
                return vae.predict(16, "cpu")
            """,
        "tests/test_models.py": """
            import torch
            from models import VAE

            def test_generate():
                VAE().generate(torch.ones(2))
            """,
    },
    "methods read, not called, or called by their framework": {
        "models.py": """
            import torch
            import pytorch_lightning as pl
            from transformers import Trainer

            class Net(torch.nn.Module):
                def predict(self, x):
                    return self.forward(x)  # expect: NG101

            class Model(pl.LightningModule):
                def validate_batch(self, x):
                    return self.forward(x)

                def on_train_batch_end(self, outputs, batch, batch_idx):
                    self.net.eval()
                    return self.net(batch)  # expect: NG105

            class CustomTrainer(Trainer):
                def evaluation_loop(self, loader):
                    return [self.model(x) for x in loader]  # expect: NG101
            """,
        "main.py": """
            import torch

            def run(net, model, trainer, loader):
                with torch.no_grad():
                    net.predict(1)
                    model.validate_batch(1)
                    model.on_train_batch_end(None, 1, 0)
                    trainer.evaluation_loop(loader)
                return getattr(net, "predict")
            """,
    },
    "grad mode switched off for the rest of a script": {
        "helpers.py": """
            import torch

            def evaluate(model, loader):
                return [model(x) for x in loader]

            def validate(model, loader):
                return [model(x) for x in loader]  # expect: NG101
            """,
        "infer.py": """
            import torch
            from helpers import evaluate, validate

            validate(torch.load("m.pt"), [])
            torch.no_grad().__enter__()
            evaluate(torch.load("m.pt"), [])
            validate(torch.load("m.pt"), [])
            """,
        "script.py": """
            import torch

            def predict(model, x):
                return model(x)

            if __name__ == "__main__":
                torch.set_grad_enabled(False)
                print(predict(torch.load("m.pt"), torch.ones(2)))
            """,
    },
    "a public interface whose methods only call each other by name": {
        "blocks.py": """
            import torch

            class Block(torch.nn.Module):
                def predict(self, x):
                    return self.forward(x)  # expect: NG101
            """,
        "net.py": """
            import torch

            class Net(torch.nn.Module):
                def predict(self, x):
                    return self.block.predict(x)
            """,
    },
}


def _markers(files: dict[str, str]) -> list[tuple]:
    return sorted((path, number, code) for path, text in files.items()
                  for number, code in expected_findings(textwrap.dedent(text)))


@pytest.mark.parametrize("case", sorted(CROSS_FILE))
def test_filters_and_cache_hide_no_cross_file_finding(tmp_path, case):
    files = CROSS_FILE[case]
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'case'\n")
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(textwrap.dedent(text))
    runs = {mode: [(Path(path).relative_to(tmp_path).as_posix(), line, code)
                   for path, line, _, code in _lint(tmp_path, *options)]
            for mode, options in (("cold cache", ()), ("warm cache", ()),
                                  ("no cache", ("--no-cache",)),
                                  ("no filters", ("--no-prefilter", "--no-cache")),
                                  ("no filters, cache", ("--no-prefilter",)))}
    expected = _markers(files)
    for mode, found in runs.items():
        # NG106 (opt-in) may propose inference_mode for the no_grad blocks: not the point here.
        assert [f for f in found if f[2] != "NG106"] == expected, mode
    assert len({tuple(found) for found in runs.values()}) == 1, runs
