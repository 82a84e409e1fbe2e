"""nograd-lint: find grad-mode bugs in PyTorch code before it runs."""

__version__ = "0.1.0"
