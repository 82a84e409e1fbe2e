"""The parts of ``torch.testing._internal.common_utils`` that the ported tests use.

Loaded once per backend (see ``test_upstream.py``): ``torch`` below is the backend under test,
so ``assertEqual`` recognises that backend's tensors.  Semantics follow PyTorch 2.13's
``TestCase.assertEqual``: tensors must agree in shape and (with ``exact_dtype``, the default)
dtype, and in value within the dtype's default tolerance; a number compares with a
one-element tensor; sequences (also ``nn.Sequential``/``ModuleList``/``ParameterList``) and
mappings compare element by element; anything else with ``==``.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import inspect
import unittest
from collections.abc import Mapping, Sequence

import numpy as np

import torch  # the backend: runtime when loaded under runtime.torch_alias
from torch import nn

# (rtol, atol) by dtype name, as torch.testing's default_tolerances.
_TOLERANCES = {"float16": (1e-3, 1e-5), "bfloat16": (1.6e-2, 1e-5), "float32": (1.3e-6, 1e-5),
               "float64": (1e-7, 1e-7)}
_NUMBER_TOLERANCE = (1.3e-6, 1e-5)


def _dtype_name(tensor) -> str:
    return str(tensor.dtype).rsplit(".", 1)[-1]


def _tolerance(*tensors) -> tuple[float, float]:
    found = [_TOLERANCES.get(_dtype_name(t), (0.0, 0.0)) for t in tensors]
    return max(r for r, _ in found), max(a for _, a in found)


def _values(tensor) -> np.ndarray:
    return np.array(tensor.detach().tolist(), dtype=np.float64 if tensor.is_floating_point() else np.int64)


def _sequence_types() -> tuple:
    types = [Sequence]
    for name in ("Sequential", "ModuleList", "ParameterList"):
        if hasattr(nn, name):
            types.append(getattr(nn, name))
    return tuple(types)


class TestCase(unittest.TestCase):
    precision = 0.0
    rel_tol = 0.0

    def assertEqual(self, x, y, msg=None, *, atol=None, rtol=None, equal_nan=True,  # noqa: N802
                    exact_dtype=True, exact_device=False, exact_layout=False):
        __tracebackhide__ = True
        problem = self._difference(x, y, atol, rtol, equal_nan, exact_dtype)
        if problem is not None:
            raise self.failureException(problem if msg is None else f"{problem}\n{msg}")

    def assertNotEqual(self, x, y, msg=None, *, atol=None, rtol=None, **kwargs):  # noqa: N802
        if self._difference(x, y, atol, rtol, True, kwargs.get("exact_dtype", True)) is None:
            raise self.failureException(msg or f"{x!r} == {y!r}")

    def _difference(self, x, y, atol, rtol, equal_nan, exact_dtype):
        tensor = torch.Tensor
        if isinstance(x, tensor) and isinstance(y, Sequence):
            y = torch.tensor(y, dtype=x.dtype)
        elif isinstance(x, Sequence) and isinstance(y, tensor):
            x = torch.tensor(x, dtype=y.dtype)
        if x is None or y is None:
            return None if x is None and y is None else f"{x!r} is not {y!r}"
        if isinstance(x, tensor) and isinstance(y, tensor):
            if tuple(x.shape) != tuple(y.shape):
                return f"The values for attribute 'shape' do not match: {tuple(x.shape)} != {tuple(y.shape)}."
            if exact_dtype and x.dtype != y.dtype:
                return f"The values for attribute 'dtype' do not match: {x.dtype} != {y.dtype}."
            default_rtol, default_atol = _tolerance(x, y)
            return self._close(_values(x), _values(y), rtol, atol, default_rtol, default_atol,
                               equal_nan)
        if isinstance(x, tensor) or isinstance(y, tensor):
            t, number = (x, y) if isinstance(x, tensor) else (y, x)
            if isinstance(number, (bool, int, float, complex)) and t.numel() == 1:
                default_rtol, default_atol = _tolerance(t)
                return self._close(_values(t), np.array(number, dtype=np.float64), rtol, atol,
                                   max(default_rtol, _NUMBER_TOLERANCE[0]),
                                   max(default_atol, _NUMBER_TOLERANCE[1]), equal_nan)
            return f"cannot compare {type(x).__name__} with {type(y).__name__}"
        if isinstance(x, (int, float)) and isinstance(y, (int, float)) and not (
                isinstance(x, bool) or isinstance(y, bool)):
            if isinstance(x, int) and isinstance(y, int):
                return None if x == y else f"{x} != {y}"
            return self._close(np.array(x, dtype=np.float64), np.array(y, dtype=np.float64),
                               rtol, atol, *_NUMBER_TOLERANCE, equal_nan)
        sequences = _sequence_types()
        if isinstance(x, sequences) and isinstance(y, sequences) and not isinstance(x, str):
            x, y = list(x), list(y)
            if len(x) != len(y):
                return f"sequences differ in length: {len(x)} != {len(y)}"
            for index, (a, b) in enumerate(zip(x, y)):
                problem = self._difference(a, b, atol, rtol, equal_nan, exact_dtype)
                if problem is not None:
                    return f"item {index}: {problem}"
            return None
        if isinstance(x, Mapping) and isinstance(y, Mapping):
            if list(x.keys()) != list(y.keys()):
                return f"keys differ: {list(x)} != {list(y)}"
            for key in x:
                problem = self._difference(x[key], y[key], atol, rtol, equal_nan, exact_dtype)
                if problem is not None:
                    return f"item {key!r}: {problem}"
            return None
        return None if x == y else f"{x!r} != {y!r}"

    @staticmethod
    def _close(actual, expected, rtol, atol, default_rtol, default_atol, equal_nan):
        rtol = default_rtol if rtol is None else rtol
        atol = default_atol if atol is None else atol
        if np.allclose(actual, expected, rtol=rtol, atol=atol, equal_nan=equal_nan):
            return None
        return f"Tensor-likes are not close!\n{actual!r}\n{expected!r}"

    def assertWarnsOnceRegex(self, category, regex=""):  # noqa: N802
        return self.assertWarnsRegex(category, regex)


def run_tests():
    unittest.main()


def skipIfTorchDynamo(msg="test doesn't currently work with dynamo"):  # noqa: N802
    """Runs the test: the ported tests never run under torch.compile."""
    return lambda function: function


skipIfNoLapack = skipIfTorchDynamo()  # numpy's LAPACK is always there
skipIfMPS = skipIfTorchDynamo()  # the tests run on the CPU


def deviceCountAtLeast(num_required):  # noqa: N802
    """The CPU is one device: tests asking for more are not ported."""
    if num_required > 1:
        raise ValueError("only single-device tests are ported")
    return lambda function: function


def instantiate_device_type_tests(generic_test_class, scope, only_for="cpu"):
    """PyTorch makes one class per device type; here the class runs its tests on the CPU,
    keeping its name: each ``test_x(self, device)`` (or ``devices``) becomes ``test_x(self)``."""
    if only_for != "cpu":
        raise ValueError("only CPU tests are ported")
    generic_test_class.device_type = "cpu"
    for name, method in list(vars(generic_test_class).items()):
        if name.startswith("test_"):
            parameter = list(inspect.signature(method).parameters)[1]
            argument = ["cpu"] if parameter == "devices" else "cpu"
            setattr(generic_test_class, name, _on_device(method, argument))


def _on_device(method, argument):
    @functools.wraps(method)
    def run(self):
        return method(self, argument)
    del run.__wrapped__  # unittest must see the one-argument signature
    return run


@contextlib.contextmanager
def set_warn_always_context(new_val: bool):
    # torch warns once per process unless "warn always" is on; runtime always warns.
    if hasattr(torch, "is_warn_always_enabled"):
        old = torch.is_warn_always_enabled()
        torch.set_warn_always(new_val)
        try:
            yield
        finally:
            torch.set_warn_always(old)
    else:
        yield


@contextlib.contextmanager
def disable_gc():
    if gc.isenabled():
        try:
            gc.disable()
            yield
        finally:
            gc.enable()
    else:
        yield




def _create_basic_net():
    # From torch/testing/_internal/common_nn.py (PyTorch 2.13), verbatim.
    class Layer(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.layer_dummy_param = nn.Parameter(torch.empty(3, 5))
            self.layer_dummy_buf = nn.Buffer(torch.zeros(1, 3, 3, 7))

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.l1 = Layer()
            self.dummy_param = nn.Parameter(torch.empty(3, 5))
            self.dummy_buf = nn.Buffer(torch.zeros(7, 3, 3, 1))

    l = Layer()  # noqa: E741
    n = Net()
    s = nn.Sequential(n, n)

    return l, n, s


# common_nn's NNTestCase adds CUDA and memory checks, of no use on the CPU-only runtime
NNTestCase = TestCase
