"""The second pre-filter: which rules *could* fire, read from CPython's ``ast`` of the file.

The libcst parse is the cost of linting (about 13x ``ast.parse``), and the textual triggers
let through most files of a PyTorch project (``.weight``, ``val``...).  The engine parses every
such file with ``ast`` anyway (see ``engine.py``), so one cheap walk over that tree collects the
*features* below, and a rule runs only when every feature it declares in ``Rule.features`` is
present.  Each feature is an over-approximation of what the rule's libcst analysis needs to
report anything, never a second implementation of the rule; ``--no-prefilter`` turns both
filters off, and a test checks that the findings are the same on real code.

Features:

``evaluation``  a function named like evaluation code or a loop over ``val``/``test`` data (NG101).
``eval-call``   a ``.eval()`` or ``.train(...)`` call (NG105).
``forward``     a call that may run a model: ``.forward(...)``, ``self(...)``, a callee named like
                a model (``model``, ``self.encoder``...) or one that receives ``.eval()``.
``grad-mode``   a grad-mode API (``no_grad``, ``inference_mode``...) mentioned anywhere.
``grad-mode-with``  a ``with`` item that is such an API not called, or called with arguments.
``grad-mode-statement``  such an API called as a statement with ``False``.
``backward``    a ``.backward(...)`` or ``grad(...)`` call.
``inplace``     an in-place update: augmented or subscript assignment, a ``*_()`` method call,
                an assignment to ``.data``.
``leaf-update`` an in-place update whose tensor may be a leaf: any ``X.weight``/``X.bias``, or a
                name bound anywhere in the module to something that can evaluate to a leaf
                or a collection of leaves (``Parameter(...)``, a call with
                ``requires_grad=``, ``.requires_grad_()``, ``.parameters()``, ``param_groups``,
                ``group["params"]``, ``list(...)`` of one, another such name...), or that
                has ``requires_grad`` set.
``leaf-rebinding``  such a name assigned an expression that reads it.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable

from nograd_lint.config import Config
from nograd_lint.evaluation import EVAL_DATA_WORDS, EVAL_FUNCTION_WORDS, MODEL_WORDS, words
from nograd_lint.leaves import NOT_INPLACE

GRAD_MODE_NAMES = frozenset({"no_grad", "enable_grad", "inference_mode", "set_grad_enabled"})
# Identifiers through which a value can come to hold a leaf (see leaves.py).
_LEAF_CALLS = frozenset({"Parameter", "requires_grad_", "parameters", "named_parameters"})
_LEAF_ATTRIBUTES = frozenset({"weight", "bias", "param_groups"})
_WRAPPERS = frozenset({"list", "tuple", "enumerate"})
_WEIGHTS = frozenset({"weight", "bias"})
_VIEW_OR_DATA = frozenset({"data", "T", "mT"})


def _dotted(node: ast.AST) -> str | None:
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    parts.append(node.id)
    return ".".join(reversed(parts))


_INTERESTING = frozenset({ast.ImportFrom, ast.FunctionDef, ast.AsyncFunctionDef, ast.For,
                          ast.AsyncFor, ast.Call, ast.AugAssign, ast.Assign, ast.AnnAssign,
                          ast.withitem})
_CHILD_FIELDS: dict[type, tuple[str, ...]] = {}


def _walk(tree: ast.AST) -> Iterable[ast.AST]:
    """Every node under ``tree`` (in no particular order), like ``ast.walk`` but about twice as
    fast: child fields are looked up once per node type, and ``Load``/``Store`` markers are
    skipped."""
    stack = [tree]
    while stack:
        node = stack.pop()
        yield node
        kind = type(node)
        fields = _CHILD_FIELDS.get(kind)
        if fields is None:
            fields = _CHILD_FIELDS[kind] = tuple(f for f in kind._fields if f != "ctx")
        for name in fields:
            value = getattr(node, name, None)
            if isinstance(value, list):
                stack.extend(item for item in value if isinstance(item, ast.AST))
            elif isinstance(value, ast.AST):
                stack.append(value)


def _identifiers(node: ast.AST) -> Iterable[str]:
    for child in _walk(node):
        if isinstance(child, ast.Name):
            yield child.id
        elif isinstance(child, ast.Attribute):
            yield child.attr
        elif isinstance(child, ast.keyword) and child.arg:
            yield child.arg


def _written(target: ast.AST) -> str | None:
    """The name an in-place write to ``target`` changes (``w[0]``, ``w.data``, ``w.view(2)``
    and ``w.add_(1)`` all write to ``w``): any call or subscript chain is stripped."""
    while True:
        if isinstance(target, ast.Subscript):
            target = target.value
        elif isinstance(target, ast.Call) and isinstance(target.func, ast.Attribute):
            target = target.func.value
        elif isinstance(target, ast.Attribute) and target.attr in _VIEW_OR_DATA:
            target = target.value
        else:
            return _dotted(target)


def _bound_names(target: ast.AST) -> Iterable[str]:
    name = _dotted(target)
    if name is not None:
        yield name
    elif isinstance(target, (ast.Tuple, ast.List)):
        for element in target.elts:
            yield from _bound_names(element)
    elif isinstance(target, ast.Starred):
        yield from _bound_names(target.value)


def features(tree: ast.Module, config: Config) -> frozenset[str]:
    """The features present in ``tree`` (see the module docstring)."""
    found: set[str] = set()
    patterns = [re.compile(p) for p in config.eval_function_patterns]
    grad_names = set(GRAD_MODE_NAMES)
    mentioned: set[str] = set()  # every name and attribute name
    updated: list[str] = []  # names written in place
    marked: list[str | None] = []  # names given ``requires_grad``
    bindings: list[tuple[list[str], ast.AST]] = []  # (names bound, expression they come from)
    rebound: list[tuple[str, ast.AST]] = []  # (name, the value assigned to it)
    for node in _walk(tree):
        kind = type(node)
        # Names and attributes are most of the nodes: settle them first, cheaply.
        if kind is ast.Name:
            mentioned.add(node.id)
            continue
        if kind is ast.Attribute:
            mentioned.add(node.attr)
            continue
        if kind not in _INTERESTING:
            continue
        if isinstance(node, ast.ImportFrom):
            grad_names.update(a.asname for a in node.names if a.name in GRAD_MODE_NAMES and a.asname)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            if words(node.name) & EVAL_FUNCTION_WORDS or any(p.search(node.name) for p in patterns):
                found.add("evaluation")
        elif isinstance(node, (ast.For, ast.AsyncFor)):
            if any(words(name) & EVAL_DATA_WORDS for name in _identifiers(node.iter)):
                found.add("evaluation")
            bindings.append((list(_bound_names(node.target)), node.iter))
        elif isinstance(node, ast.Call):
            func = node.func
            last = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
            if last is None:
                continue
            if last in ("eval", "train"):
                found.add("eval-call")
                found.add("forward")  # what received .eval() is then called as a model
            if last in ("forward", "self") or words(last) & MODEL_WORDS:
                found.add("forward")
            if last in ("backward", "grad"):
                found.add("backward")
            if isinstance(func, ast.Attribute) and last.endswith("_"):
                if last == "requires_grad_":
                    marked.append(_dotted(func.value))
                elif not last.startswith("_") and last not in NOT_INPLACE:
                    found.add("inplace")
                    updated.append(_written(func.value))
            if last in grad_names and any(isinstance(a, ast.Constant) and a.value is False
                                          for a in [*node.args, *(k.value for k in node.keywords)]):
                found.add("grad-mode-statement")
        elif isinstance(node, ast.AugAssign):
            found.add("inplace")
            updated.append(_written(node.target))
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if node.value is None:
                continue
            for target in targets:
                if isinstance(target, ast.Subscript) or (
                        isinstance(target, ast.Attribute) and target.attr == "data"):
                    found.add("inplace")
                    updated.append(_written(target))
                elif isinstance(target, ast.Attribute) and target.attr == "requires_grad":
                    marked.append(_dotted(target.value))
                else:
                    names = list(_bound_names(target))
                    bindings.append((names, node.value))
                    rebound.extend((name, node.value) for name in names)
        elif isinstance(node, ast.withitem):
            item = node.context_expr
            called = isinstance(item, ast.Call)
            name = _dotted(item.func if called else item)
            if name is not None and name.rsplit(".", 1)[-1] in grad_names and (
                    not called or item.args or item.keywords):
                found.add("grad-mode-with")
    if mentioned & grad_names:
        found.add("grad-mode")

    if "inplace" in found:
        leaves = _may_hold_leaves(bindings, marked)
        if any(name is not None and _is_leaf_like(name, leaves) for name in updated):
            found.add("leaf-update")
        if any(_is_leaf_like(name, leaves) and _reads(value, name) for name, value in rebound):
            found.add("leaf-rebinding")
    elif any(_reads(value, name) for name, value in rebound):
        # A rebinding needs no in-place update: compute the leaves only now.
        leaves = _may_hold_leaves(bindings, marked)
        if any(_is_leaf_like(name, leaves) and _reads(value, name) for name, value in rebound):
            found.add("leaf-rebinding")
    return frozenset(found)


def _is_leaf_like(name: str, leaves: set[str]) -> bool:
    return name in leaves or name.rsplit(".", 1)[-1] in _WEIGHTS


def _may_hold_leaves(bindings: list[tuple[list[str], ast.AST]], marked) -> set[str]:
    """Names that some assignment or loop may make hold a leaf or a collection of leaves: a
    fixed point over the module's bindings, flow-insensitive."""
    leaves = {name for name in marked if name is not None}
    changed = True
    while changed:
        changed = False
        for names, value in bindings:
            if not set(names) <= leaves and _may_be_leaf(value, leaves):
                leaves.update(names)
                changed = True
    return leaves


def _may_be_leaf(value: ast.AST, leaves: set[str]) -> bool:
    """Can ``value`` evaluate to a leaf, or to a collection the analysis takes for leaves?"""
    while isinstance(value, ast.Subscript):
        value = value.value
    if isinstance(value, ast.Call):
        func = value.func
        last = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
        if last in _LEAF_CALLS or any(k.arg == "requires_grad" for k in value.keywords):
            return True
        return last in _WRAPPERS and bool(value.args) and _may_be_leaf(value.args[0], leaves)
    name = _dotted(value)
    return name is not None and (name in leaves or name.rsplit(".", 1)[-1] in _LEAF_ATTRIBUTES)


def _dotted_names(node: ast.AST) -> set[str]:
    return {name for child in _walk(node) if isinstance(child, (ast.Name, ast.Attribute))
            for name in [_dotted(child)] if name is not None}


def _reads(value: ast.AST, name: str) -> bool:
    return any(d == name or d.startswith(name + ".") for d in _dotted_names(value))
