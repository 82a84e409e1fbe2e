"""Per-module state shared by the rules of one traversal."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from nograd_lint import libcst as cst

from nograd_lint.config import Config
from nograd_lint.escape import EscapeAnalysis
from nograd_lint.evaluation import EvaluationRegions
from nograd_lint.grad_regions import GradRegions
from nograd_lint.leaves import LeafAnalysis
from nograd_lint.model.scopes import SemanticModel
from nograd_lint.names import ImportResolver
from nograd_lint.rule import Report
from nograd_lint.vocabulary import Grad


@dataclass
class ModuleContext:
    path: str
    config: Config
    module: cst.Module
    names: ImportResolver
    model: SemanticModel
    reports: list[Report] = field(default_factory=list)
    grad: GradRegions | None = None  # present when an enabled rule needs it
    evaluation: EvaluationRegions | None = None
    leaves: LeafAnalysis | None = None
    escape: EscapeAnalysis | None = None  # NG106's escape analysis
    # From the project index: the grad mode of each function's call sites in other files.
    callers: Mapping[str, Grad] = field(default_factory=dict)

    def analyses(self, needed: set[str]) -> list[object]:
        """Create the shared analyses the rules need, in the order they must see each node."""
        if needed:
            self.grad = GradRegions(self.names, self.model, self.callers)
        if "evaluation" in needed:
            self.evaluation = EvaluationRegions(self.names, self.model, self.grad, self.config, self.path)
        if "leaves" in needed:
            self.leaves = LeafAnalysis(self.names, self.model, self.grad)
        if "escape" in needed:
            self.escape = EscapeAnalysis(self.names, self.model, self.grad)
        analyses = (self.names, self.grad, self.evaluation, self.leaves, self.escape)
        return [a for a in analyses if a is not None]
