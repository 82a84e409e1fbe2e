"""Per-module state shared by the rules of one traversal: the semantic model, the layers the
enabled rules need (built in dependency order), and the reports."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from nograd_lint import libcst as cst

from nograd_lint.config import Config
from nograd_lint.model.escape import EscapeAnalysis
from nograd_lint.model.evaluation import EvaluationRegions
from nograd_lint.model.grad_mode import GradRegions
from nograd_lint.model.leaves import LeafAnalysis
from nograd_lint.model.layers import Layer, build_order
from nograd_lint.model.scopes import SemanticModel
from nograd_lint.model.names import ImportResolver
from nograd_lint.rule import Report
from nograd_lint.vocabulary import Grad


@dataclass
class ModuleContext:
    path: str
    config: Config
    module: cst.Module
    model: SemanticModel = field(default_factory=SemanticModel)
    reports: list[Report] = field(default_factory=list)
    # From the project index: the grad mode of each function's call sites in other files.
    callers: Mapping[str, Grad] = field(default_factory=dict)
    _layers: dict[type[Layer], Layer] = field(default_factory=dict)

    def build(self, needed: Iterable[type[Layer]]) -> list[Layer]:
        """Build ``needed`` and what they require; return them in the order they must see
        each node.  The import resolver is always there: every rule may ask it."""
        for layer in build_order([ImportResolver, *needed]):
            if layer not in self._layers:
                self._layers[layer] = layer.build(self)
        return list(self._layers.values())

    def layer(self, kind: type[Layer]) -> Layer:
        """A layer built by :meth:`build` (a KeyError means a ``needs`` or ``requires`` that
        does not name it)."""
        return self._layers[kind]

    # The layers under the names the rules read them by.
    @property
    def names(self) -> ImportResolver:
        return self._layers[ImportResolver]

    @property
    def grad(self) -> GradRegions:
        return self._layers[GradRegions]

    @property
    def evaluation(self) -> EvaluationRegions:
        return self._layers[EvaluationRegions]

    @property
    def leaves(self) -> LeafAnalysis:
        return self._layers[LeafAnalysis]

    @property
    def escape(self) -> EscapeAnalysis:
        return self._layers[EscapeAnalysis]
