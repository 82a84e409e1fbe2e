"""The second pre-filter: which rules *could* fire, read from CPython's ``ast`` of the file.

The libcst parse is the cost of linting (about 10x ``ast.parse``), and the textual triggers let
through most files of a PyTorch project (``.weight``, ``val``...).  The engine parses every such
file with ``ast`` anyway (see ``engine.py``), so one walk over that tree collects the *features*
below, and a rule runs only when every feature in its ``Rule.features`` is present.  Each
feature over-approximates what the rule's libcst analysis needs in order to report anything:
where an analysis needs two things in one function or region, so does the feature.  It never
decides a finding itself.  ``--no-prefilter`` turns both filters off, and tests check that the
findings are the same either way.

Features:

``eval-forward``  a call that may run a model (below), where gradients may be on (below),
                  inside a function named like evaluation code (or nested in one) or inside a
                  loop over ``val``/``test`` data (NG101).
``forward-after-eval``  a ``.eval()``/``.train(False)`` call and a call that may run a model
                  with gradients that may be on, in the same function (NG105).
``grad-mode``     a grad-mode API (``no_grad``, ``inference_mode``...) mentioned anywhere, or
                  a function that callers in other files may run with gradients off.
``grad-mode-with``  a ``with`` item that is such an API not called, or ``no_grad`` or
                  ``enable_grad`` called with arguments (NG102).
``grad-mode-call-statement``  a ``no_grad``, ``enable_grad`` or ``inference_mode`` call as
                  a statement of its own (NG107).
``grad-mode-statement``  ``set_grad_enabled`` called with ``False`` in a function, and no
                  later call in it that surely is torch's ``set_grad_enabled`` (NG103).
``backward-without-grad``  a ``.backward(...)`` or ``grad(...)`` call where gradients may be
                  off (below) (NG104).
``leaf-update``   an in-place update, not through ``.data``, of something that may be a leaf
                  (below), where gradients may be on (NG201).
``leaf-data-update``  an in-place update through ``.data`` of something that may be a leaf.
``leaf-rebinding``  a name that may be a leaf assigned something computed from it (not a copy
                  such as ``.clone()``, not a new ``nn.Parameter``), where gradients may be off.
``saved-update``  a backward call and an in-place update, not through ``.data``, of a name
                  that may hold a tensor, in the same function (NG204 needs the whole chain
                  in one function).
``variable-call``  a call of ``Variable`` (NG301, NG303).
``volatile-attribute``  an attribute named ``volatile`` (NG302).

A call *may run a model* when it is ``x.forward(...)``, ``self(...)``, a callee named like a
model (``model``, ``self.encoder``; not ``EncoderCNN`` or ``create_model``), or a name that
receives ``.eval()``/``.train()`` somewhere in the module.  Something *may be a leaf* when it is
any ``X.weight``/``X.bias``, or a name bound anywhere in the module to something that can
evaluate to a leaf or a collection of leaves (``Parameter(...)``, a call with
``requires_grad=``, ``.requires_grad_()``, ``.parameters()``, ``param_groups``,
``group["params"]``, ``list(...)`` of one, another such name...), or given ``requires_grad``.

Grad mode follows model/grad_mode.py.  Gradients *may be on* unless the function has no
``set_grad_enabled`` call and either the innermost grad-mode ``with`` item or decorator is
torch's ``no_grad`` or ``inference_mode()`` (resolved from the imports the way model/model/names.py does),
or there is none and the function is surely called only where gradients are off (its name
occurs nowhere but in its ``def`` and in such calls, and its call sites in other files, from
the project index, all have them off).  They *may be off* under any grad-mode ``with`` or
decorator, in a function with a ``set_grad_enabled`` call, in a lambda, and in a function all
of whose calls in the module (``f(...)``, ``self.f(...)``, passing ``f`` along) are where they
may be off, and whose calls in other files may have them off, if it has any.

Names imported under another name (``from torch import no_grad as ng``) are found with a
textual scan for ``<name> as <alias>``, so that the walk's order does not matter.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable, Mapping
from typing import NamedTuple, Optional

from nograd_lint.ast_walk import (
    CHILD_FIELDS as _CHILD_FIELDS, child_fields as _child_fields, children as _children,
    dotted as _dotted, push_children as _push_children,
)
from nograd_lint.config import Config
from nograd_lint.model.names import canonical, torch_aliases
from nograd_lint.project.indexer import qualified_definitions
from nograd_lint.vocabulary import (
    COPIES, EVAL_DATA_WORDS, EVAL_FUNCTION_WORDS, GRAD_MODE_NAMES, INFERENCE_MODE, LAYERS, Grad,
    MODULE_COLLECTIONS, NO_GRAD, PARAMETER, SET_GRAD_ENABLED, WEIGHTS,
    is_inplace_method, is_test_file, names_a_model, words,
)

# Identifiers through which a value can come to hold a leaf, or a collection whose elements
# (in a ``for`` loop) may be leaves or such collections again (see model/leaves).
_LEAF_CALLS = frozenset({"Parameter", "requires_grad_"})
_COLLECTION_CALLS = frozenset({"parameters", "named_parameters"})
_WRAPPERS = frozenset({"list", "tuple", "enumerate"})
# What a value may hold, as the kinds of model/leaves: a leaf, an iterable of leaves (or an optimizer's
# param group), ``param_groups``, a torch layer, an iterable of layers.
_LEAF, _PARAMS, _GROUPS = frozenset({"leaf"}), frozenset({"params"}), frozenset({"groups"})
_MODULE, _MODULES = frozenset({"module"}), frozenset({"modules"})
_ELEMENT = {"params": "leaf", "groups": "params", "modules": "module"}  # what a loop binds
_LAYER_NAMES = frozenset(name.rsplit(".", 1)[-1] for name in LAYERS)
_VIEW_OR_DATA = frozenset({"data", "T", "mT"})
_SET_GRAD_ENABLED = frozenset({"set_grad_enabled"})
_TAKES_NO_ARGUMENTS = frozenset({"no_grad", "enable_grad"})  # ``with no_grad(False):`` fails
_CONTEXT_MANAGERS = frozenset({"no_grad", "enable_grad", "inference_mode"})
_TENSOR_SOURCES = frozenset({ast.Name, ast.Attribute, ast.Call, ast.BinOp, ast.UnaryOp,
                             ast.Subscript})
_BACKWARD = frozenset({"backward", "grad"})
_VARIABLE = frozenset({"Variable"})
# ``name as alias``, with the blanks, line continuations and comments a parenthesised import
# may hold between the words: the ``as`` and alias first (a fast literal scan), then the name
# before it.
_GAP = r"(?:[\s\\]|#[^\n]*\n)"
_ALIAS = {str: (re.compile(rf"[\s\\]as{_GAP}+(\w+)"), re.compile(rf"(\w+){_GAP}*\Z"))}
_ALIAS[bytes] = tuple(re.compile(pattern.pattern.encode()) for pattern in _ALIAS[str])


def features(tree: ast.Module, source: str | bytes, path: str, config: Config,
             callers: Mapping[str, Grad] = {}) -> frozenset[str]:
    """The features present in ``tree``, parsed from ``source`` (see the module docstring);
    ``callers`` as model/grad_mode.py takes them from the project index, or ANY_CALLERS."""
    return _Screen(source, path, config, callers).run(tree)


class _AnyCallers(Mapping):
    """Callers in other files not known yet: every module-level function and method may have
    some, in any grad mode.  Every feature only grows when a function may run with gradients
    off, or on, so the features under it include those under any callers the project index
    can find."""

    def __getitem__(self, qualname: str) -> Grad:
        if not isinstance(qualname, str):
            raise KeyError(qualname)
        return Grad.MANAGED

    def __iter__(self):
        return iter(())

    def __len__(self) -> int:
        return 0


ANY_CALLERS = _AnyCallers()


def _callee(func: ast.AST) -> str | None:
    """The last part of a callee's name: ``f`` for ``f(...)`` and ``a.b.f(...)``."""
    kind = type(func)
    if kind is ast.Attribute:
        return func.attr
    if kind is ast.Name:
        return func.id
    return None


def _identifiers(node: ast.AST) -> Iterable[str]:
    stack = [node]
    while stack:
        child = stack.pop()
        if isinstance(child, ast.Name):
            yield child.id
        elif isinstance(child, ast.Attribute):
            yield child.attr
        elif isinstance(child, ast.keyword) and child.arg:
            yield child.arg
        stack.extend(_children(child))


def _written(target: ast.AST) -> tuple[str | None, bool]:
    """The name an in-place write to ``target`` changes, and whether it goes through ``.data``:
    ``w[0]``, ``w.data``, ``w.view(2)`` and ``w.add_(1)`` all write to ``w``.  Any call or
    subscript is stripped, more than model/leaves strips, so that every site it sees is seen."""
    through_data = False
    while True:
        kind = type(target)
        if kind is ast.Subscript:
            target = target.value
        elif kind is ast.Call and type(target.func) is ast.Attribute:
            target = target.func.value
        elif kind is ast.Attribute and target.attr in _VIEW_OR_DATA:
            through_data = through_data or target.attr == "data"
            target = target.value
        else:
            return _dotted(target), through_data


def _bound_names(target: ast.AST) -> Iterable[str]:
    name = _dotted(target)
    if name is not None:
        yield name
    elif isinstance(target, (ast.Tuple, ast.List)):
        for element in target.elts:
            yield from _bound_names(element)
    elif isinstance(target, ast.Starred):
        yield from _bound_names(target.value)


class GradItem(NamedTuple):
    """A ``with`` item or decorator named like a grad-mode API (see _Screen.grad_mode_item)."""

    name: str  # as spelled: ``torch.no_grad``, ``ng``
    line: int
    called_with_arguments: bool


#: The innermost GradItem around a node, in its function (or lambda), if any.
Disabler = Optional[GradItem]


class _Frame:
    """What one function (or the module) contains, for the features that need two things in
    the same function, and what decides its grad mode."""

    __slots__ = ("key", "qualname", "pytest", "evals", "calls", "inplace", "backward", "trains",
                 "sets_grad", "set_grad_calls")

    def __init__(self, key: tuple[ast.ClassDef | None, str] | None = None,
                 pytest: bool = False, qualname: str | None = None) -> None:
        # How model/grad_mode.py finds the function's callers: (its class if it is a method,
        # its name); None for the module and for lambdas.
        self.key = key
        self.qualname = qualname  # how the project index names it, if it can
        self.pytest = pytest  # a pytest test: model/evaluation.py takes no region from it
        self.evals = self.backward = False
        self.trains = False  # a ``.backward()`` call: surely training to model/model/evaluation.py
        self.inplace: list[str] = []  # names written in place, not through ``.data``
        # A ``set_grad_enabled(...)`` call: as a statement it switches grad mode for the rest
        # of its block, whatever ``with`` surrounds it.
        self.sets_grad = False
        # Each ``set_grad_enabled(...)`` call in the function, and whether it may switch off.
        self.set_grad_calls: list[tuple[ast.Call, bool]] = []
        # Calls but ``.eval()``/``.train()``, each with the grad-mode disabler around it:
        # whether one may run a model is known only at the end (see _Screen.may_run_model).
        self.calls: list[tuple[ast.AST, Disabler]] = []


class _Context(NamedTuple):
    """Where the walk is."""

    frame: _Frame  # the innermost function (or the module)
    grad_frame: _Frame  # the same, or _Screen.lambdas inside a lambda
    klass: ast.ClassDef | None  # the innermost class around
    in_class_body: bool  # directly in a class body: a def there is a method
    in_eval_function: bool
    in_eval_loop: bool
    disabler: Disabler


class _Restore:
    """A stack entry of :meth:`_Screen.run`: the context to go back to (or, for a ``with``
    body, to switch to) once the entries above it are done."""

    __slots__ = ("context",)

    def __init__(self, context: _Context) -> None:
        self.context = context


# Node types the walk does more with than descend into them.
_SPECIAL = frozenset({_Restore, ast.Call, ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda,
                      ast.ClassDef, ast.For, ast.AsyncFor, ast.With, ast.AsyncWith, ast.AugAssign,
                      ast.Assign, ast.AnnAssign, ast.Import, ast.ImportFrom, ast.If, ast.Expr})


class _Screen:
    def __init__(self, source: str | bytes, path: str, config: Config,
                 callers: Mapping[str, Grad]) -> None:
        self.config = config
        self.callers = callers  # the grad mode of call sites in other files, by qualname
        self.qualified: dict[int, str] = {}  # see run()
        self.torch_aliases = torch_aliases(config.torch_modules)
        self.test_file = is_test_file(path)  # pytest test functions are no evaluation regions
        self.patterns = [re.compile(p) for p in config.eval_function_patterns]
        self.aliases: dict[str, set[str]] = {}  # local name -> the names it may import
        after_as, before = _ALIAS[type(source)]
        for match in after_as.finditer(source):
            name = before.search(source, max(0, match.start() - 200), match.start() + 1)
            if name is not None:
                alias, name = match.group(1), name.group(1)
                if isinstance(name, bytes):
                    name, alias = name.decode(), alias.decode()
                self.aliases.setdefault(alias, set()).add(name)
        self.found: set[str] = set()
        self.mentioned: set[str] = set()  # every name and attribute name
        self.stored: set[str] = set()  # names assigned, deleted, defined, or bound by a loop or with
        self.imports: dict[str, list[tuple[str, int]]] = {}  # local -> (module path, line)
        self.modules: set[str] = set()  # names that receive .eval()/.train()
        self.frames: list[_Frame] = []
        self.lambdas = _Frame()  # the grad frame of every lambda: when one runs is not followed
        # Where each function may be called (as model/grad_mode.py matches calls to functions):
        # function key -> [(grad frame, disabler) of each call or passing as an argument].
        self.calls: dict[tuple[ast.ClassDef | None, str], list[tuple[_Frame, Disabler]]] = {}
        self.disabled_functions: set[tuple[ast.ClassDef | None, str]] = set()  # see settle()
        self.source = source
        self.without_grad: set[tuple[ast.ClassDef | None, str]] = set()  # see settle()
        # As _Frame.calls, for calls in evaluation regions: (frame, grad frame, callee,
        # disabler, in an evaluation loop).
        self.eval_calls: list[tuple[_Frame, _Frame, ast.AST, Disabler, bool]] = []
        # In-place writes: (name written, line, through .data, grad frame, disabler).
        self.sites: list[tuple[str, int, bool, _Frame, Disabler]] = []
        self.backwards: list[tuple[_Frame, Disabler]] = []  # backward calls
        self.marked: list[str | None] = []  # names given ``requires_grad``
        # Names an ``if isinstance(name, ...)`` may prove to be layers, with the lines where
        # model/leaves may know it: the ``if`` body, or on to the end when an ``else`` can exit.
        self.narrowed: dict[str, list[tuple[int, float]]] = {}
        self.tests_types = ("isinstance" if isinstance(source, str) else b"isinstance") in source
        self.applied: set[str] = set()  # functions passed to ``X.apply``
        self.leading_parameters: dict[str, list[str]] = {}  # function name -> first two
        # (names bound, what they get, whether a loop binds them to its elements)
        self.bindings: list[tuple[list[str], ast.AST, bool]] = []
        # (name, the value assigned to it, grad frame, disabler)
        self.rebound: list[tuple[str, ast.AST, _Frame, Disabler]] = []

        self.grad_mode_names = self.known_as(GRAD_MODE_NAMES)
        self.backward_names = self.known_as(_BACKWARD)
        self.variable_names = self.known_as(_VARIABLE)
        self.set_grad_names = self.known_as(_SET_GRAD_ENABLED)
        self.takes_no_arguments = self.known_as(_TAKES_NO_ARGUMENTS)
        self.context_managers = self.known_as(_CONTEXT_MANAGERS)
        self.leaf_calls = self.known_as(_LEAF_CALLS)
        self.collection_calls = self.known_as(_COLLECTION_CALLS)

    def known_as(self, names: frozenset[str]) -> frozenset[str]:
        """``names`` and the names they are imported as (``from torch import no_grad as ng``)."""
        return names | {alias for alias, imported in self.aliases.items()
                        if not names.isdisjoint(imported)}

    # ------------------------------------------------------------------ the walk
    def run(self, tree: ast.Module) -> frozenset[str]:
        module = _Frame()
        self.frames.append(module)
        self.qualified = qualified_definitions(tree)
        context = _Context(module, module, None, False, False, False, None)
        mentioned, stored, child_fields = self.mentioned, self.stored, _CHILD_FIELDS
        stack: list = [tree]
        while stack:
            node = stack.pop()
            kind = type(node)
            # Names and attributes are most of the nodes: settle them first, cheaply.
            if kind is ast.Name:
                mentioned.add(node.id)
                if type(node.ctx) is not ast.Load:
                    stored.add(node.id)
                continue
            if kind is ast.Attribute:
                mentioned.add(node.attr)
                if node.attr == "volatile":
                    self.found.add("volatile-attribute")
                stack.append(node.value)
                continue
            if kind not in _SPECIAL:
                fields = child_fields.get(kind)
                for name in fields if fields is not None else _child_fields(kind):
                    value = getattr(node, name)
                    if type(value) is list:
                        stack.extend(value)
                    elif value is not None:
                        stack.append(value)
                continue
            if kind is _Restore:
                context = node.context
                continue
            if kind is ast.Call:
                self.call(node, context)
            elif kind is ast.FunctionDef or kind is ast.AsyncFunctionDef:
                stack.append(_Restore(context))
                stored.add(node.name)
                arguments = node.args
                self.leading_parameters.setdefault(node.name, []).extend(
                    a.arg for a in [*arguments.posonlyargs, *arguments.args,
                                    *arguments.kwonlyargs][:2])
                pytest = self.test_file and node.name.startswith("test")
                frame = _Frame((context.klass if context.in_class_body else None, node.name),
                               pytest, self.qualified.get(id(node)))
                self.frames.append(frame)
                disabler = None
                for decorator in node.decorator_list:
                    disabler = self.grad_mode_item(decorator) or disabler
                context = context._replace(
                    frame=frame, grad_frame=frame, in_class_body=False, in_eval_loop=False,
                    in_eval_function=not pytest and (
                        context.in_eval_function or self.is_eval_function(node.name)),
                    disabler=disabler)
            elif kind is ast.Lambda:
                stack.append(_Restore(context))
                context = context._replace(grad_frame=self.lambdas, in_class_body=False,
                                           disabler=None)
            elif kind is ast.ClassDef:
                stack.append(_Restore(context))
                stored.add(node.name)
                context = context._replace(klass=node, in_class_body=True)
            elif kind is ast.For or kind is ast.AsyncFor:
                self.bindings.append((list(_bound_names(node.target)), node.iter, True))
                if not context.in_eval_loop and not context.frame.pytest and any(
                        words(name) & EVAL_DATA_WORDS for name in _identifiers(node.iter)):
                    stack.append(_Restore(context))
                    context = context._replace(in_eval_loop=True)
            elif kind is ast.With or kind is ast.AsyncWith:
                # The items run in the surrounding grad mode, the body in the one they set.
                inner = context.disabler
                for item in node.items:
                    inner = self.grad_mode_item(item.context_expr) or inner
                    self.with_item(item.context_expr)
                stack.append(_Restore(context))
                stack.extend(reversed(node.body))
                stack.append(_Restore(context._replace(disabler=inner)))
                stack.extend(node.items)
                continue
            elif kind is ast.AugAssign:
                self.inplace(node.target, context)
            elif kind is ast.Assign or kind is ast.AnnAssign:
                self.assign(node, context)
            elif kind is ast.Import or kind is ast.ImportFrom:
                self.imported(node)
                continue
            elif kind is ast.If and self.tests_types:
                self.narrow(node)
            elif kind is ast.Expr:
                self.expression_statement(node.value)
            _push_children(node, stack)
        return self.settle()

    def grad_mode_item(self, expression: ast.AST) -> Disabler:
        """``(name, line)`` when ``expression`` (a ``with`` item or decorator) is spelled like
        a grad-mode API: ``no_grad()``, ``torch.inference_mode``, ``ng()`` after ``import
        no_grad as ng``...  What it does is settled once the module is known."""
        call = expression if type(expression) is ast.Call else None
        name = _dotted(expression.func if call is not None else expression)
        if name is None or not name.rsplit(".", 1)[-1] in self.grad_mode_names:
            return None
        return GradItem(name, expression.lineno,
                        call is not None and bool(call.args or call.keywords))

    def is_eval_function(self, name: str) -> bool:
        return bool(words(name) & EVAL_FUNCTION_WORDS) or any(p.search(name) for p in self.patterns)

    def call(self, node: ast.Call, context: _Context) -> None:
        func = node.func
        frame, disabler = context.frame, context.disabler
        for expression in (func, *node.args, *(k.value for k in node.keywords)):
            # Called, or passed along (``model.apply(init)``): model/grad_mode.py takes a function
            # to run right here.  (Most arguments are neither names nor attributes.)
            if type(expression) is ast.Name or type(expression) is ast.Attribute:
                self.note_call(expression, context)
        last = _callee(func)
        if last is None:
            return
        method = type(func) is ast.Attribute
        in_eval_region = context.in_eval_function or context.in_eval_loop
        if method and last in ("eval", "train"):
            # ``train(False)`` switches to evaluation too; ``train()`` ends it.
            if last == "eval" or node.args and isinstance(node.args[0], ast.Constant) \
                    and node.args[0].value is False:
                frame.evals = True
            receiver = _dotted(func.value)
            if receiver is not None:
                self.modules.add(receiver)
        else:
            frame.calls.append((func, disabler))
            if in_eval_region:
                self.eval_calls.append((frame, context.grad_frame, func, disabler,
                                        context.in_eval_loop))
        if method and last == "backward":
            frame.trains = True
        if last in self.backward_names:
            frame.backward = True
            self.backwards.append((context.grad_frame, disabler))
        if method and last == "apply":
            self.applied.update(name for name in map(_callee, node.args) if name is not None)
        if method and last == "requires_grad_":
            self.marked.append(_dotted(func.value))
        elif method and is_inplace_method(last):
            self.inplace(func.value, context)
        if last in self.set_grad_names:
            context.grad_frame.sets_grad = True
            arguments = [*node.args, *(k.value for k in node.keywords)]
            frame.set_grad_calls.append((node, any(
                type(a) is ast.Constant and a.value is False for a in arguments)))
        if last in self.variable_names:
            self.found.add("variable-call")

    def note_call(self, expression: ast.AST, context: _Context) -> None:
        """``f`` or ``self.f`` called (or passed along) here: a call site of function ``f``."""
        if type(expression) is ast.Name:
            key = (None, expression.id)
        elif (type(expression) is ast.Attribute and type(expression.value) is ast.Name
              and expression.value.id in ("self", "cls") and context.klass is not None):
            key = (context.klass, expression.attr)
        else:
            return
        self.calls.setdefault(key, []).append((context.grad_frame, context.disabler))

    def expression_statement(self, value: ast.AST) -> None:
        if type(value) is ast.Call:
            name = _dotted(value.func)
            if name is not None and name.rsplit(".", 1)[-1] in self.context_managers:
                self.found.add("grad-mode-call-statement")

    def with_item(self, item: ast.AST) -> None:
        called = isinstance(item, ast.Call)
        name = _dotted(item.func if called else item)
        if name is None:
            return
        last = name.rsplit(".", 1)[-1]
        if not called and last in self.grad_mode_names or called and (
                item.args or item.keywords) and last in self.takes_no_arguments:
            self.found.add("grad-mode-with")

    def inplace(self, target: ast.AST, context: _Context) -> None:
        name, through_data = _written(target)
        if name is None:
            return
        if not through_data:
            context.frame.inplace.append(name)
        self.sites.append((name, target.lineno, through_data, context.grad_frame,
                           context.disabler))

    def assign(self, node: ast.Assign | ast.AnnAssign, context: _Context) -> None:
        if node.value is None:
            return
        value = node.value
        if (type(value) is ast.Call and type(value.func) is ast.Attribute
                and value.func.attr == "eval"):
            context.frame.evals = True  # ``encoder = EncoderCNN(...).eval()``
            self.modules.update(n for t in self._targets(node) for n in _bound_names(t))
        for target in self._targets(node):
            if isinstance(target, ast.Subscript) or (
                    isinstance(target, ast.Attribute) and target.attr == "data"):
                self.inplace(target, context)
            elif isinstance(target, ast.Attribute) and target.attr == "requires_grad":
                self.marked.append(_dotted(target.value))
            else:
                names = list(_bound_names(target))
                self.bindings.append((names, value, False))
                self.rebound.extend((name, value, context.grad_frame, context.disabler)
                                    for name in names)

    @staticmethod
    def _targets(node: ast.Assign | ast.AnnAssign) -> list[ast.AST]:
        return node.targets if isinstance(node, ast.Assign) else [node.target]

    def imported(self, node: ast.Import | ast.ImportFrom) -> None:
        """Record what the import binds, as model/model/names.py's ImportResolver reads it."""
        if isinstance(node, ast.ImportFrom):
            if node.level or node.module is None:
                return
            for alias in node.names:
                if alias.name != "*":
                    self.bind(alias.asname or alias.name, f"{node.module}.{alias.name}", node.lineno)
            return
        for alias in node.names:
            if alias.asname is not None:
                self.bind(alias.asname, alias.name, node.lineno)
            else:
                top = alias.name.split(".", 1)[0]
                self.bind(top, top, node.lineno)

    def bind(self, local: str, target: str, line: int) -> None:
        target = canonical(target, self.torch_aliases)
        self.imports.setdefault(local, []).append((target, line))

    # ------------------------------------------------------------------ after the walk
    def settle(self) -> frozenset[str]:
        found = self.found
        if not self.mentioned.isdisjoint(self.grad_mode_names) or any(
                self.callers.get(frame.qualname, Grad.ENABLED) is not Grad.ENABLED
                for frame in self.frames if frame.qualname is not None):
            found.add("grad-mode")
        self.disabled_functions = self.functions_maybe_called_without_grad()
        self.without_grad = self.functions_surely_called_without_grad()
        if any(self.may_disable(frame, d) for frame, d in self.backwards):
            found.add("backward-without-grad")
        # A function named like evaluation code that calls ``.backward()`` is training, but
        # a loop in it still counts on its own.
        if any((in_loop or not frame.trains) and self.may_have_grad(grad_frame, d)
               and self.may_run_model(f)
               for frame, grad_frame, f, d, in_loop in self.eval_calls):
            found.add("eval-forward")
        held = self.may_hold()
        tensors = self.may_hold_tensors(held)
        for frame in self.frames:
            if frame.evals and not frame.pytest and any(
                    self.may_have_grad(frame, d) and self.may_run_model(f) for f, d in frame.calls):
                found.add("forward-after-eval")
            if frame.key is not None and self.may_leak_grad_mode(frame):
                found.add("grad-mode-statement")
            if frame.backward and any(name in tensors or self.is_leaf(name, held)
                                      for name in frame.inplace):
                found.add("saved-update")
        for name, line, through_data, frame, disabler in self.sites:
            if not self.is_leaf(name, held, line):
                continue
            if through_data:
                found.add("leaf-data-update")
            elif self.may_have_grad(frame, disabler):
                found.add("leaf-update")
        if any(self.is_leaf(name, held, value.lineno) and self.may_disable(frame, disabler)
               and _recomputes(value, name) and not self.new_parameter(value)
               for name, value, frame, disabler in self.rebound):
            found.add("leaf-rebinding")
        return frozenset(found)

    def functions_maybe_called_without_grad(self) -> set[tuple[ast.ClassDef | None, str]]:
        """The functions model/grad_mode.py may take to run with gradients off: those whose every
        call site may have them off.  Its greatest fixed point, over-approximated: escapes
        (a function stored or returned) are not followed, and lambdas may be anything."""
        disabled = self.disabled_functions = set(self.calls) | {  # may_disable reads it
            frame.key for frame in self.frames
            if self.callers.get(frame.qualname) in (Grad.DISABLED, Grad.MANAGED)}
        changed = True
        while changed:
            changed = False
            for key in list(disabled):
                if not all(self.may_disable(frame, d) for frame, d in self.calls.get(key, ())):
                    disabled.discard(key)
                    changed = True
        return disabled

    def functions_surely_called_without_grad(self) -> set[tuple[ast.ClassDef | None, str]]:
        """The functions model/grad_mode.py surely takes to run with gradients off: its greatest
        fixed point again, under-approximated.  A function counts only when every textual
        occurrence of its name is its ``def`` or a call site (or argument) seen here, so it
        cannot escape, and every call site surely has gradients off."""
        defined: dict[str, int] = {}
        frames: dict[tuple[ast.ClassDef | None, str], list[_Frame]] = {}
        for frame in self.frames:
            if frame.key is not None:
                defined[frame.key[1]] = defined.get(frame.key[1], 0) + 1
                frames.setdefault(frame.key, []).append(frame)
        seen: dict[str, int] = {}
        for (_, name), sites in self.calls.items():
            seen[name] = seen.get(name, 0) + len(sites)
        encode = str.encode if isinstance(self.source, bytes) else str
        # Every function of the key must have call sites (here or, from the project index, in
        # other files), and those in other files must all have gradients off.
        without = self.without_grad = {
            key for key, group in frames.items() if all(
                (key in self.calls or frame.qualname in self.callers)
                and self.callers.get(frame.qualname, Grad.DISABLED) is Grad.DISABLED
                for frame in group)
            and self.source.count(encode(key[1])) <= defined[key[1]] + seen.get(key[1], 0)}
        changed = True
        while changed:  # may_have_grad reads ``without``
            changed = False
            for key in list(without):
                if any(self.may_have_grad(frame, d) for frame, d in self.calls.get(key, ())):
                    without.discard(key)
                    changed = True
        return without

    def may_disable(self, frame: _Frame, disabler: Disabler) -> bool:
        """Can gradients be off in ``frame`` where ``disabler`` is in force?  Only through a
        grad-mode API around it, a ``set_grad_enabled`` statement, inside a lambda, or through
        callers that may all have them off."""
        return (disabler is not None or frame.sets_grad or frame is self.lambdas
                or frame.key in self.disabled_functions)

    def may_have_grad(self, frame: _Frame, disabler: Disabler) -> bool:
        """Can gradients be enabled in ``frame`` where ``disabler`` is the innermost grad-mode
        ``with`` or decorator?  Not when it is torch's ``no_grad``/``inference_mode()``, as
        model/model/names.py resolves names, or there is none and all of the function's callers have them
        off, and no ``set_grad_enabled`` statement in the frame can switch them back on."""
        if frame.sets_grad:
            return True
        if disabler is None:
            return frame.key not in self.without_grad
        if self.resolves(disabler.name, disabler.line, NO_GRAD):
            return False
        return disabler.called_with_arguments or not self.resolves(
            disabler.name, disabler.line, INFERENCE_MODE)

    def may_leak_grad_mode(self, frame: _Frame) -> bool:
        """Can a ``set_grad_enabled(False)`` be the last such call in the function, as
        NG103 reads them: no later call surely resolves to ``set_grad_enabled``?"""
        restored = max(((call.lineno, call.col_offset) for call, _ in frame.set_grad_calls
                        if self.resolves(_dotted(call.func) or "", call.lineno, SET_GRAD_ENABLED)),
                       default=(0, 0))
        return any(off and (call.lineno, call.col_offset) >= restored
                   for call, off in frame.set_grad_calls)

    def may_run_model(self, func: ast.AST) -> bool:
        """Can model/model/evaluation.py take a call of ``func`` for a forward pass?  ``x.forward`` and
        ``self`` always; otherwise a dotted name that does not come from an import, named like
        a model or receiving ``.eval()``/``.train()``."""
        kind = type(func)
        if kind is ast.Attribute and func.attr == "forward" or kind is ast.Name and func.id == "self":
            return True
        name = _dotted(func)
        if name is None or self.imported_before(name, func.lineno):
            return False
        return name in self.modules or names_a_model(name.rsplit(".", 1)[-1])

    def imported_before(self, name: str, line: int) -> bool:
        """Does model/model/names.py surely resolve ``name``, used on ``line``, through an import?  Only
        when its head is imported before that line and never rebound."""
        head = name.partition(".")[0]
        bindings = self.imports.get(head)
        return bool(bindings) and head not in self.stored and min(
            bound for _, bound in bindings) < line

    def resolves(self, name: str, line: int, qualified_names: frozenset[str]) -> bool:
        """Does model/model/names.py surely resolve ``name``, used on ``line``, to one of
        ``qualified_names``?  Only when it is surely imported, always from the same place."""
        if not self.imported_before(name, line):
            return False
        head, _, rest = name.partition(".")
        targets = {target for target, _ in self.imports[head]}
        if len(targets) != 1:
            return False
        target = targets.pop()
        return (f"{target}.{rest}" if rest else target) in qualified_names

    def new_parameter(self, value: ast.AST) -> bool:
        """Is ``value`` surely a new leaf, ``nn.Parameter(...)`` (rebinding to one is fine)?"""
        if type(value) is not ast.Call or len(value.args) > 1 or any(
                k.arg in ("requires_grad", None) for k in value.keywords):
            return False
        name = _dotted(value.func)
        return name is not None and self.resolves(name, value.lineno, PARAMETER)

    def may_hold_tensors(self, held: dict[str, frozenset[str]]) -> set[str]:
        """Names something may bind to a tensor.  model/leaves follows values only through names,
        attributes, calls, operators and subscripts: ``total = 0`` and ``losses = []`` never
        make ``total += loss`` or ``losses[i] = x`` a tensor update."""
        return {name for name, kinds in held.items() if "leaf" in kinds} | {
            name for names, value, _ in self.bindings if type(value) in _TENSOR_SOURCES
            for name in names}

    def may_hold(self) -> dict[str, frozenset[str]]:
        """What each name may hold (see ``_LEAF`` and the kinds after it): a fixed point over
        the module's bindings, flow-insensitive.  Collections and layers are followed apart
        from leaves, as model/leaves does: a loop over ``param_groups`` binds groups, over a
        group's ``["params"]`` or ``.parameters()`` leaves, ``group["lr"] = lr`` updates no
        tensor, and ``m.weight`` is a leaf only when ``m`` may be a layer (made by one of
        ``LAYERS``, a loop over ``.modules()``, the first parameter of a function passed to
        ``X.apply``, or where ``if isinstance(m, ...)`` narrows it)."""
        held: dict[str, frozenset[str]] = {}
        seeds = [(self.marked, _LEAF), (
            [p for f in self.applied if f in self.leading_parameters
             for p in self.leading_parameters[f]], _MODULE)]
        for names, kinds in seeds:
            for name in names:
                if name is not None:
                    held[name] = held.get(name, frozenset()) | kinds
        changed = True
        while changed:
            changed = False
            for names, value, loop in self.bindings:
                kinds = self.kinds(value, held)
                if loop:
                    kinds = frozenset(_ELEMENT[kind] for kind in kinds if kind in _ELEMENT)
                for name in names:
                    old = held.get(name, frozenset())
                    if not kinds <= old:
                        held[name] = old | kinds
                        changed = True
        return held

    def is_leaf(self, name: str, held: dict[str, frozenset[str]], line: int | None = None) -> bool:
        """May ``name`` hold a leaf (on ``line``, or anywhere): bound to one, or
        ``X.weight``/``X.bias`` of a layer ``X``?"""
        if "leaf" in held.get(name, ()):
            return True
        base, _, attribute = name.rpartition(".")
        return attribute in WEIGHTS and ("module" in held.get(base, ()) or any(
            line is None or start <= line <= end for start, end in self.narrowed.get(base, ())))

    def narrow(self, node: ast.If) -> None:
        """Note the names ``if isinstance(name, ...):`` may prove to be layers, and where.
        model/leaves keeps the fact after the ``if`` only when the branches that do not prove it
        end (return, raise...): a chain that ends in ``else`` is taken to do so."""
        end: float = node.body[-1].end_lineno
        chain = node
        while len(chain.orelse) == 1 and type(chain.orelse[0]) is ast.If:
            chain = chain.orelse[0]
        if chain.orelse:
            end = float("inf")
        stack = [node.test]
        while stack:
            child = stack.pop()
            _push_children(child, stack)
            if type(child) is ast.Call and _callee(child.func) == "isinstance" and child.args:
                name = _dotted(child.args[0])
                if name is not None:
                    self.narrowed.setdefault(name, []).append((node.lineno, end))

    def kinds(self, value: ast.AST, held: dict[str, frozenset[str]]) -> frozenset[str]:
        """What ``value`` may evaluate to.  (A subscript of a leaf is no leaf, but is kept as
        one.)"""
        subscripted = type(value) is ast.Subscript
        while type(value) is ast.Subscript:
            value = value.value
        if type(value) is ast.Call:
            last = _callee(value.func)
            if last in self.leaf_calls or any(k.arg == "requires_grad" for k in value.keywords):
                kinds = _LEAF
            elif last in self.collection_calls:
                kinds = _PARAMS
            elif last in MODULE_COLLECTIONS:
                kinds = _MODULES
            elif last in _LAYER_NAMES:
                kinds = _MODULE
            elif last in _WRAPPERS and value.args:
                kinds = self.kinds(value.args[0], held) & (_PARAMS | _GROUPS | _MODULES)
            else:
                kinds = frozenset()
        else:
            name = _dotted(value)
            if name is None:
                return frozenset()
            kinds = held.get(name, frozenset())
            if self.is_leaf(name, held, value.lineno):
                kinds |= _LEAF
            if name.endswith("param_groups"):
                kinds |= _GROUPS
        if subscripted and kinds:  # ``groups[0]`` is a group, ``group["params"]`` leaves
            kinds = (kinds & _LEAF) | (_PARAMS if kinds & (_PARAMS | _GROUPS) else frozenset())
        return kinds


def _recomputes(value: ast.AST, name: str) -> bool:
    """Is ``value`` computed from ``name`` (not a deliberate copy such as ``name.clone()``)?
    As model/leaves decides it."""
    if isinstance(value, ast.Attribute) and value.attr == "data":
        return False
    if isinstance(value, ast.Call) and isinstance(value.func, ast.Attribute) and \
            value.func.attr in COPIES:
        return False
    return _reads(value, name)


def _reads(value: ast.AST, name: str) -> bool:
    stack = [value]
    while stack:
        node = stack.pop()
        if isinstance(node, (ast.Name, ast.Attribute)):
            dotted = _dotted(node)
            if dotted is not None and (dotted == name or dotted.startswith(name + ".")):
                return True
        stack.extend(_children(node))
    return False
