"""Where a forward's output may go, the screen's mirror of model/escape/outputs.py.

NG101 reports a forward found by its outputs alone (no evaluation name or loop around it) only
where OutputFlow gives them the fate ``INFERENCE``: some path of the value ends where it is
looked at (a *sink*), and no path reaches a gradient consumer or code the analysis does not
follow.  :meth:`OutputReach.may_be_looked_at` over-approximates "some path ends at a sink": it
follows the value up CPython's ``ast`` with OutputFlow's steps, from the same vocabulary, but
where the analysis needs what the screen does not know (which name a read sees, what an import
resolves to, which parameter an argument binds) it takes every candidate, and it stops a path
only where the analysis surely stops it (a gradient consumer, an attribute store, a statement
that throws the value away, a call of the value, code it does not follow).

Reads of a name bound in a function are those anywhere in that function, nested functions
included (rebindings are ignored); a container that is not bound in the function, anywhere in
the module.  A value returned by a function reaches every call of that name in the module; one
passed to a call reaches the parameters it may bind in every function of the callee's name.
The analysis's private lists (metadata queries such as ``.size()``, ``len()``) are not mirrored:
there the screen counts a sink, which only lets more files through.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator, Mapping

from nograd_lint.ast_walk import CHILD_FIELDS, child_fields, dotted
from nograd_lint.screen.walk import callee
from nograd_lint.vocabulary import (
    AUTOGRAD_METHODS, CONVERSION_METHODS, INSPECTING_FUNCTIONS,
    INSPECTING_MODULES, LOGGING_METHODS, METADATA_ATTRIBUTES, METRIC_WORDS,
    NONDIFFERENTIABLE_FUNCTIONS, NONDIFFERENTIABLE_METHODS, NUMERIC_MODULES, PLAIN_BUILTINS,
    STORING_METHODS, words,
)

_FUNCTIONS = (ast.FunctionDef, ast.AsyncFunctionDef)
#: Expressions that carry a value on to their parent (OutputFlow's carriers).
_CARRIERS = (ast.BinOp, ast.BoolOp, ast.Tuple, ast.List, ast.Set, ast.Dict, ast.ListComp,
             ast.SetComp, ast.DictComp, ast.GeneratorExp, ast.Await)
#: Statements and expressions that look at a value (OutputFlow's consumers).
_CONSUMERS = (ast.JoinedStr, ast.FormattedValue, ast.If, ast.While, ast.Assert, ast.Delete)
_IDENTITY_TESTS = (ast.Is, ast.IsNot, ast.In, ast.NotIn)
_INSPECTING_PREFIXES = tuple(f"{m}." for m in INSPECTING_MODULES | NUMERIC_MODULES)
#: How many expressions one value may reach before the screen stops and lets the file through.
_BUDGET = 2000


class _Sink(Exception):
    """Some path of the value may end where it is looked at."""


class OutputReach:
    """Built once per module, on demand (see EvaluationScreen.prepare)."""

    def __init__(self, tree: ast.Module, imports: Mapping[str, list[tuple[str, int]]],
                 star_import: bool) -> None:
        self.imports, self.star_import = imports, star_import
        self.parent: dict[int, ast.AST] = {}
        self.reads: dict[str, list[ast.Name]] = {}  # OutputFlow's uses of a name
        self.calls: dict[str, list[ast.Call]] = {}  # by the callee's last name
        self.functions: dict[str, list[ast.FunctionDef | ast.AsyncFunctionDef]] = {}
        self._bound: dict[int, set[str]] = {}
        parent = self.parent
        # ast.walk's breadth-first order (the lists above keep it), without its generators.
        queue: list = [tree]
        for node in queue:
            kind = type(node)
            fields = CHILD_FIELDS.get(kind)
            for name in fields if fields is not None else child_fields(kind):
                value = getattr(node, name)
                if type(value) is list:
                    for child in value:
                        if child is not None:
                            parent[id(child)] = node
                            queue.append(child)
                elif value is not None:
                    parent[id(value)] = node
                    queue.append(value)
            if kind is ast.Name:
                if type(node.ctx) is ast.Load:
                    self.reads.setdefault(node.id, []).append(node)
            elif kind is ast.AugAssign and type(node.target) is ast.Name:
                self.reads.setdefault(node.target.id, []).append(node.target)  # read too
            elif kind is ast.Call:
                name = callee(node.func)
                if name is not None:
                    self.calls.setdefault(name, []).append(node)
            elif kind in _FUNCTIONS:
                self.functions.setdefault(node.name, []).append(node)
        self._tree = tree
        self._cache: dict[int, bool] = {}
        self.work: list[ast.AST] = []  # expressions carrying the value followed now
        self.seen: set[int] = set()

    def may_be_looked_at(self, value: ast.AST) -> bool:
        """May OutputFlow give ``value`` (a forward call) the fate INFERENCE?"""
        known = self._cache.get(id(value))
        if known is None:
            known = self._cache[id(value)] = self._follow(value)
        return known

    def _follow(self, value: ast.AST) -> bool:
        self.work, self.seen = [value], {id(value)}
        try:
            for _ in range(_BUDGET):
                if not self.work:
                    return False
                self._step(self.work.pop())
        except _Sink:
            return True
        return True  # too far to follow: let the file through

    def _push(self, node: ast.AST) -> None:
        if id(node) not in self.seen:
            self.seen.add(id(node))
            self.work.append(node)

    # ------------------------------------------------------------------ one step up
    def _step(self, node: ast.AST) -> None:
        parent = self.parent.get(id(node))
        kind = type(parent)
        if kind is ast.keyword or kind is ast.Starred and type(self.parent.get(id(parent))) is ast.Call:
            self._argument(parent, self.parent[id(parent)])
        elif kind is ast.Starred or kind in _CARRIERS:
            self._push(parent)
        elif kind is ast.Attribute:
            self._attribute(parent)
        elif kind is ast.Call:
            if parent.func is not node:
                self._argument(node, parent)
        elif kind is ast.UnaryOp:
            if type(parent.op) is ast.Not:
                raise _Sink
            self._push(parent)
        elif kind is ast.IfExp:
            if parent.test is node:
                raise _Sink
            self._push(parent)
        elif kind is ast.Subscript:
            if parent.value is not node:
                raise _Sink  # an index
            self._push(parent)
        elif kind is ast.Slice:
            raise _Sink
        elif kind is ast.Compare:
            if not all(type(op) in _IDENTITY_TESTS for op in parent.ops):
                raise _Sink
        elif kind in _CONSUMERS:
            raise _Sink
        elif kind in (ast.For, ast.AsyncFor, ast.comprehension):
            if parent.iter is node:
                self._targets(parent.target)
        elif kind is ast.NamedExpr:
            self._targets(parent.target)
            self._push(parent)
        elif kind is ast.Assign:
            for target in parent.targets:
                self._targets(target)
        elif kind is ast.AnnAssign or kind is ast.AugAssign:
            self._targets(parent.target)
        elif kind is ast.Return:
            self._returned(parent)
        # Anything else (a statement throwing it away, a lambda's body, a yield, a ``with``
        # item...) ends the path in the analysis too.

    def _attribute(self, attribute: ast.Attribute) -> None:
        holder = self.parent.get(id(attribute))
        if type(holder) is ast.Call and holder.func is attribute:
            method = attribute.attr
            if method in AUTOGRAD_METHODS:
                return  # training: this path is no sink
            if method == "detach" or method in CONVERSION_METHODS or method in NONDIFFERENTIABLE_METHODS:
                raise _Sink
            self._push(holder)
        elif attribute.attr == "data":
            raise _Sink
        elif attribute.attr not in METADATA_ATTRIBUTES and not (
                type(holder) in (ast.Assign, ast.AugAssign, ast.AnnAssign)
                and holder.value is not attribute):  # ``value.x = ...`` keeps it: unknown
            self._push(attribute)

    def _argument(self, node: ast.AST, call: ast.Call) -> None:
        """``f(..., value, ...)``; ``node`` is the argument (a keyword for ``name=value``)."""
        func = call.func
        last = callee(func) or ""
        if "backward" in words(last):
            return
        name = dotted(func)
        if name is not None and self._may_resolve_to_a_sink(name):
            raise _Sink
        if type(func) is ast.Name and func.id in PLAIN_BUILTINS:
            raise _Sink
        if type(func) is ast.Attribute:
            if last in STORING_METHODS:
                self._stored(func.value)
            receiver_words = set().union(*(words(n) for n in (dotted(func.value) or "").split(".")))
            if last in LOGGING_METHODS or last == "update" and receiver_words & METRIC_WORDS:
                raise _Sink
        if last in INSPECTING_FUNCTIONS or words(last) & METRIC_WORDS:
            raise _Sink
        self._push(call)  # torch functions, losses, models, builtins that pass it on
        self._into_callees(node, call, last)

    def _may_resolve_to_a_sink(self, name: str) -> bool:
        """Can ``name`` resolve through an import to a function that only looks at what it
        gets (NumPy, matplotlib, ``torch.argmax``...)?"""
        head, _, rest = name.partition(".")
        if self.star_import and not rest:
            return True
        for target, _ in self.imports.get(head, ()):
            qualified = f"{target}.{rest}" if rest else target
            if qualified in NONDIFFERENTIABLE_FUNCTIONS or qualified.startswith(
                    _INSPECTING_PREFIXES) or qualified in INSPECTING_MODULES | NUMERIC_MODULES:
                return True
        return False

    def _into_callees(self, node: ast.AST, call: ast.Call, name: str) -> None:
        """Into the parameters ``node`` may bind in each of this module's functions of the
        callee's name."""
        if type(node) is ast.Starred or type(node) is ast.keyword and node.arg is None:
            return  # the analysis matches no parameter to ``*args``/``**kwargs``
        for function in self.functions.get(name, ()):
            parameter = self._parameter(function, call, node)
            if parameter is not None:
                for read in self._reads_in(parameter, function):
                    self._push(read)

    @staticmethod
    def _parameter(function: ast.FunctionDef | ast.AsyncFunctionDef, call: ast.Call,
                   node: ast.AST) -> str | None:
        arguments = function.args
        if type(node) is ast.keyword:
            return node.arg if node.arg in {a.arg for a in (
                *arguments.posonlyargs, *arguments.args, *arguments.kwonlyargs)} else None
        positional = [*arguments.posonlyargs, *arguments.args]
        if type(call.func) is ast.Attribute and not any(
                type(d) is ast.Name and d.id == "staticmethod" for d in function.decorator_list):
            positional = positional[1:]  # ``self.f(x)``: x is the second
        index = next(i for i, a in enumerate(call.args) if a is node)
        return positional[index].arg if index < len(positional) else None

    # ------------------------------------------------------------------ names
    def _targets(self, target: ast.AST) -> None:
        kind = type(target)
        if kind is ast.Name:
            for read in self._reads_in(target.id, self._function_of(target)):
                self._push(read)
        elif kind is ast.Subscript:
            self._stored(target.value)
        elif kind is ast.Tuple or kind is ast.List:
            for element in target.elts:
                self._targets(element)
        elif kind is ast.Starred:
            self._targets(target.value)

    def _stored(self, container: ast.AST) -> None:
        """Stored in ``container`` (``outs.append(value)``, ``outs[i] = value``): its reads."""
        while type(container) is ast.Subscript:
            container = container.value
        if type(container) is not ast.Name:
            return  # stored in an attribute: the analysis gives up
        function = self._function_of(container)
        if container.id not in self._bound_in(function):
            function = self._tree  # bound around the function: any read may see it
        for read in self._reads_in(container.id, function):
            self._push(read)

    def _reads_in(self, name: str, scope: ast.AST) -> Iterator[ast.Name]:
        """Reads of ``name`` in ``scope`` (a def or the module), nested functions included."""
        if scope is self._tree:
            yield from self.reads.get(name, ())
            return
        first = min((d.lineno for d in scope.decorator_list), default=scope.lineno)
        for read in self.reads.get(name, ()):
            if first <= read.lineno <= scope.end_lineno:
                yield read

    def _function_of(self, node: ast.AST) -> ast.AST:
        """The innermost def around ``node``, else the module."""
        node = self.parent.get(id(node))
        while node is not None and type(node) not in _FUNCTIONS:
            node = self.parent.get(id(node))
        return node if node is not None else self._tree

    def _bound_in(self, scope: ast.AST) -> set[str]:
        """Names a def binds itself (its parameters, names assigned in its own body): a subset
        of what the analysis's scope binds, so that a read elsewhere is never missed."""
        if scope is self._tree:
            return set()
        bound = self._bound.get(id(scope))
        if bound is None:
            arguments = scope.args
            bound = {a.arg for a in (*arguments.posonlyargs, *arguments.args, *arguments.kwonlyargs,
                                     arguments.vararg, arguments.kwarg) if a is not None}
            declared: set[str] = set()
            stack = list(scope.body)
            while stack:
                node = stack.pop()
                kind = type(node)
                if kind is ast.Name and type(node.ctx) is ast.Store:
                    bound.add(node.id)
                elif kind is ast.Global or kind is ast.Nonlocal:
                    declared.update(node.names)
                elif kind is ast.AnnAssign and node.value is None:
                    continue  # ``x: int`` binds nothing in the analysis
                if kind not in (*_FUNCTIONS, ast.Lambda, ast.ClassDef):
                    stack.extend(ast.iter_child_nodes(node))
            bound -= declared
            self._bound[id(scope)] = bound
        return bound

    # ------------------------------------------------------------------ returns
    def _returned(self, statement: ast.Return) -> None:
        function = self._function_of(statement)
        if function is self._tree:
            return
        for site in self.calls.get(function.name, ()):
            self._push(site)
