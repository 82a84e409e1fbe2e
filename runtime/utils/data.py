"""``runtime.utils.data``: datasets and a batching, optionally shuffling DataLoader."""

from __future__ import annotations

import numbers

import numpy as np

from runtime import dtypes
from runtime.random import default_generator
from runtime.tensor import Tensor


class Dataset:
    def __getitem__(self, index):
        raise NotImplementedError

    def __len__(self) -> int:
        raise NotImplementedError


class TensorDataset(Dataset):
    def __init__(self, *tensors: Tensor) -> None:
        if any(len(t) != len(tensors[0]) for t in tensors):
            raise ValueError("Size mismatch between tensors")
        self.tensors = tensors

    def __getitem__(self, index):
        return tuple(tensor[index] for tensor in self.tensors)

    def __len__(self) -> int:
        return len(self.tensors[0])


def default_collate(batch):
    """Stack tensors, turn numbers into tensors, and collate tuples/lists/dicts element-wise."""
    first = batch[0]
    if isinstance(first, Tensor):
        return Tensor._wrap(np.stack([item._data for item in batch]))
    if isinstance(first, float):  # PyTorch: Python floats collate to float64
        return Tensor(list(batch), dtypes.float64)
    if isinstance(first, bool | numbers.Number):
        return Tensor(list(batch))
    if isinstance(first, dict):
        return {key: default_collate([item[key] for item in batch]) for key in first}
    if isinstance(first, (tuple, list)):
        return [default_collate(list(items)) for items in zip(*batch)]
    return batch


class DataLoader:
    def __init__(self, dataset, batch_size: int | None = 1, shuffle: bool = False,
                 drop_last: bool = False, collate_fn=None, generator=None, num_workers: int = 0,
                 **_ignored) -> None:
        self.dataset, self.batch_size, self.shuffle = dataset, batch_size, shuffle
        self.drop_last = drop_last
        self.collate_fn = collate_fn or default_collate
        self.generator = generator or default_generator

    def __iter__(self):
        order = self.generator.permutation(len(self.dataset)) if self.shuffle else range(len(self.dataset))
        order = [int(i) for i in order]
        if self.batch_size is None:
            yield from (self.dataset[i] for i in order)
            return
        for start in range(0, len(order), self.batch_size):
            indices = order[start:start + self.batch_size]
            if len(indices) < self.batch_size and self.drop_last:
                return
            yield self.collate_fn([self.dataset[i] for i in indices])

    def __len__(self) -> int:
        if self.batch_size is None:
            return len(self.dataset)
        full, rest = divmod(len(self.dataset), self.batch_size)
        return full + (1 if rest and not self.drop_last else 0)
