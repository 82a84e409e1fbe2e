"""Every built-in op: one class each, forward and backward side by side, grouped by kind.

A built-in op is a :class:`~runtime.autograd.node.Node` subclass named like PyTorch's
``grad_fn`` (``MulBackward0``), with PyTorch's ``autograd.Function`` protocol:

* ``forward(ctx, *inputs, **options)`` computes on NumPy arrays (a tensor input arrives as its
  array; Python numbers as they are) and returns the result's array.  It passes to
  ``ctx.save_for_backward`` what backward needs: input arrays, the result array, or new
  arrays (saved as constants); the dispatcher saves the corresponding tensors, with their
  versions.  ``ctx`` is the new node, or the shared null context when nothing is recorded
  (see ``runtime.autograd.node``).
* ``backward(ctx, grad)`` computes on tensors, with runtime's own ops, so that with
  ``create_graph=True`` it is recorded too; it returns one gradient per input (None where
  ``ctx.needs_input_grad`` is False), at the output's broadcast shape if that is simpler
  (the engine sums each back to its input's shape).

``runtime.tensor`` calls them through ``apply(op, *inputs, **options)``.
"""
