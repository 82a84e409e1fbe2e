"""NG101: evaluation code that runs forward passes with gradients enabled."""

from __future__ import annotations

from nograd_lint import libcst as cst

from nograd_lint.edits import under_no_grad
from nograd_lint.model.evaluation import EvaluationRegions, Verdict
from nograd_lint.rule import Fix, FixSafety, Invalid, Rule, Valid


class EvaluationWithGrad(Rule):
    """## What it does
    Flags evaluation code that runs forward passes with gradients enabled: a function named like
    ``evaluate``/``validate``/``predict``/``infer`` (more with ``eval-function-patterns``), or a
    loop over ``val``/``test``/``dev`` data, that never calls ``backward()`` or
    ``optimizer.step()``, and any forward pass whose outputs only reach places that look at them
    (``.item()``, ``.numpy()``, ``.detach()``, ``.data``, printing, logging, ``save_image``,
    metrics), whatever the code is called: a GAN's sample helper, a plot after training.  Code
    whose forward outputs can reach ``backward()``, ``autograd.grad``, a loss returned to
    training code or a ``forward()``'s result is training and is never flagged.  Reported once
    per region (or function), at its first forward call.

    ## Why is this bad?
    Outside ``no_grad``/``inference_mode`` every forward pass records an autograd graph and keeps
    every intermediate activation alive as long as its output lives: an evaluation loop that
    collects outputs holds the memory of every batch's graph, and each forward is slower.

    ## Known problems
    Evaluation is recognised by names, loops and where a forward's outputs go.  Hooks that a
    framework runs without gradients (``frameworks.py``: Lightning's ``validation_step``...) and
    functions whose every caller, in any file of the project, runs without gradients are not
    flagged (a call through an object of unknown class, ``self.model.generate(x)``, counts for
    every method of that name whose parameters accept it; calls from test files do not count).

    A call of a function that switches gradients off itself is no forward pass with them: one
    decorated ``@torch.no_grad()``/``@torch.inference_mode()``, or a model's ``generate``
    (Hugging Face's is ``@torch.no_grad()``; see ``frameworks.py``).  An override of Hugging
    Face ``Trainer.prediction_step`` that drops the base class's ``no_grad`` is flagged: the
    Trainer calls it with gradients enabled.

    Outputs are followed through this module only: a value returned by a public function, or
    handed to code in another module, may go anywhere, so its region is still flagged by its
    name but gets no fix.  A module without parameters called on inputs that need no gradient
    records nothing, but is flagged.

    ## Fix safety
    Unsafe: the fix decorates the function with ``@torch.no_grad()`` or wraps the loop in
    ``with torch.no_grad():``.  It is offered only where every output of the region's forwards
    is followed to a place that only looks at it: none can reach a gradient consumer.
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
        Invalid("""
            import torch
            from torchvision.utils import save_image

            def sample_images(generator, z, step):
                images = generator(z)  # expect: NG101
                save_image(images.data, f"images/{step}.png")
            """, fixed="""
            import torch
            from torchvision.utils import save_image

            @torch.no_grad()
            def sample_images(generator, z, step):
                images = generator(z)
                save_image(images.data, f"images/{step}.png")
            """),
        Invalid("""
            import matplotlib.pyplot as plt
            import torch

            model = torch.nn.Linear(1, 1)
            optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
            x, y = torch.randn(10, 1), torch.randn(10, 1)
            for epoch in range(60):
                optimizer.zero_grad()
                torch.nn.functional.mse_loss(model(x), y).backward()
                optimizer.step()
            predicted = model(x).detach().numpy()  # expect: NG101
            plt.plot(x.numpy(), predicted)
            """),
        Invalid("""
            import torch

            def predict(model, x):
                return model(x)  # expect: NG101
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
            from torch import nn

            class DuelingHead(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.net, self.fc_adv, self.fc_val = nn.Linear(4, 8), nn.Linear(8, 2), nn.Linear(8, 1)

                def adv_val(self, x):
                    base = self.net(x)
                    return self.fc_adv(base), self.fc_val(base)

                def forward(self, x):
                    adv, val = self.adv_val(x)
                    return val + adv - adv.mean(dim=1, keepdim=True)
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
        Valid("""
            import torch

            def generate(generator, discriminator, z, optimizer):
                fake = generator(z)
                loss = torch.nn.functional.softplus(-discriminator(fake)).mean()
                loss.backward()
                optimizer.step()
                print(loss.item())
            """),
        Valid("""
            import torch

            def evaluate(accelerator, model, batch):
                unwrapped = accelerator.unwrap_model(model)
                with torch.no_grad():
                    return unwrapped(batch).argmax(1)
            """),
    )
    fixtures = (
        "ng101_eval_loop.py",
        "ng101_evaluate_function.py",
        "ng101_fit_with_validation.py",
        "ng101_prediction_step_override.py",
        "ng101_script_evaluates_before_grad_off.py",
        "ng101_outputs_only_looked_at.py",
        "ng101_validate_method.py",
        "ng101_written_for_runtime.py",
        "ok_conditional_no_grad.py",
        "ok_eval_loop_no_grad.py",
        "ok_generate_helper.py",
        "ok_lightning_validation_step.py",
        "ok_script_grad_disabled.py",
        "ok_outputs_feed_training.py",
        "ok_outputs_looked_at_no_grad.py",
        "ok_validation_every_n_batches.py",
    )

    code = "NG101"
    name = "evaluation-with-grad"
    message = ("evaluation code runs forward passes with gradients enabled: wrap it in "
               "'with torch.no_grad():' or 'torch.inference_mode()'")
    # Any forward may be evaluation by where its outputs go: only a call is needed.
    triggers = ("(",)
    fix_safety = FixSafety.UNSAFE
    needs = (EvaluationRegions,)
    features = frozenset({"eval-forward"})

    def finish(self) -> None:
        for verdict in self.context.evaluation.verdicts():
            if verdict.code == self.code:
                self.report(verdict.forward, f"evaluation code ({verdict.evidence}) runs forward "
                            "passes with gradients enabled: wrap it in 'with torch.no_grad():' "
                            "or 'torch.inference_mode()'", self._fix(verdict))

    def _fix(self, verdict: Verdict) -> Fix | None:
        no_grad = self.context.names.spelling("torch.no_grad")
        if no_grad is None or not verdict.fixable:
            return None
        call = cst.parse_expression(f"{no_grad}()")
        region = verdict.region
        if isinstance(region, cst.FunctionDef) and verdict.whole_function:
            decorated = region.with_changes(decorators=[cst.Decorator(call), *region.decorators])
            return Fix(region, decorated, FixSafety.UNSAFE)
        if isinstance(region, cst.For):
            return Fix(region, under_no_grad(self.context.names, region), FixSafety.UNSAFE)
        return None
