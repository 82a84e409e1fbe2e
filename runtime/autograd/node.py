"""The graph node, which is also the ``ctx`` an op's forward and backward receive.

A recorded op leaves one :class:`Node` behind (a tensor's ``grad_fn``): the edges to the nodes
of its inputs (``next_functions``), which inputs need a gradient (``needs_input_grad``), and
what forward saved for backward.  As in PyTorch, the same object is the ``ctx`` of the op's
``forward(ctx, ...)`` and ``backward(ctx, *grads)``: forward stores on it what backward needs.

When nothing is recorded (grad disabled, or no input requires grad), built-in ops get
:data:`NULL_CTX` instead: one shared context on which saving does nothing, writes are dropped
and no input needs a gradient.  So no node is made per call; forward computes from its
arguments only and writes to ``ctx`` what backward would read.

This module knows tensors only by what they do: a saved input has ``_counter`` (its version
counter, a one-element list ``[version]``; None for an inference tensor), ``grad_fn``,
``shape``, ``dtype``, and a saved output
is rebuilt by its class's ``_wrap(array, counter)``.
"""

from __future__ import annotations

import threading

import numpy as np

from runtime.utils.hooks import RemovableHandle, add_hook

HINT = ("Hint: enable anomaly detection to find the operation that failed to compute its "
        "gradient, with torch.autograd.set_detect_anomaly(True, check_nan=False).")
DETACHED = ("Trying to use a saved tensor that has been detached in-place, i.e. with .detach_()."
            "This is not supported, please use out-of-place `.detach()` instead")
FREED = ("Trying to backward through the graph a second time (or directly access saved tensors "
         "after they have already been freed). Saved intermediate values of the graph are freed "
         "when you call .backward() or autograd.grad(). Specify retain_graph=True if you need to "
         "backward through the graph a second time or if you need to access saved tensors after "
         "calling backward.")


class SavedTensor:
    """An input tensor saved for backward, with the version it had then, and whether it had
    a grad_fn then (``had_history``).  Made by ``runtime.tensor.save_input`` (slots set
    there, without an ``__init__``: a Python call fewer for every op that saves)."""

    __slots__ = ("value", "version", "had_history")

    def unpack(self, node: Node):
        value = self.value
        if self.had_history and value._grad_fn is None:
            raise RuntimeError(DETACHED)
        counter = value._counter  # None for an inference tensor, which has no version counter
        if counter is not None and counter[0] != self.version:
            raise _modified(counter, self.version, self._describe(node))
        return value

    def unpack_array(self, node: Node):
        """The saved tensor's array, checked as :meth:`unpack` checks the tensor."""
        return self.unpack(node)._data

    def _describe(self, node: Node) -> str:
        # Named after the op that last produced it (an in-place op rebases its history), or
        # not at all for a leaf.
        value = self.value
        return _description(value, value.grad_fn, value._output_nr)


class SavedOutput:
    """An output of the node saved for backward: its array and version counter, not the
    tensor (a node holding its own output would be a cycle).  ``kind`` (the tensor class)
    rebuilds it, with the node as its ``grad_fn``, when a backward asks for tensors.  Made
    by ``runtime.tensor.save_output``, as SavedTensor is."""

    __slots__ = ("array", "counter", "version", "output_nr", "kind")

    def unpack(self, node: Node):
        self.unpack_array(node)
        tensor = self.kind._wrap(self.array, self.counter)
        tensor._set_history(node, self.output_nr)
        return tensor

    def unpack_array(self, node: Node):
        counter = self.counter
        if counter is not None and counter[0] != self.version:
            raise _modified(counter, self.version, self._describe(node))
        return self.array

    def _describe(self, node: Node) -> str:
        return _description(self.kind._wrap(self.array, None), node, self.output_nr)


def _modified(counter, version: int, description: str) -> RuntimeError:
    """The error for a saved tensor changed in place since it was saved."""
    return RuntimeError(
        "one of the variables needed for gradient computation has been modified by an inplace "
        f"operation: {description} is at version {counter[0]}; expected version {version} "
        f"instead. {HINT}")


def _description(value, producer: Node | None, output_nr: int) -> str:
    """How the version error names a saved tensor: dtype and shape, and which output of which
    op (``producer``) it is."""
    shape = ", ".join(str(n) for n in value.shape)
    text = f"[torch.{value.dtype.legacy_name} [{shape}]]"
    if producer is None:
        return text
    name = producer.name().removesuffix("Backward0").removesuffix("Backward1")
    return f"{text}, which is output {output_nr} of {name},"


_PLAIN = frozenset([type(None), bool, int, float])  # saved as they are, not as tensors
_RECORDS = frozenset([SavedTensor, SavedOutput])


class _Unpacking(threading.local):
    #: True while this thread's backward pass runs array-safe backwards (no create_graph):
    #: ``saved_tensors`` then gives arrays.  (Per thread: another thread may run a backward
    #: with create_graph over the same graph meanwhile.)
    arrays = False


unpacking = _Unpacking()


class Node:
    """A recorded op, and the ``ctx`` of its forward and backward (PyTorch's ``FunctionCtx``
    and graph node in one)."""

    #: One flag per forward argument: does its gradient need computing?
    needs_input_grad: tuple[bool, ...] = ()
    #: One ``(node, output_nr)`` per forward argument; ``(None, 0)`` where no gradient flows.
    next_functions: tuple = ()
    #: How many edges into this node were recorded (next_functions entries of later ops): at
    #: least as many as a backward pass can deliver, so one edge means that, once it has
    #: delivered, nothing else will (see the engine's dependency counting).
    _uses = 0
    #: The shape of each output: an incoming gradient is summed down to it.
    _shapes: tuple = ()
    _tensor_hooks: dict | None = None  # output_nr -> hooks of the tensor this node produced
    _pre_hooks: dict | None = None  # register_prehook: id -> hook(grad_outputs)
    _post_hooks: dict | None = None  # register_hook: id -> hook(grad_inputs, grad_outputs)
    _retained: dict | None = None  # output_nr -> weak reference, after retain_grad()
    #: ``backward`` where the engine may run it on arrays with nothing around it
    #: (``backward_on_arrays``, none of the four tables above made), else None: the engine's
    #: fast path, found with one lookup (a class default, set for each subclass below; None
    #: on an instance once a table is made).
    _array_backward = None
    #: What forward passed to save_for_backward, packed by dispatch into SavedTensor and
    #: SavedOutput records (plain values as they are: ``_saved`` is then ``_to_save`` itself);
    #: None once freed by a backward that does not retain the graph.
    _to_save: tuple = ()
    _saved: tuple | None = ()
    _dirty: tuple = ()
    _non_differentiable: tuple = ()
    materialize_grads = True
    #: The output shares storage and version counter with input 0 (view, reshape, detach...).
    is_view = False
    #: ``backward`` is written with what NumPy arrays and tensors share (operators, ``.T``,
    #: ``.sum(dim)``, :func:`run_op`), so a backward pass that records nothing (no
    #: ``create_graph``) runs it on the arrays themselves: no tensor per intermediate gradient.
    backward_on_arrays = False

    def __init_subclass__(cls, **kwargs) -> None:
        super().__init_subclass__(**kwargs)
        cls._array_backward = staticmethod(cls.backward) if cls.backward_on_arrays else None

    def name(self) -> str:
        return type(self).__name__

    def __repr__(self) -> str:
        return f"<{self.name()} object at {id(self):#x}>"

    def __call__(self, *grads):
        """Run this node's backward on ``grads`` (one per output, None for none), as calling a
        ``grad_fn`` does in PyTorch: under the current grad mode, without hooks.  Gives the
        gradient of each input (the gradient alone for a node of one input)."""
        from runtime.tensor import Tensor  # (the tensor module builds on this one)

        expected = len(self._shapes)
        if len(grads) != expected:
            raise TypeError(f"expected {expected} arguments, got {len(grads)} instead")
        for position, grad in enumerate(grads):
            if grad is not None and not isinstance(grad, Tensor):
                raise TypeError(f"argument {position} is not a Variable")
        if all(grad is None for grad in grads):
            results = (None,) * len(self.next_functions)
        else:
            results = tuple(self.backward(self, *grads))
        return results[0] if len(results) == 1 else results

    # -- hooks ------------------------------------------------------------------------------
    def register_prehook(self, hook) -> RemovableHandle:
        """``hook(grad_outputs) -> tuple or None`` runs before this node's backward (after
        the hooks of the tensors it produced); a tuple replaces the gradients."""
        return add_hook(self._table("_pre_hooks"), hook)

    def register_hook(self, hook) -> RemovableHandle:
        """``hook(grad_inputs, grad_outputs) -> tuple or None`` runs after this node's
        backward; a tuple replaces the gradients it passes on."""
        return add_hook(self._table("_post_hooks"), hook)

    def _table(self, name: str) -> dict:
        """The hook table ``name`` (``_tensor_hooks``, ``_pre_hooks``, ``_post_hooks`` or
        ``_retained``), made on first use."""
        table = getattr(self, name)
        if table is None:
            table = {}
            setattr(self, name, table)
            self._array_backward = None
        return table

    # -- the ctx protocol, for forward ------------------------------------------------------
    def save_for_backward(self, *values) -> None:
        self._to_save = values

    def mark_dirty(self, *tensors) -> None:
        self._dirty = tensors

    def mark_non_differentiable(self, *tensors) -> None:
        self._non_differentiable = tensors

    def set_materialize_grads(self, value: bool) -> None:
        self.materialize_grads = value

    # -- for backward -----------------------------------------------------------------------
    @property
    def saved_tensors(self) -> tuple:
        """What forward saved: tensors, or (while the engine runs an array-safe backward)
        their arrays."""
        saved = self._saved
        if saved is None:
            raise RuntimeError(FREED)
        if saved is self._to_save:  # only plain values were saved: kept as they are
            return saved
        # (loops, not list comprehensions: on Python 3.11 each of those is one more call)
        values = []
        if unpacking.arrays:  # (a plain value as it is, a constant tensor as its array)
            for s in saved:
                values.append(s.unpack_array(self) if type(s) in _RECORDS
                              else s if type(s) in _PLAIN else getattr(s, "_data", s))
        else:
            for s in saved:
                values.append(s.unpack(self) if type(s) in _RECORDS else s)
        return tuple(values)

    @staticmethod
    def forward(ctx, *args, **options):
        raise NotImplementedError

    @staticmethod
    def backward(ctx, *grads) -> tuple:
        raise NotImplementedError


class _NullContext:
    """The ``ctx`` of a built-in op whose call records nothing: it keeps nothing, so one
    shared instance serves every call and every thread."""

    __slots__ = ()
    #: False at every position a forward may ask about (a tuple: indexing it costs nothing)
    needs_input_grad = (False,) * 64

    def __setattr__(self, name: str, value) -> None:
        pass  # nothing will run backward: what forward leaves for it is not kept

    def save_for_backward(self, *values) -> None:
        pass

    def mark_dirty(self, *tensors) -> None:
        pass

    def mark_non_differentiable(self, *tensors) -> None:
        pass

    def set_materialize_grads(self, value: bool) -> None:
        pass


NULL_CTX = _NullContext()


def connect(node: Node, edges: tuple) -> None:
    """Give ``node`` its ``next_functions``, counting each edge in the ``_uses`` of the node
    it leads to (``_operator`` in runtime.tensor does this inline)."""
    node.next_functions = edges
    for child, _ in edges:
        if child is not None:
            child._uses += 1


def run_op(op: type[Node], first, *others, **options):
    """``op`` (a backward op such as ``TanhBackwardBackward0``) inside a backward formula:
    recorded like any op on tensors, its forward alone on arrays (an array-safe backward)."""
    if isinstance(first, _ARRAYS):
        if options:
            return op.forward(NULL_CTX, first, *others, **options)
        if len(others) == 1:  # (the common form, called without unpacking: two objects fewer)
            return op.forward(NULL_CTX, first, others[0])
        return op.forward(NULL_CTX, first, *others)  # (no keyword dict to pass on)
    return first._apply(op, *others, **options)


_ARRAYS = (np.ndarray, np.generic)  # (NumPy gives scalars for 0-d results)
