"""Escape analysis for NG106: can a ``no_grad`` block become ``inference_mode``?

Under ``inference_mode`` every tensor a block creates is an *inference tensor*.  Inside the block
that changes nothing; outside it such a tensor raises ``Inference tensors cannot be saved for
backward`` when an op recording a graph saves it, ``Inplace update to inference tensor outside
InferenceMode is not allowed`` when it is updated in place, and ``Setting requires_grad=True on
inference tensor outside InferenceMode`` when it is made a leaf.  A block may migrate only when
no value it makes can reach such a place, so the analysis follows every value the block makes:

* **Seeds.**  Every name bound inside the block (assignment, loop variable, ``with ... as``) to a
  value that is not plainly a Python number, string or NumPy value (``.item()``, ``.tolist()``,
  ``len()``...), every local container (``preds = []``) that such a value is stored into
  (``preds.append(out)``, ``table[k] = out``), and the results of calls to a function that
  returns such a value, when all its callers are known (a nested or ``_private`` function that
  is only ever called directly).
* **Uses.**  Every later use of a seed, in its scope and in nested functions that read it, is
  followed upwards through the expression that consumes it.  Views, casts, containers,
  comprehension and loop variables and assignments carry the value on; ``.item()``,
  ``.tolist()``, ``.numpy()``, metadata (``.shape``), comparisons, conditions, printing,
  f-strings, logging calls and NumPy/math functions end it safely.
* **Escapes** (the block is not migrated): (a) an op under grad mode that combines the value
  with anything that might require grad (any operand that is not a number, a value of the same
  block, or the value itself), a call of anything else with it outside inference mode (a model
  in training code, a helper), ``requires_grad_()``/``backward()`` on it, or calling an object
  built in the block; (b) an in-place update outside inference mode: ``x += ...``,
  ``x[i] = ...``, ``x.add_(...)``, ``out=x``; (c) a store into anything that outlives what the
  analysis sees: attributes (``self.x = ...``, ``p.data = ...``), globals and nonlocals, class
  bodies, containers that are not local, ``register_buffer``, ``setattr``, returning it from a
  function whose callers are not all known, yielding it, raising it, a lambda returning it.
  Any use the analysis does not recognise counts as an escape.

A block is also never proposed when it is not inference code: it updates state that comes from
outside it (``p.add_(...)`` on parameters, EMA updates, weight initialisation,
``optimizer.step()``, ``model.apply(...)``, ``load_state_dict``), calls one of this module's
functions that stores or updates such state, re-enables gradients inside itself, or calls
``backward``.  Calls inside the block to code the module cannot see (``model(x)``) are taken not
to keep their arguments, unless the module registers forward hooks or defines a ``forward`` that
stores values.

Values are followed by name, not by statement order, so a name bound in the block is tainted
everywhere in its scope (over-approximating is safe); uses that precede the block in the same
scope with no loop around both are skipped, since they cannot see its values.  Module-level
names are followed through this module only: another module importing them is not seen.

Everything is recorded during the engine's single traversal; the judgement runs afterwards, when
NG106 asks for :meth:`EscapeAnalysis.candidates`.
"""

from __future__ import annotations

import builtins
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, Iterator

from nograd_lint import libcst as cst

from nograd_lint.model.grad_mode import Grad, GradRegions, Where
from nograd_lint.model.layers import Layer
from nograd_lint.model.names import ImportResolver, dotted_name
from nograd_lint.tree import children
from nograd_lint.syntax import keyword_value
from nograd_lint.vocabulary import NO_GRAD, VIEW_ATTRIBUTES, VIEW_METHODS, is_inplace_method, returns_receiver

if TYPE_CHECKING:
    from nograd_lint.context import ModuleContext

# ----------------------------------------------------------------------------- vocabulary

#: Methods whose result is a Python value (or NumPy array): the tensor's use ends there.
CONVERSION_METHODS = frozenset({
    "item", "tolist", "numpy", "size", "dim", "ndimension", "numel", "nelement", "element_size",
    "is_inference", "is_floating_point", "is_complex", "is_contiguous", "equal", "allclose",
    "get_device", "data_ptr", "stride", "storage_offset", "__len__", "__bool__", "__float__",
    "__int__", "__format__", "__repr__", "__str__",
})
#: Methods with results that nothing can differentiate (comparisons, indices): safe consumers.
NONDIFFERENTIABLE_METHODS = frozenset({
    "eq", "ne", "lt", "le", "gt", "ge", "isclose", "isnan", "isinf", "isfinite", "any", "all",
    "argmax", "argmin", "argsort", "nonzero", "count_nonzero", "__eq__", "__ne__", "__lt__",
    "__le__", "__gt__", "__ge__",
})
NONDIFFERENTIABLE_FUNCTIONS = frozenset(f"torch.{name}" for name in (
    "eq", "ne", "lt", "le", "gt", "ge", "isclose", "isnan", "isinf", "isfinite", "any", "all",
    "argmax", "argmin", "argsort", "nonzero", "count_nonzero", "equal", "allclose", "is_tensor",
    "numel", "save", "is_inference", "is_floating_point",
))
#: Attributes that are metadata, not tensor data.
METADATA_ATTRIBUTES = frozenset({
    "shape", "dtype", "device", "ndim", "requires_grad", "is_leaf", "grad_fn", "is_cuda",
    "layout", "is_sparse", "is_quantized", "is_meta", "names",
})
#: Methods that may return their receiver or a view of it (so they keep its identity), besides
#: every ``*_`` method: the views, and casts and copies that return the tensor itself when
#: nothing changes.
KEEPS_IDENTITY = VIEW_METHODS | frozenset({
    "reshape", "reshape_as", "to", "cpu", "cuda", "float", "double", "half", "bfloat16", "long",
    "int", "short", "bool", "byte", "char", "type", "type_as", "contiguous", "detach",
    "flatten", "chunk", "split", "unbind", "movedim", "swapaxes", "pin_memory", "__getitem__",
})
VIEW_FUNCTIONS = frozenset(f"torch.{name}" for name in (
    "squeeze", "unsqueeze", "flatten", "reshape", "transpose", "permute", "t", "narrow", "select",
    "chunk", "split", "unbind", "as_strided", "detach", "diagonal", "movedim", "swapaxes",
))
#: Methods of a tensor whose other arguments are sizes, dims, dtypes or devices, never tensors
#: that autograd would save: a value of the block passes through them unchanged in kind.
NO_SAVE_METHODS = KEEPS_IDENTITY | frozenset({
    "clone", "sum", "mean", "max", "min", "amax", "amin", "prod", "std", "var", "norm",
    "softmax", "log_softmax", "topk", "sort", "cumsum", "abs", "exp", "log", "sqrt", "sigmoid",
    "tanh", "relu", "neg", "round", "floor", "ceil", "sign", "flip", "roll", "repeat", "tril",
    "triu", "diag", "unique", "squeeze", "items", "values", "keys", "get", "pop", "copy",
    "index", "count",
})
#: Methods that store their arguments in the receiver (a container).
STORING_METHODS = frozenset({
    "append", "extend", "insert", "appendleft", "extendleft", "setdefault", "put", "put_nowait",
    "push",
})
#: Methods that update state the block did not make: parameter updates, optimizer steps,
#: initialisation, state loading.  ``update`` on a local dict is a container store instead.
STATE_METHODS = frozenset({
    "step", "apply", "load_state_dict", "zero_grad", "update", "update_parameters",
    "reset_parameters", "register_buffer", "register_parameter",
})
#: Methods that hand a tensor to autograd.
AUTOGRAD_METHODS = frozenset({"backward", "requires_grad_", "retain_grad", "register_hook"})
AUTOGRAD_FUNCTIONS = frozenset({"torch.autograd.grad", "torch.autograd.backward"})
#: Methods of loggers, progress bars and summary writers: they print or convert what they get.
LOGGING_METHODS = frozenset({
    "info", "debug", "warning", "warn", "error", "critical", "exception", "log", "write",
    "add_scalar", "add_scalars", "add_histogram", "add_text", "set_postfix", "set_postfix_str",
    "set_description",
})
#: Tensor methods that take another tensor as an argument.
TENSOR_ARGUMENT_METHODS = frozenset({
    "add", "sub", "mul", "div", "true_divide", "matmul", "mm", "bmm", "dot", "mv", "pow",
    "lerp", "addcmul", "addcdiv", "where", "masked_fill", "index_select", "gather", "scatter",
    "index_add", "maximum", "minimum", "fmax", "fmin", "outer", "cross",
})
SHAPE_ARGUMENT_METHODS = frozenset({"expand_as", "view_as", "reshape_as", "type_as", "new_tensor"})
#: Builtins whose result is a Python value.
PLAIN_BUILTINS = frozenset({
    "len", "int", "float", "bool", "str", "repr", "format", "range", "isinstance", "issubclass",
    "type", "id", "hash", "print", "callable", "hasattr", "ord", "chr",
})
#: Builtins whose result carries the argument's tensors on.
PASSING_BUILTINS = frozenset({
    "list", "tuple", "set", "frozenset", "dict", "iter", "next", "enumerate", "zip", "reversed",
    "sorted", "sum", "max", "min", "abs", "round", "map", "filter",
})
CONTAINER_BUILTINS = frozenset({"list", "dict", "set"})
CONTAINER_FACTORIES = frozenset({"collections.defaultdict", "collections.OrderedDict",
                                 "collections.deque", "collections.Counter"})
#: Libraries that turn a tensor into their own values: using a tensor with them is safe.
NUMERIC_MODULES = frozenset({"math", "numpy", "statistics", "sklearn", "scipy"})
#: Methods every tensor has: calling them inside the block runs no code of the program's own.
KNOWN_TENSOR_METHODS = (CONVERSION_METHODS | NONDIFFERENTIABLE_METHODS | NO_SAVE_METHODS
                        | TENSOR_ARGUMENT_METHODS | SHAPE_ARGUMENT_METHODS)
HOOK_METHODS = frozenset({"register_forward_hook", "register_forward_pre_hook",
                          "register_full_backward_hook", "register_backward_hook"})
_BUILTINS = frozenset(dir(builtins))

# By class name: libcst is loaded only once a file needs it (see nograd_lint/__init__.py).
_LITERALS = frozenset({"Integer", "Float", "Imaginary", "SimpleString", "ConcatenatedString",
                       "FormattedString"})
_CONTAINER_LITERALS = frozenset({"List", "Dict", "Set", "ListComp", "DictComp", "SetComp"})
_NEW_VALUES = _LITERALS | _CONTAINER_LITERALS | {"BinaryOperation", "UnaryOperation", "Tuple",
                                                 "GeneratorExp"}


def _keeps_identity(method: str) -> bool:
    """May ``x.method(...)`` return ``x`` itself or a view of it?"""
    return method in KEEPS_IDENTITY or returns_receiver(method)


def _method(call: cst.Call) -> str | None:
    return call.func.attr.value if isinstance(call.func, cst.Attribute) else None


def _root(expression: cst.BaseExpression) -> cst.BaseExpression:
    """``x`` for ``x``, ``x[i]``, ``x.data``, ``x.view(-1)``: the object an update reaches."""
    while True:
        if isinstance(expression, cst.Subscript):
            expression = expression.value
        elif isinstance(expression, cst.Attribute) and expression.attr.value in VIEW_ATTRIBUTES:
            expression = expression.value
        elif isinstance(expression, cst.Call) and isinstance(expression.func, cst.Attribute) and (
                _keeps_identity(expression.func.attr.value)):
            expression = expression.func.value
        else:
            return expression


def _gradient_step(name: str, value: cst.BaseExpression | None) -> bool:
    """``w - lr * w.grad``: a value computed from ``name`` and a ``.grad`` (an update step)."""
    mentions = reads_grad = False
    stack = [value] if value is not None else []
    while stack:
        node = stack.pop()
        if isinstance(node, cst.Name) and node.value == name:
            mentions = True
        elif isinstance(node, cst.Attribute) and node.attr.value == "grad":
            reads_grad = True
        stack.extend(children(node))
    return mentions and reads_grad


def _target_names(target: cst.BaseExpression) -> Iterator[cst.BaseExpression]:
    """The simple targets of an assignment target: names, attributes, subscripts."""
    if isinstance(target, (cst.Tuple, cst.List)):
        for element in target.elements:
            yield from _target_names(element.value)
    elif isinstance(target, cst.StarredElement):
        yield from _target_names(target.value)
    else:
        yield target


def _operands(call: cst.Call) -> Iterator[cst.BaseExpression]:
    """A call's argument values, with list and tuple displays opened (``torch.cat([a, b])``)."""
    for arg in call.args:
        if isinstance(arg.value, (cst.List, cst.Tuple)):
            yield from (element.value for element in arg.value.elements)
        else:
            yield arg.value


# ----------------------------------------------------------------------------- records


@dataclass(eq=False)
class Candidate:
    """A ``with torch.no_grad():`` block or a ``@torch.no_grad()`` function."""

    node: cst.With | cst.FunctionDef
    manager: cst.BaseExpression  # ``torch.no_grad()`` in the with item / decorator, or bare
    scope: _Scope  # where the names bound in the block live
    loops: tuple[cst.CSTNode, ...]  # loops of that scope around the block
    start: int = 0  # traversal order where the block's body begins
    events: list[_Event] = field(default_factory=list)  # what happens in the body
    reason: str | None = None  # why it must stay no_grad; None once judged safe


@dataclass(eq=False)
class _Event:
    kind: str  # use | bind | store | call | return | yield
    node: cst.CSTNode  # the Name used or bound, the store target, the Call, the Return/Yield
    scope: _Scope
    where: Where
    context: tuple  # (open candidates of the scope, loops of the scope) when it happened
    order: int
    value: cst.BaseExpression | None = None  # assigned / stored / returned value
    how: str = ""  # bind: assign | augassign | for | as | walrus | def | import | param;
    #                store: assign | augassign; call: its qualified name


@dataclass(eq=False)
class _Scope:
    node: cst.CSTNode | None  # FunctionDef, Lambda, ClassDef; None for the module
    parent: _Scope | None
    children: list[_Scope] = field(default_factory=list)
    bound: set[str] = field(default_factory=set)
    declared: set[str] = field(default_factory=set)  # global / nonlocal
    bindings: dict[str, list[_Event]] = field(default_factory=dict)
    uses: dict[str, list[_Event]] = field(default_factory=dict)
    events: list[_Event] = field(default_factory=list)  # stores, calls, returns, bindings
    open: list[Candidate] = field(default_factory=list)
    loops: list[cst.CSTNode] = field(default_factory=list)
    context: tuple = ((), ())

    @property
    def is_class(self) -> bool:
        return isinstance(self.node, cst.ClassDef)

    @property
    def is_function(self) -> bool:
        return isinstance(self.node, (cst.FunctionDef, cst.Lambda))

    def refresh(self) -> None:
        self.context = (tuple(self.open), tuple(self.loops))


class _Unsafe(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


# ----------------------------------------------------------------------------- traversal


class EscapeAnalysis(Layer):
    """The traversal participant; :meth:`candidates` judges every block afterwards."""

    requires = (ImportResolver, GradRegions)

    def __init__(self, context: ModuleContext) -> None:
        self.names, self.model, self.grad = context.names, context.model, context.grad
        self.module_scope = _Scope(None, None)
        self._scope = self.module_scope
        self._stack: list[cst.CSTNode] = []
        self.parent: dict[cst.CSTNode, cst.CSTNode] = {}
        self._not_loads: set[cst.Name] = set()
        self._bodies: dict[cst.CSTNode, Candidate] = {}
        self._candidates: list[Candidate] = []
        self._judged = False
        self.scope_of: dict[cst.CSTNode, _Scope] = {}  # FunctionDef/Lambda/ClassDef -> scope
        self.call_events: dict[cst.Call, _Event] = {}
        self.attribute_refs: dict[str, list[cst.Attribute]] = {}
        self.registers_hooks = False
        self._summaries: dict[cst.FunctionDef, str | None] = {}
        self._forward_stores: str | None | bool = False  # False: not computed yet

    # ------------------------------------------------------------------ recording helpers
    def _push(self, node: cst.CSTNode) -> None:
        if self._stack:
            self.parent[node] = self._stack[-1]
        self._stack.append(node)

    def _pop(self, node: cst.CSTNode) -> None:
        self._stack.pop()

    def _event(self, kind: str, node: cst.CSTNode, value: cst.BaseExpression | None = None,
               how: str = "", scope: _Scope | None = None) -> _Event:
        scope = scope or self._scope
        event = _Event(kind, node, scope, self.grad.where(), scope.context, self.model.index, value,
                       how)
        for candidate in scope.context[0]:
            candidate.events.append(event)
        if kind != "use":
            scope.events.append(event)
        return event

    def _bind(self, target: cst.BaseExpression, value: cst.BaseExpression | None, how: str) -> None:
        if (how == "assign" and isinstance(target, (cst.Tuple, cst.List))
                and isinstance(value, (cst.Tuple, cst.List))
                and len(target.elements) == len(value.elements)
                and not any(isinstance(e, cst.StarredElement)
                            for e in (*target.elements, *value.elements))):
            # ``a, b = [], {}``: each name gets its own value.
            for left, right in zip(target.elements, value.elements):
                self._bind(left.value, right.value, how)
            return
        for simple in _target_names(target):
            if isinstance(simple, cst.Name):
                self._bind_name(simple, value, how)
            elif isinstance(simple, (cst.Attribute, cst.Subscript)):
                self._event("store", simple, value, "augassign" if how == "augassign" else "assign")

    def _bind_name(self, name: cst.Name, value: cst.BaseExpression | None, how: str,
                   scope: _Scope | None = None) -> None:
        scope = scope or self._scope
        if how != "augassign":  # the target of ``x += 1`` is read too: it stays a use
            self._not_loads.add(name)
        scope.bound.add(name.value)
        event = self._event("bind", name, value, how, scope)
        scope.bindings.setdefault(name.value, []).append(event)

    def _enter_scope(self, node: cst.CSTNode) -> None:
        scope = _Scope(node, self._scope)
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
        self._not_loads.add(node.name)
        self._bind_name(node.name, None, "def")
        manager = next((d.decorator for d in node.decorators if self._is_no_grad(d.decorator)),
                       None)
        self._enter_scope(node)
        if manager is not None and node.asynchronous is None:
            self._candidate(node, manager, node.body)

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
        self._not_loads.add(node.name)
        self._bind_name(node.name, None, "def")
        self._enter_scope(node)

    def leave_ClassDef(self, node: cst.ClassDef) -> None:
        self._leave_scope()
        self._pop(node)

    def visit_Param(self, node: cst.Param) -> None:
        self._bind_name(node.name, None, "param")

    def visit_Global(self, node: cst.Global) -> None:
        for item in node.names:
            self._not_loads.add(item.name)
            self._scope.declared.add(item.name.value)

    visit_Nonlocal = visit_Global

    def _import(self, names) -> None:
        if isinstance(names, cst.ImportStar):
            return
        for alias in names:
            for name in _names_in(alias.name):
                self._not_loads.add(name)
            if alias.asname is not None and isinstance(alias.asname.name, cst.Name):
                self._bind_name(alias.asname.name, None, "import")
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
            self._not_loads.update(_names_in(node.module))
        self._import(node.names)

    # ------------------------------------------------------------------ blocks and loops
    def _is_no_grad(self, expression: cst.BaseExpression) -> bool:
        if isinstance(expression, cst.Call):
            return not expression.args and self.names.qualified_name(expression.func) in NO_GRAD
        return self.names.qualified_name(expression) in NO_GRAD

    def _candidate(self, node, manager, body) -> None:
        candidate = Candidate(node, manager, self._scope, tuple(self._scope.loops))
        self._candidates.append(candidate)
        self._bodies[body] = candidate

    def visit_With(self, node: cst.With) -> None:
        self._push(node)
        if node.asynchronous is None:
            for item in node.items:
                if isinstance(item.item, cst.Call) and self._is_no_grad(item.item):
                    self._candidate(node, item.item, node.body)
                    break

    def _enter_block(self, node: cst.BaseSuite) -> None:
        self._push(node)
        candidate = self._bodies.get(node)
        if candidate is not None:
            candidate.start = self.model.index
            self._scope.open.append(candidate)
            self._scope.refresh()

    def _leave_block(self, node: cst.BaseSuite) -> None:
        if node in self._bodies:
            self._scope.open.remove(self._bodies[node])
            self._scope.refresh()
        self._pop(node)

    visit_IndentedBlock = visit_SimpleStatementSuite = _enter_block
    leave_IndentedBlock = leave_SimpleStatementSuite = _leave_block

    def _enter_loop(self, node: cst.CSTNode) -> None:
        self._push(node)
        self._scope.loops.append(node)
        self._scope.refresh()

    def _leave_loop(self, node: cst.CSTNode) -> None:
        self._scope.loops.pop()
        self._scope.refresh()
        self._pop(node)

    def visit_For(self, node: cst.For) -> None:
        self._enter_loop(node)
        self._bind(node.target, node.iter, "for")

    visit_While = _enter_loop
    leave_For = leave_While = _leave_loop

    # ------------------------------------------------------------------ statements
    def visit_Assign(self, node: cst.Assign) -> None:
        self._push(node)
        for target in node.targets:
            self._bind(target.target, node.value, "assign")

    def visit_AnnAssign(self, node: cst.AnnAssign) -> None:
        self._push(node)
        if node.value is not None:
            self._bind(node.target, node.value, "assign")

    def visit_AugAssign(self, node: cst.AugAssign) -> None:
        self._push(node)
        self._bind(node.target, node.value, "augassign")

    def visit_NamedExpr(self, node: cst.NamedExpr) -> None:
        self._push(node)
        self._bind(node.target, node.value, "walrus")

    def visit_CompFor(self, node: cst.CompFor) -> None:
        self._push(node)
        self._bind(node.target, node.iter, "for")

    def visit_WithItem(self, node: cst.WithItem) -> None:
        self._push(node)
        if node.asname is not None:
            self._bind(node.asname.name, node.item, "as")

    def visit_ExceptHandler(self, node: cst.ExceptHandler) -> None:
        self._push(node)
        if node.name is not None and isinstance(node.name.name, cst.Name):
            self._bind_name(node.name.name, None, "as")

    def visit_Del(self, node: cst.Del) -> None:
        self._push(node)
        for simple in _target_names(node.target):
            if isinstance(simple, cst.Name):
                self._not_loads.add(simple)

    def visit_Return(self, node: cst.Return) -> None:
        self._push(node)
        self._event("return", node, node.value)

    def visit_Yield(self, node: cst.Yield) -> None:
        self._push(node)
        value = node.value.item if isinstance(node.value, cst.From) else node.value
        self._event("yield", node, value)

    # ------------------------------------------------------------------ expressions
    def visit_Call(self, node: cst.Call) -> None:
        self._push(node)
        for arg in node.args:
            if arg.keyword is not None:
                self._not_loads.add(arg.keyword)
        qualified = self.names.qualified_name(node.func) or ""
        self.call_events[node] = self._event("call", node, None, qualified)
        if _method(node) in HOOK_METHODS:
            self.registers_hooks = True

    def visit_Attribute(self, node: cst.Attribute) -> None:
        self._push(node)
        self._not_loads.add(node.attr)
        self.attribute_refs.setdefault(node.attr.value, []).append(node)

    def visit_Name(self, node: cst.Name) -> None:
        if self._stack:
            self.parent[node] = self._stack[-1]
        if node in self._not_loads or node.value in ("True", "False", "None"):
            return
        event = self._event("use", node)
        self._scope.uses.setdefault(node.value, []).append(event)

    # ------------------------------------------------------------------ judgement
    def candidates(self) -> list[Candidate]:
        """Every candidate block, judged: ``reason`` is None for the ones that can migrate."""
        if not self._judged:
            self._judged = True
            for candidate in self._candidates:
                candidate.reason = _Judge(self, candidate).run()
        return self._candidates

    def binds(self, name: str) -> bool:
        """Does any scope of the module bind ``name`` (so a new import of it could clash)?"""
        stack = [self.module_scope]
        while stack:
            scope = stack.pop()
            if name in scope.bound:
                return True
            stack.extend(scope.children)
        return False

    def inference(self, candidate: Candidate, event: _Event) -> bool:
        """Would ``event`` run in inference mode once ``candidate`` is migrated?"""
        return candidate in event.context[0] and self.grad.state(event.where) is Grad.DISABLED

    def uses_of(self, scope: _Scope, name: str) -> Iterator[_Event]:
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

    def lookup(self, scope: _Scope, name: str) -> _Scope | None:
        """The scope whose binding of ``name`` a read in ``scope`` sees."""
        while scope is not None:
            if name in scope.bound and name not in scope.declared:
                return scope
            scope = scope.parent
            while scope is not None and scope.is_class:
                scope = scope.parent
        return None

    def is_builtin(self, scope: _Scope, name: str) -> bool:
        return name in _BUILTINS and self.lookup(scope, name) is None

    # ------------------------------------------------------------------ value kinds
    def plain(self, expression: cst.BaseExpression | None, scope: _Scope,
              seen: frozenset = frozenset()) -> bool:
        """Is ``expression`` certainly not a tensor (a number, string, NumPy value...)?"""
        if expression is None:
            return False
        if type(expression).__name__ in _LITERALS:
            return True
        if isinstance(expression, cst.Name):
            if expression.value in ("True", "False", "None"):
                return True
            owner = self.lookup(scope, expression.value)
            key = (id(owner), expression.value)
            if owner is None or key in seen or expression.value in owner.declared:
                return False
            bindings = owner.bindings.get(expression.value, [])
            seen = seen | {key}
            return bool(bindings) and all(self._plain_binding(b, owner, seen) for b in bindings)
        if isinstance(expression, cst.UnaryOperation):
            return self.plain(expression.expression, scope, seen)
        if isinstance(expression, (cst.BinaryOperation, cst.BooleanOperation)):
            return (self.plain(expression.left, scope, seen)
                    and self.plain(expression.right, scope, seen))
        if isinstance(expression, cst.Comparison):
            return self.plain(expression.left, scope, seen) and all(
                self.plain(c.comparator, scope, seen) for c in expression.comparisons)
        if isinstance(expression, cst.IfExp):
            return (self.plain(expression.body, scope, seen)
                    and self.plain(expression.orelse, scope, seen))
        if isinstance(expression, cst.Tuple):  # a list or set may be filled with tensors later
            return all(self.plain(e.value, scope, seen) for e in expression.elements)
        if isinstance(expression, cst.Subscript):
            return self.plain(expression.value, scope, seen)
        if isinstance(expression, cst.Attribute):
            return expression.attr.value in METADATA_ATTRIBUTES or self._numeric(expression)
        if isinstance(expression, cst.Call):
            method = _method(expression)
            if method in CONVERSION_METHODS:
                return True
            func = expression.func
            if isinstance(func, cst.Name) and self.is_builtin(scope, func.value):
                if func.value in PLAIN_BUILTINS:
                    return True
                return func.value in ("min", "max", "sum", "abs") and all(
                    self.plain(a.value, scope, seen) for a in expression.args)
            return self._numeric(func)
        return False

    def _plain_binding(self, binding: _Event, scope: _Scope, seen: frozenset) -> bool:
        if binding.how in ("assign", "walrus", "augassign"):
            return self.plain(binding.value, scope, seen)
        if binding.how == "for":
            iterable = binding.value
            return (isinstance(iterable, cst.Call) and isinstance(iterable.func, cst.Name)
                    and iterable.func.value == "range" and self.is_builtin(scope, "range"))
        return False

    def _numeric(self, expression: cst.BaseExpression) -> bool:
        qualified = self.names.qualified_name(expression)
        return qualified is not None and qualified.split(".", 1)[0] in NUMERIC_MODULES

    def fresh(self, expression: cst.BaseExpression | None, scope: _Scope,
              region: Callable[[_Event], bool], seen: frozenset = frozenset()) -> bool:
        """Is ``expression`` a tensor made in ``region`` (not a parameter, buffer, argument or
        other outside object, nor a view of one), which does not require grad?"""
        if expression is None:
            return False
        if type(expression).__name__ in _NEW_VALUES:
            return True
        if isinstance(expression, cst.Subscript):
            return self.fresh(expression.value, scope, region, seen)
        if isinstance(expression, cst.Attribute):
            return expression.attr.value in VIEW_ATTRIBUTES and self.fresh(
                expression.value, scope, region, seen)
        if isinstance(expression, cst.IfExp):
            return (self.fresh(expression.body, scope, region, seen)
                    and self.fresh(expression.orelse, scope, region, seen))
        if isinstance(expression, cst.Call):
            if keyword_value(expression, "requires_grad") is not None:
                return False
            method = _method(expression)
            if method is not None and _keeps_identity(method):
                return self.fresh(expression.func.value, scope, region, seen)
            qualified = self.names.qualified_name(expression.func) or ""
            if qualified in ("torch.nn.Parameter", "torch.nn.parameter.Parameter"):
                return False
            if qualified in VIEW_FUNCTIONS:
                first = expression.args[0].value if expression.args else None
                return self.fresh(first, scope, region, seen)
            return True
        if isinstance(expression, cst.Name):
            if expression.value in scope.declared or (id(scope), expression.value) in seen:
                return False
            bindings = scope.bindings.get(expression.value, [])
            made = [b for b in bindings if b.how != "augassign"]
            seen = seen | {(id(scope), expression.value)}
            return bool(made) and all(
                b.how in ("assign", "walrus") and region(b)
                and self.fresh(b.value, scope, region, seen) for b in made)
        return False

    def container(self, expression: cst.BaseExpression, scope: _Scope) -> tuple[_Scope, str] | None:
        """``(scope, name)`` when ``expression`` names a list/dict/set made in ``scope`` itself:
        one of an enclosing scope (a global, a closure's) outlives the code that fills it."""
        if not isinstance(expression, cst.Name):
            return None
        owner = self.lookup(scope, expression.value)
        if owner is not scope or owner.is_class or expression.value in owner.declared:
            return None
        bindings = owner.bindings.get(expression.value, [])
        if bindings and all(b.how == "assign" and self._container_value(b.value, owner)
                            for b in bindings):
            return owner, expression.value
        return None

    def _container_value(self, value: cst.BaseExpression | None, scope: _Scope) -> bool:
        if type(value).__name__ in _CONTAINER_LITERALS:
            return True
        if isinstance(value, cst.Call):
            func = value.func
            if isinstance(func, cst.Name) and func.value in CONTAINER_BUILTINS:
                return self.is_builtin(scope, func.value)
            return self.names.qualified_name(func) in CONTAINER_FACTORIES
        return False

    # ------------------------------------------------------------------ functions
    def callers(self, function: cst.FunctionDef,
                manager: cst.BaseExpression | None) -> list[_Event] | None:
        """The call events of ``function`` when every caller is known: a nested or
        ``_private`` function only ever called directly.  None when callers may be elsewhere."""
        scope = self.scope_of[function]
        name = function.name.value
        owner = scope.parent
        private = name.startswith("_") and not name.endswith("__")
        if not (private or (owner is not None and owner.is_function)):
            return None
        for decorator in function.decorators:
            if decorator.decorator is not manager and not (
                    isinstance(decorator.decorator, cst.Name)
                    and decorator.decorator.value in ("staticmethod", "classmethod")):
                return None  # a decorator may keep what it returns (a cache, a registry)
        references: list[cst.CSTNode] = [
            use.node for scope in self._all_scopes() for use in scope.uses.get(name, ())]
        if owner is not None and owner.is_class:
            references += self.attribute_refs.get(name, [])
        sites = []
        for reference in references:
            call = self.parent.get(reference)
            if not (isinstance(call, cst.Call) and call.func is reference):
                return None
            sites.append(self.call_events[call])
        return sites

    def _all_scopes(self) -> Iterator[_Scope]:
        stack = [self.module_scope]
        while stack:
            scope = stack.pop()
            yield scope
            stack.extend(scope.children)

    def callees(self, call: cst.Call) -> list[cst.FunctionDef]:
        """This module's functions a call may run: ``f(...)`` and ``self.f(...)``/``cls.f(...)``."""
        func = call.func
        if isinstance(func, cst.Name) and self.names.qualified_name(func) is not None:
            return []
        return self.model.callees(func, None, any_class=True)

    def side_effect(self, function: cst.FunctionDef) -> str | None:
        """Why calling ``function`` may store or update state it did not make (None: it
        cannot, as far as this module shows)."""
        if function in self._summaries:
            return self._summaries[function]
        self._summaries[function] = None  # recursion: assume the best until shown otherwise
        scope = self.scope_of[function]
        found = None
        for inner in _descendants(scope):
            found = self._scope_side_effect(inner)
            if found:
                break
        self._summaries[function] = found
        return found

    def _scope_side_effect(self, scope: _Scope) -> str | None:
        local = lambda event: True  # noqa: E731 - every binding of a function is its own
        if scope.declared:
            return f"declares '{sorted(scope.declared)[0]}' global/nonlocal"
        for event in scope.events:
            if event.kind == "store":
                target = event.node
                if isinstance(target, cst.Attribute):
                    return f"stores into '{dotted_name(target) or target.attr.value}'"
                root = _root(target)
                if not (self.container(root, scope) or self.fresh(root, scope, local)):
                    return "updates an outside tensor or container in place"
            elif event.kind == "call":
                call = event.node
                method = _method(call)
                receiver = call.func.value if method else None
                if method in STATE_METHODS and not (
                        method == "update" and self.container(receiver, scope)):
                    return f"calls '.{method}()'"
                if method in STORING_METHODS and not self.container(receiver, scope):
                    return f"stores through '.{method}()'"
                if method and is_inplace_method(method) and not self.fresh(receiver, scope, local):
                    return f"updates an outside tensor in place with '.{method}()'"
                if self._in_place_function(event) and not self.fresh(
                        call.args[0].value if call.args else None, scope, local):
                    return f"calls '{event.how}'"
                if isinstance(call.func, cst.Name) and call.func.value == "setattr":
                    return "calls setattr()"
                for callee in self.callees(call):
                    if self.side_effect(callee):
                        return f"calls '{callee.name.value}', which {self.side_effect(callee)}"
        return None

    @staticmethod
    def _in_place_function(event: _Event) -> bool:
        qualified = event.how
        return qualified.startswith("torch.") and (
            is_inplace_method(qualified.rsplit(".", 1)[-1]) or qualified.startswith("torch.nn.init."))

    def forward_stores(self) -> str | None:
        """A ``forward``/``__call__`` of this module that stores values: model calls may keep
        what they compute."""
        if self._forward_stores is False:
            self._forward_stores = None
            for method in [*self.model.methods_by_name.get("forward", []),
                           *self.model.methods_by_name.get("__call__", [])]:
                effect = self.side_effect(method)
                if effect and not effect.startswith("updates"):
                    self._forward_stores = effect
                    break
        return self._forward_stores


def _names_in(expression: cst.BaseExpression) -> list[cst.Name]:
    found = []
    while isinstance(expression, cst.Attribute):
        found.append(expression.attr)
        expression = expression.value
    if isinstance(expression, cst.Name):
        found.append(expression)
    return found


def _descendants(scope: _Scope) -> Iterator[_Scope]:
    stack = [scope]
    while stack:
        inner = stack.pop()
        yield inner
        stack.extend(inner.children)


# Nodes that only need to be on the ancestry stack (their parents matter to the uses in them).
for _name in ("Expr", "If", "Assert", "Raise", "Subscript",
              "BinaryOperation", "UnaryOperation", "BooleanOperation", "Comparison", "IfExp",
              "Tuple", "List", "Set", "Dict", "ListComp", "SetComp", "DictComp", "GeneratorExp",
              "Await", "FormattedString", "FormattedStringExpression", "StarredElement",
              "Decorator", "Try", "Match"):
    if not hasattr(EscapeAnalysis, f"visit_{_name}"):
        setattr(EscapeAnalysis, f"visit_{_name}", EscapeAnalysis._push)
for _name in ("Module", "Expr", "If", "Assert", "Raise", "Subscript",
              "BinaryOperation", "UnaryOperation", "BooleanOperation", "Comparison", "IfExp",
              "Tuple", "List", "Set", "Dict", "ListComp", "SetComp", "DictComp", "GeneratorExp",
              "Await", "FormattedString", "FormattedStringExpression", "StarredElement",
              "Decorator", "Try", "Match", "With", "Assign", "AnnAssign", "AugAssign", "NamedExpr",
              "CompFor", "WithItem", "ExceptHandler", "Del", "Return", "Yield", "Call",
              "Attribute"):
    if not hasattr(EscapeAnalysis, f"leave_{_name}"):
        setattr(EscapeAnalysis, f"leave_{_name}", EscapeAnalysis._pop)


# ----------------------------------------------------------------------------- judgement


class _Judge:
    """Decides one candidate: raises :class:`_Unsafe` at the first escape."""

    def __init__(self, analysis: EscapeAnalysis, candidate: Candidate) -> None:
        self.a, self.block = analysis, candidate
        self.tainted: set[tuple[int, str]] = set()
        self.followed_calls: set[int] = set()
        self.work: list[tuple[_Scope, str] | _Event] = []

    def run(self) -> str | None:
        try:
            self._inside()
            self._follow()
        except _Unsafe as unsafe:
            return unsafe.reason
        return None

    def _region(self, event: _Event) -> bool:
        return self.a.inference(self.block, event)

    def _taint(self, scope: _Scope, name: str) -> None:
        if (id(scope), name) not in self.tainted:
            self.tainted.add((id(scope), name))
            self.work.append((scope, name))

    def _follow_calls(self, sites: list[_Event]) -> None:
        for site in sites:
            if id(site) not in self.followed_calls:
                self.followed_calls.add(id(site))
                self.work.append(site)

    # ------------------------------------------------------------------ inside the block
    def _inside(self) -> None:
        a = self.a
        for event in self.block.events:
            if event.kind == "use":
                continue
            if not self._region(event):
                raise _Unsafe("gradients are re-enabled inside the block")
            scope = event.scope
            if event.kind == "bind":
                self._inside_binding(event)
            elif event.kind == "store":
                self._inside_store(event)
            elif event.kind == "call":
                self._inside_call(event)
            elif event.value is not None and not a.plain(event.value, scope):
                if event.kind == "yield":
                    raise _Unsafe("it yields a tensor to its caller")
                self._returned(event)

    def _inside_binding(self, event: _Event) -> None:
        a, scope, name = self.a, event.scope, event.node.value
        if event.how in ("def", "import", "param"):
            return
        if a.plain(event.node, scope) if event.how == "augassign" else a._plain_binding(
                event, scope, frozenset()):
            return
        if name in scope.declared or scope.is_class:
            raise _Unsafe(f"it stores a tensor in '{name}', which outlives the block")
        if event.how == "assign" and _gradient_step(name, event.value):
            # ``p = p - lr * p.grad``: meant as a parameter update (see NG203), not inference.
            raise _Unsafe(f"it computes a new '{name}' from its gradient: a parameter update")
        if event.how == "augassign":
            outside = [b for b in scope.bindings.get(name, []) if not self._region(b)]
            made_here = [b for b in scope.bindings.get(name, [])
                         if b.how != "augassign" and self._region(b)]
            if not (made_here or outside) or not all(
                    b.how == "assign" and a.plain(b.value, scope) for b in outside):
                raise _Unsafe(f"it updates '{name}', which comes from outside the block, in place")
        self._taint(scope, name)

    def _inside_store(self, event: _Event) -> None:
        a, scope, target = self.a, event.scope, event.node
        if isinstance(target, cst.Attribute):
            if event.how == "augassign":
                raise _Unsafe(f"it updates '{dotted_name(target) or target.attr.value}' in place")
            if not a.plain(event.value, scope):
                raise _Unsafe(f"it stores a tensor in '{dotted_name(target) or target.attr.value}'")
            return
        root = _root(target)
        owner = a.container(root, scope)
        if owner is not None:
            if not a.plain(event.value, scope):
                self._taint(*owner)
        elif not a.fresh(root, scope, self._region):
            raise _Unsafe(f"it updates '{dotted_name(root) or 'a tensor'}', which comes from "
                          "outside the block, in place")

    def _inside_call(self, event: _Event) -> None:
        a, scope, call = self.a, event.scope, event.node
        method = _method(call)
        receiver = call.func.value if method else None
        shown = dotted_name(call.func) or method or "a call"
        if method in AUTOGRAD_METHODS or event.how in AUTOGRAD_FUNCTIONS:
            raise _Unsafe(f"'{shown}()' hands tensors to autograd")
        if method in ("update", "add") and a.container(receiver, scope):
            if not all(a.plain(v, scope) for v in _operands(call)):
                self._taint(*a.container(receiver, scope))
            return
        if method == "update" and call.args and all(a.plain(v, scope) for v in _operands(call)):
            return  # a meter fed Python numbers (``losses.update(loss.item(), n)``)
        if method in STATE_METHODS:
            raise _Unsafe(f"'{shown}()' updates state (a parameter update is not inference)")
        if method in STORING_METHODS:
            if all(a.plain(v, scope) for v in _operands(call)):
                return
            owner = a.container(receiver, scope)
            if owner is None:
                raise _Unsafe(f"'{shown}()' stores a tensor where it outlives the block")
            self._taint(*owner)
            return
        if method is not None and is_inplace_method(method) and not a.fresh(receiver, scope, self._region):
            raise _Unsafe(f"'{shown}()' updates a tensor from outside the block in place "
                          "(a parameter update is not inference)")
        if a._in_place_function(event) and not a.fresh(
                call.args[0].value if call.args else None, scope, self._region):
            raise _Unsafe(f"'{shown}()' updates a tensor from outside the block in place")
        out = keyword_value(call, "out")
        if out is not None and not a.fresh(out, scope, self._region):
            raise _Unsafe(f"'{shown}(out=...)' writes into a tensor from outside the block")
        if (isinstance(call.func, cst.Name) and call.func.value == "setattr"
                and a.is_builtin(scope, "setattr")):
            raise _Unsafe("setattr() stores a value where it outlives the block")
        callees = a.callees(call)
        for callee in callees:
            effect = a.side_effect(callee)
            if effect:
                raise _Unsafe(f"it calls '{callee.name.value}', which {effect}")
        unknown = not callees and not event.how.startswith("torch.") \
            and method not in KNOWN_TENSOR_METHODS \
            and not (isinstance(call.func, cst.Name) and a.is_builtin(scope, call.func.value))
        if unknown:
            if a.registers_hooks:
                raise _Unsafe(f"this module registers forward hooks, which may keep what "
                              f"'{shown}()' computes")
            stores = a.forward_stores()
            if stores:
                raise _Unsafe(f"a forward() in this module {stores}: '{shown}()' may keep what "
                              "it computes")

    def _returned(self, event: _Event) -> None:
        function = event.scope.node
        if not isinstance(function, cst.FunctionDef):
            raise _Unsafe("it returns a tensor")
        manager = self.block.manager if self.block.node is function else None
        sites = self.a.callers(function, manager)
        if sites is None:
            raise _Unsafe(f"'{function.name.value}' returns a tensor to callers that are not all "
                          "known (a public function or method)")
        self._follow_calls(sites)

    # ------------------------------------------------------------------ after the block
    def _follow(self) -> None:
        a = self.a
        while self.work:
            item = self.work.pop()
            if isinstance(item, _Event):
                uses = [item]
            else:
                scope, name = item
                if name in scope.declared or scope.is_class:
                    raise _Unsafe(f"'{name}' is stored where it outlives the block")
                uses = list(a.uses_of(scope, name))
            for use in uses:
                if self._region(use) or self._before(use):
                    continue
                self._classify(use)

    def _before(self, use: _Event) -> bool:
        """The use runs before the block on every path (same scope, earlier, no loop around
        both): it cannot see the block's values."""
        return (use.scope is self.block.scope and use.order < self.block.start
                and not set(use.context[1]) & set(self.block.loops))

    def _classify(self, use: _Event) -> None:
        grad_on = self.a.grad.state(use.where) is not Grad.DISABLED
        node: cst.CSTNode | None = use.node
        path = {node}
        while node is not None:
            node = self._step(node, use, grad_on, path)
            if node is not None:
                path.add(node)

    def _safe_operand(self, operand: cst.BaseExpression | None, scope: _Scope, path: set) -> bool:
        """Can ``operand`` not require grad: a number, the value being followed, or a tensor
        made by the block itself (an inference tensor)?"""
        if operand is None or operand in path:
            return True
        if self.a.plain(operand, scope):
            return True
        # Only names: an expression evaluated out here (``model(x)``) may well require grad.
        root = _root(operand)
        return isinstance(root, cst.Name) and self.a.fresh(root, scope, self._region)

    def _step(self, node: cst.CSTNode, use: _Event, grad_on: bool, path: set) -> cst.CSTNode | None:
        """One step up from ``node`` (carrying a value of the block): the next node carrying
        it, or None when the value is consumed safely.  Raises at an escape."""
        a, scope = self.a, use.scope
        parent = a.parent.get(node)
        name = dotted_name(use.node) if not isinstance(use.node, cst.Call) else (
            f"{dotted_name(use.node.func) or 'a call'}()")
        if isinstance(parent, cst.Attribute):
            call = a.parent.get(parent)
            if isinstance(call, cst.Call) and call.func is parent:
                return self._method_of_value(parent.attr.value, call, use, grad_on, path, name)
            holder = a.parent.get(parent)
            if (isinstance(holder, (cst.Assign, cst.AnnAssign, cst.AugAssign))
                    and holder.value is not parent):
                raise _Unsafe(f"'{name}.{parent.attr.value}' is set outside inference mode")
            if parent.attr.value in METADATA_ATTRIBUTES:
                return None
            return parent
        if isinstance(parent, cst.Call):
            if parent.func is node:
                raise _Unsafe(f"'{name}' is called outside inference mode (an object built in "
                              "the block)")
            return self._argument(node, parent, use, grad_on, path, name)
        if isinstance(parent, cst.BinaryOperation):
            other = parent.right if parent.left is node else parent.left
            if grad_on and not self._safe_operand(other, scope, path):
                raise _Unsafe(f"'{name}' meets '{dotted_name(other) or 'another value'}' in "
                              "arithmetic with gradients enabled (autograd may save it)")
            return parent
        if isinstance(parent, cst.UnaryOperation):
            return None if isinstance(parent.operator, cst.Not) else parent
        if isinstance(parent, cst.Comparison):
            return None
        if isinstance(parent, cst.IfExp):
            return None if parent.test is node else parent
        if isinstance(parent, cst.Subscript):
            if parent.value is node:
                return parent
            if grad_on and not self._safe_operand(parent.value, scope, path):
                raise _Unsafe(f"'{name}' indexes '{dotted_name(parent.value) or 'a tensor'}' "
                              "with gradients enabled (autograd may save the index)")
            return None
        if isinstance(parent, (cst.BooleanOperation, cst.Tuple, cst.List, cst.Set, cst.Dict,
                               cst.ListComp, cst.SetComp, cst.DictComp, cst.GeneratorExp,
                               cst.Await, cst.StarredElement)):
            return parent
        if isinstance(parent, cst.CompFor):
            if parent.iter is node:
                self._flow_targets(parent.target, scope)
            return None
        if isinstance(parent, cst.NamedExpr):
            self._flow_targets(parent.target, scope)
            return parent
        if isinstance(parent, (cst.FormattedString, cst.FormattedStringExpression, cst.Expr,
                               cst.If, cst.While, cst.Assert, cst.Del)):
            return None
        if isinstance(parent, cst.For):
            if parent.iter is node:
                self._flow_targets(parent.target, scope)
            return None
        if isinstance(parent, (cst.Assign, cst.AnnAssign)):
            if parent.value is not node:
                raise _Unsafe(f"'{name}' is updated in place outside inference mode")
            targets = ([t.target for t in parent.targets] if isinstance(parent, cst.Assign)
                       else [parent.target])
            for target in targets:
                self._flow_targets(target, scope)
            return None
        if isinstance(parent, cst.AugAssign):
            if parent.value is not node:
                raise _Unsafe(f"'{name}' is updated in place outside inference mode")
            if grad_on and not self._safe_operand(parent.target, scope, path):
                raise _Unsafe(f"'{name}' is added into '{dotted_name(parent.target) or 'a tensor'}'"
                              " with gradients enabled")
            self._flow_targets(parent.target, scope)
            return None
        if isinstance(parent, cst.Return):
            self._returned_after(use, scope, name)
            return None
        raise _Unsafe(f"'{name}' leaves the block in a way the analysis does not follow")

    def _method_of_value(self, method: str, call: cst.Call, use: _Event, grad_on: bool,
                         path: set, name: str) -> cst.CSTNode | None:
        """``value.method(...)`` where ``value`` carries a tensor of the block."""
        if method in CONVERSION_METHODS or method in NONDIFFERENTIABLE_METHODS:
            return None
        if method in STORING_METHODS or method in ("add", "update") and self.a.container(
                call.func.value, use.scope):
            return None  # adds to a container already followed
        if method in AUTOGRAD_METHODS:
            raise _Unsafe(f"'{name}.{method}()' hands an inference tensor to autograd")
        if is_inplace_method(method):
            raise _Unsafe(f"'{name}.{method}()' updates an inference tensor in place outside "
                          "inference mode")
        if method not in NO_SAVE_METHODS and grad_on and not all(
                self._safe_operand(v, use.scope, path) for v in _operands(call)):
            raise _Unsafe(f"'{name}.{method}(...)' combines it with values that may require "
                          "grad, with gradients enabled")
        return call

    def _argument(self, node: cst.CSTNode, call: cst.Call, use: _Event, grad_on: bool,
                  path: set, name: str) -> cst.CSTNode | None:
        """``f(..., value, ...)``."""
        a, scope = self.a, use.scope
        if any(arg.value is node and arg.keyword is not None and arg.keyword.value == "out"
               for arg in call.args):
            raise _Unsafe(f"'{name}' is written into by 'out=' outside inference mode")
        func = call.func
        if isinstance(func, cst.Name) and a.is_builtin(scope, func.value):
            if func.value in PLAIN_BUILTINS:
                return None
            if func.value in PASSING_BUILTINS:
                return call
        qualified = a.names.qualified_name(func) or ""
        if qualified.split(".", 1)[0] in NUMERIC_MODULES:
            return None
        if qualified.startswith("torch."):
            if qualified in NONDIFFERENTIABLE_FUNCTIONS:
                return None
            last = qualified.rsplit(".", 1)[-1]
            first = call.args[0].value if call.args else None
            if (is_inplace_method(last) or qualified.startswith("torch.nn.init.")) and first is node:
                raise _Unsafe(f"'{qualified}' updates '{name}' in place outside inference mode")
            if qualified in AUTOGRAD_FUNCTIONS:
                raise _Unsafe(f"'{name}' is handed to '{qualified}'")
            if grad_on and not all(self._safe_operand(v, scope, path) for v in _operands(call)):
                raise _Unsafe(f"'{name}' is combined with values that may require grad in "
                              f"'{qualified}' with gradients enabled")
            return call
        method = _method(call)
        if method is not None:
            receiver = func.value
            if method in STORING_METHODS or method in ("add", "update", "__setitem__"):
                owner = a.container(receiver, scope)
                if owner is None:
                    raise _Unsafe(f"'{name}' is stored by '{dotted_name(func) or method}()' "
                                  "where it outlives the analysis")
                self._taint(*owner)
                return None
            if method in LOGGING_METHODS:
                return None
            if method in SHAPE_ARGUMENT_METHODS or method in NONDIFFERENTIABLE_METHODS:
                return None
            if method in TENSOR_ARGUMENT_METHODS or is_inplace_method(method):
                operands = [receiver, *_operands(call)]
                if grad_on and not all(self._safe_operand(v, scope, path) for v in operands):
                    shown = dotted_name(receiver) or "a tensor"
                    raise _Unsafe(f"'{name}' is combined with '{shown}' by '.{method}()' with "
                                  "gradients enabled")
                return call
        shown = dotted_name(func) or "a callable"
        raise _Unsafe(f"'{name}' is passed to '{shown}()' outside inference mode, which may "
                      "save it for backward, update it or keep it")

    def _flow_targets(self, target: cst.BaseExpression, scope: _Scope) -> None:
        for simple in _target_names(target):
            if isinstance(simple, cst.Name):
                owner = self.a.lookup(scope, simple.value)
                if owner is None or owner.is_class or simple.value in owner.declared:
                    raise _Unsafe(f"a tensor of the block is stored in '{simple.value}', which "
                                  "outlives it")
                self._taint(owner, simple.value)
            elif isinstance(simple, cst.Subscript):
                owner = self.a.container(_root(simple), scope)
                if owner is None:
                    raise _Unsafe(f"a tensor of the block is stored in "
                                  f"'{dotted_name(_root(simple)) or 'a container'}[...]'")
                self._taint(*owner)
            else:
                raise _Unsafe(f"a tensor of the block is stored in "
                              f"'{dotted_name(simple) or 'an attribute'}', which outlives it")

    def _returned_after(self, use: _Event, scope: _Scope, name: str) -> None:
        function = scope.node
        if not isinstance(function, cst.FunctionDef):
            raise _Unsafe(f"'{name}' is returned")
        manager = self.block.manager if self.block.node is function else None
        sites = self.a.callers(function, manager)
        if sites is None:
            raise _Unsafe(f"'{function.name.value}' returns '{name}' to callers that are not all "
                          "known (a public function or method)")
        self._follow_calls(sites)
