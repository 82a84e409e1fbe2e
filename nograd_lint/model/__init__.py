"""One semantic model per module, and the analyses layered on it.

The engine builds a :class:`~nograd_lint.model.scopes.SemanticModel` in its single walk over
the libcst tree; analyses (grad regions, evaluation regions, leaves, escape) read it instead of
keeping their own stacks of enclosing functions, counters or maps of functions by name.
"""
