"""Evaluation regions, the screen's mirror of model/evaluation.py.

``eval-forward``  a call that may run a model (below), where gradients may be on (see
                  grad_mode.py), inside a function named like evaluation code (or nested in
                  one) or inside a loop over ``val``/``test`` data (NG101).
``forward-after-eval``  a ``.eval()``/``.train(False)`` call and a call that may run a model
                  with gradients that may be on, in the same function (NG105).

A call *may run a model* when it is ``x.forward(...)``, ``self(...)``, a callee named like a
model (``model``, ``self.encoder``; not ``EncoderCNN`` or ``create_model``), or a name that
receives ``.eval()``/``.train()`` somewhere in the module.  pytest ``test_*`` functions are no
evaluation code.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable, Mapping

from nograd_lint.ast_walk import children, dotted
from nograd_lint.config import Config
from nograd_lint.screen.grad_mode import GradModeScreen
from nograd_lint.screen.walk import Context, Disabler, Frame, assigned_targets, bound_names
from nograd_lint.vocabulary import EVAL_DATA_WORDS, EVAL_FUNCTION_WORDS, Grad, names_a_model, words


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
        stack.extend(children(child))


class EvaluationScreen(GradModeScreen):
    def __init__(self, source: str | bytes, path: str, config: Config,
                 callers: Mapping[str, Grad]) -> None:
        super().__init__(source, path, config, callers)
        self.patterns = [re.compile(p) for p in config.eval_function_patterns]
        self.modules: set[str] = set()  # names that receive .eval()/.train()
        # As Frame.calls, for calls in evaluation regions: (frame, grad frame, callee,
        # disabler, in an evaluation loop).
        self.eval_calls: list[tuple[Frame, Frame, ast.AST, Disabler, bool]] = []

    # ------------------------------------------------------------------ the walk
    def on_function(self, node: ast.FunctionDef | ast.AsyncFunctionDef, outer: Context,
                    inner: Context) -> Context:
        inner = super().on_function(node, outer, inner)
        return inner._replace(in_eval_loop=False, in_eval_function=not inner.frame.pytest and (
            outer.in_eval_function or self.is_eval_function(node.name)))

    def on_loop(self, node: ast.For | ast.AsyncFor, context: Context) -> Context:
        context = super().on_loop(node, context)
        if not context.in_eval_loop and not context.frame.pytest and any(
                words(name) & EVAL_DATA_WORDS for name in _identifiers(node.iter)):
            return context._replace(in_eval_loop=True)
        return context

    def on_call(self, node: ast.Call, name: str | None, context: Context) -> None:
        super().on_call(node, name, context)
        if name is None:
            return
        func, frame = node.func, context.frame
        method = type(func) is ast.Attribute
        if method and name in ("eval", "train"):
            # ``train(False)`` switches to evaluation too; ``train()`` ends it.
            if name == "eval" or node.args and isinstance(node.args[0], ast.Constant) \
                    and node.args[0].value is False:
                frame.evals = True
            receiver = dotted(func.value)
            if receiver is not None:
                self.modules.add(receiver)
        else:
            frame.calls.append((func, context.disabler))
            if context.in_eval_function or context.in_eval_loop:
                self.eval_calls.append((frame, context.grad_frame, func, context.disabler,
                                        context.in_eval_loop))
        if method and name == "backward":
            frame.trains = True

    def on_assignment(self, node: ast.Assign | ast.AnnAssign, context: Context) -> None:
        super().on_assignment(node, context)
        value = node.value
        if (type(value) is ast.Call and type(value.func) is ast.Attribute
                and value.func.attr == "eval"):
            context.frame.evals = True  # ``encoder = EncoderCNN(...).eval()``
            self.modules.update(n for t in assigned_targets(node) for n in bound_names(t))

    def is_eval_function(self, name: str) -> bool:
        return bool(words(name) & EVAL_FUNCTION_WORDS) or any(p.search(name) for p in self.patterns)

    # ------------------------------------------------------------------ after the walk
    def settle(self) -> None:
        super().settle()
        # A function named like evaluation code that calls ``.backward()`` is training, but
        # a loop in it still counts on its own.
        if any((in_loop or not frame.trains) and self.may_have_grad(grad_frame, d)
               and self.may_run_model(f)
               for frame, grad_frame, f, d, in_loop in self.eval_calls):
            self.found.add("eval-forward")
        if any(frame.evals and not frame.pytest and any(
                self.may_have_grad(frame, d) and self.may_run_model(f) for f, d in frame.calls)
               for frame in self.frames):
            self.found.add("forward-after-eval")

    def may_run_model(self, func: ast.AST) -> bool:
        """Can model/evaluation.py take a call of ``func`` for a forward pass?  ``x.forward`` and
        ``self`` always; otherwise a dotted name that does not come from an import, named like
        a model or receiving ``.eval()``/``.train()``."""
        kind = type(func)
        if kind is ast.Attribute and func.attr == "forward" or kind is ast.Name and func.id == "self":
            return True
        name = dotted(func)
        if name is None or self.imported_before(name, func.lineno):
            return False
        return name in self.modules or names_a_model(name.rsplit(".", 1)[-1])
