"""The judgement phase of the escape analysis: can one candidate block migrate?"""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

from nograd_lint import libcst as cst

from nograd_lint.model.escape.expressions import call_operands, gradient_step, method_name, update_root
from nograd_lint.model.bindings import Event, EventKind, How, Scope, target_names
from nograd_lint.model.escape.records import Candidate, Unsafe
from nograd_lint.model.grad_mode import Grad
from nograd_lint.model.names import dotted_name
from nograd_lint.syntax import keyword_value
from nograd_lint.vocabulary import (
    AUTOGRAD_METHODS, BACKWARD_FUNCTIONS, CONVERSION_METHODS, FOREACH_INPLACE_FUNCTIONS,
    KNOWN_TENSOR_METHODS, LOGGING_METHODS, METADATA_ATTRIBUTES, NO_SAVE_METHODS, NONDIFFERENTIABLE_FUNCTIONS,
    NONDIFFERENTIABLE_METHODS, NUMERIC_MODULES, PASSING_BUILTINS, PLAIN_BUILTINS,
    SHAPE_ARGUMENT_METHODS, STATE_METHODS, STORING_METHODS, TENSOR_ARGUMENT_METHODS,
    is_inplace_method,
)

if TYPE_CHECKING:
    from nograd_lint.model.escape.analysis import EscapeAnalysis


class _Step(NamedTuple):
    """One step of following a value up the tree: ``node`` carries it into ``parent``."""

    node: cst.CSTNode
    parent: cst.CSTNode
    use: Event
    grad_on: bool
    path: set
    name: str  # the value as the messages show it


class Judge:
    """Decides one candidate: raises :class:`Unsafe` at the first escape."""

    def __init__(self, analysis: EscapeAnalysis, candidate: Candidate) -> None:
        self.analysis, self.block = analysis, candidate
        self.tainted: set[tuple[int, str]] = set()
        self.followed_calls: set[int] = set()
        self.work: list[tuple[Scope, str] | Event] = []

    def run(self) -> str | None:
        try:
            self._inside()
            self._follow()
        except Unsafe as unsafe:
            return unsafe.reason
        return None

    def _region(self, event: Event) -> bool:
        return self.analysis.inference(self.block, event)

    def _taint(self, scope: Scope, name: str) -> None:
        if (id(scope), name) not in self.tainted:
            self.tainted.add((id(scope), name))
            self.work.append((scope, name))

    def _follow_calls(self, sites: list[Event]) -> None:
        for site in sites:
            if id(site) not in self.followed_calls:
                self.followed_calls.add(id(site))
                self.work.append(site)

    # ------------------------------------------------------------------ inside the block
    def _inside(self) -> None:
        analysis = self.analysis
        for event in self.block.events:
            if event.kind == EventKind.USE:
                continue
            if not self._region(event):
                raise Unsafe("gradients are re-enabled inside the block")
            scope = event.scope
            if event.kind == EventKind.BIND:
                self._inside_binding(event)
            elif event.kind == EventKind.STORE:
                self._inside_store(event)
            elif event.kind == EventKind.CALL:
                self._inside_call(event)
            elif event.value is not None and not analysis.plain(event.value, scope):
                if event.kind == EventKind.YIELD:
                    raise Unsafe("it yields a tensor to its caller")
                self._returned(event)

    def _inside_binding(self, event: Event) -> None:
        analysis, scope, name = self.analysis, event.scope, event.node.value
        if event.how in (How.DEF, How.IMPORT, How.PARAM):
            return
        if analysis.plain(event.node, scope) if event.how == How.AUGASSIGN else analysis._plain_binding(
                event, scope, frozenset()):
            return
        if name in scope.declared or scope.is_class:
            raise Unsafe(f"it stores a tensor in '{name}', which outlives the block")
        if event.how == How.ASSIGN and gradient_step(name, event.value):
            # ``p = p - lr * p.grad``: meant as a parameter update (see NG203), not inference.
            raise Unsafe(f"it computes a new '{name}' from its gradient: a parameter update")
        if event.how == How.AUGASSIGN:
            outside = [b for b in scope.bindings.get(name, []) if not self._region(b)]
            made_here = [b for b in scope.bindings.get(name, [])
                         if b.how != How.AUGASSIGN and self._region(b)]
            if not (made_here or outside) or not all(
                    b.how == How.ASSIGN and analysis.plain(b.value, scope) for b in outside):
                raise Unsafe(f"it updates '{name}', which comes from outside the block, in place")
        self._taint(scope, name)

    def _inside_store(self, event: Event) -> None:
        analysis, scope, target = self.analysis, event.scope, event.node
        if isinstance(target, cst.Attribute):
            if event.how == How.AUGASSIGN:
                raise Unsafe(f"it updates '{dotted_name(target) or target.attr.value}' in place")
            if not analysis.plain(event.value, scope):
                raise Unsafe(f"it stores a tensor in '{dotted_name(target) or target.attr.value}'")
            return
        root = update_root(target)
        owner = analysis.container(root, scope)
        if owner is not None:
            if not analysis.plain(event.value, scope):
                self._taint(*owner)
        elif not analysis.fresh(root, scope, self._region):
            raise Unsafe(f"it updates '{dotted_name(root) or 'a tensor'}', which comes from "
                         "outside the block, in place")

    def _inside_call(self, event: Event) -> None:
        analysis, scope, call = self.analysis, event.scope, event.node
        method = method_name(call)
        receiver = call.func.value if method else None
        shown = dotted_name(call.func) or method or "a call"
        if method in AUTOGRAD_METHODS or event.callee in BACKWARD_FUNCTIONS:
            raise Unsafe(f"'{shown}()' hands tensors to autograd")
        if method in ("update", "add") and analysis.container(receiver, scope):
            if not all(analysis.plain(v, scope) for v in call_operands(call)):
                self._taint(*analysis.container(receiver, scope))
            return
        if method == "update" and call.args and all(analysis.plain(v, scope) for v in call_operands(call)):
            return  # a meter fed Python numbers (``losses.update(loss.item(), n)``)
        if method in STATE_METHODS:
            raise Unsafe(f"'{shown}()' updates state (a parameter update is not inference)")
        if method in STORING_METHODS:
            if all(analysis.plain(v, scope) for v in call_operands(call)):
                return
            owner = analysis.container(receiver, scope)
            if owner is None:
                raise Unsafe(f"'{shown}()' stores a tensor where it outlives the block")
            self._taint(*owner)
            return
        if method is not None and is_inplace_method(method) and not analysis.fresh(
                receiver, scope, self._region):
            raise Unsafe(f"'{shown}()' updates a tensor from outside the block in place "
                         "(a parameter update is not inference)")
        if analysis._in_place_function(event) and not analysis.fresh(
                call.args[0].value if call.args else None, scope, self._region):
            raise Unsafe(f"'{shown}()' updates a tensor from outside the block in place")
        out = keyword_value(call, "out")
        if out is not None and not analysis.fresh(out, scope, self._region):
            raise Unsafe(f"'{shown}(out=...)' writes into a tensor from outside the block")
        if (isinstance(call.func, cst.Name) and call.func.value == "setattr"
                and analysis.bindings.is_builtin(scope, "setattr")):
            raise Unsafe("setattr() stores a value where it outlives the block")
        callees = analysis.callees(call)
        for callee in callees:
            effect = analysis.side_effect(callee)
            if effect:
                raise Unsafe(f"it calls '{callee.name.value}', which {effect}")
        unknown = not callees and not event.callee.startswith("torch.") \
            and method not in KNOWN_TENSOR_METHODS \
            and not (isinstance(call.func, cst.Name) and analysis.bindings.is_builtin(scope, call.func.value))
        if unknown:
            if analysis.registers_hooks:
                raise Unsafe(f"this module registers forward hooks, which may keep what "
                             f"'{shown}()' computes")
            stores = analysis.forward_stores()
            if stores:
                raise Unsafe(f"a forward() in this module {stores}: '{shown}()' may keep what "
                             "it computes")

    def _returned(self, event: Event) -> None:
        function = event.scope.node
        if not isinstance(function, cst.FunctionDef):
            raise Unsafe("it returns a tensor")
        manager = self.block.manager if self.block.node is function else None
        sites = self.analysis.callers(function, manager)
        if sites is None:
            raise Unsafe(f"'{function.name.value}' returns a tensor to callers that are not all "
                         "known (a public function or method)")
        self._follow_calls(sites)

    # ------------------------------------------------------------------ after the block
    def _follow(self) -> None:
        analysis = self.analysis
        while self.work:
            item = self.work.pop()
            if isinstance(item, Event):
                uses = [item]
            else:
                scope, name = item
                if name in scope.declared or scope.is_class:
                    raise Unsafe(f"'{name}' is stored where it outlives the block")
                uses = list(analysis.bindings.uses_of(scope, name))
            for use in uses:
                if self._region(use) or self._before(use):
                    continue
                self._classify(use)

    def _before(self, use: Event) -> bool:
        """The use runs before the block on every path (same scope, earlier, no loop around
        both): it cannot see the block's values."""
        return (use.scope is self.block.scope and use.order < self.block.start
                and not set(use.loops) & set(self.block.loops))

    def _classify(self, use: Event) -> None:
        grad_on = self.analysis.grad.state(use.where) is not Grad.DISABLED
        node: cst.CSTNode | None = use.node
        path = {node}
        while node is not None:
            node = self._step(node, use, grad_on, path)
            if node is not None:
                path.add(node)

    def _safe_operand(self, operand: cst.BaseExpression | None, scope: Scope, path: set) -> bool:
        """Can ``operand`` not require grad: a number, the value being followed, or a tensor
        made by the block itself (an inference tensor)?"""
        if operand is None or operand in path:
            return True
        if self.analysis.plain(operand, scope):
            return True
        # Only names: an expression evaluated out here (``model(x)``) may well require grad.
        root = update_root(operand)
        return isinstance(root, cst.Name) and self.analysis.fresh(root, scope, self._region)

    def _step(self, node: cst.CSTNode, use: Event, grad_on: bool, path: set) -> cst.CSTNode | None:
        """One step up from ``node`` (carrying a value of the block): the next node carrying
        it, or None when the value is consumed safely.  Raises at an escape."""
        parent = self.analysis.bindings.parent.get(node)
        name = dotted_name(use.node) if not isinstance(use.node, cst.Call) else (
            f"{dotted_name(use.node.func) or 'a call'}()")
        up = _UP.get(type(parent).__name__)
        if up is None:
            raise Unsafe(f"'{name}' leaves the block in a way the analysis does not follow")
        return up(self, _Step(node, parent, use, grad_on, path, name))

    # One method per parent type, in _UP: each takes the _Step and returns the next node.
    def _up_attribute(self, step: _Step) -> cst.CSTNode | None:
        parent = step.parent
        call = self.analysis.bindings.parent.get(parent)
        if isinstance(call, cst.Call) and call.func is parent:
            return self._method_of_value(parent.attr.value, call, step.use, step.grad_on,
                                         step.path, step.name)
        holder = self.analysis.bindings.parent.get(parent)
        if (isinstance(holder, (cst.Assign, cst.AnnAssign, cst.AugAssign))
                and holder.value is not parent):
            raise Unsafe(f"'{step.name}.{parent.attr.value}' is set outside inference mode")
        if parent.attr.value in METADATA_ATTRIBUTES:
            return None
        return parent

    def _up_call(self, step: _Step) -> cst.CSTNode | None:
        if step.parent.func is step.node:
            raise Unsafe(f"'{step.name}' is called outside inference mode (an object built in "
                         "the block)")
        return self._argument(step.node, step.parent, step.use, step.grad_on, step.path, step.name)

    def _up_binary(self, step: _Step) -> cst.CSTNode | None:
        parent = step.parent
        other = parent.right if parent.left is step.node else parent.left
        if step.grad_on and not self._safe_operand(other, step.use.scope, step.path):
            raise Unsafe(f"'{step.name}' meets '{dotted_name(other) or 'another value'}' in "
                         "arithmetic with gradients enabled (autograd may save it)")
        return parent

    def _up_unary(self, step: _Step) -> cst.CSTNode | None:
        return None if isinstance(step.parent.operator, cst.Not) else step.parent

    def _up_condition(self, step: _Step) -> cst.CSTNode | None:
        return None if step.parent.test is step.node else step.parent

    def _up_subscript(self, step: _Step) -> cst.CSTNode | None:
        parent = step.parent
        if parent.value is step.node:
            return parent
        if step.grad_on and not self._safe_operand(parent.value, step.use.scope, step.path):
            raise Unsafe(f"'{step.name}' indexes '{dotted_name(parent.value) or 'a tensor'}' "
                         "with gradients enabled (autograd may save the index)")
        return None

    def _up_carrier(self, step: _Step) -> cst.CSTNode | None:
        return step.parent

    def _up_consumer(self, step: _Step) -> cst.CSTNode | None:
        return None

    def _up_loop(self, step: _Step) -> cst.CSTNode | None:
        if step.parent.iter is step.node:
            self._flow_targets(step.parent.target, step.use.scope)
        return None

    def _up_walrus(self, step: _Step) -> cst.CSTNode | None:
        self._flow_targets(step.parent.target, step.use.scope)
        return step.parent

    def _up_assign(self, step: _Step) -> cst.CSTNode | None:
        parent = step.parent
        if parent.value is not step.node:
            raise Unsafe(f"'{step.name}' is updated in place outside inference mode")
        targets = ([t.target for t in parent.targets] if isinstance(parent, cst.Assign)
                   else [parent.target])
        for target in targets:
            self._flow_targets(target, step.use.scope)
        return None

    def _up_augassign(self, step: _Step) -> cst.CSTNode | None:
        parent, scope = step.parent, step.use.scope
        if parent.value is not step.node:
            raise Unsafe(f"'{step.name}' is updated in place outside inference mode")
        if step.grad_on and not self._safe_operand(parent.target, scope, step.path):
            raise Unsafe(f"'{step.name}' is added into "
                         f"'{dotted_name(parent.target) or 'a tensor'}' with gradients enabled")
        self._flow_targets(parent.target, scope)
        return None

    def _up_return(self, step: _Step) -> cst.CSTNode | None:
        self._returned_after(step.use, step.use.scope, step.name)
        return None

    def _method_of_value(self, method: str, call: cst.Call, use: Event, grad_on: bool,
                         path: set, name: str) -> cst.CSTNode | None:
        """``value.method(...)`` where ``value`` carries a tensor of the block."""
        if method in CONVERSION_METHODS or method in NONDIFFERENTIABLE_METHODS:
            return None
        if method in STORING_METHODS or method in ("add", "update") and self.analysis.container(
                call.func.value, use.scope):
            return None  # adds to a container already followed
        if method in AUTOGRAD_METHODS:
            raise Unsafe(f"'{name}.{method}()' hands an inference tensor to autograd")
        if is_inplace_method(method):
            raise Unsafe(f"'{name}.{method}()' updates an inference tensor in place outside "
                         "inference mode")
        if method not in NO_SAVE_METHODS and grad_on and not all(
                self._safe_operand(v, use.scope, path) for v in call_operands(call)):
            raise Unsafe(f"'{name}.{method}(...)' combines it with values that may require "
                         "grad, with gradients enabled")
        return call

    def _argument(self, node: cst.CSTNode, call: cst.Call, use: Event, grad_on: bool,
                  path: set, name: str) -> cst.CSTNode | None:
        """``f(..., value, ...)``."""
        analysis, scope = self.analysis, use.scope
        if any(arg.value is node and arg.keyword is not None and arg.keyword.value == "out"
               for arg in call.args):
            raise Unsafe(f"'{name}' is written into by 'out=' outside inference mode")
        func = call.func
        if isinstance(func, cst.Name) and analysis.bindings.is_builtin(scope, func.value):
            if func.value in PLAIN_BUILTINS:
                return None
            if func.value in PASSING_BUILTINS:
                return call
        qualified = analysis.names.qualified_name(func) or ""
        if qualified.split(".", 1)[0] in NUMERIC_MODULES:
            return None
        if qualified.startswith("torch."):
            if qualified in NONDIFFERENTIABLE_FUNCTIONS:
                return None
            last = qualified.rsplit(".", 1)[-1]
            first = call.args[0].value if call.args else None
            if (is_inplace_method(last) or qualified.startswith("torch.nn.init.")
                    or qualified in FOREACH_INPLACE_FUNCTIONS) and first is node:
                raise Unsafe(f"'{qualified}' updates '{name}' in place outside inference mode")
            if qualified in BACKWARD_FUNCTIONS:
                raise Unsafe(f"'{name}' is handed to '{qualified}'")
            if grad_on and not all(self._safe_operand(v, scope, path) for v in call_operands(call)):
                raise Unsafe(f"'{name}' is combined with values that may require grad in "
                             f"'{qualified}' with gradients enabled")
            return call
        method = method_name(call)
        if method is not None:
            receiver = func.value
            if method in STORING_METHODS or method in ("add", "update", "__setitem__"):
                owner = analysis.container(receiver, scope)
                if owner is None:
                    raise Unsafe(f"'{name}' is stored by '{dotted_name(func) or method}()' "
                                 "where it outlives the analysis")
                self._taint(*owner)
                return None
            if method in LOGGING_METHODS:
                return None
            if method in SHAPE_ARGUMENT_METHODS or method in NONDIFFERENTIABLE_METHODS:
                return None
            if method in TENSOR_ARGUMENT_METHODS or is_inplace_method(method):
                operands = [receiver, *call_operands(call)]
                if grad_on and not all(self._safe_operand(v, scope, path) for v in operands):
                    shown = dotted_name(receiver) or "a tensor"
                    raise Unsafe(f"'{name}' is combined with '{shown}' by '.{method}()' with "
                                 "gradients enabled")
                return call
        shown = dotted_name(func) or "a callable"
        raise Unsafe(f"'{name}' is passed to '{shown}()' outside inference mode, which may "
                     "save it for backward, update it or keep it")

    def _flow_targets(self, target: cst.BaseExpression, scope: Scope) -> None:
        for simple in target_names(target):
            if isinstance(simple, cst.Name):
                owner = self.analysis.bindings.lookup(scope, simple.value)
                if owner is None or owner.is_class or simple.value in owner.declared:
                    raise Unsafe(f"a tensor of the block is stored in '{simple.value}', which "
                                 "outlives it")
                self._taint(owner, simple.value)
            elif isinstance(simple, cst.Subscript):
                owner = self.analysis.container(update_root(simple), scope)
                if owner is None:
                    raise Unsafe(f"a tensor of the block is stored in "
                                 f"'{dotted_name(update_root(simple)) or 'a container'}[...]'")
                self._taint(*owner)
            else:
                raise Unsafe(f"a tensor of the block is stored in "
                             f"'{dotted_name(simple) or 'an attribute'}', which outlives it")

    def _returned_after(self, use: Event, scope: Scope, name: str) -> None:
        function = scope.node
        if not isinstance(function, cst.FunctionDef):
            raise Unsafe(f"'{name}' is returned")
        manager = self.block.manager if self.block.node is function else None
        sites = self.analysis.callers(function, manager)
        if sites is None:
            raise Unsafe(f"'{function.name.value}' returns '{name}' to callers that are not all "
                         "known (a public function or method)")
        self._follow_calls(sites)


#: How a value of the block goes up through each type of parent (by class name: libcst loads
#: only once a file needs it), for :meth:`Judge._step`.
_UP = {
    "Attribute": Judge._up_attribute,
    "Call": Judge._up_call,
    "BinaryOperation": Judge._up_binary,
    "UnaryOperation": Judge._up_unary,
    "IfExp": Judge._up_condition,
    "Subscript": Judge._up_subscript,
    **dict.fromkeys(("BooleanOperation", "Tuple", "List", "Set", "Dict", "ListComp", "SetComp",
                     "DictComp", "GeneratorExp", "Await", "StarredElement"), Judge._up_carrier),
    **dict.fromkeys(("Comparison", "FormattedString", "FormattedStringExpression", "Expr", "If",
                     "While", "Assert", "Del"), Judge._up_consumer),
    "CompFor": Judge._up_loop,
    "For": Judge._up_loop,
    "NamedExpr": Judge._up_walrus,
    "Assign": Judge._up_assign,
    "AnnAssign": Judge._up_assign,
    "AugAssign": Judge._up_augassign,
    "Return": Judge._up_return,
}
