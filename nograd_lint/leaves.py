"""Leaves and saved tensors: what each name holds, statement by statement, inside a function.

The leaf rules (NG201-NG204) ask questions no single node answers: is ``w`` *here* a leaf that
requires grad?  Did an op save ``y`` for backward before this in-place update, and does a later
``backward()`` run through that op?  This module answers them with a small abstract
interpreter over each function's statements, run after the engine's single traversal (which
records the grad mode of every statement) and only for functions that contain an in-place
update or a rebinding, so files without one pay nothing.

What a name or attribute chain (``w``, ``self.fc.weight``) holds is a :class:`Value`:

* a *leaf* that requires grad: a factory called with ``requires_grad=True`` (``torch.zeros``,
  ``torch.randn``, ``*_like``...), ``nn.Parameter(...)``, ``x.requires_grad_()`` or
  ``x.requires_grad = True``, a loop variable over ``X.parameters()`` (the second one over
  ``named_parameters()``), over ``group["params"]`` of ``self.param_groups`` in an
  ``Optimizer`` subclass, or ``M.weight``/``M.bias`` of a *module* value;
* a *module*: ``nn.Linear(...)`` and other layers with weights, loop variables over
  ``model.modules()``, the parameter of a function passed to ``model.apply``, a name inside
  ``if isinstance(m, nn.Linear):``, a ``self.<attr>`` assigned a layer in its class;
* a *tracked* tensor: computed with grad enabled from a leaf or another tracked tensor;
* a *plain* tensor: made by torch without grad, or by ``detach()``/``.data``.

Statement order is respected, ``if``/``try`` branches are merged conservatively (a fact holds
after the branches only if it holds at the end of each), loops are iterated to a fixed point,
and anything else rebinding a name (``w = w * 2``, ``w = w.detach()``) ends what was known.

For NG204 every tracked value also carries its *history*: the ops in its autograd graph that
saved a tensor for backward (``sigmoid`` saves its output, ``a * b`` each input the other's
gradient needs...), and each value the ops that saved it.  An in-place update of a saved value
marks those ops stale; ``backward()`` on a value whose history holds a stale op raises
``one of the variables needed for gradient computation has been modified by an inplace
operation`` — exactly what the runtime and PyTorch do.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Optional

from nograd_lint import libcst as cst

from nograd_lint.grad_regions import Grad, GradRegions, Where, constant_bool
from nograd_lint.model.layers import Layer
from nograd_lint.names import ImportResolver, dotted_name
from nograd_lint.tree import children, is_expression
from nograd_lint.syntax import keyword_value
from nograd_lint.vocabulary import (
    BACKWARD_FUNCTIONS, COPIES, LAYERS, PARAMETER, VIEW_METHODS, WEIGHTS, is_inplace_method,
)

if TYPE_CHECKING:
    from nograd_lint.context import ModuleContext


class Kind(enum.Enum):
    LEAF = "leaf"
    TRACKED = "tracked"
    PLAIN = "plain"
    MODULE = "module"
    PARAMS = "params"  # an iterable of leaves
    NAMED_PARAMS = "named params"  # of (name, leaf) pairs
    MODULES = "modules"
    NAMED_MODULES = "named modules"
    GROUPS = "param groups"  # an optimizer's ``param_groups``
    GROUP = "param group"


TENSORS = frozenset({Kind.LEAF, Kind.TRACKED, Kind.PLAIN})
REQUIRES_GRAD = frozenset({Kind.LEAF, Kind.TRACKED})
# What iterating over a collection binds the loop variable (or the pair's second item) to.
_ELEMENT = {Kind.PARAMS: Kind.LEAF, Kind.NAMED_PARAMS: Kind.LEAF, Kind.MODULES: Kind.MODULE,
            Kind.NAMED_MODULES: Kind.MODULE, Kind.GROUPS: Kind.GROUP}
_PAIRS = frozenset({Kind.NAMED_PARAMS, Kind.NAMED_MODULES})
_NUMBERED = {Kind.PARAMS: Kind.NAMED_PARAMS, Kind.MODULES: Kind.NAMED_MODULES}  # enumerate()


@dataclass(frozen=True)
class Value:
    kind: Kind
    origin: str = ""  # how a leaf came to require grad, for messages
    history: frozenset = frozenset()  # ops in its graph that saved a tensor for backward
    saved_by: frozenset = frozenset()  # ops that saved this very tensor
    loop: Optional[cst.For] = None  # the loop over parameters that bound this leaf


# ----------------------------------------------------------------------------- vocabulary

_FACTORIES = frozenset(f"torch.{name}" for name in (
    "tensor", "as_tensor", "zeros", "ones", "empty", "full", "rand", "randn", "randint",
    "randperm", "arange", "linspace", "logspace", "eye", "normal", "zeros_like", "ones_like",
    "empty_like", "full_like", "rand_like", "randn_like", "randint_like"))
# Layers whose ``weight`` (and ``bias``, where they have one) are parameters by default.
_OPTIMIZERS = frozenset({"torch.optim.Optimizer", "torch.optim.optimizer.Optimizer"})
_MODULE_COLLECTIONS = {"parameters": Kind.PARAMS, "named_parameters": Kind.NAMED_PARAMS,
                       "modules": Kind.MODULES, "named_modules": Kind.NAMED_MODULES,
                       "children": Kind.MODULES, "named_children": Kind.NAMED_MODULES}
_TENSOR_EXITS = frozenset({"item", "tolist", "numpy", "size", "dim", "numel", "data_ptr",
                           "stride", "element_size", "nelement", "is_contiguous"})
_PLAIN_RESULTS = frozenset({"detach", "data"})
# Ops whose backward needs their own output (PyTorch's derivatives.yaml ``result``).
_SAVE_RESULT = frozenset({"sigmoid", "tanh", "exp", "sqrt", "rsqrt", "relu", "softmax",
                          "log_softmax", "reciprocal", "tan"})
# Unary ops whose backward needs their input.
_SAVE_INPUT = frozenset({"log", "log2", "log10", "log1p", "sin", "cos", "abs", "pow",
                         "square", "erf", "clamp", "clip", "atan", "asin", "acos", "sinh",
                         "cosh", "var", "std", "norm", "max", "min", "prod"})
# Binary ops whose backward needs the *other* operand (``a * b``: d/da = b).
_SAVE_OTHER = frozenset({"mul", "multiply", "matmul", "mm", "bmm", "mv", "dot"})
_TORCH_FUNCTIONS = frozenset(f"{module}.{name}" for module in ("torch", "torch.nn.functional")
                             for name in _SAVE_RESULT | _SAVE_INPUT | _SAVE_OTHER | {"div"})
# Binary operators by libcst class name, and their augmented forms (``w = w - x`` -> ``w -= x``).
AUGMENTED = {name: f"{name}Assign" for name in (
    "Add", "Subtract", "Multiply", "Divide", "MatrixMultiply", "Power", "FloorDivide", "Modulo")}


def inplace_method(call: cst.Call) -> str | None:
    """``x.add_(...)`` -> ``"add_"``: a tensor method that updates its receiver in place."""
    func = call.func
    if not isinstance(func, cst.Attribute):
        return None
    name = func.attr.value
    return name if is_inplace_method(name) else None


# ----------------------------------------------------------------------------- findings


@dataclass(frozen=True)
class InPlace:
    """An in-place update of ``key`` (NG201, NG202, NG204's sites)."""

    node: cst.CSTNode  # the statement (augmented or subscript assignment) or the method call
    statement: cst.CSTNode  # the small statement it is in
    key: str
    value: Value
    through_view: bool  # ``w[0] = 1``, ``w.view(4).add_(1)``
    through_data: bool  # ``w.data.add_(1)``, ``w.data = ...``
    grad: Grad
    loops: tuple  # enclosing ``for`` loops, outermost first


@dataclass(frozen=True)
class Rebinding:
    """``key = <expression of key>`` where ``key`` held a grad leaf (NG203)."""

    node: cst.Assign
    key: str
    value: Value
    grad: Grad


@dataclass(frozen=True)
class StaleBackward:
    """A ``backward()`` whose graph holds ``op``, whose saved tensor ``site`` modified (NG204)."""

    backward: cst.CSTNode
    op: cst.CSTNode
    site: InPlace


@dataclass
class _State:
    values: dict[str, Value] = field(default_factory=dict)
    stale: dict[cst.CSTNode, InPlace] = field(default_factory=dict)  # op -> where it went stale

    def copy(self) -> _State:
        return _State(dict(self.values), dict(self.stale))

    def bind(self, key: str, value: Value | None) -> None:
        # Rebinding ``self.fc`` also forgets what was known of ``self.fc.weight``.
        prefix = key + "."
        for known in [k for k in self.values if k.startswith(prefix)]:
            del self.values[known]
        if value is None:
            self.values.pop(key, None)
        else:
            self.values[key] = value


def _merge(states) -> _State | None:
    """What holds on every path that reaches here (None: no path does)."""
    live = [s for s in states if s is not None]
    if not live:
        return None
    merged = live[0].copy()
    for other in live[1:]:
        values = {}
        for key, value in merged.values.items():
            common = _meet(value, other.values.get(key))
            if common is not None:
                values[key] = common
        merged.values = values
        merged.stale = {op: site for op, site in merged.stale.items() if op in other.stale}
    return merged


def _meet(a: Value, b: Value | None) -> Value | None:
    """What is certain of a value that is ``a`` on one path and ``b`` on another."""
    if b is None or a.kind is not b.kind:
        return None
    if a == b:
        return a
    return Value(a.kind, a.origin if a.origin == b.origin else "on every path",
                 a.history & b.history, a.saved_by & b.saved_by, a.loop if a.loop is b.loop else None)


def _same(a: _State | None, b: _State | None) -> bool:
    if a is None or b is None:
        return a is b
    return a.values == b.values and a.stale.keys() == b.stale.keys()


@dataclass
class _Loop:
    node: cst.CSTNode
    continues: list = field(default_factory=list)
    breaks: list = field(default_factory=list)


_MAX_ITERATIONS = 8


class LeafAnalysis(Layer):
    """The traversal participant that records what the interpreter needs; see the module
    docstring.  Rules read :attr:`inplace`, :attr:`rebindings` and :attr:`stale_backwards`
    in ``finish``."""

    requires = (ImportResolver, GradRegions)

    def __init__(self, context: ModuleContext) -> None:
        self.names, self.model, self.grad = context.names, context.model, context.grad
        self._where: dict[cst.CSTNode, Where] = {}  # every statement's grad mode
        self._lines: dict[cst.CSTNode, cst.CSTNode] = {}  # small statement -> its line
        self._candidates: set[cst.CSTNode | None] = set()  # functions worth interpreting
        self._rebinding_sites: list[tuple] = []  # (function, key, value, where)
        self._module: cst.Module | None = None
        self._applied: set[str] = set()  # functions passed to ``X.apply(...)``
        self._done = False
        self._inplace: dict[tuple, InPlace] = {}
        self._rebindings: dict[cst.CSTNode, Rebinding] = {}
        self._stale: dict[cst.CSTNode, StaleBackward] = {}
        self._quiet = 0  # >0 while evaluating class attributes, which reports nothing
        self._statement_now: cst.CSTNode | None = None  # the statement being interpreted
        self._loops: list[_Loop] = []
        self._class_attributes: dict[cst.ClassDef, dict[str, Value]] = {}

    # ------------------------------------------------------------------ results
    @property
    def inplace(self) -> list[InPlace]:
        self._run()
        return list(self._inplace.values())

    @property
    def rebindings(self) -> list[Rebinding]:
        self._run()
        return list(self._rebindings.values())

    @property
    def stale_backwards(self) -> list[StaleBackward]:
        self._run()
        return list(self._stale.values())

    def line_of(self, statement: cst.CSTNode) -> cst.CSTNode | None:
        return self._lines.get(statement)

    # ------------------------------------------------------------------ traversal
    def visit_Module(self, node: cst.Module) -> None:
        self._module = node

    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        self._where[node] = self.grad.where()

    def _record_line(self, node: cst.SimpleStatementLine | cst.SimpleStatementSuite) -> None:
        where = self.grad.where()
        for statement in node.body:
            self._where[statement] = where
            self._lines[statement] = node

    visit_SimpleStatementLine = _record_line
    visit_SimpleStatementSuite = _record_line

    def _record_header(self, node: cst.CSTNode) -> None:
        self._where[node] = self.grad.where()

    visit_For = visit_While = visit_If = visit_With = visit_Try = _record_header

    def visit_AugAssign(self, node: cst.AugAssign) -> None:
        self._candidates.add(self.model.named_function())

    def visit_Assign(self, node: cst.Assign) -> None:
        for target in node.targets:
            target = target.target
            if isinstance(target, cst.Subscript) or isinstance(target, cst.Attribute) and \
                    target.attr.value in ("data", "requires_grad"):
                self._candidates.add(self.model.named_function())
            elif (key := dotted_name(target)) is not None:
                # A possible NG203 rebinding; checked once grad modes are known (see _run).
                self._rebinding_sites.append((self.model.named_function(), key, node.value, self.grad.where()))

    def visit_Call(self, node: cst.Call) -> None:
        if inplace_method(node) is not None:
            self._candidates.add(self.model.named_function())
        elif isinstance(node.func, cst.Attribute) and node.func.attr.value == "apply":
            for arg in node.args:
                function = arg.value
                if isinstance(function, cst.Attribute) and dotted_name(function.value) == "self":
                    function = function.attr
                if isinstance(function, cst.Name):
                    self._applied.add(function.value)

    # ------------------------------------------------------------------ interpretation
    def _run(self) -> None:
        if self._done:
            return
        self._done = True
        for function, key, value, where in self._rebinding_sites:
            # Only rebindings with grad disabled matter, and most code runs with it enabled.
            if function not in self._candidates and self.grad.state(where) is Grad.DISABLED \
                    and _mentions(value, key):
                self._candidates.add(function)
        if not self._candidates or self._module is None:
            return
        globals_ = self._interpret(self._module.body, _State()) or _State()
        shared = {k: v for k, v in globals_.values.items() if v.kind in (Kind.LEAF, Kind.MODULE)}
        for function in self._candidates:
            if function is not None:
                self._interpret(function.body.body, self._entry(function, shared))

    def _interpret(self, body, state: _State) -> _State | None:
        try:
            return self._block(body, state)
        except RecursionError:  # absurdly nested expressions: no findings in this function
            return None

    def _entry(self, function: cst.FunctionDef, shared: dict[str, Value]) -> _State:
        state = _State(dict(shared))
        params = function.params
        every = [*params.posonly_params, *params.params, *params.kwonly_params]
        for param in every:
            state.bind(param.name.value, None)
        klass = self.model.class_of(function)
        if klass is not None:
            state.values.update(self._attributes(klass))
        if klass is not None and every and every[0].name.value in ("self", "cls"):
            every = every[1:]
        if function.name.value in self._applied and every:
            # ``model.apply(init)`` calls ``init`` with every submodule.
            state.bind(every[0].name.value, Value(Kind.MODULE))
        return state

    def _attributes(self, klass: cst.ClassDef) -> dict[str, Value]:
        """``self.<attr>`` values every method of ``klass`` can rely on: parameters and layers
        assigned to it anywhere in the class, and an optimizer's ``param_groups``."""
        known = self._class_attributes.get(klass)
        if known is not None:
            return known
        known = {}
        if any(self._is_optimizer(base.value) for base in klass.bases):
            known["self.param_groups"] = Value(Kind.GROUPS)
        self._quiet += 1
        try:
            for statement in self.model.self_assignments(klass):
                value = self._expression(statement.value, _State(), Grad.ENABLED)
                if value is not None and value.kind in (Kind.LEAF, Kind.MODULE):
                    for target in statement.targets:
                        key = dotted_name(target.target)
                        if key is not None:
                            known[key] = value
        finally:
            self._quiet -= 1
        self._class_attributes[klass] = known
        return known

    def _is_optimizer(self, base: cst.BaseExpression) -> bool:
        name = dotted_name(base)
        return self.names.qualified_name(base) in _OPTIMIZERS or (
            name is not None and name.endswith("Optimizer"))

    def _enter(self, statement: cst.CSTNode) -> Grad:
        """Start interpreting ``statement`` (or a compound statement's header): its grad mode."""
        self._statement_now = statement
        where = self._where.get(statement)
        return self.grad.state(where) if where is not None else Grad.MANAGED

    # ------------------------------------------------------------------ statements
    def _block(self, statements, state: _State | None) -> _State | None:
        for statement in statements:
            if state is None:
                return None
            state = self._statement(statement, state)
        return state

    def _body(self, suite, state: _State | None) -> _State | None:
        return self._block(suite.body, state) if suite is not None else state

    def _statement(self, node: cst.CSTNode, state: _State) -> _State | None:
        if isinstance(node, (cst.SimpleStatementLine, cst.SimpleStatementSuite)):
            for small in node.body:
                if state is None:
                    return None
                state = self._small(small, state)
            return state
        if isinstance(node, cst.If):
            return self._if(node, state)
        if isinstance(node, (cst.For, cst.While)):
            return self._loop(node, state)
        if isinstance(node, cst.With):
            grad = self._enter(node)
            for item in node.items:
                self._expression(item.item, state, grad)
                if item.asname is not None:
                    self._unbind_targets(item.asname.name, state)
            return self._body(node.body, state)
        if isinstance(node, (cst.Try, cst.TryStar)):
            return self._try(node, state)
        if isinstance(node, (cst.FunctionDef, cst.ClassDef)):
            state.bind(node.name.value, None)
            return state
        if isinstance(node, cst.Match):
            grad = self._enter(node)
            self._expression(node.subject, state, grad)
            return _merge([state] + [self._body(case.body, state.copy()) for case in node.cases])
        return state

    def _if(self, node: cst.If, state: _State) -> _State | None:
        self._expression(node.test, state, self._enter(node))
        taken = state.copy()
        for key in self._isinstance_layers(node.test):
            if taken.values.get(key) is None:
                taken.bind(key, Value(Kind.MODULE))
        then = self._body(node.body, taken)
        if isinstance(node.orelse, cst.If):
            otherwise = self._if(node.orelse, state.copy())
        elif isinstance(node.orelse, cst.Else):
            otherwise = self._body(node.orelse.body, state.copy())
        else:
            otherwise = state
        return _merge([then, otherwise])

    def _isinstance_layers(self, test: cst.BaseExpression) -> list[str]:
        """Names that ``test`` proves are torch layers: ``isinstance(m, (nn.Linear, ...))``."""
        tests = [test]
        if isinstance(test, cst.BooleanOperation) and isinstance(test.operator, cst.And):
            tests = [test.left, test.right]
        found = []
        for part in tests:
            if not (isinstance(part, cst.Call) and isinstance(part.func, cst.Name)
                    and part.func.value == "isinstance" and len(part.args) == 2):
                continue
            key = dotted_name(part.args[0].value)
            classes = part.args[1].value
            elements = ([e.value for e in classes.elements]
                        if isinstance(classes, (cst.Tuple, cst.List)) else [classes])
            qualified = [self.names.qualified_name(e) for e in elements]
            if key is not None and qualified and all(
                    q is not None and q.startswith("torch.nn.") and q.rsplit(".", 1)[-1][:1].isupper()
                    for q in qualified):
                found.append(key)
        return found

    def _loop(self, node: cst.For | cst.While, entry: _State) -> _State | None:
        grad = self._enter(node)
        element = None
        if isinstance(node, cst.For):
            element = self._expression(node.iter, entry, grad)
        else:
            self._expression(node.test, entry, grad)
        # Iterate to a fixed point.  What each pass finds is reported: the first pass is the
        # loop's first iteration, and later passes only know less.
        current, (back, breaks) = entry, self._iteration(node, entry, element)
        for _ in range(_MAX_ITERATIONS):
            following = _merge([entry, back])
            if _same(following, current):
                break
            current = following
            back, breaks = self._iteration(node, current, element)
        after = _merge([current, back])
        after = self._body(node.orelse.body, after) if node.orelse is not None else after
        return _merge([after, *breaks])

    def _iteration(self, node, state: _State, element: Value | None):
        """One pass over the loop body: (state at the back edge, states at ``break``)."""
        state = state.copy()
        if isinstance(node, cst.For):
            self._bind_loop_target(node, state, element)
        loop = _Loop(node)
        self._loops.append(loop)
        try:
            out = self._body(node.body, state)
        finally:
            self._loops.pop()
        return _merge([out, *loop.continues]), loop.breaks

    def _bind_loop_target(self, node: cst.For, state: _State, collection: Value | None) -> None:
        target = node.target
        kind = _ELEMENT.get(collection.kind) if collection is not None else None
        if kind is not None and collection.kind in _PAIRS:
            if isinstance(target, (cst.Tuple, cst.List)) and len(target.elements) == 2:
                self._unbind_targets(target.elements[0].value, state)
                target = target.elements[1].value
            else:
                kind = None
        key = dotted_name(target) if kind is not None else None
        if key is None:
            self._unbind_targets(target, state)
            return
        state.bind(key, Value(kind, collection.origin, loop=node if kind is Kind.LEAF else None))

    def _try(self, node, state: _State) -> _State | None:
        body = self._body(node.body, state.copy())
        # A handler may start anywhere in the body: only what held before it and after it.
        handler_entry = _merge([state, body])
        ends = [self._body(handler.body, handler_entry.copy()) for handler in node.handlers]
        if node.orelse is not None:
            body = self._body(node.orelse.body, body)
        merged = _merge([body, *ends])
        if node.finalbody is not None:
            merged = self._body(node.finalbody.body, merged)
        return merged

    def _small(self, node: cst.BaseSmallStatement, state: _State) -> _State | None:
        grad = self._enter(node)
        if isinstance(node, cst.Assign):
            value = self._expression(node.value, state, grad)
            for target in node.targets:
                self._assign(node, target.target, value, state, grad)
        elif isinstance(node, cst.AnnAssign):
            if node.value is not None:
                value = self._expression(node.value, state, grad)
                self._assign(node, node.target, value, state, grad)
        elif isinstance(node, cst.AugAssign):
            operand = self._expression(node.value, state, grad)
            self._inplace_update(node, node, node.target, state, grad, operand)
        elif isinstance(node, cst.Expr):
            self._expression(node.value, state, grad)
        elif isinstance(node, cst.Del):
            self._unbind_targets(node.target, state)
        elif isinstance(node, (cst.Return, cst.Raise)):
            if getattr(node, "value", None) is not None:
                self._expression(node.value, state, grad)
            elif isinstance(node, cst.Raise) and node.exc is not None:
                self._expression(node.exc, state, grad)
            return None
        elif isinstance(node, (cst.Continue, cst.Break)) and self._loops:
            loop = self._loops[-1]
            (loop.continues if isinstance(node, cst.Continue) else loop.breaks).append(state.copy())
            return None
        return state

    def _assign(self, statement, target, value: Value | None, state: _State, grad: Grad) -> None:
        if isinstance(target, cst.Subscript):
            self._inplace_update(statement, statement, target, state, grad, value)
            return
        if isinstance(target, cst.Attribute) and target.attr.value == "data":
            self._inplace_update(statement, statement, target, state, grad, value)
            return
        if isinstance(target, cst.Attribute) and target.attr.value == "requires_grad":
            key = dotted_name(target.value)
            if key is not None and isinstance(statement, cst.Assign):
                flag = constant_bool(statement.value)
                old = state.values.get(key)
                if flag is True and (old is None or old.kind is not Kind.TRACKED):
                    state.bind(key, Value(Kind.LEAF, "requires_grad = True"))
                elif flag is False and old is not None and old.kind is Kind.LEAF:
                    state.bind(key, Value(Kind.PLAIN))
            return
        key = dotted_name(target)
        if key is None:  # a tuple, a starred name...: nothing is known of what they get
            self._unbind_targets(target, state)
            return
        old = state.values.get(key)
        if (old is not None and old.kind is Kind.LEAF and isinstance(statement, cst.Assign)
                and (value is None or value.kind is not Kind.LEAF)  # a new nn.Parameter is fine
                and _recomputes(statement.value, key)):
            self._note(self._rebindings, statement, Rebinding(statement, key, old, grad))
        state.bind(key, value)

    def _unbind_targets(self, target: cst.CSTNode, state: _State) -> None:
        key = dotted_name(target)
        if key is not None:
            state.bind(key, None)
        elif isinstance(target, (cst.Tuple, cst.List)):
            for element in target.elements:
                self._unbind_targets(element.value, state)
        elif isinstance(target, cst.StarredElement):
            self._unbind_targets(target.value, state)

    # ------------------------------------------------------------------ in-place updates
    def _inplace_update(self, node, statement, target, state: _State, grad: Grad,
                        operand: Value | None) -> None:
        """``target`` (an expression) is written in place by ``node``."""
        base, through_view, through_data = _written(target)
        key = dotted_name(base)
        if key is None:
            return
        value = self._reference(base, state, grad)
        if value is None or value.kind not in TENSORS:
            return
        site = InPlace(node, statement, key, value, through_view, through_data, grad,
                       tuple(loop.node for loop in self._loops if isinstance(loop.node, cst.For)))
        if value.kind is Kind.LEAF:
            self._note(self._inplace, (node, key), site)
        if not through_data:  # ``.data`` writes skip the version counter: nothing goes stale
            for op in value.saved_by:
                state.stale.setdefault(op, site)
        if value.kind is Kind.TRACKED and grad is Grad.ENABLED and not through_data:
            history = value.history | (operand.history if operand is not None else frozenset())
            state.bind(key, replace(value, history=history, saved_by=frozenset()))
        elif through_data or grad is not Grad.ENABLED:
            state.bind(key, replace(value, saved_by=frozenset()))

    def _note(self, found: dict, key, item) -> None:
        if not self._quiet:
            found.setdefault(key, item)

    # ------------------------------------------------------------------ expressions
    def _expression(self, node: cst.BaseExpression, state: _State, grad: Grad) -> Value | None:
        """The value of ``node``, noting the in-place updates and backward calls inside it."""
        kind = type(node)  # exact types: these classes have no subclasses, and are ABCs
        if kind is cst.Name or kind is cst.Attribute:
            return self._reference(node, state, grad)
        if kind is cst.Call:
            return self._call(node, state, grad)
        if kind is cst.BinaryOperation:
            left = self._expression(node.left, state, grad)
            right = self._expression(node.right, state, grad)
            return self._binary(node, left, right, state, grad)
        if kind is cst.UnaryOperation:
            return self._derived(self._expression(node.expression, state, grad), grad)
        if kind is cst.Subscript:
            base = self._expression(node.value, state, grad)
            for element in node.slice:
                self._scan(element, state, grad)
            if base is not None and base.kind is Kind.GROUP:
                return Value(Kind.PARAMS, "an optimizer's param_groups")
            if base is not None and base.kind is Kind.GROUPS:
                return Value(Kind.GROUP)
            return self._derived(base, grad)
        if isinstance(node, (cst.Lambda, cst.GeneratorExp, cst.ListComp, cst.SetComp, cst.DictComp)):
            return None  # their own scope, run later or never
        self._scan(node, state, grad)
        return None

    def _scan(self, node: cst.CSTNode, state: _State, grad: Grad) -> None:
        for child in children(node):
            if is_expression(child):
                self._expression(child, state, grad)
            else:
                self._scan(child, state, grad)

    def _reference(self, node: cst.Name | cst.Attribute, state: _State, grad: Grad) -> Value | None:
        key = dotted_name(node)
        if key is not None and key in state.values:
            return state.values[key]
        if isinstance(node, cst.Attribute):
            base = self._expression(node.value, state, grad)
            attribute = node.attr.value
            if base is not None and base.kind is Kind.MODULE and attribute in WEIGHTS:
                return Value(Kind.LEAF, f"a layer's .{attribute}")
            if attribute in _PLAIN_RESULTS and base is not None and base.kind in TENSORS:
                return Value(Kind.PLAIN)
            if attribute in ("T", "mT") and base is not None:
                return self._derived(base, grad)
        return None

    def _derived(self, base: Value | None, grad: Grad) -> Value | None:
        """A tensor computed from ``base`` by an op that saves nothing."""
        if base is None or base.kind not in TENSORS:
            return None
        if base.kind is Kind.PLAIN or grad is Grad.DISABLED:
            return Value(Kind.PLAIN)
        if grad is Grad.MANAGED:
            return None
        return Value(Kind.TRACKED, history=base.history)

    def _binary(self, node, left: Value | None, right: Value | None, state: _State,
                grad: Grad) -> Value | None:
        if left is None and right is None:
            return None
        tracked = [v for v in (left, right) if _requires(v)]
        if not tracked or grad is not Grad.ENABLED:
            tensors = [v for v in (left, right) if v is not None and v.kind in TENSORS]
            plain = tensors and (grad is Grad.DISABLED or not tracked and all(
                v is not None or isinstance(operand, (cst.Integer, cst.Float))
                for v, operand in ((left, node.left), (right, node.right))))
            return Value(Kind.PLAIN) if plain else None
        history = frozenset().union(*(v.history for v in tracked))
        operator = node.operator
        saves_left = saves_right = False
        if isinstance(operator, (cst.Multiply, cst.MatrixMultiply)):
            saves_left, saves_right = _requires(right), _requires(left)
        elif isinstance(operator, cst.Divide):
            saves_left, saves_right = _requires(right), True
        elif isinstance(operator, cst.Power):
            saves_left, saves_right = True, _requires(right)
        saved = [(n, v) for n, v, s in ((node.left, left, saves_left), (node.right, right, saves_right))
                 if s and v is not None and v.kind in TENSORS]
        for operand, _ in saved:
            self._mark_saved(operand, node, state)
        return Value(Kind.TRACKED, history=history | ({node} if saved else frozenset()))

    def _mark_saved(self, operand: cst.BaseExpression, op: cst.CSTNode, state: _State) -> None:
        key = dotted_name(operand)
        value = state.values.get(key) if key is not None else None
        if value is not None and value.kind in TENSORS:
            state.values[key] = replace(value, saved_by=value.saved_by | {op})

    def _call(self, node: cst.Call, state: _State, grad: Grad) -> Value | None:
        func = node.func
        qualified = self.names.qualified_name(func)
        receiver = method = None
        if isinstance(func, cst.Attribute) and qualified is None:
            method = func.attr.value
            receiver = self._expression(func.value, state, grad)
        arguments = [self._expression(arg.value, state, grad) for arg in node.args]

        if qualified in _FACTORIES:
            flag = keyword_value(node, "requires_grad")
            return Value(Kind.LEAF, f"{qualified.rsplit('.', 1)[-1]}(requires_grad=True)") \
                if flag is not None and constant_bool(flag) is True else Value(Kind.PLAIN)
        if qualified in PARAMETER:
            flag = keyword_value(node, "requires_grad")
            if flag is None and len(node.args) > 1 and node.args[1].keyword is None:
                flag = node.args[1].value
            return None if flag is not None and constant_bool(flag) is not True \
                else Value(Kind.LEAF, "nn.Parameter")
        if qualified in LAYERS:
            return Value(Kind.MODULE)
        if qualified in BACKWARD_FUNCTIONS and arguments:
            self._backward(node, arguments[0], state)
            return None
        if qualified in _TORCH_FUNCTIONS and node.args:
            method = qualified.rsplit(".", 1)[-1]
            receiver, arguments = arguments[0], arguments[1:]
            return self._op(node, method, node.args[0].value, receiver, node.args[1:],
                            arguments, state, grad)
        if isinstance(func, cst.Name) and func.value in ("list", "tuple") and arguments:
            only = arguments[0]
            return only if only is not None and only.kind in _ELEMENT else None
        if isinstance(func, cst.Name) and func.value == "enumerate" and arguments:
            only = arguments[0]
            numbered = _NUMBERED.get(only.kind) if only is not None else None
            return replace(only, kind=numbered) if numbered is not None else None
        if method is None:
            # Somebody's function or module: its result depends on what it was given.
            tracked = [a for a in arguments if _requires(a)]
            if tracked and grad is Grad.ENABLED:
                return Value(Kind.TRACKED, history=frozenset().union(*(a.history for a in tracked)))
            if qualified is not None and qualified.startswith("torch.") and grad is Grad.DISABLED:
                return Value(Kind.PLAIN)
            return None

        if method in _MODULE_COLLECTIONS and not node.args:
            return Value(_MODULE_COLLECTIONS[method], f"{dotted_name(func.value) or 'model'}"
                         f".{method}()")
        if method == "backward":
            self._backward(node, receiver, state)
            return None
        if method == "requires_grad_":
            flag = node.args[0].value if node.args else None
            on = flag is None or constant_bool(flag) is True
            value = (receiver if receiver is not None and receiver.kind is Kind.TRACKED
                     else Value(Kind.LEAF, "requires_grad_()") if on else Value(Kind.PLAIN))
            key = dotted_name(func.value)
            if key is not None:
                state.bind(key, value)
            return value
        if inplace_method(node) is not None:
            operand = next((a for a in arguments if a is not None and a.kind in REQUIRES_GRAD), None)
            self._inplace_update(node, self._statement_now, func.value, state, grad, operand)
            base = _written(func.value)[0]
            return self._reference(base, state, grad) if dotted_name(base) else None
        if method in _TENSOR_EXITS or method in _PLAIN_RESULTS:
            return Value(Kind.PLAIN) if receiver is not None and receiver.kind in TENSORS else None
        return self._op(node, method, func.value, receiver, node.args, arguments, state, grad)

    def _op(self, node, name: str, subject, value: Value | None, args, arguments,
            state: _State, grad: Grad) -> Value | None:
        """``subject.name(*args)`` or ``torch.name(subject, *args)`` on tensors."""
        if value is None or value.kind not in TENSORS:
            return None
        others = [a for a in arguments if _requires(a)]
        if grad is Grad.MANAGED:
            return None
        if grad is Grad.DISABLED or value.kind is Kind.PLAIN and not others:
            return Value(Kind.PLAIN)
        history = value.history.union(*(a.history for a in others))
        saves = False
        if name in _SAVE_RESULT:
            return Value(Kind.TRACKED, history=history | {node}, saved_by=frozenset({node}))
        if name in _SAVE_INPUT and value.kind in REQUIRES_GRAD:
            self._mark_saved(subject, node, state)
            saves = True
        elif name in _SAVE_OTHER and args:
            other = arguments[0]
            if value.kind in REQUIRES_GRAD and other is not None and other.kind in TENSORS:
                self._mark_saved(args[0].value, node, state)
                saves = True
            if other is not None and other.kind in REQUIRES_GRAD:
                self._mark_saved(subject, node, state)
                saves = True
        return Value(Kind.TRACKED, history=history | ({node} if saves else frozenset()))

    def _backward(self, node: cst.Call, value: Value | None, state: _State) -> None:
        if value is None:
            return
        for op in value.history:
            site = state.stale.get(op)
            if site is not None:
                self._note(self._stale, site.node, StaleBackward(node, op, site))


def _requires(value: Value | None) -> bool:
    return value is not None and value.kind in REQUIRES_GRAD


def _written(target: cst.BaseExpression) -> tuple[cst.BaseExpression, bool, bool]:
    """Which tensor an in-place write to ``target`` changes: (its expression, through a view,
    through ``.data``).  ``w[0]``, ``w.view(4)``, ``w.data``, ``w.add_(1)`` all write to ``w``."""
    through_view = through_data = False
    while True:
        if isinstance(target, cst.Subscript):
            through_view, target = True, target.value
        elif isinstance(target, cst.Call) and isinstance(target.func, cst.Attribute) and (
                target.func.attr.value in VIEW_METHODS or inplace_method(target) is not None):
            through_view = through_view or target.func.attr.value in VIEW_METHODS
            target = target.func.value
        elif isinstance(target, cst.Attribute) and target.attr.value == "data":
            through_data, target = True, target.value
        elif isinstance(target, cst.Attribute) and target.attr.value in ("T", "mT"):
            through_view, target = True, target.value
        else:
            return target, through_view, through_data


def _mentions(expression: cst.BaseExpression, key: str) -> bool:
    """Does ``expression`` read ``key`` (or an attribute of it, like ``key.grad``)?"""
    stack = [expression]
    while stack:
        node = stack.pop()
        if isinstance(node, (cst.Name, cst.Attribute)):
            name = dotted_name(node)
            if name is not None and (name == key or name.startswith(key + ".")):
                return True
        stack.extend(children(node))
    return False


def _recomputes(expression: cst.BaseExpression, key: str) -> bool:
    """Is ``expression`` a new value computed from ``key`` (``w - lr * w.grad``), rather than
    a deliberate copy (``w.detach()``, ``w.data``, ``w.clone()``, ``w.to(device)``)?"""
    if isinstance(expression, cst.Attribute) and expression.attr.value == "data":
        return False
    if (isinstance(expression, cst.Call) and isinstance(expression.func, cst.Attribute)
            and expression.func.attr.value in COPIES):
        return False
    return _mentions(expression, key)
