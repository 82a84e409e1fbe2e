"""One semantic model per module, and the analyses layered on it.

The engine builds a :class:`~nograd_lint.model.scopes.SemanticModel` in its single walk over
the libcst tree (where the walk is, the module's functions, methods and classes, pre-order
indices); analyses read it instead of keeping their own stacks of enclosing functions, counters
or maps of functions by name.  Analyses are layers (``layers.py``) that declare the layers they
read by class and are built only when an enabled rule needs them:

    names.py       ImportResolver      qualified names from the imports
    grad_mode.py   GradRegions         grad mode at a node (with, decorators, callers)
    evaluation.py  EvaluationRegions   code that runs a model only to look at its outputs
    bindings.py    Bindings            scopes, bindings, uses and parents (for escape/)
    leaves/        LeafAnalysis        leaves and saved tensors (NG201-NG204)
    escape/        EscapeAnalysis      can a no_grad block become inference_mode (NG106)
"""
