"""The recording phase of the escape analysis: the candidate blocks, in the walk (the scopes,
bindings and uses they are judged by are the :class:`~nograd_lint.model.bindings.Bindings`
layer's)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from nograd_lint import libcst as cst

from nograd_lint.model.bindings import Bindings
from nograd_lint.model.escape.expressions import method_name
from nograd_lint.model.escape.records import Candidate
from nograd_lint.model.grad_mode import GradRegions
from nograd_lint.model.layers import Layer
from nograd_lint.model.names import ImportResolver
from nograd_lint.vocabulary import HOOK_METHODS, NO_GRAD

if TYPE_CHECKING:
    from nograd_lint.context import ModuleContext


class Recorder(Layer):
    """The traversal participant: ``with torch.no_grad():`` blocks and ``@torch.no_grad()``
    functions, each with the range of pre-order indices of its body."""

    requires = (ImportResolver, GradRegions, Bindings)

    def __init__(self, context: ModuleContext) -> None:
        self.names, self.model, self.grad = context.names, context.model, context.grad
        self.bindings: Bindings = context.layer(Bindings)
        self._bodies: dict[cst.CSTNode, Candidate] = {}
        self.recorded: list[Candidate] = []
        self.registers_hooks = False

    def _is_no_grad(self, expression: cst.BaseExpression) -> bool:
        if isinstance(expression, cst.Call):
            return not expression.args and self.names.qualified_name(expression.func) in NO_GRAD
        return self.names.qualified_name(expression) in NO_GRAD

    def _candidate(self, node, manager, body) -> None:
        # The Bindings layer saw the node first: a function's own scope is current already.
        scope = self.bindings.current_scope
        candidate = Candidate(node, manager, scope, scope.loops)
        self.recorded.append(candidate)
        self._bodies[body] = candidate

    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        manager = next((d.decorator for d in node.decorators if self._is_no_grad(d.decorator)),
                       None)
        if manager is not None and node.asynchronous is None:
            self._candidate(node, manager, node.body)

    def visit_With(self, node: cst.With) -> None:
        if node.asynchronous is None:
            for item in node.items:
                if isinstance(item.item, cst.Call) and self._is_no_grad(item.item):
                    self._candidate(node, item.item, node.body)
                    break

    def _enter_block(self, node: cst.BaseSuite) -> None:
        candidate = self._bodies.get(node)
        if candidate is not None:
            candidate.start = self.model.index

    def _leave_block(self, node: cst.BaseSuite) -> None:
        candidate = self._bodies.get(node)
        if candidate is not None:
            candidate.end = self.model.index

    visit_IndentedBlock = visit_SimpleStatementSuite = _enter_block
    leave_IndentedBlock = leave_SimpleStatementSuite = _leave_block

    def visit_Call(self, node: cst.Call) -> None:
        if method_name(node) in HOOK_METHODS:
            self.registers_hooks = True
