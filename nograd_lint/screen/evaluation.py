"""Evaluation regions, the screen's mirror of model/evaluation.py.

``eval-forward``  a call that may run a model (below), where gradients may be on (see
                  grad_mode.py), outside pytest tests and a model's ``forward`` bodies: any
                  forward may be evaluation by where its outputs go (model/escape/outputs.py,
                  which the screen does not follow: nearly every file has some place that
                  only looks at a tensor).  A call whose value is thrown away or only stored
                  in attributes counts only in a module with a function named like
                  evaluation code or a loop over ``val``/``test`` data (NG101).
``forward-after-eval``  a ``.eval()``/``.train(False)`` call and a call that may run a model
                  with gradients that may be on, in the same function (NG105).

A call *may run a model* when it is ``x.forward(...)``, ``self(...)``, a callee named like a
model (``model``, ``self.encoder``; not ``EncoderCNN`` or ``create_model``), a name that
receives ``.eval()``/``.train()``, a model class's instance (``E1 = Encoder(...)``) or a
parameter annotated with a model class somewhere in the module, or a method of one of these
other than a module's own (``model.decode(z)``; not ``model.parameters()``).  Functions with
``test`` in their name in test files are no evaluation code.
"""

from __future__ import annotations

import ast
from collections.abc import Mapping

from nograd_lint.ast_walk import dotted
from nograd_lint.config import Config
from nograd_lint.screen.grad_mode import GradModeScreen
from nograd_lint.screen.walk import Context, Disabler, Frame, assigned_targets, bound_names
from nograd_lint.vocabulary import (
    EVAL_DATA_WORDS, EVAL_FUNCTION_WORDS, PLACEMENT_METHODS, Grad, constructs_a_model,
    may_be_model_method, names_a_model, words,
)


class EvaluationScreen(GradModeScreen):
    def __init__(self, source: str | bytes, path: str, config: Config,
                 callers: Mapping[str, Grad]) -> None:
        super().__init__(source, path, config, callers)
        self.modules: set[str] = set()  # names that receive .eval()/.train(), or a model
        # As Frame.calls, for every function: (frame, grad frame, call, disabler).
        self.forward_calls: list[tuple[Frame, Frame, ast.Call, Disabler]] = []
        # Calls whose value is thrown away or only stored in attributes: the output flow finds
        # nothing that looks at it, so only a region named or looped like evaluation can make
        # such a forward NG101's ...
        self.unused_calls: set[int] = set()
        # ... and whether the module has any: a function named like evaluation code (or
        # configured patterns, which any name may match), or a loop over evaluation data.
        self.evaluation_names = bool(config.eval_function_patterns)
        # See prepare: (grad frame, disabler) of each call that may be an evaluation forward
        # but for grad mode; each function that switches to evaluation, with the disablers of
        # its calls that may run a model.
        self.forward_sites: list[tuple[Frame, Disabler]] = []
        self.evaluating_frames: list[tuple[Frame, list[Disabler]]] = []

    # ------------------------------------------------------------------ the walk
    def on_function(self, node: ast.FunctionDef | ast.AsyncFunctionDef, outer: Context,
                    inner: Context) -> Context:
        if not inner.frame.pytest and words(node.name) & EVAL_FUNCTION_WORDS:
            self.evaluation_names = True
        arguments = node.args
        self.modules.update(  # ``pl_module: pl.LightningModule``
            a.arg for a in [*arguments.posonlyargs, *arguments.args, *arguments.kwonlyargs]
            if a.annotation is not None and constructs_a_model(dotted(a.annotation) or ""))
        return inner

    def on_loop(self, node: ast.For | ast.AsyncFor, context: Context) -> Context:
        if not self.evaluation_names and any(
                words(n.id if type(n) is ast.Name else n.attr) & EVAL_DATA_WORDS
                for n in ast.walk(node.iter) if type(n) in (ast.Name, ast.Attribute)):
            self.evaluation_names = True
        return context

    def on_call(self, node: ast.Call, name: str | None, context: Context) -> None:
        if name is None:
            return
        func, frame = node.func, context.frame
        if type(func) is ast.Attribute and name in ("eval", "train"):
            # ``train(False)`` switches to evaluation too; ``train()`` ends it.
            if name == "eval" or node.args and isinstance(node.args[0], ast.Constant) \
                    and node.args[0].value is False:
                frame.evals = True
            receiver = dotted(func.value)
            if receiver is not None:
                self.modules.add(receiver)
        else:
            frame.calls.append((func, context.disabler))
            self.forward_calls.append((frame, context.grad_frame, node, context.disabler))

    def on_expression_statement(self, value: ast.AST) -> None:
        if type(value) is ast.Call:
            self.unused_calls.add(id(value))

    def on_assignment(self, node: ast.Assign | ast.AnnAssign, context: Context) -> None:
        value = node.value
        targets = assigned_targets(node)
        if type(value) is ast.Call and all(type(t) is ast.Attribute for t in targets):
            self.unused_calls.add(id(value))  # ``self.head = self.make_head(...)``
        if (type(value) is ast.Call and type(value.func) is ast.Attribute
                and value.func.attr == "eval"):
            context.frame.evals = True  # ``encoder = EncoderCNN(...).eval()``
            self.modules.update(n for t in targets for n in bound_names(t))
        made = value
        while (type(made) is ast.Call and type(made.func) is ast.Attribute
               and made.func.attr in PLACEMENT_METHODS):
            made = made.func.value
        if type(made) is ast.Call and constructs_a_model(dotted(made.func) or ""):
            # ``E1 = Encoder()``, ``netG = Generator().to(device)``
            self.modules.update(filter(None, map(dotted, targets)))

    # ------------------------------------------------------------------ after the walk
    def prepare(self) -> None:
        super().prepare()
        self.forward_sites = [
            (grad_frame, d) for frame, grad_frame, call, d in self.forward_calls
            if not frame.pytest and not (frame.key and "forward" in words(frame.key[1]))
            and (self.evaluation_names or id(call) not in self.unused_calls)
            and self.may_run_model(call.func)]
        frames = [(frame, [d for f, d in frame.calls if self.may_run_model(f)])
                  for frame in self.frames if frame.evals and not frame.pytest]
        self.evaluating_frames = [(frame, disablers) for frame, disablers in frames if disablers]

    def settle(self) -> None:
        super().settle()
        if any(self.may_have_grad(grad_frame, d) for grad_frame, d in self.forward_sites):
            self.found.add("eval-forward")
        if any(any(self.may_have_grad(frame, d) for d in disablers)
               for frame, disablers in self.evaluating_frames):
            self.found.add("forward-after-eval")

    def may_run_model(self, func: ast.AST) -> bool:
        """Can model/evaluation.py take a call of ``func`` for a forward pass?  ``x.forward`` and
        ``self`` always; otherwise a dotted name that does not come from an import, naming a
        model, or a model's method."""
        kind = type(func)
        if kind is ast.Attribute and func.attr == "forward" or kind is ast.Name and func.id == "self":
            return True
        name = dotted(func)
        if name is None or self.imported_before(name, func.lineno):
            return False
        if self.names_model(name):
            return True
        receiver, _, method = name.rpartition(".")
        return (receiver not in ("", "self") and self.names_model(receiver)
                and may_be_model_method(method, True))

    def names_model(self, name: str) -> bool:
        return name in self.modules or names_a_model(name.rsplit(".", 1)[-1])
