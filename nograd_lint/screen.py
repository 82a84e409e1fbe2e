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
``grad-mode``     a grad-mode API (``no_grad``, ``inference_mode``...) mentioned anywhere.
``grad-mode-with``  a ``with`` item that is such an API not called, or called with arguments.
``grad-mode-statement``  such an API called with ``False``.
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

Grad mode follows grad_regions.py.  Gradients *may be on* unless the innermost grad-mode
``with`` item or decorator of the function is torch's ``no_grad`` or ``inference_mode()``
(resolved from the imports the way names.py does) and the function has no
``set_grad_enabled`` call.  They *may be off* under any grad-mode ``with`` or decorator, in a
function with a ``set_grad_enabled`` call, in a lambda, and in a function all of whose calls
in the module (``f(...)``, ``self.f(...)``, passing ``f`` along) are where they may be off.

Names imported under another name (``from torch import no_grad as ng``) are found with a
textual scan for ``<name> as <alias>``, so that the walk's order does not matter.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable
from typing import NamedTuple, Optional

from nograd_lint.config import Config
from nograd_lint.vocabulary import (
    COPIES, EVAL_DATA_WORDS, EVAL_FUNCTION_WORDS, GRAD_MODE_NAMES, INFERENCE_MODE, NO_GRAD,
    PARAMETER,
    is_inplace_method, is_test_file, names_a_model, words,
)

# Identifiers through which a value can come to hold a leaf (see leaves.py).
_LEAF_CALLS = frozenset({"Parameter", "requires_grad_", "parameters", "named_parameters"})
_LEAF_ATTRIBUTES = frozenset({"weight", "bias", "param_groups"})
_WRAPPERS = frozenset({"list", "tuple", "enumerate"})
_WEIGHTS = frozenset({"weight", "bias"})
_VIEW_OR_DATA = frozenset({"data", "T", "mT"})
_SET_GRAD_ENABLED = frozenset({"set_grad_enabled"})
_TENSOR_SOURCES = frozenset({ast.Name, ast.Attribute, ast.Call, ast.BinOp, ast.UnaryOp,
                             ast.Subscript})
_BACKWARD = frozenset({"backward", "grad"})
_VARIABLE = frozenset({"Variable"})
# ``name as alias``, with the blanks, line continuations and comments a parenthesised import
# may hold between the words: the ``as`` and alias first (a fast literal scan), then the name
# before it.
_GAP = r"(?:[\s\\]|#[^\n]*)"
_ALIAS = {str: (re.compile(rf"[\s\\]as{_GAP}+(\w+)"), re.compile(rf"(\w+){_GAP}*\Z"))}
_ALIAS[bytes] = tuple(re.compile(pattern.pattern.encode()) for pattern in _ALIAS[str])


def features(tree: ast.Module, source: str | bytes, path: str, config: Config) -> frozenset[str]:
    """The features present in ``tree``, parsed from ``source`` (see the module docstring)."""
    return _Screen(source, path, config).run(tree)


def _dotted(node: ast.AST) -> str | None:
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    parts.append(node.id)
    return ".".join(reversed(parts))


def _callee(func: ast.AST) -> str | None:
    """The last part of a callee's name: ``f`` for ``f(...)`` and ``a.b.f(...)``."""
    kind = type(func)
    if kind is ast.Attribute:
        return func.attr
    if kind is ast.Name:
        return func.id
    return None


# Fields that never hold a node the screen looks into: identifiers, numbers, ``Load``/``Store``,
# import aliases (read from the Import node itself).
_LEAF_FIELDS = frozenset({"ctx", "id", "attr", "name", "arg", "module", "level", "names",
                          "asname", "kind", "type_comment", "conversion", "is_async", "simple",
                          "tag", "kwd_attrs", "rest"})
_CHILD_FIELDS: dict[type, tuple[str, ...]] = {ast.Constant: (), ast.MatchSingleton: ()}


def _child_fields(kind: type) -> tuple[str, ...]:
    fields = _CHILD_FIELDS.get(kind)
    if fields is None:  # anything without ``_fields`` (None in ``Dict.keys``) has no children
        fields = _CHILD_FIELDS[kind] = tuple(
            f for f in getattr(kind, "_fields", ()) if f not in _LEAF_FIELDS)
    return fields


def _push_children(node: ast.AST, stack: list) -> None:
    for name in _child_fields(type(node)):
        value = getattr(node, name)
        if type(value) is list:
            stack.extend(value)
        elif value is not None:
            stack.append(value)


def _children(node: ast.AST) -> list[ast.AST]:
    found: list = []
    _push_children(node, found)
    return found


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
    subscript is stripped, more than leaves.py strips, so that every site it sees is seen."""
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

    __slots__ = ("key", "evals", "forwards", "callees", "inplace", "backward", "sets_grad")

    def __init__(self, key: tuple[ast.ClassDef | None, str] | None = None) -> None:
        # How grad_regions.py finds the function's callers: (its class if it is a method,
        # its name); None for the module and for lambdas.
        self.key = key
        self.evals = self.backward = False
        self.inplace: list[str] = []  # names written in place, not through ``.data``
        # A ``set_grad_enabled(...)`` call: as a statement it switches grad mode for the rest
        # of its block, whatever ``with`` surrounds it.
        self.sets_grad = False
        # Calls that may run a model, and calls of names that might receive .eval() (known
        # only at the end), each with the grad-mode disabler around it.
        self.forwards: list[Disabler] = []
        self.callees: list[tuple[ast.AST, Disabler]] = []


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
                      ast.Assign, ast.AnnAssign, ast.Import, ast.ImportFrom})


class _Screen:
    def __init__(self, source: str | bytes, path: str, config: Config) -> None:
        self.config, self.path = config, path
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
        # Where each function may be called (as grad_regions.py matches calls to functions):
        # function key -> [(grad frame, disabler) of each call or passing as an argument].
        self.calls: dict[tuple[ast.ClassDef | None, str], list[tuple[_Frame, Disabler]]] = {}
        self.disabled_functions: set[tuple[ast.ClassDef | None, str]] = set()  # see settle()
        # As in _Frame, for evaluation regions: (frame, disabler), (frame, callee, disabler).
        self.eval_forwards: list[tuple[_Frame, Disabler]] = []
        self.eval_callees: list[tuple[_Frame, ast.AST, Disabler]] = []
        # In-place writes: (name written, through .data, grad frame, disabler).
        self.sites: list[tuple[str, bool, _Frame, Disabler]] = []
        self.backwards: list[tuple[_Frame, Disabler]] = []  # backward calls
        self.marked: list[str | None] = []  # names given ``requires_grad``
        self.bindings: list[tuple[list[str], ast.AST]] = []  # (names bound, what they get)
        # (name, the value assigned to it, grad frame, disabler)
        self.rebound: list[tuple[str, ast.AST, _Frame, Disabler]] = []

        self.grad_mode_names = self.known_as(GRAD_MODE_NAMES)
        self.backward_names = self.known_as(_BACKWARD)
        self.variable_names = self.known_as(_VARIABLE)
        self.set_grad_names = self.known_as(_SET_GRAD_ENABLED)
        self.leaf_calls = self.known_as(_LEAF_CALLS)

    def known_as(self, names: frozenset[str]) -> frozenset[str]:
        """``names`` and the names they are imported as (``from torch import no_grad as ng``)."""
        return names | {alias for alias, imported in self.aliases.items()
                        if not names.isdisjoint(imported)}

    # ------------------------------------------------------------------ the walk
    def run(self, tree: ast.Module) -> frozenset[str]:
        module = _Frame()
        self.frames.append(module)
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
                frame = _Frame((context.klass if context.in_class_body else None, node.name))
                self.frames.append(frame)
                disabler = None
                for decorator in node.decorator_list:
                    disabler = self.grad_mode_item(decorator) or disabler
                context = context._replace(
                    frame=frame, grad_frame=frame, in_class_body=False, in_eval_loop=False,
                    in_eval_function=context.in_eval_function or self.is_eval_function(node.name),
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
                self.bindings.append((list(_bound_names(node.target)), node.iter))
                if not context.in_eval_loop and any(words(name) & EVAL_DATA_WORDS
                                                    for name in _identifiers(node.iter)):
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
        if name.startswith("test") and is_test_file(self.path):
            return False  # a pytest test runs models however it needs to
        return bool(words(name) & EVAL_FUNCTION_WORDS) or any(p.search(name) for p in self.patterns)

    def call(self, node: ast.Call, context: _Context) -> None:
        func = node.func
        frame, disabler = context.frame, context.disabler
        for expression in (func, *node.args, *(k.value for k in node.keywords)):
            # Called, or passed along (``model.apply(init)``): grad_regions.py takes a function
            # to run right here.
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
        elif (method and last == "forward") or last == "self" or names_a_model(last):
            frame.forwards.append(disabler)
            if in_eval_region:
                self.eval_forwards.append((context.grad_frame, disabler))
        else:
            frame.callees.append((func, disabler))
            if in_eval_region:
                self.eval_callees.append((context.grad_frame, func, disabler))
        if last in self.backward_names:
            frame.backward = True
            self.backwards.append((context.grad_frame, disabler))
        if method and last == "requires_grad_":
            self.marked.append(_dotted(func.value))
        elif method and is_inplace_method(last):
            self.inplace(func.value, context)
        if last in self.grad_mode_names:
            arguments = [*node.args, *(k.value for k in node.keywords)]
            if any(isinstance(a, ast.Constant) and a.value is False for a in arguments):
                self.found.add("grad-mode-statement")
            if last in self.set_grad_names:
                context.grad_frame.sets_grad = True
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

    def with_item(self, item: ast.AST) -> None:
        called = isinstance(item, ast.Call)
        name = _dotted(item.func if called else item)
        if name is not None and name.rsplit(".", 1)[-1] in self.grad_mode_names and (
                not called or item.args or item.keywords):
            self.found.add("grad-mode-with")

    def inplace(self, target: ast.AST, context: _Context) -> None:
        name, through_data = _written(target)
        if name is None:
            return
        if not through_data:
            context.frame.inplace.append(name)
        self.sites.append((name, through_data, context.grad_frame, context.disabler))

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
                self.bindings.append((names, value))
                self.rebound.extend((name, value, context.grad_frame, context.disabler)
                                    for name in names)

    @staticmethod
    def _targets(node: ast.Assign | ast.AnnAssign) -> list[ast.AST]:
        return node.targets if isinstance(node, ast.Assign) else [node.target]

    def imported(self, node: ast.Import | ast.ImportFrom) -> None:
        """Record what the import binds, as names.py's ImportResolver reads it."""
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
        for module in self.config.torch_modules:
            if module and module != "torch" and (target == module or target.startswith(module + ".")):
                target = "torch" + target[len(module):]
                break
        self.imports.setdefault(local, []).append((target, line))

    # ------------------------------------------------------------------ after the walk
    def settle(self) -> frozenset[str]:
        found = self.found
        if not self.mentioned.isdisjoint(self.grad_mode_names):
            found.add("grad-mode")
        self.disabled_functions = self.functions_maybe_called_without_grad()
        if any(self.may_disable(frame, d) for frame, d in self.backwards):
            found.add("backward-without-grad")
        if any(self.may_have_grad(frame, d) for frame, d in self.eval_forwards) or any(
                self.may_have_grad(frame, d) and _dotted(f) in self.modules
                for frame, f, d in self.eval_callees):
            found.add("eval-forward")
        leaves = self.may_hold_leaves()
        tensors = self.may_hold_tensors(leaves)
        for frame in self.frames:
            if frame.evals and (any(self.may_have_grad(frame, d) for d in frame.forwards) or any(
                    self.may_have_grad(frame, d) and _dotted(f) in self.modules
                    for f, d in frame.callees)):
                found.add("forward-after-eval")
            if frame.backward and any(name in tensors or _is_leaf_like(name, leaves)
                                      for name in frame.inplace):
                found.add("saved-update")
        for name, through_data, frame, disabler in self.sites:
            if not _is_leaf_like(name, leaves):
                continue
            if through_data:
                found.add("leaf-data-update")
            elif self.may_have_grad(frame, disabler):
                found.add("leaf-update")
        if any(_is_leaf_like(name, leaves) and self.may_disable(frame, disabler)
               and _recomputes(value, name) and not self.new_parameter(value)
               for name, value, frame, disabler in self.rebound):
            found.add("leaf-rebinding")
        return frozenset(found)

    def functions_maybe_called_without_grad(self) -> set[tuple[ast.ClassDef | None, str]]:
        """The functions grad_regions.py may take to run with gradients off: those whose every
        call site may have them off.  Its greatest fixed point, over-approximated: escapes
        (a function stored or returned) are not followed, and lambdas may be anything."""
        disabled = self.disabled_functions = set(self.calls)  # may_disable reads it
        changed = True
        while changed:
            changed = False
            for key in list(disabled):
                if not all(self.may_disable(frame, d) for frame, d in self.calls[key]):
                    disabled.discard(key)
                    changed = True
        return disabled

    def may_disable(self, frame: _Frame, disabler: Disabler) -> bool:
        """Can gradients be off in ``frame`` where ``disabler`` is in force?  Only through a
        grad-mode API around it, a ``set_grad_enabled`` statement, inside a lambda, or through
        callers that may all have them off."""
        return (disabler is not None or frame.sets_grad or frame is self.lambdas
                or frame.key in self.disabled_functions)

    def may_have_grad(self, frame: _Frame, disabler: Disabler) -> bool:
        """Can gradients be enabled in ``frame`` where ``disabler`` is the innermost grad-mode
        ``with`` or decorator?  Not when it is torch's ``no_grad``/``inference_mode()``, as
        names.py resolves names, and no ``set_grad_enabled`` statement in the frame can
        switch gradients back on."""
        if disabler is None or frame.sets_grad:
            return True
        if self.resolves(disabler.name, disabler.line, NO_GRAD):
            return False
        return disabler.called_with_arguments or not self.resolves(
            disabler.name, disabler.line, INFERENCE_MODE)

    def resolves(self, name: str, line: int, qualified_names: frozenset[str]) -> bool:
        """Does names.py surely resolve ``name``, used on ``line``, to one of
        ``qualified_names``?  Only when its head is imported before that line, always from
        the same place, and never rebound."""
        head, _, rest = name.partition(".")
        bindings = self.imports.get(head)
        if not bindings or head in self.stored or min(bound for _, bound in bindings) >= line:
            return False
        targets = {target for target, _ in bindings}
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

    def may_hold_tensors(self, leaves: set[str]) -> set[str]:
        """Names something may bind to a tensor.  leaves.py follows values only through names,
        attributes, calls, operators and subscripts: ``total = 0`` and ``losses = []`` never
        make ``total += loss`` or ``losses[i] = x`` a tensor update."""
        return leaves | {name for names, value in self.bindings if type(value) in _TENSOR_SOURCES
                         for name in names}

    def may_hold_leaves(self) -> set[str]:
        """Names that some assignment or loop may make hold a leaf or a collection of leaves: a
        fixed point over the module's bindings, flow-insensitive."""
        leaves = {name for name in self.marked if name is not None}
        changed = True
        while changed:
            changed = False
            for names, value in self.bindings:
                if not set(names) <= leaves and self.may_be_leaf(value, leaves):
                    leaves.update(names)
                    changed = True
        return leaves

    def may_be_leaf(self, value: ast.AST, leaves: set[str]) -> bool:
        """Can ``value`` evaluate to a leaf, or to a collection the analysis takes for leaves?"""
        while isinstance(value, ast.Subscript):
            value = value.value
        if isinstance(value, ast.Call):
            last = _callee(value.func)
            if last in self.leaf_calls or any(
                    k.arg == "requires_grad" for k in value.keywords):
                return True
            return last in _WRAPPERS and bool(value.args) and self.may_be_leaf(value.args[0], leaves)
        name = _dotted(value)
        return name is not None and (name in leaves or name.rsplit(".", 1)[-1] in _LEAF_ATTRIBUTES)


def _is_leaf_like(name: str, leaves: set[str]) -> bool:
    """A name bound to a possible leaf, or ``X.weight``/``X.bias`` of any ``X``."""
    return name in leaves or "." in name and name.rsplit(".", 1)[-1] in _WEIGHTS


def _recomputes(value: ast.AST, name: str) -> bool:
    """Is ``value`` computed from ``name`` (not a deliberate copy such as ``name.clone()``)?
    As leaves.py decides it."""
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
