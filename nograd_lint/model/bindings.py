"""Scopes, bindings and uses of one module, with each recorded node's nearest recorded parent.

A layer built in the engine's walk (only when an analysis requires it: the escape analysis and
the output flow), after pyflakes' scope stack and LibCST's ScopeProvider: a :class:`Scope` per
module, class, function and lambda, and per scope its :class:`Event` records in walk order:
names bound (``bindings``, with :class:`How`), names read (``uses``), attribute and subscript
stores, calls, returns and yields.  Queries:

    bindings.scope_of[function_node]           # the Scope a def, lambda or class opens
    bindings.lookup(scope, "x")                # the scope whose binding of x a read sees
    bindings.uses_of(scope, "x")               # reads of x bound in scope, closures included
    bindings.parent[node]                      # nearest recorded ancestor (statements and the
                                               # expressions a value can flow through)
    bindings.call_events[call]                 # the Event of a Call
    bindings.current_scope                     # during the walk: the innermost scope
"""

from __future__ import annotations

import builtins
import enum
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Iterator

from nograd_lint import libcst as cst

from nograd_lint.model.grad_mode import GradRegions, Where
from nograd_lint.model.layers import Layer
from nograd_lint.model.names import ImportResolver

if TYPE_CHECKING:
    from nograd_lint.context import ModuleContext

BUILTINS = frozenset(dir(builtins))


class EventKind(enum.Enum):
    USE = "use"  # a Name read
    BIND = "bind"  # a Name bound (see How)
    STORE = "store"  # an attribute or subscript assigned
    CALL = "call"
    RETURN = "return"
    YIELD = "yield"


class How(enum.Enum):
    """How a name is bound, or a store made."""

    ASSIGN = "assign"
    AUGASSIGN = "augassign"
    FOR = "for"
    AS = "as"
    WALRUS = "walrus"
    DEF = "def"
    IMPORT = "import"
    PARAM = "param"


@dataclass(eq=False, slots=True)
class Event:
    """Something that happens to a name or value in a scope (pyflakes' Binding, LibCST's
    Assignment and Access, in one record)."""

    kind: EventKind
    node: cst.CSTNode  # the Name used or bound, the store target, the Call, the Return/Yield
    scope: Scope
    where: Where
    loops: tuple  # the loops of its scope around it, outermost first
    order: int  # the pre-order index of the node it happened at
    value: cst.BaseExpression | None = None  # assigned / stored / returned value
    how: How | None = None  # of a binding or store
    callee: str = ""  # of a call: the qualified name of what it calls, if imported


@dataclass(eq=False)
class Scope:
    """A module, class, function or lambda scope and what happens in it."""

    node: cst.CSTNode | None  # FunctionDef, Lambda, ClassDef; None for the module
    parent: Scope | None
    children: list[Scope] = field(default_factory=list)
    bound: set[str] = field(default_factory=set)
    declared: set[str] = field(default_factory=set)  # global / nonlocal
    bindings: dict[str, list[Event]] = field(default_factory=dict)
    uses: dict[str, list[Event]] = field(default_factory=dict)
    events: list[Event] = field(default_factory=list)  # stores, calls, returns, bindings
    timeline: list[Event] = field(default_factory=list)  # every event, uses too, in order
    loops: tuple[cst.CSTNode, ...] = ()  # open while recording (each event keeps its own)

    @property
    def is_class(self) -> bool:
        return isinstance(self.node, cst.ClassDef)

    @property
    def is_function(self) -> bool:
        return isinstance(self.node, (cst.FunctionDef, cst.Lambda))


class Bindings(Layer):
    """The traversal participant; see the module docstring."""

    requires = (ImportResolver, GradRegions)

    def __init__(self, context: ModuleContext) -> None:
        self.names, self.model, self.grad = context.names, context.model, context.grad
        self.module_scope = Scope(None, None)
        self._scope = self.module_scope
        self._stack: list[cst.CSTNode] = []
        self.parent: dict[cst.CSTNode, cst.CSTNode] = {}
        # By ``id`` (hashing libcst nodes calls Python code, and every Name is looked up):
        self._not_loads: set[int] = set()  # Names that are no reads
        self.scope_of: dict[cst.CSTNode, Scope] = {}  # FunctionDef/Lambda/ClassDef -> scope
        self.call_events: dict[cst.Call, Event] = {}
        self.attribute_refs: dict[str, list[cst.Attribute]] = {}

    @property
    def current_scope(self) -> Scope:
        return self._scope

    # ------------------------------------------------------------------ queries
    def binds(self, name: str) -> bool:
        """Does any scope of the module bind ``name`` (so a new import of it could clash)?"""
        stack = [self.module_scope]
        while stack:
            scope = stack.pop()
            if name in scope.bound:
                return True
            stack.extend(scope.children)
        return False

    def uses_of(self, scope: Scope, name: str) -> Iterator[Event]:
        """Reads of ``name`` bound in ``scope``: its own and those of nested scopes where it is
        free (closures; functions reading a module global)."""
        yield from scope.uses.get(name, ())
        stack = list(scope.children)
        while stack:
            inner = stack.pop()
            if name in inner.bound and name not in inner.declared:
                continue
            yield from inner.uses.get(name, ())
            stack.extend(inner.children)

    def lookup(self, scope: Scope, name: str) -> Scope | None:
        """The scope whose binding of ``name`` a read in ``scope`` sees."""
        while scope is not None:
            if name in scope.bound and name not in scope.declared:
                return scope
            scope = scope.parent
            while scope is not None and scope.is_class:
                scope = scope.parent
        return None

    def is_builtin(self, scope: Scope, name: str) -> bool:
        return name in BUILTINS and self.lookup(scope, name) is None

    def scopes(self) -> Iterator[Scope]:
        """Every scope of the module."""
        stack = [self.module_scope]
        while stack:
            scope = stack.pop()
            yield scope
            stack.extend(scope.children)

    @staticmethod
    def descendants(scope: Scope) -> Iterator[Scope]:
        """``scope`` and the scopes nested in it."""
        stack = [scope]
        while stack:
            inner = stack.pop()
            yield inner
            stack.extend(inner.children)

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
        event = Event(kind, node, scope, self.grad.where(), scope.loops, self.model.index,
                      value, how, callee)
        scope.timeline.append(event)
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
            self._not_loads.add(id(name))
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
        self._not_loads.add(id(node.name))
        self._bind_name(node.name, None, How.DEF)
        self._enter_scope(node)

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
        self._not_loads.add(id(node.name))
        self._bind_name(node.name, None, How.DEF)
        self._enter_scope(node)

    def leave_ClassDef(self, node: cst.ClassDef) -> None:
        self._leave_scope()
        self._pop(node)

    def visit_Param(self, node: cst.Param) -> None:
        self._bind_name(node.name, None, How.PARAM)

    def visit_Global(self, node: cst.Global) -> None:
        for item in node.names:
            self._not_loads.add(id(item.name))
            self._scope.declared.add(item.name.value)

    visit_Nonlocal = visit_Global

    def _import(self, names) -> None:
        if isinstance(names, cst.ImportStar):
            return
        for alias in names:
            for name in names_in(alias.name):
                self._not_loads.add(id(name))
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
            self._not_loads.update(map(id, names_in(node.module)))
        self._import(node.names)

    # ------------------------------------------------------------------ blocks and loops
    def _enter_block(self, node: cst.CSTNode) -> None:
        self._push(node)

    visit_With = visit_IndentedBlock = visit_SimpleStatementSuite = _enter_block
    leave_IndentedBlock = leave_SimpleStatementSuite = _pop

    def _enter_loop(self, node: cst.CSTNode) -> None:
        self._push(node)
        self._scope.loops += (node,)

    def _leave_loop(self, node: cst.CSTNode) -> None:
        self._scope.loops = self._scope.loops[:-1]
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
                self._not_loads.add(id(simple))

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
                self._not_loads.add(id(arg.keyword))
        qualified = self.names.qualified_name(node.func) or ""
        self.call_events[node] = self._event(EventKind.CALL, node, callee=qualified)

    def visit_Attribute(self, node: cst.Attribute) -> None:
        self._push(node)
        self._not_loads.add(id(node.attr))
        self.attribute_refs.setdefault(node.attr.value, []).append(node)

    def visit_Name(self, node: cst.Name) -> None:
        if self._stack:
            self.parent[node] = self._stack[-1]
        if id(node) in self._not_loads or node.value in ("True", "False", "None"):
            return
        event = self._event(EventKind.USE, node)
        self._scope.uses.setdefault(node.value, []).append(event)


def target_names(target: cst.BaseExpression) -> Iterator[cst.BaseExpression]:
    """The simple targets of an assignment target: names, attributes, subscripts."""
    if isinstance(target, (cst.Tuple, cst.List)):
        for element in target.elements:
            yield from target_names(element.value)
    elif isinstance(target, cst.StarredElement):
        yield from target_names(target.value)
    else:
        yield target


def names_in(expression: cst.BaseExpression) -> list[cst.Name]:
    found = []
    while isinstance(expression, cst.Attribute):
        found.append(expression.attr)
        expression = expression.value
    if isinstance(expression, cst.Name):
        found.append(expression)
    return found


# Nodes that only need to be on the ancestry stack (their parents matter to the uses in them).
for _name in ("Expr", "If", "Assert", "Raise", "Subscript",
              "BinaryOperation", "UnaryOperation", "BooleanOperation", "Comparison", "IfExp",
              "Tuple", "List", "Set", "Dict", "ListComp", "SetComp", "DictComp", "GeneratorExp",
              "Await", "FormattedString", "FormattedStringExpression", "StarredElement",
              "Decorator", "Try", "Match"):
    if not hasattr(Bindings, f"visit_{_name}"):
        setattr(Bindings, f"visit_{_name}", Bindings._push)
for _name in ("Module", "Expr", "If", "Assert", "Raise", "Subscript",
              "BinaryOperation", "UnaryOperation", "BooleanOperation", "Comparison", "IfExp",
              "Tuple", "List", "Set", "Dict", "ListComp", "SetComp", "DictComp", "GeneratorExp",
              "Await", "FormattedString", "FormattedStringExpression", "StarredElement",
              "Decorator", "Try", "Match", "With", "Assign", "AnnAssign", "AugAssign", "NamedExpr",
              "CompFor", "WithItem", "ExceptHandler", "Del", "Return", "Yield", "Call",
              "Attribute"):
    if not hasattr(Bindings, f"leave_{_name}"):
        setattr(Bindings, f"leave_{_name}", Bindings._pop)
