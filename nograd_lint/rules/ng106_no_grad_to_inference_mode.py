"""NG106: a ``no_grad`` block that can safely become ``inference_mode``."""

from __future__ import annotations

from nograd_lint import libcst as cst

from nograd_lint.model.escape import Candidate, EscapeAnalysis
from nograd_lint.model.names import dotted_name
from nograd_lint.rule import Fix, FixSafety, Invalid, Rule, Valid
from nograd_lint.vocabulary import NO_GRAD

INFERENCE_MODE_NAME = "inference_mode"


class NoGradToInferenceMode(Rule):
    """## What it does
    Flags a ``with torch.no_grad():`` block or ``@torch.no_grad()`` function that can safely
    become ``inference_mode``.  Opt-in: ``--extend-select NG106``.

    ## Why is this bad?
    ``torch.inference_mode()`` disables more autograd bookkeeping than ``no_grad()`` (no version
    counters, no view tracking), so inference runs with less overhead.  The price: every tensor
    it creates is an *inference tensor*, which raises ``Inference tensors cannot be saved for
    backward`` when autograd later saves it, ``Inplace update to inference tensor outside
    InferenceMode is not allowed`` when it is later updated in place, and cannot be made to
    require grad.  So the rule fires only where an escape analysis of the module proves that no
    tensor the block creates can get there: outputs consumed by ``.item()``, ``.tolist()``,
    ``.cpu().numpy()``, comparisons, metrics computed inside the block and printing are safe.

    ## Known problems
    A tensor that reaches an op under grad mode with anything that may require grad, an in-place
    update, an attribute, buffer, global or container that outlives what the analysis sees, or a
    ``return`` to callers it cannot see, keeps the block ``no_grad``.  Blocks that update state
    they did not make (parameter updates, EMA, weight initialisation, ``optimizer.step()``) are
    not inference and are never proposed.

    ## Fix safety
    Safe: the fix rewrites ``no_grad`` to ``inference_mode`` in the module's own spelling (adding
    ``inference_mode`` to a ``from torch import no_grad`` when nothing else names it).
    """

    INVALID = (
        Invalid("""
            import torch

            def accuracy(model, test_loader):
                model.eval()
                correct = 0
                with torch.no_grad():  # expect: NG106
                    for x, y in test_loader:
                        correct += (model(x).argmax(1) == y).sum().item()
                return correct
            """, fixed="""
            import torch

            def accuracy(model, test_loader):
                model.eval()
                correct = 0
                with torch.inference_mode():
                    for x, y in test_loader:
                        correct += (model(x).argmax(1) == y).sum().item()
                return correct
            """),
    )
    VALID = (
        Valid("""
            import torch

            def distill(student, teacher, x):
                with torch.no_grad():
                    target = teacher(x).softmax(1)
                loss = torch.nn.functional.mse_loss(student(x).softmax(1), target)
                loss.backward()
            """),
    )
    fixtures = (
        "ng106_alias_decorator.py",
        "ng106_eval_loop.py",
        "ng106_predict_helper.py",
        "ng101_written_for_runtime.py",
        "ng105_eval_is_not_no_grad.py",
        "ng105_eval_vs_no_grad_layers.py",
        "ok_eval_loop_no_grad.py",
        "ok_grad_accumulation.py",
        "ok_validation_every_n_batches.py",
        "ok_volatile_migrated.py",
        "ok_volatile_unrelated.py",
        "ok_forward_hook_features.py",
        "ok_no_grad_adversarial_start.py",
        "ok_no_grad_distillation_target.py",
        "ok_no_grad_normalized_in_place.py",
        "ok_no_grad_stored_prototypes.py",
        "ok_training_script_adamw_cosine_clipping.py",
    )

    code = "NG106"
    name = "no-grad-to-inference-mode"
    message = ("no tensor made under this 'no_grad' reaches autograd, an in-place update or "
               "storage outside it: 'inference_mode()' is safe here and faster")
    triggers = ("no_grad",)
    default_enabled = False
    severity = "info"  # advice on speed: the code works as written
    fix_safety = FixSafety.SAFE
    needs = (EscapeAnalysis,)
    features = frozenset({"grad-mode"})

    def __init__(self, context) -> None:
        super().__init__(context)
        # ``from torch import no_grad [as name]`` statements, by the local name they bind.
        self._imports: dict[str, list[cst.ImportFrom]] = {}

    def visit_ImportFrom(self, node: cst.ImportFrom) -> None:
        if node.relative or node.module is None or isinstance(node.names, cst.ImportStar):
            return
        module = dotted_name(node.module)
        for alias in node.names:
            name = dotted_name(alias.name)
            if module is None or f"{self.context.names.canonical(module)}.{name}" not in NO_GRAD:
                continue
            local = name
            if alias.asname is not None and isinstance(alias.asname.name, cst.Name):
                local = alias.asname.name.value
            self._imports.setdefault(local, []).append(node)

    def finish(self) -> None:
        for candidate in self.context.escape.candidates():
            if candidate.reason is None:
                self.report(candidate.manager, self._message(candidate), self._fix(candidate))

    def _message(self, candidate: Candidate) -> str:
        spelled = dotted_name(_function(candidate.manager)) or "no_grad"
        node = candidate.node
        form = "block" if isinstance(node, cst.With) else f"function '{node.name.value}'"
        return (f"no tensor made in this '{spelled}' {form} reaches autograd, an in-place update "
                f"or storage outside it: '{INFERENCE_MODE_NAME}' is safe here and faster")

    def _fix(self, candidate: Candidate) -> Fix | None:
        manager = candidate.manager
        function = _function(manager)
        if isinstance(function, cst.Attribute):
            # ``T.no_grad`` -> ``T.inference_mode``: every namespace with no_grad has it too.
            replacement = function.with_changes(attr=cst.Name(INFERENCE_MODE_NAME))
        else:
            spelled = self.context.names.spelling(f"torch.{INFERENCE_MODE_NAME}")
            if spelled is None:
                return self._import_fix(function)
            replacement = cst.parse_expression(spelled)
        if isinstance(manager, cst.Call):
            return Fix(manager, manager.with_changes(func=replacement))
        return Fix(manager, replacement)

    def _import_fix(self, function: cst.BaseExpression) -> Fix | None:
        """``from torch import no_grad`` and nothing that spells inference_mode: add it to that
        import.  Once applied, the next fix pass rewrites the block itself."""
        imports = self._imports.get(function.value, []) if isinstance(function, cst.Name) else []
        if len(imports) != 1 or self.context.escape.bindings.binds(INFERENCE_MODE_NAME):
            return None  # ambiguous, or the name is taken: leave it to the programmer
        statement = imports[0]
        names = list(statement.names)
        last = names[-1]
        if isinstance(last.comma, cst.Comma):
            # A trailing comma (one name per line in parentheses): the new name takes the comma
            # that ends the list, the old last name the separator its predecessor uses.
            between = names[-2].comma if len(names) > 1 and isinstance(names[-2].comma, cst.Comma) \
                else cst.Comma(whitespace_after=cst.SimpleWhitespace(" "))
            names[-1] = last.with_changes(comma=between)
            names.append(cst.ImportAlias(cst.Name(INFERENCE_MODE_NAME), comma=last.comma))
        else:
            space = cst.Comma(whitespace_after=cst.SimpleWhitespace(" "))
            names[-1] = last.with_changes(comma=space)
            names.append(cst.ImportAlias(cst.Name(INFERENCE_MODE_NAME)))
        return Fix(statement, statement.with_changes(names=names))


def _function(manager: cst.BaseExpression) -> cst.BaseExpression:
    return manager.func if isinstance(manager, cst.Call) else manager
