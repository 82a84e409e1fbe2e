"""Framework hooks that already run without gradients (nograd_lint/frameworks.py): not flagged
in their module, nor are the helpers that only they call, in this file or another."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from nograd_lint.config import Config
from nograd_lint.testing import check

NG1 = Config(select=("NG101", "NG105"))


def test_lightning_module_and_callback_hooks():
    check("""
        import torch
        import pytorch_lightning as pl
        from lightning.pytorch.callbacks import Callback

        class Model(pl.LightningModule):
            def validation_step(self, batch, batch_idx):
                return self(batch[0])

            def predict_step(self, batch):
                self.eval()
                return [self(x) for x in batch]

        class Logger(Callback):
            def on_validation_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
                pl_module.eval()
                return pl_module(batch)

            def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
                pl_module.eval()
                return pl_module(batch)  # expect: NG105
        """, config=NG1)


def test_hooks_through_the_modules_own_base_classes_and_helpers_they_alone_call():
    check("""
        import torch
        from lightning import LightningModule

        class Base(LightningModule):
            pass

        class Classifier(Base):
            def test_step(self, batch, batch_idx):
                return render(self, batch)

        def render(model, batch):
            model.eval()
            return model(batch)

        def validate(model, val_loader):
            return [model(x) for x in val_loader]  # expect: NG101
        """, config=NG1)


def test_managed_and_other_frameworks():
    check("""
        import torch
        import keras
        import torchmetrics

        class Net(keras.Model):
            def test_step(self, data):
                self.eval()
                return self(data)

        class Score(torchmetrics.Metric):
            def update(self, model, batch):
                model.eval()
                self.total += model(batch).sum()

        class NotAFramework:
            def test_step(self, model, data):
                model.eval()
                return model(data)  # expect: NG101
        """, config=NG1)


def _lint(directory, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "nograd_lint", "--no-cache", *args, "."],
                          cwd=directory, capture_output=True, text=True, timeout=120)


def test_helpers_in_other_files_called_only_from_hooks(tmp_path):
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'p'\n")
    (tmp_path / "hooks.py").write_text(textwrap.dedent("""
        import pytorch_lightning as pl
        from helpers import render

        class Model(pl.LightningModule):
            def on_validation_epoch_end(self):
                render(self, self.example)
        """))
    (tmp_path / "helpers.py").write_text(textwrap.dedent("""
        import torch

        def render(model, x):
            model.eval()
            return model(x)
        """))
    done = _lint(tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    (tmp_path / "hooks.py").write_text((tmp_path / "hooks.py").read_text().replace(
        "pl.LightningModule", "object"))
    assert "helpers.py:6:12: NG105" in _lint(tmp_path).stdout


def test_configured_hooks(tmp_path):
    (tmp_path / "engine.py").write_text(textwrap.dedent("""
        import torch
        from myframework.engine import Evaluator

        class Scorer(Evaluator):
            def run_batch(self, model, batch):
                model.eval()
                return model(batch)
        """))
    assert "NG105" in _lint(tmp_path).stdout
    (tmp_path / "pyproject.toml").write_text(
        '[tool.nograd-lint]\nno-grad-hooks = ["myframework.engine.Evaluator.run_batch"]\n')
    done = _lint(tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    (tmp_path / "pyproject.toml").write_text('[tool.nograd-lint]\nno-grad-hooks = ["run_batch"]\n')
    done = _lint(tmp_path)
    assert done.returncode == 2 and "no-grad-hooks" in done.stderr and "Traceback" not in done.stderr
