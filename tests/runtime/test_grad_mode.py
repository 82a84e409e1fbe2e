"""Grad-mode switches: context managers and decorators, nesting, generators, exceptions,
and per-thread state."""

from __future__ import annotations

import threading

import pytest

import runtime
from runtime import enable_grad, inference_mode, is_grad_enabled, no_grad, set_grad_enabled
from runtime import is_inference_mode_enabled as is_inference


@pytest.fixture(autouse=True)
def default_modes():
    assert is_grad_enabled() and not is_inference()
    yield
    assert is_grad_enabled() and not is_inference(), "a test leaked a grad mode"


def modes():
    return is_grad_enabled(), is_inference()


def leaf():
    return runtime.ones(2, requires_grad=True)


# ------------------------------------------------------------------ context managers


@pytest.mark.parametrize("switch, inside", [
    (no_grad, (False, False)),
    (enable_grad, (True, False)),
    (inference_mode, (False, True)),
    (lambda: set_grad_enabled(False), (False, False)),
    (lambda: set_grad_enabled(True), (True, False)),
    (lambda: inference_mode(False), (True, False)),
    (lambda: inference_mode(True), (False, True)),
])
def test_context_manager_sets_and_restores(switch, inside):
    with switch():
        assert modes() == inside
        y = leaf() * 2
        assert y.requires_grad == inside[0]
        assert y.is_inference() == inside[1]
    assert modes() == (True, False)


@pytest.mark.parametrize("switch", [no_grad, enable_grad, inference_mode])
def test_context_manager_without_parentheses_is_a_type_error(switch):
    with pytest.raises(TypeError, match="^'type' object does not support the context manager protocol$"):
        with switch:
            pass


@pytest.mark.parametrize("switch", [no_grad, enable_grad])
def test_false_argument_is_decorated_not_a_mode(switch):
    with pytest.raises(TypeError, match="^'function' object does not support the context manager protocol$"):
        with switch(False):
            pass


def test_context_manager_object_is_reusable():
    switch = no_grad()
    for _ in range(3):
        with switch:
            assert not is_grad_enabled()
        assert is_grad_enabled()


def test_nesting():
    x = leaf()
    with no_grad():
        assert (x * 2).requires_grad is False
        with enable_grad():
            assert (x * 2).requires_grad is True
            with inference_mode():
                assert modes() == (False, True)
                with inference_mode(False):
                    assert modes() == (True, False)
                    with no_grad():
                        assert modes() == (False, False)
                    assert modes() == (True, False)
                assert modes() == (False, True)
            assert modes() == (True, False)
        assert modes() == (False, False)
        with set_grad_enabled(True):
            assert is_grad_enabled()
        assert not is_grad_enabled()
    assert modes() == (True, False)


def test_set_grad_enabled_as_plain_call_lasts_until_changed():
    try:
        set_grad_enabled(False)
        assert not is_grad_enabled()
        assert not (leaf() * 2).requires_grad
        assert not is_grad_enabled()
        with enable_grad():
            assert is_grad_enabled()
        assert not is_grad_enabled()
    finally:
        set_grad_enabled(True)
    assert is_grad_enabled()


def test_set_grad_enabled_context_restores_the_mode_before_construction():
    with no_grad():
        with set_grad_enabled(True):
            assert is_grad_enabled()
        assert not is_grad_enabled()


def test_inference_mode_false_inside_no_grad_enables_grad():
    with no_grad():
        with inference_mode(False):
            assert modes() == (True, False)
            assert (leaf() * 2).requires_grad
        assert modes() == (False, False)


# ------------------------------------------------------------------------ decorators


def _double(t):
    return t * 2


@pytest.mark.parametrize("decorate, expect", [
    (no_grad, (False, False)),
    (no_grad(), (False, False)),
    (inference_mode, (False, True)),
    (inference_mode(), (False, True)),
    (inference_mode(False), (True, False)),
    # set_grad_enabled switches on construction (as in torch): build it only when decorating.
    (lambda function: set_grad_enabled(False)(function), (False, False)),
], ids=["no_grad", "no_grad()", "inference_mode", "inference_mode()", "inference_mode(False)",
        "set_grad_enabled(False)"])
def test_decorators_with_and_without_parentheses(decorate, expect):
    seen = []

    @decorate
    def f(t):
        seen.append(modes())
        return t * 2

    assert modes() == (True, False)  # decorating changes nothing
    out = f(leaf())
    assert modes() == (True, False)
    assert seen == [expect]
    assert out.requires_grad == expect[0]
    assert out.is_inference() == expect[1]
    assert f.__name__ == "f"  # functools.wraps
    assert modes() == (True, False)


@pytest.mark.parametrize("decorate", [enable_grad, enable_grad()], ids=["bare", "called"])
def test_enable_grad_decorator_inside_no_grad(decorate):
    f = decorate(_double)
    with no_grad():
        assert f(leaf()).requires_grad
        assert not is_grad_enabled()


def test_decorated_function_called_many_times_and_recursively():
    @no_grad()
    def depth(n):
        assert not is_grad_enabled()
        return 0 if n == 0 else 1 + depth(n - 1)

    assert depth(20) == 20
    assert [depth(2) for _ in range(3)] == [2, 2, 2]


def test_decorated_methods():
    class Model:
        def __init__(self):
            self.w = leaf()

        @no_grad()
        def predict(self, x):
            return self.w * x

        @no_grad
        def predict_bare(self, x):
            return self.w * x

        @inference_mode()
        def infer(self, x):
            return self.w * x

        @enable_grad()
        def train_step(self, x):
            return self.w * x

        @staticmethod
        @no_grad()
        def static(x):
            return x * 2

        @classmethod
        @no_grad
        def klass(cls, x):
            return x * 2

    model = Model()
    x = runtime.ones(2)
    assert not model.predict(x).requires_grad
    assert not model.predict_bare(x).requires_grad
    assert model.infer(x).is_inference()
    with no_grad():
        assert model.train_step(x).requires_grad
    assert not Model.static(leaf()).requires_grad
    assert not Model.klass(leaf()).requires_grad
    assert model.predict.__name__ == "predict"


# ------------------------------------------------------------------------ generators


@pytest.mark.parametrize("decorate, body", [
    (no_grad(), (False, False)),
    (no_grad, (False, False)),
    (inference_mode(), (False, True)),
    (enable_grad(), (True, False)),
], ids=["no_grad()", "no_grad", "inference_mode()", "enable_grad()"])
def test_generator_body_runs_in_mode_and_caller_keeps_its_own(decorate, body):
    log = []

    @decorate
    def numbers(n):
        for i in range(n):
            log.append(("body", modes()))
            yield i
        log.append(("end", modes()))

    caller = (False, False) if body[0] else (True, False)
    with set_grad_enabled(caller[0]):
        got = []
        for value in numbers(3):
            log.append(("caller", modes()))
            got.append(value)
    assert got == [0, 1, 2]
    assert log == [("body", body), ("caller", caller)] * 3 + [("end", body)]


def test_generator_send_throw_close_and_return_value():
    log = []

    @no_grad()
    def echo():
        received = yield "ready"
        while received != "stop":
            log.append((received, is_grad_enabled()))
            try:
                received = yield received * 2
            except KeyError:
                log.append(("thrown", is_grad_enabled()))
                received = yield "handled"
        return "finished"

    generator = echo()
    assert next(generator) == "ready"
    assert generator.send(3) == 6
    assert is_grad_enabled()
    assert generator.throw(KeyError("k")) == "handled"
    with pytest.raises(StopIteration) as stop:
        generator.send("stop")
    assert stop.value.value == "finished"
    assert log == [(3, False), ("thrown", False)]

    closed = []

    @no_grad()
    def closing():
        try:
            yield 1
            yield 2
        finally:
            closed.append(is_grad_enabled())

    generator = closing()
    next(generator)
    generator.close()
    assert closed == [False]
    assert is_grad_enabled()


def test_generator_exception_restores_mode():
    @no_grad()
    def broken():
        yield 1
        raise ValueError("inside")

    generator = broken()
    next(generator)
    with pytest.raises(ValueError, match="inside"):
        next(generator)
    assert modes() == (True, False)


def test_generator_expression_from_decorated_function_is_lazy():
    @inference_mode()
    def tensors():
        for _ in range(2):
            yield runtime.ones(1)

    made = list(tensors())
    assert all(t.is_inference() for t in made)
    assert not runtime.ones(1).is_inference()


# ------------------------------------------------------------------------ exceptions


@pytest.mark.parametrize("switch", [
    no_grad, enable_grad, inference_mode, lambda: inference_mode(False),
    lambda: set_grad_enabled(False), lambda: set_grad_enabled(True),
])
@pytest.mark.parametrize("outer", [no_grad, enable_grad, inference_mode])
def test_exception_inside_block_restores_previous_mode(switch, outer):
    with outer():
        before = modes()
        with pytest.raises(ZeroDivisionError):
            with switch():
                1 / 0
        assert modes() == before


@pytest.mark.parametrize("decorate", [no_grad, no_grad(), inference_mode(), enable_grad(),
                                      lambda function: set_grad_enabled(False)(function)])
def test_exception_inside_decorated_function_restores_mode(decorate):
    @decorate
    def fail():
        raise KeyError("x")

    with pytest.raises(KeyError):
        fail()
    assert modes() == (True, False)


def test_exception_propagates_unchanged():
    error = RuntimeError("mine")
    with pytest.raises(RuntimeError) as caught:
        with no_grad():
            raise error
    assert caught.value is error


# --------------------------------------------------------------------------- threads


def test_new_thread_starts_enabled_whatever_the_main_thread_does():
    seen = []

    def record():
        seen.append(modes())

    with no_grad():
        with inference_mode():
            thread = threading.Thread(target=record)
            thread.start()
            thread.join()
    set_grad_enabled(False)
    try:
        thread = threading.Thread(target=record)
        thread.start()
        thread.join()
    finally:
        set_grad_enabled(True)
    assert seen == [(True, False), (True, False)]


def test_threads_each_see_only_their_own_mode():
    threads, iterations = 8, 1_000
    barrier = threading.Barrier(threads)
    errors = []
    x = leaf()

    @no_grad
    def decorated_no_grad():
        return modes()

    @inference_mode()
    def decorated_inference():
        return modes()

    @enable_grad()
    def decorated_enable():
        return modes()

    def worker(index):
        try:
            barrier.wait()
            if modes() != (True, False):
                errors.append((index, "start", modes()))
            for i in range(iterations):
                kind = (index + i) % 6
                if kind == 0:
                    with no_grad():
                        ok = modes() == (False, False) and not (x * 2).requires_grad
                elif kind == 1:
                    with no_grad():
                        with enable_grad():
                            ok = modes() == (True, False) and (x * 2).requires_grad
                elif kind == 2:
                    with inference_mode():
                        t = runtime.ones(1)
                        ok = modes() == (False, True) and t.is_inference()
                elif kind == 3:
                    ok = decorated_no_grad() == (False, False)
                elif kind == 4:
                    ok = decorated_inference() == (False, True)
                else:
                    with set_grad_enabled(False):
                        ok = decorated_enable() == (True, False) and not is_grad_enabled()
                ok = ok and modes() == (True, False)
                if not ok:
                    errors.append((index, i, kind))
        except Exception as exception:  # noqa: BLE001 - reported below
            errors.append((index, repr(exception)))

    workers = [threading.Thread(target=worker, args=(n,)) for n in range(threads)]
    for thread in workers:
        thread.start()
    for thread in workers:
        thread.join()
    assert errors == []


def test_plain_set_grad_enabled_in_one_thread_does_not_leak_to_others():
    disabled = threading.Event()
    checked = threading.Event()
    seen = []

    def disabler():
        set_grad_enabled(False)  # this thread only, and it ends with it
        disabled.set()
        checked.wait(5)
        seen.append(("disabler", is_grad_enabled()))

    thread = threading.Thread(target=disabler)
    thread.start()
    disabled.wait(5)
    seen.append(("main", is_grad_enabled()))
    checked.set()
    thread.join()
    assert sorted(seen) == [("disabler", False), ("main", True)]
