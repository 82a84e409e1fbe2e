"""``runtime.autograd``: backward, grad, the deprecated Variable, and the op machinery."""

from __future__ import annotations

import warnings

import numpy as np

from runtime.autograd import grad_mode  # noqa: F401 - torch.autograd.grad_mode (issue 21)
from runtime.autograd.engine import run_backward
from runtime.autograd.function import Function, apply
from runtime.grad_mode import enable_grad, inference_mode, no_grad, set_grad_enabled

VOLATILE_REMOVED = "volatile was removed and now has no effect. Use `with torch.no_grad():` instead."
NON_SCALAR = "grad can be implicitly created only for scalar outputs"


def _roots(tensors, grad_tensors):
    from runtime.tensor import NO_GRAD_FN, Tensor, _leaf_edge

    tensors = [tensors] if isinstance(tensors, Tensor) else list(tensors)
    if grad_tensors is None or isinstance(grad_tensors, Tensor):
        grad_tensors = [grad_tensors] * len(tensors)
    roots = []
    for index, (tensor, grad) in enumerate(zip(tensors, grad_tensors)):
        if not tensor.requires_grad:
            raise RuntimeError(NO_GRAD_FN.replace("element 0", f"element {index}"))
        if grad is None:
            if tensor.numel() != 1:
                raise RuntimeError(NON_SCALAR)
            grad = np.ones(tensor.shape, dtype=tensor._data.dtype)
        else:
            grad = np.asarray(grad._data if isinstance(grad, Tensor) else grad, dtype=tensor._data.dtype)
        roots.append((_leaf_edge(tensor)[0], grad))
    return roots


def backward(tensors, grad_tensors=None, retain_graph=None, create_graph=False, inputs=None) -> None:
    """Accumulate gradients of ``tensors`` into the leaves that require grad."""
    if create_graph:
        raise NotImplementedError("runtime does not support create_graph=True")
    roots = _roots(tensors, grad_tensors)
    if inputs is not None:
        grads = grad(tensors, inputs, grad_tensors, retain_graph=retain_graph, allow_unused=True)
        for tensor, value in zip(inputs, grads):
            if value is not None:
                tensor._accumulate(value._data)
        return
    run_backward(roots, retain_graph=bool(retain_graph))


def grad(outputs, inputs, grad_outputs=None, retain_graph=None, create_graph=False,
         allow_unused=False):
    """Gradients of ``outputs`` with respect to ``inputs``, without touching any ``.grad``."""
    from runtime.tensor import Tensor, _leaf_edge

    if create_graph:
        raise NotImplementedError("runtime does not support create_graph=True")
    single = isinstance(inputs, Tensor)
    inputs = [inputs] if single else list(inputs)
    nodes = [_leaf_edge(t)[0] for t in inputs]
    captured = run_backward(_roots(outputs, grad_outputs), bool(retain_graph),
                            capture={n: None for n in nodes if n is not None})
    results = []
    for index, (tensor, node) in enumerate(zip(inputs, nodes)):
        value = captured.get(node) if node is not None else None
        if value is None and not allow_unused:
            # PyTorch 2.x names the unused input's position.
            raise RuntimeError(f"The differentiated Tensor at index {index} appears to not have "
                               "been used in the graph. Set allow_unused=True if this is the "
                               "desired behavior.")
        results.append(None if value is None else Tensor._wrap(np.asarray(value, dtype=tensor._data.dtype)))
    return tuple(results)


def Variable(data=None, requires_grad=False, volatile=False):  # noqa: N802 - torch's name
    """Deprecated since PyTorch 0.4: returns ``data.detach()`` (requiring grad if asked)."""
    from runtime.tensor import Tensor

    if volatile:
        warnings.warn(VOLATILE_REMOVED, UserWarning, stacklevel=2)
    result = data.detach() if isinstance(data, Tensor) else Tensor(data if data is not None else [])
    return result.requires_grad_(requires_grad)


__all__ = ["Function", "Variable", "apply", "backward", "enable_grad", "grad",
           "inference_mode", "no_grad", "set_grad_enabled"]
