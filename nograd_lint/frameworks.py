"""Where frameworks already run user code without gradients: one registry, as data.

A framework calls some methods of the classes users derive from its base classes inside its own
``no_grad``/``inference_mode`` region (Lightning's ``validation_step``), or under a grad mode
it decides at run time (torchmetrics' ``Metric.update``).  Such a method needs no ``no_grad`` of
its own, and neither do the helpers it alone calls.  The facts and their sources are in
``../shared/framework-grad-facts.md``; a project adds its own with the ``no-grad-hooks`` key of
``[tool.nograd-lint]``.

Free of libcst: the ast screen and the project index read it too.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass


class HookMode(enum.Enum):
    DISABLED = "disabled"  # the framework runs it under no_grad/inference_mode
    MANAGED = "managed"  # with or without gradients, as the framework decides


@dataclass(frozen=True)
class Hooks:
    """Methods that ``framework`` calls, in subclasses of ``bases``, in ``mode``."""

    framework: str
    bases: frozenset[str]  # qualified names of the base classes, every public spelling
    methods: frozenset[str]
    mode: HookMode


def _lightning_hooks() -> frozenset[str]:
    # Lightning 2.x evaluation and prediction loops (``_no_grad_context``), with the 1.x
    # ``*_step_end``/``*_epoch_end`` that ran inside the same loops.
    hooks = {"validation_step", "test_step", "predict_step", "validation_step_end",
             "test_step_end", "validation_epoch_end", "test_epoch_end"}
    for stage in ("validation", "test", "predict"):
        hooks |= {f"on_{stage}_{event}" for event in (
            "model_eval", "start", "epoch_start", "batch_start", "batch_end", "epoch_end", "end")}
    hooks |= {"on_validation_model_train", "on_test_model_train"}
    return frozenset(hooks)


def _spellings(modules: Iterable[str], names: Iterable[str]) -> frozenset[str]:
    return frozenset(f"{module}.{name}" for module in modules for name in names)


_LIGHTNING = ("pytorch_lightning", "pytorch_lightning.core", "pytorch_lightning.core.module",
              "pytorch_lightning.core.lightning", "pytorch_lightning.callbacks",
              "pytorch_lightning.callbacks.callback", "lightning", "lightning.pytorch",
              "lightning.pytorch.core", "lightning.pytorch.core.module",
              "lightning.pytorch.callbacks", "lightning.pytorch.callbacks.callback")

REGISTRY: tuple[Hooks, ...] = (
    Hooks("PyTorch Lightning", _spellings(_LIGHTNING, ("LightningModule", "Callback")),
          _lightning_hooks(), HookMode.DISABLED),
    Hooks("Keras 3 (torch backend)",
          _spellings(("keras", "keras.models", "keras.src.models", "keras.src.models.model"),
                     ("Model",)),
          frozenset({"test_step", "predict_step"}), HookMode.DISABLED),
    Hooks("skorch", _spellings(("skorch", "skorch.net", "skorch.classifier", "skorch.regressor"),
                               ("NeuralNet", "NeuralNetClassifier", "NeuralNetRegressor")),
          frozenset({"validation_step"}), HookMode.DISABLED),
    Hooks("skorch", _spellings(("skorch", "skorch.net", "skorch.classifier", "skorch.regressor"),
                               ("NeuralNet", "NeuralNetClassifier", "NeuralNetRegressor")),
          frozenset({"evaluation_step"}), HookMode.MANAGED),
    Hooks("fastai", _spellings(("fastai.callback.core", "fastai.callback.all", "fastai.vision.all",
                                "fastai.text.all", "fastai.tabular.all", "fastai.basics"),
                               ("Callback",)),
          frozenset({"before_validate", "after_validate"}), HookMode.DISABLED),
    Hooks("fastai", _spellings(("fastai.callback.core", "fastai.callback.all", "fastai.vision.all",
                                "fastai.text.all", "fastai.tabular.all", "fastai.basics"),
                               ("Callback",)),
          frozenset({"before_batch", "after_pred", "after_loss", "after_batch"}),
          HookMode.MANAGED),
    Hooks("torchmetrics", _spellings(("torchmetrics", "torchmetrics.metric"), ("Metric",)),
          frozenset({"update"}), HookMode.MANAGED),
    Hooks("ignite", _spellings(("ignite.metrics", "ignite.metrics.metric"), ("Metric",)),
          frozenset({"update", "iteration_completed"}), HookMode.DISABLED),
)


def hook_mode(bases: Iterable[str], method: str,
              extra: tuple[Hooks, ...] = ()) -> HookMode | None:
    """How a framework runs ``method`` of a class with these (qualified) ancestors, if it
    calls it at all.  ``DISABLED`` wins over ``MANAGED`` when several frameworks apply."""
    found = None
    ancestors = set(bases)
    for hooks in (*REGISTRY, *extra):
        if method in hooks.methods and not ancestors.isdisjoint(hooks.bases):
            if hooks.mode is HookMode.DISABLED:
                return HookMode.DISABLED
            found = HookMode.MANAGED
    return found


def configured_hooks(entries: Iterable[str]) -> tuple[Hooks, ...]:
    """``no-grad-hooks`` entries, ``"package.module.Base.method"``: methods that a project's
    own framework runs without gradients in subclasses of ``Base``."""
    hooks = []
    for entry in entries:
        base, _, method = entry.rpartition(".")
        if not base or not method:
            raise ValueError(f"'{entry}' is not 'module.Class.method'")
        hooks.append(Hooks("configuration", frozenset({base}), frozenset({method}),
                           HookMode.DISABLED))
    return tuple(hooks)
