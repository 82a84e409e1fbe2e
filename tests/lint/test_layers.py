"""Analyses declare their dependencies by class; the engine builds them in dependency order."""

from __future__ import annotations

import pytest

from nograd_lint.model.bindings import Bindings
from nograd_lint.model.escape import EscapeAnalysis
from nograd_lint.model.escape.outputs import OutputFlow
from nograd_lint.model.evaluation import EvaluationRegions
from nograd_lint.model.grad_mode import GradRegions
from nograd_lint.model.leaves import LeafAnalysis
from nograd_lint.model.layers import DependencyCycle, Layer, build_order
from nograd_lint.model.names import ImportResolver
from nograd_lint.rules import RULES


def test_dependencies_come_first_and_only_what_is_needed_is_built():
    assert build_order([LeafAnalysis]) == [ImportResolver, GradRegions, LeafAnalysis]
    assert build_order([EscapeAnalysis, EvaluationRegions]) == [
        ImportResolver, GradRegions, Bindings, EscapeAnalysis, OutputFlow, EvaluationRegions]
    assert build_order([]) == []


def test_every_rule_needs_layers_that_resolve():
    for rule in RULES.values():
        assert all(isinstance(layer, type) and issubclass(layer, Layer) for layer in rule.needs)
        build_order(rule.needs)


def test_a_cycle_is_named():
    class A(Layer):
        pass

    class B(Layer):
        requires = (A,)

    A.requires = (B,)
    with pytest.raises(DependencyCycle, match="A -> B -> A"):
        build_order([A])
