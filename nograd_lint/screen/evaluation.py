"""Evaluation regions, the screen's mirror of model/evaluation.py.

``eval-forward``  a call that may run a model (below), where gradients may be on (see
                  grad_mode.py), outside pytest tests and a model's ``forward`` bodies, which
                  NG101 may take for evaluation: in a function named like evaluation code
                  (``eval-function-patterns`` too), or nested in one, or in a loop over
                  ``val``/``test`` data in the same function; or anywhere (but in test files)
                  where its output may reach a place that only looks at it (outputs.py: the
                  analysis's OutputFlow, followed on ``ast``).  A model's other method
                  (``model.decode(z)``) counts only by its outputs, in a region too (NG101).
``forward-after-eval``  a ``.eval()``/``.train(False)`` call and a call that may run a model
                  with gradients that may be on, in the same function (NG105).

A call *may run a model* as model/evaluation.py's ``_forward_kind`` takes it: ``x.forward(...)``,
``self(...)``, a callee named like a model (``model``, ``self.encoder``; not ``EncoderCNN`` or
``create_model``), a name that receives ``.eval()``/``.train()`` or a model class's instance
(``E1 = Encoder(...)``), a parameter of the same function annotated with a model class; or a
method of one of these called with arguments (``model.decode(z)``; not ``model.parameters()``,
``model.get_classifier()``).  Never a function of the module itself called by its name, nor a
name surely imported.  Functions with ``test`` in their name in test files are no evaluation
code.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Mapping

from nograd_lint.ast_walk import dotted
from nograd_lint.config import Config
from nograd_lint.screen.grad_mode import GradModeScreen
from nograd_lint.screen.outputs import OutputReach
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
        self.frame_models: dict[int, set[str]] = {}  # id of a frame -> its model parameters
        # As Frame.calls, for every function: (frame, grad frame, call, disabler).
        self.forward_calls: list[tuple[Frame, Frame, ast.Call, Disabler]] = []
        # Where NG101 takes a region from names: functions named like evaluation code (and
        # those nested in them), loops over evaluation data (frame, first and last line).
        self.evaluation_frames: set[int] = set()
        self.evaluation_loops: list[tuple[Frame, int, int]] = []
        self.star_import = False  # ``from m import *``: any name may come from anywhere
        # See prepare: (grad frame, disabler) of each call that may be an evaluation forward
        # but for grad mode; each function that switches to evaluation, with the disablers of
        # its calls that may run a model.
        self.forward_sites: list[tuple[Frame, Disabler]] = []
        self.evaluating_frames: list[tuple[Frame, list[Disabler]]] = []

    # ------------------------------------------------------------------ the walk
    def on_function(self, node: ast.FunctionDef | ast.AsyncFunctionDef, outer: Context,
                    inner: Context) -> Context:
        frame = inner.frame
        if id(outer.frame) in self.evaluation_frames or not frame.pytest and (
                words(node.name) & EVAL_FUNCTION_WORDS
                or any(re.search(p, node.name) for p in self.config.eval_function_patterns)):
            self.evaluation_frames.add(id(frame))
        arguments = node.args
        models = {  # ``pl_module: pl.LightningModule``
            a.arg for a in [*arguments.posonlyargs, *arguments.args, *arguments.kwonlyargs]
            if a.annotation is not None and constructs_a_model(dotted(a.annotation) or "")}
        if models:
            self.frame_models[id(frame)] = models
        return inner

    def on_loop(self, node: ast.For | ast.AsyncFor, context: Context) -> Context:
        if any(words(n.id if type(n) is ast.Name else n.attr) & EVAL_DATA_WORDS
               for n in ast.walk(node.iter) if type(n) in (ast.Name, ast.Attribute)):
            self.evaluation_loops.append((context.frame, node.lineno, node.end_lineno))
        return context

    def on_import(self, node: ast.Import | ast.ImportFrom) -> None:
        if type(node) is ast.ImportFrom and any(alias.name == "*" for alias in node.names):
            self.star_import = True

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
            frame.calls.append((node, context.disabler))
            self.forward_calls.append((frame, context.grad_frame, node, context.disabler))

    def on_assignment(self, node: ast.Assign | ast.AnnAssign, context: Context) -> None:
        value = node.value
        targets = assigned_targets(node)
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
        own = {frame.key[1] for frame in self.frames if frame.key and frame.key[0] is None}
        reach = None
        self.forward_sites = []
        for frame, grad_frame, call, disabler in self.forward_calls:
            if frame.pytest or frame.key and "forward" in words(frame.key[1]):
                continue  # a test runs models as it needs; a forward runs in its caller's mode
            kind = self.forward_kind(call, frame, own)
            if kind is None:
                continue
            in_region = id(frame) in self.evaluation_frames or any(
                f is frame and first <= call.lineno <= last
                for f, first, last in self.evaluation_loops)
            if in_region and kind == "forward":
                self.forward_sites.append((grad_frame, disabler))
            elif in_region or not self.test_file:
                # A model's other method counts only where its outputs are only looked at,
                # and so does a forward outside every region named like evaluation.
                if reach is None:
                    reach = OutputReach(self.tree, self.imports, self.star_import)
                if reach.may_be_looked_at(call):
                    self.forward_sites.append((grad_frame, disabler))
        frames = [(frame, [d for call, d in frame.calls if self.forward_kind(call, frame, own)])
                  for frame in self.frames if frame.evals and not frame.pytest]
        self.evaluating_frames = [(frame, disablers) for frame, disablers in frames if disablers]

    def settle(self) -> None:
        super().settle()
        if any(self.may_have_grad(grad_frame, d) for grad_frame, d in self.forward_sites):
            self.found.add("eval-forward")
        if any(any(self.may_have_grad(frame, d) for d in disablers)
               for frame, disablers in self.evaluating_frames):
            self.found.add("forward-after-eval")

    def forward_kind(self, call: ast.Call, frame: Frame,
                     own: frozenset[str] | set[str] = frozenset()) -> str | None:
        """How model/evaluation.py may take ``call`` (in ``frame``): "forward" for a forward
        pass, "method" for a model's other method (counted only by its outputs), None for no
        forward pass.  ``x.forward`` and ``self`` always run a model; otherwise a dotted name
        that does not come from an import nor names a function of the module (``own``),
        naming a model, or a model's method called with arguments."""
        func = call.func
        kind = type(func)
        if kind is ast.Attribute and func.attr == "forward" or kind is ast.Name and func.id == "self":
            return "forward"
        name = dotted(func)
        if name is None or self.imported_before(name, func.lineno) or name in own:
            return None
        models = self.frame_models.get(id(frame), ())
        if name in models or self.names_model(name):
            return "forward"
        receiver, _, method = name.rpartition(".")
        if (receiver not in ("", "self") and (receiver in models or self.names_model(receiver))
                and may_be_model_method(method, bool(call.args or call.keywords))):
            return "method"
        return None

    def names_model(self, name: str) -> bool:
        return name in self.modules or names_a_model(name.rsplit(".", 1)[-1])
