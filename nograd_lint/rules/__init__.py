"""The rule registry: every rule class, by code.  One rule per module, named after its code."""

from __future__ import annotations

from nograd_lint.rule import Rule
from nograd_lint.rules.ng001_parse_error import ParseError
from nograd_lint.rules.ng101_evaluation_with_grad import EvaluationWithGrad
from nograd_lint.rules.ng102_grad_mode_not_called import GradModeNotCalled
from nograd_lint.rules.ng103_grad_mode_leak import GradModeLeak
from nograd_lint.rules.ng104_backward_without_graph import BackwardWithoutGraph
from nograd_lint.rules.ng105_eval_is_not_no_grad import EvalIsNotNoGrad
from nograd_lint.rules.ng106_no_grad_to_inference_mode import NoGradToInferenceMode
from nograd_lint.rules.ng107_grad_mode_statement import GradModeStatement
from nograd_lint.rules.ng201_inplace_on_leaf import InPlaceOnLeaf
from nograd_lint.rules.ng202_saved_tensor_changed_through_data import SavedTensorChangedThroughData
from nograd_lint.rules.ng203_leaf_rebound_under_no_grad import LeafRebinding
from nograd_lint.rules.ng204_saved_tensor_modified import SavedTensorModified
from nograd_lint.rules.ng205_inplace_through_data import InPlaceThroughData
from nograd_lint.rules.ng301_volatile_argument import VolatileArgument
from nograd_lint.rules.ng302_volatile_attribute import VolatileAttribute
from nograd_lint.rules.ng303_variable_wrapper import VariableWrapper

PARSE_ERROR = ParseError

RULES: dict[str, type[Rule]] = {
    rule.code: rule
    for rule in (ParseError, EvaluationWithGrad, GradModeNotCalled, GradModeLeak,
                 BackwardWithoutGraph, EvalIsNotNoGrad, NoGradToInferenceMode, GradModeStatement,
                 InPlaceOnLeaf, SavedTensorChangedThroughData, LeafRebinding, SavedTensorModified,
                 InPlaceThroughData, VolatileArgument, VolatileAttribute, VariableWrapper)
}
