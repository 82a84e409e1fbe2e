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


# The functional in-place forms, as torch 2.13 has them.  What the vocabulary leaves out on
# purpose: ``detach_`` writes no data, ``resize_as_`` raises its own error ("cannot resize
# variables that require grad"), and the dropouts write only while training.
LEFT_OUT = {"torch.detach_", "torch.resize_as_", "torch.dropout_", "torch.alpha_dropout_",
            "torch.feature_dropout_", "torch.feature_alpha_dropout_"}


def _public_inplace_names(namespace, prefix):
    return {f"{prefix}.{name}" for name in dir(namespace)
            if name.endswith("_") and not name.endswith("__") and not name.startswith("_")}


def test_inplace_functions_are_torch_s_own():
    import torch.nn.functional as F

    from nograd_lint.vocabulary import INPLACE_FUNCTIONS

    every = _public_inplace_names(torch, "torch") | _public_inplace_names(
        F, "torch.nn.functional")
    assert INPLACE_FUNCTIONS == every - LEFT_OUT


@pytest.mark.parametrize("name", ["relu_", "clamp_", "sigmoid_", "zero_"])
def test_an_inplace_function_on_a_leaf_raises_as_the_method_does(name):
    from nograd_lint.vocabulary import INPLACE_FUNCTIONS

    assert f"torch.{name}" in INPLACE_FUNCTIONS
    arguments = (0.0, 1.0) if name == "clamp_" else ()
    with pytest.raises(RuntimeError, match="a leaf Variable that requires grad"):
        getattr(torch, name)(torch.zeros(2, requires_grad=True), *arguments)


def test_foreach_inplace_functions_are_torch_s_own():
    from nograd_lint.vocabulary import FOREACH_INPLACE_FUNCTIONS

    assert FOREACH_INPLACE_FUNCTIONS == {
        f"torch.{name}" for name in dir(torch)
        if name.startswith("_foreach_") and name.endswith("_") and not name.endswith("__")}
    with pytest.raises(RuntimeError, match="a leaf Variable that requires grad"):
        torch._foreach_mul_([torch.zeros(2, requires_grad=True)], 2.0)


def test_inplace_flags_sit_where_torch_puts_them():
    import inspect

    import torch.nn.functional as F

    from nograd_lint.vocabulary import INPLACE_FLAG_FUNCTIONS, INPLACE_FLAG_LAYERS

    for qualified, position in INPLACE_FLAG_FUNCTIONS.items():
        parameters = list(inspect.signature(getattr(F, qualified.rsplit(".", 1)[-1])).parameters)
        assert parameters.index("inplace") == position, qualified
    for qualified, position in INPLACE_FLAG_LAYERS.items():
        layer = getattr(torch.nn, qualified.rsplit(".", 1)[-1])
        parameters = list(inspect.signature(layer.__init__).parameters)[1:]  # without self
        assert parameters.index("inplace") == position, qualified
    flagged = {name for name in dir(F) if callable(getattr(F, name)) and not name.startswith("_")
               and "inplace" in _parameters(getattr(F, name))}
    assert {q.rsplit(".", 1)[-1] for q in INPLACE_FLAG_FUNCTIONS} == {
        name for name in flagged if "dropout" not in name}


def _parameters(function):
    import inspect

    try:
        return inspect.signature(function).parameters
    except (TypeError, ValueError):
        return {}
