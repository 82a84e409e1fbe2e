"""Gradient checks against finite differences, as ``torch.autograd.gradcheck``.

``gradcheck(func, inputs)`` compares, for every output and every input that requires grad,
the Jacobian backward computes with central differences of ``func`` (use float64 inputs).
``gradgradcheck`` does the same for the gradient itself: the function it checks computes
``autograd.grad(func(*inputs), inputs, grad_outputs, create_graph=True)``, so every backward
formula on the way must be differentiable.
"""

from __future__ import annotations

import warnings

import numpy as np

from runtime.random import default_generator
from runtime.tensor import Tensor, _tensor

NOT_DOUBLE = ("Input #{} requires gradient and is not a double precision floating point or "
              "complex. This check will likely fail if all the inputs are not of double precision "
              "floating point or complex. ")


class GradcheckError(RuntimeError):
    """A gradient differs from its finite-difference estimate."""


def _as_tuple(value) -> tuple:
    return value if isinstance(value, tuple) else (value,)


def _differentiable(inputs: tuple) -> list[int]:
    return [i for i, x in enumerate(inputs) if isinstance(x, Tensor) and x.requires_grad]


def _numerical(func, inputs: tuple, position: int, output_count: int, eps: float) -> list:
    """For each output: its finite-difference Jacobian with respect to ``inputs[position]``
    (one row per input element)."""
    values = inputs[position]._data
    rows: list[list] = [[] for _ in range(output_count)]
    for index in np.ndindex(values.shape):
        original = values[index]
        values[index] = original + eps
        plus = [np.array(o._data, dtype=np.float64) for o in _as_tuple(func(*inputs))]
        values[index] = original - eps
        minus = [np.array(o._data, dtype=np.float64) for o in _as_tuple(func(*inputs))]
        values[index] = original
        for k in range(output_count):
            rows[k].append(((plus[k] - minus[k]) / (2 * eps)).reshape(-1))
    return [np.array(r).reshape(values.size, -1) for r in rows]


def _analytical(output: Tensor, inputs: tuple, positions: list[int]) -> list:
    """The Jacobian backward computes, one per input in ``positions``, one column per output
    element."""
    from runtime.autograd import grad

    columns = [np.zeros((inputs[p].numel(), output.numel())) for p in positions]
    if not output.requires_grad:
        return columns
    for k in range(output.numel()):
        unit = np.zeros(output.numel(), dtype=output._data.dtype)
        unit[k] = 1
        grads = grad(output, [inputs[p] for p in positions], _tensor(unit.reshape(output.shape)),
                     retain_graph=True, allow_unused=True)
        for jacobian, value in zip(columns, grads):
            if value is not None:
                jacobian[:, k] = value._data.reshape(-1)
    return columns


def gradcheck(func, inputs, *, eps: float = 1e-6, atol: float = 1e-5, rtol: float = 1e-3,
              raise_exception: bool = True) -> bool:
    """True if backward's Jacobian of ``func`` at ``inputs`` matches central differences;
    else raises :class:`GradcheckError` (or returns False without ``raise_exception``)."""
    inputs = _as_tuple(inputs) if not isinstance(inputs, list) else tuple(inputs)
    positions = _differentiable(inputs)
    for position in positions:
        if inputs[position]._data.dtype != np.float64:
            warnings.warn(NOT_DOUBLE.format(position), UserWarning, stacklevel=2)
    outputs = _as_tuple(func(*inputs))
    numerical = {p: _numerical(func, inputs, p, len(outputs), eps) for p in positions}
    for k, output in enumerate(outputs):
        analytical = _analytical(output, inputs, positions)
        for position, got in zip(positions, analytical):
            want = numerical[position][k]
            if not np.allclose(got, want, rtol=rtol, atol=atol):
                if not raise_exception:
                    return False
                raise GradcheckError(
                    f"Jacobian mismatch for output {k} with respect to input {position},\n"
                    f"numerical:{_tensor(want)!r}\nanalytical:{_tensor(got)!r}\n")
    return True


def gradgradcheck(func, inputs, grad_outputs=None, *, eps: float = 1e-6, atol: float = 1e-5,
                  rtol: float = 1e-3, raise_exception: bool = True) -> bool:
    """:func:`gradcheck` of the gradient of ``func``: second derivatives, with respect to the
    inputs and to ``grad_outputs`` (random, requiring grad, when not given)."""
    from runtime.autograd import grad

    inputs = _as_tuple(inputs) if not isinstance(inputs, list) else tuple(inputs)
    positions = _differentiable(inputs)
    if grad_outputs is None:
        outputs = [o for o in _as_tuple(func(*inputs)) if o.requires_grad]
        grad_outputs = tuple(
            _tensor(default_generator.normal(0, 1, o.shape).astype(o._data.dtype)).requires_grad_()
            for o in outputs)
    grad_outputs = _as_tuple(grad_outputs)
    count = len(grad_outputs)

    def first_derivatives(*args):
        outputs = [o for o in _as_tuple(func(*args[:-count])) if o.requires_grad]
        grads = grad(outputs, [args[p] for p in positions], list(args[-count:]),
                     create_graph=True, allow_unused=True)
        return tuple(g for g in grads if g is not None)

    return gradcheck(first_derivatives, inputs + grad_outputs, eps=eps, atol=atol, rtol=rtol,
                     raise_exception=raise_exception)
