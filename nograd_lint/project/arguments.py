"""What a call passes, for the project index (``CallSite.arguments``), judged on the syntax
alone, flow-insensitively: ``m.weight``/``x.y.bias`` (any module's), ``self.<attr>`` where the
class's ``__init__`` assigns it an ``nn.Parameter``, ``X.parameters()``, ``group["params"]``,
``list``/``filter`` of such; and a name of the calling function by any of its bindings there:
its parameter, a loop variable over such an iterable (or over its parameter), a name assigned
one, a list it appends leaves to.  A mixin of indexer.py's ``_Indexer``."""

from __future__ import annotations

import ast

from nograd_lint.project.facts import CALLER_PARAMETER, ELEMENT_OF, LEAF, PARAMS
from nograd_lint.project.scopes import Frame
from nograd_lint.vocabulary import WEIGHTS


class CallArguments:
    """The arguments of the call sites (CallSites) that may be leaves or parameters."""

    def arguments(self, node: ast.Call, frame: Frame) -> list:
        """What the arguments of ``node`` pass that may be leaves (CallSite.arguments); those
        naming the function's names are settled at its end, ``self.<attr>`` at its class's."""
        passed: list = []
        if not node.args and not node.keywords:
            return passed
        for position, argument in enumerate(node.args):
            if type(argument) is ast.Starred:
                break  # the positions after it are unknown
            value = self.argument(argument)
            if value is not None:
                passed.append((position, value))
        for keyword in node.keywords:
            if keyword.arg is not None:
                value = self.argument(keyword.value)
                if value is not None:
                    passed.append((keyword.arg, value))
        if passed:
            frame.pending.append(passed)
        return passed

    def argument(self, expression: ast.expr) -> str | None:
        kind = type(expression)
        if kind is ast.Name:
            return "~" + expression.id
        if kind is ast.Attribute and type(expression.value) is ast.Name and \
                expression.value.id in ("self", "cls"):
            return "self:" + expression.attr
        return _passed_value(expression)

    def settle_arguments(self, frame: Frame) -> None:
        """The arguments of the function's calls that name its names, settled now that its
        body is known: a parameter (``=p``), a loop variable over parameters (a leaf)..."""
        for passed in frame.pending:
            settled = []
            for slot, value in passed:
                if value[0] == "~":
                    value = self.name_value(value[1:], frame, 0)
                elif value[:5] == "self:" and self.klass is None:
                    value = None
                if value is not None:
                    settled.append((slot, value))
            passed[:] = settled
            if any(value[:5] == "self:" for _, value in settled):
                self.self_arguments.append(passed)

    def name_value(self, name: str, frame: Frame, depth: int) -> str | None:
        """What ``name`` may hold in ``frame``'s function, as an argument (flow-insensitive:
        any of its bindings)."""
        if name in frame.parameters:
            return CALLER_PARAMETER + name if frame.caller is not None else None
        if depth > 2:
            return None
        for iterable in frame.loops.get(name, ()):
            collection = self.collection(iterable, frame, depth + 1)
            if collection == PARAMS:
                return LEAF
            if collection is not None and collection[0] == CALLER_PARAMETER:
                return ELEMENT_OF + collection[1:]
        for value in frame.assigned.get(name, ()):
            found = (self.name_value(value.id, frame, depth + 1) if type(value) is ast.Name
                     else _passed_value(value))
            if found is not None:
                return found
        if any(_passed_value(v) == LEAF or type(v) is ast.Name
               and self.name_value(v.id, frame, depth + 1) == LEAF
               for v in frame.appended.get(name, ())):
            return PARAMS
        return None

    def collection(self, iterable: ast.expr, frame: Frame, depth: int) -> str | None:
        """PARAMS when ``for x in iterable`` binds leaves, ``=p`` when it loops over the
        function's parameter ``p``."""
        if type(iterable) is ast.Call and type(iterable.func) is ast.Name and iterable.args \
                and iterable.func.id in _PASS_THROUGH:
            iterable = iterable.args[-1 if iterable.func.id == "filter" else 0]
        if type(iterable) is ast.Name:
            if iterable.id in frame.parameters:
                return CALLER_PARAMETER + iterable.id if frame.caller is not None else None
            return PARAMS if self.name_value(iterable.id, frame, depth) == PARAMS else None
        return PARAMS if _passed_value(iterable) == PARAMS else None



#: Calls whose result iterates over (the elements of) their argument.
_PASS_THROUGH = frozenset({"list", "tuple", "filter", "reversed", "sorted"})


def _passed_value(expression: ast.expr) -> str | None:
    """LEAF or PARAMS where an expression surely is one, judged on its own: ``m.weight``,
    ``self.fc.bias`` (a module's), ``model.parameters()``, ``group["params"]``, ``list(...)``
    of such."""
    kind = type(expression)
    if kind is ast.Attribute:
        # ``self.weight`` is one only where the class assigns it an nn.Parameter (see class_).
        base = expression.value
        return LEAF if expression.attr in WEIGHTS and not (
            type(base) is ast.Name and base.id in ("self", "cls")) else None
    if kind is ast.Call:
        func = expression.func
        if type(func) is ast.Attribute:
            return PARAMS if func.attr == "parameters" and not expression.args else None
        if type(func) is ast.Name and func.id in _PASS_THROUGH and expression.args:
            inner = _passed_value(expression.args[-1 if func.id == "filter" else 0])
            return PARAMS if inner == PARAMS else None
        return None
    if kind is ast.Subscript:
        key = expression.slice
        return PARAMS if type(key) is ast.Constant and key.value == "params" else None
    return None

