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
import re
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


#: Methods of framework classes that run their forward passes without gradients, by name:
#: Hugging Face transformers' ``GenerationMixin.generate`` is ``@torch.no_grad()``
#: (src/transformers/generation/utils.py).  A call ``<model>.generate(...)`` runs no forward
#: with gradients unless the module defines a ``generate`` of its own.
NO_GRAD_METHODS = frozenset({"generate"})


#: External base classes whose code calls no method of a subclass but those Python and torch
#: call without naming them (``forward``, ``__getitem__``): a subclass's other methods run only
#: where the project calls them.
INERT_BASES = frozenset({
    "object", "abc.ABC", "typing.Generic", "typing.NamedTuple", "typing.Protocol",
    "torch.nn.Module", "torch.nn.modules.module.Module", "torch.nn.Sequential",
    "torch.nn.ModuleList", "torch.nn.ModuleDict", "torch.utils.data.Dataset",
    "torch.utils.data.IterableDataset", "torch.utils.data.dataset.Dataset",
})
#: The methods Lightning calls in subclasses of its bases: hooks, steps, set-up (never a
#: private ``_helper``).
_LIGHTNING_CALLS = re.compile(
    r"(?!_)(?:on_\w+|\w+_step(_end)?|\w+_epoch_end|configure_\w+|\w+_dataloader|setup|teardown"
    r"|prepare_data|backward|optimizer_\w+|lr_scheduler_step|transfer_batch_to_device"
    r"|\w+_state_dict|state_dict)")
_LIGHTNING_BASES = _spellings(_LIGHTNING, ("LightningModule", "Callback", "LightningDataModule"))


def called_by_bases(external_bases: Iterable[str], method: str) -> bool:
    """Can the code of these external (qualified) ancestors of a class call its ``method``?
    Inert bases call none; Lightning's only its hooks; any other may call anything."""
    for base in external_bases:
        if base in INERT_BASES:
            continue
        if base not in _LIGHTNING_BASES or _LIGHTNING_CALLS.fullmatch(method):
            return True
    return False
