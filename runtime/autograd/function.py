"""How an operation is defined: one class per op, its forward and backward side by side.

A subclass of :class:`Function` is both the op and the graph node (``grad_fn``) it leaves
behind; its class name is PyTorch's node name.  ``forward`` works on NumPy arrays and says what
backward will need with :meth:`Function.save` (input positions, or ``RESULT``); ``backward``
gets the gradient of the output and returns one gradient per input (None where there is none),
shaped like the output's broadcast (the engine sums them back to each input's shape)::

    class MulBackward0(Function):
        def forward(self, a, b):
            self.save_crosswise()  # a for b's gradient, b for a's: only those needed
            return a * b

        def backward(self, grad):
            need_a, need_b = self.needs_input_grad
            return (grad * self.saved(1) if need_a else None,
                    grad * self.saved(0) if need_b else None)

    product = apply(MulBackward0, x, y)

When nothing is recorded (grad disabled, or no input requires grad), ``forward`` runs on the
op's *prototype*: one shared instance, made when the class is, that drops whatever is set on
it and has an empty ``needs_input_grad``.  So no node is made per call, and ``forward`` must
compute from its arguments and locals: what it sets on ``self`` is for backward only.

Saved tensors remember their version: modifying one in place before backward makes backward
raise PyTorch's "modified by an inplace operation" error.  A node never holds its output
tensor (only, when saved, the output's array), so graphs form no reference cycles.
"""

from __future__ import annotations

import numpy as np

from runtime import dtypes
from runtime.grad_mode import state as modes

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
    #: The shape of the tensor this node produced: incoming gradients are summed down to it.
    _shape: tuple = ()
    _tensor_hooks: tuple = ()  # gradient hooks of the tensor this node produced
    _retained = None  # weak reference to that tensor, after retain_grad()
    #: The output shares storage and version counter with input 0 (view, reshape, detach...).
    is_view = False
    #: The op's stand-in when nothing is recorded (see :func:`apply`).
    _prototype: Function

    def __init_subclass__(cls, **kwargs) -> None:
        super().__init_subclass__(**kwargs)
        if not issubclass(cls, _Prototype):
            # Made once per op, without __init__: running forward on it creates no node.
            cls._prototype = object.__new__(type(cls.__name__, (_Prototype, cls), {}))

    def name(self) -> str:
        return type(self).__name__

    def __repr__(self) -> str:
        return f"<{self.name()} object at {id(self):#x}>"

    # -- for forward ------------------------------------------------------------------------
    def save(self, *positions: int) -> None:
        self._to_save = positions

    def save_crosswise(self) -> None:
        """For a product of inputs 0 and 1: save each only for the *other* one's gradient."""
        need_a, need_b = self.needs_input_grad[:2]
        self.save(*((0,) if need_b else ()), *((1,) if need_a else ()))

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
                f"inplace operation: {self._describe(position, array, tensor)} is at version "
                f"{counter.value}; expected version {version} instead. {_HINT}")
        return array

    def _describe(self, position: int, array: np.ndarray, tensor) -> str:
        shape = ", ".join(str(n) for n in array.shape)
        text = f"[torch.{dtypes.from_numpy(array.dtype).legacy_name} [{shape}]]"
        # A saved output is named after the op that saved it; a saved input after the op that
        # last produced it (an in-place op re-bases its history), or not at all for a leaf.
        node = self if position == RESULT else tensor.grad_fn
        if node is None:
            return text
        return f"{text}, which is output 0 of {node.name().removesuffix('Backward0').removesuffix('Backward1')},"

    #: position -> (array, version counter or None, version when saved, input tensor or None);
    #: None once freed by a backward that does not retain the graph.
    _saved: dict | None = None

    def forward(self, *arrays, **options):
        raise NotImplementedError

    def backward(self, grad: np.ndarray) -> tuple:
        raise NotImplementedError


class _Prototype:
    """Mixed into an op's stand-in: attribute writes are dropped, so one shared instance serves
    every thread and keeps no array alive."""

    __slots__ = ()

    def __setattr__(self, name: str, value) -> None:
        pass

    def save(self, *positions: int) -> None:
        pass  # nothing is recorded: skip the work of Function's

    save_crosswise = save


Tensor = _tensor = _view = _leaf_edge = None  # from runtime.tensor, which imports this module


def _bind_tensor() -> None:
    global Tensor, _tensor, _view, _leaf_edge
    from runtime.tensor import Tensor, _leaf_edge, _tensor, _view


_NO_EDGE = (None, 0)


def apply(op: type[Function], *inputs, out=None, **options):
    """Run ``op`` on ``inputs`` (tensors or Python numbers), recording a graph node when grad
    mode is on and an input requires grad.  ``out`` makes it in-place: the result is written
    into that tensor, which takes over the new history."""
    if Tensor is None:
        _bind_tensor()
    if modes.grad:
        for tensor in inputs:
            if isinstance(tensor, Tensor) and tensor._requires_grad:
                return _record(op, inputs, out, options)
    result = op._prototype.forward(*[t._data if isinstance(t, Tensor) else t for t in inputs],
                                   **options)
    if out is not None:
        out._write(result)
        return out
    if op.is_view:
        return _view(inputs[0], result)
    return _tensor(result)


def _record(op: type[Function], inputs: tuple, out, options: dict):
    node = op()
    arrays, needs, edges = [], [], []
    for tensor in inputs:
        if isinstance(tensor, Tensor):
            arrays.append(tensor._data)
            if tensor._requires_grad:
                needs.append(True)
                edges.append((tensor.grad_fn, 0) if tensor.grad_fn is not None else _leaf_edge(tensor))
                continue
        else:
            arrays.append(tensor)
        needs.append(False)
        edges.append(_NO_EDGE)
    node.needs_input_grad = tuple(needs)
    if out is not None:
        # ``out`` is overwritten below, but backward may need its old values (log_, mul_,
        # clamp_...): forward and saving read a private copy, like PyTorch's original_self.
        arrays[0] = arrays[0].copy()
    result_array = node.forward(*arrays, **options)

    if out is not None:
        out._write(result_array)
        result = out
    elif op.is_view:
        result = _view(inputs[0], result_array)
    else:
        result = _tensor(result_array)

    if node._to_save:
        node._saved = _save(node._to_save, inputs, arrays, result, out)
    node.next_functions = tuple(edges)
    node._shape = result._data.shape
    result._set_history(node)
    return result


def _save(positions: tuple, inputs: tuple, arrays: list, result, out) -> dict:
    saved = {}
    for position in positions:
        if position == RESULT:
            # The result's array and counter only: a reference to the result would be a cycle.
            counter = result._counter
            saved[RESULT] = (result._data, counter, 0 if counter is None else counter.value, None)
            continue
        tensor = inputs[position]
        if not isinstance(tensor, Tensor):
            saved[position] = (tensor, None, 0, None)
            continue
        counter = tensor._counter  # None: an inference tensor, which has no version counter
        if counter is None and not modes.inference:
            raise RuntimeError(INFERENCE_SAVED)
        if out is not None and position == 0:
            counter = None  # the private copy of an in-place op's old values cannot change
        # ``x.mul_(x)`` also saves ``x`` as the other operand: at its version before the write
        # (so backward reports it modified, as PyTorch does).
        version = 0 if counter is None else counter.value - (tensor is out)
        saved[position] = (arrays[position], counter, version, tensor)
    return saved
