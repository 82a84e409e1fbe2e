"""nograd-lint: find grad-mode bugs in PyTorch code before it runs."""

import importlib.util
import sys
from types import ModuleType

__version__ = "0.1.0"


def _load_on_first_use(name: str) -> ModuleType:
    """Importing libcst costs more than linting a small file that the pre-filters rule out,
    and most files are ruled out.  Our modules take libcst from here (``from nograd_lint
    import libcst as cst``): a module executed when first used (a parse, a node class).  An
    ``import libcst`` statement would load it at once, so none is used at module level."""
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.find_spec(name)
    if spec is None or spec.loader is None:
        return importlib.import_module(name)  # raises the usual ModuleNotFoundError
    spec.loader = importlib.util.LazyLoader(spec.loader)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


libcst = _load_on_first_use("libcst")
