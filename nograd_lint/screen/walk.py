"""The screen's walk core: one pass over CPython's ``ast`` of a file, the frames (what each
function contains) and the context (where the walk is), dispatching each node of interest to
the hooks ``on_*`` that the analysis mixins (grad_mode.py, evaluation.py, leaves.py...)
define.  A mixin defines the hooks it needs (the signatures are Walk's) and does not call
``super()`` in them: the walk calls every class's own hook in turn, base classes first (a hook
that returns a context hands it to the next), a table built once per class, since chains of
``super()`` calls on every node cost a tenth of the screen.  A hook only adds to its own
mixin's state, so the order of the mixins changes nothing.  Once the whole tree is read,
``prepare`` derives what the callers in other files do not change, then ``settle`` (once per
callers: see settle_again) what they do; both chain with ``super()``."""

from __future__ import annotations

import ast
from collections.abc import Callable, Iterable, Mapping
from typing import ClassVar, NamedTuple, Optional

from nograd_lint.ast_walk import CHILD_FIELDS, child_fields, dotted, push_children
from nograd_lint.config import Config
from nograd_lint.project.scopes import qualified_definitions
from nograd_lint.vocabulary import Grad, is_test_file, words


def callee(func: ast.AST) -> str | None:
    """The last part of a callee's name: ``f`` for ``f(...)`` and ``a.b.f(...)``."""
    kind = type(func)
    if kind is ast.Attribute:
        return func.attr
    if kind is ast.Name:
        return func.id
    return None


def bound_names(target: ast.AST) -> Iterable[str]:
    """The dotted names an assignment (or loop) target binds."""
    name = dotted(target)
    if name is not None:
        yield name
    elif isinstance(target, (ast.Tuple, ast.List)):
        for element in target.elts:
            yield from bound_names(element)
    elif isinstance(target, ast.Starred):
        yield from bound_names(target.value)


def assigned_targets(node: ast.Assign | ast.AnnAssign) -> list[ast.AST]:
    return node.targets if isinstance(node, ast.Assign) else [node.target]


class GradItem(NamedTuple):
    """A ``with`` item or decorator named like a grad-mode API (see
    GradModeScreen.grad_mode_item)."""

    name: str  # as spelled: ``torch.no_grad``, ``ng``
    line: int
    called_with_arguments: bool


#: The innermost GradItem around a node, in its function (or lambda), if any.
Disabler = Optional[GradItem]


class Frame:
    """What one function (or the module) contains, for the features that need two things in
    the same function, and what decides its grad mode."""

    __slots__ = ("key", "qualname", "pytest", "evals", "calls", "inplace", "data_inplace",
                 "backward", "sets_grad", "set_grad_calls", "disables")

    def __init__(self, key: tuple[ast.ClassDef | None, str] | None = None,
                 pytest: bool = False, qualname: str | None = None) -> None:
        # How model/grad_mode.py finds the function's callers: (its class if it is a method,
        # its name); None for the module and for lambdas.
        self.key = key
        self.qualname = qualname  # how the project index names it, if it can
        self.pytest = pytest  # a pytest test: model/evaluation.py takes no region from it
        self.evals = False  # an ``.eval()``/``.train(False)`` call
        self.backward = False  # a backward call (NG104's and NG204's)
        self.inplace: list[str] = []  # names written in place, not through ``.data``
        self.data_inplace: list[str] = []  # names written in place through ``.data``
        # A ``set_grad_enabled(...)`` call: as a statement it switches grad mode for the rest
        # of its block, whatever ``with`` surrounds it.
        self.sets_grad = False
        # A grad-mode ``with`` in it: a value computed there may reach a backward after it.
        self.disables = False
        # Each ``set_grad_enabled(...)`` call in the function, and whether it may switch off.
        self.set_grad_calls: list[tuple[ast.Call, bool]] = []
        # Calls but ``.eval()``/``.train()``, each with the grad-mode disabler around it:
        # whether one may run a model is known only at the end (see
        # EvaluationScreen.forward_kind).
        self.calls: list[tuple[ast.Call, Disabler]] = []


class Context(NamedTuple):
    """Where the walk is."""

    frame: Frame  # the innermost function (or the module)
    grad_frame: Frame  # the same, or Walk.lambdas inside a lambda
    klass: ast.ClassDef | None  # the innermost class around
    in_class_body: bool  # directly in a class body: a def there is a method
    disabler: Disabler


class Restore:
    """A stack entry of :meth:`Walk.walk`: the context to go back to (or, for a ``with``
    body, to switch to) once the entries above it are done."""

    __slots__ = ("context",)

    def __init__(self, context: Context) -> None:
        self.context = context


# Node types the walk does more with than descend into them.
_SPECIAL = frozenset({Restore, ast.Call, ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda,
                      ast.ClassDef, ast.For, ast.AsyncFor, ast.With, ast.AsyncWith, ast.AugAssign,
                      ast.Assign, ast.AnnAssign, ast.Import, ast.ImportFrom, ast.If, ast.Expr})


_HOOKS = ("on_call", "on_function", "on_loop", "on_with", "on_assignment",
          "on_augmented_assignment", "on_import", "on_if", "on_expression_statement")


class Walk:
    """The walk and the state every analysis shares; the hooks here document the signatures
    and are not called (see the module's docstring)."""

    #: Attribute names whose mere presence is a feature (attribute -> feature): checked on
    #: the walk's fast path, since attributes are most of the nodes.
    flagged_attributes: Mapping[str, str] = {}
    #: Per hook name, the hooks the walk calls: the subclasses' own, base classes first.
    hooks: ClassVar[dict[str, tuple[Callable, ...]]] = {name: () for name in _HOOKS}

    def __init_subclass__(cls, **kwargs) -> None:
        super().__init_subclass__(**kwargs)
        mixins = [k for k in reversed(cls.__mro__) if issubclass(k, Walk) and k is not Walk]
        cls.hooks = {name: tuple(vars(k)[name] for k in mixins if name in vars(k))
                     for name in _HOOKS}

    def __init__(self, source: str | bytes, path: str, config: Config,
                 callers: Mapping[str, Grad]) -> None:
        self.source = source
        self.config = config
        self.callers = callers  # the grad mode of call sites in other files, by qualname
        self.test_file = is_test_file(path)  # pytest test functions are no evaluation regions
        self.qualified: dict[int, str] = {}  # id of a def -> its name in the project index
        self.found: set[str] = set()
        self.walked: frozenset[str] = frozenset()  # what the walk found, before settle
        self.mentioned: set[str] = set()  # every name and attribute name
        self.stored: set[str] = set()  # names assigned, deleted, defined, or bound by a loop or with
        self.frames: list[Frame] = []
        self.tree: ast.Module | None = None  # the tree run() walks
        self.lambdas = Frame()  # the grad frame of every lambda: when one runs is not followed

    def run(self, tree: ast.Module) -> frozenset[str]:
        self.tree = tree
        module = Frame()
        self.frames.append(module)
        self.qualified = qualified_definitions(tree)
        self.walk(tree, Context(module, module, None, False, None))
        self.walked = frozenset(self.found)
        self.prepare()
        self.settle()
        return frozenset(self.found)

    def settle_again(self, callers: Mapping[str, Grad]) -> frozenset[str]:
        """The features under other ``callers``, from the same walk (settle reads the walk's
        state and replaces what it derives)."""
        self.callers, self.found = callers, set(self.walked)
        self.settle()
        return frozenset(self.found)

    def walk(self, tree: ast.Module, context: Context) -> None:
        mentioned, stored, flagged = self.mentioned, self.stored, self.flagged_attributes
        call_hooks, enter = self.hooks["on_call"], self.enter
        # Locals, not module attributes, for the tests made on every node.
        Name, Load, Constant = ast.Name, ast.Load, ast.Constant
        Attribute, Call = ast.Attribute, ast.Call
        special, fields_of = _SPECIAL, CHILD_FIELDS
        stack: list = [tree]
        while stack:
            node = stack.pop()
            kind = type(node)
            # Names and attributes are most of the nodes: settle them first, cheaply.
            if kind is Name:
                mentioned.add(node.id)
                if type(node.ctx) is not Load:
                    stored.add(node.id)
                continue
            if kind is Attribute:
                mentioned.add(node.attr)
                if node.attr in flagged:
                    self.found.add(flagged[node.attr])
                stack.append(node.value)
                continue
            if kind is Constant:
                continue
            if kind not in special:
                fields = fields_of.get(kind)
                for name in fields if fields is not None else child_fields(kind):
                    value = getattr(node, name)
                    if type(value) is list:
                        stack.extend(value)
                    elif value is not None:
                        stack.append(value)
                continue
            if kind is Restore:
                context = node.context
                continue
            if kind is Call:  # the most frequent kind of node here: no detour through enter
                name = callee(node.func)
                for hook in call_hooks:
                    hook(self, node, name, context)
                stack.append(node.func)  # push_children's order, without its lookups
                stack.extend(node.args)
                stack.extend(node.keywords)
                continue
            context = enter(node, kind, context, stack)

    def enter(self, node: ast.AST, kind: type, context: Context, stack: list) -> Context:
        """Hand ``node`` (of a kind in _SPECIAL but a call) to its hook, push what is to be walked next
        (below a Restore where the context changes), and return the context for it."""
        hooks = self.hooks
        if kind is ast.FunctionDef or kind is ast.AsyncFunctionDef:
            stack.append(Restore(context))
            context = self.enter_function(node, context)
        elif kind is ast.Lambda:
            stack.append(Restore(context))
            # No grad-mode item of the surrounding code is known to be in force when it runs.
            context = context._replace(grad_frame=self.lambdas, in_class_body=False,
                                       disabler=None)
        elif kind is ast.ClassDef:
            stack.append(Restore(context))
            self.stored.add(node.name)
            context = context._replace(klass=node, in_class_body=True)
        elif kind is ast.For or kind is ast.AsyncFor:
            inner = context
            for hook in hooks["on_loop"]:
                inner = hook(self, node, inner)
            if inner is not context:
                stack.append(Restore(context))
                context = inner
        elif kind is ast.With or kind is ast.AsyncWith:
            # The items run in the surrounding context, the body in the one they set.
            inner = context
            for hook in hooks["on_with"]:
                inner = hook(self, node, inner)
            stack.append(Restore(context))
            stack.extend(reversed(node.body))
            stack.append(Restore(inner))
            stack.extend(node.items)
            return context
        elif kind is ast.AugAssign:
            for hook in hooks["on_augmented_assignment"]:
                hook(self, node, context)
        elif kind is ast.Assign or kind is ast.AnnAssign:
            for hook in hooks["on_assignment"]:
                hook(self, node, context)
        elif kind is ast.Import or kind is ast.ImportFrom:
            for hook in hooks["on_import"]:
                hook(self, node)
            return context
        elif kind is ast.If:
            for hook in hooks["on_if"]:
                hook(self, node)
        elif kind is ast.Expr:
            for hook in hooks["on_expression_statement"]:
                hook(self, node.value)
        push_children(node, stack)
        return context

    def enter_function(self, node: ast.FunctionDef | ast.AsyncFunctionDef,
                       outer: Context) -> Context:
        self.stored.add(node.name)
        pytest = self.test_file and "test" in words(node.name)
        frame = Frame((outer.klass if outer.in_class_body else None, node.name), pytest,
                      self.qualified.get(id(node)))
        self.frames.append(frame)
        inner = outer._replace(frame=frame, grad_frame=frame, in_class_body=False)
        for hook in self.hooks["on_function"]:
            inner = hook(self, node, outer, inner)
        return inner

    # ------------------------------------------------------------------ hooks
    def on_call(self, node: ast.Call, name: str | None, context: Context) -> None:
        """A call; ``name`` is the last part of the callee's name, if it has one."""

    def on_function(self, node: ast.FunctionDef | ast.AsyncFunctionDef, outer: Context,
                    inner: Context) -> Context:
        """A ``def`` in ``outer``: the context of its body, starting from ``inner``."""
        return inner

    def on_loop(self, node: ast.For | ast.AsyncFor, context: Context) -> Context:
        """A ``for`` loop: the context of its target, iterable and body."""
        return context

    def on_with(self, node: ast.With | ast.AsyncWith, context: Context) -> Context:
        """A ``with`` statement: the context of its body."""
        return context

    def on_assignment(self, node: ast.Assign | ast.AnnAssign, context: Context) -> None:
        pass

    def on_augmented_assignment(self, node: ast.AugAssign, context: Context) -> None:
        pass

    def on_import(self, node: ast.Import | ast.ImportFrom) -> None:
        pass

    def on_if(self, node: ast.If) -> None:
        pass

    def on_expression_statement(self, value: ast.AST) -> None:
        pass

    def prepare(self) -> None:
        """Derive, once the whole tree is read, what settle needs and the callers do not
        change (settle runs once per callers)."""

    def settle(self) -> None:
        """Add to ``found`` what only the whole module decides, under ``callers``."""
