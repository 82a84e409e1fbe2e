"""How an operation is defined: one class per op, its forward and backward side by side.

A subclass of :class:`Function` is both the op and the graph node (``grad_fn``) it leaves
behind; its class name is PyTorch's node name.  ``forward`` works on NumPy arrays and says what
backward will need with :meth:`Function.save` (input positions, or ``RESULT``); ``backward``
gets the gradient of the output and returns one gradient per input (None where there is none),
shaped like the output's broadcast (the engine sums them back to each input's shape)::

    class MulBackward0(Function):
        def forward(self, a, b):
            self.save(*[i for i, other in ((0, 1), (1, 0)) if self.needs_input_grad[other]])
            return a * b

        def backward(self, grad):
            a, b = self.saved(0), self.saved(1)
            return (grad * b if self.needs_input_grad[0] else None,
                    grad * a if self.needs_input_grad[1] else None)

    product = apply(MulBackward0, x, y)

Saved tensors remember their version: modifying one in place before backward makes backward
raise PyTorch's "modified by an inplace operation" error.  A node never holds its output
tensor (only, when saved, the output's array), so graphs form no reference cycles.
"""

from __future__ import annotations

import numpy as np

from runtime import grad_mode

RESULT = -1
_HINT = ("Hint: enable anomaly detection to find the operation that failed to compute its "
         "gradient, with torch.autograd.set_detect_anomaly(True, check_nan=False).")
FREED = ("Trying to backward through the graph a second time (or directly access saved tensors "
         "after they have already been freed). Saved intermediate values of the graph are freed "
         "when you call .backward() or autograd.grad(). Specify retain_graph=True if you need to "
         "backward through the graph a second time or if you need to access saved tensors after "
         "calling backward.")
INFERENCE_SAVED = ("Inference tensors cannot be saved for backward. Please do not use Tensors "
                   "created in inference mode in computation tracked by autograd. To work around "
                   "this, you can make a clone to get a normal tensor and use it in autograd, or "
                   "use `torch.no_grad()` instead of `torch.inference_mode()`.")


class Function:
    """Base of every op.  Set by :func:`apply`: ``needs_input_grad``, ``next_functions``."""

    needs_input_grad: tuple[bool, ...] = ()
    next_functions: tuple = ()
    _shapes: tuple = ()
    _tensor_hooks: tuple = ()  # gradient hooks of the tensor this node produced
    _retained = None  # weak reference to that tensor, after retain_grad()
    #: The output shares storage and version counter with input 0 (view, reshape, detach...).
    is_view = False

    def name(self) -> str:
        return type(self).__name__

    def __repr__(self) -> str:
        return f"<{self.name()} object at {id(self):#x}>"

    # -- for forward ------------------------------------------------------------------------
    def save(self, *positions: int) -> None:
        self._to_save = positions

    _to_save: tuple[int, ...] = ()

    # -- for backward -----------------------------------------------------------------------
    def saved(self, position: int) -> np.ndarray:
        saved = self._saved
        if saved is None:
            raise RuntimeError(FREED)
        array, counter, version, tensor = saved[position]
        if counter is not None and counter.value != version:
            raise RuntimeError(
                "one of the variables needed for gradient computation has been modified by an "
                f"inplace operation: {self._describe(position, tensor)} is at version "
                f"{counter.value}; expected version {version} instead. {_HINT}")
        return array

    def _describe(self, position: int, tensor) -> str:
        shape = ", ".join(str(n) for n in tensor.shape)
        text = f"[torch.{tensor.dtype.legacy_name} [{shape}]]"
        # A saved output is named after the op that saved it; a saved input after the op that
        # last produced it (an in-place op re-bases its history), or not at all for a leaf.
        node = self if position == RESULT else tensor.grad_fn
        if node is None:
            return text
        return f"{text}, which is output 0 of {node.name().removesuffix('Backward0').removesuffix('Backward1')},"

    _saved: dict | None = None
    _released = False

    def release(self) -> None:
        """Free saved arrays after a backward that does not retain the graph."""
        if self._saved is not None:
            self._saved = None
        self._released = True

    def forward(self, *arrays, **options):
        raise NotImplementedError

    def backward(self, grad: np.ndarray) -> tuple:
        raise NotImplementedError


class _Meta:
    """Shape and dtype of a saved result, for the error message."""

    __slots__ = ("shape", "dtype", "grad_fn")

    def __init__(self, tensor) -> None:
        self.shape, self.dtype, self.grad_fn = tensor.shape, tensor.dtype, None


_tensor_types = None


def _bind_tensor() -> None:
    # runtime.tensor imports this module; bind its names on first use instead of per call.
    global _tensor_types
    from runtime.tensor import Tensor, _leaf_edge
    _tensor_types = (Tensor, _leaf_edge)


def apply(op: type[Function], *inputs, out=None, **options):
    """Run ``op`` on ``inputs`` (tensors or Python numbers), recording a graph node when grad
    mode is on and an input requires grad.  ``out`` makes it in-place: the result is written
    into that tensor, which takes over the new history."""
    if _tensor_types is None:
        _bind_tensor()
    Tensor, _leaf_edge = _tensor_types

    node = op()
    recording = False
    if grad_mode.is_grad_enabled():
        needs = [isinstance(t, Tensor) and t._requires_grad for t in inputs]
        recording = True in needs
        node.needs_input_grad = needs
    arrays = [t._data if isinstance(t, Tensor) else t for t in inputs]
    if out is not None and recording:
        # ``out`` is overwritten below, but backward may need its old values (log_, mul_,
        # clamp_...): forward and saving read a private copy, like PyTorch's original_self.
        arrays[0] = arrays[0].copy()
    result_array = node.forward(*arrays, **options)

    if out is not None:
        out._write(result_array)
        result = out
    elif op.is_view:
        result = Tensor._view_of(inputs[0], result_array)
    else:
        result = Tensor._wrap(result_array)
    if not recording:
        return result

    inference = grad_mode.is_inference_mode_enabled()
    saved = {}
    for position in node._to_save:
        if position == RESULT:
            # The result's array and counter only: a reference to the result would be a cycle.
            saved[RESULT] = (result._data, result._counter, result._counter.value, _Meta(result))
            continue
        tensor = inputs[position]
        if isinstance(tensor, Tensor):
            if tensor._inference and not inference:
                raise RuntimeError(INFERENCE_SAVED)
            # The private copy of an in-place op's old values cannot change: no version check.
            counter = None if tensor._inference or (out is not None and position == 0) else tensor._counter
            # ``x.mul_(x)`` also saves ``x`` as the other operand: at its version before the write
            # (so backward reports it modified, as PyTorch does).
            version = (counter.value - (tensor is out)) if counter else 0
            saved[position] = (arrays[position], counter, version, tensor)
        else:
            saved[position] = (tensor, None, 0, None)
    node._saved = saved
    node.next_functions = tuple([_leaf_edge(t) for t in inputs])
    node._shapes = [t._data.shape if isinstance(t, Tensor) else () for t in inputs]
    result._set_history(node)
    return result
