"""NG301-NG303: the deprecated ``Variable`` wrapper and its ``volatile`` flag.

``volatile=True`` was PyTorch 0.3's way to run inference without building a graph.  Since 0.4 it
does nothing but warn: code that still relies on it builds graphs during evaluation.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from nograd_lint import libcst as cst

from nograd_lint.rule import Fix, FixSafety, Rule
from nograd_lint.syntax import argument, is_false, is_true, method_call, parenthesized, without_arg
from nograd_lint.tree import children
from nograd_lint.vocabulary import VARIABLE


class _ScopeTracker:
    """Which classes and functions enclose the node being visited."""

    def __init__(self) -> None:
        self.scopes: list[cst.ClassDef | cst.FunctionDef] = []

    def visit_ClassDef(self, node: cst.ClassDef) -> None:
        self.scopes.append(node)

    def leave_ClassDef(self, node: cst.ClassDef) -> None:
        self.scopes.pop()

    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        self.scopes.append(node)

    def leave_FunctionDef(self, node: cst.FunctionDef) -> None:
        self.scopes.pop()

    @property
    def function(self) -> cst.FunctionDef | None:
        for scope in reversed(self.scopes):
            if isinstance(scope, cst.FunctionDef):
                return scope
        return None

    @property
    def class_(self) -> cst.ClassDef | None:
        for scope in reversed(self.scopes):
            if isinstance(scope, cst.ClassDef):
                return scope
        return None


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


class VolatileArgument(Rule, _ScopeTracker):
    """``volatile=`` passed to ``Variable``: removed in PyTorch 0.4, it does nothing.

    ``Variable(x, volatile=True)`` used to mean "no graph for this computation".  Since
    PyTorch 0.4 the argument only triggers a ``UserWarning``; everything computed from the
    result builds an autograd graph again, so evaluation code keeps every activation alive.
    The rule also flags calls of this module's wrapper functions that forward their own
    ``volatile`` parameter to ``Variable`` (the ``to_var(x, volatile=True)`` helpers of
    PyTorch 0.3 code).  The fix drops the argument; disable gradients with ``torch.no_grad()``.

    Bad::

        from torch.autograd import Variable
        images = Variable(images, volatile=True)
        outputs = model(images)

    Good::

        with torch.no_grad():
            outputs = model(images)
    """

    code = "NG301"
    name = "volatile-argument"
    message = ("'volatile' has had no effect since PyTorch 0.4: remove it and run inference "
               "under 'with torch.no_grad():' or 'torch.inference_mode()'")
    # "Variable" too: volatile can be passed by position, ``Variable(x, False, True)``.
    triggers = ("volatile", "Variable")
    fix_safety = FixSafety.SAFE
    features = frozenset({"variable-call"})

    def __init__(self, context) -> None:
        Rule.__init__(self, context)
        _ScopeTracker.__init__(self)
        self._signatures: dict[str, _Signature] = {}
        # (enclosing function, call, callee) for calls that may reach a wrapper.
        self._calls: list[tuple[cst.FunctionDef | None, cst.Call, str]] = []
        # Parameters each function forwards straight into Variable's volatile.
        self._forwarded: dict[cst.FunctionDef, dict[str, int]] = {}

    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        is_method = isinstance(self.scopes[-1], cst.ClassDef) if self.scopes else False
        self._signatures[node.name.value] = _Signature.of(node, is_method)
        _ScopeTracker.visit_FunctionDef(self, node)

    def visit_Call(self, node: cst.Call) -> None:
        if self.context.names.qualified_name(node.func) in VARIABLE:
            volatile = argument(node, "volatile", 2)
            if volatile is not None:
                self.report(node, fix=Fix(node, without_arg(node, volatile)))
                self._note_forwarding(volatile)
            return
        callee = _callee_name(node)
        if callee is not None:
            self._calls.append((self.function, node, callee))

    def _note_forwarding(self, arg: cst.Arg) -> None:
        function = self.function
        if function is not None and isinstance(arg.value, cst.Name):
            uses = self._forwarded.setdefault(function, {})
            uses[arg.value.value] = uses.get(arg.value.value, 0) + 1

    def finish(self) -> None:
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


def _bound_argument(call: cst.Call, signature: _Signature | None, param: str) -> cst.Arg | None:
    if signature is None:
        return None
    index = signature.positional.index(param) if param in signature.positional else 1 << 20
    return argument(call, param, index)


class VolatileAttribute(Rule, _ScopeTracker):
    """Reading or setting ``.volatile`` on a tensor: removed in PyTorch 0.4.

    Reading ``t.volatile`` always gives ``False`` (with a ``UserWarning``) and setting it does
    nothing, so code that branches on it or sets it to skip graph building silently builds
    graphs.  Ask ``torch.is_grad_enabled()`` instead and disable gradients with
    ``torch.no_grad()``.  Not flagged: files that do not import torch, instances of classes
    that define their own ``volatile`` attribute, and ``argparse`` results.  The fix removes
    a plain ``t.volatile = <constant or name>`` statement.

    Bad::

        x.volatile = True
        if x.volatile:
            ...

    Good::

        with torch.no_grad():
            ...
        if not torch.is_grad_enabled():
            ...
    """

    code = "NG302"
    name = "volatile-attribute"
    message = ("'.volatile' was removed in PyTorch 0.4 (always False; setting it does nothing): "
               "use 'with torch.no_grad():' and 'torch.is_grad_enabled()'")
    triggers = ("volatile",)
    fix_safety = FixSafety.SAFE
    features = frozenset({"volatile-attribute"})

    def __init__(self, context) -> None:
        Rule.__init__(self, context)
        _ScopeTracker.__init__(self)
        self._own_volatile: set[str] = set()  # classes defining their own ``volatile``
        self._instances: dict[str, str] = {}  # name -> class it was constructed from
        self._namespaces: set[str] = set()  # names bound to argparse results
        self._uses: list[tuple[cst.Attribute, cst.ClassDef | None]] = []
        self._stores: dict[cst.Attribute, cst.Assign] = {}

    def visit_Assign(self, node: cst.Assign) -> None:
        for target in node.targets:
            self._note_binding(target.target, node.value)
        if len(node.targets) == 1 and isinstance(node.targets[0].target, cst.Attribute):
            self._stores[node.targets[0].target] = node

    def visit_AnnAssign(self, node: cst.AnnAssign) -> None:
        self._note_binding(node.target, node.value)

    def _note_binding(self, target: cst.BaseExpression, value: cst.BaseExpression | None) -> None:
        owner = self.class_
        if owner is not None and _is_volatile_definition(target, in_class_body=self.scopes[-1] is owner):
            self._own_volatile.add(owner.name.value)
        if isinstance(target, cst.Name) and isinstance(value, cst.Call):
            if isinstance(value.func, cst.Name):
                self._instances[target.value] = value.func.value
            elif isinstance(value.func, cst.Attribute) and value.func.attr.value in (
                    "parse_args", "parse_known_args"):
                self._namespaces.add(target.value)

    def visit_Attribute(self, node: cst.Attribute) -> None:
        if node.attr.value == "volatile":
            self._uses.append((node, self.class_))

    def finish(self) -> None:
        if not self.context.names.imports_torch:
            return
        for attribute, owner in self._uses:
            receiver = attribute.value
            if isinstance(receiver, cst.Name):
                if receiver.value in ("self", "cls") and owner is not None and \
                        owner.name.value in self._own_volatile:
                    continue
                if self._instances.get(receiver.value) in self._own_volatile:
                    continue
                if receiver.value in self._namespaces:
                    continue
            store = self._stores.get(attribute)
            if store is None:
                self.report(attribute, "reading '.volatile' always gives False since PyTorch "
                            "0.4: use 'torch.is_grad_enabled()' and disable gradients with "
                            "'with torch.no_grad():'")
                continue
            fix = None
            if isinstance(store.value, (cst.Name, cst.BaseNumber, cst.BaseString)):
                fix = Fix(store, cst.RemoveFromParent())
            self.report(attribute, "setting '.volatile' does nothing since PyTorch 0.4: remove "
                        "it and run the code under 'with torch.no_grad():'", fix)


def _is_volatile_definition(target: cst.BaseExpression, in_class_body: bool) -> bool:
    if isinstance(target, cst.Name):
        return in_class_body and target.value == "volatile"
    return (isinstance(target, cst.Attribute) and target.attr.value == "volatile"
            and isinstance(target.value, cst.Name) and target.value.value == "self")


class VariableWrapper(Rule):
    """``torch.autograd.Variable(x)``: a deprecated no-op wrapper since PyTorch 0.4.

    Tensors carry autograd state themselves.  ``Variable(x)`` returns a new tensor that shares
    ``x``'s storage and does not require grad; ``Variable(x, requires_grad=True)`` is
    ``x.detach().requires_grad_()``.  The fix writes exactly that, and ``Variable(x)`` becomes
    ``x`` (which differs only if ``x`` itself requires grad: then ``x.detach()`` is the exact
    equivalent).

    Bad::

        from torch.autograd import Variable
        x = Variable(torch.randn(3))
        w = Variable(torch.zeros(3), requires_grad=True)

    Good::

        x = torch.randn(3)
        w = torch.zeros(3, requires_grad=True)
    """

    code = "NG303"
    name = "variable-wrapper"
    message = ("'Variable(...)' is deprecated since PyTorch 0.4: use the tensor itself "
               "('x.detach().requires_grad_()' where requires_grad=True was passed)")
    triggers = ("Variable",)
    fix_safety = FixSafety.SAFE
    features = frozenset({"variable-call"})

    def visit_Call(self, node: cst.Call) -> None:
        if self.context.names.qualified_name(node.func) in VARIABLE:
            self.report(node, fix=_unwrap_variable(node))


def _unwrap_variable(call: cst.Call) -> Fix | None:
    data = argument(call, "data", 0)
    requires_grad = argument(call, "requires_grad", 1)
    volatile = argument(call, "volatile", 2)
    known = {id(a) for a in (data, requires_grad, volatile) if a is not None}
    if data is None or any(id(arg) not in known for arg in call.args):
        return None  # *args, **kwargs or unknown keywords: leave it to a human
    if requires_grad is None or is_false(requires_grad.value):
        replacement = parenthesized(data.value)
    else:
        flag = () if is_true(requires_grad.value) else (requires_grad.value,)
        replacement = method_call(method_call(data.value, "detach"), "requires_grad_", *flag)
    if call.lpar:
        replacement = replacement.with_changes(lpar=call.lpar, rpar=call.rpar)
    return Fix(call, replacement)
