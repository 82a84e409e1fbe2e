"""One module's facts for the project index, read from CPython's ``ast`` (see facts.py).

Grad mode at a call site is computed as model/grad_mode.py computes it on libcst, from the same
vocabulary (``grad_api_effect``, ``MANAGER_NAME``) and the same import resolution (names.py's:
module-flat, in source order, a ``def``/``class``/assignment shadowing an imported name):
``with`` items, decorators, bare ``set_grad_enabled(...)`` statements (a block that ends in
another mode than it began is *managed*), and context managers of the module's own that switch
grad mode.  Where nothing local decides, a call site in a module-level function or method
runs as that function does (``CallSite.grad`` None), which the project settles across files
(callers.py); in a nested function or a lambda it counts as enabled.

What a call passes (``CallSite.arguments``) is judged on the syntax alone, flow-insensitively:
``m.weight``/``x.y.bias`` (any module's), ``self.<attr>`` where the class's ``__init__``
assigns it an ``nn.Parameter``, ``X.parameters()``, ``group["params"]``, ``list``/``filter``
of such; and a name of the calling function by any of its bindings there: its parameter,
a loop variable over such an iterable (or over its parameter), a name assigned one, a list
it appends leaves to.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator, Sequence
from typing import NamedTuple, Optional, Union

from nograd_lint.ast_walk import CHILD_FIELDS, child_fields, dotted
from nograd_lint.frameworks import HookMode, hook_mode
from nograd_lint.model.names import canonical
from nograd_lint.project.facts import (
    CALLER_PARAMETER, ELEMENT_OF, LEAF, PARAMS, CallSite, ClassFacts, Definition, ModuleFacts,
)
from nograd_lint.vocabulary import (
    GRAD_MODE_APIS, MANAGER_NAME, NO_FLAG, PARAMETER, SET_GRAD_ENABLED, WEIGHTS, Grad,
    grad_api_effect,
)

_DEFINITIONS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
_TRY = frozenset({ast.Try, *((ast.TryStar,) if hasattr(ast, "TryStar") else ())})  # 3.11+
_MATCH = ast.Match
#: Statements with blocks of statements in them (see _blocks).
_COMPOUND = frozenset({ast.If, ast.For, ast.AsyncFor, ast.While, ast.With, ast.AsyncWith,
                       _MATCH, *_TRY})


def qualified_definitions(tree: ast.Module) -> dict[int, str]:
    """``id`` of each module-level function and class, and of each method of a module-level
    class, to its qualified name (``f``, ``Model``, ``Model.forward``): the functions the
    project index can name, as model/grad_mode.py tells them apart (a ``def`` inside an ``if``
    or ``try`` at module level is module-level too)."""
    found: dict[int, str] = {}
    for node in _definitions_in(tree.body):
        found[id(node)] = node.name
        if type(node) is ast.ClassDef:
            for method in _definitions_in(node.body):
                if type(method) is not ast.ClassDef:
                    found[id(method)] = f"{node.name}.{method.name}"
    return found


def _definitions_in(statements: list[ast.stmt]) -> Iterator[ast.stmt]:
    """The ``def``s and ``class``es of a block, also inside its compound statements."""
    stack = list(reversed(statements))
    while stack:
        node = stack.pop()
        if isinstance(node, _DEFINITIONS):
            yield node
            continue
        for block in _blocks(node):
            stack.extend(reversed(block))


def _blocks(node: ast.stmt) -> list[list[ast.stmt]]:
    """The statement blocks of a compound statement (not a function's or class's)."""
    kind = type(node)
    if kind is ast.If or kind is ast.For or kind is ast.AsyncFor or kind is ast.While:
        return [node.body, node.orelse]
    if kind is ast.With or kind is ast.AsyncWith:
        return [node.body]
    if kind in _TRY:
        return [node.body, *(h.body for h in node.handlers), node.orelse, node.finalbody]
    if kind is _MATCH:
        return [case.body for case in node.cases]
    return []


class _Deferred(NamedTuple):
    """A ``with`` over this module's own function or class (model/grad_mode.py's _Deferred)."""

    name: str
    outer: Explicit


Explicit = Union[Grad, _Deferred, None]


class _Frame:
    __slots__ = ("caller", "states", "parameters", "loops", "assigned", "appended", "pending")

    def __init__(self, caller: str | None, state: Explicit,
                 parameters: frozenset[str] = frozenset()) -> None:
        self.caller = caller  # the qualified name the project can settle, if any
        self.states: list[Explicit] = [state]
        # What the function's names may hold, for the arguments of its calls (see
        # ``_Indexer.passed``): its parameters, and by name the iterables a ``for`` loops over,
        # the values assigned, the values appended (``xs.append(x)``).
        self.parameters = parameters
        self.loops: dict[str, list[ast.expr]] = {}
        self.assigned: dict[str, list[ast.expr]] = {}
        self.appended: dict[str, list[ast.expr]] = {}
        self.pending: list[list] = []  # the arguments of its calls that name its names


class _Call(NamedTuple):
    callee: str
    caller: Optional[str]
    explicit: Explicit
    line: int
    receiver: bool = False
    arguments: Sequence = ()  # as CallSite.arguments; ``~name`` and ``self:attr`` until settled


def index_module(tree: ast.Module, module: str, package: bool,
                 torch_aliases: tuple[str, ...]) -> ModuleFacts:
    """The facts of ``tree``, the module named ``module`` (a package's ``__init__`` when
    ``package``); ``torch_aliases`` are the modules that stand for torch."""
    return _Indexer(tree, module, package, torch_aliases).facts()


_HOOK_GRAD = {HookMode.DISABLED: Grad.DISABLED, HookMode.MANAGED: Grad.MANAGED}


class _Indexer:
    def __init__(self, tree: ast.Module, module: str, package: bool,
                 torch_aliases: tuple[str, ...]) -> None:
        self.tree, self.module, self.package = tree, module, package
        self.torch_aliases = torch_aliases
        self.qualified = qualified_definitions(tree)
        self.local = {name for name in self.qualified.values() if "." not in name}
        self.imported: dict[str, str] = {}  # as names.py binds: absolute imports, canonical
        # Every import, relative ones resolved; shadowed only by module-level bindings.
        self.bound: dict[str, str] = {}
        self.exports: dict[str, str] = {}
        self.definitions: list[Definition] = []
        self.classes: list[ClassFacts] = []
        self.calls: list[_Call] = []
        self.escapes: set[str] = set()
        # MethodCall's fields, with the grad mode at the call not settled yet.
        self.method_calls: list[tuple] = []
        self.attribute_escapes: set[str] = set()
        self.star_imports: list[str] = []
        self.switches: list[tuple[int, str]] = []
        self.scopes: list[str] = []  # names of the enclosing classes and functions
        self.managing: set[str] = set()  # own functions/classes whose body switches grad mode
        self.klass: str | None = None  # the module-level class around, for ``self.f``
        # The qualified ancestors of the class whose body is being walked (frameworks.py), and
        # of every module-level class seen so far, by name.
        self.ancestors: set[str] = set()
        self.class_ancestors: dict[str, set[str]] = {}
        self.init: list[tuple[str, str]] | None = None  # ``self.x = C(...)`` in ``__init__``
        self.layers: list[tuple[str, str]] = []  # the same, of the class being walked
        # The arguments of calls in the class being walked that pass ``self.<attr>``: a leaf
        # once the class is known to assign it an ``nn.Parameter``.
        self.self_arguments: list[list] = []
        # ``self.<attr>`` the class freezes: ``nn.Parameter(..., requires_grad=False)``,
        # ``self.<attr>.requires_grad = False``, ``self.<attr>.requires_grad_(False)``.
        self.frozen: set[str] = set()

    def facts(self) -> ModuleFacts:
        module_frame = _Frame(None, None)
        for statement in self.tree.body:
            self.statement(statement, module_frame)
        self.settle_arguments(module_frame)
        calls = []
        for call in self.calls:
            grad = self.settle(call.explicit)
            if grad is None and call.caller is None:
                grad = Grad.ENABLED
            calls.append(CallSite(call.callee, call.caller, grad and grad.value, call.line,
                                  call.receiver, tuple(call.arguments)))
        method_calls = []
        for name, caller, explicit, *arguments in self.method_calls:
            grad = self.settle(explicit)
            if grad is None and caller is None:
                grad = Grad.ENABLED
            method_calls.append((name, caller, grad and grad.value, *arguments))
        own = f"{self.module}."
        names = set(self.qualified.values())
        escapes = sorted(e for e in self.escapes if not e.startswith(own) or e[len(own):] in names)
        return ModuleFacts(self.module, self.package, tuple(sorted(self.exports.items())),
                           tuple(self.definitions), tuple(self.classes), tuple(calls),
                           tuple(escapes), tuple(self.switches), tuple(method_calls),
                           tuple(sorted(self.attribute_escapes)), tuple(self.star_imports))

    def settle(self, explicit: Explicit) -> Grad | None:
        while isinstance(explicit, _Deferred):
            if explicit.name in self.managing or MANAGER_NAME.search(explicit.name):
                return Grad.MANAGED
            explicit = explicit.outer
        return explicit

    # ------------------------------------------------------------------ names
    def qualified_name(self, name: str | None) -> str | None:
        """What names.py resolves ``name`` to: through absolute imports only."""
        if name is None:
            return None
        head, _, rest = name.partition(".")
        target = self.imported.get(head)
        if target is None:
            return None
        return f"{target}.{rest}" if rest else target

    def is_grad_api(self, node: ast.AST, apis: frozenset[str] = GRAD_MODE_APIS) -> bool:
        """Does names.py resolve ``node`` to one of ``apis``?"""
        base = node
        while type(base) is ast.Attribute:
            base = base.value
        return (type(base) is ast.Name and base.id in self.imported
                and self.qualified_name(dotted(node)) in apis)

    def resolve(self, name: str) -> str | None:
        """The project-wide dotted name of ``name``: through any import, a module-level
        definition, or ``self.f``/``cls.f`` in a module-level class."""
        head, _, rest = name.partition(".")
        target = self.bound.get(head)
        if target is None:
            if head in self.local:
                target = f"{self.module}.{head}"
            elif head in ("self", "cls") and self.klass is not None and rest and "." not in rest:
                return f"{self.module}.{self.klass}.{rest}"
            else:
                return None
        return f"{target}.{rest}" if rest else target

    def shadow(self, name: str, frame: _Frame) -> None:
        """A definition or assignment of ``name``: names.py stops resolving it wherever it is;
        the project only when it is at module level."""
        self.imported.pop(name, None)
        if frame.caller is None and not self.scopes:
            self.bound.pop(name, None)
            self.exports.pop(name, None)

    def bind(self, local: str, target: str, relative: bool, frame: _Frame) -> None:
        self.imported.pop(local, None)
        if not relative:
            self.imported[local] = target = canonical(target, self.torch_aliases)
        self.bound[local] = target
        if frame.caller is None and not self.scopes:
            self.exports[local] = target

    def imports(self, node: ast.Import | ast.ImportFrom, frame: _Frame) -> None:
        if type(node) is ast.Import:
            for alias in node.names:
                if alias.asname is not None:
                    self.bind(alias.asname, alias.name, False, frame)
                else:
                    top = alias.name.split(".", 1)[0]
                    self.bind(top, top, False, frame)
            return
        if node.level:
            parts = self.module.split(".")
            keep = len(parts) - node.level + (1 if self.package else 0)
            if keep < 0 or keep == 0 and not node.module:
                return
            module = ".".join([*parts[:keep], *([node.module] if node.module else [])])
        else:
            module = node.module
        for alias in node.names:
            if alias.name == "*" and module and frame.caller is None and not self.scopes:
                self.star_imports.append(module)
            elif alias.name != "*" and module:
                self.bind(alias.asname or alias.name, f"{module}.{alias.name}", bool(node.level),
                          frame)

    # ------------------------------------------------------------------ grad mode
    def effect(self, expression: ast.AST, frame: _Frame) -> Explicit:
        """model/grad_mode.py's ``GradRegions.effect`` on ``ast``."""
        if type(expression) is ast.IfExp:
            branches = (self.effect(expression.body, frame), self.effect(expression.orelse, frame))
            return Grad.MANAGED if any(b is not None for b in branches) else None
        call = expression if type(expression) is ast.Call else None
        target = call.func if call is not None else expression
        name = dotted(target)
        qualified = self.qualified_name(name)
        if qualified in GRAD_MODE_APIS:
            return grad_api_effect(qualified, call is not None, _flag(call))
        if name is None:
            return None
        if qualified is None and "." not in name:
            return _Deferred(name, frame.states[-1])
        return Grad.MANAGED if MANAGER_NAME.search(name.rsplit(".", 1)[-1]) else None

    def block(self, statements: list[ast.stmt], frame: _Frame) -> None:
        """An indented block: a bare ``set_grad_enabled`` in it that is still in force at its
        end leaves what follows *managed*."""
        entry = frame.states[-1]
        frame.states.append(entry)
        for statement in statements:
            self.statement(statement, frame)
        if frame.states.pop() != entry:
            frame.states[-1] = Grad.MANAGED

    # ------------------------------------------------------------------ statements
    def statement(self, node: ast.stmt, frame: _Frame) -> None:
        kind = type(node)
        if kind is ast.FunctionDef or kind is ast.AsyncFunctionDef:
            self.function(node, frame)
        elif kind is ast.ClassDef:
            self.class_(node, frame)
        elif kind is ast.With or kind is ast.AsyncWith:
            state = frame.states[-1]
            for item in node.items:
                self.expressions(item.context_expr, frame)
                if item.optional_vars is not None:
                    self.expressions(item.optional_vars, frame)
                effect = self.effect(item.context_expr, frame)
                if type(effect) is _Deferred:
                    state = _Deferred(effect.name, state)
                elif effect is not None:
                    state = effect
            frame.states.append(state)
            self.block(node.body, frame)
            frame.states.pop()
        elif kind is ast.Import or kind is ast.ImportFrom:
            self.imports(node, frame)
        elif kind is ast.Expr:
            self.expressions(node.value, frame)
            call = node.value
            if (type(call) is ast.Call and type(call.func) is ast.Attribute
                    and call.func.attr == "append" and type(call.func.value) is ast.Name
                    and len(call.args) == 1):
                frame.appended.setdefault(call.func.value.id, []).append(call.args[0])
            if type(call) is ast.Call and self.is_grad_api(call.func, SET_GRAD_ENABLED):
                flag = _flag(call)
                state = (Grad.MANAGED if flag is NO_FLAG or flag is None
                         else Grad.ENABLED if flag else Grad.DISABLED)
                frame.states[-1] = state
                if frame.caller is None and not self.scopes:
                    self.switches.append((node.lineno, state.value))
            elif type(call) is ast.Call and type(call.func) is ast.Attribute and \
                    call.func.attr == "__enter__" and type(call.func.value) is ast.Call:
                effect = self.effect(call.func.value, frame)  # ``no_grad().__enter__()``
                if isinstance(effect, Grad):
                    frame.states[-1] = effect
                    if frame.caller is None and not self.scopes:
                        self.switches.append((node.lineno, effect.value))
        else:
            if kind is ast.Assign:
                self.assignment(node, frame)
            elif (kind is ast.For or kind is ast.AsyncFor) and type(node.target) is ast.Name:
                frame.loops.setdefault(node.target.id, []).append(node.iter)
            fields = _EXPRESSION_FIELDS.get(kind)
            if fields is not None:  # one walk for all (a list is walked last item first)
                self.expressions([getattr(node, name) for name in reversed(fields)], frame)
            if kind not in _COMPOUND:
                return
            if kind in _TRY:
                for handler in node.handlers:
                    if handler.type is not None:
                        self.expressions(handler.type, frame)
            elif kind is _MATCH:
                for case in node.cases:
                    if case.guard is not None:
                        self.expressions(case.guard, frame)
            for statements in _blocks(node):
                if statements:
                    self.block(statements, frame)

    def assignment(self, node: ast.Assign, frame: _Frame) -> None:
        for target in node.targets:
            if type(target) is ast.Name:
                self.shadow(target.id, frame)
                frame.assigned.setdefault(target.id, []).append(node.value)
            elif (self.init is not None and type(target) is ast.Attribute
                  and type(target.value) is ast.Name and target.value.id == "self"
                  and type(node.value) is ast.Call):
                constructor = dotted(node.value.func)
                if constructor is not None:
                    self.init.append((target.attr, self.resolve(constructor) or constructor))
                    if _frozen(node.value):
                        self.frozen.add(target.attr)
            elif (type(target) is ast.Attribute and target.attr == "requires_grad"
                  and type(node.value) is ast.Constant and node.value.value is False):
                self.freeze(target.value)

    def function(self, node: ast.FunctionDef | ast.AsyncFunctionDef, frame: _Frame) -> None:
        # A framework hook (Lightning's validation_step) runs as its framework says, as in
        # model/grad_mode.py; the project's own no-grad-hooks apply within its module only.
        mode = hook_mode(self.ancestors, node.name) if self.ancestors else None
        explicit: Explicit = None if mode is None else _HOOK_GRAD[mode]
        for decorator in node.decorator_list:
            self.expressions(decorator, frame)
            effect = self.effect(decorator, frame)
            if isinstance(effect, Grad):
                explicit = effect
        arguments = node.args
        for default in (*arguments.defaults, *(d for d in arguments.kw_defaults if d is not None)):
            self.expressions(default, frame)
        self.shadow(node.name, frame)
        qualname = self.qualified.get(id(node))
        annotations = []
        for argument in (*arguments.posonlyargs, *arguments.args, arguments.vararg,
                         *arguments.kwonlyargs, arguments.kwarg):
            annotation = argument and argument.annotation
            if type(annotation) is ast.Constant and type(annotation.value) is str:
                name = annotation.value.strip()
            else:
                name = dotted(annotation) if annotation is not None else None
            if name is not None:
                annotations.append((argument.arg, self.resolve(name) or name))
        positional = tuple(a.arg for a in (*arguments.posonlyargs, *arguments.args))
        keyword_only = tuple(a.arg for a in arguments.kwonlyargs)
        if qualname is not None:
            self.definitions.append(Definition(
                qualname, "method" if "." in qualname else "function", node.lineno,
                self.decorators(node), explicit and explicit.value, tuple(annotations),
                _signature(arguments, node) if "." in qualname else (), positional,
                keyword_only))
        collects_layers = qualname is not None and qualname.endswith(".__init__")
        saved = self.init
        self.init = [] if collects_layers else None
        outer_ancestors, self.ancestors = self.ancestors, set()  # a def's body is no class body
        self.scopes.append(node.name)
        inner = _Frame(qualname, explicit, frozenset((*positional, *keyword_only)))
        self.block(node.body, inner)
        self.scopes.pop()
        self.settle_arguments(inner)
        self.ancestors = outer_ancestors
        if collects_layers:
            self.layers += self.init
        self.init = saved

    def decorators(self, node: ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef
                   ) -> tuple[str, ...]:
        """The names of ``node``'s decorators (``torch.no_grad`` for ``@no_grad()``)."""
        names = (dotted(d.func if type(d) is ast.Call else d) for d in node.decorator_list)
        return tuple(self.resolve(name) or name for name in names if name is not None)

    def class_(self, node: ast.ClassDef, frame: _Frame) -> None:
        for expression in (*node.decorator_list, *node.bases, *(k.value for k in node.keywords)):
            self.expressions(expression, frame)
        self.shadow(node.name, frame)
        top_level = self.qualified.get(id(node)) == node.name
        bases = tuple(self.resolve(name) or name for name in map(dotted, node.bases) if name)
        if top_level:
            self.definitions.append(Definition(
                node.name, "class", node.lineno, self.decorators(node), None, (), (), (), ()))
        ancestors = set(bases)
        for base in bases:
            ancestors |= self.class_ancestors.get(base, set())
        if top_level:
            self.class_ancestors[node.name] = ancestors
        saved = self.klass, self.layers, self.ancestors
        saved_arguments, self.self_arguments = self.self_arguments, []
        saved_frozen, self.frozen = self.frozen, set()
        self.klass = node.name if top_level else None
        self.layers = []
        self.ancestors = ancestors
        self.scopes.append(node.name)
        self.block(node.body, frame)
        self.scopes.pop()
        layers = self.layers
        self.klass, self.layers, self.ancestors = saved
        self_arguments, self.self_arguments = self.self_arguments, saved_arguments
        frozen, self.frozen = self.frozen, saved_frozen
        if top_level:
            parameters = tuple(attr for attr, made in layers if made in PARAMETER)
            trainable = set(parameters) - frozen
            self.classes.append(ClassFacts(node.name, bases, tuple(
                (attr, made) for attr, made in layers if attr not in parameters), parameters))
            for passed in self_arguments:
                passed[:] = [(slot, value) for slot, value in passed
                             if value[:5] != "self:" or value[5:] in trainable]
                for index, (slot, value) in enumerate(passed):
                    if value[:5] == "self:":
                        passed[index] = (slot, LEAF)

    # ------------------------------------------------------------------ expressions
    def expressions(self, root: ast.AST, frame: _Frame) -> None:
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
                inner = _Frame(None, None)
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
        if target is not None and not _is_torch(target):
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
        return None if target is None or _is_torch(target) else target

    def attribute_chain(self, node: ast.AST) -> None:
        """Every attribute read along ``a.b.c`` (not called) may be a method of the project
        that escapes there."""
        escapes = self.attribute_escapes
        while type(node) is ast.Attribute:
            escapes.add(node.attr)
            node = node.value

    def call(self, node: ast.Call, frame: _Frame, stack: list) -> None:
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
                self.calls.append(_Call(target, frame.caller, explicit, line, receiver,
                                        self.arguments(node, frame)))
            elif target is None:
                by_name = func.attr
                if by_name in _NOT_FOLLOWED or by_name[:2] == "__" == by_name[-2:]:
                    by_name = None
        elif kind is ast.Name:
            target = self.reference(func, stack)
            if target is not None:
                self.calls.append(_Call(target, frame.caller, explicit, line, False,
                                        self.arguments(node, frame)))
            elif func.id == "getattr" and len(node.args) > 1:
                name = node.args[1]
                if type(name) is ast.Constant and type(name.value) is str:
                    self.attribute_escapes.add(name.value)
        # A function passed along (``model.apply(init)``) is taken to run right here; a
        # method read through a receiver of unknown class (``pool.map(model.sample)``) escapes.
        unpacked = False
        for expression in node.args:
            kind = type(expression)
            if kind is ast.Name or kind is ast.Attribute:
                target = self.reference(expression, stack)
                if target is not None:
                    self.calls.append(_Call(target, frame.caller, explicit, line))
            else:
                unpacked = unpacked or kind is ast.Starred
                stack.append(expression)
        keywords = node.keywords
        for keyword in keywords:
            expression = keyword.value
            kind = type(expression)
            if kind is ast.Name or kind is ast.Attribute:
                target = self.reference(expression, stack)
                if target is not None:
                    self.calls.append(_Call(target, frame.caller, explicit, line))
            else:
                stack.append(expression)
        if by_name is not None:
            names = tuple(k.arg for k in keywords) if keywords else ()
            self.method_calls.append((by_name, frame.caller, explicit,
                                      -1 if unpacked or None in names else len(node.args), names))

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
        return False if target is None or _is_torch(target) else target

    def freeze(self, target: ast.expr) -> None:
        if type(target) is ast.Attribute and type(target.value) is ast.Name and \
                target.value.id == "self":
            self.frozen.add(target.attr)

    # ------------------------------------------------------------------ arguments
    def arguments(self, node: ast.Call, frame: _Frame) -> list:
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

    def settle_arguments(self, frame: _Frame) -> None:
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

    def name_value(self, name: str, frame: _Frame, depth: int) -> str | None:
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

    def collection(self, iterable: ast.expr, frame: _Frame, depth: int) -> str | None:
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


def _frozen(call: ast.Call) -> bool:
    """``nn.Parameter(x, requires_grad=False)`` (or ``False`` in second place)."""
    flag = next((k.value for k in call.keywords if k.arg == "requires_grad"), None)
    if flag is None and len(call.args) > 1:
        flag = call.args[1]
    return type(flag) is ast.Constant and flag.value is False


def _flag(call: ast.Call | None):
    """The ``mode`` argument of a grad-mode call, for ``grad_api_effect``."""
    if call is None:
        return NO_FLAG
    value = next((a for a in call.args if type(a) is not ast.Starred), None) or next(
        (k.value for k in call.keywords if k.arg == "mode"), None)
    if value is None:
        return NO_FLAG
    if type(value) is ast.Constant and type(value.value) is bool:
        return value.value
    return None


#: Method names whose calls through unknown receivers are not kept (``x.mean()``): ``forward``,
#: which runs implicitly and escapes anyway (callers.py), and the most common methods of
#: tensors and built-in types, which would only fill the index.  A method of the project with
#: one of these names is matched through its other call sites only.
_NOT_FOLLOWED = frozenset({
    "forward", "item", "mean", "sum", "pow", "backward", "size", "view", "reshape", "to", "cpu",
    "cuda", "numpy", "detach", "clone", "float", "long", "int", "squeeze", "unsqueeze",
    "permute", "transpose", "contiguous", "max", "min", "argmax", "tolist", "zero_",
    "zero_grad", "append", "extend", "get", "items", "keys", "values", "format", "join", "split",
    "strip", "startswith", "endswith", "replace", "pop", "copy", "add_", "mul_", "div_", "sub_",
    "copy_", "fill_", "expand", "repeat", "flatten", "type", "dim", "numel", "norm", "abs",
    "exp", "log", "sqrt", "softmax", "log_softmax", "sigmoid", "tanh", "relu", "chunk", "cat",
})


def _signature(arguments: ast.arguments, method: ast.FunctionDef | ast.AsyncFunctionDef
               ) -> tuple:
    """Definition.signature of a method: the calls through an object it accepts (empty for
    those never matched by name: ``forward``, ``__call__``...)."""
    name = method.name
    if name in _NOT_FOLLOWED or name[:2] == "__" == name[-2:]:
        return ()
    positional = [a.arg for a in (*arguments.posonlyargs, *arguments.args)]
    required = len(positional) - len(arguments.defaults)
    if positional and not any(type(d) is ast.Name and d.id == "staticmethod"
                              for d in method.decorator_list):
        positional.pop(0)
        required -= 1
    keyword_only = tuple(a.arg for a in arguments.kwonlyargs)
    required_keywords = tuple(a.arg for a, d in zip(arguments.kwonlyargs, arguments.kw_defaults)
                              if d is None)
    return (tuple(positional), max(required, 0), keyword_only, required_keywords,
            arguments.vararg is not None, arguments.kwarg is not None)


def _is_torch(name: str) -> bool:
    return name == "torch" or name.startswith("torch.")


_EXPRESSION_FIELDS: dict[type, tuple[str, ...]] = {
    ast.Return: ("value",), ast.Delete: ("targets",), ast.Assign: ("targets", "value"),
    ast.AugAssign: ("target", "value"), ast.AnnAssign: ("target", "annotation", "value"),
    ast.For: ("target", "iter"), ast.AsyncFor: ("target", "iter"), ast.While: ("test",),
    ast.If: ("test",), ast.Raise: ("exc", "cause"), ast.Assert: ("test", "msg"),
    _MATCH: ("subject",),
}
