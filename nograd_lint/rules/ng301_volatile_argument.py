"""NG301: ``volatile=`` passed to ``Variable``, or to a wrapper that forwards it."""

from __future__ import annotations

from dataclasses import dataclass, field

from nograd_lint import libcst as cst

from nograd_lint.model.escape.outputs import Fate, OutputFlow
from nograd_lint.rule import Fix, FixSafety, Invalid, Rule, Valid
from nograd_lint.syntax import argument, is_false, without_arg
from nograd_lint.tree import children
from nograd_lint.model.names import dotted_name
from nograd_lint.vocabulary import VARIABLE, names_a_model


def runs_a_model(call: cst.Call) -> bool:
    """``model(x)``, ``self.net(x)``, ``x.forward()``: a model's output carries its input on."""
    name = dotted_name(call.func) or ""
    return name.endswith(".forward") or name == "self" or names_a_model(name.rsplit(".", 1)[-1])


def _callee_name(call: cst.Call) -> str | None:
    """``f`` for ``f(...)`` and ``self.f(...)``/``cls.f(...)``: calls into this module's code."""
    func = call.func
    if isinstance(func, cst.Name):
        return func.value
    if (isinstance(func, cst.Attribute) and isinstance(func.value, cst.Name)
            and func.value.value in ("self", "cls")):
        return func.attr.value
    return None


@dataclass
class _Signature:
    node: cst.FunctionDef
    positional: list[str]  # names bindable by position, after self/cls for methods
    defaults: set[str] = field(default_factory=set)

    @classmethod
    def of(cls, node: cst.FunctionDef, is_method: bool) -> _Signature:
        params = [*node.params.posonly_params, *node.params.params]
        positional = [p.name.value for p in params]
        decorators = {d.decorator.value for d in node.decorators if isinstance(d.decorator, cst.Name)}
        if is_method and "staticmethod" not in decorators and positional:
            positional = positional[1:]
        every = [*params, *node.params.kwonly_params]
        return cls(node, positional, {p.name.value for p in every if p.default is not None})

    def all_names(self) -> set[str]:
        return {*self.positional, *(p.name.value for p in self.node.params.kwonly_params)}


def _name_uses(body: cst.CSTNode, name: str) -> int:
    """How often ``name`` is used in ``body`` (not as a keyword, not as an attribute name)."""
    count, stack = 0, [body]
    while stack:
        node = stack.pop()
        if isinstance(node, cst.Name):
            count += node.value == name
        elif isinstance(node, (cst.Attribute, cst.Arg)):
            stack.append(node.value)
        else:
            stack.extend(children(node))
    return count


def _bound_argument(call: cst.Call, signature: _Signature | None, param: str) -> cst.Arg | None:
    if signature is None:
        return None
    index = signature.positional.index(param) if param in signature.positional else 1 << 20
    return argument(call, param, index)


class VolatileArgument(Rule):
    """## What it does
    Flags ``volatile=`` passed to ``Variable``, and calls of this module's wrapper functions that
    forward their own ``volatile`` parameter to ``Variable`` (the ``to_var(x, volatile=True)``
    helpers of PyTorch 0.3 code).

    ## Why is this bad?
    ``Variable(x, volatile=True)`` used to stop gradients: nothing computed from it was
    recorded.  Since PyTorch 0.4 the argument only triggers a ``UserWarning`` and gradients flow
    where they used to stop.  In evaluation code that keeps every activation alive; in a value
    that feeds a loss being trained it silently changes training: a DQN's bootstrap target
    ``reward + gamma * model(Variable(next_state, volatile=True)).max(1)[0]`` now sends
    gradients through the target too.  The message says which of the two it is: the value is
    followed, through assignments in its function, into a ``backward()`` call or into a loss
    (a call named like ``*loss*`` or ``criterion``, a ``loss`` variable) that the function
    returns; a validation loss that is only logged is not training.  Compute the value under
    ``torch.no_grad()``, or ``.detach()`` it.

    ## Fix safety
    Safe: the fix drops the argument (from a wrapper call only when the wrapper has a default for
    it and uses it for nothing but forwarding).
    """

    INVALID = (
        Invalid("""
            import torch
            from torch.autograd import Variable

            def evaluate(model, images):
                images = Variable(images, volatile=True)  # expect: NG301
                return model(images)
            """, fixed="""
            import torch
            from torch.autograd import Variable

            def evaluate(model, images):
                images = Variable(images)
                return model(images)
            """),
        # A bootstrap target: gradients used to stop here, now they flow into the loss.
        Invalid("""
            import torch.nn.functional as F
            from torch.autograd import Variable

            def optimize(model, optimizer, state, next_state, reward, gamma):
                q = model(state).max(1)[0]
                target = reward + gamma * model(Variable(next_state, volatile=True)).max(1)[0]  # expect: NG301
                loss = F.smooth_l1_loss(q, target)
                loss.backward()
            """, fixed="""
            import torch.nn.functional as F
            from torch.autograd import Variable

            def optimize(model, optimizer, state, next_state, reward, gamma):
                q = model(state).max(1)[0]
                target = reward + gamma * model(Variable(next_state)).max(1)[0]
                loss = F.smooth_l1_loss(q, target)
                loss.backward()
            """),
    )
    VALID = (
        Valid("""
            import torch

            def evaluate(model, images):
                with torch.no_grad():
                    return model(images)
            """),
    )
    fixtures = (
        "ng301_aliases.py",
        "ng301_variable_volatile.py",
        "ng301_wrapper_helper.py",
        "ok_volatile_migrated.py",
        "ok_volatile_unrelated.py",
    )

    code = "NG301"
    name = "volatile-argument"
    message = ("'volatile=True' used to stop gradients here, but it has had no effect since "
               "PyTorch 0.4 and gradients now flow: run this code under 'with "
               "torch.no_grad():' (or 'torch.inference_mode()') or '.detach()' the value")
    trained_message = (
        "'volatile=True' used to stop gradients here, but it has had no effect since PyTorch "
        "0.4: gradients now flow through this value into the loss that is backpropagated, so "
        "training silently changes (a bootstrap target gets trained too): '.detach()' the "
        "value or compute it under 'with torch.no_grad():'")
    false_message = ("'volatile=False' was always the default, and has had no effect at all "
                     "since PyTorch 0.4: remove it")
    # "Variable" too: volatile can be passed by position, ``Variable(x, False, True)``.
    triggers = ("volatile", "Variable")
    fix_safety = FixSafety.SAFE
    features = frozenset({"variable-call"})
    needs = (OutputFlow,)

    def __init__(self, context) -> None:
        super().__init__(context)
        self._signatures: dict[str, _Signature] = {}
        # (enclosing function, call, callee) for calls that may reach a wrapper.
        self._calls: list[tuple[cst.FunctionDef | None, cst.Call, str]] = []
        # Parameters each function forwards straight into Variable's volatile.
        self._forwarded: dict[cst.FunctionDef, dict[str, int]] = {}
        # ``Variable(..., volatile=...)`` calls: where their values go is known after the walk.
        self._volatile: list[tuple[cst.Call, cst.Arg]] = []

    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        is_method = self.context.model.class_of(node) is not None
        self._signatures[node.name.value] = _Signature.of(node, is_method)

    def visit_Call(self, node: cst.Call) -> None:
        if self.context.names.qualified_name(node.func) in VARIABLE:
            volatile = argument(node, "volatile", 2)
            if volatile is not None:
                self._volatile.append((node, volatile))
                self._note_forwarding(volatile)
            return
        callee = _callee_name(node)
        if callee is not None:
            self._calls.append((self.context.model.named_function(), node, callee))

    def _message(self, call: cst.Call, volatile: cst.Arg) -> str:
        if is_false(volatile.value):
            return self.false_message
        if self.context.layer(OutputFlow).outputs(call, runs_a_model).fate is Fate.TRAINING:
            return self.trained_message
        return self.message

    def _note_forwarding(self, arg: cst.Arg) -> None:
        function = self.context.model.named_function()
        if function is not None and isinstance(arg.value, cst.Name):
            uses = self._forwarded.setdefault(function, {})
            uses[arg.value.value] = uses.get(arg.value.value, 0) + 1

    def finish(self) -> None:
        for call, volatile in self._volatile:
            self.report(call, self._message(call, volatile), Fix(call, without_arg(call, volatile)))
        wrappers = self._wrapper_parameters()
        for _, call, callee in self._calls:
            signature = self._signatures.get(callee)
            for param in wrappers.get(callee, ()):
                arg = _bound_argument(call, signature, param)
                if arg is None:
                    continue
                message = (f"'{param}' passed to {callee}() only reaches Variable's 'volatile', "
                           "which has had no effect since PyTorch 0.4: remove it and run "
                           "inference under 'with torch.no_grad():'")
                self.report(call, message, self._wrapper_fix(call, arg, signature, param))

    def _wrapper_parameters(self) -> dict[str, set[str]]:
        """Function name -> its parameters that end up as Variable's ``volatile``, also through
        other wrappers (``make_var(x, volatile)`` calling ``to_var(x, volatile=volatile)``)."""
        wrappers: dict[str, set[str]] = {}

        def add(function: cst.FunctionDef, param: str) -> bool:
            signature = self._signatures.get(function.name.value)
            if signature is None or signature.node is not function:
                return False
            if param not in signature.all_names() or param in wrappers.get(signature.node.name.value, ()):
                return False
            wrappers.setdefault(function.name.value, set()).add(param)
            return True

        for function, uses in self._forwarded.items():
            for param in uses:
                add(function, param)
        changed = True
        while changed:
            changed = False
            for function, call, callee in self._calls:
                if function is None:
                    continue
                for param in list(wrappers.get(callee, ())):
                    arg = _bound_argument(call, self._signatures[callee], param)
                    if arg is not None and isinstance(arg.value, cst.Name):
                        if add(function, arg.value.value):
                            uses = self._forwarded.setdefault(function, {})
                            uses[arg.value.value] = uses.get(arg.value.value, 0) + 1
                            changed = True
        return wrappers

    def _wrapper_fix(self, call: cst.Call, arg: cst.Arg, signature: _Signature,
                     param: str) -> Fix | None:
        # Dropping the argument is safe only when the wrapper has a default for it and uses it
        # for nothing but forwarding (``if volatile: ...`` would change behaviour).
        if arg.keyword is None or param not in signature.defaults:
            return None
        forwarded = self._forwarded.get(signature.node, {}).get(param, -1)
        if _name_uses(signature.node.body, param) != forwarded:
            return None
        return Fix(call, without_arg(call, arg))
