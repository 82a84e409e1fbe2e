"""Module backward hooks: ``hook(module, grad_input, grad_output)`` once the gradients with
respect to a call's inputs are known.

Each tensor input and output that requires grad is passed through a view of itself, a graph
node of its own, so that tensor hooks on those views see exactly the gradients at the module's
boundary.  The output views collect ``grad_output``; the last input gradient to arrive runs the
module's hooks (and a tuple returned by a hook replaces that input's gradient).  When no input
requires grad, the hooks run with ``grad_input`` all None as soon as ``grad_output`` is complete,
as in PyTorch.
"""

from __future__ import annotations

import warnings

from runtime.grad_mode import is_grad_enabled
from runtime.tensor import Tensor


OUTPUTS_ONLY = (
    "Full backward hook is firing when gradients are computed with respect to module outputs "
    "since no inputs require gradients. See https://docs.pytorch.org/docs/main/generated/"
    "torch.nn.Module.html#torch.nn.Module.register_full_backward_hook for more details.")


def _watched(value) -> bool:
    return isinstance(value, Tensor) and value.requires_grad


class Watch:
    def __init__(self, module, args: tuple) -> None:
        self.module = module
        self.grad_inputs = [None] * len(args)
        self.grad_outputs: list = []
        self.pending_inputs = set()
        self.pending_outputs = 0
        if not is_grad_enabled():
            self.inputs = args
            return
        inputs = []
        for index, arg in enumerate(args):
            if _watched(arg):
                arg = arg.view_as(arg)
                arg.register_hook(lambda grad, index=index: self._on_input(index, grad))
                self.pending_inputs.add(index)
            inputs.append(arg)
        self.inputs = tuple(inputs)

    def outputs(self, output):
        if not is_grad_enabled():
            return output
        if isinstance(output, Tensor):
            return self._watch_output(output)
        if isinstance(output, (tuple, list)):
            return type(output)(self.outputs(item) for item in output)
        if isinstance(output, dict):
            return {key: self.outputs(item) for key, item in output.items()}
        return output

    def _watch_output(self, output: Tensor) -> Tensor:
        position = len(self.grad_outputs)
        self.grad_outputs.append(None)
        if not _watched(output):
            return output
        self.pending_outputs += 1
        output = output.view_as(output)
        output.register_hook(lambda grad: self._on_output(position, grad))
        return output

    def _on_output(self, position: int, grad: Tensor) -> None:
        self.grad_outputs[position] = grad
        self.pending_outputs -= 1
        if self.pending_outputs == 0 and not self.pending_inputs:
            warnings.warn(OUTPUTS_ONLY, UserWarning, stacklevel=2)
            self._run_hooks()

    def _on_input(self, index: int, grad: Tensor):
        self.grad_inputs[index] = grad
        self.pending_inputs.discard(index)
        if self.pending_inputs:
            return None
        replaced = self._run_hooks()
        return None if replaced is None else replaced[index]

    def _run_hooks(self):
        grad_input, grad_output = tuple(self.grad_inputs), tuple(self.grad_outputs)
        replaced = False
        for hook in list(self.module._backward_hooks.values()):
            result = hook(self.module, grad_input, grad_output)
            if result is not None:
                grad_input, replaced = tuple(result), True
        return grad_input if replaced else None
