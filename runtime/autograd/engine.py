"""The backward pass: walk the graph from the outputs in dependency order, iteratively.

Each node runs once, after every node that feeds it a gradient has run (so arbitrarily deep
graphs need no recursion).  Gradients reaching a leaf accumulate into its ``.grad`` (summed
back over broadcast dimensions); ``autograd.grad`` captures them instead.  Without
``retain_graph``, each node frees its saved arrays once it has run.
"""

from __future__ import annotations

import numpy as np

from runtime.autograd.function import Function


class AccumulateGrad(Function):
    """The node at a leaf that requires grad: adds incoming gradients to ``variable.grad``."""

    def __init__(self, variable) -> None:
        self.variable = variable

    @property
    def _shape(self) -> tuple:
        return self.variable._data.shape  # which ``.data = ...`` may have changed

    def name(self) -> str:
        return "torch::autograd::AccumulateGrad"  # PyTorch's name(); its type is AccumulateGrad


def unbroadcast(grad: np.ndarray, shape: tuple) -> np.ndarray:
    """Sum ``grad`` down to ``shape``, undoing NumPy broadcasting."""
    if grad.shape == shape:
        return grad
    grad = grad.sum(axis=tuple(range(grad.ndim - len(shape)))) if grad.ndim > len(shape) else grad
    axes = tuple(i for i, n in enumerate(shape) if n == 1 and grad.shape[i] != 1)
    if axes:
        grad = grad.sum(axis=axes, keepdims=True)
    return grad.reshape(shape)


def _dependencies(roots) -> dict:
    """For every node reachable from ``roots``: how many edges lead into it."""
    counts: dict = {}
    stack = list(roots)
    starts = set(roots)  # expanded already, whether or not an edge leads into them
    while stack:
        for child, _ in stack.pop().next_functions:
            if child is None:
                continue
            if child in counts:
                counts[child] += 1
            else:
                counts[child] = 1
                if child not in starts:
                    stack.append(child)
    return counts


def run_backward(roots: list[tuple[Function, np.ndarray]], retain_graph: bool,
                 capture: dict | None = None) -> dict:
    """Propagate ``(node, gradient)`` pairs backward.  ``capture`` maps nodes whose incoming
    gradient is wanted (``autograd.grad``) to None; it is returned filled in, and then leaves
    not captured are left alone."""
    pending: dict = {}
    for node, grad in roots:
        pending[node] = pending[node] + grad if node in pending else grad
    counts = _dependencies(list(pending))
    ready = [node for node in pending if node not in counts]
    while ready:
        node = ready.pop()
        grad = pending.pop(node, None)
        if grad is None:  # nothing flowed here; its inputs still stop waiting for it
            for child, _ in node.next_functions:
                if child is not None:
                    counts[child] -= 1
                    if counts[child] == 0:
                        ready.append(child)
            continue
        for hook in node._tensor_hooks:
            grad = hook(grad)
        retained = node._retained
        if retained is not None and retained() is not None:
            retained()._accumulate(grad)
        if capture is not None and node in capture:
            capture[node] = grad
        if isinstance(node, AccumulateGrad):
            if capture is None:
                node.variable._accumulate(grad)
            continue
        grads = node.backward(grad)
        for (child, _), child_grad in zip(node.next_functions, grads):
            if child is None:
                continue
            if child_grad is not None:
                if child_grad.shape != child._shape:  # NumPy scalars have a shape too
                    child_grad = unbroadcast(child_grad, child._shape)
                pending[child] = pending[child] + child_grad if child in pending else child_grad
            counts[child] -= 1
            if counts[child] == 0:
                ready.append(child)
        if not retain_graph:
            node._saved = None
    return capture or {}
