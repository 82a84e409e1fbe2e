"""``runtime.utils.data`` (TensorDataset, DataLoader, default_collate) and ``runtime.save`` /
``runtime.load``."""

from __future__ import annotations

import io
from collections import OrderedDict

import numpy as np
import pytest

import runtime
from runtime import nn, optim
from runtime.utils.data import DataLoader, Dataset, TensorDataset, default_collate


def make_dataset(n=10):
    x = runtime.arange(n * 2, dtype=runtime.float32).reshape(n, 2)
    y = runtime.arange(n)
    return TensorDataset(x, y)


def first_column(batches):
    return [int(i) for xb, yb in batches for i in yb.tolist()]


# ----------------------------------------------------------------------------- TensorDataset


def test_tensor_dataset_items_and_len():
    ds = make_dataset()
    assert len(ds) == 10
    x, y = ds[3]
    assert x.tolist() == [6.0, 7.0] and y.item() == 3
    assert isinstance(ds[0], tuple) and len(ds[0]) == 2
    assert len(ds.tensors) == 2


def test_tensor_dataset_size_mismatch():
    with pytest.raises(ValueError, match="Size mismatch between tensors"):
        TensorDataset(runtime.ones(3, 2), runtime.ones(4))


# ----------------------------------------------------------------------------- DataLoader


def test_batches_in_order_without_shuffle():
    loader = DataLoader(make_dataset(), batch_size=4)
    batches = list(loader)
    assert len(loader) == 3 and len(batches) == 3
    assert [xb.shape for xb, _ in batches] == [(4, 2), (4, 2), (2, 2)]
    assert first_column(batches) == list(range(10))
    xb, yb = batches[0]
    assert xb.tolist() == [[0, 1], [2, 3], [4, 5], [6, 7]]
    assert xb.dtype == runtime.float32 and yb.dtype == runtime.int64
    assert isinstance(batches[0], list)  # default_collate turns a tuple sample into a list


def test_drop_last():
    loader = DataLoader(make_dataset(), batch_size=4, drop_last=True)
    batches = list(loader)
    assert len(loader) == 2 and len(batches) == 2
    assert all(xb.shape == (4, 2) for xb, _ in batches)
    exact = DataLoader(make_dataset(8), batch_size=4, drop_last=True)
    assert len(exact) == 2 and len(list(exact)) == 2


def test_default_batch_size_is_one():
    loader = DataLoader(make_dataset(3))
    assert len(loader) == 3
    xb, yb = next(iter(loader))
    assert xb.shape == (1, 2) and yb.shape == (1,)


def test_batch_larger_than_dataset():
    loader = DataLoader(make_dataset(3), batch_size=10)
    assert len(loader) == 1 and [b[0].shape for b in loader] == [(3, 2)]
    assert len(DataLoader(make_dataset(3), batch_size=10, drop_last=True)) == 0
    assert list(DataLoader(make_dataset(3), batch_size=10, drop_last=True)) == []


def test_shuffle_with_seeded_generator_is_reproducible():
    ds = make_dataset(20)
    orders = []
    for _ in range(2):
        generator = runtime.Generator()
        generator.manual_seed(1234)
        loader = DataLoader(ds, batch_size=6, shuffle=True, generator=generator)
        orders.append([first_column(loader), first_column(loader)])  # two epochs
    assert orders[0] == orders[1]
    epoch1, epoch2 = orders[0]
    assert sorted(epoch1) == list(range(20)) and sorted(epoch2) == list(range(20))
    assert epoch1 != list(range(20))  # actually shuffled
    assert epoch1 != epoch2  # a new order each epoch


def test_shuffle_pairs_stay_aligned():
    generator = runtime.Generator(7)
    for xb, yb in DataLoader(make_dataset(), batch_size=3, shuffle=True, generator=generator):
        np.testing.assert_array_equal(xb.numpy()[:, 0], 2 * yb.numpy())


def test_shuffle_with_different_seeds_differs():
    ds = make_dataset(30)
    a = first_column(DataLoader(ds, batch_size=30, shuffle=True, generator=runtime.Generator(1)))
    b = first_column(DataLoader(ds, batch_size=30, shuffle=True, generator=runtime.Generator(2)))
    assert a != b and sorted(a) == sorted(b)


def test_shuffle_uses_global_seed_without_generator():
    ds = make_dataset(30)
    runtime.manual_seed(5)
    a = first_column(DataLoader(ds, batch_size=7, shuffle=True))
    runtime.manual_seed(5)
    b = first_column(DataLoader(ds, batch_size=7, shuffle=True))
    assert a == b


def test_shuffle_drop_last_len():
    loader = DataLoader(make_dataset(10), batch_size=3, shuffle=True, drop_last=True,
                        generator=runtime.Generator(0))
    batches = list(loader)
    assert len(loader) == len(batches) == 3
    assert len(set(first_column(batches))) == 9


def test_custom_dataset_and_collate_fn():
    class Squares(Dataset):
        def __len__(self):
            return 5

        def __getitem__(self, index):
            return {"x": runtime.tensor([float(index)]), "y": index * index}

    batches = list(DataLoader(Squares(), batch_size=2))
    assert [b["y"].tolist() for b in batches] == [[0, 1], [4, 9], [16]]
    assert batches[0]["x"].shape == (2, 1)
    raw = list(DataLoader(Squares(), batch_size=2, collate_fn=lambda items: items))
    assert len(raw) == 3 and isinstance(raw[0], list) and raw[0][1]["y"] == 1


def test_batch_size_none_yields_samples():
    loader = DataLoader(make_dataset(3), batch_size=None)
    items = list(loader)
    assert len(loader) == 3 and len(items) == 3
    assert items[1][0].tolist() == [2.0, 3.0]


# ----------------------------------------------------------------------------- collate


def test_default_collate_tensors_and_tuples():
    batch = [(runtime.tensor([1.0, 2.0]), runtime.tensor(0)),
             (runtime.tensor([3.0, 4.0]), runtime.tensor(1))]
    xs, ys = default_collate(batch)
    assert xs.tolist() == [[1.0, 2.0], [3.0, 4.0]] and ys.tolist() == [0, 1]
    assert ys.dtype == runtime.int64
    stacked = default_collate([runtime.ones(2, 3), runtime.zeros(2, 3)])
    assert stacked.shape == (2, 2, 3)


def test_default_collate_numbers_nested_and_strings():
    ints = default_collate([1, 2, 3])
    assert ints.tolist() == [1, 2, 3] and ints.dtype == runtime.int64
    floats = default_collate([0.5, 1.5])
    assert floats.tolist() == [0.5, 1.5] and floats.dtype == runtime.float64  # as PyTorch
    nested = default_collate([(1, (runtime.ones(1), 2.0)), (2, (runtime.zeros(1), 3.0))])
    assert nested[0].tolist() == [1, 2]
    assert nested[1][0].tolist() == [[1.0], [0.0]] and nested[1][1].tolist() == [2.0, 3.0]
    assert default_collate(["a", "b"]) == ["a", "b"]
    d = default_collate([{"a": 1, "b": runtime.ones(2)}, {"a": 2, "b": runtime.ones(2)}])
    assert d["a"].tolist() == [1, 2] and d["b"].shape == (2, 2)


# ----------------------------------------------------------------------------- save / load


def test_save_load_state_dict_round_trip(tmp_path):
    runtime.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.ReLU(), nn.Linear(4, 2))
    model(runtime.randn(8, 3))  # moves the running stats
    state = model.state_dict()
    path = tmp_path / "model.pt"
    runtime.save(state, path)
    loaded = runtime.load(path)
    assert isinstance(loaded, OrderedDict)
    assert list(loaded) == list(state)
    for key in state:
        assert isinstance(loaded[key], runtime.Tensor)
        assert loaded[key].dtype == state[key].dtype and loaded[key].shape == state[key].shape
        np.testing.assert_array_equal(loaded[key].numpy(), state[key].numpy())
        assert not loaded[key].requires_grad
    assert loaded["1.num_batches_tracked"].dtype == runtime.int64

    fresh = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.ReLU(), nn.Linear(4, 2))
    fresh.load_state_dict(loaded)
    model.eval(), fresh.eval()
    x = runtime.randn(5, 3)
    np.testing.assert_array_equal(fresh(x).detach().numpy(), model(x).detach().numpy())
    assert all(p.is_leaf and p.requires_grad for p in fresh.parameters())


def test_saved_copy_is_independent(tmp_path):
    model = nn.Linear(2, 2)
    runtime.save(model.state_dict(), str(tmp_path / "w.pt"))
    with runtime.no_grad():
        model.weight.zero_()
    loaded = runtime.load(str(tmp_path / "w.pt"))
    assert not (loaded["weight"].numpy() == 0).all()


def test_save_load_nested_objects_and_file_objects():
    p = nn.Parameter(runtime.tensor([1.0, 2.0]))
    obj = {"epoch": 3, "names": ["a", "b"], "pair": (runtime.tensor([1, 2]), 0.5),
           "param": p, "grad_tensor": runtime.ones(2, requires_grad=True),
           "nested": {"x": runtime.zeros(2, 2, dtype=runtime.float64)}}
    buffer = io.BytesIO()
    runtime.save(obj, buffer)
    buffer.seek(0)
    loaded = runtime.load(buffer)
    assert loaded["epoch"] == 3 and loaded["names"] == ["a", "b"]
    assert isinstance(loaded["pair"], tuple) and loaded["pair"][0].tolist() == [1, 2]
    assert loaded["pair"][0].dtype == runtime.int64
    assert loaded["nested"]["x"].dtype == runtime.float64
    # as in PyTorch: Parameters come back as Parameters, requires_grad is kept
    assert isinstance(loaded["param"], nn.Parameter) and loaded["param"].requires_grad
    assert loaded["grad_tensor"].requires_grad and loaded["grad_tensor"].is_leaf


def test_save_load_optimizer_state(tmp_path):
    model = nn.Linear(2, 1)
    opt = optim.Adam(model.parameters(), lr=0.1)
    model(runtime.ones(3, 2)).sum().backward()
    opt.step()
    runtime.save({"model": model.state_dict(), "optim": opt.state_dict()}, tmp_path / "ckpt.pt")
    ckpt = runtime.load(tmp_path / "ckpt.pt")
    fresh = nn.Linear(2, 1)
    fresh.load_state_dict(ckpt["model"])
    fresh_opt = optim.Adam(fresh.parameters(), lr=0.5)
    fresh_opt.load_state_dict(ckpt["optim"])
    assert fresh_opt.param_groups[0]["lr"] == 0.1
    for a, b in zip(model.parameters(), fresh.parameters()):
        np.testing.assert_array_equal(a.detach().numpy(), b.detach().numpy())
    # both continue identically
    for m, o in ((model, opt), (fresh, fresh_opt)):
        o.zero_grad()
        m(runtime.ones(3, 2)).sum().backward()
        o.step()
    for a, b in zip(model.parameters(), fresh.parameters()):
        np.testing.assert_allclose(a.detach().numpy(), b.detach().numpy(), rtol=1e-6)
