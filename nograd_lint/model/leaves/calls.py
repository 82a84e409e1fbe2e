"""Calls, for the leaf interpreter: what a call evaluates to, dispatched by its kind (a torch
or library function by qualified name, a builtin by name, a method by name and receiver), and
the parameters it binds in the module's own functions."""

from __future__ import annotations

from dataclasses import replace
from typing import Callable, NamedTuple

from nograd_lint import libcst as cst

from nograd_lint.model.grad_mode import Grad, constant_bool
from nograd_lint.model.leaves.values import (
    COLLECTION_KINDS, COLLECTIONS, REQUIRES_GRAD, TENSORS, Kind, State, Value, meet, requires_grad,
)
from nograd_lint.model.leaves.writes import functional_write, inplace_method
from nograd_lint.model.names import dotted_name
from nograd_lint.syntax import keyword_value
from nograd_lint.vocabulary import (
    BACKWARD_FUNCTIONS, DEEPCOPY, DTYPE_CASTS, FACTORIES, MODULE_METHODS, MODULE_SELF_METHODS,
    PARAMETER, PARTIAL, PLAIN_BUILTINS, PLAIN_RESULTS, SAVES_INPUT, SAVES_OTHER, SAVES_RESULT,
    SAVING_FUNCTIONS, TENSOR_EXITS, is_module_class, makes_model,
)


class Call(NamedTuple):
    """A call being evaluated, its receiver and arguments evaluated."""

    node: cst.Call
    qualified: str | None  # what an imported callee is (``torch.zeros``), if it is one
    method: str | None  # ``x.method(...)`` with ``x`` no import: the method's name
    receiver: Value | None  # and what ``x`` holds
    arguments: list[Value | None]  # what each argument holds, in order
    state: State
    grad: Grad


#: What a call binds a parameter to (see ``_bind_arguments``).
_PASSED = frozenset({Kind.LEAF, Kind.PARAMS, Kind.MODULE})


class Calls:
    """The part of :class:`~nograd_lint.model.leaves.expressions.ExpressionInterpreter` that
    evaluates calls; see the tables at the end of this module."""

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
        call = Call(node, qualified, method, receiver, arguments, state, grad)
        if method is not None:
            self._forget_lists_passed(call)
            return _METHODS.get(method, Calls._method_of_receiver)(self, call)
        if qualified is not None:
            library = _LIBRARY.get(qualified)
            if library is not None:
                return library(self, call)
            if is_module_class(qualified) or makes_model(qualified):
                return Value(Kind.MODULE, classes=frozenset({qualified}))
        return self._function(call)

    # ------------------------------------------------------------------ functions
    def _function(self, call: Call) -> Value | None:
        """A function no other entry decides: a builtin, a module factory, or somebody's."""
        self._forget_lists_passed(call)
        func = call.node.func
        if type(func) is cst.Name and call.qualified is None:
            builtin = _BUILTINS.get(func.value)
            if builtin is not None:
                return builtin(self, call)
        return self._unknown_function(call)

    def _unknown_function(self, call: Call) -> Value | None:
        func, grad, qualified = call.node.func, call.grad, call.qualified
        made = self._class_value(func) if qualified is None and type(func) is cst.Name \
            and func.value not in call.state.values else self._expression(func, call.state, grad)
        if made is not None and made.kind is Kind.FACTORY:  # ``linear_layer(a, b)``
            return Value(Kind.MODULE, classes=made.classes)
        # Somebody's function or module: its result depends on what it was given.
        tracked = [a for a in call.arguments if requires_grad(a)]
        if tracked and grad is Grad.ENABLED:
            return Value(Kind.TRACKED, history=frozenset().union(*(a.history for a in tracked)))
        if qualified is not None and qualified.startswith("torch.") and grad is Grad.DISABLED:
            return Value(Kind.PLAIN)
        return None

    def _factory(self, call: Call) -> Value:
        flag = keyword_value(call.node, "requires_grad")
        return Value(Kind.LEAF, f"{call.qualified.rsplit('.', 1)[-1]}(requires_grad=True)") \
            if flag is not None and constant_bool(flag) is True else Value(Kind.PLAIN)

    def _parameter(self, call: Call) -> Value | None:
        node = call.node
        flag = keyword_value(node, "requires_grad")
        if flag is None and len(node.args) > 1 and node.args[1].keyword is None:
            flag = node.args[1].value
        return None if flag is not None and constant_bool(flag) is not True \
            else Value(Kind.LEAF, "nn.Parameter")

    def _deepcopy(self, call: Call) -> Value | None:
        """A copy of a module, or of a parameter."""
        if not call.arguments:
            return self._function(call)
        copied = call.arguments[0]
        return copied if copied is not None and copied.kind in (Kind.MODULE, Kind.LEAF) else None

    def _partial(self, call: Call) -> Value | None:
        """``partial(nn.Conv2d, kernel_size=1)``."""
        if not call.arguments:
            return self._function(call)
        made = call.arguments[0]
        return made if made is not None and made.kind is Kind.FACTORY else None

    def _backward_function(self, call: Call) -> Value | None:
        if not call.arguments:
            return self._function(call)
        self._backward(call.node, call.arguments[0], call.state)
        return None

    def _saving_function(self, call: Call) -> Value | None:
        """``torch.sigmoid(x)``: the tensor method's op, on the first argument."""
        node = call.node
        if not node.args:
            return self._function(call)
        return self._op(node, call.qualified.rsplit(".", 1)[-1], node.args[0].value,
                        call.arguments[0], node.args[1:], call.arguments[1:], call.state, call.grad)

    # ------------------------------------------------------------------ builtins
    def _sequence(self, call: Call) -> Value | None:
        """``list(params)``, ``tuple(params)``."""
        if not call.arguments:
            return self._unknown_function(call)
        only = call.arguments[0]
        return only if only is not None and only.kind in COLLECTIONS else None

    def _filter(self, call: Call) -> Value | None:
        """``filter(lambda p: ..., params)``."""
        if len(call.arguments) != 2:
            return self._unknown_function(call)
        kept = call.arguments[1]
        return kept if kept is not None and kept.kind in COLLECTIONS else None

    def _zip(self, call: Call) -> Value | None:
        """``zip(...)``, ``enumerate(...)``: what each position of the tuples iterates."""
        arguments = call.arguments
        if not arguments:
            return self._unknown_function(call)
        items = (None, arguments[0]) if call.node.func.value == "enumerate" else tuple(arguments)
        if any(item is not None and item.kind in COLLECTIONS for item in items):
            return Value(Kind.TUPLES, items=items)
        return None

    def _getattr(self, call: Call) -> Value | None:
        """``getattr(module, "name")``."""
        node, arguments = call.node, call.arguments
        if len(node.args) < 2 or arguments[0] is None or arguments[0].kind is not Kind.MODULE:
            return self._unknown_function(call)
        name = node.args[1].value
        if isinstance(name, cst.SimpleString) and name.evaluated_value.isidentifier():
            return self._module_attribute(arguments[0], name.evaluated_value)
        return Value(Kind.MODULE, "getattr() of a module")

    # ------------------------------------------------------------------ methods
    def _grow_list(self, call: Call) -> Value | None:
        """``params.append(p)``: a list stays one of leaves while only leaves go into it."""
        collection = call.receiver
        if collection is None or collection.kind not in (Kind.EMPTY, Kind.PARAMS) \
                or len(call.arguments) != 1:
            return self._method_of_receiver(call)
        key = dotted_name(call.node.func.value)
        if key is None:
            return None
        added = call.arguments[0]
        kind = Kind.LEAF if call.method == "append" else Kind.PARAMS
        if added is not None and added.kind is kind:
            origin = collection.origin if collection.kind is Kind.PARAMS else added.origin
            call.state.bind(key, Value(Kind.PARAMS, origin))
        else:
            call.state.bind(key, None)
        return None

    def _collection(self, call: Call) -> Value | None:
        """``model.parameters()``, ``model.named_modules()``..."""
        if call.node.args:
            return self._method_of_receiver(call)
        receiver, method = call.receiver, call.method
        return Value(COLLECTION_KINDS[method], f"{dotted_name(call.node.func.value) or 'model'}"
                     f".{method}()", frozen=receiver is not None and receiver.frozen)

    def _module_result(self, call: Call) -> Value:
        """``from_pretrained()``, ``get_submodule()``: a module."""
        receiver = call.receiver
        return Value(Kind.MODULE, f".{call.method}()", frozen=receiver is not None
                     and receiver.kind is Kind.MODULE and receiver.frozen)

    def _method_of_receiver(self, call: Call) -> Value | None:
        """A method that its receiver's kind decides: a module's, else a tensor's."""
        receiver = call.receiver
        if receiver is not None and receiver.kind is Kind.MODULE:
            return self._module_method(call)
        return _TENSOR_METHODS.get(call.method, Calls._tensor_op)(self, call)

    def _module_method(self, call: Call) -> Value | None:
        """``<module>.method(...)``: the module itself (``to``, ``eval``...; frozen by
        ``requires_grad_(False)``), or the module that a method of its class returns."""
        node, method, module = call.node, call.method, call.receiver
        if method == "requires_grad_":
            flag = node.args[0].value if node.args else None
            frozen = flag is not None and constant_bool(flag) is not True
            module = replace(module, frozen=frozen)
            key = dotted_name(node.func.value)
            if key is not None:
                call.state.bind(key, module)
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

    def _backward_method(self, call: Call) -> None:
        self._backward(call.node, call.receiver, call.state)
        return None

    def _requires_grad_method(self, call: Call) -> Value:
        """``t.requires_grad_()``: a leaf; off: nothing in it requires grad, whether it is a
        tensor or a module."""
        node, receiver = call.node, call.receiver
        flag = node.args[0].value if node.args else None
        on = flag is None or constant_bool(flag) is True
        value = (receiver if receiver is not None and receiver.kind is Kind.TRACKED
                 else Value(Kind.LEAF, "requires_grad_()") if on
                 else Value(Kind.PLAIN, frozen=True))
        key = dotted_name(node.func.value)
        if key is not None:
            call.state.bind(key, value)
        return value

    def _dtype_cast(self, call: Call) -> Value | None:
        """``p_fp32 = p.float()`` is ``p`` if it is float32."""
        receiver = call.receiver
        if call.node.args or receiver is None or receiver.kind is not Kind.LEAF:
            return self._tensor_op(call)
        return replace(receiver, origin=f"{receiver.origin}, which .{call.method}() returns when "
                       "it already has that dtype")

    def _plain_result(self, call: Call) -> Value | None:
        """``t.item()``, ``t.detach()``: nothing that requires grad."""
        receiver = call.receiver
        return Value(Kind.PLAIN) if receiver is not None and receiver.kind in TENSORS else None

    def _tensor_op(self, call: Call) -> Value | None:
        """Any other method: an in-place update, or an op on a tensor."""
        node, state, grad = call.node, call.state, call.grad
        subject = node.func.value
        if inplace_method(node) is not None:
            operand = next((a for a in call.arguments if a is not None and a.kind in REQUIRES_GRAD),
                           None)
            self._inplace_update(node, self._statement_now, subject, state, grad, operand)
            return self._written_value(subject, state, grad)
        return self._op(node, call.method, subject, call.receiver, node.args, call.arguments,
                        state, grad)

    # ------------------------------------------------------------------ shared
    def _op(self, node, name: str, subject, value: Value | None, args, arguments,
            state: State, grad: Grad) -> Value | None:
        """``subject.name(*args)`` or ``torch.name(subject, *args)`` on tensors."""
        if value is None or value.kind not in TENSORS:
            return None
        others = [a for a in arguments if requires_grad(a)]
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

    def _forget_lists_passed(self, call: Call) -> None:
        """An empty list handed to a call (not ``len``): it may come back holding anything."""
        func = call.node.func
        if isinstance(func, cst.Name) and func.value in PLAIN_BUILTINS:
            return
        for arg, value in zip(call.node.args, call.arguments):
            key = dotted_name(arg.value)
            if value is not None and value.kind is Kind.EMPTY and key is not None:
                call.state.bind(key, None)

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


_Handler = Callable[[Calls, Call], "Value | None"]

#: Imported functions by qualified name (module classes and model factories aside).
_LIBRARY: dict[str, _Handler] = {
    **dict.fromkeys(FACTORIES, Calls._factory),
    **dict.fromkeys(PARAMETER, Calls._parameter),
    **dict.fromkeys(DEEPCOPY, Calls._deepcopy),
    **dict.fromkeys(PARTIAL, Calls._partial),
    **dict.fromkeys(BACKWARD_FUNCTIONS, Calls._backward_function),
    **dict.fromkeys(SAVING_FUNCTIONS, Calls._saving_function),
}
#: Builtins by name (when the name is bound to no import).
_BUILTINS: dict[str, _Handler] = {
    "list": Calls._sequence, "tuple": Calls._sequence, "filter": Calls._filter,
    "zip": Calls._zip, "enumerate": Calls._zip, "getattr": Calls._getattr,
}
#: Methods that decide the value whatever the receiver holds.
_METHODS: dict[str, _Handler] = {
    "append": Calls._grow_list, "extend": Calls._grow_list,
    **dict.fromkeys(COLLECTION_KINDS, Calls._collection),
    **dict.fromkeys(MODULE_METHODS, Calls._module_result),
}
#: Methods of a receiver that is no module; any other is :meth:`Calls._tensor_op`.
_TENSOR_METHODS: dict[str, _Handler] = {
    "backward": Calls._backward_method,
    "requires_grad_": Calls._requires_grad_method,
    **dict.fromkeys(DTYPE_CASTS, Calls._dtype_cast),
    **dict.fromkeys(TENSOR_EXITS | PLAIN_RESULTS, Calls._plain_result),
}
