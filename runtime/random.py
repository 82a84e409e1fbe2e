"""The random number source behind ``rand``, ``randn``, ``normal_``, dropout and shuffling.

``runtime.manual_seed(n)`` makes runs repeatable; the numbers differ from PyTorch's (a different
generator), so programs compared with PyTorch print results that do not depend on them.
"""

from __future__ import annotations

import numpy as np


class Generator:
    def __init__(self, seed: int = 0) -> None:
        self.manual_seed(seed)

    def manual_seed(self, seed: int) -> "Generator":
        self._rng = np.random.default_rng(seed)
        return self

    def normal(self, mean, std, shape):
        return self._rng.normal(mean, std, shape)

    def uniform(self, low, high, shape):
        return self._rng.uniform(low, high, shape)

    def integers(self, low, high, shape):
        return self._rng.integers(low, high, shape)

    def permutation(self, n: int):
        return self._rng.permutation(n)


default_generator = Generator(0)


def manual_seed(seed: int) -> Generator:
    return default_generator.manual_seed(seed)
