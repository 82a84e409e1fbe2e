"""``torch.autograd.grad_mode``: where PyTorch defines the grad-mode switches."""

from runtime.grad_mode import enable_grad, inference_mode, no_grad, set_grad_enabled

__all__ = ["enable_grad", "inference_mode", "no_grad", "set_grad_enabled"]
