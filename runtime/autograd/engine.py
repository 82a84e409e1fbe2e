"""The backward pass: walk the graph from the outputs in dependency order, iteratively.

Each node runs once, after every node that feeds it a gradient has run (so arbitrarily deep
graphs need no recursion).  Gradients are tensors, and backward formulas are written in
runtime's own ops: with ``create_graph`` the pass runs with grad mode on, as PyTorch's does,
so the gradients it computes are themselves recorded and can be differentiated again.
Gradients reaching a leaf accumulate into its ``.grad`` (summed back over broadcast
dimensions); ``autograd.grad`` captures them instead.  Without ``retain_graph``, each node
frees what it saved once it has run.
"""

from __future__ import annotations

import itertools
import sys

import numpy as np

from runtime.autograd.node import Node, unpacking
from runtime.grad_mode import state as modes


class AccumulateGrad(Node):
    """The node at a leaf that requires grad: adds incoming gradients to ``variable.grad``."""

    _post_accumulate_hooks: dict | None = None  # the leaf's register_post_accumulate_grad_hook

    def __init__(self, variable) -> None:
        self.variable = variable

    @property
    def _shapes(self) -> tuple:
        return (self.variable._data.shape,)  # which ``.data = ...`` may have changed

    def name(self) -> str:
        return "torch::autograd::AccumulateGrad"  # PyTorch's name(); its type is AccumulateGrad

    @staticmethod
    def backward(ctx, grad) -> tuple:
        """Only for a direct call of the node: the engine accumulates (with the hooks)."""
        ctx.variable._accumulate(grad, modes.grad)
        return ()


def sum_to(grad, shape: tuple, node: Node, results: tuple):
    """Sum ``grad`` (one of ``node``'s ``results``: a tensor or an array) down to ``shape``,
    undoing broadcasting; refuse any other mismatch."""
    extra = len(grad.shape) - len(shape)
    if extra < 0 or any(n != 1 and n != g for n, g in zip(shape, grad.shape[extra:])):
        expected = ", ".join(str(n) for n in shape)
        got = ", ".join(str(n) for n in grad.shape)
        index = next(i for i, result in enumerate(results) if result is grad)
        raise RuntimeError(f"Function {node.name()} returned an invalid gradient at index "
                           f"{index} - got [{got}] but expected shape compatible with [{expected}]")
    if hasattr(grad, "sum_to_size"):
        return grad.sum_to_size(shape)
    dims = tuple(range(extra)) + tuple([extra + i for i, n in enumerate(shape)
                                        if n == 1 and grad.shape[extra + i] != 1])
    return np.asarray(grad.sum(axis=dims, keepdims=True).reshape(shape)) if dims else grad


def _dependencies(roots) -> dict:
    """For every node reachable from ``roots``, the roots included: how many edges lead into
    it (0 for a root no other root leads to)."""
    counts = dict.fromkeys(roots, 0)
    stack = list(roots)
    while stack:
        for child, _ in stack.pop().next_functions:
            if child is None:
                continue
            if child in counts:
                counts[child] += 1
            else:
                counts[child] = 1
                stack.append(child)
    return counts


def _add(slots: dict, node: Node, output_nr: int, grad) -> None:
    grads = slots.get(node)
    if grads is None:
        grads = slots[node] = [None] * len(node._shapes)
    grads[output_nr] = grad if grads[output_nr] is None else grads[output_nr] + grad


def run_backward(roots: list, retain_graph: bool, create_graph: bool,
                 capture: dict | None = None, targets: dict | None = None) -> dict:
    """Propagate ``((node, output_nr), gradient)`` pairs backward.  ``capture`` maps the edges
    whose incoming gradient is wanted (``autograd.grad``) to None; it is returned filled in.
    ``targets`` (``backward(inputs=...)``) maps the inputs' edges to their tensors, whose
    ``.grad`` receives the gradient.  With either, only the nodes that lead to those edges
    run (and, for ``targets``, their own nodes), as in PyTorch: the others, and their hooks,
    are left alone."""
    saved_mode, saved_unpacking = modes.grad, unpacking.arrays
    modes.grad = create_graph
    unpacking.arrays = not create_graph
    try:
        return _run(roots, retain_graph, create_graph, capture, targets)
    finally:
        modes.grad, unpacking.arrays = saved_mode, saved_unpacking


def _needed(roots, wanted: set, run_wanted: bool) -> set:
    """The nodes from which a node in ``wanted`` can be reached (and, with ``run_wanted``,
    those nodes themselves): the ones a backward restricted to them must run."""
    parents: dict = {}
    stack, seen = list(roots), set(roots)
    while stack:
        node = stack.pop()
        for child, _ in node.next_functions:
            if child is not None:
                parents.setdefault(child, []).append(node)
                if child not in seen:
                    seen.add(child)
                    stack.append(child)
    needed = set(wanted) if run_wanted else set()
    stack = list(wanted)
    while stack:
        for parent in parents.get(stack.pop(), ()):
            if parent not in needed:
                needed.add(parent)
                stack.append(parent)
    return needed


def _run(roots: list, retain_graph: bool, create_graph: bool, capture: dict | None,
         targets: dict | None) -> dict:
    # Without create_graph nothing is recorded, so gradients travel as bare arrays: an
    # array-safe backward runs on them directly, anything else (other backwards, hooks,
    # .grad, autograd.grad's results) gets them wrapped in tensors and unwrapped after.
    on_arrays = not create_graph
    wrap = type(roots[0][1])._wrap if roots else None
    pending: dict = {}
    for (node, output_nr), grad in roots:
        _add(pending, node, output_nr, grad._data if on_arrays else grad)
    wanted = capture if capture is not None else targets
    needed, wanted_nodes = None, set()
    if wanted is not None:
        wanted_nodes = {node for node, _ in wanted}
        needed = _needed(list(pending), wanted_nodes, run_wanted=targets is not None)
    # How many deliveries each node still waits for.  Exactly counted (a walk of the graph)
    # with several roots or a restriction to wanted edges; otherwise the walk is skipped: a
    # lone root waits for nothing, and a node starts from its recorded ``_uses``, an upper
    # bound (edges of ops outside this pass or garbage count too), so no node runs early.  A
    # node reached by its only edge (the common case) is ready at once.  If the pass stalls
    # on the bound, the rest is counted exactly from the nodes still holding gradients.
    # ``ready`` holds (node, its gradients or None) pairs: a node leaves ``pending`` (where
    # gradients are summed) when it gets ready, and a node reached by its only edge never
    # enters it.
    exact = len(pending) > 1 or wanted is not None
    counts = _dependencies(list(pending)) if exact else {}
    pop_pending = pending.pop
    ready = [(node, pop_pending(node)) for node in list(pending) if not counts.get(node)]
    pop_ready, push_ready = ready.pop, ready.append
    get_count = counts.get
    plain = on_arrays and wanted is None
    while ready or (pending and not exact):
        if not ready:  # stalled on the bound: count the rest exactly
            exact = True
            counts = _dependencies(list(pending))
            get_count = counts.get
            ready.extend([(node, pop_pending(node)) for node in list(pending)
                          if not counts[node]])
        node, grads = pop_ready()
        if grads is None:  # nothing flowed here; its inputs still stop waiting for it
            raw, results = False, _NOTHING_FLOWED
        else:
            if needed is not None and node not in needed and node not in wanted_nodes:
                continue  # leads to no wanted edge: neither it nor what it feeds runs
            array_backward = node._array_backward if plain else None
            raw = array_backward is not None
            if raw:  # the common case: an array-safe backward on the arrays
                # (a lone gradient passed as it is: a call unpacking a list builds two objects)
                results = (array_backward(node, grads[0]) if len(grads) == 1
                           else array_backward(node, *grads))
            else:
                # (no stale references: a gradient only `grads` holds is adopted)
                results = grad = None
                unpacking.arrays = False  # hooks and other backwards see tensors
                results = _run_node(node, grads, on_arrays and wrap, create_graph, capture,
                                    targets, needed)
                unpacking.arrays = on_arrays
                if results is None:
                    continue
        for (child, output_nr), grad in zip(node.next_functions, results):
            if child is None:
                continue
            uses = child._uses
            if grad is not None:
                shapes = child._shapes
                if grad.shape != shapes[output_nr]:
                    grad = sum_to(grad, shapes[output_nr], node, results)
                if raw and grad.dtype is _FLOAT64:
                    grad = _demoted(grad, grads)
                if child in pending:
                    slots = pending[child]
                    slots[output_nr] = grad if slots[output_nr] is None else slots[output_nr] + grad
                elif len(shapes) == 1:
                    if uses == 1:  # its only edge (the common case): ready with this gradient
                        push_ready((child, [grad]))
                        continue
                    pending[child] = [grad]
                else:
                    slots = pending[child] = [None] * len(shapes)
                    slots[output_nr] = grad
            if uses != 1:
                waiting = get_count(child, uses) - 1
                counts[child] = waiting
                if waiting:
                    continue
            push_ready((child, pop_pending(child, None)))
        if not retain_graph and grads is not None and node._saved:
            node._saved = None  # frees what forward saved
    return capture or {}


def _run_node(node: Node, grads: list, wrap, create_graph: bool, capture: dict | None,
              targets: dict | None, needed: set | None):
    """Run ``node`` with everything around its backward: tensor hooks, delivery to
    ``autograd.grad``/``backward(inputs=...)``, pre- and post-hooks, accumulation into
    ``.grad``.  ``wrap``: gradients travel as arrays (no create_graph) and are wrapped in
    tensors for all this, the results unwrapped.  None when nothing is passed on."""
    if (wrap and type(node) is AccumulateGrad and needed is None and node._tensor_hooks is None
            and node._retained is None and node._pre_hooks is None and node._post_hooks is None
            and node._post_accumulate_hooks is None):
        array = grads[0]
        # only `grads` and `array` refer to it? Any other reference (another input it was
        # also handed to, a tensor or saved tensor over it) and it is copied instead.
        owned = sys.getrefcount(array) == _OWNED
        _accumulate(node, [wrap(array)], False, owned)
        return None
    if wrap:
        grads = [None if grad is None else wrap(grad) for grad in grads]
    if node._tensor_hooks is not None or node._retained is not None:
        grads = _run_tensor_hooks(node, grads)
    if needed is not None:
        _deliver(node, grads, capture, targets, create_graph)
        if node not in needed:
            return None  # captured only: its own hooks and backward do not run
    if node._pre_hooks is not None:
        grads = _run_pre_hooks(node, grads)
    if type(node) is AccumulateGrad:
        _accumulate(node, grads, create_graph)
        return None
    results = node.backward(node, *grads)
    if node._post_hooks is not None:
        results = _run_post_hooks(node, results, grads)
    if wrap:
        results = [None if grad is None else grad._data for grad in results]
    return results


def _references_when_owned(grads: list) -> int:
    """What getrefcount says, at the same point of ``_run_node``, of an object that only its
    list refers to (measured, since what the interpreter counts differs between versions)."""
    array = grads[0]
    return sys.getrefcount(array)


_OWNED = _references_when_owned([object()])
_FLOAT32, _FLOAT64 = np.dtype(np.float32), np.dtype(np.float64)
#: A node's results when no gradient flowed to it: its inputs still stop waiting for it.
_NOTHING_FLOWED = itertools.repeat(None)


def _demoted(result, grads: list):
    """A float64 result of an array-safe backward, with runtime's dtype rule for tensor ops
    (which NumPy does not apply): a float32 gradient times a saved integer array stays
    float32."""
    if any(grad is not None and grad.dtype is _FLOAT32 for grad in grads):
        return result.astype(np.float32)
    return result


def _deliver(node: Node, grads: list, capture: dict | None, targets: dict | None,
             create_graph: bool) -> None:
    """Hand the gradients flowing into ``node`` to ``autograd.grad`` (``capture``), or to the
    ``.grad`` of a non-leaf input of ``backward(inputs=...)`` (a leaf's AccumulateGrad node
    runs for that)."""
    for output_nr, grad in enumerate(grads):
        edge = (node, output_nr)
        if capture is not None:
            if edge in capture:
                capture[edge] = grad
        elif edge in targets and grad is not None and type(node) is not AccumulateGrad:
            targets[edge]._accumulate(grad, create_graph)


def _accumulate(node: AccumulateGrad, grads: list, create_graph: bool,
                owned: bool = False) -> None:
    variable, stored = node.variable, None
    if variable._requires_grad:  # (no longer, after requires_grad_(False) or detach_(): as torch)
        first = variable._grad is None
        variable._accumulate(grads[0], create_graph, owned)
        if first and not create_graph:
            stored = variable._grad
        for hook in list((node._post_accumulate_hooks or {}).values()):
            if hook(variable) is not None:
                raise RuntimeError("Tensor post accumulate grad hooks should return None.")
    if node._post_hooks is not None:
        # PyTorch makes the incoming gradient itself the new .grad (when nothing else holds
        # it), so the post hooks see in-place changes made to .grad before them: runtime
        # stores a copy, and gives them that.
        _run_post_hooks(node, (), grads if stored is None else [stored])


def _returned_grads(node: Node, hook, returned, expected: int):
    if not isinstance(returned, tuple):
        raise TypeError(f"expected tuple, but hook returned '{type(returned).__name__}'")
    if len(returned) != expected:
        raise RuntimeError(f"hook '{getattr(hook, '__name__', hook)}' has returned an incorrect "
                           f"number of values (got {len(returned)}, but expected {expected})")
    return returned


def _run_pre_hooks(node: Node, grads: list) -> list:
    for hook in list(node._pre_hooks.values()):
        returned = hook(tuple(grads))
        if returned is not None:
            grads = list(_returned_grads(node, hook, returned, len(grads)))
    return grads


def _run_post_hooks(node: Node, results, grads: list):
    results = tuple(results)
    for hook in list(node._post_hooks.values()):
        returned = hook(results, tuple(grads))
        if returned is not None:
            results = _returned_grads(node, hook, returned, len(results))
    return results


def _run_tensor_hooks(node: Node, grads: list) -> list:
    """The hooks of the tensors ``node`` produced, then their retained gradients.  As in
    PyTorch, a hook runs whenever its node does, with None for an output of a node with
    several that got no gradient."""
    grads = list(grads)
    for output_nr, hooks in (node._tensor_hooks or {}).items():
        for hook in list(hooks.values()):
            replaced = hook(grads[output_nr])
            if replaced is not None:
                grads[output_nr] = replaced
    for output_nr, reference in (node._retained or {}).items():
        retained = reference()
        if retained is not None and grads[output_nr] is not None:
            retained._accumulate(grads[output_nr], modes.grad)
    return grads
