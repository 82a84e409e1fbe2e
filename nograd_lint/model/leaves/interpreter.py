"""The leaf interpreter: what each name holds, statement by statement, in one function.

Run after the traversal, by :class:`~nograd_lint.model.leaves.LeafAnalysis`, on the functions
it recorded as worth it; see that package's docstring for what a value is.
"""

from __future__ import annotations

from nograd_lint import libcst as cst

from nograd_lint.model.grad_mode import Grad, constant_bool
from nograd_lint.model.leaves.expressions import ExpressionInterpreter, Loop, is_none
from nograd_lint.model.leaves.records import Rebinding
from nograd_lint.model.leaves.values import ELEMENT, PAIRS, Kind, State, Value, meet, merge, same
from nograd_lint.model.names import dotted_name
from nograd_lint.tree import children
from nograd_lint.vocabulary import COPIES, OPTIMIZERS, PARAMETER, bound_parameters


_MAX_ITERATIONS = 8


class Interpreter(ExpressionInterpreter):
    """Interprets the functions of one module for a :class:`LeafAnalysis`, reading the grad
    mode it recorded for every statement."""

    def interpret(self, body, state: State) -> State | None:
        try:
            return self._block(body, state)
        except RecursionError:  # absurdly nested expressions: no findings in this function
            return None

    def entry(self, function: cst.FunctionDef, shared: dict[str, Value]) -> State:
        """What holds when ``function`` starts (and it becomes the function interpreted)."""
        self._function_now = function
        state = State(dict(shared))
        params = function.params
        every = [*params.posonly_params, *params.params, *params.kwonly_params]
        outside = bound_parameters(self._callers).get(self.grad.qualified_name(function), {})
        bound = self.bound.get(function, {})
        for param in every:
            name = param.name.value
            value = bound.get(name)
            if value is None and name in outside:
                kind = Kind.LEAF if "leaf" in outside[name] else Kind.PARAMS
                value = Value(kind, "passed by a caller in another file")
            if value is None:
                value = self._annotated(param.annotation)
            state.bind(name, value)
        klass = self.model.class_of(function)
        if klass is not None:
            state.values.update((key, value) for key, value in self._attributes(klass).items()
                                if value is not None)
        if klass is not None and every and every[0].name.value in ("self", "cls"):
            if every[0].name.value == "self" and self._module_class(klass.name.value) is klass:
                state.bind("self", Value(Kind.MODULE, "self", classes=frozenset({klass})))
            every = every[1:]
        if function.name.value in self._applied and every:
            # ``model.apply(init)`` calls ``init`` with every submodule.
            state.bind(every[0].name.value, Value(Kind.MODULE))
        return state

    def _annotated(self, annotation: cst.Annotation | None) -> Value | None:
        """What a parameter annotated ``nn.Module``, ``VisionTransformer`` (a module class of
        this module), ``nn.Parameter`` or ``Optional[...]`` of one holds."""
        if annotation is None:
            return None
        hint = annotation.annotation
        if isinstance(hint, cst.SimpleString):  # ``model: "VisionTransformer"``
            text = hint.evaluated_value
            hint = cst.Name(text) if text.isidentifier() else None
        elif isinstance(hint, cst.BinaryOperation) and isinstance(hint.operator, cst.BitOr) \
                and is_none(hint.right):
            hint = hint.left
        elif isinstance(hint, cst.Subscript) and len(hint.slice) == 1 and \
                self.names.qualified_name(hint.value) == "typing.Optional":
            hint = hint.slice[0].slice.value if isinstance(hint.slice[0].slice, cst.Index) else None
        if hint is None:
            return None
        if self.names.qualified_name(hint) in PARAMETER:
            return Value(Kind.LEAF, "an nn.Parameter argument")
        made = self._class_value(hint)
        return Value(Kind.MODULE, "a module argument", classes=made.classes) \
            if made is not None else None

    def _attributes(self, klass: cst.ClassDef) -> dict[str, Value | None]:
        """``self.<attr>`` in the methods of ``klass`` and its own base classes: what the
        assignments to it that give something known agree on (None: nothing known), and an
        optimizer's ``param_groups``.  ``None`` is no assignment: it leaves nothing to update."""
        known = self._class_attributes.get(klass)
        if known is not None:
            return known
        self._class_attributes[klass] = known = {}  # a cycle of own classes ends here
        for base in klass.bases:
            own = self.model.classes.get(base.value.value) \
                if isinstance(base.value, cst.Name) else None
            if own is not None:
                known.update(self._attributes(own))
        if any(self._is_optimizer(base.value) for base in klass.bases):
            known["self.param_groups"] = Value(Kind.GROUPS)
        assigned: dict[str, list[Value | None]] = {}
        self._quiet += 1
        try:
            for statement in self.model.self_assignments(klass):
                if is_none(statement.value):
                    continue
                value = self._expression(statement.value, State(), Grad.ENABLED)
                for target in statement.targets:
                    key = dotted_name(target.target)
                    if key is not None:
                        assigned.setdefault(key, []).append(value)
            for method, name, argument in self.model.self_registrations(klass):
                # A buffer is no leaf; a registered parameter is whatever it is given.
                value = Value(Kind.PLAIN) if method == "register_buffer" else \
                    self._expression(argument.value, State(), Grad.ENABLED)
                assigned.setdefault(f"self.{name}", []).append(value)
        finally:
            self._quiet -= 1
        for key, values in assigned.items():
            # What the assignments that say what they give agree on (a rebinding such as
            # ``self.w = self.w - lr * self.w.grad`` says nothing here).
            values = [v for v in values if v is not None]
            value = values[0] if values else None
            for other in values[1:]:
                value = meet(value, other) if value is not None else None
            known[key] = value
        return known

    def _class_methods(self, classes: frozenset, name: str) -> list[cst.FunctionDef]:
        """The methods ``name`` of the module's own ``classes`` (or of their own bases)."""
        found = []
        for klass in classes:
            seen = set()
            while isinstance(klass, cst.ClassDef) and klass not in seen:
                seen.add(klass)
                methods = self.model.methods(klass, name)
                if methods:
                    found.extend(methods)
                    break
                bases = [b.value.value for b in klass.bases if isinstance(b.value, cst.Name)]
                klass = self.model.classes.get(bases[0]) if bases else None
        return found

    def _returns(self, function: cst.FunctionDef) -> Value | None:
        """What ``function`` returns on every path, from its own body alone (nothing is
        reported while it is interpreted for this)."""
        if function in self._summaries:
            return self._summaries[function]
        self._summaries[function] = None  # recursion: not known
        saved = self._statement_now, self._loops, self._returned
        self._statement_now, self._loops, self._returned = None, [], []
        self._quiet += 1
        try:
            end = self.interpret(function.body.body, self.entry(function, self.shared))
            returned = self._returned
        finally:
            self._quiet -= 1
            self._statement_now, self._loops, self._returned = saved
        if end is not None or not returned:  # falls off its end: returns None there
            value = None
        else:
            value = returned[0]
            for other in returned[1:]:
                value = meet(value, other) if value is not None else None
        self._summaries[function] = value
        return value

    def _is_optimizer(self, base: cst.BaseExpression) -> bool:
        name = dotted_name(base)
        return self.names.qualified_name(base) in OPTIMIZERS or (
            name is not None and name.endswith("Optimizer"))

    def _enter(self, statement: cst.CSTNode) -> Grad:
        """Start interpreting ``statement`` (or a compound statement's header): its grad mode."""
        self._statement_now = statement
        where = self._where.get(statement)
        return self.grad.state(where) if where is not None else Grad.MANAGED

    # ------------------------------------------------------------------ statements
    def _block(self, statements, state: State | None) -> State | None:
        for statement in statements:
            if state is None:
                return None
            state = self._statement(statement, state)
        return state

    def _body(self, suite, state: State | None) -> State | None:
        return self._block(suite.body, state) if suite is not None else state

    def _statement(self, node: cst.CSTNode, state: State) -> State | None:
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
            return merge([state] + [self._body(case.body, state.copy()) for case in node.cases])
        return state

    def _if(self, node: cst.If, state: State) -> State | None:
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
        return merge([then, otherwise])

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

    def _loop(self, node: cst.For | cst.While, entry: State) -> State | None:
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
            following = merge([entry, back])
            if same(following, current):
                break
            current = following
            back, breaks = self._iteration(node, current, element)
        after = merge([current, back])
        after = self._body(node.orelse.body, after) if node.orelse is not None else after
        return merge([after, *breaks])

    def _iteration(self, node, state: State, element: Value | None):
        """One pass over the loop body: (state at the back edge, states at ``break``)."""
        state = state.copy()
        if isinstance(node, cst.For):
            self._bind_loop_target(node, state, element)
        loop = Loop(node)
        self._loops.append(loop)
        try:
            out = self._body(node.body, state)
        finally:
            self._loops.pop()
        return merge([out, *loop.continues]), loop.breaks

    def _bind_loop_target(self, node: cst.For, state: State, collection: Value | None) -> None:
        self._bind_element(node, node.target, state, collection)

    def _bind_element(self, node: cst.For, target: cst.BaseExpression, state: State,
                      collection: Value | None) -> None:
        """Bind ``target`` to an element of ``collection``: a leaf of ``parameters()``, the
        pair of ``named_parameters()``, the tuple of ``zip(...)``/``enumerate(...)``..."""
        if collection is not None and collection.kind is Kind.TUPLES:
            if isinstance(target, (cst.Tuple, cst.List)) and len(target.elements) == len(
                    collection.items) and not any(isinstance(e, cst.StarredElement)
                                                  for e in target.elements):
                for element, items in zip(target.elements, collection.items):
                    self._bind_element(node, element.value, state, items)
            else:
                self._unbind_targets(target, state)
            return
        kind = ELEMENT.get(collection.kind) if collection is not None else None
        if kind is not None and collection.kind in PAIRS:
            if isinstance(target, (cst.Tuple, cst.List)) and len(target.elements) == 2:
                self._unbind_targets(target.elements[0].value, state)
                target = target.elements[1].value
            else:
                kind = None
        key = dotted_name(target) if kind is not None else None
        if key is None:
            self._unbind_targets(target, state)
            return
        if kind is Kind.LEAF and collection.frozen:  # ``model.requires_grad_(False)``
            state.bind(key, Value(Kind.PLAIN))
        elif kind is Kind.MODULE:
            state.bind(key, Value(kind, collection.origin, frozen=collection.frozen))
        else:
            state.bind(key, Value(kind, collection.origin,
                                  loop=node if kind is Kind.LEAF else None))

    def _try(self, node, state: State) -> State | None:
        body = self._body(node.body, state.copy())
        # A handler may start anywhere in the body: only what held before it and after it.
        handler_entry = merge([state, body])
        ends = [self._body(handler.body, handler_entry.copy()) for handler in node.handlers]
        if node.orelse is not None:
            body = self._body(node.orelse.body, body)
        merged = merge([body, *ends])
        if node.finalbody is not None:
            merged = self._body(node.finalbody.body, merged)
        return merged

    def _small(self, node: cst.BaseSmallStatement, state: State) -> State | None:
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
                returned = self._expression(node.value, state, grad)
                if isinstance(node, cst.Return) and self._returned is not None:
                    self._returned.append(returned)
            elif isinstance(node, cst.Raise) and node.exc is not None:
                self._expression(node.exc, state, grad)
            return None
        elif isinstance(node, (cst.Continue, cst.Break)) and self._loops:
            loop = self._loops[-1]
            (loop.continues if isinstance(node, cst.Continue) else loop.breaks).append(state.copy())
            return None
        return state

    def _assign(self, statement, target, value: Value | None, state: State, grad: Grad) -> None:
        if isinstance(target, cst.Subscript):
            self._inplace_update(statement, statement, target, state, grad, value)
            return
        if isinstance(target, cst.Attribute) and target.attr.value == "data":
            return  # ``w.data = t`` gives ``w`` other data: no write to the data it had
        if isinstance(target, cst.Attribute) and target.attr.value == "requires_grad":
            key = dotted_name(target.value)
            if key is not None and isinstance(statement, cst.Assign):
                flag = constant_bool(statement.value)
                old = self._reference(target.value, state, grad) \
                    if isinstance(target.value, (cst.Name, cst.Attribute)) else None
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
                and _recomputes(statement.value, key)
                # A local name for a module's parameter (``w = conv.weight``) leaves the module
                # unchanged: only an update (``w = w - lr * w.grad``) is lost by rebinding it.
                and (not old.in_module or "." in key or _updates(statement.value, key))):
            self._note(self._rebindings, statement, Rebinding(statement, key, old, grad))
        state.bind(key, value)

    def _unbind_targets(self, target: cst.CSTNode, state: State) -> None:
        key = dotted_name(target)
        if key is not None:
            state.bind(key, None)
        elif isinstance(target, (cst.Tuple, cst.List)):
            for element in target.elements:
                self._unbind_targets(element.value, state)
        elif isinstance(target, cst.StarredElement):
            self._unbind_targets(target.value, state)

    # ------------------------------------------------------------------ in-place updates


def mentions(expression: cst.BaseExpression, key: str) -> bool:
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


def _updates(expression: cst.BaseExpression, key: str) -> bool:
    """``key <op> ...``: the shape of an update written as a rebinding."""
    return isinstance(expression, cst.BinaryOperation) and dotted_name(expression.left) == key


def _recomputes(expression: cst.BaseExpression, key: str) -> bool:
    """Is ``expression`` a new value computed from ``key`` (``w - lr * w.grad``), rather than
    a deliberate copy (``w.detach()``, ``w.data``, ``w.clone()``, ``w.to(device)``)?"""
    if isinstance(expression, cst.Attribute) and expression.attr.value == "data":
        return False
    if (isinstance(expression, cst.Call) and isinstance(expression.func, cst.Attribute)
            and expression.func.attr.value in COPIES):
        return False
    return mentions(expression, key)
