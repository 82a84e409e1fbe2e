"""The rule registry: every rule class, by code."""

from __future__ import annotations

from nograd_lint.rule import Rule
from nograd_lint.rules.grad_mode import (
    BackwardWithoutGraph, EvalIsNotNoGrad, EvaluationWithGrad, GradModeLeak, GradModeNotCalled,
)
from nograd_lint.rules.inference_mode import NoGradToInferenceMode
from nograd_lint.rules.leaf import (
    InPlaceOnLeaf, InPlaceThroughData, LeafRebinding, SavedTensorModified,
)
from nograd_lint.rules.parse_error import ParseError
from nograd_lint.rules.volatile import VariableWrapper, VolatileArgument, VolatileAttribute

PARSE_ERROR = ParseError

RULES: dict[str, type[Rule]] = {
    rule.code: rule
    for rule in (ParseError, EvaluationWithGrad, GradModeNotCalled, GradModeLeak,
                 BackwardWithoutGraph, EvalIsNotNoGrad, NoGradToInferenceMode, InPlaceOnLeaf,
                 InPlaceThroughData, LeafRebinding, SavedTensorModified, VolatileArgument,
                 VolatileAttribute, VariableWrapper)
}
