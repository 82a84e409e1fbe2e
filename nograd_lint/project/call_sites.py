"""The call sites and references the project index notes in a module's expressions: calls of
the project's functions (resolved through imports and ``self``), functions passed along or
read without a call (they escape), and calls by method name through receivers of unknown
class.  A mixin of indexer.py's ``_Indexer``, whose state it reads and adds to."""

from __future__ import annotations

import ast

from nograd_lint.ast_walk import CHILD_FIELDS, child_fields, dotted
from nograd_lint.project.scopes import Explicit, Frame, PendingCall

#: Method names whose calls through unknown receivers are not kept (``x.mean()``): ``forward``,
#: which runs implicitly and escapes anyway (callers.py), and the most common methods of
#: tensors and built-in types, which would only fill the index.  A method of the project with
#: one of these names is matched through its other call sites only.
NOT_FOLLOWED = frozenset({
    "forward", "item", "mean", "sum", "pow", "backward", "size", "view", "reshape", "to", "cpu",
    "cuda", "numpy", "detach", "clone", "float", "long", "int", "squeeze", "unsqueeze",
    "permute", "transpose", "contiguous", "max", "min", "argmax", "tolist", "zero_",
    "zero_grad", "append", "extend", "get", "items", "keys", "values", "format", "join", "split",
    "strip", "startswith", "endswith", "replace", "pop", "copy", "add_", "mul_", "div_", "sub_",
    "copy_", "fill_", "expand", "repeat", "flatten", "type", "dim", "numel", "norm", "abs",
    "exp", "log", "sqrt", "softmax", "log_softmax", "sigmoid", "tanh", "relu", "chunk", "cat",
})


def is_torch(name: str) -> bool:
    return name == "torch" or name.startswith("torch.")


class CallSites:
    """Notes the calls and references in expressions (``expressions``)."""

    def expressions(self, root: ast.AST, frame: Frame) -> None:
        """Note the calls, lambdas and references in an expression."""
        stack = [root]
        fields_of = CHILD_FIELDS
        bound, local = self.bound, self.local
        while stack:
            node = stack.pop()
            kind = type(node)
            # Names, constants and attributes are most of the nodes: settled first, and a name
            # that is neither imported nor defined here (a local variable) at once.
            if kind is ast.Name:
                if (node.id in bound or node.id in local) and type(node.ctx) is ast.Load:
                    self.escape(self.resolve(node.id))
            elif kind is ast.Constant:
                continue
            elif kind is ast.Attribute:
                if type(node.ctx) is ast.Load:
                    self.escape(self.reference(node, stack))
            elif kind is ast.Call:
                self.call(node, frame, stack)
            elif kind is ast.Lambda:
                # Its body runs wherever it is called: not followed (enabled, to the project).
                inner = Frame(None, None)
                self.expressions(node.body, inner)
                self.settle_arguments(inner)
                stack.extend(d for d in (*node.args.defaults, *node.args.kw_defaults)
                             if d is not None)
            elif kind is list:
                stack.extend(node)
            else:
                for name in fields_of.get(kind) or child_fields(kind):
                    value = getattr(node, name)
                    if type(value) is list:
                        stack.extend(value)
                    elif value is not None:
                        stack.append(value)

    def escape(self, target: str | None) -> None:
        """A reference to ``target`` that is no call: the function may run anywhere."""
        if target is not None and not is_torch(target):
            self.escapes.add(target)

    def reference(self, node: ast.Name | ast.Attribute, stack: list) -> str | None:
        """What a name or attribute chain that may refer to a function of the project
        resolves to (see ``resolve``), if anything; an attribute of anything else (``f().x``)
        is pushed onto ``stack`` to be walked."""
        base = node
        while type(base) is ast.Attribute:
            base = base.value
        if type(base) is not ast.Name:
            stack.append(base)
            return None
        head = base.id
        if head not in self.bound and head not in self.local and (
                head not in ("self", "cls") or base is node):
            if base is not node:  # ``model.sample``: a method of any class may be read
                self.attribute_chain(node)
            return None  # the common case: a local variable
        target = self.resolve(head if base is node else dotted(node))
        if target is None and base is not node and head in ("self", "cls"):
            self.attribute_chain(node)
        return None if target is None or is_torch(target) else target

    def attribute_chain(self, node: ast.AST) -> None:
        """Every attribute read along ``a.b.c`` (not called) may be a method of the project
        that escapes there."""
        escapes = self.attribute_escapes
        while type(node) is ast.Attribute:
            escapes.add(node.attr)
            node = node.value

    def call(self, node: ast.Call, frame: Frame, stack: list) -> None:
        """Note a call site, and push what is left to walk onto ``stack``."""
        func = node.func
        kind = type(func)
        if kind is not ast.Name and kind is not ast.Attribute:
            stack.append(func)
        elif self.is_grad_api(func):
            self.managing.update(self.scopes)
        explicit, line = frame.states[-1], node.lineno
        if kind is ast.Attribute and func.attr == "requires_grad_" and node.args and \
                type(node.args[0]) is ast.Constant and node.args[0].value is False:
            self.freeze(func.value)
        by_name = None
        if kind is ast.Attribute:
            target = self.method_target(func, stack)
            if target:
                receiver = type(func.value) is ast.Name and func.value.id in ("self", "cls")
                self.calls.append(PendingCall(target, frame.caller, explicit, line, receiver,
                                        self.arguments(node, frame)))
            elif target is None:
                by_name = func.attr
                if by_name in NOT_FOLLOWED or by_name[:2] == "__" == by_name[-2:]:
                    by_name = None
        elif kind is ast.Name:
            target = self.reference(func, stack)
            if target is not None:
                self.calls.append(PendingCall(target, frame.caller, explicit, line, False,
                                        self.arguments(node, frame)))
            elif func.id == "getattr" and len(node.args) > 1:
                name = node.args[1]
                if type(name) is ast.Constant and type(name.value) is str:
                    self.attribute_escapes.add(name.value)
        # A function passed along (``model.apply(init)``) is taken to run right here; a
        # method read through a receiver of unknown class (``pool.map(model.sample)``) escapes.
        unpacked = False
        for expression in node.args:
            if not self.passed_along(expression, frame, explicit, line, stack):
                unpacked = unpacked or type(expression) is ast.Starred
        keywords = node.keywords
        for keyword in keywords:
            self.passed_along(keyword.value, frame, explicit, line, stack)
        if by_name is not None:
            names = tuple(k.arg for k in keywords) if keywords else ()
            self.method_calls.append((by_name, frame.caller, explicit,
                                      -1 if unpacked or None in names else len(node.args), names))

    def passed_along(self, argument: ast.expr, frame: Frame, explicit: Explicit, line: int,
                     stack: list) -> bool:
        """Note a call's argument that names a function of the project as a call of it there
        (the caller runs it, as far as the index knows); push any other onto ``stack``.
        Whether it is a name or an attribute."""
        kind = type(argument)
        if kind is not ast.Name and kind is not ast.Attribute:
            stack.append(argument)
            return False
        target = self.reference(argument, stack)
        if target is not None:
            self.calls.append(PendingCall(target, frame.caller, explicit, line))
        return True

    def method_target(self, func: ast.Attribute, stack: list) -> str | None | bool:
        """What a callee ``a.b.f`` resolves to (``reference``); None when its receiver's class
        is unknown (a local variable, ``self.model``, a call's result), so that it may be any
        method ``f`` of the project; False when it resolves outside the project."""
        base = func.value
        while type(base) is ast.Attribute:
            base = base.value
        if type(base) is not ast.Name:
            stack.append(base)
            self.attribute_chain(func.value)
            return None
        head = base.id
        receiver = head in self.bound or head in self.local or (
            head in ("self", "cls") and func.value is base and self.klass is not None)
        if not receiver:
            self.attribute_chain(func.value)
            return None
        target = self.resolve(dotted(func))
        return False if target is None or is_torch(target) else target

    def freeze(self, target: ast.expr) -> None:
        if type(target) is ast.Attribute and type(target.value) is ast.Name and \
                target.value.id == "self":
            self.frozen.add(target.attr)

