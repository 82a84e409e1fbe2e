"""Grad mode: whether operations record an autograd graph, per thread.

Every switch is both a context manager and a decorator (with or without parentheses), and
restores the previous mode on exit, also when the block raises.  Like PyTorch::

    >>> x = runtime.ones(2, requires_grad=True)
    >>> with runtime.no_grad():
    ...     y = x * 2
    >>> y.requires_grad
    False
    >>> @runtime.no_grad
    ... def predict(x):
    ...     return x * 2
    >>> predict(x).requires_grad
    False

A decorated generator runs its body in the mode, and gives the caller's mode back at each
``yield``.  A new thread starts with grad enabled, whatever other threads do.
"""

from __future__ import annotations

import functools
import inspect
import sys
import threading
import warnings

CLASS_DECORATION = (
    "Decorating classes is deprecated and will be disabled in future versions. You should only "
    "decorate functions or methods. To preserve the current behavior of class decoration, you "
    "can directly decorate the `__init__` method and nothing else.")


class _Modes(threading.local):
    # Class attributes are what a thread sees before it sets its own: a plain attribute read,
    # cheap enough for every op to check (a getattr default would raise and catch internally).
    # grad: whether ops record a graph.  Inference mode never records, even with grad mode
    # enabled inside it (enable_grad in inference_mode): grad_in_inference keeps that setting.
    grad = True
    inference = False
    grad_in_inference = False


state = _Modes()  # read directly by the op machinery: a function call would double its cost


def is_grad_enabled() -> bool:
    return state.grad or (state.inference and state.grad_in_inference)


def is_inference_mode_enabled() -> bool:
    return state.inference


def _set_modes(grad: bool, inference: bool) -> None:
    state.grad = grad and not inference
    state.grad_in_inference = grad and inference
    state.inference = inference


class _ModeSwitch:
    """Base of every switch: ``__enter__``/``__exit__`` save and restore the thread's modes,
    ``__call__`` decorates a function or generator with a fresh copy of the switch."""

    def _modes(self) -> tuple[bool, bool]:
        """(grad, inference) inside the block, given the modes outside."""
        raise NotImplementedError

    def __enter__(self) -> None:
        self._saved = (is_grad_enabled(), is_inference_mode_enabled())
        _set_modes(*self._modes())

    def __exit__(self, *exc_info) -> None:
        _set_modes(*self._saved)

    def clone(self) -> _ModeSwitch:
        return self.__class__()

    def __call__(self, function):
        if inspect.isclass(function):
            # Deprecated: the mode then covers constructing the class only.
            warnings.warn(CLASS_DECORATION, FutureWarning, stacklevel=2)
            cls = function
            function = lambda *args, **kwargs: cls(*args, **kwargs)  # noqa: E731
        if inspect.isgeneratorfunction(function):
            return self._wrap_generator(function)

        @functools.wraps(function)
        def run_in_mode(*args, **kwargs):
            with self.clone():
                return function(*args, **kwargs)

        return run_in_mode

    def _wrap_generator(self, function):
        @functools.wraps(function)
        def generate_in_mode(*args, **kwargs):
            generator = function(*args, **kwargs)
            try:
                with self.clone():
                    response = generator.send(None)
                while True:
                    try:
                        request = yield response
                    except GeneratorExit:
                        with self.clone():
                            generator.close()
                        raise
                    except BaseException:
                        with self.clone():
                            response = generator.throw(*sys.exc_info())
                    else:
                        with self.clone():
                            response = generator.send(request)
            except StopIteration as stop:
                return stop.value

        return generate_in_mode


class _DecoratorWithoutParentheses(_ModeSwitch):
    # ``@no_grad`` passes the function to the constructor: decorate it right away.  (So
    # ``no_grad(False)`` "decorates" False, as in PyTorch, and ``with`` then fails.)
    def __new__(cls, function=None):
        if function is None:
            return super().__new__(cls)
        return cls()(function)


class no_grad(_DecoratorWithoutParentheses):
    """Disable gradient recording: results of operations do not require grad."""

    def _modes(self):
        return False, is_inference_mode_enabled()


class enable_grad(_DecoratorWithoutParentheses):
    """Enable gradient recording, e.g. inside a ``no_grad`` block."""

    def _modes(self):
        return True, is_inference_mode_enabled()


def _type_name(value) -> str:
    """A type as PyTorch's argument errors name it: ``int``, ``numpy.bool``."""
    kind = type(value)
    if kind.__module__ == "builtins":
        return kind.__name__
    return f"{kind.__module__}.{kind.__qualname__}"


class set_grad_enabled(_ModeSwitch):
    """Set grad mode to ``mode``.  Takes effect when constructed, like PyTorch: as a plain
    call it switches the thread's mode until changed again; as a context manager it restores
    the previous mode on exit."""

    def __init__(self, mode: bool) -> None:
        if not isinstance(mode, bool):  # also ``@set_grad_enabled`` without an argument
            raise TypeError("set_grad_enabled(): argument 'enabled' (position 1) must be bool, "
                            f"not {_type_name(mode)}")
        self.mode = mode
        self._previous = is_grad_enabled()
        _set_modes(self.mode, is_inference_mode_enabled())

    def _modes(self):
        return self.mode, is_inference_mode_enabled()

    def __enter__(self) -> None:
        self._saved = (self._previous, is_inference_mode_enabled())

    def __call__(self, function):
        _set_modes(self._previous, is_inference_mode_enabled())  # decorating changes nothing now
        return super().__call__(function)

    def clone(self) -> set_grad_enabled:
        return set_grad_enabled(self.mode)

    def __repr__(self) -> str:
        return f"torch.autograd.grad_mode.set_grad_enabled(mode={self.mode})"


class inference_mode(_ModeSwitch):
    """Like ``no_grad``, and tensors created inside are inference tensors: cheaper, but they
    can never be saved for backward or updated in place outside inference mode.
    ``inference_mode(False)`` turns it off again (and enables grad) inside."""

    def __new__(cls, mode=True):
        if isinstance(mode, bool):
            return super().__new__(cls)
        return cls()(mode)

    def __init__(self, mode: bool = True) -> None:
        self.mode = mode

    def _modes(self):
        return (False, True) if self.mode else (True, False)

    def clone(self) -> inference_mode:
        return inference_mode(self.mode)
