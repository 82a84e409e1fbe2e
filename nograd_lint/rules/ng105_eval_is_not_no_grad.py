"""NG105: ``model.eval()`` relied on to disable gradients."""

from __future__ import annotations

from nograd_lint.model.evaluation import EvaluationRegions
from nograd_lint.rule import Invalid, Rule, Valid


class EvalIsNotNoGrad(Rule):
    """## What it does
    Flags a forward pass that follows ``model.eval()`` (or ``train(False)``) with gradients
    enabled, in code that does not train.

    ## Why is this bad?
    ``eval()`` only switches modules such as Dropout and BatchNorm to their inference behaviour;
    forward passes after it still record autograd graphs, and pay for graphs nobody uses.

    ## Known problems
    Reported when ``eval()`` is the only evidence that the code is evaluation (NG101 covers
    evaluation functions and loops), and never where an output of the forwards can reach a
    gradient consumer (``backward()``, a loss the function returns to training code, a
    ``forward()``'s result: a frozen teacher inside a student's ``forward``).

    ## Fix safety
    No automatic fix.
    """

    INVALID = (
        Invalid("""
            import torch

            def embed(model, batch):
                model.eval()
                return model(batch)  # expect: NG105
            """),
    )
    VALID = (
        Valid("""
            import torch

            def embed(model, batch):
                model.eval()
                with torch.no_grad():
                    return model(batch)
            """),
        Valid("""
            import torch
            from torch import nn

            class Detector(nn.Module):
                def __init__(self, backbone):
                    super().__init__()
                    self.model = backbone

                def forward(self, x):
                    self.model.eval()
                    return self.model(x)
            """),
        Valid("""
            import torch

            def compute_loss(student, teacher, batch, distill):
                if distill:
                    teacher.eval()
                    with torch.no_grad():
                        target = teacher(batch)
                    return ((student(batch) - target) ** 2).mean()
                return student(batch).pow(2).mean()
            """),
    )
    fixtures = (
        "ng105_eval_is_not_no_grad.py",
        "ng105_eval_vs_no_grad_layers.py",
        "ok_eval_loop_no_grad.py",
        "ok_outputs_feed_training.py",
    )

    code = "NG105"
    name = "eval-is-not-no-grad"
    message = ("'model.eval()' does not disable gradients (it only changes Dropout/BatchNorm): "
               "run the forward pass under 'with torch.no_grad():' or 'torch.inference_mode()'")
    triggers = ("eval(", "train(")
    needs = (EvaluationRegions,)
    features = frozenset({"forward-after-eval"})

    def finish(self) -> None:
        for verdict in self.context.evaluation.verdicts():
            if verdict.code == self.code:
                call = verdict.evidence.removeprefix("after ").strip("'")
                self.report(verdict.forward, f"'{call}' does not disable gradients (it only "
                            "changes Dropout/BatchNorm behaviour): run this forward pass under "
                            "'with torch.no_grad():' or 'torch.inference_mode()'")
