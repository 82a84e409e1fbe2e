"""``torch.cuda`` of a CPU-only build: no device, so scripts take their CPU branch."""

from __future__ import annotations


def is_available() -> bool:
    return False


def device_count() -> int:
    return 0


def manual_seed(seed: int) -> None:
    """Accepted and ignored without a device, as in PyTorch."""


manual_seed_all = manual_seed
