"""``runtime.optim``: SGD and Adam.  ``step()`` runs under no_grad, so parameter updates
(in-place on leaves that require grad) are allowed and build no graph."""

from __future__ import annotations

import copy
import math

import numpy as np

from runtime.grad_mode import enable_grad, no_grad
from runtime.tensor import Tensor


class Optimizer:
    def __init__(self, params, defaults: dict) -> None:
        self.defaults = defaults
        self.state: dict = {}
        self.param_groups: list[dict] = []
        if isinstance(params, Tensor):
            raise TypeError("params argument given to the optimizer should be an iterable of "
                            f"Tensors or dicts, but got torch.{params.dtype.legacy_name}")
        params = list(params)
        if not params:
            raise ValueError("optimizer got an empty parameter list")
        groups = params if isinstance(params[0], dict) else [{"params": params}]
        for group in groups:
            self.add_param_group(group)

    def add_param_group(self, group: dict) -> None:
        group = {**self.defaults, **group, "params": list(group["params"])}
        self.param_groups.append(group)

    def zero_grad(self, set_to_none: bool = True) -> None:
        for group in self.param_groups:
            for parameter in group["params"]:
                if parameter.grad is not None:
                    if set_to_none:
                        parameter.grad = None
                    else:
                        parameter.grad.zero_()

    def state_dict(self) -> dict:
        index = {id(p): i for i, p in enumerate(p for g in self.param_groups for p in g["params"])}
        return {
            "state": {index[key]: value for key, value in self.state.items() if key in index},
            "param_groups": [{**{k: v for k, v in g.items() if k != "params"},
                              "params": [index[id(p)] for p in g["params"]]} for g in self.param_groups],
        }

    def load_state_dict(self, state_dict: dict) -> None:
        groups = state_dict["param_groups"]
        if len(groups) != len(self.param_groups):
            raise ValueError("loaded state dict has a different number of parameter groups")
        if any(len(ours["params"]) != len(theirs["params"])
               for ours, theirs in zip(self.param_groups, groups)):
            raise ValueError("loaded state dict contains a parameter group that doesn't match "
                             "the size of optimizer's group")
        by_index = {index: parameter for ours, theirs in zip(self.param_groups, groups)
                    for index, parameter in zip(theirs["params"], ours["params"])}
        self.state = {id(by_index[index]): copy.deepcopy(value)
                      for index, value in state_dict["state"].items() if index in by_index}
        for ours, theirs in zip(self.param_groups, groups):
            ours.update({key: value for key, value in theirs.items() if key != "params"})

    def _parameters_with_grad(self):
        for group in self.param_groups:
            for parameter in group["params"]:
                if parameter.grad is not None:
                    yield group, parameter, self.state.setdefault(id(parameter), {})

    @staticmethod
    def _evaluate(closure):
        """Run the closure (which recomputes the loss and its gradients) with grad enabled:
        ``step`` itself runs under no_grad."""
        if closure is None:
            return None
        with enable_grad():
            return closure()

    def step(self, closure=None):
        raise NotImplementedError


class SGD(Optimizer):
    def __init__(self, params, lr=1e-3, momentum=0.0, dampening=0.0, weight_decay=0.0,
                 nesterov=False) -> None:
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening")
        super().__init__(params, dict(lr=lr, momentum=momentum, dampening=dampening,
                                      weight_decay=weight_decay, nesterov=nesterov))

    @no_grad()
    def step(self, closure=None):
        loss = self._evaluate(closure)
        for group, parameter, state in self._parameters_with_grad():
            step = parameter.grad._data
            if group["weight_decay"]:
                step = step + group["weight_decay"] * parameter._data
            if group["momentum"]:
                buffer = state.get("momentum_buffer")
                if buffer is None:
                    buffer = np.array(step)
                else:
                    buffer = buffer * group["momentum"] + (1 - group["dampening"]) * step
                state["momentum_buffer"] = buffer
                step = step + group["momentum"] * buffer if group["nesterov"] else buffer
            parameter.add_(Tensor._wrap(np.asarray(step)), alpha=-group["lr"])
        return loss


class Adam(Optimizer):
    # AdamW decays the weights directly (decoupled) instead of adding the decay to the gradient.
    decoupled_weight_decay = False

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
                 amsgrad=False) -> None:
        if not 0.0 <= lr:
            raise ValueError(f"Invalid learning rate: {lr}")
        if not 0.0 <= eps:
            raise ValueError(f"Invalid epsilon value: {eps}")
        if not 0.0 <= betas[0] < 1.0:
            raise ValueError(f"Invalid beta parameter at index 0: {betas[0]}")
        if not 0.0 <= betas[1] < 1.0:
            raise ValueError(f"Invalid beta parameter at index 1: {betas[1]}")
        if not 0.0 <= weight_decay:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                                      amsgrad=amsgrad))

    @no_grad()
    def step(self, closure=None):
        loss = self._evaluate(closure)
        for group, parameter, state in self._parameters_with_grad():
            grad = parameter.grad._data
            beta1, beta2 = group["betas"]
            if group["weight_decay"] and self.decoupled_weight_decay:
                parameter.mul_(1 - group["lr"] * group["weight_decay"])
            elif group["weight_decay"]:
                grad = grad + group["weight_decay"] * parameter._data
            if not state:
                state["step"] = 0
                state["exp_avg"] = np.zeros_like(parameter._data)
                state["exp_avg_sq"] = np.zeros_like(parameter._data)
                if group["amsgrad"]:
                    state["max_exp_avg_sq"] = np.zeros_like(parameter._data)
            state["step"] += 1
            # The moments are updated in place, as PyTorch does (and with the arithmetic of
            # beta * m + (1 - beta) * g): a new array per step and term cost more than the
            # arithmetic for large parameters.
            exp_avg, exp_avg_sq = state["exp_avg"], state["exp_avg_sq"]
            exp_avg *= beta1
            exp_avg += (1 - beta1) * grad
            squared = (1 - beta2) * grad
            squared *= grad
            exp_avg_sq *= beta2
            exp_avg_sq += squared
            second = exp_avg_sq
            if group["amsgrad"]:
                second = np.maximum(state["max_exp_avg_sq"], second, out=state["max_exp_avg_sq"])
            correction1 = 1 - beta1 ** state["step"]
            correction2_sqrt = math.sqrt(1 - beta2 ** state["step"])
            denominator = np.sqrt(second)
            denominator /= correction2_sqrt
            denominator += group["eps"]
            update = -(group["lr"] / correction1) * exp_avg
            update /= denominator
            parameter.add_(Tensor._wrap(update.astype(parameter._data.dtype, copy=False)))
        return loss


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter): each step first shrinks the
    weights by ``lr * weight_decay``, then applies the Adam update of the plain gradient."""

    decoupled_weight_decay = True

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2,
                 amsgrad=False) -> None:
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad)


def __getattr__(name: str):
    # lr_scheduler loads on first use, as torch.optim.lr_scheduler is a submodule.
    if name == "lr_scheduler":
        import importlib
        return importlib.import_module("runtime.optim.lr_scheduler")
    raise AttributeError(f"module 'runtime.optim' has no attribute '{name}'")


__all__ = ["Adam", "AdamW", "Optimizer", "SGD", "lr_scheduler"]
