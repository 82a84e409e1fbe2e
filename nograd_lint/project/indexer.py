"""One module's facts for the project index, read from CPython's ``ast`` (see facts.py): its
definitions, imports and classes, and the grad mode at its call sites; the call sites
themselves are noted by call_sites.py, what they pass by arguments.py.

Grad mode at a call site is computed as model/grad_mode.py computes it on libcst, from the same
vocabulary (``grad_api_effect``, ``MANAGER_NAME``) and the same import resolution (names.py's:
module-flat, in source order, a ``def``/``class``/assignment shadowing an imported name):
``with`` items, decorators, bare ``set_grad_enabled(...)`` statements (a block that ends in
another mode than it began is *managed*), and context managers of the module's own that switch
grad mode.  Where nothing local decides, a call site in a module-level function or method
runs as that function does (``CallSite.grad`` None), which the project settles across files
(callers.py); in a nested function or a lambda it counts as enabled.
"""

from __future__ import annotations

import ast

from nograd_lint.ast_walk import dotted
from nograd_lint.frameworks import HookMode, hook_mode
from nograd_lint.model.names import canonical
from nograd_lint.project.arguments import CallArguments
from nograd_lint.project.call_sites import NOT_FOLLOWED, CallSites
from nograd_lint.project.facts import LEAF, CallSite, ClassFacts, Definition, ModuleFacts
from nograd_lint.project.scopes import (
    COMPOUND, MATCH, TRY, Deferred, Explicit, Frame, PendingCall, blocks, qualified_definitions,
)
from nograd_lint.vocabulary import (
    GRAD_MODE_APIS, MANAGER_NAME, NO_FLAG, PARAMETER, SET_GRAD_ENABLED, Grad, grad_api_effect,
)

__all__ = ["index_module", "qualified_definitions"]


def index_module(tree: ast.Module, module: str, package: bool,
                 torch_aliases: tuple[str, ...]) -> ModuleFacts:
    """The facts of ``tree``, the module named ``module`` (a package's ``__init__`` when
    ``package``); ``torch_aliases`` are the modules that stand for torch."""
    return _Indexer(tree, module, package, torch_aliases).facts()


_HOOK_GRAD = {HookMode.DISABLED: Grad.DISABLED, HookMode.MANAGED: Grad.MANAGED}


class _Indexer(CallSites, CallArguments):
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
        self.calls: list[PendingCall] = []
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
        module_frame = Frame(None, None)
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
        while isinstance(explicit, Deferred):
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

    def shadow(self, name: str, frame: Frame) -> None:
        """A definition or assignment of ``name``: names.py stops resolving it wherever it is;
        the project only when it is at module level."""
        self.imported.pop(name, None)
        if frame.caller is None and not self.scopes:
            self.bound.pop(name, None)
            self.exports.pop(name, None)

    def bind(self, local: str, target: str, relative: bool, frame: Frame) -> None:
        self.imported.pop(local, None)
        if not relative:
            self.imported[local] = target = canonical(target, self.torch_aliases)
        self.bound[local] = target
        if frame.caller is None and not self.scopes:
            self.exports[local] = target

    def imports(self, node: ast.Import | ast.ImportFrom, frame: Frame) -> None:
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
    def effect(self, expression: ast.AST, frame: Frame) -> Explicit:
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
            return Deferred(name, frame.states[-1])
        return Grad.MANAGED if MANAGER_NAME.search(name.rsplit(".", 1)[-1]) else None

    def block(self, statements: list[ast.stmt], frame: Frame) -> None:
        """An indented block: a bare ``set_grad_enabled`` in it that is still in force at its
        end leaves what follows *managed*."""
        entry = frame.states[-1]
        frame.states.append(entry)
        for statement in statements:
            self.statement(statement, frame)
        if frame.states.pop() != entry:
            frame.states[-1] = Grad.MANAGED

    # ------------------------------------------------------------------ statements
    def statement(self, node: ast.stmt, frame: Frame) -> None:
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
                if type(effect) is Deferred:
                    state = Deferred(effect.name, state)
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
            if kind not in COMPOUND:
                return
            if kind in TRY:
                for handler in node.handlers:
                    if handler.type is not None:
                        self.expressions(handler.type, frame)
            elif kind is MATCH:
                for case in node.cases:
                    if case.guard is not None:
                        self.expressions(case.guard, frame)
            for statements in blocks(node):
                if statements:
                    self.block(statements, frame)

    def assignment(self, node: ast.Assign, frame: Frame) -> None:
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

    def function(self, node: ast.FunctionDef | ast.AsyncFunctionDef, frame: Frame) -> None:
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
        inner = Frame(qualname, explicit, frozenset((*positional, *keyword_only)))
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

    def class_(self, node: ast.ClassDef, frame: Frame) -> None:
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


def _signature(arguments: ast.arguments, method: ast.FunctionDef | ast.AsyncFunctionDef
               ) -> tuple:
    """Definition.signature of a method: the calls through an object it accepts (empty for
    those never matched by name: ``forward``, ``__call__``...)."""
    name = method.name
    if name in NOT_FOLLOWED or name[:2] == "__" == name[-2:]:
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


_EXPRESSION_FIELDS: dict[type, tuple[str, ...]] = {
    ast.Return: ("value",), ast.Delete: ("targets",), ast.Assign: ("targets", "value"),
    ast.AugAssign: ("target", "value"), ast.AnnAssign: ("target", "annotation", "value"),
    ast.For: ("target", "iter"), ast.AsyncFor: ("target", "iter"), ast.While: ("test",),
    ast.If: ("test",), ast.Raise: ("exc", "cause"), ast.Assert: ("test", "msg"),
    MATCH: ("subject",),
}
