"""Run torch programs on runtime: ``import torch`` (and its submodules) mean ``runtime``.

    with as_torch():
        import torch            # this is runtime
    python -m runtime.torch_alias program.py [args...]
"""

from __future__ import annotations

import contextlib
import importlib
import runpy
import sys

# torch module name -> runtime module name
SUBMODULES = {
    "torch": "runtime",
    "torch.autograd": "runtime.autograd",
    "torch.autograd.grad_mode": "runtime.autograd.grad_mode",
    "torch.autograd.function": "runtime.autograd.function",
    "torch.autograd.graph": "runtime.autograd.graph",
    "torch.nn": "runtime.nn",
    "torch.nn.functional": "runtime.nn.functional",
    "torch.nn.init": "runtime.nn.init",
    "torch.nn.utils": "runtime.nn.utils",
    "torch.cuda": "runtime.cuda",
    "torch.optim": "runtime.optim",
    "torch.optim.lr_scheduler": "runtime.optim.lr_scheduler",
    "torch.utils": "runtime.utils",
    "torch.utils.data": "runtime.utils.data",
    "torch.utils.hooks": "runtime.utils.hooks",
}


@contextlib.contextmanager
def as_torch():
    """Within the block, ``torch`` and its supported submodules resolve to runtime's."""
    saved = {name: sys.modules.get(name) for name in SUBMODULES}
    try:
        for torch_name, runtime_name in SUBMODULES.items():
            try:
                sys.modules[torch_name] = importlib.import_module(runtime_name)
            except ModuleNotFoundError:
                sys.modules.pop(torch_name, None)
        yield sys.modules["torch"]
    finally:
        for name, module in saved.items():
            if module is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = module


def main(argv: list[str]) -> None:
    if not argv:
        raise SystemExit("usage: python -m runtime.torch_alias PROGRAM.py [ARGS...]")
    sys.argv = list(argv)
    with as_torch():
        runpy.run_path(argv[0], run_name="__main__")


if __name__ == "__main__":
    main(sys.argv[1:])
