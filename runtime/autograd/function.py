"""Custom ops, as ``torch.autograd.Function``::

    class Exp(Function):
        @staticmethod
        def forward(ctx, x):
            result = x.exp()
            ctx.save_for_backward(result)
            return result

        @staticmethod
        def backward(ctx, grad):
            result, = ctx.saved_tensors
            return grad * result

    y = Exp.apply(x)          # y.grad_fn is an ExpBackward node, which is also the ctx

``forward`` runs on tensors with grad disabled; or, in the ``setup_context`` form,
``forward(*args)`` computes and ``setup_context(ctx, inputs, output)`` saves.  ``backward``
returns one gradient per ``forward`` argument (None for non-tensors and where
``ctx.needs_input_grad`` is False); it runs on tensors with runtime's ops, so it can be
differentiated again unless decorated with :func:`once_differentiable`.
"""

from __future__ import annotations

import functools

import numpy as np

from runtime.autograd.node import Node, connect
from runtime.autograd.ops.unary import DelayedError
from runtime.grad_mode import no_grad
from runtime.grad_mode import state as modes
from runtime.tensor import (
    LEAF_DIRTY, Tensor, _view, apply, rebase_view, save_input, save_output,
)


class BackwardCFunction(Node):
    """The node (and ctx) of one call of a custom Function: ``<Function name>Backward``."""

    _forward_cls: type[Function]
    _output_meta: tuple = ()  # (shape, dtype) of each output, None for a non-tensor

    @staticmethod
    def backward(ctx, *grads) -> tuple:
        if ctx.materialize_grads:
            grads = tuple(grad if grad is not None or meta is None
                          else _zeros(meta) for grad, meta in zip(grads, ctx._output_meta))
        result = ctx._forward_cls.backward(ctx, *grads)
        result = result if isinstance(result, tuple) else (result,)
        expected = len(ctx.next_functions)
        if len(result) > expected and all(g is None for g in result[expected:]):
            result = result[:expected]
        if len(result) != expected:
            raise RuntimeError(f"function {ctx.name()} returned an incorrect number of gradients "
                               f"(expected {expected}, got {len(result)})")
        for position, (grad, is_tensor) in enumerate(zip(result, ctx._tensor_inputs)):
            if grad is not None and not is_tensor:
                raise RuntimeError(
                    f"function {ctx.name()} returned a gradient different than None at position "
                    f"{position + 1}, but the corresponding forward input was not a Variable")
        return result


def _zeros(meta) -> Tensor:
    shape, dtype = meta
    return Tensor._wrap(np.zeros(shape, dtype=dtype.numpy))


class Function:
    """Base of a custom op: subclass it with static ``forward`` and ``backward``, call
    ``apply``."""

    def __init_subclass__(cls, **kwargs) -> None:
        super().__init_subclass__(**kwargs)
        cls._backward_cls = type(f"{cls.__name__}Backward", (BackwardCFunction,),
                                 {"_forward_cls": cls, "__module__": cls.__module__})

    @staticmethod
    def forward(*args, **kwargs):
        raise NotImplementedError("You must implement the forward function for custom "
                                  "autograd.Function.")

    @staticmethod
    def setup_context(ctx, inputs: tuple, output) -> None:
        raise NotImplementedError("setup_context is not implemented.")

    @staticmethod
    def backward(ctx, *grad_outputs):
        raise NotImplementedError("You must implement either the backward or vjp method for "
                                  "your custom autograd.Function to use it with backward mode AD.")

    @classmethod
    def apply(cls, *args, **kwargs):
        ctx = cls._backward_cls()
        is_tensor = tuple([isinstance(arg, Tensor) for arg in args])
        ctx.needs_input_grad = needs = tuple([t and arg._requires_grad
                                              for t, arg in zip(is_tensor, args)])
        with no_grad():
            if cls.setup_context is Function.setup_context:
                output = cls.forward(ctx, *args, **kwargs)
            else:
                output = cls.forward(*args, **kwargs)
                cls.setup_context(ctx, args, output)
        outputs = output if isinstance(output, tuple) else (output,)
        results = tuple([_output(ctx, value, args) for value in outputs])
        if modes.grad and any(needs):
            _record(ctx, args, is_tensor, outputs, results)
        return results if isinstance(output, tuple) else results[0]


def _record(ctx: BackwardCFunction, args: tuple, is_tensor: tuple, outputs: tuple,
            results: tuple) -> None:
    ctx._tensor_inputs = is_tensor
    connect(ctx, tuple([arg._edge() if need else (None, 0)
                        for arg, need in zip(args, ctx.needs_input_grad)]))
    ctx._output_meta = tuple([(r._data.shape, r.dtype) if isinstance(r, Tensor) else None
                              for r in results])
    ctx._shapes = tuple([meta[0] if meta else () for meta in ctx._output_meta])
    ctx._saved = tuple([_save(value, outputs, results) for value in ctx._to_save])
    for nr, result in enumerate(results):
        if isinstance(result, Tensor) and not _is_in(result, ctx._non_differentiable):
            dirty = _is_in(result, ctx._dirty)
            if dirty and result.grad_fn is None and result._requires_grad:
                raise RuntimeError(LEAF_DIRTY)
            result._set_history(ctx, nr)
            if dirty and result._base is not None:
                rebase_view(result)


def _is_in(tensor, tensors) -> bool:
    return any(tensor is t for t in tensors)


def _output(ctx: BackwardCFunction, value, args: tuple):
    """What the caller gets for an output: a tensor modified in place (marked dirty) itself,
    with a new version; an input returned unmodified as a view of it; others as they are."""
    if not isinstance(value, Tensor):
        return value
    if _is_in(value, ctx._dirty):
        if value._counter is not None:
            value._counter[0] += 1
        return value
    if _is_in(value, args):
        return _view(value, value._data)
    return value


def _save(value, outputs: tuple, results: tuple):
    if value is None:
        return None
    for nr, output in enumerate(outputs):
        if value is output:
            return save_output(results[nr], nr)
    return save_input(value)


def _refusing(grad):
    """``grad`` over a node that raises if differentiated (a leaf stands in for its history,
    so that the node is recorded at all)."""
    if not isinstance(grad, Tensor):
        return grad
    stand_in = grad.detach()
    stand_in._requires_grad = True
    return apply(DelayedError, stand_in)


def once_differentiable(backward):
    """For a ``backward`` that cannot itself be differentiated: it runs with grad disabled,
    and a gradient it returns while a graph is being recorded refuses to be differentiated
    ("trying to differentiate twice ...")."""

    @functools.wraps(backward)
    def run_once(ctx, *grads):
        with no_grad():
            result = backward(ctx, *grads)
        if not modes.grad or not any(isinstance(g, Tensor) and g._requires_grad for g in grads):
            return result
        return tuple(map(_refusing, result)) if isinstance(result, tuple) else _refusing(result)

    return run_once
