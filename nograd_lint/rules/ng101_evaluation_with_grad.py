"""NG101: evaluation code that runs forward passes with gradients enabled."""

from __future__ import annotations

from nograd_lint import libcst as cst

from nograd_lint.edits import under_no_grad
from nograd_lint.model.evaluation import EvaluationRegions, Verdict
from nograd_lint.rule import Fix, FixSafety, Invalid, Rule, Valid
from nograd_lint.vocabulary import EVIDENCE_TEXT


class EvaluationWithGrad(Rule):
    """## What it does
    Flags evaluation code that runs forward passes with gradients enabled: a function named like
    ``evaluate``/``validate``/``predict``/``infer`` (more with ``eval-function-patterns``), or a
    loop over ``val``/``test``/``dev`` data, that never calls ``backward()`` or
    ``optimizer.step()``.  Reported once per region, at its first forward call.

    ## Why is this bad?
    Outside ``no_grad``/``inference_mode`` every forward pass records an autograd graph and keeps
    every intermediate activation alive as long as its output lives: an evaluation loop that
    collects outputs holds the memory of every batch's graph, and each forward is slower.

    ## Known problems
    Evaluation is recognised by names and loops.  Hooks that a framework runs without gradients
    (``frameworks.py``: Lightning's ``validation_step``...) and functions whose every caller, in
    any file of the project, runs without gradients are not flagged (a call through an object of
    unknown class, ``self.model.generate(x)``, counts for every method of that name whose
    parameters accept it; calls from test files do not count).

    A call of a function that switches gradients off itself is no forward pass with them: one
    decorated ``@torch.no_grad()``/``@torch.inference_mode()``, a model's ``generate`` (Hugging
    Face's is ``@torch.no_grad()``; see ``frameworks.py``), or a function of the module whose only
    forward passes are such calls.  An override of Hugging Face ``Trainer.prediction_step`` that
    drops the base class's ``no_grad`` is flagged: the Trainer calls it with gradients enabled.

    ## Fix safety
    Unsafe: the fix decorates the function with ``@torch.no_grad()`` or wraps the loop in
    ``with torch.no_grad():``, which would stop training if an output did reach ``backward()``.
    """

    INVALID = (
        Invalid("""
            import torch

            def validate(model, val_loader):
                return [model(x).argmax(1) for x, _ in val_loader]  # expect: NG101
            """, fixed="""
            import torch

            @torch.no_grad()
            def validate(model, val_loader):
                return [model(x).argmax(1) for x, _ in val_loader]
            """),
        Invalid("""
            import torch

            def fit(model, optimizer, train_loader, val_loader):
                for x, y in train_loader:
                    optimizer.zero_grad()
                    torch.nn.functional.cross_entropy(model(x), y).backward()
                    optimizer.step()
                for x, y in val_loader:
                    print(model(x).argmax(1).eq(y).float().mean().item())  # expect: NG101
            """),
        Invalid("""
            import torch

            class Evaluator:
                def run_model(self, x):
                    return self.model(x)

                def evaluate(self, x):
                    return self.run_model(x).argmax(1)  # expect: NG101
            """),
    )
    VALID = (
        Valid("""
            import torch

            @torch.no_grad()
            def validate(model, val_loader):
                return [model(x).argmax(1) for x, _ in val_loader]
            """),
        Valid("""
            import torch

            def validate(model, val_loader):
                with torch.inference_mode():
                    return [model(x).argmax(1) for x, _ in val_loader]
            """),
        Valid("""
            import pytorch_lightning as pl
            import torch

            class Classifier(pl.LightningModule):
                def validation_step(self, batch, batch_idx):
                    x, y = batch
                    self.log("val_acc", (self(x).argmax(1) == y).float().mean())
            """),
        Valid("""
            import torch

            torch.inference_mode().__enter__()  # an inference script: for everything below

            def predict(model, batch):
                return model(batch).argmax(1)

            print(predict(torch.load("model.pt"), torch.ones(1, 4)))
            """),
        Valid("""
            import torch

            class Evaluator:
                def generate_from_model(self, model, batch):
                    # transformers' generate() is @torch.no_grad()
                    return model.generate(batch["input_ids"], max_new_tokens=20)

                @torch.no_grad()
                def score_model(self, batch):
                    return self.model(batch["input_ids"]).logits

                def evaluate(self, batch):
                    return self.generate_from_model(self.model, batch), self.score_model(batch)
            """),
    )
    fixtures = (
        "ng101_eval_loop.py",
        "ng101_evaluate_function.py",
        "ng101_fit_with_validation.py",
        "ng101_prediction_step_override.py",
        "ng101_script_evaluates_before_grad_off.py",
        "ng101_validate_method.py",
        "ng101_written_for_runtime.py",
        "ok_conditional_no_grad.py",
        "ok_eval_loop_no_grad.py",
        "ok_generate_helper.py",
        "ok_lightning_validation_step.py",
        "ok_script_grad_disabled.py",
        "ok_validation_every_n_batches.py",
    )

    code = "NG101"
    name = "evaluation-with-grad"
    message = ("evaluation code runs forward passes with gradients enabled: wrap it in "
               "'with torch.no_grad():' or 'torch.inference_mode()'")
    triggers = EVIDENCE_TEXT
    fix_safety = FixSafety.UNSAFE
    needs = (EvaluationRegions,)
    features = frozenset({"eval-forward"})

    @classmethod
    def trigger_strings(cls, config) -> tuple[str, ...]:
        # Configured name patterns are regular expressions: no text can rule them out.
        return ("",) if config.eval_function_patterns else cls.triggers

    def finish(self) -> None:
        for verdict in self.context.evaluation.verdicts():
            if verdict.code == self.code:
                self.report(verdict.forward, f"evaluation code ({verdict.evidence}) runs forward "
                            "passes with gradients enabled: wrap it in 'with torch.no_grad():' "
                            "or 'torch.inference_mode()'", self._fix(verdict))

    def _fix(self, verdict: Verdict) -> Fix | None:
        no_grad = self.context.names.spelling("torch.no_grad")
        if no_grad is None:
            return None
        call = cst.parse_expression(f"{no_grad}()")
        region = verdict.region
        if isinstance(region, cst.FunctionDef) and verdict.whole_function:
            decorated = region.with_changes(decorators=[cst.Decorator(call), *region.decorators])
            return Fix(region, decorated, FixSafety.UNSAFE)
        if isinstance(region, cst.For):
            return Fix(region, under_no_grad(self.context.names, region), FixSafety.UNSAFE)
        return None
