"""The semantic model of one module: where the walk is, and the module's definitions.

Filled during the engine's single traversal, before any analysis sees a node (and emptied of
the node after every analysis has left it), so an analysis asks it, at visit time:

    model.function()        # innermost FunctionDef or Lambda around the node, None at module level
    model.named_function()  # innermost FunctionDef
    model.enclosing_class() # innermost ClassDef around it, through nested functions
    model.index             # the node's pre-order index among the nodes some visitor sees
                            # (in a leave_ method: the last such node of its subtree)

and, at any time, about the definitions met so far:

    model.functions["helper"]             # FunctionDefs not directly in a class body
    model.class_of(method)                # the class whose body defines it
    model.classes["Net"]                  # module-level ClassDefs seen so far
    model.callees(call.func, klass)       # this module's functions ``f()``/``self.f()`` may run
    model.self_assignments(klass)         # ``self.x = ...`` statements in its methods
    model.self_registrations(klass)       # ``self.register_buffer("x", ...)`` calls in them

Only class, function and lambda nodes are visited; the pre-order index is kept by the walker.
"""

from __future__ import annotations

from typing import Iterator, Union

from nograd_lint import libcst as cst

from nograd_lint.tree import children, is_expression

Scope = Union["cst.FunctionDef", "cst.Lambda", "cst.ClassDef"]
#: The names a method's receiver goes by in ``self.f()`` / ``cls.f()``.
RECEIVERS = ("self", "cls")
#: Module methods that register a buffer or parameter under a name.
REGISTRATIONS = ("register_buffer", "register_parameter")


def receiver_method(expression: cst.BaseExpression) -> str | None:
    """``f`` for ``self.f``/``cls.f``, else None."""
    if (type(expression) is cst.Attribute and type(expression.value) is cst.Name
            and expression.value.value in RECEIVERS):
        return expression.attr.value
    return None


class SemanticModel:
    """See the module docstring."""

    def __init__(self) -> None:
        #: Pre-order index of the node being visited, among the nodes some visitor of this walk
        #: sees; set by the engine's walker.
        self.index = 0
        self._scopes: list[Scope] = []  # enclosing ClassDef/FunctionDef/Lambda, innermost last
        self._outer: dict[Scope, Scope | None] = {}  # each scope's enclosing scope
        # The innermost function or lambda, and class, of each entry of ``_scopes``: asked at
        # nearly every call, so kept rather than searched for.
        self._function: list[cst.FunctionDef | cst.Lambda | None] = [None]
        self._def: list[cst.FunctionDef | None] = [None]
        self._class: list[cst.ClassDef | None] = [None]
        self.functions: dict[str, list[cst.FunctionDef]] = {}  # not directly in a class body
        self._methods: dict[tuple[cst.ClassDef, str], list[cst.FunctionDef]] = {}
        self.methods_by_name: dict[str, list[cst.FunctionDef]] = {}  # of any class
        self._class_of: dict[cst.FunctionDef, cst.ClassDef] = {}
        self.classes: dict[str, cst.ClassDef] = {}  # module-level classes seen so far, by name

    # ------------------------------------------------------------------ where the walk is
    @property
    def scopes(self) -> tuple[Scope, ...]:
        """The enclosing classes, functions and lambdas, outermost first."""
        return tuple(self._scopes)

    def innermost(self) -> Scope | None:
        """The innermost class, function or lambda around the current node."""
        return self._scopes[-1] if self._scopes else None

    def function(self) -> cst.FunctionDef | cst.Lambda | None:
        """The innermost function or lambda around the current node."""
        return self._function[-1]

    def outer(self, scope: Scope) -> Scope | None:
        """The class, function or lambda directly around ``scope``; None at module level."""
        return self._outer[scope]

    def named_function(self, below: Scope | None = None) -> cst.FunctionDef | None:
        """The innermost ``def`` around the current node, or around ``below`` when given."""
        if below is None:
            return self._def[-1]
        scope = self._outer[below]
        while scope is not None and type(scope) is not cst.FunctionDef:
            scope = self._outer[scope]
        return scope

    def enclosing_class(self) -> cst.ClassDef | None:
        """The innermost class around the current node, through nested functions."""
        return self._class[-1]

    # ------------------------------------------------------------------ definitions
    def class_of(self, function: cst.FunctionDef) -> cst.ClassDef | None:
        """The class whose body defines ``function``; None for a plain function."""
        return self._class_of.get(function)

    def methods(self, klass: cst.ClassDef, name: str) -> list[cst.FunctionDef]:
        return self._methods.get((klass, name), [])

    def callees(self, expression: cst.BaseExpression, klass: cst.ClassDef | None,
                any_class: bool = False) -> list[cst.FunctionDef]:
        """This module's functions that calling ``expression`` may run: ``f`` names a plain
        function, ``self.f``/``cls.f`` a method of ``klass`` (of any class with ``any_class``)."""
        if type(expression) is cst.Name:
            return self.functions.get(expression.value, [])
        method = receiver_method(expression)
        if method is None:
            return []
        if any_class:
            return self.methods_by_name.get(method, [])
        return self._methods.get((klass, method), []) if klass is not None else []

    def self_assignments(self, klass: cst.ClassDef) -> Iterator[cst.Assign]:
        """``self.<attr> = ...`` statements in the methods of ``klass`` (not nested classes)."""
        for node in _class_nodes(klass, into_expressions=False):
            if type(node) is cst.Assign and any(
                    isinstance(t.target, cst.Attribute) and isinstance(t.target.value, cst.Name)
                    and t.target.value.value == "self" for t in node.targets):
                yield node

    def self_registrations(self, klass: cst.ClassDef) -> Iterator[tuple[str, str, cst.Arg]]:
        """``self.register_buffer("name", value)`` and ``self.register_parameter(...)`` calls
        in the methods of ``klass``: (method, name, the value's argument)."""
        for node in _class_nodes(klass, into_expressions=True):
            if (type(node) is cst.Call and receiver_method(node.func) in REGISTRATIONS
                    and len(node.args) >= 2 and isinstance(node.args[0].value, cst.SimpleString)):
                name = node.args[0].value.evaluated_value
                if isinstance(name, str):
                    yield receiver_method(node.func), name, node.args[1]

    # ------------------------------------------------------------------ traversal
    def _enter(self, node: Scope) -> None:
        self._outer[node] = self._scopes[-1] if self._scopes else None
        self._scopes.append(node)
        kind = type(node)
        self._function.append(self._function[-1] if kind is cst.ClassDef else node)
        self._def.append(node if kind is cst.FunctionDef else self._def[-1])
        self._class.append(node if kind is cst.ClassDef else self._class[-1])

    def _leave(self, node: Scope) -> None:
        self._scopes.pop()
        self._function.pop()
        self._def.pop()
        self._class.pop()

    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        parent = self._scopes[-1] if self._scopes else None
        if type(parent) is cst.ClassDef:
            self._class_of[node] = parent
            self._methods.setdefault((parent, node.name.value), []).append(node)
            self.methods_by_name.setdefault(node.name.value, []).append(node)
        else:
            self.functions.setdefault(node.name.value, []).append(node)
        self._enter(node)

    def visit_ClassDef(self, node: cst.ClassDef) -> None:
        if not self._scopes:
            self.classes[node.name.value] = node
        self._enter(node)

    visit_Lambda = _enter
    leave_FunctionDef = leave_ClassDef = leave_Lambda = _leave


def _class_nodes(klass: cst.ClassDef, *, into_expressions: bool) -> Iterator[cst.CSTNode]:
    """The nodes of ``klass``'s body, not those of classes nested in it; statements only
    (each with its own expressions unentered) unless ``into_expressions``."""
    stack = list(children(klass.body))
    while stack:
        node = stack.pop()
        if type(node) is cst.ClassDef:
            continue
        yield node
        if into_expressions or not is_expression(node):
            stack.extend(children(node))
