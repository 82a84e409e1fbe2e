"""The recording phase of the escape analysis: scopes, bindings, uses and events, in the walk."""

from __future__ import annotations

from typing import TYPE_CHECKING

from nograd_lint import libcst as cst

from nograd_lint.model.escape.expressions import method_name, names_in, target_names
from nograd_lint.model.escape.records import Candidate, Event, EventKind, How, Scope
from nograd_lint.model.grad_mode import GradRegions
from nograd_lint.model.layers import Layer
from nograd_lint.model.names import ImportResolver
from nograd_lint.vocabulary import HOOK_METHODS, NO_GRAD

if TYPE_CHECKING:
    from nograd_lint.context import ModuleContext


class Recorder(Layer):
    """The traversal participant: every scope with its bindings, uses and events, the
    candidate blocks with the events in them, and each recorded node's nearest recorded
    ancestor (``parent``)."""

    requires = (ImportResolver, GradRegions)

    def __init__(self, context: ModuleContext) -> None:
        self.names, self.model, self.grad = context.names, context.model, context.grad
        self.module_scope = Scope(None, None)
        self._scope = self.module_scope
        self._stack: list[cst.CSTNode] = []
        self.parent: dict[cst.CSTNode, cst.CSTNode] = {}
        self._not_loads: set[cst.Name] = set()
        self._bodies: dict[cst.CSTNode, Candidate] = {}
        self.recorded: list[Candidate] = []
        self.scope_of: dict[cst.CSTNode, Scope] = {}  # FunctionDef/Lambda/ClassDef -> scope
        self.call_events: dict[cst.Call, Event] = {}
        self.attribute_refs: dict[str, list[cst.Attribute]] = {}
        self.registers_hooks = False

    # ------------------------------------------------------------------ recording helpers
    def _push(self, node: cst.CSTNode) -> None:
        if self._stack:
            self.parent[node] = self._stack[-1]
        self._stack.append(node)

    def _pop(self, node: cst.CSTNode) -> None:
        self._stack.pop()

    def _event(self, kind: EventKind, node: cst.CSTNode, value: cst.BaseExpression | None = None,
               how: How | None = None, scope: Scope | None = None, callee: str = "") -> Event:
        scope = scope or self._scope
        event = Event(kind, node, scope, self.grad.where(), scope.context, self.model.index, value,
                      how, callee)
        for candidate in scope.context[0]:
            candidate.events.append(event)
        if kind != EventKind.USE:
            scope.events.append(event)
        return event

    def _bind(self, target: cst.BaseExpression, value: cst.BaseExpression | None, how: How) -> None:
        if (how == How.ASSIGN and isinstance(target, (cst.Tuple, cst.List))
                and isinstance(value, (cst.Tuple, cst.List))
                and len(target.elements) == len(value.elements)
                and not any(isinstance(e, cst.StarredElement)
                            for e in (*target.elements, *value.elements))):
            # ``a, b = [], {}``: each name gets its own value.
            for left, right in zip(target.elements, value.elements):
                self._bind(left.value, right.value, how)
            return
        for simple in target_names(target):
            if isinstance(simple, cst.Name):
                self._bind_name(simple, value, how)
            elif isinstance(simple, (cst.Attribute, cst.Subscript)):
                self._event(EventKind.STORE, simple, value,
                            How.AUGASSIGN if how is How.AUGASSIGN else How.ASSIGN)

    def _bind_name(self, name: cst.Name, value: cst.BaseExpression | None, how: How,
                   scope: Scope | None = None) -> None:
        scope = scope or self._scope
        if how != How.AUGASSIGN:  # the target of ``x += 1`` is read too: it stays a use
            self._not_loads.add(name)
        scope.bound.add(name.value)
        event = self._event(EventKind.BIND, name, value, how, scope)
        scope.bindings.setdefault(name.value, []).append(event)

    def _enter_scope(self, node: cst.CSTNode) -> None:
        scope = Scope(node, self._scope)
        self._scope.children.append(scope)
        self.scope_of[node] = scope
        self._scope = scope

    def _leave_scope(self) -> None:
        self._scope = self._scope.parent

    # ------------------------------------------------------------------ scopes
    def visit_Module(self, node: cst.Module) -> None:
        self._push(node)

    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        self._push(node)
        self._not_loads.add(node.name)
        self._bind_name(node.name, None, How.DEF)
        manager = next((d.decorator for d in node.decorators if self._is_no_grad(d.decorator)),
                       None)
        self._enter_scope(node)
        if manager is not None and node.asynchronous is None:
            self._candidate(node, manager, node.body)

    def leave_FunctionDef(self, node: cst.FunctionDef) -> None:
        self._leave_scope()
        self._pop(node)

    def visit_Lambda(self, node: cst.Lambda) -> None:
        self._push(node)
        self._enter_scope(node)

    def leave_Lambda(self, node: cst.Lambda) -> None:
        self._leave_scope()
        self._pop(node)

    def visit_ClassDef(self, node: cst.ClassDef) -> None:
        self._push(node)
        self._not_loads.add(node.name)
        self._bind_name(node.name, None, How.DEF)
        self._enter_scope(node)

    def leave_ClassDef(self, node: cst.ClassDef) -> None:
        self._leave_scope()
        self._pop(node)

    def visit_Param(self, node: cst.Param) -> None:
        self._bind_name(node.name, None, How.PARAM)

    def visit_Global(self, node: cst.Global) -> None:
        for item in node.names:
            self._not_loads.add(item.name)
            self._scope.declared.add(item.name.value)

    visit_Nonlocal = visit_Global

    def _import(self, names) -> None:
        if isinstance(names, cst.ImportStar):
            return
        for alias in names:
            for name in names_in(alias.name):
                self._not_loads.add(name)
            if alias.asname is not None and isinstance(alias.asname.name, cst.Name):
                self._bind_name(alias.asname.name, None, How.IMPORT)
            else:
                top = alias.name
                while isinstance(top, cst.Attribute):
                    top = top.value
                if isinstance(top, cst.Name):
                    self._scope.bound.add(top.value)

    def visit_Import(self, node: cst.Import) -> None:
        self._import(node.names)

    def visit_ImportFrom(self, node: cst.ImportFrom) -> None:
        if node.module is not None:
            self._not_loads.update(names_in(node.module))
        self._import(node.names)

    # ------------------------------------------------------------------ blocks and loops
    def _is_no_grad(self, expression: cst.BaseExpression) -> bool:
        if isinstance(expression, cst.Call):
            return not expression.args and self.names.qualified_name(expression.func) in NO_GRAD
        return self.names.qualified_name(expression) in NO_GRAD

    def _candidate(self, node, manager, body) -> None:
        candidate = Candidate(node, manager, self._scope, tuple(self._scope.loops))
        self.recorded.append(candidate)
        self._bodies[body] = candidate

    def visit_With(self, node: cst.With) -> None:
        self._push(node)
        if node.asynchronous is None:
            for item in node.items:
                if isinstance(item.item, cst.Call) and self._is_no_grad(item.item):
                    self._candidate(node, item.item, node.body)
                    break

    def _enter_block(self, node: cst.BaseSuite) -> None:
        self._push(node)
        candidate = self._bodies.get(node)
        if candidate is not None:
            candidate.start = self.model.index
            self._scope.open.append(candidate)
            self._scope.refresh()

    def _leave_block(self, node: cst.BaseSuite) -> None:
        if node in self._bodies:
            self._scope.open.remove(self._bodies[node])
            self._scope.refresh()
        self._pop(node)

    visit_IndentedBlock = visit_SimpleStatementSuite = _enter_block
    leave_IndentedBlock = leave_SimpleStatementSuite = _leave_block

    def _enter_loop(self, node: cst.CSTNode) -> None:
        self._push(node)
        self._scope.loops.append(node)
        self._scope.refresh()

    def _leave_loop(self, node: cst.CSTNode) -> None:
        self._scope.loops.pop()
        self._scope.refresh()
        self._pop(node)

    def visit_For(self, node: cst.For) -> None:
        self._enter_loop(node)
        self._bind(node.target, node.iter, How.FOR)

    visit_While = _enter_loop
    leave_For = leave_While = _leave_loop

    # ------------------------------------------------------------------ statements
    def visit_Assign(self, node: cst.Assign) -> None:
        self._push(node)
        for target in node.targets:
            self._bind(target.target, node.value, How.ASSIGN)

    def visit_AnnAssign(self, node: cst.AnnAssign) -> None:
        self._push(node)
        if node.value is not None:
            self._bind(node.target, node.value, How.ASSIGN)

    def visit_AugAssign(self, node: cst.AugAssign) -> None:
        self._push(node)
        self._bind(node.target, node.value, How.AUGASSIGN)

    def visit_NamedExpr(self, node: cst.NamedExpr) -> None:
        self._push(node)
        self._bind(node.target, node.value, How.WALRUS)

    def visit_CompFor(self, node: cst.CompFor) -> None:
        self._push(node)
        self._bind(node.target, node.iter, How.FOR)

    def visit_WithItem(self, node: cst.WithItem) -> None:
        self._push(node)
        if node.asname is not None:
            self._bind(node.asname.name, node.item, How.AS)

    def visit_ExceptHandler(self, node: cst.ExceptHandler) -> None:
        self._push(node)
        if node.name is not None and isinstance(node.name.name, cst.Name):
            self._bind_name(node.name.name, None, How.AS)

    def visit_Del(self, node: cst.Del) -> None:
        self._push(node)
        for simple in target_names(node.target):
            if isinstance(simple, cst.Name):
                self._not_loads.add(simple)

    def visit_Return(self, node: cst.Return) -> None:
        self._push(node)
        self._event(EventKind.RETURN, node, node.value)

    def visit_Yield(self, node: cst.Yield) -> None:
        self._push(node)
        value = node.value.item if isinstance(node.value, cst.From) else node.value
        self._event(EventKind.YIELD, node, value)

    # ------------------------------------------------------------------ expressions
    def visit_Call(self, node: cst.Call) -> None:
        self._push(node)
        for arg in node.args:
            if arg.keyword is not None:
                self._not_loads.add(arg.keyword)
        qualified = self.names.qualified_name(node.func) or ""
        self.call_events[node] = self._event(EventKind.CALL, node, callee=qualified)
        if method_name(node) in HOOK_METHODS:
            self.registers_hooks = True

    def visit_Attribute(self, node: cst.Attribute) -> None:
        self._push(node)
        self._not_loads.add(node.attr)
        self.attribute_refs.setdefault(node.attr.value, []).append(node)

    def visit_Name(self, node: cst.Name) -> None:
        if self._stack:
            self.parent[node] = self._stack[-1]
        if node in self._not_loads or node.value in ("True", "False", "None"):
            return
        event = self._event(EventKind.USE, node)
        self._scope.uses.setdefault(node.value, []).append(event)


# Nodes that only need to be on the ancestry stack (their parents matter to the uses in them).
for _name in ("Expr", "If", "Assert", "Raise", "Subscript",
              "BinaryOperation", "UnaryOperation", "BooleanOperation", "Comparison", "IfExp",
              "Tuple", "List", "Set", "Dict", "ListComp", "SetComp", "DictComp", "GeneratorExp",
              "Await", "FormattedString", "FormattedStringExpression", "StarredElement",
              "Decorator", "Try", "Match"):
    if not hasattr(Recorder, f"visit_{_name}"):
        setattr(Recorder, f"visit_{_name}", Recorder._push)
for _name in ("Module", "Expr", "If", "Assert", "Raise", "Subscript",
              "BinaryOperation", "UnaryOperation", "BooleanOperation", "Comparison", "IfExp",
              "Tuple", "List", "Set", "Dict", "ListComp", "SetComp", "DictComp", "GeneratorExp",
              "Await", "FormattedString", "FormattedStringExpression", "StarredElement",
              "Decorator", "Try", "Match", "With", "Assign", "AnnAssign", "AugAssign", "NamedExpr",
              "CompFor", "WithItem", "ExceptHandler", "Del", "Return", "Yield", "Call",
              "Attribute"):
    if not hasattr(Recorder, f"leave_{_name}"):
        setattr(Recorder, f"leave_{_name}", Recorder._pop)
