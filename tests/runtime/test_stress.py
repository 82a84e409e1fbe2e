"""Stress and property tests of the runtime: grad mode under exceptions at any nesting depth
and under thread contention, flat memory over a long training loop, gradients of random
broadcast shapes against finite differences, and version counters under random in-place ops.

The single-level cases of each live in ``test_grad_mode.py``, ``test_gradcheck.py`` and
``test_autograd.py``; these push the same guarantees to depth, volume and randomness.
"""

from __future__ import annotations

import gc
import random
import sys
import threading
import tracemalloc

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import runtime
from runtime import enable_grad, inference_mode, is_grad_enabled, no_grad, set_grad_enabled
from runtime import is_inference_mode_enabled as is_inference
from tests.runtime.test_gradcheck import RNG, broadcastable_shapes, check_gradients


def modes() -> tuple[bool, bool]:
    return is_grad_enabled(), is_inference()


@pytest.fixture(autouse=True)
def default_modes():
    assert modes() == (True, False)
    yield
    assert modes() == (True, False), "a test leaked a grad mode"


# ------------------------------------------------------- exceptions at every nesting depth

# switch -> (make it, (grad, inference) inside given the modes outside)
SWITCHES = {
    "no_grad": (no_grad, lambda outer: (False, outer[1])),
    "enable_grad": (enable_grad, lambda outer: (True, outer[1])),
    "inference_mode": (inference_mode, lambda outer: (False, True)),
    "inference_mode(False)": (lambda: inference_mode(False), lambda outer: (True, False)),
    "set_grad_enabled(False)": (lambda: set_grad_enabled(False), lambda outer: (False, outer[1])),
    "set_grad_enabled(True)": (lambda: set_grad_enabled(True), lambda outer: (True, outer[1])),
}
# Classes that also decorate without parentheses (``@no_grad``).
BARE = {"no_grad": no_grad, "enable_grad": enable_grad, "inference_mode": inference_mode}


class Boom(BaseException):
    """Derived from BaseException: restoring must not depend on catching only Exception."""


def _run_in(switch: str, form: str, body) -> None:
    make = SWITCHES[switch][0]
    if form == "with":
        with make():
            body()
    elif form == "decorator":
        make()(body)()  # set_grad_enabled switches on construction: built just before use
    else:
        BARE[switch](body)()


levels = st.lists(
    st.sampled_from(sorted(SWITCHES)).flatmap(lambda switch: st.tuples(
        st.just(switch), st.sampled_from(["with", "decorator", *(["bare"] if switch in BARE else [])]))),
    min_size=1, max_size=6)


@settings(max_examples=100, deadline=None)
@given(chain=levels, data=st.data())
def test_an_exception_at_any_depth_restores_the_mode_at_every_level(chain, data):
    raise_at = data.draw(st.integers(0, len(chain) - 1), label="raise at depth")
    unwound = []

    def level(depth: int, outer: tuple[bool, bool]) -> None:
        switch, form = chain[depth]
        inside = SWITCHES[switch][1](outer)

        def body():
            assert modes() == inside, (depth, switch, form)
            if depth == raise_at:
                raise Boom(depth)
            level(depth + 1, inside)

        try:
            _run_in(switch, form, body)
        except Boom:
            assert modes() == outer, (depth, switch, form)
            unwound.append(depth)
            raise

    with pytest.raises(Boom):
        level(0, modes())
    assert unwound == list(range(raise_at, -1, -1))


@pytest.mark.parametrize("form", ["with", "decorator"])
@pytest.mark.parametrize("raise_at", range(6))
def test_a_six_deep_chain_of_every_switch_unwinds_from_each_depth(form, raise_at):
    chain = ["inference_mode", "no_grad", "enable_grad", "set_grad_enabled(False)",
             "inference_mode(False)", "set_grad_enabled(True)"]
    seen = []

    def level(depth, outer):
        inside = SWITCHES[chain[depth]][1](outer)

        def body():
            seen.append(modes())
            if depth == raise_at:
                raise ValueError(depth)
            level(depth + 1, inside)

        try:
            _run_in(chain[depth], form, body)
        finally:
            assert modes() == outer

    with pytest.raises(ValueError):
        level(0, modes())
    expected = [(False, True), (False, True), (True, True), (False, True), (True, False), (True, False)]
    assert seen == expected[:raise_at + 1]


# ------------------------------------------------------------------------- thread contention


def test_threads_under_contention_each_keep_their_own_base_mode():
    """8 threads x 1,000 iterations, each thread in its own base mode for its whole life (the
    plain ``test_grad_mode`` case starts them all enabled), switching with context managers,
    decorators and decorated generators, and raising inside them, while the interpreter is
    made to switch threads as often as it can."""
    threads, iterations = 8, 1_000
    bases = [(True, False), (False, False), (False, True), (True, True)]
    barrier = threading.Barrier(threads)
    errors: list = []
    leaf = runtime.ones(2, requires_grad=True)

    @no_grad()
    def decorated():
        return modes()

    @inference_mode()
    def generate():
        for _ in range(3):
            yield modes()

    def enter_base(base):
        grad, inference = base
        if inference:
            inference_mode().__enter__()  # for the thread's lifetime: it ends with the thread
        set_grad_enabled(grad)

    def worker(index: int) -> None:
        chooser = random.Random(index)
        base = bases[index % len(bases)]
        try:
            barrier.wait()
            enter_base(base)
            for iteration in range(iterations):
                kind = chooser.randrange(5)
                if kind == 0:
                    with no_grad():
                        with enable_grad():
                            # as PyTorch: inference mode records nothing, grad mode or not
                            recorded = (leaf * 2).requires_grad
                            ok = modes() == (True, base[1]) and recorded != base[1]
                elif kind == 1:
                    ok = decorated() == (False, base[1])
                elif kind == 2:
                    seen = []
                    for inside in generate():
                        seen.append((inside, modes()))
                    ok = seen == [((False, True), base)] * 3
                elif kind == 3:
                    try:
                        with inference_mode(False):
                            raise KeyError(iteration)
                    except KeyError:
                        ok = modes() == base
                else:
                    with set_grad_enabled(not base[0]):
                        ok = is_grad_enabled() is (not base[0])
                if not (ok and modes() == base):
                    errors.append((index, iteration, kind, modes()))
        except Exception as exception:  # noqa: BLE001 - reported by the assertion below
            errors.append((index, repr(exception)))

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        workers = [threading.Thread(target=worker, args=(n,)) for n in range(threads)]
        for thread in workers:
            thread.start()
        for thread in workers:
            thread.join()
    finally:
        sys.setswitchinterval(interval)
    assert errors == []


# ------------------------------------------------------------------------- memory over time


def test_ten_thousand_training_steps_keep_memory_flat():
    """Each step's graph must be freed by reference counting alone (the collector is off, so a
    reference cycle per step would pile up).  tracemalloc traces two windows, after step 100
    and before step 10,000: the same peak (one step's graph) and no growth in either; the
    interpreter's count of allocated blocks spans the untraced steps in between."""
    runtime.manual_seed(0)
    model = runtime.nn.Linear(2, 1)
    optimizer = runtime.optim.SGD(model.parameters(), lr=0.05)
    inputs, targets = runtime.randn(4, 2), runtime.randn(4, 1)
    first_loss = float(((model(inputs) - targets) ** 2).mean())

    def steps(count: int) -> None:
        for _ in range(count):
            optimizer.zero_grad()
            loss = ((model(inputs) - targets) ** 2).mean()
            loss.backward()
            optimizer.step()

    def traced_window(count: int) -> tuple[int, int]:
        tracemalloc.start()
        try:
            steps(count)
            return tracemalloc.get_traced_memory()  # (current, peak) allocated in the window
        finally:
            tracemalloc.stop()

    enabled = gc.isenabled()
    gc.collect()
    gc.disable()
    try:
        steps(100)
        early_current, early_peak = traced_window(500)
        blocks_early = sys.getallocatedblocks()
        steps(10_000 - 100 - 500 - 500)
        blocks_late = sys.getallocatedblocks()
        late_current, late_peak = traced_window(500)
    finally:
        if enabled:
            gc.enable()
    assert early_current < 16_384 and late_current < 16_384, (early_current, late_current)
    assert late_peak <= early_peak * 1.5 + 4096, (early_peak, late_peak)
    assert blocks_late - blocks_early < 2_000, (blocks_early, blocks_late)  # ~9,000 steps
    assert float(((model(inputs) - targets) ** 2).mean()) < first_loss / 2  # it did train


# ---------------------------------------------- gradients of random shapes (finite differences)

dims = st.integers(1, 3)


def _normal(shape):
    return RNG.normal(size=shape)


def _positive(shape):
    return RNG.uniform(0.5, 2.0, size=shape)


def _away_from_zero(shape):
    return RNG.uniform(0.4, 1.6, size=shape) * RNG.choice([-1.0, 1.0], size=shape)


BINARY = {
    "add": (lambda a, b: a + b, _normal, _normal),
    "sub": (lambda a, b: a - b, _normal, _normal),
    "mul": (lambda a, b: a * b, _normal, _normal),
    "div": (lambda a, b: a / b, _normal, _away_from_zero),
    "pow": (lambda a, b: a ** b, _positive, _normal),
    "where": (lambda a, b: runtime.where(a > b, a * b, a - b), _normal, _normal),
    "chain": (lambda a, b: ((a - b) * a / (b * b + 1)).tanh(), _normal, _normal),
}


@settings(max_examples=60, deadline=None)
@given(shapes=broadcastable_shapes(), swap=st.booleans(), op=st.sampled_from(sorted(BINARY)))
def test_binary_op_gradients_with_broadcasting_match_finite_differences(shapes, swap, op):
    a_shape, b_shape = shapes[::-1] if swap else shapes
    function, make_a, make_b = BINARY[op]
    a, b = make_a(a_shape), make_b(b_shape)
    if op == "where":
        b = b + np.where(np.abs(a - b) < 1e-3, 0.1, 0.0)  # keep off the switching point
    check_gradients(function, [a, b])


UNARY = {
    "exp": (lambda t: t.exp(), _normal),
    "log": (lambda t: t.log(), _positive),
    "sqrt": (lambda t: t.sqrt(), _positive),
    "abs": (lambda t: t.abs(), _away_from_zero),
    "relu": (lambda t: t.relu(), _away_from_zero),
    "sin": (lambda t: t.sin(), _normal),
    "tanh": (lambda t: t.tanh(), _normal),
    "sigmoid": (lambda t: t.sigmoid(), _normal),
    "clamp": (lambda t: t.clamp(-0.3, 0.3), _away_from_zero),
    "softmax": (lambda t: t.softmax(-1), _normal),
}


@settings(max_examples=40, deadline=None)
@given(shape=st.lists(dims, min_size=1, max_size=3), op=st.sampled_from(sorted(UNARY)))
def test_unary_op_gradients_over_random_shapes_match_finite_differences(shape, op):
    function, make = UNARY[op]
    check_gradients(function, [make(tuple(shape))])


@st.composite
def matmul_shapes(draw):
    """Operand shapes for ``@``: vectors, matrices, and batches whose dimensions broadcast."""
    n, k, m = draw(dims), draw(dims), draw(dims)
    batch_a, batch_b = draw(broadcastable_shapes())
    a = (*batch_a, n, k) if draw(st.booleans()) else (k,)
    b = (*batch_b, k, m) if draw(st.booleans()) else (k,)
    return a, b


@settings(max_examples=40, deadline=None)
@given(shapes=matmul_shapes())
def test_matmul_gradients_with_batch_broadcasting_match_finite_differences(shapes):
    a_shape, b_shape = shapes
    check_gradients(lambda a, b: a @ b, [RNG.normal(size=a_shape), RNG.normal(size=b_shape)])


@settings(max_examples=30, deadline=None)
@given(shape=st.lists(dims, min_size=1, max_size=3), count=st.integers(1, 3), data=st.data())
def test_cat_and_stack_gradients_over_random_shapes_match_finite_differences(shape, count, data):
    dim = data.draw(st.integers(-len(shape), len(shape) - 1))
    sizes = data.draw(st.lists(dims, min_size=count, max_size=count))
    pieces = []
    for size in sizes:
        piece = list(shape)
        piece[dim] = size
        pieces.append(RNG.normal(size=piece))
    check_gradients(lambda *ts: runtime.cat(ts, dim), pieces)
    same = [RNG.normal(size=shape) for _ in range(count)]
    stack_dim = data.draw(st.integers(-len(shape) - 1, len(shape)))
    check_gradients(lambda *ts: runtime.stack(ts, stack_dim), same)


# ------------------------------------------------------------------------- version counters

ACTIONS = ["add_", "mul_", "zero_", "fill_", "clamp_", "copy_", "setitem", "iadd",
           "view", "t", "index", "slice", "unsqueeze", "detach", "data", "clone", "times_two"]


@settings(max_examples=100, deadline=None)
@given(script=st.lists(st.tuples(st.sampled_from(ACTIONS), st.integers(0, 1 << 16),
                                 st.sampled_from(["grad", "no_grad", "enable_grad"])),
                       max_size=40))
def test_version_counters_never_decrease_and_count_every_in_place_op(script):
    """Views and ``detach()`` share their base's counter, ``.data``, ``clone()`` and results
    of ops start their own; every in-place op bumps its tensor's counter by exactly one."""
    tensors = [runtime.zeros(2, 3)]
    group = [0]  # which counter each tensor shares
    expected = [0]  # per counter, the version it must show
    last_seen = [0]

    for action, pick, mode in script:
        index = pick % len(tensors)
        tensor = tensors[index]
        switch = {"grad": None, "no_grad": no_grad, "enable_grad": enable_grad}[mode]
        with switch() if switch else _nothing():
            made = _act(action, tensor)
        if made is None:
            expected[group[index]] += 1
        else:
            new, shares = made
            tensors.append(new)
            if shares:
                group.append(group[index])
            else:
                group.append(len(expected))
                expected.append(0)
            last_seen.append(new._version)
        for position, each in enumerate(tensors):
            version = each._version
            assert version == expected[group[position]], (action, position)
            assert version >= last_seen[position]
            last_seen[position] = version


class _nothing:
    def __enter__(self):
        return None

    def __exit__(self, *exc_info):
        return None


def _act(action: str, tensor):
    """Do ``action``: None for an in-place op, else (the new tensor, shares the counter)."""
    shape = tuple(tensor.shape)
    if action == "add_":
        tensor.add_(1.0)
    elif action == "mul_":
        tensor.mul_(0.5)
    elif action == "zero_":
        tensor.zero_()
    elif action == "fill_":
        tensor.fill_(2.0)
    elif action == "clamp_":
        tensor.clamp_(-1.0, 1.0)
    elif action == "copy_":
        tensor.copy_(runtime.ones(*shape))
    elif action == "iadd":
        tensor += 3.0
    elif action == "setitem":
        tensor[..., :1] = 7.0  # (also for a tensor with no elements, which tensor[0] is not)
    elif action == "view":  # reshape: a view where the layout allows one, else a copy
        flat = tensor.reshape(-1)
        # (the same first element: np.shares_memory says False for tensors with no elements)
        return flat, flat.data_ptr() == tensor.data_ptr()
    elif action == "t":
        return (tensor.t() if len(shape) <= 2 else tensor.transpose(0, 1)), True
    elif action == "index":
        return (tensor[0] if len(shape) > 1 else tensor[1:]), True
    elif action == "slice":
        return tensor[..., :1], True
    elif action == "unsqueeze":
        return tensor.unsqueeze(0), True
    elif action == "detach":
        return tensor.detach(), True
    elif action == "data":
        return tensor.data, False
    elif action == "clone":
        return tensor.clone(), False
    else:
        return tensor * 2, False
    return None
