"""``runtime.autograd``: backward, grad, custom Functions, gradient checks, and the
deprecated Variable."""

from __future__ import annotations

import warnings

import numpy as np

import runtime as torch  # noqa: F401 - torch.autograd.torch: PyTorch's autograd imports torch
from runtime.autograd import grad_mode  # noqa: F401 - torch.autograd.grad_mode (issue 21)
from runtime.autograd import graph
from runtime.autograd.engine import run_backward
from runtime.autograd.function import Function, once_differentiable
from runtime.autograd.gradcheck import GradcheckError, gradcheck, gradgradcheck
from runtime.grad_mode import enable_grad, inference_mode, no_grad, set_grad_enabled
from runtime.tensor import NO_GRAD_FN, Tensor, _tensor

VOLATILE_REMOVED = "volatile was removed and now has no effect. Use `with torch.no_grad():` instead."
EMPTY_INPUTS = "`inputs` argument to `{}()` cannot be empty."
NON_SCALAR = "grad can be implicitly created only for scalar outputs"
GRAD_CYCLE = (
    "Using backward() with create_graph=True will create a reference cycle between the parameter "
    "and its gradient which can cause a memory leak. We recommend using autograd.grad when "
    "creating the graph to avoid this. If you have to use this function, make sure to reset the "
    ".grad fields of your parameters to None after use to break the cycle and avoid the leak. "
    "(Triggered internally at /__w/pytorch/pytorch/torch/csrc/autograd/engine.cpp:1307.)")


def _roots(tensors, grad_tensors) -> list:
    tensors = [tensors] if isinstance(tensors, Tensor) else list(tensors)
    if grad_tensors is None or isinstance(grad_tensors, Tensor):
        grad_tensors = [grad_tensors] * len(tensors)
    roots = []
    for index, (tensor, grad) in enumerate(zip(tensors, grad_tensors)):
        if not tensor.requires_grad:
            raise RuntimeError(NO_GRAD_FN.replace("element 0", f"element {index}"))
        dtype = tensor._data.dtype
        if grad is None:
            if tensor.numel() != 1:
                raise RuntimeError(NON_SCALAR)
            grad = _tensor(np.ones(tensor.shape, dtype=dtype))
        elif not isinstance(grad, Tensor):
            grad = _tensor(np.asarray(grad, dtype=dtype))
        if grad.shape != tensor.shape:
            raise RuntimeError(f"Mismatch in shape: grad_output[{index}] has a shape of "
                               f"{grad.shape!r} and output[{index}] has a shape of "
                               f"{tensor.shape!r}.")
        roots.append((tensor._edge(), grad))
    return roots


def backward(tensors, grad_tensors=None, retain_graph=None, create_graph=False, inputs=None) -> None:
    """Accumulate gradients of ``tensors`` into the leaves that require grad.  With
    ``create_graph`` the gradients are recorded, so they can be differentiated again."""
    retain_graph = create_graph if retain_graph is None else retain_graph
    if create_graph:
        warnings.warn(GRAD_CYCLE, UserWarning, stacklevel=2)
    if inputs is not None:
        inputs = [inputs] if isinstance(inputs, Tensor) else list(inputs)
        if not inputs:
            raise RuntimeError(EMPTY_INPUTS.format("backward"))
        targets = {tensor._edge(): tensor for tensor in inputs if tensor.requires_grad}
        run_backward(_roots(tensors, grad_tensors), retain_graph, create_graph, targets=targets)
        return
    run_backward(_roots(tensors, grad_tensors), retain_graph, create_graph)


def grad(outputs, inputs, grad_outputs=None, retain_graph=None, create_graph=False,
         allow_unused=None, materialize_grads=False):
    """Gradients of ``outputs`` with respect to ``inputs``, without touching any ``.grad``.
    With ``create_graph`` they are recorded (also inside ``no_grad``, as in PyTorch);
    ``materialize_grads`` gives zeros for inputs the outputs do not depend on."""
    if materialize_grads and allow_unused is False:
        raise ValueError("Expected allow_unused to be True or not passed when materialize_grads="
                         "True, but got: allow_unused=False.")
    allow_unused = materialize_grads if allow_unused is None else allow_unused
    retain_graph = create_graph if retain_graph is None else retain_graph
    single = isinstance(inputs, Tensor)
    inputs = [inputs] if single else list(inputs)
    if not inputs:
        raise RuntimeError(EMPTY_INPUTS.format("grad"))
    edges = [t._edge() if t.requires_grad else None for t in inputs]
    captured = run_backward(_roots(outputs, grad_outputs), retain_graph, create_graph,
                            capture={edge: None for edge in edges if edge is not None})
    results = []
    for index, (tensor, edge) in enumerate(zip(inputs, edges)):
        value = captured.get(edge) if edge is not None else None
        if value is None and not allow_unused:
            # PyTorch 2.x names the unused input's position.
            raise RuntimeError(f"The differentiated Tensor at index {index} appears to not have "
                               "been used in the graph. Set allow_unused=True if this is the "
                               "desired behavior.")
        if value is None and materialize_grads:
            value = _tensor(np.zeros_like(tensor._data))
            value._requires_grad = create_graph  # as a leaf, so it can be differentiated again
        if value is not None and value._data.shape != tensor._data.shape:
            value = value.expand(tensor.shape) if create_graph else _tensor(
                np.broadcast_to(value._data, tensor._data.shape))
        results.append(value)
    return tuple(results)


def Variable(data=None, requires_grad=False, volatile=False):  # noqa: N802 - torch's name
    """Deprecated since PyTorch 0.4: returns ``data.detach()`` (requiring grad if asked)."""
    if volatile:
        warnings.warn(VOLATILE_REMOVED, UserWarning, stacklevel=2)
    result = data.detach() if isinstance(data, Tensor) else Tensor(data if data is not None else [])
    return result.requires_grad_(requires_grad)


__all__ = ["Function", "GradcheckError", "Variable", "backward", "enable_grad", "grad",
           "gradcheck", "gradgradcheck", "graph", "inference_mode", "no_grad",
           "once_differentiable", "set_grad_enabled"]
