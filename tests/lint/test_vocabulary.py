"""The vocabulary's in-place methods agree with what PyTorch does."""

from __future__ import annotations

import pytest

from nograd_lint.vocabulary import NOT_INPLACE, is_inplace_method

torch = pytest.importorskip("torch")


@pytest.mark.parametrize("method", sorted(m for m in NOT_INPLACE if hasattr(torch.Tensor, m)))
def test_methods_named_in_place_that_do_not_write_the_data(method):
    leaf = torch.zeros(3, requires_grad=method != "retain_grad")
    if method == "retain_grad":
        leaf = leaf * 1  # retain_grad needs a tensor that requires grad, not a plain one
        leaf.requires_grad_()
    version = leaf._version
    getattr(leaf, method)()  # allowed on a leaf that requires grad: no in-place update
    assert leaf._version == version
    assert not is_inplace_method(method)


@pytest.mark.parametrize("method, argument", [("add_", 1), ("mul_", 2), ("zero_", None),
                                              ("normal_", None)])
def test_in_place_updates_bump_the_version(method, argument):
    tensor = torch.zeros(3)
    version = tensor._version
    getattr(tensor, method)(*([] if argument is None else [argument]))
    assert tensor._version > version
    assert is_inplace_method(method)
