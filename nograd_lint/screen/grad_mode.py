"""Grad mode, the screen's mirror of model/grad_mode.py, and the features it decides alone.

``grad-mode``     a grad-mode API (``no_grad``, ``inference_mode``...) mentioned anywhere, or
                  a function that callers in other files may run with gradients off.
``grad-mode-with``  a ``with`` item that is such an API not called, or ``no_grad`` or
                  ``enable_grad`` called with arguments (NG102).
``grad-mode-call-statement``  a ``no_grad``, ``enable_grad`` or ``inference_mode`` call as
                  a statement of its own (NG107).
``grad-mode-statement``  ``set_grad_enabled`` called with ``False`` in a function, and no
                  later call in it that surely is torch's ``set_grad_enabled`` (NG103).
``backward-without-grad``  a ``.backward(...)`` or ``grad(...)`` call where gradients may be
                  off, or in a function with a grad-mode ``with`` (NG104).

Gradients *may be on* unless the function has no ``set_grad_enabled`` call and either the
innermost grad-mode ``with`` item or decorator is torch's ``no_grad`` or ``inference_mode()``
(resolved from the imports the way model/names.py does), or there is none and the function is
surely called only where gradients are off (its name occurs nowhere but in its ``def`` and in
such calls, and its call sites in other files, from the project index, all have them off).
They *may be off* under any grad-mode ``with`` or decorator, in a function with a
``set_grad_enabled`` call, in a lambda, and in a function all of whose calls in the module
(``f(...)``, ``self.f(...)``, passing ``f`` along) are where they may be off, and whose calls
in other files may have them off, if it has any.
"""

from __future__ import annotations

import ast
from collections.abc import Mapping

from nograd_lint.ast_walk import dotted
from nograd_lint.config import Config
from nograd_lint.screen.names import NamesScreen
from nograd_lint.screen.walk import Context, Disabler, Frame, GradItem
from nograd_lint.vocabulary import GRAD_MODE_NAMES, INFERENCE_MODE, NO_GRAD, SET_GRAD_ENABLED, Grad

_SET_GRAD_ENABLED = frozenset({"set_grad_enabled"})
_TAKES_NO_ARGUMENTS = frozenset({"no_grad", "enable_grad"})  # ``with no_grad(False):`` fails
_CONTEXT_MANAGERS = frozenset({"no_grad", "enable_grad", "inference_mode"})
_BACKWARD = frozenset({"backward", "grad"})

FunctionKey = tuple[ast.ClassDef | None, str]  # Frame.key of a function


class _EveryFunction(Mapping):
    """Callers in other files of every module-level function and method, all in one grad
    mode (a mapping from qualified names: ``None``, a nested function's, is not in it)."""

    def __init__(self, grad: Grad, parameters: Mapping[str, Mapping[str, frozenset[str]]]
                 ) -> None:
        self.grad = grad
        # Callers.parameters: what they bind the functions' parameters to.
        self.parameters = parameters

    def __getitem__(self, qualname: str) -> Grad:
        if not isinstance(qualname, str):
            raise KeyError(qualname)
        return self.grad

    def __iter__(self):
        return iter(())

    def __len__(self) -> int:
        return 0


class _AnyKinds(dict):
    """Each parameter of a function bound to a leaf or an iterable of leaves (read by get)."""

    def get(self, parameter, default=None) -> frozenset[str]:
        return frozenset({"leaf", "params"})

    def __bool__(self) -> bool:
        return True


class _AnyBindings(dict):
    """Every function's parameters bound as _AnyKinds says (read by get)."""

    def get(self, qualname, default=None) -> _AnyKinds:
        return _ANY_KINDS

    def __bool__(self) -> bool:
        return True


_ANY_KINDS = _AnyKinds()

#: Callers in other files not known yet: every module-level function and method may have
#: some, in any grad mode, and any of them may pass a leaf for any parameter.  Every feature
#: only grows when a function may run with gradients off (``grad-mode``,
#: ``backward-without-grad``, ``leaf-rebinding``: the fewest with no callers), or only when it
#: may run with them on (``eval-forward``, ``forward-after-eval``, ``leaf-update``: the fewest
#: when all callers have them off, DISABLED_CALLERS), and only grows with the parameters
#: callers bind to leaves (none under DISABLED_CALLERS or with no callers); so the features
#: under any callers the project index can find include those present both with no callers
#: and under DISABLED_CALLERS, and are included in those under ANY_CALLERS (under
#: NO_LEAVES_PASSED where no caller passes a leaf).
ANY_CALLERS = _EveryFunction(Grad.MANAGED, _AnyBindings())
NO_LEAVES_PASSED = _EveryFunction(Grad.MANAGED, {})
DISABLED_CALLERS = _EveryFunction(Grad.DISABLED, {})


class _Sites:
    """Per function (key), the functions (keys) whose membership in a set of functions decides
    whether its call sites in them keep it in the set (None: a site that surely removes it)."""

    def __init__(self) -> None:
        self.deciders: dict[FunctionKey, set[FunctionKey | None]] = {}
        self.decides: dict[FunctionKey | None, set[FunctionKey]] = {}  # the reverse

    def decided_by(self, function: FunctionKey, caller: FunctionKey | None) -> None:
        self.deciders.setdefault(function, set()).add(caller)
        self.decides.setdefault(caller, set()).add(function)

    def greatest_subset(self, functions: set[FunctionKey]) -> set[FunctionKey]:
        """The greatest subset of ``functions`` that holds each function's deciders: the
        fixed point that removing functions until none has a decider outside reaches, with a
        worklist over those removed."""
        removed = [f for f in functions if not self.deciders.get(f, set()) <= functions]
        kept = functions.difference(removed)
        while removed:
            for function in self.decides.get(removed.pop(), ()):
                if function in kept:
                    kept.discard(function)
                    removed.append(function)
        return kept


class GradModeScreen(NamesScreen):
    def __init__(self, source: str | bytes, path: str, config: Config,
                 callers: Mapping[str, Grad]) -> None:
        super().__init__(source, path, config, callers)
        # Where each function may be called (as model/grad_mode.py matches calls to functions):
        # function key -> [(grad frame, disabler) of each call or passing as an argument].
        self.calls: dict[FunctionKey, list[tuple[Frame, Disabler]]] = {}
        self.disabled_functions: set[FunctionKey] = set()  # see settle()
        self.without_grad: set[FunctionKey] = set()  # see settle()
        self.backwards: list[tuple[Frame, Disabler]] = []  # backward calls
        self.grad_mode_names = self.known_as(GRAD_MODE_NAMES)
        self.backward_names = self.known_as(_BACKWARD)
        self.set_grad_names = self.known_as(_SET_GRAD_ENABLED)
        self.takes_no_arguments = self.known_as(_TAKES_NO_ARGUMENTS)
        self.context_managers = self.known_as(_CONTEXT_MANAGERS)

    # ------------------------------------------------------------------ the walk
    def on_function(self, node: ast.FunctionDef | ast.AsyncFunctionDef, outer: Context,
                    inner: Context) -> Context:
        disabler = None
        for decorator in node.decorator_list:
            disabler = self.grad_mode_item(decorator) or disabler
        return inner._replace(disabler=disabler)

    def on_with(self, node: ast.With | ast.AsyncWith, context: Context) -> Context:
        inner = context.disabler
        for item in node.items:
            inner = self.grad_mode_item(item.context_expr) or inner
            self.with_item(item.context_expr)
        if inner is not context.disabler:
            context.frame.disables = context.grad_frame.disables = True
        return context._replace(disabler=inner)

    def on_call(self, node: ast.Call, name: str | None, context: Context) -> None:
        # Called, or passed along (``model.apply(init)``): model/grad_mode.py takes a function
        # to run right here.  (Most arguments are neither names nor attributes.)
        self.note_call(node.func, context)
        for expression in node.args:
            if type(expression) is ast.Name or type(expression) is ast.Attribute:
                self.note_call(expression, context)
        for keyword in node.keywords:
            if type(keyword.value) is ast.Name or type(keyword.value) is ast.Attribute:
                self.note_call(keyword.value, context)
        if name in self.backward_names:
            context.frame.backward = True
            self.backwards.append((context.grad_frame, context.disabler))
        if name == "__enter__" and type(node.func) is ast.Attribute and \
                type(node.func.value) is ast.Call and \
                (dotted(node.func.value.func) or "").rsplit(".", 1)[-1] in self.grad_mode_names:
            # ``no_grad().__enter__()`` switches the mode for the rest of the block.
            context.grad_frame.sets_grad = True
        if name in self.set_grad_names:
            context.grad_frame.sets_grad = True
            arguments = [*node.args, *(k.value for k in node.keywords)]
            context.frame.set_grad_calls.append((node, any(
                type(a) is ast.Constant and a.value is False for a in arguments)))

    def on_expression_statement(self, value: ast.AST) -> None:
        if type(value) is ast.Call:
            name = dotted(value.func)
            if name is not None and name.rsplit(".", 1)[-1] in self.context_managers:
                self.found.add("grad-mode-call-statement")

    def grad_mode_item(self, expression: ast.AST) -> Disabler:
        """``(name, line)`` when ``expression`` (a ``with`` item or decorator) is spelled like
        a grad-mode API: ``no_grad()``, ``torch.inference_mode``, ``ng()`` after ``import
        no_grad as ng``...  What it does is settled once the module is known."""
        call = expression if type(expression) is ast.Call else None
        name = dotted(expression.func if call is not None else expression)
        if name is None or not name.rsplit(".", 1)[-1] in self.grad_mode_names:
            return None
        return GradItem(name, expression.lineno,
                        call is not None and bool(call.args or call.keywords))

    def note_call(self, expression: ast.AST, context: Context) -> None:
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
        name = dotted(item.func if called else item)
        if name is None:
            return
        last = name.rsplit(".", 1)[-1]
        if not called and last in self.grad_mode_names or called and (
                item.args or item.keywords) and last in self.takes_no_arguments:
            self.found.add("grad-mode-with")

    # ------------------------------------------------------------------ after the walk
    def prepare(self) -> None:
        """What the fixed points of settle start from that the callers do not change."""
        super().prepare()
        self.mentions_api = not self.mentioned.isdisjoint(self.grad_mode_names)
        self.leaks_grad_mode = any(frame.key is not None and self.may_leak_grad_mode(frame)
                                   for frame in self.frames)
        self.qualified_frames = [frame for frame in self.frames if frame.qualname is not None]
        # Per function, how its call sites bear on the two fixed points of settle: each call
        # site either decides alone, or as the function it is in (its key) does.
        # Only the module's own functions count: settle asks no other.
        self.disabling = _Sites()  # may gradients be off at the site?
        self.enabling = _Sites()  # may they be on?
        defined = {frame.key for frame in self.frames if frame.key is not None}
        self.called_functions = defined.intersection(self.calls)
        for key in self.called_functions:
            for frame, disabler in self.calls[key]:
                if disabler is None and not frame.sets_grad and frame is not self.lambdas:
                    self.disabling.decided_by(key, frame.key)
                if frame.sets_grad or disabler is None and frame.key is None or \
                        disabler is not None and self.may_have_grad(frame, disabler):
                    self.enabling.decided_by(key, None)
                elif disabler is None:
                    self.enabling.decided_by(key, frame.key)
        self.unescaped = self.functions_that_cannot_escape()

    def settle(self) -> None:
        """Settle grad mode (the other analyses' settle() read it), then its features."""
        super().settle()
        found = self.found
        if self.mentions_api or any(
                self.callers.get(frame.qualname, Grad.ENABLED) is not Grad.ENABLED
                for frame in self.qualified_frames):
            found.add("grad-mode")
        self.disabled_functions = self.functions_maybe_called_without_grad()
        self.without_grad = self.functions_surely_called_without_grad()
        if any(self.may_disable(frame, d) or frame.disables for frame, d in self.backwards):
            found.add("backward-without-grad")
        if self.leaks_grad_mode:
            found.add("grad-mode-statement")

    def functions_maybe_called_without_grad(self) -> set[FunctionKey]:
        """The functions model/grad_mode.py may take to run with gradients off: those whose every
        call site may have them off.  Its greatest fixed point, over-approximated: escapes
        (a function stored or returned) are not followed, and lambdas may be anything."""
        disabled = self.called_functions | {
            frame.key for frame in self.qualified_frames
            if self.callers.get(frame.qualname) in (Grad.DISABLED, Grad.MANAGED)}
        return self.disabling.greatest_subset(disabled)

    def functions_that_cannot_escape(self) -> dict[FunctionKey, list[Frame]]:
        """The functions (by key, with their frames) every textual occurrence of whose name is
        their ``def`` or a call site (or argument) seen here: they cannot escape."""
        defined: dict[str, int] = {}
        frames: dict[FunctionKey, list[Frame]] = {}
        for frame in self.frames:
            if frame.key is not None:
                defined[frame.key[1]] = defined.get(frame.key[1], 0) + 1
                frames.setdefault(frame.key, []).append(frame)
        seen: dict[str, int] = {}
        for (_, name), sites in self.calls.items():
            seen[name] = seen.get(name, 0) + len(sites)
        encode = str.encode if isinstance(self.source, bytes) else str
        return {key: group for key, group in frames.items()
                if self.source.count(encode(key[1])) <= defined[key[1]] + seen.get(key[1], 0)}

    def functions_surely_called_without_grad(self) -> set[FunctionKey]:
        """The functions model/grad_mode.py surely takes to run with gradients off: its greatest
        fixed point again, under-approximated.  A function counts only when it cannot escape
        (functions_that_cannot_escape) and every call site surely has gradients off."""
        # Every function of the key must have call sites (here or, from the project index, in
        # other files), and those in other files must all have gradients off.
        without = {key for key, group in self.unescaped.items() if all(
            (key in self.called_functions or frame.qualname in self.callers)
            and self.callers.get(frame.qualname, Grad.DISABLED) is Grad.DISABLED
            for frame in group)}
        return self.enabling.greatest_subset(without)

    def may_disable(self, frame: Frame, disabler: Disabler) -> bool:
        """Can gradients be off in ``frame`` where ``disabler`` is in force?  Only through a
        grad-mode API around it, a ``set_grad_enabled`` statement, inside a lambda, or through
        callers that may all have them off."""
        return (disabler is not None or frame.sets_grad or frame is self.lambdas
                or frame.key in self.disabled_functions)

    def may_have_grad(self, frame: Frame, disabler: Disabler) -> bool:
        """Can gradients be enabled in ``frame`` where ``disabler`` is the innermost grad-mode
        ``with`` or decorator?  Not when it is torch's ``no_grad``/``inference_mode()``, as
        model/names.py resolves names, or there is none and all of the function's callers have
        them off, and no ``set_grad_enabled`` statement in the frame can switch them back on."""
        if frame.sets_grad:
            return True
        if disabler is None:
            return frame.key not in self.without_grad
        if self.resolves(disabler.name, disabler.line, NO_GRAD):
            return False
        return disabler.called_with_arguments or not self.resolves(
            disabler.name, disabler.line, INFERENCE_MODE)

    def may_leak_grad_mode(self, frame: Frame) -> bool:
        """Can a ``set_grad_enabled(False)`` be the last such call in the function, as
        NG103 reads them: no later call surely resolves to ``set_grad_enabled``?"""
        restored = max(((call.lineno, call.col_offset) for call, _ in frame.set_grad_calls
                        if self.resolves(dotted(call.func) or "", call.lineno, SET_GRAD_ENABLED)),
                       default=(0, 0))
        return any(off and (call.lineno, call.col_offset) >= restored
                   for call, off in frame.set_grad_calls)
