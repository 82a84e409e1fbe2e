"""The expression half of the leaf interpreter: what an expression evaluates to, and the
in-place updates, saves for backward and ``backward()`` calls it makes on the way.

:class:`~nograd_lint.model.leaves.interpreter.Interpreter` adds the statements on top.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from nograd_lint import libcst as cst

from nograd_lint.model.grad_mode import Grad, constant_bool
from nograd_lint.model.leaves.records import InPlace, StaleBackward
from nograd_lint.model.leaves.values import (
    COLLECTION_KINDS, COLLECTIONS, REQUIRES_GRAD, TENSORS, Kind, State, Value, meet,
)
from nograd_lint.model.names import ImportResolver, dotted_name
from nograd_lint.model.scopes import receiver_method
from nograd_lint.syntax import keyword_value, positional
from nograd_lint.tree import children, is_expression
from nograd_lint.vocabulary import (
    BACKWARD_FUNCTIONS, DEEPCOPY, DTYPE_CASTS, FACTORIES, FOREACH_INPLACE_FUNCTIONS,
    INPLACE_FLAG_FUNCTIONS, INPLACE_FLAG_LAYERS, INPLACE_FUNCTIONS, MODULE_METHODS,
    MODULE_SELF_METHODS, PARAMETER, PARTIAL, PLAIN_BUILTINS, PLAIN_RESULTS, SAVES_INPUT,
    SAVES_OTHER, SAVES_RESULT, SAVING_FUNCTIONS, TENSOR_EXITS, VIEW_METHODS, WEIGHTS,
    is_inplace_method, is_module_class, makes_model,
)

if TYPE_CHECKING:
    from nograd_lint.model.leaves import LeafAnalysis


def inplace_method(call: cst.Call) -> str | None:
    """``x.add_(...)`` -> ``"add_"``: a tensor method that updates its receiver in place."""
    func = call.func
    if not isinstance(func, cst.Attribute):
        return None
    name = func.attr.value
    return name if is_inplace_method(name) else None


#: What :func:`functional_write` finds: a function that writes to its argument as the in-place
#: method would, one that writes to every tensor of it, or one that writes its result into it.
IN_PLACE, FOREACH, OUT = "in place", "foreach", "out"


def functional_write(call: cst.Call, names: ImportResolver) -> tuple[str, cst.BaseExpression] | None:
    """A torch function, not a tensor method, that writes to one of its arguments: (IN_PLACE,
    ``t``) for ``torch.relu_(t)``, ``F.relu(t, inplace=True)``, ``nn.ReLU(inplace=True)(t)``;
    (FOREACH, ``ts``) for ``torch._foreach_mul_(ts, 2)``; (OUT, ``t``) for
    ``torch.clamp(x, 0, 1, out=t)``."""
    func, args = call.func, positional(call)
    if isinstance(func, cst.Call):
        position = INPLACE_FLAG_LAYERS.get(names.qualified_name(func.func) or "")
        return (IN_PLACE, args[0].value) if position is not None and args and _flag_set(
            func, position) else None
    qualified = names.qualified_name(func)
    if qualified is None or not qualified.startswith("torch."):
        return None
    if args and (qualified in INPLACE_FUNCTIONS or qualified in INPLACE_FLAG_FUNCTIONS
                 and _flag_set(call, INPLACE_FLAG_FUNCTIONS[qualified])):
        return IN_PLACE, args[0].value
    if args and qualified in FOREACH_INPLACE_FUNCTIONS:
        return FOREACH, args[0].value
    out = keyword_value(call, "out")
    return (OUT, out) if out is not None else None


def _flag_set(call: cst.Call, position: int) -> bool:
    """``inplace=True``, or ``True`` as the positional argument at ``position``."""
    flag = keyword_value(call, "inplace")
    if flag is None:
        args = positional(call)
        flag = args[position].value if position < len(args) else None
    return flag is not None and constant_bool(flag) is True


@dataclass
class Loop:
    """A loop being interpreted, and the states its ``continue``/``break`` statements leave."""

    node: cst.CSTNode
    continues: list = field(default_factory=list)
    breaks: list = field(default_factory=list)


class ExpressionInterpreter:
    """Evaluates expressions for a :class:`LeafAnalysis`, adding what it finds to its records."""

    def __init__(self, analysis: LeafAnalysis) -> None:
        self.names, self.model, self.grad = analysis.names, analysis.model, analysis.grad
        self._where, self._applied = analysis.where_of, analysis.applied
        self._callers = analysis.callers
        self._inplace, self._rebindings, self._stale = (
            analysis.found_inplace, analysis.found_rebindings, analysis.found_stale)
        self._quiet = 0  # >0 while evaluating class attributes, which reports nothing
        self._statement_now: cst.CSTNode | None = None  # the statement being interpreted
        self._loops: list[Loop] = []
        self._class_attributes: dict[cst.ClassDef, dict[str, Value | None]] = {}
        self._summaries: dict[cst.FunctionDef, Value | None] = {}  # what functions return
        self._returned: list | None = None  # while one is summarised: its returned values
        self.shared: dict[str, Value] = {}  # the module-level values every function sees
        # The module's functions each call may run (set by the analysis), and what the calls
        # where gradients are on bind their parameters to (see ``_bind_arguments``).
        self.calls: dict[cst.Call, list[cst.FunctionDef]] = {}
        self.bound: dict[cst.FunctionDef, dict[str, Value]] = {}
        self._rebound: list[cst.FunctionDef] = []  # functions with a parameter newly bound
        self._function_now: cst.FunctionDef | None = None  # the function being interpreted

    def take_rebound(self) -> list[cst.FunctionDef]:
        """The functions that a parameter was bound of since the last call."""
        rebound, self._rebound = self._rebound, []
        return rebound

    def _bind_arguments(self, node: cst.Call, arguments: list[Value | None]) -> None:
        """A call, where gradients are on, of functions of the module: bind the parameters
        that it passes leaves, iterables of leaves or layers to."""
        caller = self._function_now
        where = f"passed by '{caller.name.value}'" if caller is not None else "passed"
        for callee in self.calls[node]:
            params = callee.params
            positional = [*params.posonly_params, *params.params]
            if self.model.class_of(callee) is not None and positional and not any(
                    dotted_name(d.decorator) == "staticmethod" for d in callee.decorators):
                positional = positional[1:]
            named = {p.name.value for p in (*positional, *params.kwonly_params)}
            bound = self.bound.setdefault(callee, {})
            position = 0
            for arg, value in zip(node.args, arguments):
                if arg.star:
                    position = len(positional)  # what follows is unknown
                    continue
                if arg.keyword is not None:
                    name = arg.keyword.value if arg.keyword.value in named else None
                else:
                    name = positional[position].name.value if position < len(positional) else None
                    position += 1
                if name is None or value is None or value.kind not in _PASSED:
                    continue
                # Once each, or once more to a leaf (what the rules ask about): this ends.
                if name in bound and (bound[name].kind is Kind.LEAF or value.kind is not Kind.LEAF):
                    continue
                origin = value.origin
                if origin.startswith("passed by "):  # a chain of callers: the nearest first
                    origin = f"{where} from {origin[len('passed by '):]}"
                else:
                    origin = f"{where}: {origin}" if origin else where
                # What the value is (a module's classes, frozen...) goes with it; the loop that
                # bound it is the caller's.
                bound[name] = replace(value, origin=origin, loop=None)
                if callee not in self._rebound:
                    self._rebound.append(callee)

    def _inplace_update(self, node, statement, target, state: State, grad: Grad,
                        operand: Value | None, out: str | None = None) -> None:
        """``target`` (an expression) is written in place by ``node`` (as the result of the
        function ``out``, if given)."""
        base, through_view, through_data, chained = _written(target)
        key = dotted_name(base)
        if key is None and not isinstance(base, cst.Attribute):
            return
        value = self._reference(base, state, grad)
        if value is not None and value.kind is Kind.EMPTY:
            state.bind(key, None)  # ``xs += [t]``, ``xs[0] = t``: no longer known to hold leaves
        if value is None or value.kind not in TENSORS:
            return
        if key is None:  # ``model.get_classifier().weight``: nothing to bind, a name to say
            key = " ".join(cst.Module([]).code_for_node(base).split())
        site = InPlace(node, statement, key, value, through_view, through_data, grad,
                       self._enclosing_for_loops(), out=out)
        if value.kind is Kind.LEAF and not chained:  # ``p.mul_(d).add_(x)`` fails at ``mul_``
            self._note(self._inplace, (node, key), site)
        # A write through ``.data`` skips the version counter: the ops that saved the tensor
        # do not go stale, they silently compute with the new values.
        changed = state.hidden if through_data else state.stale
        for op in value.saved_by:
            changed.setdefault(op, site)
        if through_data:
            return  # the tensor is the same to autograd, and still saved where it was
        if value.kind is Kind.TRACKED and grad is Grad.ENABLED:
            history = value.history | (operand.history if operand is not None else frozenset())
            state.bind(key, replace(value, history=history, saved_by=frozenset()))
        elif grad is not Grad.ENABLED:
            state.bind(key, replace(value, saved_by=frozenset()))

    def _enclosing_for_loops(self) -> tuple:
        return tuple(loop.node for loop in self._loops if isinstance(loop.node, cst.For))

    def _functional_update(self, node: cst.Call, form: str, target: cst.BaseExpression,
                           arguments: list, state: State, grad: Grad) -> Value | None:
        """What :func:`functional_write` found ``node`` writes: the in-place update it makes,
        and the call's value (the tensor written, for IN_PLACE and OUT)."""
        statement = self._statement_now
        operand = next((value for arg, value in zip(node.args, arguments)
                        if arg.value is not target and _requires(value)), None)
        if form == FOREACH:
            if isinstance(target, (cst.List, cst.Tuple)):
                for element in target.elements:
                    self._inplace_update(node, statement, element.value, state, grad, operand)
                return None
            collection = arguments[0]
            if collection is not None and collection.kind is Kind.PARAMS:
                key = dotted_name(target) or " ".join(cst.Module([]).code_for_node(target).split())
                element = Value(Kind.LEAF, collection.origin)
                self._note(self._inplace, (node, key), InPlace(
                    node, statement, key, element, False, False, grad,
                    self._enclosing_for_loops(), each=True))
            return None
        function = self.names.qualified_name(node.func) if form == OUT else None
        self._inplace_update(node, statement, target, state, grad, operand,
                             out=function.rsplit(".", 1)[-1] if function else None)
        base = _written(target)[0]
        return self._reference(base, state, grad) if dotted_name(base) else None

    def _note(self, found: dict, key, item) -> None:
        if not self._quiet:
            found.setdefault(key, item)

    # ------------------------------------------------------------------ expressions
    def _expression(self, node: cst.BaseExpression, state: State, grad: Grad) -> Value | None:
        """The value of ``node``, noting the in-place updates and backward calls inside it."""
        kind = type(node)  # exact types: these classes have no subclasses, and are ABCs
        if kind is cst.Name or kind is cst.Attribute:
            return self._reference(node, state, grad)
        if kind is cst.Call:
            return self._call(node, state, grad)
        if kind is cst.BinaryOperation:
            left = self._expression(node.left, state, grad)
            right = self._expression(node.right, state, grad)
            return self._binary(node, left, right, state, grad)
        if kind is cst.UnaryOperation:
            return self._derived(self._expression(node.expression, state, grad), grad)
        if kind is cst.Subscript:
            base = self._expression(node.value, state, grad)
            for element in node.slice:
                self._scan(element, state, grad)
            if base is not None and base.kind is Kind.GROUP:
                return Value(Kind.PARAMS, "an optimizer's param_groups")
            if base is not None and base.kind is Kind.GROUPS:
                return Value(Kind.GROUP)
            if base is not None and base.kind is Kind.MODULE:  # ``self.blocks[0]``
                return replace(base, classes=frozenset())
            return self._derived(base, grad)
        if kind is cst.IfExp:
            self._expression(node.test, state, grad)
            body = self._expression(node.body, state, grad)
            orelse = self._expression(node.orelse, state, grad)
            # ``nn.Parameter(...) if cond else None``: the None branch cannot be updated.
            if is_none(node.orelse):
                return body
            if is_none(node.body):
                return orelse
            return meet(body, orelse) if body is not None else None
        if isinstance(node, (cst.Lambda, cst.GeneratorExp, cst.ListComp, cst.SetComp, cst.DictComp)):
            return None  # their own scope, run later or never
        if kind is cst.List and not node.elements:
            return Value(Kind.EMPTY)
        self._scan(node, state, grad)
        return None

    def _scan(self, node: cst.CSTNode, state: State, grad: Grad) -> None:
        for child in children(node):
            if is_expression(child):
                self._expression(child, state, grad)
            else:
                self._scan(child, state, grad)

    def _reference(self, node: cst.Name | cst.Attribute, state: State, grad: Grad) -> Value | None:
        key = dotted_name(node)
        if key is not None and key in state.values:
            return state.values[key]
        if isinstance(node, cst.Attribute):
            base = self._expression(node.value, state, grad)
            attribute = node.attr.value
            if attribute == "param_groups" and not _is_self(node.value):
                return Value(Kind.GROUPS)  # an optimizer's (``self``'s: in an Optimizer only)
            if base is not None and base.kind is Kind.MODULE:
                return self._module_attribute(base, attribute)
            if attribute.startswith("original") and _parametrized(node.value) and base is not None \
                    and base.kind is Kind.LEAF:  # ``m.parametrizations.weight.original``
                return Value(Kind.LEAF, "a parametrization's original parameter")
            if attribute in PLAIN_RESULTS and base is not None and base.kind in TENSORS:
                return Value(Kind.PLAIN)
            if attribute in ("T", "mT") and base is not None:
                return self._derived(base, grad)
            if base is not None:
                return None
        return self._class_value(node)

    def _class_value(self, node: cst.BaseExpression) -> Value | None:
        """A module class, as a value: ``nn.Linear``, or a class of this module that derives
        from a torch module."""
        qualified = self.names.qualified_name(node)
        if qualified is not None:
            return Value(Kind.FACTORY, classes=frozenset({qualified})) \
                if is_module_class(qualified) else None
        if type(node) is cst.Name:
            klass = self._module_class(node.value)
            if klass is not None:
                return Value(Kind.FACTORY, classes=frozenset({klass}))
        return None

    def _module_class(self, name: str) -> cst.ClassDef | None:
        """This module's class ``name``, if it derives from a torch module."""
        klass = self.model.classes.get(name)
        if klass is not None and any(is_module_class(q) for q in self.grad.ancestors(klass)):
            return klass
        return None

    def _module_attribute(self, module: Value, attribute: str) -> Value | None:
        """``<module>.<attribute>``: a registered parameter or layer of the module's class, a
        ``weight``/``bias`` (a parameter of any torch layer), or else a submodule."""
        if module.frozen:
            return Value(Kind.PLAIN) if attribute in WEIGHTS else replace(module, classes=frozenset())
        known, assigned = self._registered(module.classes, attribute)
        if known is not None and known.kind is Kind.LEAF:
            return replace(known, in_module=True)
        if known is not None and known.kind is Kind.MODULE:
            return known
        if attribute in WEIGHTS:
            return None if assigned else Value(Kind.LEAF, f"a layer's .{attribute}", in_module=True)
        if known is not None:  # a plain tensor or a number: no module
            return None
        return Value(Kind.MODULE, f"a submodule .{attribute}")

    def _registered(self, classes: frozenset, attribute: str) -> tuple[Value | None, bool]:
        """What every one of this module's ``classes`` assigns to ``self.<attribute>``, and
        whether some assigns it at all."""
        key = f"self.{attribute}"
        found: list[Value | None] = []
        for klass in classes:
            if isinstance(klass, cst.ClassDef):
                attributes = self._attributes(klass)
                if key in attributes:
                    found.append(attributes[key])
        if not found:
            return None, False
        value = found[0]
        for other in found[1:]:
            value = meet(value, other) if value is not None else None
        return value, True

    def _derived(self, base: Value | None, grad: Grad) -> Value | None:
        """A tensor computed from ``base`` by an op that saves nothing."""
        if base is None or base.kind not in TENSORS:
            return None
        if base.kind is Kind.PLAIN or grad is Grad.DISABLED:
            return Value(Kind.PLAIN)
        if grad is Grad.MANAGED:
            return None
        return Value(Kind.TRACKED, history=base.history)

    def _binary(self, node, left: Value | None, right: Value | None, state: State,
                grad: Grad) -> Value | None:
        if left is None and right is None:
            return None
        tracked = [v for v in (left, right) if _requires(v)]
        if not tracked or grad is not Grad.ENABLED:
            tensors = [v for v in (left, right) if v is not None and v.kind in TENSORS]
            plain = tensors and (grad is Grad.DISABLED or not tracked and all(
                v is not None or isinstance(operand, (cst.Integer, cst.Float))
                for v, operand in ((left, node.left), (right, node.right))))
            return Value(Kind.PLAIN) if plain else None
        history = frozenset().union(*(v.history for v in tracked))
        operator = node.operator
        saves_left = saves_right = False
        if isinstance(operator, (cst.Multiply, cst.MatrixMultiply)):
            saves_left, saves_right = _requires(right), _requires(left)
        elif isinstance(operator, cst.Divide):
            saves_left, saves_right = _requires(right), True
        elif isinstance(operator, cst.Power):
            saves_left, saves_right = True, _requires(right)
        saved = [(n, v) for n, v, s in ((node.left, left, saves_left), (node.right, right, saves_right))
                 if s and v is not None and v.kind in TENSORS]
        for operand, _ in saved:
            self._mark_saved(operand, node, state)
        return Value(Kind.TRACKED, history=history | ({node} if saved else frozenset()))

    def _mark_saved(self, operand: cst.BaseExpression, op: cst.CSTNode, state: State) -> None:
        key = dotted_name(operand)
        value = state.values.get(key) if key is not None else None
        if value is not None and value.kind in TENSORS:
            state.values[key] = replace(value, saved_by=value.saved_by | {op})

    def _call(self, node: cst.Call, state: State, grad: Grad) -> Value | None:
        func = node.func
        qualified = self.names.qualified_name(func)
        receiver = method = None
        if isinstance(func, cst.Attribute) and qualified is None:
            method = func.attr.value
            receiver = self._expression(func.value, state, grad)
        arguments = [self._expression(arg.value, state, grad) for arg in node.args]
        if grad is Grad.ENABLED and node in self.calls and not self._quiet:
            self._bind_arguments(node, arguments)
        written = functional_write(node, self.names)
        if written is not None:
            return self._functional_update(node, *written, arguments, state, grad)

        if qualified in FACTORIES:
            flag = keyword_value(node, "requires_grad")
            return Value(Kind.LEAF, f"{qualified.rsplit('.', 1)[-1]}(requires_grad=True)") \
                if flag is not None and constant_bool(flag) is True else Value(Kind.PLAIN)
        if qualified in PARAMETER:
            flag = keyword_value(node, "requires_grad")
            if flag is None and len(node.args) > 1 and node.args[1].keyword is None:
                flag = node.args[1].value
            return None if flag is not None and constant_bool(flag) is not True \
                else Value(Kind.LEAF, "nn.Parameter")
        if qualified is not None and (is_module_class(qualified) or makes_model(qualified)):
            return Value(Kind.MODULE, classes=frozenset({qualified}))
        if qualified in DEEPCOPY and arguments:  # a copy of a module, or of a parameter
            copied = arguments[0]
            return copied if copied is not None and copied.kind in (Kind.MODULE, Kind.LEAF) else None
        if qualified in PARTIAL and arguments:  # ``partial(nn.Conv2d, kernel_size=1)``
            made = arguments[0]
            return made if made is not None and made.kind is Kind.FACTORY else None
        if qualified in BACKWARD_FUNCTIONS and arguments:
            self._backward(node, arguments[0], state)
            return None
        if qualified in SAVING_FUNCTIONS and node.args:
            method = qualified.rsplit(".", 1)[-1]
            receiver, arguments = arguments[0], arguments[1:]
            return self._op(node, method, node.args[0].value, receiver, node.args[1:],
                            arguments, state, grad)
        self._forget_lists_passed(node, func, arguments, state)
        builtin = func.value if type(func) is cst.Name and qualified is None else None
        if builtin in ("list", "tuple") and arguments:
            only = arguments[0]
            return only if only is not None and only.kind in COLLECTIONS else None
        if builtin == "filter" and len(arguments) == 2:  # ``filter(lambda p: ..., params)``
            kept = arguments[1]
            return kept if kept is not None and kept.kind in COLLECTIONS else None
        if builtin in ("zip", "enumerate") and arguments:
            items = (None, arguments[0]) if builtin == "enumerate" else tuple(arguments)
            if any(item is not None and item.kind in COLLECTIONS for item in items):
                return Value(Kind.TUPLES, items=items)
            return None
        if builtin == "getattr" and len(node.args) >= 2 and arguments[0] is not None \
                and arguments[0].kind is Kind.MODULE:
            name = node.args[1].value
            if isinstance(name, cst.SimpleString) and name.evaluated_value.isidentifier():
                return self._module_attribute(arguments[0], name.evaluated_value)
            return Value(Kind.MODULE, "getattr() of a module")
        if method is None:
            made = self._class_value(func) if qualified is None and type(func) is cst.Name \
                and func.value not in state.values else self._expression(func, state, grad)
            if made is not None and made.kind is Kind.FACTORY:  # ``linear_layer(a, b)``
                return Value(Kind.MODULE, classes=made.classes)
            # Somebody's function or module: its result depends on what it was given.
            tracked = [a for a in arguments if _requires(a)]
            if tracked and grad is Grad.ENABLED:
                return Value(Kind.TRACKED, history=frozenset().union(*(a.history for a in tracked)))
            if qualified is not None and qualified.startswith("torch.") and grad is Grad.DISABLED:
                return Value(Kind.PLAIN)
            return None

        if method in ("append", "extend") and receiver is not None and \
                receiver.kind in (Kind.EMPTY, Kind.PARAMS) and len(arguments) == 1:
            return self._grow_list(func.value, method, receiver, arguments[0], state)
        if method in COLLECTION_KINDS and not node.args:
            return Value(COLLECTION_KINDS[method], f"{dotted_name(func.value) or 'model'}"
                         f".{method}()", frozen=receiver is not None and receiver.frozen)
        if method in MODULE_METHODS:
            return Value(Kind.MODULE, f".{method}()",
                         frozen=receiver is not None and receiver.kind is Kind.MODULE
                         and receiver.frozen)
        if receiver is not None and receiver.kind is Kind.MODULE:
            return self._module_method(node, method, receiver, state)
        if method == "backward":
            self._backward(node, receiver, state)
            return None
        if method == "requires_grad_":
            flag = node.args[0].value if node.args else None
            on = flag is None or constant_bool(flag) is True
            # Off: nothing in it requires grad, whether it is a tensor or a module.
            value = (receiver if receiver is not None and receiver.kind is Kind.TRACKED
                     else Value(Kind.LEAF, "requires_grad_()") if on
                     else Value(Kind.PLAIN, frozen=True))
            key = dotted_name(func.value)
            if key is not None:
                state.bind(key, value)
            return value
        if inplace_method(node) is not None:
            operand = next((a for a in arguments if a is not None and a.kind in REQUIRES_GRAD), None)
            self._inplace_update(node, self._statement_now, func.value, state, grad, operand)
            base = _written(func.value)[0]
            return self._reference(base, state, grad) if dotted_name(base) else None
        if method in DTYPE_CASTS and not node.args and receiver is not None \
                and receiver.kind is Kind.LEAF:  # ``p_fp32 = p.float()`` is ``p`` if it is float32
            return replace(receiver, origin=f"{receiver.origin}, which .{method}() returns when "
                           "it already has that dtype")
        if method in TENSOR_EXITS or method in PLAIN_RESULTS:
            return Value(Kind.PLAIN) if receiver is not None and receiver.kind in TENSORS else None
        return self._op(node, method, func.value, receiver, node.args, arguments, state, grad)

    def _grow_list(self, target, method: str, collection: Value, added: Value | None,
                   state: State) -> None:
        """``params.append(p)``: a list stays one of leaves while only leaves go into it."""
        key = dotted_name(target)
        if key is None:
            return None
        kind = Kind.LEAF if method == "append" else Kind.PARAMS
        if added is not None and added.kind is kind:
            origin = collection.origin if collection.kind is Kind.PARAMS else added.origin
            state.bind(key, Value(Kind.PARAMS, origin))
        else:
            state.bind(key, None)
        return None

    def _forget_lists_passed(self, node: cst.Call, func, arguments, state: State) -> None:
        """An empty list handed to a call (not ``len``): it may come back holding anything."""
        if isinstance(func, cst.Name) and func.value in PLAIN_BUILTINS:
            return
        for arg, value in zip(node.args, arguments):
            key = dotted_name(arg.value)
            if value is not None and value.kind is Kind.EMPTY and key is not None:
                state.bind(key, None)

    def _module_method(self, node: cst.Call, method: str, module: Value,
                       state: State) -> Value | None:
        """``<module>.method(...)``: the module itself (``to``, ``eval``...; frozen by
        ``requires_grad_(False)``), or the module that a method of its class returns."""
        if method == "requires_grad_":
            flag = node.args[0].value if node.args else None
            frozen = flag is not None and constant_bool(flag) is not True
            module = replace(module, frozen=frozen)
            key = dotted_name(node.func.value)
            if key is not None:
                state.bind(key, module)
            return module
        if method in MODULE_SELF_METHODS:
            return module
        results = [self._returns(function) for function in self._class_methods(module.classes, method)]
        if not results or any(r is None or r.kind is not Kind.MODULE for r in results):
            return None
        value = results[0]
        for other in results[1:]:
            value = meet(value, other) if value is not None else None
        return replace(value, frozen=module.frozen) if value is not None else None

    def _op(self, node, name: str, subject, value: Value | None, args, arguments,
            state: State, grad: Grad) -> Value | None:
        """``subject.name(*args)`` or ``torch.name(subject, *args)`` on tensors."""
        if value is None or value.kind not in TENSORS:
            return None
        others = [a for a in arguments if _requires(a)]
        if grad is Grad.MANAGED:
            return None
        if grad is Grad.DISABLED or value.kind is Kind.PLAIN and not others:
            return Value(Kind.PLAIN)
        history = value.history.union(*(a.history for a in others))
        saves = False
        if name in SAVES_RESULT:
            return Value(Kind.TRACKED, history=history | {node}, saved_by=frozenset({node}))
        if name in SAVES_INPUT and value.kind in REQUIRES_GRAD:
            self._mark_saved(subject, node, state)
            saves = True
        elif name in SAVES_OTHER and args:
            other = arguments[0]
            if value.kind in REQUIRES_GRAD and other is not None and other.kind in TENSORS:
                self._mark_saved(args[0].value, node, state)
                saves = True
            if other is not None and other.kind in REQUIRES_GRAD:
                self._mark_saved(subject, node, state)
                saves = True
        return Value(Kind.TRACKED, history=history | ({node} if saves else frozenset()))

    def _backward(self, node: cst.Call, value: Value | None, state: State) -> None:
        if value is None:
            return
        for op in value.history:
            for changed in (state.stale, state.hidden):
                site = changed.get(op)
                if site is not None:
                    self._note(self._stale, site.node, StaleBackward(node, op, site))


def _parametrized(node: cst.BaseExpression) -> bool:
    """``<module>.parametrizations.<name>``: the parametrized tensor, whose ``original`` (or
    ``original0``...) is the parameter that holds the data (``torch.nn.utils.parametrize``)."""
    return type(node) is cst.Attribute and type(node.value) is cst.Attribute \
        and node.value.attr.value == "parametrizations"


def _is_self(node: cst.BaseExpression) -> bool:
    return type(node) is cst.Name and node.value == "self"


def is_none(node: cst.BaseExpression) -> bool:
    return type(node) is cst.Name and node.value == "None"


#: What a call binds a parameter to (see ``_bind_arguments``).
_PASSED = frozenset({Kind.LEAF, Kind.PARAMS, Kind.MODULE})


def _requires(value: Value | None) -> bool:
    return value is not None and value.kind in REQUIRES_GRAD


def _written(target: cst.BaseExpression) -> tuple[cst.BaseExpression, bool, bool, bool]:
    """Which tensor an in-place write to ``target`` changes: (its expression, through a view,
    through ``.data``, after another in-place update of it).  ``w[0]``, ``w.view(4)``,
    ``w.data``, ``w.add_(1)`` all write to ``w``."""
    through_view = through_data = chained = False
    while True:
        if isinstance(target, cst.Subscript):
            through_view, target = True, target.value
        elif isinstance(target, cst.Call) and isinstance(target.func, cst.Attribute) and (
                target.func.attr.value in VIEW_METHODS or inplace_method(target) is not None):
            through_view = through_view or target.func.attr.value in VIEW_METHODS
            chained = chained or target.func.attr.value not in VIEW_METHODS
            target = target.func.value
        elif isinstance(target, cst.Attribute) and target.attr.value == "data":
            through_data, target = True, target.value
        elif isinstance(target, cst.Attribute) and target.attr.value in ("T", "mT"):
            through_view, target = True, target.value
        else:
            return target, through_view, through_data, chained
