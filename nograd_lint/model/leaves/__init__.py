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
  ``x.requires_grad = True``, a parameter annotated ``nn.Parameter``, a loop variable over
  ``X.parameters()`` (the second one over ``named_parameters()``, each of ``zip(...)``,
  ``enumerate(...)``, ``filter(f, ...)``), over ``group["params"]`` of ``X.param_groups``
  (``self``'s only in an ``Optimizer`` subclass), ``copy.deepcopy`` or a dtype cast
  (``p.float()``: ``p`` itself when it is float32) of a leaf, or an attribute of a *module*
  value: its ``weight``/``bias``, or what its class registers (``self.cls_token =
  nn.Parameter(...)``, ``register_parameter``; ``register_buffer`` makes no leaf);
* a *module*: a torch module class called (``nn.Linear(...)``, ``nn.Sequential(...)``), or a
  *module factory* (``nn.Linear``, ``functools.partial(nn.Conv2d, ...)``, a conditional
  choosing between them, a module class of this file) called; ``timm.create_model``,
  ``torchvision.models.*``, ``X.from_pretrained``, ``copy.deepcopy`` of a module; a parameter
  annotated with a module class (``nn.Module``, ``nn.Linear``, a module class of this file,
  ``Optional[...]`` of one); ``self`` in a module class; any other attribute, item or
  ``getattr`` of a module, ``get_classifier()``/``get_submodule()``, the result of a method of
  the module's own class that returns a module on every path; loop variables over
  ``model.modules()`` or over a module (an ``nn.Sequential``/``nn.ModuleList``); the
  parameter of a function passed to ``model.apply``; a name inside ``if isinstance(m,
  nn.Linear):``; a ``self.<attr>`` assigned a layer in its class.  ``requires_grad_(False)``
  freezes a module: nothing reached through it is a leaf;
* any of these in a function's parameter that a call site where gradients are on passes
  one to (``def rescale(p, i): p.div_(i)`` called with ``rescale(fc.weight, 2)``): its call
  sites in the module (``f(...)``, ``self.f(...)``, by position or keyword), interpreted as
  their functions are, to a fixed point over the chain of callers; and those in other files,
  from the project index (a leaf or an iterable of leaves: ``context.callers.parameters``);
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
operation`` — exactly what the runtime and PyTorch do.  An update through ``.data`` skips that
check: the backward then silently computes with the new values (NG202).

An in-place update is a method (``w.add_(1)``), an augmented or subscript assignment, or a
torch function that writes to an argument (``torch.relu_(w)``, ``F.relu(w, inplace=True)``,
``torch._foreach_mul_(params, 2)`` on every tensor of ``params``, ``torch.clamp(x, 0, 1,
out=w)``).  ``w.data = t`` is none: it gives ``w`` other data and leaves the old untouched.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from nograd_lint import libcst as cst

from nograd_lint.model.grad_mode import Grad, GradRegions, Where
from nograd_lint.model.layers import Layer
from nograd_lint.model.leaves.writes import functional_write, inplace_method
from nograd_lint.model.leaves.interpreter import Interpreter, mentions
from nograd_lint.model.leaves.records import InPlace, Rebinding, StaleBackward
from nograd_lint.model.leaves.values import Kind, State, Value
from nograd_lint.model.names import ImportResolver, dotted_name
from nograd_lint.model.scopes import receiver_method

if TYPE_CHECKING:
    from nograd_lint.context import ModuleContext

__all__ = ["InPlace", "Kind", "LeafAnalysis", "Rebinding", "StaleBackward", "Value"]


class LeafAnalysis(Layer):
    """The traversal participant that records what the interpreter needs; see the module
    docstring.  Rules read :attr:`inplace`, :attr:`rebindings` and :attr:`stale_backwards`
    in ``finish``."""

    requires = (ImportResolver, GradRegions)

    def __init__(self, context: ModuleContext) -> None:
        self.names, self.model, self.grad = context.names, context.model, context.grad
        self.callers = context.callers
        self.where_of: dict[cst.CSTNode, Where] = {}  # every statement's grad mode
        self._lines: dict[cst.CSTNode, cst.CSTNode] = {}  # small statement -> its line
        self._candidates: set[cst.CSTNode | None] = set()  # functions worth interpreting
        self._rebinding_sites: list[tuple] = []  # (function, key, value, where)
        # Calls with arguments of what may be this module's functions: (the function they
        # are in, the call, the class around it), resolved to callees once all are known.
        self._argument_calls: list[tuple] = []
        # Names a function of the module is assigned to: ``func = _single_step`` in a
        # function (keyed by it), ``self.update = update_fn`` in a class (keyed by it).
        self._aliases: dict[tuple, list[str]] = {}
        # Functions in source order: they are interpreted in it, so that what is found (and
        # the first caller a message names) does not depend on set order.
        self._source_order: dict[cst.FunctionDef, int] = {}
        self._module: cst.Module | None = None
        self.applied: set[str] = set()  # functions passed to ``X.apply(...)``
        self._done = False
        # What the interpreter finds, by site (a site met on several paths counts once).
        self.found_inplace: dict[tuple, InPlace] = {}
        self.found_rebindings: dict[cst.CSTNode, Rebinding] = {}
        self.found_stale: dict[cst.CSTNode, StaleBackward] = {}

    # ------------------------------------------------------------------ results
    @property
    def inplace(self) -> list[InPlace]:
        self._run()
        return list(self.found_inplace.values())

    @property
    def rebindings(self) -> list[Rebinding]:
        self._run()
        return list(self.found_rebindings.values())

    @property
    def stale_backwards(self) -> list[StaleBackward]:
        self._run()
        return list(self.found_stale.values())

    def line_of(self, statement: cst.CSTNode) -> cst.CSTNode | None:
        return self._lines.get(statement)

    # ------------------------------------------------------------------ traversal
    def visit_Module(self, node: cst.Module) -> None:
        self._module = node

    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        self.where_of[node] = self.grad.where()
        self._source_order[node] = len(self._source_order)

    def _record_line(self, node: cst.SimpleStatementLine | cst.SimpleStatementSuite) -> None:
        where = self.grad.where()
        for statement in node.body:
            self.where_of[statement] = where
            self._lines[statement] = node

    visit_SimpleStatementLine = _record_line
    visit_SimpleStatementSuite = _record_line

    def _record_header(self, node: cst.CSTNode) -> None:
        self.where_of[node] = self.grad.where()

    visit_For = visit_While = visit_If = visit_With = visit_Try = _record_header

    def visit_AugAssign(self, node: cst.AugAssign) -> None:
        self._candidates.add(self.model.named_function())

    def visit_Assign(self, node: cst.Assign) -> None:
        for target in node.targets:
            target = target.target
            if isinstance(target, cst.Subscript) or isinstance(target, cst.Attribute) and \
                    target.attr.value == "requires_grad":
                self._candidates.add(self.model.named_function())
            elif (key := dotted_name(target)) is not None:
                # A possible NG203 rebinding; checked once grad modes are known (see _run).
                self._rebinding_sites.append(
                    (self.model.named_function(), key, node.value, self.grad.where()))
                if isinstance(node.value, cst.Name):
                    method = receiver_method(target)
                    scope = (self.model.enclosing_class(), method) if method is not None else \
                        (self.model.named_function(), key)
                    self._aliases.setdefault(scope, []).append(node.value.value)

    def visit_Call(self, node: cst.Call) -> None:
        if node.args and (isinstance(node.func, cst.Name) or receiver_method(node.func)):
            self._argument_calls.append(
                (self.model.named_function(), node, self.model.enclosing_class()))
        if inplace_method(node) is not None or functional_write(node, self.names) is not None:
            self._candidates.add(self.model.named_function())
        elif isinstance(node.func, cst.Attribute) and node.func.attr.value == "apply":
            for arg in node.args:
                function = arg.value
                if isinstance(function, cst.Attribute) and dotted_name(function.value) == "self":
                    function = function.attr
                if isinstance(function, cst.Name):
                    self.applied.add(function.value)

    # ------------------------------------------------------------------ interpretation
    def _run(self) -> None:
        if self._done:
            return
        self._done = True
        for function, key, value, where in self._rebinding_sites:
            # Only rebindings with grad disabled matter, and most code runs with it enabled.
            if function not in self._candidates and self.grad.state(where) is Grad.DISABLED \
                    and mentions(value, key):
                self._candidates.add(function)
        if not self._candidates or self._module is None:
            return
        interpreter = Interpreter(self)
        functions = self._with_callers(interpreter)
        globals_ = interpreter.interpret(self._module.body, State()) or State()
        interpreter.shared = shared = {
            k: v for k, v in globals_.values.items() if v.kind in (Kind.LEAF, Kind.MODULE)}
        for function in self._candidates:
            if function is not None:
                interpreter.interpret(function.body.body, interpreter.entry(function, shared))
        # A function is interpreted again when a caller binds a parameter of it anew; each
        # parameter is bound once, so this ends, also through recursion.
        work = list(functions)
        while work:
            function = work.pop(0)
            interpreter.interpret(function.body.body, interpreter.entry(function, shared))
            work.extend(f for f in interpreter.take_rebound() if f not in work)

    def _with_callers(self, interpreter: Interpreter) -> list[cst.FunctionDef]:
        """The candidate functions and, transitively, the functions of the module that call
        one with arguments (which may bind its parameters), in source order; the calls
        between them are told to ``interpreter``."""
        callers_of: dict[cst.FunctionDef, list[tuple]] = {}
        functions = self.model.functions
        for caller, call, klass in self._argument_calls:
            method = receiver_method(call.func)
            aliases = self._aliases.get((klass, method) if method is not None else
                                        (caller, call.func.value), ())
            callees = [*self.model.callees(call.func, klass),
                       *(f for name in aliases for f in functions.get(name, ()))]
            for callee in dict.fromkeys(callees):
                callers_of.setdefault(callee, []).append((caller, call))
        needed = [f for f in self._candidates if f is not None]
        seen = set(needed)
        stack = list(needed)
        while stack:
            for caller, call in callers_of.get(stack.pop(), ()):
                if caller is not None and caller not in seen:
                    seen.add(caller)
                    needed.append(caller)
                    stack.append(caller)
        for callee, sites in callers_of.items():
            if callee in seen:
                for caller, call in sites:
                    interpreter.calls.setdefault(call, []).append(callee)
        return sorted(needed, key=self._source_order.__getitem__)
