"""``Tensor``: a NumPy array with PyTorch's autograd state and in-place rules, and
``apply``, the dispatcher that runs the ops of ``runtime/autograd/ops`` and records them.

A tensor either is a *leaf* (no ``grad_fn``: created by the user; gradients accumulate into its
``.grad`` when it requires grad) or the result of a recorded op (``grad_fn`` is the op's node).
Views share their base's storage and version counter; every in-place change bumps the counter,
and backward refuses to use a saved tensor whose version moved.  An in-place change through a
view is recorded on its base (``CopySlices``) and the view re-derived from it
(``AsStridedBackward0``), as in PyTorch.  Inference tensors, as in PyTorch, have no version
counter at all.

``apply`` lives here rather than in ``runtime.autograd`` because it makes tensors and every
tensor method calls it: the autograd modules below (``node``, ``engine``, ``ops``) never import
this one.
"""

from __future__ import annotations

import builtins
import warnings
import weakref

import numpy as np

from runtime import dtypes
from runtime.autograd.engine import AccumulateGrad
from runtime.device import CPU, NO_CUDA, check_available, device
from runtime.autograd.node import NULL_CTX, Node, SavedOutput, SavedTensor, connect
from runtime.autograd.ops import arithmetic, indexing, inplace, reduction, unary
from runtime.autograd.ops import shape as shape_ops
from runtime.grad_mode import enable_grad
from runtime.grad_mode import state as modes
from runtime.utils.hooks import add_hook

LEAF_INPLACE = "a leaf Variable that requires grad is being used in an in-place operation."
LEAF_DIRTY = "a leaf Variable that requires grad has been used in an in-place operation."
VIEW_OF_LEAF_INPLACE = "a view of a leaf Variable that requires grad is being used in an in-place operation."
INFERENCE_INPLACE = ("Inplace update to inference tensor outside InferenceMode is not allowed.You "
                     "can make a clone to get a normal tensor before doing inplace update.See "
                     "https://github.com/pytorch/rfcs/pull/17 for more details.")
VIEW_FROM_NO_GRAD = (
    "A view was created in no_grad mode and is being modified inplace with grad mode enabled. "
    "Given that this use case is ambiguous and error-prone, it is forbidden. You can clarify your "
    "code by moving both the view and the inplace either both inside the no_grad block (if you "
    "don't want the inplace to be tracked) or both outside (if you want the inplace to be "
    "tracked).")
VIEW_FROM_INFERENCE = (
    "A view was created in inference mode and is being modified inplace in normal mode. Given "
    "that this use case is ambiguous and error-prone, it is forbidden. You can clarify your code "
    "by moving both the view and the inplace either both inside the inference_mode block (if you "
    "don't want the inplace to be tracked) or both outside (if you want the inplace to be "
    "tracked).")
VIEW_FROM_INFERENCE_REBASED = (
    "A view was created in inference mode and its base or another view of its base has been "
    "modified inplace in normal mode. Given that this use case is ambiguous and error-prone, it "
    "is forbidden. You can clarify your code by moving both the view and the inplace either both "
    "inside the inference_mode block (if you don't want the inplace to be tracked) or both "
    "outside (if you want the inplace to be tracked).")
MULTIPLE_VIEWS = (
    "Output {nr} of {function} is a view and is being modified inplace. This view is the output "
    "of a function that returns multiple views. Such functions do not allow the output views to "
    "be modified inplace. You should replace the inplace operation by an out-of-place one.")
MULTIPLE_VIEWS_NO_GRAD = (
    "A view was created in no_grad mode and is being modified inplace with grad mode enabled. "
    "This view is the output of a function that returns multiple views. Such functions do not "
    "allow the output views to be modified inplace. You should replace the inplace operation by "
    "an out-of-place one.")
DETACH_VIEW = (
    "Can't detach views in-place. Use detach() instead. If you are using DistributedDataParallel "
    "(DDP) for training, and gradient_as_bucket_view is set as True, gradients are views of DDP "
    "buckets, and hence detach_() cannot be called on these gradients. To fix this error, please "
    "refer to the Optimizer.zero_grad() function in torch/optim/optimizer.py as the solution.")
VIEW_NEEDS_COPY = (
    "view size is not compatible with input tensor's size and stride (at least one dimension "
    "spans across two contiguous subspaces). Use .reshape(...) instead.")
MATRIX_SHAPES = "mat1 and mat2 shapes cannot be multiplied ({}x{} and {}x{})"
NO_GRAD_FN = "element 0 of tensors does not require grad and does not have a grad_fn"
NON_LEAF_GRAD = (
    "The .grad attribute of a Tensor that is not a leaf Tensor is being accessed. Its .grad "
    "attribute won't be populated during autograd.backward(). If you indeed want the .grad field "
    "to be populated for a non-leaf Tensor, use .retain_grad() on the non-leaf Tensor. If you "
    "access the non-leaf Tensor by mistake, make sure you access the leaf Tensor instead. See "
    "github.com/pytorch/pytorch/pull/30531 for more information. (Triggered internally at "
    "/__w/pytorch/pytorch/build/aten/src/ATen/core/TensorBody.h:493.)")


LEAF_ONLY = "you can only change requires_grad flags of leaf variables."
LEAF_ONLY_HINT = (" If you want to use a computed variable in a subgraph that doesn't require "
                  "differentiation use var_no_grad = var.detach().")
GRAD_DTYPE = (
    "attempting to assign a gradient with dtype '{}' to a tensor with grad_dtype '{}'. The "
    "gradient must match the tensor's grad_dtype (defaults to the tensor's dtype). You can set "
    "the tensor's grad_dtype attribute with a specific dtype, or None to allow any dtype. Set "
    "grad_dtype with caution. Diverging the dtypes of a tensor and its gradient may break "
    "downstream systems that assume they match.")
# How PyTorch's C++ messages name dtypes.
C_TYPE_NAMES = {"float32": "float", "float64": "double", "int64": "long int", "int32": "int",
                "int16": "short int", "int8": "signed char", "uint8": "unsigned char",
                "bool": "bool"}
SCALAR_TYPE_NAMES = {"float32": "Float", "float64": "Double", "int64": "Long", "int32": "Int",
                     "int16": "Short", "int8": "Char", "uint8": "Byte", "bool": "Bool"}
SCALAR_OF_GRAD = (
    "Converting a tensor with requires_grad=True to a scalar may lead to unexpected behavior.\n"
    "Consider using tensor.detach() first. (Triggered internally at "
    "/__w/pytorch/pytorch/torch/csrc/autograd/generated/python_variable_methods.cpp:822.)")


def _shape(size: tuple) -> tuple:
    """``new_zeros(2, 3)`` and ``new_zeros((2, 3))`` alike."""
    return tuple(size[0]) if len(size) == 1 and isinstance(size[0], (tuple, list)) else tuple(size)


def _rebuild(kind, array: np.ndarray, requires_grad: bool) -> Tensor:
    return _tensor(array, kind=kind).requires_grad_(requires_grad)


class Size(tuple):
    def __repr__(self) -> str:
        return f"torch.Size({list(self)})"

    def numel(self) -> int:
        return int(np.prod(self))


def _array(data, dtype=None) -> np.ndarray:
    if isinstance(data, Tensor):
        data = data._data
    elif isinstance(data, (list, tuple)) and any(isinstance(d, Tensor) for d in _flatten(data)):
        data = _nested(data)
    chosen = dtype if dtype is not None else dtypes.infer(data)
    return np.array(data, dtype=chosen.numpy)


def _flatten(items):
    for item in items:
        if isinstance(item, (list, tuple)):
            yield from _flatten(item)
        else:
            yield item


def _nested(items):
    return [_nested(i) if isinstance(i, (list, tuple)) else (_scalar(i) if isinstance(i, Tensor) else i)
            for i in items]


def _scalar(tensor: Tensor):
    """An element of ``tensor([...])`` given as a tensor: as ``float(t)`` converts it."""
    if tensor._data.size != 1:
        raise ValueError("only one element tensors can be converted to Python scalars")
    if tensor._requires_grad:
        warnings.warn(SCALAR_OF_GRAD, UserWarning, stacklevel=4)
    return tensor.item()


def _operand(value):
    """Another operand of an op: tensors and Python numbers pass, sequences become tensors."""
    if isinstance(value, _PASSED_OPERANDS):
        return value
    if isinstance(value, np.generic):
        return value.item()
    return Tensor(value)


def _operator(op: type[Node]):
    """``tensor <op> other``, and ``tensor.op()`` with ``other`` _NOTHING: an elementwise op
    without options, ``other`` a tensor or a number.  Most of what a graph records, so
    ``apply`` and ``_record`` are inlined here, in the operator's own frame (a Python call
    costs as much as a dozen attribute reads)."""
    forward = op.forward

    def operator(self, other):
        # Record?  (Inference tensors alone: autograd does not see the op, as in PyTorch.)
        if other is _NOTHING:
            if not (modes.grad and self._requires_grad and self._counter is not None):
                return _tensor(forward(NULL_CTX, self._data))
        else:
            if type(other) is float:  # (the commonest operand: one test instead of two calls)
                tensor_operand = False
            else:
                if not isinstance(other, _PASSED_OPERANDS):
                    other = _operand(other)
                tensor_operand = isinstance(other, Tensor)
            if tensor_operand:
                if not (modes.grad and (self._requires_grad or other._requires_grad) and (
                        self._counter is not None or other._counter is not None)):
                    return _tensor(forward(NULL_CTX, self._data, other._data))
            elif not (modes.grad and self._requires_grad):
                return _tensor(forward(NULL_CTX, self._data, other))
        node = op()
        # (connect(), inlined: each edge counted in its node's _uses)
        if self._requires_grad:
            grad_fn = self._grad_fn
            if grad_fn is not None and self._base is None:
                edge = (grad_fn, self._output_nr)
            else:
                edge = self._edge()
                grad_fn = edge[0]
            grad_fn._uses += 1
        else:
            edge = _NO_EDGE
        number = other  # a Python float may be passed on as a 0-d array (below)
        if other is _NOTHING:
            node.needs_input_grad = _TRUE  # (recording, so it requires grad)
            node.next_functions = (edge,)
            returned = forward(node, self._data)
        elif tensor_operand:
            needs = node.needs_input_grad = _NEEDS[self._requires_grad, other._requires_grad]
            if needs[1]:
                other_edge = other._edge()
                other_edge[0]._uses += 1
                node.next_functions = (edge, other_edge)
            else:
                node.next_functions = (edge, _NO_EDGE)
            returned = forward(node, self._data, other._data)
        else:
            node.needs_input_grad = _NUMBER_OPERAND
            node.next_functions = (edge, _NO_EDGE)
            if type(other) is float and self._data.dtype is _FLOAT32:
                number = _FLOAT32_NUMBERS.get(other)
                if number is None:
                    number = _float32_number(other)
            returned = forward(node, self._data, number)
        # _tensor(returned, [0]) with this node as its history, inlined
        # (NumPy gives scalars for 0-d results)
        array = returned if type(returned) is _NDARRAY else np.asarray(returned)
        result = _new(Tensor)
        result._data = array
        result._counter = [0]  # (grad mode is on: not an inference tensor)
        result._requires_grad = True
        result._grad_fn = node
        result._output_nr = 0
        result._grad = None
        result._base = None
        result._accumulator = None
        if node._to_save:
            if other is _NOTHING:
                _pack_saved(node, (self,), (self._data,), returned, result, None)
            elif number is other:
                _pack_saved(node, (self, other), (self._data, _data_of(other)), returned,
                            result, None)
            else:  # (the number as the 0-d array forward got, kept as it is)
                _pack_saved(node, (self, number), (self._data, number), returned, result, None,
                            number)
        node._shapes = _SINGLE_SHAPES.get(array.shape) or _single(array.shape)
        return result
    # Each operator gets its own copy of the code: the interpreter specializes an attribute
    # access for one class at a time, so with the code shared, the node's attributes would
    # miss on every op of another kind (3% of a chain of operators).
    operator.__code__ = operator.__code__.replace()
    return operator


def _unary(op: type[Node]):
    """``tensor.op()`` for an elementwise op without options."""
    operator = _operator(op)

    def method(self):
        return operator(self, _NOTHING)
    method.__name__ = op.__name__.removesuffix("Backward0").lower()
    return method


class Tensor:
    # _counter: the version counter, shared by views: a one-element list, [version] (the
    # cheapest mutable object to make: one is made per tensor); None for an inference tensor
    # _output_nr: which output of grad_fn this tensor is; _base: for a view, the tensor whose
    # storage it shares; _creation (views only): the mode it was made in, or how
    # _history_version (views only): the version their grad_fn was derived at
    __slots__ = ("_data", "_counter", "_requires_grad", "_grad_fn", "_output_nr", "_grad",
                 "_base", "_creation", "_history_version", "_accumulator", "__weakref__")

    def __new__(cls, data=(), dtype=None) -> Tensor:
        return _tensor(_array(data, dtype), kind=cls)

    def _set_history(self, node: Node, output_nr: int = 0) -> None:
        previous = self._grad_fn
        if previous is not None and previous._retained is not None:
            self._move_retained(previous, node, output_nr)
        self._requires_grad = True
        self._grad_fn = node
        self._output_nr = output_nr
        if self._base is not None and self._counter is not None:
            self._history_version = self._counter[0]

    def _move_retained(self, previous: Node, node: Node, output_nr: int) -> None:
        """``retain_grad()`` follows the tensor to its new history (after an in-place op), as
        in PyTorch: ``.grad`` is then the gradient of its new value.  (Its other hooks stay
        with the old node.)"""
        reference = previous._retained.get(self._output_nr)
        if reference is not None and reference() is self:
            del previous._retained[self._output_nr]
            node._table("_retained")[output_nr] = reference

    @property
    def grad_fn(self) -> Node | None:
        """The node that produced this tensor.  A view whose storage was changed in place
        since (through its base or another view) is re-derived from its base first, as in
        PyTorch (AsStridedBackward0)."""
        base = self._base
        if (base is not None and self._counter is not None and base._requires_grad
                and self._counter[0] != self._history_version):
            creation = self._creation
            if creation is _IN_GRAD_MODE or type(creation) is _OneOfMany:
                with _recording():
                    rederived = apply(indexing.AsStridedBackward0, base,
                                      index=_region(base._data, self._data))
                self._set_history(rederived._grad_fn)
            elif creation is _IN_INFERENCE and self._requires_grad:
                raise RuntimeError(VIEW_FROM_INFERENCE_REBASED)
        return self._grad_fn

    @property
    def output_nr(self) -> int:
        """Which output of ``grad_fn`` this tensor is (0 for a leaf)."""
        return 0 if self.grad_fn is None else self._output_nr

    def _edge(self) -> tuple:
        """The ``next_functions`` entry for this tensor as an op input that requires grad:
        ``(grad_fn, output_nr)``, or for a leaf its AccumulateGrad node."""
        grad_fn = self._grad_fn if self._base is None else self.grad_fn
        if grad_fn is not None:
            return (grad_fn, self._output_nr)
        node = self._accumulator() if self._accumulator is not None else None
        if node is None:
            node = AccumulateGrad(self)
            self._accumulator = weakref.ref(node)
        return (node, 0)

    def _write(self, array) -> None:
        """Store new values in place (views see them) and bump the version."""
        if not self._data.flags.writeable:
            self._data = self._data.copy()
        self._data[...] = array
        if self._counter is not None:
            self._counter[0] += 1

    def _accumulate(self, grad: Tensor, keep_graph: bool, owned: bool = False) -> None:
        """Add ``grad`` to ``.grad``; with ``keep_graph`` (``create_graph``) out of place and
        recorded, as PyTorch does.  ``owned``: nothing but ``grad`` refers to its array, so
        a first gradient of the right shape and dtype becomes ``.grad`` itself (PyTorch
        adopts a gradient it holds the only reference to in the same way)."""
        data = self._data
        if keep_graph:
            grad = grad if grad._data.shape == data.shape else grad.expand(data.shape)
            self._grad = grad if self._grad is None else self._grad + grad
        elif self._grad is None:
            values = grad._data
            if (owned and values.base is None and values.shape == data.shape
                    and values.dtype == data.dtype and values.flags.writeable):
                self._grad = grad
                return
            # Otherwise a copy: the engine may hand one gradient to several inputs, and .grad
            # can be changed in place.
            if values.shape != data.shape:  # (broadcast_to costs microseconds: only if needed)
                values = np.broadcast_to(values, data.shape)
            self._grad = _tensor(np.array(values, dtype=data.dtype))
        else:
            self._grad._data = self._grad._data + grad._data.astype(data.dtype, copy=False)

    # ---------------------------------------------------------------- autograd state
    @property
    def requires_grad(self) -> bool:
        return self._requires_grad

    @requires_grad.setter
    def requires_grad(self, value: bool) -> None:
        if not isinstance(value, builtins.bool):
            raise RuntimeError("requires_grad must be a bool")
        if self.grad_fn is not None:
            raise RuntimeError(LEAF_ONLY + ("" if value else LEAF_ONLY_HINT))
        if value and not self.dtype.is_floating_point:
            raise RuntimeError("Only Tensors of floating point and complex dtype can require gradients")
        if value and self._counter is None and not modes.inference:
            raise RuntimeError("Setting requires_grad=True on inference tensor outside InferenceMode "
                               "is not allowed.")
        self._requires_grad = bool(value)

    @requires_grad.deleter
    def requires_grad(self) -> None:
        raise RuntimeError("requires_grad must be a bool")  # PyTorch's message, as for a non-bool

    def requires_grad_(self, requires_grad: bool = True) -> Tensor:
        if self.grad_fn is not None and requires_grad:
            return self  # a non-leaf already requires grad: only turning it off is refused
        self.requires_grad = builtins.bool(requires_grad)
        return self

    @property
    def is_leaf(self) -> bool:
        return self.grad_fn is None

    @property
    def grad(self) -> Tensor | None:
        if self.grad_fn is not None and self._grad is None and not self.grad_fn._retained:
            warnings.warn(NON_LEAF_GRAD, UserWarning, stacklevel=2)
        return self._grad

    @grad.setter
    def grad(self, value: Tensor | None) -> None:
        if value is not None:
            if not isinstance(value, Tensor):
                raise TypeError("assigned grad expected to be a Tensor or None but got grad of "
                                f"type {type(value).__name__}")
            if value is self:
                raise RuntimeError("can't assign Variable as its own grad")
            if value.shape != self.shape:
                raise RuntimeError(f"attempting to assign a gradient of size '{list(value.shape)}' "
                                   f"to a tensor of size '{list(self.shape)}'. Please ensure that "
                                   "the gradient and the tensor are the same size")
            if value.dtype != self.dtype:
                raise RuntimeError(GRAD_DTYPE.format(C_TYPE_NAMES[value.dtype.name],
                                                     SCALAR_TYPE_NAMES[self.dtype.name]))
        self._grad = value

    @grad.deleter
    def grad(self) -> None:
        self._grad = None

    @property
    def _version(self) -> int:
        if self._counter is None:
            raise RuntimeError("Inference tensors do not track version counter.")
        return self._counter[0]

    @property
    def volatile(self) -> bool:
        warnings.warn("volatile was removed (Variable.volatile is always False)", UserWarning,
                      stacklevel=2)
        return False

    @volatile.setter
    def volatile(self, value) -> None:
        from runtime.autograd import VOLATILE_REMOVED
        warnings.warn(VOLATILE_REMOVED, UserWarning, stacklevel=2)

    def _is_view(self) -> bool:
        return self._base is not None

    def is_inference(self) -> bool:
        return self._counter is None

    @property
    def retains_grad(self) -> bool:
        """Whether ``retain_grad()`` was called on this non-leaf (always False for a leaf)."""
        grad_fn = self.grad_fn
        retained = grad_fn._retained if grad_fn is not None else None
        return retained is not None and self._output_nr in retained and retained[
            self._output_nr]() is self

    def retain_grad(self) -> None:
        if self.grad_fn is not None:
            self.grad_fn._table("_retained")[self._output_nr] = weakref.ref(self)

    def register_hook(self, hook):
        """``hook(grad) -> Tensor or None`` runs when the gradient for this tensor is computed."""
        if not self._requires_grad:
            raise RuntimeError("cannot register a hook on a tensor that doesn't require gradient")
        node, output_nr = self._edge()
        if self.grad_fn is None:
            self._accumulator = lambda: node  # hold the leaf's node (and so the hook) strongly
        return add_hook(node._table("_tensor_hooks").setdefault(output_nr, {}), hook)

    def register_post_accumulate_grad_hook(self, hook):
        """``hook(tensor) -> None`` runs once a gradient has been accumulated into this leaf's
        ``.grad``."""
        if not self._requires_grad:
            raise RuntimeError("cannot register a hook on a tensor that doesn't require gradient")
        if self.grad_fn is not None:
            raise RuntimeError("post accumulate grad hooks cannot be registered on non-leaf tensors")
        node, _ = self._edge()
        self._accumulator = lambda: node  # hold the node (and so the hook) strongly
        if node._post_accumulate_hooks is None:
            node._post_accumulate_hooks = {}
        return add_hook(node._post_accumulate_hooks, hook)

    def backward(self, gradient=None, retain_graph=None, create_graph=False, inputs=None) -> None:
        from runtime.autograd import backward
        backward(self, gradient, retain_graph, create_graph, inputs=inputs)

    def detach(self) -> Tensor:
        # Shares storage and version counter, but is no view of a leaf: in-place on it is fine.
        return _tensor(self._data, self._counter)

    def detach_(self) -> Tensor:
        if self._base is not None:
            raise RuntimeError(DETACH_VIEW)
        self._grad_fn = None
        self._requires_grad = False
        return self

    @property
    def data(self) -> Tensor:
        # Same storage, but a separate version counter: changes through .data go unnoticed.
        return Tensor._wrap(self._data)

    @data.setter
    def data(self, value: Tensor) -> None:
        if not isinstance(value, Tensor):
            raise TypeError(f"Variable data has to be a tensor, but got {type(value).__name__}")
        if self._requires_grad and not value.dtype.is_floating_point:
            raise RuntimeError("data set to a tensor that requires gradients must be floating "
                               "point or complex dtype")
        self._data = value._data

    @data.deleter
    def data(self) -> None:
        raise RuntimeError("Deleting tensor data is not allowed. Delete tensor instead!")

    def data_ptr(self) -> int:
        """Address of the first element: views of one storage share it or point inside it."""
        return self._data.ctypes.data

    # ---------------------------------------------------------------- metadata
    @property
    def shape(self) -> Size:
        return Size(self._data.shape)

    def size(self, dim=None):
        return self.shape if dim is None else self._data.shape[dim]

    def dim(self) -> int:
        return self._data.ndim

    ndim = property(dim)

    @property
    def dtype(self) -> dtypes.dtype:
        return dtypes.from_numpy(self._data.dtype)

    @property
    def device(self) -> device:
        return CPU

    def is_floating_point(self) -> bool:
        return self.dtype.is_floating_point

    def numel(self) -> int:
        return int(self._data.size)

    def __len__(self) -> int:
        if not self._data.ndim:
            raise TypeError("len() of a 0-d tensor")
        return len(self._data)

    def __iter__(self):
        return (self[i] for i in range(len(self)))

    def item(self):
        if self._data.size != 1:
            raise RuntimeError(f"a Tensor with {self._data.size} elements cannot be converted to Scalar")
        return self._data.reshape(()).item()

    def tolist(self):
        return self._data.tolist()

    def numpy(self, *, force: bool = False) -> np.ndarray:
        if self._requires_grad and modes.grad and not force:
            raise RuntimeError("Can't call numpy() on Tensor that requires grad. Use "
                               "tensor.detach().numpy() instead.")
        return self._data

    def __float__(self) -> float:
        if self._data.size != 1:
            raise ValueError("only one element tensors can be converted to Python scalars")
        if self._requires_grad:
            warnings.warn(SCALAR_OF_GRAD, UserWarning, stacklevel=2)
        return builtins.float(self.item())

    def __int__(self) -> int:
        if self._data.size != 1:
            raise ValueError("only one element tensors can be converted to Python scalars")
        return builtins.int(self.item())

    def __index__(self) -> int:
        if self._data.size != 1 or self._data.dtype.kind not in "iub":
            raise TypeError("only integer tensors of a single element can be converted to an index")
        return builtins.int(self.item())

    def __bool__(self) -> bool:
        if self._data.size != 1:
            raise RuntimeError("Boolean value of Tensor with more than one value is ambiguous")
        return builtins.bool(self.item())

    __hash__ = object.__hash__

    def __repr__(self) -> str:
        return _format(self)

    # ---------------------------------------------------------------- conversion
    def to(self, *args, **kwargs) -> Tensor:
        """``to(dtype)``, ``to(device, dtype)``, ``to(other)``; the device must be the CPU."""
        target, place = kwargs.get("dtype"), kwargs.get("device")
        for arg in args:
            if isinstance(arg, dtypes.dtype):
                target = arg
            elif isinstance(arg, Tensor):
                target, place = arg.dtype, arg.device
            elif arg is not None:
                place = arg
        if place is not None:
            check_available(place)
        if target is None or target.numpy == self._data.dtype:
            return self.clone() if kwargs.get("copy") else self
        return self._cast(target)

    def cuda(self, device=None, non_blocking: bool = False) -> Tensor:
        raise AssertionError(NO_CUDA)

    def _new(self, array: np.ndarray, dtype, requires_grad: bool) -> Tensor:
        chosen = self.dtype if dtype is None else dtype
        return _tensor(array.astype(chosen.numpy, copy=False)).requires_grad_(requires_grad)

    def new(self, *args) -> Tensor:
        """Legacy constructor: ``new(2, 3)`` or ``new(size)`` gives an (uninitialised, here
        zero) tensor of this dtype, ``new(data)`` one holding the data."""
        if all(isinstance(a, builtins.int) and not isinstance(a, builtins.bool) for a in args) \
                or (len(args) == 1 and isinstance(args[0], Size)):
            return self._new(np.zeros(_shape(args) if args else (0,)), None, False)
        (data,) = args
        return self._new(np.asarray(data._data if isinstance(data, Tensor) else data), None, False)

    def new_zeros(self, *size, dtype=None, device=None, requires_grad=False) -> Tensor:
        return self._new(np.zeros(_shape(size)), dtype, requires_grad)

    def new_ones(self, *size, dtype=None, device=None, requires_grad=False) -> Tensor:
        return self._new(np.ones(_shape(size)), dtype, requires_grad)

    def new_empty(self, *size, dtype=None, device=None, requires_grad=False) -> Tensor:
        return self._new(np.zeros(_shape(size)), dtype, requires_grad)

    def new_full(self, size, fill_value, dtype=None, device=None, requires_grad=False) -> Tensor:
        return self._new(np.full(_shape((size,)), fill_value), dtype, requires_grad)

    def __reduce_ex__(self, protocol):
        # Values and the requires_grad flag; a non-leaf comes back as a leaf, as in PyTorch.
        return _rebuild, (type(self), np.array(self._data), self._requires_grad)

    def _cast(self, target: dtypes.dtype) -> Tensor:
        if not target.is_floating_point:  # no gradient flows to integers: nothing recorded
            return _tensor(self._data.astype(target.numpy))
        return apply(inplace.ToCopyBackward0, self, dtype=target.numpy)

    def float(self) -> Tensor:
        return self.to(dtypes.float32)

    def double(self) -> Tensor:
        return self.to(dtypes.float64)

    def long(self) -> Tensor:
        return self.to(dtypes.int64)

    def int(self) -> Tensor:
        return self.to(dtypes.int32)

    def short(self) -> Tensor:
        return self.to(dtypes.int16)

    def char(self) -> Tensor:
        return self.to(dtypes.int8)

    def bool(self) -> Tensor:
        return self.to(dtypes.bool_)

    def type_as(self, other: Tensor) -> Tensor:
        return self.to(other.dtype)

    def cpu(self) -> Tensor:
        return self

    def contiguous(self) -> Tensor:
        return self if self._data.flags.c_contiguous else apply(unary.CloneBackward0, self)

    def clone(self) -> Tensor:
        return apply(unary.CloneBackward0, self)

    def _apply(self, op: type[Node], *others, **options) -> Tensor:
        """``op`` on this tensor and ``others``: for backward formulas, which may not import
        this module, to call a backward op (``TanhBackwardBackward0``) that has no method."""
        return apply(op, self, *others, **options)

    # ---------------------------------------------------------------- arithmetic
    __add__ = __radd__ = _operator(arithmetic.AddBackward0)
    __sub__ = _operator(arithmetic.SubBackward0)
    __rsub__ = _operator(arithmetic.RsubBackward1)
    __mul__ = __rmul__ = _operator(arithmetic.MulBackward0)
    __truediv__ = _operator(arithmetic.DivBackward0)

    def __rtruediv__(self, other):
        if isinstance(other, Tensor):
            return apply(arithmetic.DivBackward0, other, self)
        # As PyTorch: ``number / t`` is ``t.reciprocal() * number`` (grad_fn MulBackward0).
        return apply(arithmetic.MulBackward0, apply(arithmetic.ReciprocalBackward0, self), _operand(other))

    def reciprocal(self):
        return apply(arithmetic.ReciprocalBackward0, self)

    def __pow__(self, exponent):
        if isinstance(exponent, Tensor):
            return apply(arithmetic.PowBackward1, self, exponent)
        return apply(arithmetic.PowBackward0, self, exponent)

    def __rpow__(self, base):
        return apply(arithmetic.PowBackward2, base, self)

    def __matmul__(self, other):
        other = _operand(other)
        if self.dim() == 2 and other.dim() == 2 and self.shape[1] != other.shape[0]:
            raise RuntimeError(MATRIX_SHAPES.format(*self.shape, *other.shape))
        return apply(arithmetic.matmul_op(self.dim(), other.dim()), self, other)

    def __rmatmul__(self, other):
        return _operand(other).__matmul__(self)

    __neg__ = _unary(arithmetic.NegBackward0)

    def add(self, other, alpha=1):
        return apply(arithmetic.AddBackward0, self, _operand(other), alpha=alpha)

    def sub(self, other, alpha=1):
        return apply(arithmetic.SubBackward0, self, _operand(other), alpha=alpha)

    mul = __mul__
    div = __truediv__
    pow = __pow__
    matmul = __matmul__
    mm = __matmul__
    neg = __neg__

    # comparisons give plain bool tensors
    def _compare(self, other, function) -> Tensor:
        other = other._data if isinstance(other, Tensor) else other
        return Tensor._wrap(np.asarray(function(self._data, other)))

    def __eq__(self, other):
        return self._compare(other, np.equal)

    def __ne__(self, other):
        return self._compare(other, np.not_equal)

    def __lt__(self, other):
        return self._compare(other, np.less)

    def __le__(self, other):
        return self._compare(other, np.less_equal)

    def __gt__(self, other):
        return self._compare(other, np.greater)

    def __ge__(self, other):
        return self._compare(other, np.greater_equal)

    eq, ne, lt, le, gt, ge = __eq__, __ne__, __lt__, __le__, __gt__, __ge__

    def __invert__(self):
        return Tensor._wrap(~self._data)

    def __and__(self, other):
        return self._compare(other, np.logical_and)

    def __or__(self, other):
        return self._compare(other, np.logical_or)

    def all(self) -> Tensor:
        return Tensor._wrap(np.asarray(self._data.all()))

    def any(self) -> Tensor:
        return Tensor._wrap(np.asarray(self._data.any()))

    def equal(self, other: Tensor) -> bool:
        return self.shape == other.shape and builtins.bool((self._data == other._data).all())

    def allclose(self, other: Tensor, rtol=1e-05, atol=1e-08) -> bool:
        return builtins.bool(np.allclose(self._data, other._data, rtol=rtol, atol=atol))

    # ---------------------------------------------------------------- elementwise
    exp = _unary(unary.ExpBackward0)

    log = _unary(unary.LogBackward0)

    sqrt = _unary(unary.SqrtBackward0)

    abs = _unary(unary.AbsBackward0)

    sin = _unary(unary.SinBackward0)

    cos = _unary(unary.CosBackward0)

    sinh = _unary(unary.SinhBackward0)
    cosh = _unary(unary.CoshBackward0)
    tanh = _unary(unary.TanhBackward0)

    sigmoid = _unary(unary.SigmoidBackward0)

    relu = _unary(unary.ReluBackward0)

    def clamp(self, min=None, max=None):  # noqa: A002 - torch's names
        return apply(unary.ClampBackward1, self, min=min, max=max)

    clip = clamp

    def masked_fill(self, mask, value):
        return apply(unary.MaskedFillBackward0, self, mask=_data_of(mask), value=value)

    sign = _unary(unary.SignBackward0)

    erf = _unary(unary.ErfBackward0)

    def square(self):
        return self ** 2  # as PyTorch: PowBackward0

    def round(self, decimals=0):
        if decimals:
            return apply(unary.RoundBackward1, self, decimals=decimals)
        return apply(unary.RoundBackward0, self)

    def maximum(self, other):
        return apply(arithmetic.MaximumBackward0, self, other)

    def minimum(self, other):
        return apply(arithmetic.MinimumBackward0, self, other)

    def dot(self, other):
        if self.dim() != 1 or other.dim() != 1:
            raise RuntimeError(f"1D tensors expected, but got {self.dim()}D and {other.dim()}D tensors")
        if self.dtype != other.dtype:
            raise RuntimeError("dot : expected both vectors to have same dtype, but found "
                               f"{SCALAR_TYPE_NAMES[self.dtype.name]} and "
                               f"{SCALAR_TYPE_NAMES[other.dtype.name]}")
        if self.numel() != other.numel():
            raise RuntimeError(
                f"inconsistent tensor size, expected tensor [{self.numel()}] and src "
                f"[{other.numel()}] to have the same number of elements, but got "
                f"{self.numel()} and {other.numel()} elements respectively")
        return apply(arithmetic.DotBackward0, self, other)

    def outer(self, other):
        for name, tensor in (("self", self), ("vec2", other)):
            if tensor.dim() != 1:
                raise RuntimeError(f"outer: Expected 1-D argument {name}, but got {tensor.dim()}-D")
        return self.unsqueeze(1) * other  # as PyTorch: MulBackward0

    def bernoulli(self, generator=None):
        from runtime.random import default_generator
        draws = (generator or default_generator).uniform(0.0, 1.0, self._data.shape) < self._data
        return apply(inplace.BernoulliBackward0, self, value=draws)

    def bernoulli_(self, p=0.5, generator=None):
        from runtime.random import default_generator
        draws = (generator or default_generator).uniform(0.0, 1.0, self._data.shape) < _data_of(p)
        return self._inplace(inplace.BernoulliBackward1, value=draws)


    # ---------------------------------------------------------------- reductions
    def sum(self, dim=None, keepdim=False):
        if dim is None:
            return apply(reduction.SumBackward0, self)
        return apply(reduction.SumBackward1, self, dim=dim, keepdim=keepdim)

    def mean(self, dim=None, keepdim=False):
        if not self.dtype.is_floating_point:
            raise RuntimeError("mean(): could not infer output dtype. Input dtype must be either "
                               "a floating point or complex dtype. Got: "
                               f"{SCALAR_TYPE_NAMES[self.dtype.name]}")
        if dim is None:
            return apply(reduction.MeanBackward0, self)
        return apply(reduction.MeanBackward1, self, dim=dim, keepdim=keepdim)

    def _extreme(self, whole, along, arg, dim, keepdim):
        if dim is None:
            return apply(whole, self)
        values = apply(along, self, dim=dim, keepdim=keepdim)
        indices = arg(dim=dim, keepdim=keepdim)
        return _MinMax(values, indices)

    def max(self, dim=None, keepdim=False):
        return self._extreme(reduction.MaxBackward1, reduction.MaxBackward0, self.argmax, dim, keepdim)

    def min(self, dim=None, keepdim=False):
        return self._extreme(reduction.MinBackward1, reduction.MinBackward0, self.argmin, dim, keepdim)

    def argmax(self, dim=None, keepdim=False):
        return self._arg(np.argmax, dim, keepdim)

    def argmin(self, dim=None, keepdim=False):
        return self._arg(np.argmin, dim, keepdim)

    def _arg(self, function, dim, keepdim):
        if dim is None:
            return Tensor._wrap(np.asarray(function(self._data), dtype=np.int64))
        return Tensor._wrap(np.asarray(function(self._data, axis=dim, keepdims=keepdim), dtype=np.int64))

    def var(self, dim=None, unbiased=True, keepdim=False, correction=None):
        correction = (1 if unbiased else 0) if correction is None else correction
        return apply(reduction.VarBackward0, self, dim=dim, correction=correction, keepdim=keepdim)

    def std(self, dim=None, unbiased=True, keepdim=False, correction=None):
        correction = (1 if unbiased else 0) if correction is None else correction
        return apply(reduction.StdBackward0, self, dim=dim, correction=correction, keepdim=keepdim)

    def norm(self, p=2, dim=None, keepdim=False):
        if p != 2:
            raise NotImplementedError("runtime supports only the 2-norm")
        return apply(reduction.LinalgVectorNormBackward0, self, dim=dim, keepdim=keepdim)

    def prod(self, dim=None, keepdim=False):
        if dim is None:
            return apply(reduction.ProdBackward0, self)
        return apply(reduction.ProdBackward1, self, dim=dim, keepdim=keepdim)

    def amax(self, dim=(), keepdim=False):
        return apply(reduction.AmaxBackward0, self, dim=dim, keepdim=keepdim)

    def amin(self, dim=(), keepdim=False):
        return apply(reduction.AminBackward0, self, dim=dim, keepdim=keepdim)

    def cumsum(self, dim):
        return apply(reduction.CumsumBackward0, self, dim=dim)

    def logsumexp(self, dim, keepdim=False):
        return apply(reduction.LogsumexpBackward0, self, dim=dim, keepdim=keepdim)

    def var_mean(self, dim=None, unbiased=True, keepdim=False, correction=None):
        correction = (1 if unbiased else 0) if correction is None else correction
        return apply_many(reduction.VarMeanBackward0, self, dim=dim, correction=correction,
                          keepdim=keepdim)

    def softmax(self, dim):
        return apply(reduction.SoftmaxBackward0, self, dim=dim)

    def log_softmax(self, dim):
        return apply(reduction.LogSoftmaxBackward0, self, dim=dim)

    # ---------------------------------------------------------------- shape
    def view(self, *shape):
        shape = _shape(shape)
        op = shape_ops.reshape_op(self._data, shape)
        if op is not shape_ops.ViewBackward0:
            raise RuntimeError(VIEW_NEEDS_COPY)
        return apply(op, self, shape=shape)

    def reshape(self, *shape):
        """A view where the elements' layout allows one, else a copy (as PyTorch)."""
        shape = _shape(shape)
        return apply(shape_ops.reshape_op(self._data, shape), self, shape=shape)

    def view_as(self, other):
        return self.view(other.shape)

    def reshape_as(self, other):
        return self.reshape(other.shape)

    def is_contiguous(self) -> bool:
        return self._data.flags.c_contiguous

    def flatten(self, start_dim=0, end_dim=-1):
        shape = self._data.shape
        if not shape:
            return self.reshape(1)
        end = end_dim % len(shape)
        if start_dim % len(shape) == end:
            return self  # nothing to merge: PyTorch returns the tensor itself
        merged = int(np.prod(shape[start_dim:end + 1]))
        return self.reshape(*shape[:start_dim], merged, *shape[end + 1:])

    def transpose(self, dim0, dim1):
        return apply(shape_ops.TransposeBackward0, self, dim0=dim0, dim1=dim1)

    def transpose_(self, dim0, dim1):
        """Swap two dimensions of this tensor itself (its history continues as
        TransposeBackward1)."""
        recording = modes.grad and self._requires_grad
        self._check_inplace(recording)
        swapped = apply(shape_ops.TransposeBackward1, self, dim0=dim0, dim1=dim1)
        self._data = np.swapaxes(self._data, dim0, dim1)
        if self._counter is not None:
            self._counter[0] += 1
        if recording:
            self._set_history(swapped._grad_fn)
        return self

    def narrow(self, dim, start, length):
        size = self.size(dim)
        start = start + size if start < 0 else start
        if start + length > size:
            raise RuntimeError(f"start ({start}) + length ({length}) exceeds dimension size ({size}).")
        index = (slice(None),) * (dim % self.dim()) + (slice(start, start + length),)
        return apply(indexing.SliceBackward0, self, index=index)

    def select(self, dim, index):
        size = self.size(dim)
        if not -size <= index < size:
            raise IndexError(f"select(): index {index} out of range for tensor of size "
                             f"{list(self.shape)} at dimension {dim}")
        return apply(indexing.SelectBackward0, self,
                     index=(slice(None),) * (dim % self.dim()) + (index,))

    def repeat(self, *repeats):
        repeats = _shape(repeats)
        if len(repeats) < self.dim():
            raise RuntimeError("Number of dimensions of repeat dims can not be smaller than number "
                               "of dimensions of tensor")
        return apply(shape_ops.RepeatBackward0, self, repeats=repeats)

    def t(self):
        if self.dim() > 2:
            raise RuntimeError(f"t() expects a tensor with <= 2 dimensions, but self is {self.dim()}D")
        return apply(shape_ops.TBackward0, self)

    @property
    def T(self):  # noqa: N802 - torch's name
        return self.permute(*reversed(range(self.dim())))

    def permute(self, *dims):
        return apply(shape_ops.PermuteBackward0, self, dims=_shape(dims))

    def squeeze(self, dim=None):
        if dim is None:
            return apply(shape_ops.SqueezeBackward0, self)
        return apply(shape_ops.SqueezeBackward1, self, dim=dim)

    def unsqueeze(self, dim):
        return apply(shape_ops.UnsqueezeBackward0, self, dim=dim)

    def expand(self, *shape):
        return apply(shape_ops.ExpandBackward0, self, shape=_shape(shape))

    def expand_as(self, other):
        return self.expand(other.shape)

    def gather(self, dim, index):
        return apply(indexing.GatherBackward0, self, dim=dim, index=_data_of(index))

    def scatter_add(self, dim, index, src):
        return apply(indexing.ScatterAddBackward0, self, src, dim=dim, index=_data_of(index))

    def index_put(self, indices, values, accumulate=False):
        return apply(indexing.IndexPutBackward0, self, _operand(values), index=_index(indices),
                     accumulate=accumulate)

    def sum_to_size(self, *size):
        """Sum over the dimensions ``size`` broadcasts: the inverse of ``expand(size)``."""
        size = _shape(size)
        extra = self.dim() - len(size)
        result = self.sum(dim=tuple(range(extra))) if extra else self
        dims = tuple([i for i, n in enumerate(size) if n == 1 and result._data.shape[i] != 1])
        return result.sum(dim=dims, keepdim=True) if dims else result

    def unbind(self, dim=0):
        return apply_many(indexing.UnbindBackward0, self, dim=dim % self.dim())

    def split(self, split_size, dim=0):
        dim %= self.dim()
        size = self._data.shape[dim]
        if isinstance(split_size, builtins.int):
            whole, rest = divmod(size, split_size)
            sizes = [split_size] * whole + ([rest] if rest else [])
            return apply_many(indexing.SplitBackward0, self, sizes=sizes, dim=dim)
        return apply_many(indexing.SplitWithSizesBackward0, self, sizes=list(split_size), dim=dim)

    def chunk(self, chunks, dim=0):
        return self.split(-(-self._data.shape[dim % self.dim()] // chunks), dim)

    def __getitem__(self, index):
        index = _index(index)
        return apply(indexing.indexing_op(index), self, index=index)

    # ---------------------------------------------------------------- in place
    def _check_inplace(self, recording: bool) -> None:
        """PyTorch's refusals of an in-place change (``recording``: it will be recorded)."""
        if self._counter is None and not modes.inference:
            raise RuntimeError(INFERENCE_INPLACE)
        if not recording:
            return
        base = self._base
        if base is not None:
            creation = self._creation
            if type(creation) is _OneOfMany:
                function, nr = creation
                if base._requires_grad:
                    if function is None:
                        function = self.grad_fn.name().removesuffix("Backward0")
                    raise RuntimeError(MULTIPLE_VIEWS.format(nr=nr, function=function))
                raise RuntimeError(MULTIPLE_VIEWS_NO_GRAD)  # PyTorch's wording for this case
            if creation is _IN_NO_GRAD:
                raise RuntimeError(VIEW_FROM_NO_GRAD)
            if creation is _IN_INFERENCE and not modes.inference:
                raise RuntimeError(VIEW_FROM_INFERENCE)
            if base._requires_grad and base.grad_fn is None:
                raise RuntimeError(VIEW_OF_LEAF_INPLACE)
        elif self._requires_grad and self.grad_fn is None:
            raise RuntimeError(LEAF_INPLACE)

    def _inplace(self, op: type[Node], *others, **options) -> Tensor:
        # (a view made under no_grad does not require grad, but its base may)
        recording = modes.grad and (
            self._requires_grad or (self._base is not None and self._base._requires_grad)
            or any(isinstance(o, Tensor) and o._requires_grad for o in others))
        self._check_inplace(recording)
        if recording and self._base is not None:
            self._inplace_on_view(op, others, options)
        else:
            apply(op, self, *others, out=self, **options)
        return self

    def _inplace_on_view(self, op: type[Node], others: tuple, options: dict) -> None:
        """An in-place op on a view, recorded as PyTorch does (see :func:`rebase_view`)."""
        base = self._base
        region = _region(base._data, self._data)
        # The op differentiates through the view's values taken afresh from the base, as
        # PyTorch's CopySlices does: the view's own grad_fn, and hooks on it, are left out.
        if base._requires_grad:
            original = apply(indexing.AsStridedBackward0, base, index=region)
        else:
            original = _tensor(self._data.copy())
        new_values = apply(op, original, *others, **options)
        self._write(new_values._data)  # also the base's storage; one version step for both
        self._set_history(new_values._grad_fn)
        rebase_view(self, region)

    def add_(self, other, alpha=1):
        return self._inplace(arithmetic.AddBackward0, _operand(other), alpha=alpha)

    def sub_(self, other, alpha=1):
        return self._inplace(arithmetic.SubBackward0, _operand(other), alpha=alpha)

    def mul_(self, other):
        return self._inplace(arithmetic.MulBackward0, _operand(other))

    def div_(self, other):
        return self._inplace(arithmetic.DivBackward0, _operand(other))

    def pow_(self, exponent):
        return self._inplace(arithmetic.PowBackward0, exponent)

    def neg_(self):
        return self._inplace(arithmetic.NegBackward0)

    def abs_(self):
        return self._inplace(unary.AbsBackward0)

    def exp_(self):
        return self._inplace(unary.ExpBackward0)

    def log_(self):
        return self._inplace(unary.LogBackward0)

    def sqrt_(self):
        return self._inplace(unary.SqrtBackward0)

    def sigmoid_(self):
        return self._inplace(unary.SigmoidBackward0)

    def tanh_(self):
        return self._inplace(unary.TanhBackward0)

    def relu_(self):
        return self._inplace(unary.ReluBackward0)

    def clamp_(self, min=None, max=None):  # noqa: A002
        return self._inplace(unary.ClampBackward1, min=min, max=max)

    clip_ = clamp_

    def masked_fill_(self, mask, value):
        return self._inplace(unary.MaskedFillBackward0, mask=_data_of(mask), value=value)

    def zero_(self):
        return self._inplace(inplace.ZeroBackward0, value=0)

    def fill_(self, value):
        op = inplace.FillBackward3 if isinstance(value, Tensor) else inplace.FillBackward2
        return self._inplace(op, value=_data_of(value))

    def copy_(self, source):
        return self._inplace(inplace.CopyBackwards, _operand(source))

    def normal_(self, mean=0.0, std=1.0, generator=None):
        from runtime.random import default_generator
        values = (generator or default_generator).normal(mean, std, self._data.shape)
        return self._inplace(inplace.NormalBackward0, value=values)

    def uniform_(self, a=0.0, b=1.0, generator=None):
        from runtime.random import default_generator
        values = (generator or default_generator).uniform(a, b, self._data.shape)
        return self._inplace(inplace.UniformBackward0, value=values)

    def __iadd__(self, other):
        return self.add_(other)

    def __isub__(self, other):
        return self.sub_(other)

    def __imul__(self, other):
        return self.mul_(other)

    def __itruediv__(self, other):
        return self.div_(other)

    def __setitem__(self, index, value) -> None:
        index = _index(index)
        if modes.grad and self._requires_grad and self.grad_fn is None and self._base is None:
            raise RuntimeError(VIEW_OF_LEAF_INPLACE)  # x[i] = v changes a view of x
        # As PyTorch: a basic index copies into a view (CopySlices), an advanced one is index_put_
        basic = indexing.is_basic(index) or indexing.indexing_op(index) is indexing.SelectBackward0
        op = inplace.CopySlices if basic else indexing.IndexPutBackward0
        self._inplace(op, _operand(value), index=index)


_PASSED_OPERANDS = (Tensor, builtins.int, builtins.float, builtins.bool)
# (NumPy has a module __getattr__, so the interpreter caches no attribute read on ``np``: a
# global of this module is read in ~3 ns, ``np.ndarray`` in ~20.)
_NDARRAY = np.ndarray
_IN_MODE = object()
_new = object.__new__


def _tensor(array, counter=_IN_MODE, kind=Tensor) -> Tensor:
    """A new tensor without history over ``array``: the one place tensors are made, and the
    result of every op, so it is kept to one call (``_operator`` inlines it, which
    saves 3% of a chain of operators: a slot added here goes there too).  ``counter``: a
    version counter to share, None for an inference tensor, by default a new one unless in
    inference mode."""
    if type(array) is not _NDARRAY:  # NumPy gives scalars for 0-d results
        array = np.asarray(array)
    if counter is _IN_MODE:
        counter = None if modes.inference else [0]
    tensor = _new(kind)
    tensor._data = array
    tensor._counter = counter
    tensor._requires_grad = False
    tensor._grad_fn = None
    tensor._output_nr = 0
    tensor._grad = None
    tensor._base = None
    tensor._accumulator = None
    return tensor


Tensor._wrap = staticmethod(_tensor)  # the name the rest of runtime knows it by


def _view(base: Tensor, array: np.ndarray) -> Tensor:
    """A view of ``base``: shares its version counter, and remembers the grad mode it was
    made in (an in-place change under another mode is refused).  Made in inference mode, it
    keeps ``requires_grad``, as in PyTorch.  One of an inference tensor is no view but
    another inference tensor over the same storage, as in PyTorch (which tracks neither)."""
    if base._counter is None:
        return _tensor(array, None)
    view = _tensor(array, base._counter)
    view._base = base._base if base._base is not None else base
    if modes.inference:
        view._creation = _IN_INFERENCE
        view._requires_grad = base._requires_grad
    elif base._base is not None and type(base._creation) is _OneOfMany:
        # a view of such an output is refused in place too, named after its own node
        view._creation = _OneOfMany(None, 0)
    else:
        view._creation = _IN_GRAD_MODE if modes.grad else _IN_NO_GRAD
    view._history_version = base._counter[0]
    return view


class _recording(enable_grad):
    """Grad mode on, and not inference mode: for re-deriving a view's history."""

    def _modes(self):
        return True, False


# How a view was made: its in-place rules depend on it.
_IN_GRAD_MODE, _IN_NO_GRAD, _IN_INFERENCE = "grad mode", "no_grad", "inference_mode"


class _OneOfMany(tuple):
    """``_creation`` of output ``nr`` of an op returning several views (unbind, split), or,
    with ``function`` None, of a view of one (named after its own node)."""

    def __new__(cls, function: str, nr: int):
        return super().__new__(cls, (function, nr))


# ------------------------------------------------------------------------------ dispatch

_NO_EDGE = (None, 0)
INFERENCE_SAVED = ("Inference tensors cannot be saved for backward. Please do not use Tensors "
                   "created in inference mode in computation tracked by autograd. To work around "
                   "this, you can make a clone to get a normal tensor and use it in autograd, or "
                   "use `torch.no_grad()` instead of `torch.inference_mode()`.")


def apply(op: type[Node], *inputs, out=None, **options) -> Tensor:
    """Run the built-in ``op`` on ``inputs`` (tensors, Python numbers or None), recording a
    node when grad mode is on and an input requires grad.  ``out`` makes it in-place: the
    result is written into that tensor, which takes over the new history."""
    if modes.grad:
        for tensor in inputs:
            if isinstance(tensor, Tensor) and tensor._requires_grad:
                if tensor._counter is not None or _any_normal(inputs):
                    return _record(op, inputs, out, options)
                break  # inference tensors alone: autograd does not see the op, as in PyTorch
    result = op.forward(NULL_CTX, *[t._data if isinstance(t, Tensor) else t for t in inputs],
                        **options)
    if out is not None:
        out._write(result)
        return out
    if op.is_view:
        return _view(inputs[0], result)
    return _tensor(result)


def _any_normal(inputs: tuple) -> bool:
    """Is one of ``inputs`` a tensor that is not an inference tensor?"""
    return any(isinstance(t, Tensor) and t._counter is not None for t in inputs)


def _record(op: type[Node], inputs: tuple, out, options: dict) -> Tensor:
    node = op()
    arrays, edges = [], []
    needs = ()  # built from shared tuples, not a list per call: fewer objects for the GC
    for tensor in inputs:
        if isinstance(tensor, Tensor):
            arrays.append(tensor._data)
            if tensor._requires_grad:
                needs += _TRUE
                grad_fn = tensor._grad_fn
                edges.append((grad_fn, tensor._output_nr)
                             if grad_fn is not None and tensor._base is None else tensor._edge())
                continue
        else:
            arrays.append(tensor)
        needs += _FALSE
        edges.append(_NO_EDGE)
    node.needs_input_grad = needs
    if out is not None:
        # ``out`` is overwritten below, but backward may need its old values (log_, mul_,
        # clamp_...): forward and saving read a private copy, like PyTorch's original_self.
        arrays[0] = arrays[0].copy()
    returned = op.forward(node, *arrays, **options) if options else op.forward(node, *arrays)
    if out is not None:
        out._write(returned)
        result = out
    elif op.is_view:
        result = _view(inputs[0], returned)
    else:
        result = _tensor(returned, [0])  # (grad mode is on: not an inference tensor)
    if node._to_save:
        _pack_saved(node, inputs, arrays, returned, result, out)
    connect(node, tuple(edges))
    node._shapes = _single(result._data.shape)
    if result._base is None and out is None:  # the common case of _set_history, inlined
        result._requires_grad = True
        result._grad_fn = node
    else:
        result._set_history(node)
    return result


_TRUE, _FALSE = (True,), (False,)
_NOTHING = object()  # the operand of a unary operator that is not there
# needs_input_grad of an operator's node, shared: (tensor, other) requires grad -> the flags
_NEEDS = {(True, False): (True, False), (False, True): (False, True), (True, True): (True, True)}
_NUMBER_OPERAND = _NEEDS[True, False]


def _single(shape: tuple) -> tuple:
    """``(shape,)``, the ``_shapes`` of a node with one output, shared between nodes: two
    objects fewer per op for the garbage collector to walk while a graph is alive."""
    shapes = _SINGLE_SHAPES.get(shape)
    if shapes is None:
        if len(_SINGLE_SHAPES) >= 1024:  # (a program with ever new shapes: start over)
            _SINGLE_SHAPES.clear()
        shapes = _SINGLE_SHAPES[shape] = (shape,)
    return shapes


_SINGLE_SHAPES: dict = {}
_FLOAT32 = np.dtype(np.float32)
_FLOAT32_MAX = float(np.finfo(np.float32).max)
# A Python float operand of a float32 tensor as the 0-d float32 array NumPy would convert it
# to (NEP 50: the same result to the bit): NumPy's ufuncs take such an array in about half
# the time they take a Python float (~0.3 against ~0.6 us on 10 elements).  Shared by value.
_FLOAT32_NUMBERS: dict = {}


def _float32_number(number: float):
    """``number`` as a shared 0-d float32 array, or ``number`` itself where the conversion
    is not exact enough to share: out of float32's range (NumPy warns of the overflow on each
    operation), not a number, or a zero (-0.0 == 0.0 as a key)."""
    if not 0 < abs(number) <= _FLOAT32_MAX:
        return number
    if len(_FLOAT32_NUMBERS) >= 1024:  # (a program with ever new numbers: start over)
        _FLOAT32_NUMBERS.clear()
    array = _FLOAT32_NUMBERS[number] = np.array(number, np.float32)
    array.flags.writeable = False
    return array


def apply_many(op: type[Node], *inputs, **options) -> tuple:
    """``apply`` for an op whose forward returns several arrays: one tensor each, all
    outputs of the one node.  (Such a forward saves only inputs.)  The outputs of a view op
    are views of the first input that refuse in-place changes where recording them would
    need to rewrite the node's other outputs, as in PyTorch."""
    arrays = [t._data if isinstance(t, Tensor) else t for t in inputs]
    recording = (modes.grad and any(isinstance(t, Tensor) and t._requires_grad for t in inputs)
                 and _any_normal(inputs))
    node = op() if recording else NULL_CTX
    returned = op.forward(node, *arrays, **options)
    if op.is_view:
        results = tuple([_view(inputs[0], array) for array in returned])
        function = op.__name__.removesuffix("Backward0")
        for output_nr, result in enumerate(results):
            if result._base is not None and result._creation is _IN_GRAD_MODE:
                result._creation = _OneOfMany(function, output_nr)
    else:
        results = tuple([_tensor(array) for array in returned])
    if not recording:
        return results
    node.needs_input_grad = tuple([isinstance(t, Tensor) and t._requires_grad for t in inputs])
    connect(node, tuple([t._edge() if needed else _NO_EDGE
                         for t, needed in zip(inputs, node.needs_input_grad)]))
    if node._to_save:
        _pack_saved(node, inputs, arrays, None, None, None)
    node._shapes = tuple([result._data.shape for result in results])
    for output_nr, result in enumerate(results):
        result._set_history(node, output_nr)
    return results


def _pack_saved(node: Node, inputs: tuple, arrays, returned, result: Tensor, out,
                number=None) -> None:
    """Keep what a built-in forward passed to ``save_for_backward``: its arrays as the tensors
    they belong to (see :func:`_save`); plain values (numbers, None, and ``number``, a Python
    number operand forward got as a 0-d array) as they are, so that saving only those keeps
    their tuple itself."""
    to_save = node._to_save
    if result is not None and len(to_save) == 1 and to_save[0] is returned:
        # the result alone (exp, tanh, sigmoid...)
        node._saved = (save_output(result),)
        # (one object fewer while the graph lives; None rather than deleted, which would
        # make saved_tensors read the class default, a slower lookup)
        node._to_save = None
        return
    for value in to_save:
        if value is not None and value is not number and isinstance(value, _ARRAYS):
            node._saved = tuple([_save(value, inputs, arrays, returned, result, out)
                                 for value in to_save])
            node._to_save = None
            return
    node._saved = to_save


_ARRAYS = (np.ndarray, np.generic)


def _save(value, inputs: tuple, arrays, returned, result: Tensor, out):
    """What ``save_for_backward(value)`` in a built-in forward keeps: the tensor that array
    belongs to (an input, or the result), or a new array as a constant."""
    if value is None:
        return None
    if value is returned:
        return save_output(result)
    for position, array in enumerate(arrays):
        if array is value:
            tensor = inputs[position]
            if not isinstance(tensor, Tensor):
                return tensor
            if out is not None and position == 0:
                return _original_self(out, array)
            return save_input(tensor, written=tensor is out)
    return _tensor(value) if isinstance(value, np.ndarray) else value


def save_input(tensor: Tensor, written: bool = False) -> SavedTensor:
    """``tensor`` saved with its version; ``written``: it is also the output of the in-place
    op saving it (``x.mul_(x)``), so its version before that write is expected."""
    counter = tensor._counter  # None: an inference tensor, which has no version counter
    if counter is None and not modes.inference:
        raise RuntimeError(INFERENCE_SAVED)
    saved = _new(SavedTensor)
    saved.value = tensor
    saved.version = 0 if counter is None else counter[0] - written
    saved.had_history = tensor._grad_fn is not None
    return saved


def save_output(tensor: Tensor, output_nr: int = 0) -> SavedOutput:
    counter = tensor._counter
    saved = _new(SavedOutput)
    saved.array = tensor._data
    saved.counter = counter
    saved.version = 0 if counter is None else counter[0]
    saved.output_nr = output_nr
    saved.kind = Tensor
    return saved


def rebase_view(view: Tensor, region: tuple | None = None) -> None:
    """After ``view`` was changed in place and given the history of that change: its base
    takes a CopySlices history (its old history, with the view's region from the view's), and
    the view is re-derived from the base (AsStridedBackward0), as in PyTorch.  ``region``:
    the view's place in the base, if known."""
    base = view._base
    if region is None:
        region = _region(base._data, view._data)
    base._set_history(apply(inplace.CopySlices, base, view, index=region)._grad_fn)
    view._set_history(apply(indexing.AsStridedBackward0, base, index=region)._grad_fn)


def _region(base: np.ndarray, view: np.ndarray) -> tuple:
    """The index into ``base`` of each element of ``view``, which shares its memory: found
    from the two arrays' strides and byte offsets."""
    def offsets(array, start):
        result = np.full(array.shape, start, dtype=np.intp)
        for axis, (size, stride) in enumerate(zip(array.shape, array.strides)):
            steps = np.arange(size, dtype=np.intp) * stride
            result = result + steps.reshape((1,) * axis + (size,) + (1,) * (array.ndim - axis - 1))
        return result

    start = view.__array_interface__["data"][0] - base.__array_interface__["data"][0]
    in_base = offsets(base, 0).reshape(-1)
    order = np.argsort(in_base, kind="stable")
    flat = order[np.searchsorted(in_base[order], offsets(view, start))]
    return np.unravel_index(flat, base.shape)


def _original_self(out: Tensor, old_values: np.ndarray) -> Tensor:
    """The values an in-place op overwrote, with the history they had: what its backward
    differentiates through."""
    original = _tensor(old_values)
    if out.grad_fn is not None:
        original._set_history(out.grad_fn, out._output_nr)
    return original


class _MinMax(tuple):
    """``(values, indices)`` of ``max(dim)``/``min(dim)``, also by name."""

    def __new__(cls, values, indices):
        return super().__new__(cls, (values, indices))

    values = property(lambda self: self[0])
    indices = property(lambda self: self[1])


def _data_of(value):
    return value._data if isinstance(value, Tensor) else value


def _index(index):
    if isinstance(index, Tensor):
        return index._data
    if isinstance(index, tuple):
        return tuple(i._data if isinstance(i, Tensor) else i for i in index)
    if isinstance(index, list):
        return np.asarray(index)
    return index


def _format(tensor: Tensor) -> str:
    data = tensor._data
    suffix = []
    if data.dtype not in (np.float32, np.int64, np.bool_):  # the dtypes repr leaves out
        suffix.append(f"dtype={tensor.dtype!r}")
    if tensor.grad_fn is not None:
        suffix.append(f"grad_fn=<{tensor.grad_fn.name().removeprefix('torch::autograd::')}>")
    elif tensor._requires_grad:
        suffix.append("requires_grad=True")
    element = _element_format(data)
    body = np.array2string(data, separator=", ", prefix="tensor(", threshold=1000,
                           max_line_width=80, formatter={"all": element})
    return "tensor(" + ", ".join([body, *suffix]) + ")"


def _element_format(data: np.ndarray):
    """PyTorch's element formatting (torch/_tensor_str.py): every element padded to one width;
    floats as ``1.`` when all are integral, else ``1.5000``, or ``1.0000e+10`` when their
    magnitudes span more than 1000x (or go above 1e8, or below 1e-4 for non-integral ones)."""
    if data.dtype.kind != "f":
        width = max((len(str(v)) for v in data.flat), default=1)
        return lambda v: str(v).rjust(width)
    values = data[np.isfinite(data) & (data != 0)].astype(np.float64)
    magnitudes = np.abs(values)
    integral = bool((values == np.ceil(values)).all())
    high, low = (magnitudes.max(), magnitudes.min()) if values.size else (0.0, 0.0)
    sci = values.size > 0 and (high / low > 1000 or high > 1e8 or (not integral and low < 1e-4))
    if sci:
        text = "{:.4e}".format
    elif integral:
        def text(v):
            return f"{v:.0f}." if np.isfinite(v) else f"{v:.0f}"
    else:
        text = "{:.4f}".format
    width = max((len(text(v)) for v in values), default=1)
    return lambda v: text(v).rjust(width)
