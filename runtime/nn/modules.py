"""``Module`` and the layers: parameters and submodules registered by attribute assignment,
``train()``/``eval()`` flags that change Dropout and BatchNorm (but never grad mode)."""

from __future__ import annotations

import inspect
import math
import operator
from collections import OrderedDict
from collections.abc import Iterable

import numpy as np

from runtime import dtypes
from runtime.device import device as device_type
from runtime.grad_mode import no_grad
from runtime.nn import _backward_hooks
from runtime.nn import functional as F
from runtime.nn import init
from runtime.random import default_generator
from runtime.tensor import Tensor, _tensor
from runtime.utils.hooks import RemovableHandle, add_hook


class Parameter(Tensor):
    """A leaf tensor that requires grad and that a Module registers as its parameter."""

    __slots__ = ()

    def __new__(cls, data: Tensor | None = None, requires_grad: bool = True) -> Parameter:
        source = data if data is not None else Tensor([])
        # shares storage (and version counter) with ``data``, like PyTorch
        return _tensor(source._data, source._counter, cls).requires_grad_(requires_grad)

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()


class Buffer(Tensor):
    """A tensor that a Module registers as a buffer when assigned to an attribute;
    ``persistent=False`` keeps it out of ``state_dict()``."""

    __slots__ = ("persistent",)

    def __new__(cls, data: Tensor | None = None, *, persistent: bool = True) -> Buffer:
        source = data if data is not None else Tensor([])
        buffer = _tensor(source._data, source._counter, cls)
        buffer._requires_grad = source.requires_grad
        buffer.persistent = persistent
        return buffer


def _typename(value) -> str:
    if isinstance(value, Tensor):
        return f"torch.{value.dtype.legacy_name}"
    kind = type(value)
    return kind.__qualname__ if kind.__module__ == "builtins" else f"{kind.__module__}.{kind.__qualname__}"


def _check_member_name(kind: str, name, registry: dict, owner) -> None:
    """PyTorch's checks on the name of a parameter, buffer or submodule being registered."""
    if not isinstance(name, str):
        raise TypeError(f"{kind} name should be a string. Got {_typename(name)}")
    if "." in name:
        raise KeyError(f'{kind} name can\'t contain "."' + (f", got: {name}" if kind == "module" else ""))
    if name == "":
        raise KeyError(f'{kind} name can\'t be empty string ""')
    if hasattr(owner, name) and name not in registry:
        raise KeyError(f"attribute '{name}' already exists")


class Module:
    # With True, __init__ passes its arguments on to the next class in the MRO (mixins).
    call_super_init = False

    def __init__(self, *args, **kwargs) -> None:
        if not self.call_super_init and kwargs:
            raise TypeError(f"{type(self).__name__}.__init__() got an unexpected keyword argument "
                            f"'{next(iter(kwargs))}'")
        if not self.call_super_init and args:
            raise TypeError(f"{type(self).__name__}.__init__() takes 1 positional argument but "
                            f"{len(args) + 1} were given")
        for name, value in (("training", True), ("_parameters", OrderedDict()),
                            ("_buffers", OrderedDict()), ("_non_persistent_buffers_set", set()),
                            ("_modules", OrderedDict()), ("_forward_hooks", OrderedDict()),
                            ("_forward_pre_hooks", OrderedDict()),
                            ("_backward_hooks", OrderedDict())):
            object.__setattr__(self, name, value)
        if self.call_super_init:
            super().__init__(*args, **kwargs)

    # ---------------------------------------------------------------- registration
    def __setattr__(self, name: str, value) -> None:
        members = self.__dict__
        if isinstance(value, Parameter):
            self._forget(name, "_buffers", "_modules")
            members.pop(name, None)
            self.register_parameter(name, value)
        elif name in members.get("_parameters", {}):
            if value is not None:
                raise TypeError(f"cannot assign '{_typename(value)}' as parameter '{name}' "
                                "(torch.nn.Parameter or None expected)")
            self.register_parameter(name, value)
        elif isinstance(value, Module):
            self._forget(name, "_parameters", "_buffers")
            members.pop(name, None)
            self._modules[name] = value
        elif name in members.get("_modules", {}):
            if value is not None:
                raise TypeError(f"cannot assign '{_typename(value)}' as child module '{name}' "
                                "(torch.nn.Module or None expected)")
            self._modules[name] = value
        elif isinstance(value, Buffer) or name in members.get("_buffers", {}):
            if value is not None and not isinstance(value, Tensor):
                raise TypeError(f"cannot assign '{_typename(value)}' as buffer '{name}' "
                                "(torch.nn.Buffer, torch.Tensor or None expected)")
            persistent = (value.persistent if isinstance(value, Buffer)
                          else name not in self._non_persistent_buffers_set)
            if "persistent" in inspect.signature(self.register_buffer).parameters:
                self.register_buffer(name, value, persistent)
            else:  # a subclass overriding register_buffer without the argument
                self.register_buffer(name, value)
        else:
            object.__setattr__(self, name, value)

    def _forget(self, name: str, *registries: str) -> None:
        for registry in registries:
            self.__dict__.get(registry, {}).pop(name, None)
        self.__dict__.get("_non_persistent_buffers_set", set()).discard(name)

    def __getattr__(self, name: str):
        members = self.__dict__
        for registry in ("_parameters", "_buffers", "_modules"):
            found = members.get(registry)
            if found is not None and name in found:
                return found[name]
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

    def __delattr__(self, name: str) -> None:
        for registry in ("_parameters", "_buffers", "_modules"):
            if name in self.__dict__.get(registry, {}):
                self._forget(name, registry)
                return
        object.__delattr__(self, name)

    def __dir__(self):
        keys = (dir(type(self)) + list(self.__dict__) + list(self._parameters)
                + list(self._modules) + list(self._buffers))
        # Sequential's children are named "0", "1"...: no attribute names.
        return sorted(key for key in set(keys) if not key[0].isdigit())

    def register_buffer(self, name: str, tensor: Tensor | None, persistent: bool = True) -> None:
        if "_buffers" not in self.__dict__:
            raise AttributeError("cannot assign buffer before Module.__init__() call")
        _check_member_name("buffer", name, self._buffers, self)
        if tensor is not None and not isinstance(tensor, Tensor):
            raise TypeError(f"cannot assign '{_typename(tensor)}' object to buffer '{name}' "
                            "(torch Tensor or None required)")
        self._buffers[name] = tensor
        if persistent:
            self._non_persistent_buffers_set.discard(name)
        else:
            self._non_persistent_buffers_set.add(name)

    def register_parameter(self, name: str, param: Parameter | None) -> None:
        if "_parameters" not in self.__dict__:
            raise AttributeError("cannot assign parameter before Module.__init__() call")
        _check_member_name("parameter", name, self._parameters, self)
        if param is not None and not isinstance(param, Parameter):
            raise TypeError(f"cannot assign '{_typename(param)}' object to parameter '{name}' "
                            "(torch.nn.Parameter or None required)")
        if param is not None and param.grad_fn is not None:
            raise ValueError(f"Cannot assign non-leaf Tensor to parameter '{name}'. Model "
                             f"parameters must be created explicitly. To express '{name}' as a "
                             "function of another Tensor, compute the value in the forward() method.")
        self._parameters[name] = param

    def add_module(self, name: str, module: Module | None) -> None:
        if module is not None and not isinstance(module, Module):
            raise TypeError(f"{_typename(module)} is not a Module subclass")
        _check_member_name("module", name, self._modules, self)
        self._modules[name] = module

    register_module = add_module

    def get_submodule(self, target: str) -> Module:
        module = self
        for item in target.split(".") if target else ():
            if not hasattr(module, item):
                raise AttributeError(f"{type(module).__name__} has no attribute `{item}`")
            module = getattr(module, item)
            if not isinstance(module, Module):
                raise AttributeError(f"`{item}` is not an nn.Module")
        return module

    def _get_member(self, target: str, registry: str, kind: str):
        path, _, name = target.rpartition(".")
        module = self.get_submodule(path)
        if not hasattr(module, name):
            raise AttributeError(f"{type(module).__name__} has no attribute `{name}`")
        if name not in getattr(module, registry):
            raise AttributeError(f"`{name}` is not {kind}")
        return getattr(module, name)

    def get_parameter(self, target: str) -> Parameter:
        return self._get_member(target, "_parameters", "an nn.Parameter")

    def get_buffer(self, target: str) -> Tensor:
        return self._get_member(target, "_buffers", "a buffer")

    # ---------------------------------------------------------------- calling
    def forward(self, *args, **kwargs):
        raise NotImplementedError(f"Module [{type(self).__name__}] is missing the required \"forward\" function")

    def __call__(self, *args, **kwargs):
        if not (self._forward_pre_hooks or self._backward_hooks or self._forward_hooks):
            return self.forward(*args, **kwargs)  # the common case, without copying hook lists
        for hook in list(self._forward_pre_hooks.values()):
            changed = hook(self, args)
            if changed is not None:
                args = changed if isinstance(changed, tuple) else (changed,)
        watch = _backward_hooks.Watch(self, args) if self._backward_hooks else None
        if watch is not None:
            args = watch.inputs
        output = self.forward(*args, **kwargs)
        for hook in list(self._forward_hooks.values()):
            changed = hook(self, args, output)
            if changed is not None:
                output = changed
        return output if watch is None else watch.outputs(output)

    def _add_hook(self, registry: str, hook) -> RemovableHandle:
        return add_hook(getattr(self, registry), hook)

    def register_forward_hook(self, hook) -> RemovableHandle:
        return self._add_hook("_forward_hooks", hook)

    def register_forward_pre_hook(self, hook) -> RemovableHandle:
        return self._add_hook("_forward_pre_hooks", hook)

    def register_full_backward_hook(self, hook) -> RemovableHandle:
        """``hook(module, grad_input, grad_output)`` runs when the gradients with respect to
        the module's inputs are computed; returning a tuple replaces ``grad_input``."""
        return self._add_hook("_backward_hooks", hook)

    # runtime's module hooks always see the module's own inputs and outputs, as full hooks do.
    register_backward_hook = register_full_backward_hook

    # ---------------------------------------------------------------- modes
    def train(self, mode: bool = True) -> Module:
        """Set training mode here and in every submodule.  Grad mode is not touched."""
        if not isinstance(mode, bool):
            raise ValueError("training mode is expected to be boolean")
        self.training = mode
        for module in self.children():
            module.train(mode)
        return self

    def eval(self) -> Module:
        return self.train(False)

    def requires_grad_(self, requires_grad: bool = True) -> Module:
        for parameter in self.parameters():
            parameter.requires_grad_(requires_grad)
        return self

    def zero_grad(self, set_to_none: bool = True) -> None:
        for parameter in self.parameters():
            if parameter.grad is not None:
                if set_to_none:
                    parameter.grad = None
                else:
                    parameter.grad.zero_()

    # ---------------------------------------------------------------- conversion
    def _apply(self, function, recurse: bool = True) -> Module:
        """Convert every parameter, gradient and buffer with ``function``.  Parameters stay
        the same objects (their ``.data`` is replaced), as in PyTorch."""
        if recurse:
            for module in self.children():
                module._apply(function)
        for parameter in self._parameters.values():
            if parameter is None:
                continue
            with no_grad():
                parameter.data = function(parameter)
                if parameter.grad is not None:
                    parameter.grad.data = function(parameter.grad)
        for name, buffer in self._buffers.items():
            if buffer is not None:
                self._buffers[name] = function(buffer)
        return self

    def to(self, *args, **kwargs) -> Module:
        device, dtype = _parse_to(*args, **kwargs)
        if dtype is not None and not dtype.is_floating_point:
            raise TypeError("nn.Module.to only accepts floating point or complex dtypes, but got "
                            f"desired dtype={dtype}")
        return self._apply(lambda t: t.to(device, dtype if t.is_floating_point() else None))

    def float(self) -> Module:
        return self._apply(lambda t: t.float() if t.is_floating_point() else t)

    def double(self) -> Module:
        return self._apply(lambda t: t.double() if t.is_floating_point() else t)

    def cpu(self) -> Module:
        return self

    def cuda(self, device=None) -> Module:
        return self._apply(lambda t: t.cuda(device))

    # ---------------------------------------------------------------- traversal
    def named_modules(self, memo=None, prefix: str = "", remove_duplicate: bool = True):
        memo = set() if memo is None else memo
        if id(self) in memo:
            return
        if remove_duplicate:
            memo.add(id(self))
        yield prefix, self
        for name, module in self._modules.items():
            if module is not None:
                yield from module.named_modules(memo, f"{prefix}.{name}" if prefix else name,
                                                remove_duplicate)

    def modules(self):
        return (module for _, module in self.named_modules())

    def named_children(self):
        seen = set()  # a module registered under two names is listed once, as in PyTorch
        for name, module in self._modules.items():
            if module is not None and id(module) not in seen:
                seen.add(id(module))
                yield name, module

    def children(self):
        return (module for _, module in self.named_children())

    def _named_members(self, registry: str, prefix: str, recurse: bool, remove_duplicate: bool):
        seen = set()
        modules = (self.named_modules(prefix=prefix, remove_duplicate=remove_duplicate)
                   if recurse else [(prefix, self)])
        for module_prefix, module in modules:
            for name, value in getattr(module, registry).items():
                if value is None or id(value) in seen:
                    continue
                if remove_duplicate:
                    seen.add(id(value))
                yield (f"{module_prefix}.{name}" if module_prefix else name), value

    def named_parameters(self, prefix: str = "", recurse: bool = True, remove_duplicate: bool = True):
        return self._named_members("_parameters", prefix, recurse, remove_duplicate)

    def parameters(self, recurse: bool = True):
        return (p for _, p in self.named_parameters(recurse=recurse))

    def named_buffers(self, prefix: str = "", recurse: bool = True, remove_duplicate: bool = True):
        return self._named_members("_buffers", prefix, recurse, remove_duplicate)

    def buffers(self, recurse: bool = True):
        return (b for _, b in self.named_buffers(recurse=recurse))

    def apply(self, function) -> Module:
        for module in self.children():
            module.apply(function)
        function(self)
        return self

    # ---------------------------------------------------------------- state
    def state_dict(self, destination=None, prefix: str = "", keep_vars: bool = False) -> OrderedDict:
        # Recurses through every child, as PyTorch does: a module registered twice (shared
        # weights) appears under both names, unlike in named_parameters().
        state = OrderedDict() if destination is None else destination
        skip = self._non_persistent_buffers_set
        for registry in ("_parameters", "_buffers"):
            for name, value in getattr(self, registry).items():
                if value is not None and not (registry == "_buffers" and name in skip):
                    state[prefix + name] = value if keep_vars else value.detach()
        for name, module in self._modules.items():
            if module is not None:
                module.state_dict(state, prefix + name + ".", keep_vars)
        return state

    def load_state_dict(self, state_dict, strict: bool = True):
        own = self.state_dict()
        missing = [k for k in own if k not in state_dict]
        unexpected = [k for k in state_dict if k not in own]
        if strict and (missing or unexpected):
            problems = []
            if missing:
                problems.append("Missing key(s) in state_dict: " + ", ".join(f'"{k}"' for k in missing) + ". ")
            if unexpected:
                problems.append("Unexpected key(s) in state_dict: " + ", ".join(f'"{k}"' for k in unexpected) + ". ")
            raise RuntimeError(f"Error(s) in loading state_dict for {type(self).__name__}:\n\t"
                               + "\n\t".join(problems))
        with no_grad():
            for key, value in state_dict.items():
                if key in own:
                    own[key].copy_(value)
        return _IncompatibleKeys(missing, unexpected)

    # ---------------------------------------------------------------- printing
    def extra_repr(self) -> str:
        return ""

    def __repr__(self) -> str:
        extra = self.extra_repr().split("\n") if self.extra_repr() else []
        children = [f"({name}): " + repr(module).replace("\n", "\n  ")
                    for name, module in self._modules.items()]
        if not children and len(extra) <= 1:
            return f"{type(self).__name__}({''.join(extra)})"
        return f"{type(self).__name__}(\n  " + "\n  ".join(extra + children) + "\n)"


def _parse_to(*args, **kwargs):
    """(device, dtype) from the arguments of ``Module.to``, with PyTorch's overloads:
    ``to(device=None, dtype=None, non_blocking=False)``, ``to(dtype, non_blocking=False)``,
    ``to(tensor, non_blocking=False)``."""
    unknown = sorted(set(kwargs) - {"device", "dtype", "non_blocking", "memory_format", "copy"})
    if unknown:
        raise TypeError(f"to() got an unexpected keyword argument '{unknown[0]}'")
    if "copy" in kwargs:
        raise RuntimeError(".to() does not accept copy argument")
    device, dtype = kwargs.get("device"), kwargs.get("dtype")
    rest = list(args)
    if rest and isinstance(rest[0], Tensor):
        other = rest.pop(0)
        device, dtype = other.device, other.dtype
    elif rest and isinstance(rest[0], dtypes.dtype):
        dtype = rest.pop(0)
    elif rest and (rest[0] is None or isinstance(rest[0], (str, device_type))):
        device = rest.pop(0)
        if rest and (rest[0] is None or isinstance(rest[0], dtypes.dtype)):
            dtype = rest.pop(0)
        elif rest:  # the second positional argument of this overload is the dtype
            rest.insert(0, None)
    if rest and isinstance(rest[0], bool):
        rest.pop(0)  # non_blocking: meaningless on the CPU
    if rest:
        got = ", ".join(type(arg).__name__ for arg in args)
        raise TypeError(f"to() received an invalid combination of arguments - got ({got})")
    return (None if device is None else device_type(device)), dtype


class _IncompatibleKeys(tuple):
    def __new__(cls, missing, unexpected):
        return super().__new__(cls, (missing, unexpected))

    missing_keys = property(lambda self: self[0])
    unexpected_keys = property(lambda self: self[1])

    def __repr__(self) -> str:
        if not self[0] and not self[1]:
            return "<All keys matched successfully>"
        return f"_IncompatibleKeys(missing_keys={self[0]}, unexpected_keys={self[1]})"


# ------------------------------------------------------------------------------ layers


def _weight_and_bias(module: Module, shape: tuple[int, ...], bias: bool, dtype) -> None:
    """An affine layer's parameters, ``weight`` of ``shape`` and ``bias`` of ``shape[0]`` (or
    registered as None), initialised by the layer's ``reset_parameters``."""
    chosen = (dtype or dtypes.float32).numpy
    module.weight = Parameter(Tensor._wrap(np.empty(shape, dtype=chosen)))
    if bias:
        module.bias = Parameter(Tensor._wrap(np.empty(shape[0], dtype=chosen)))
    else:
        module.register_parameter("bias", None)
    module.reset_parameters()


def _reset_weight_and_bias(module: Module, fan_in: int) -> None:
    # PyTorch's default: kaiming_uniform_(a=sqrt(5)) = U(-1/sqrt(fan_in), 1/sqrt(fan_in))
    init.kaiming_uniform_(module.weight, a=math.sqrt(5))
    if module.bias is not None:
        bound = 1 / math.sqrt(fan_in) if fan_in else 0
        init.uniform_(module.bias, -bound, bound)


class Linear(Module):
    def __init__(self, in_features: int, out_features: int, bias: bool = True, dtype=None) -> None:
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        _weight_and_bias(self, (out_features, in_features), bias, dtype)

    def reset_parameters(self) -> None:
        _reset_weight_and_bias(self, self.in_features)

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        parameters = self._parameters
        if "weight" in parameters and "bias" in parameters:
            # From the registry: ``self.weight`` reaches Module.__getattr__ only after Python's
            # own lookup has failed, which costs more than the rest of this call on small
            # inputs.  (Replaced by plain attributes, as pruning does, they are looked up.)
            return F.linear(input, parameters["weight"], parameters["bias"])
        return F.linear(input, self.weight, self.bias)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"


PADDING_MODES = ("zeros", "reflect", "replicate", "circular")


class Conv2d(Module):
    """2-d convolution: weight (out_channels, in_channels / groups, kh, kw), as PyTorch's."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0,
                 dilation=1, groups: int = 1, bias: bool = True, padding_mode: str = "zeros",
                 device=None, dtype=None) -> None:
        super().__init__()
        if groups <= 0:
            raise ValueError("groups must be a positive integer")
        if in_channels % groups != 0:
            raise ValueError("in_channels must be divisible by groups")
        if out_channels % groups != 0:
            raise ValueError("out_channels must be divisible by groups")
        if isinstance(padding, str):
            if padding not in ("valid", "same"):
                raise ValueError(f"Invalid padding string {padding!r}, should be one of "
                                 f"{ {'valid', 'same'} }")
            if padding == "same" and any(s != 1 for s in F.pair(stride)):
                raise ValueError("padding='same' is not supported for strided convolutions")
        if padding_mode not in PADDING_MODES:
            raise ValueError(f"padding_mode must be one of {set(PADDING_MODES)}, but got "
                             f"padding_mode={padding_mode!r}")
        self.in_channels, self.out_channels, self.groups = in_channels, out_channels, groups
        self.kernel_size, self.stride = F.pair(kernel_size), F.pair(stride)
        self.padding = padding if isinstance(padding, str) else F.pair(padding)
        self.dilation, self.padding_mode = F.pair(dilation), padding_mode
        _weight_and_bias(self, (out_channels, in_channels // groups, *self.kernel_size), bias,
                         dtype)

    def reset_parameters(self) -> None:
        _reset_weight_and_bias(self, self.weight[0].numel())  # in_channels / groups * kh * kw

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        if self.padding_mode == "zeros":
            return F.conv2d(input, self.weight, self.bias, self.stride, self.padding,
                            self.dilation, self.groups)
        (top, bottom), (left, right) = F.conv_padding(self.padding, self.kernel_size,
                                                      self.dilation, self.stride)
        padded = F.pad(input, (left, right, top, bottom), mode=self.padding_mode)
        return F.conv2d(padded, self.weight, self.bias, self.stride, 0, self.dilation,
                        self.groups)

    def extra_repr(self) -> str:
        text = (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}")
        if self.padding != (0, 0):
            text += f", padding={self.padding}"
        if self.dilation != (1, 1):
            text += f", dilation={self.dilation}"
        if self.groups != 1:
            text += f", groups={self.groups}"
        if self.bias is None:
            text += ", bias=False"
        if self.padding_mode != "zeros":
            text += f", padding_mode={self.padding_mode}"
        return text


class _Activation(Module):
    function = None

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        return type(self).function(input)


class ReLU(_Activation):
    function = staticmethod(F.relu)

    def __init__(self, inplace: bool = False) -> None:
        super().__init__()
        self.inplace = inplace

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        return F.relu(input, inplace=self.inplace)

    def extra_repr(self) -> str:
        return "inplace=True" if self.inplace else ""


class Sigmoid(_Activation):
    function = staticmethod(F.sigmoid)


class Tanh(_Activation):
    function = staticmethod(F.tanh)


class GELU(Module):
    def __init__(self, approximate: str = "none") -> None:
        super().__init__()
        self.approximate = approximate

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        return F.gelu(input, approximate=self.approximate)

    def extra_repr(self) -> str:
        return f"approximate={self.approximate!r}"


class Identity(Module):
    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        return input


class Softmax(Module):
    def __init__(self, dim: int = -1) -> None:
        super().__init__()
        self.dim = dim

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        return input.softmax(self.dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class LogSoftmax(Softmax):
    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        return input.log_softmax(self.dim)


def _absolute_index(index, size: int) -> int:
    index = operator.index(index)
    if not -size <= index < size:
        raise IndexError(f"index {index} is out of range")
    return index % size


class Sequential(Module):
    def __init__(self, *args) -> None:
        super().__init__()
        if len(args) == 1 and isinstance(args[0], OrderedDict):
            for name, module in args[0].items():
                self.add_module(name, module)
        else:
            for index, module in enumerate(args):
                self.add_module(str(index), module)

    def _key(self, index) -> str:
        return list(self._modules)[_absolute_index(index, len(self))]

    def __getitem__(self, index):
        if isinstance(index, slice):
            return type(self)(OrderedDict(list(self._modules.items())[index]))
        return self._modules[self._key(index)]

    def __setitem__(self, index, module: Module) -> None:
        setattr(self, self._key(index), module)

    def __delitem__(self, index) -> None:
        keys = list(self._modules)[index] if isinstance(index, slice) else [self._key(index)]
        for key in keys:
            delattr(self, key)
        # renumber what is left "0", "1"..., as PyTorch does
        modules = list(self._modules.values())
        self._modules.clear()
        self._modules.update((str(i), module) for i, module in enumerate(modules))

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())

    def __add__(self, other: Sequential) -> Sequential:
        if not isinstance(other, Sequential):
            raise ValueError("add operator supports only objects of Sequential class, but "
                             f"{type(other)} is given.")
        return Sequential(*self, *other)

    def __iadd__(self, other: Sequential) -> Sequential:
        if not isinstance(other, Sequential):
            raise ValueError("add operator supports only objects of Sequential class, but "
                             f"{type(other)} is given.")
        for module in list(other):
            self.append(module)
        return self

    def __mul__(self, other: int) -> Sequential:
        self._check_factor(other)
        return Sequential(*(list(self) * other))

    __rmul__ = __mul__

    def __imul__(self, other: int) -> Sequential:
        self._check_factor(other)
        for module in list(self) * (other - 1):
            self.append(module)
        return self

    def _check_factor(self, other) -> None:
        if not isinstance(other, int):
            raise TypeError(f"unsupported operand type(s) for *: {type(self)} and {type(other)}")
        if other <= 0:
            raise ValueError(f"Non-positive multiplication factor {other} for {type(self)}")

    def append(self, module: Module) -> Sequential:
        self.add_module(str(len(self)), module)
        return self

    def extend(self, sequential) -> Sequential:
        for module in sequential:
            self.append(module)
        return self

    def insert(self, index: int, module: Module) -> Sequential:
        if not isinstance(module, Module):
            raise AssertionError(f"module should be of type: {Module}")
        count = len(self._modules)
        if not -count <= index <= count:
            raise IndexError(f"Index out of range: {index}")
        modules = list(self._modules.values())
        modules.insert(index + count if index < 0 else index, module)
        self._modules.clear()
        self._modules.update((str(i), m) for i, m in enumerate(modules))
        return self

    def pop(self, key):
        module = self[key]
        del self[key]
        return module

    def forward(self, input):  # noqa: A002
        for module in self._modules.values():
            input = module(input)
        return input


class ModuleList(Module):
    """Submodules held in a list, registered as "0", "1"...; renumbered after a deletion."""

    def __init__(self, modules=()) -> None:
        super().__init__()
        self.extend(modules)

    def append(self, module: Module) -> ModuleList:
        self.add_module(str(len(self._modules)), module)
        return self

    def extend(self, modules) -> ModuleList:
        if not isinstance(modules, Iterable):
            raise TypeError("ModuleList.extend should be called with an iterable, but got "
                            + type(modules).__name__)
        for module in modules:
            self.append(module)
        return self

    __iadd__ = extend

    def __add__(self, other) -> ModuleList:
        return ModuleList([*self, *other])

    def insert(self, index: int, module: Module) -> None:
        modules = list(self._modules.values())
        modules.insert(index, module)
        self._renumber(modules)

    def pop(self, key):
        module = self[key]
        del self[key]
        return module

    def _renumber(self, modules: list) -> None:
        self._modules = OrderedDict((str(i), module) for i, module in enumerate(modules))

    def __getitem__(self, index):
        if isinstance(index, slice):
            return ModuleList(list(self._modules.values())[index])
        return self._modules[str(_absolute_index(index, len(self)))]

    def __setitem__(self, index, module: Module) -> None:
        setattr(self, str(_absolute_index(index, len(self))), module)

    def __delitem__(self, index) -> None:
        modules = list(self._modules.values())
        if isinstance(index, slice):
            del modules[index]
        else:
            del modules[_absolute_index(index, len(modules))]
        self._renumber(modules)

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())


class ParameterList(Module):
    """Parameters held in a list, registered as "0", "1"...; tensors are made Parameters."""

    def __init__(self, values=None) -> None:
        super().__init__()
        self._size = 0
        if values is not None:
            self.extend(values)

    def __getitem__(self, index):
        if isinstance(index, slice):
            return ParameterList([self[i] for i in range(len(self))[index]])
        return getattr(self, str(_absolute_index(index, len(self))))

    def __setitem__(self, index, value) -> None:
        if isinstance(value, Tensor) and not isinstance(value, Parameter):
            value = Parameter(value)
        setattr(self, str(_absolute_index(index, len(self))), value)

    def __len__(self) -> int:
        return self._size

    def __iter__(self):
        return (self[i] for i in range(len(self)))

    def append(self, value) -> ParameterList:
        self._size += 1
        self[self._size - 1] = value
        return self

    def extend(self, values) -> ParameterList:
        if isinstance(values, Tensor) or not hasattr(values, "__iter__"):
            raise TypeError("ParameterList.extend should be called with an iterable, but got "
                            + type(values).__name__)
        for value in values:
            self.append(value)
        return self

    def __iadd__(self, values) -> ParameterList:
        return self.extend(values)

    def extra_repr(self) -> str:
        lines = []
        for index, value in enumerate(self):
            if isinstance(value, Tensor):
                size = "x".join(str(n) for n in value.shape)
                kind = "Parameter" if isinstance(value, Parameter) else "Tensor"
                lines.append(f"  ({index}): {kind} containing: [{value.dtype} of size {size}]")
            else:
                lines.append(f"  ({index}): Object of type: {type(value).__name__}")
        return "\n".join(lines)


class Dropout(Module):
    """Zeroes elements with probability ``p`` and scales the rest by 1/(1-p) in training mode;
    the identity in evaluation mode."""

    def __init__(self, p: float = 0.5, inplace: bool = False) -> None:
        super().__init__()
        F.check_probability(p)
        self.p, self.inplace = p, inplace

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        return F.dropout(input, self.p, self.training, self.inplace)

    def extra_repr(self) -> str:
        return f"p={self.p}, inplace={self.inplace}"


class _ChannelDropout(Dropout):
    """Zeroes whole channels: dimension 1 of a batch, 0 of an unbatched input."""

    spatial_dims = 0

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        if not self.training or self.p == 0:
            return input
        kept = input.shape[:input.dim() - self.spatial_dims]
        mask = (default_generator.uniform(0, 1, kept) >= self.p) / (1 - self.p) if self.p < 1 \
            else np.zeros(kept)
        mask = Tensor._wrap(mask.reshape(kept + (1,) * self.spatial_dims).astype(input._data.dtype))
        return input.mul_(mask) if self.inplace else input * mask


class Dropout1d(_ChannelDropout):
    spatial_dims = 1


class Dropout2d(_ChannelDropout):
    spatial_dims = 2


class Dropout3d(_ChannelDropout):
    spatial_dims = 3


class BatchNorm1d(Module):
    """Normalises with batch statistics in training mode -- and then updates the running
    statistics, even under no_grad -- and with the frozen running statistics in eval mode."""

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1,
                 affine: bool = True, track_running_stats: bool = True, device=None, dtype=None,
                 *, bias: bool = True) -> None:
        super().__init__()
        self.num_features, self.eps, self.momentum = num_features, eps, momentum
        self.affine, self.track_running_stats = affine, track_running_stats
        chosen = (dtype or dtypes.float32).numpy
        self.weight = Parameter(Tensor._wrap(np.ones(num_features, dtype=chosen))) if affine else None
        self.bias = Parameter(Tensor._wrap(np.zeros(num_features, dtype=chosen))) if affine and bias else None
        if track_running_stats:
            self.register_buffer("running_mean", Tensor._wrap(np.zeros(num_features, dtype=chosen)))
            self.register_buffer("running_var", Tensor._wrap(np.ones(num_features, dtype=chosen)))
            self.register_buffer("num_batches_tracked", Tensor._wrap(np.asarray(0, dtype=np.int64)))

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        if input.dim() not in (2, 3):
            raise ValueError(f"expected 2D or 3D input (got {input.dim()}D input)")
        use_batch = self.training or not self.track_running_stats
        momentum = self.momentum
        if self.training and self.track_running_stats:
            self.num_batches_tracked._write(self.num_batches_tracked._data + 1)
            if momentum is None:  # cumulative moving average
                momentum = 1.0 / float(self.num_batches_tracked._data)
        running_mean = self.running_mean if self.track_running_stats else None
        running_var = self.running_var if self.track_running_stats else None
        return F.batch_norm(input, running_mean, running_var, self.weight, self.bias,
                            use_batch, momentum, self.eps)

    def extra_repr(self) -> str:
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, "
                f"affine={self.affine}, bias={self.bias is not None}, "
                f"track_running_stats={self.track_running_stats}")


class Embedding(Module):
    """A lookup table; the row ``padding_idx`` starts at zero and never gets a gradient."""

    def __init__(self, num_embeddings: int, embedding_dim: int, padding_idx: int | None = None,
                 max_norm=None, norm_type: float = 2.0, scale_grad_by_freq: bool = False,
                 sparse: bool = False, _weight=None, _freeze: bool = False, device=None,
                 dtype=None) -> None:
        super().__init__()
        self.num_embeddings, self.embedding_dim = num_embeddings, embedding_dim
        if padding_idx is not None:
            if padding_idx > 0 and padding_idx >= num_embeddings:
                raise AssertionError("Padding_idx must be within num_embeddings")
            if padding_idx < 0:
                if padding_idx < -num_embeddings:
                    raise AssertionError("Padding_idx must be within num_embeddings")
                padding_idx += num_embeddings
        self.padding_idx = padding_idx
        chosen = (dtype or dtypes.float32).numpy
        if _weight is None:
            self.weight = Parameter(Tensor._wrap(np.empty((num_embeddings, embedding_dim), dtype=chosen)),
                                    requires_grad=not _freeze)
            init.normal_(self.weight)
            if padding_idx is not None:
                with no_grad():
                    self.weight[padding_idx].fill_(0)
        else:
            self.weight = Parameter(_weight, requires_grad=not _freeze)

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        output = F.embedding(input, self.weight)
        if self.padding_idx is not None and output.requires_grad:
            padding = (input._data == self.padding_idx)[..., None]
            output.register_hook(lambda grad: grad * Tensor._wrap(~padding))
        return output

    def extra_repr(self) -> str:
        text = f"{self.num_embeddings}, {self.embedding_dim}"
        return text + (f", padding_idx={self.padding_idx}" if self.padding_idx is not None else "")


class _Loss(Module):
    function = None

    def __init__(self, size_average=None, reduce=None, reduction: str = "mean") -> None:
        super().__init__()
        self.reduction = reduction

    def forward(self, input: Tensor, target: Tensor) -> Tensor:  # noqa: A002
        return type(self).function(input, target, reduction=self.reduction)


class MSELoss(_Loss):
    function = staticmethod(F.mse_loss)


class L1Loss(_Loss):
    function = staticmethod(F.l1_loss)


def _class_losses(log_probs: Tensor, target: Tensor, weight, ignore_index: int, reduction: str,
                  label_smoothing: float) -> Tensor:
    """Cross entropy from log-probabilities (N, C) or (C,) and class indices, with class
    weights and label smoothing, composed as PyTorch defines it: the mean is weighted by the
    targets' class weights, and smoothing mixes in the (weighted) loss of every class."""
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"{reduction} is not a valid value for reduction")
    unbatched = log_probs.dim() == 1
    if unbatched:
        log_probs, target = log_probs.unsqueeze(0), target.reshape(1)
    classes = log_probs.shape[1]
    valid = target._data != ignore_index
    safe = np.where(valid, target._data, 0)
    class_weight = np.ones(classes) if weight is None else weight.detach()._data
    sample_weight = Tensor._wrap((class_weight[safe] * valid).astype(log_probs._data.dtype))
    picked = log_probs.gather(1, Tensor._wrap(safe.reshape(-1, 1))).squeeze(1)
    losses = -(picked * sample_weight)
    normaliser = float(sample_weight._data.sum())
    if label_smoothing:
        every_class = Tensor._wrap(class_weight.astype(log_probs._data.dtype))
        smooth = -(log_probs * every_class).sum(1) * Tensor._wrap(valid.astype(log_probs._data.dtype))
        smooth_normaliser = normaliser if weight is not None else float(valid.sum())
        if reduction == "mean":
            return ((1 - label_smoothing) * losses.sum() / normaliser
                    + smooth.sum() / smooth_normaliser * (label_smoothing / classes))
        losses = (1 - label_smoothing) * losses + smooth * (label_smoothing / classes)
    if reduction == "mean":
        return losses.sum() / normaliser
    if reduction == "sum":
        return losses.sum()
    return losses.squeeze(0) if unbatched else losses


class NLLLoss(_Loss):
    def __init__(self, weight: Tensor | None = None, size_average=None, ignore_index: int = -100,
                 reduce=None, reduction: str = "mean") -> None:
        super().__init__(reduction=reduction)
        self.register_buffer("weight", weight)
        self.ignore_index = ignore_index

    def forward(self, input: Tensor, target: Tensor) -> Tensor:  # noqa: A002
        if self.weight is None:
            return F.nll_loss(input, target, self.reduction, self.ignore_index)
        return _class_losses(input, target, self.weight, self.ignore_index, self.reduction, 0.0)


class CrossEntropyLoss(NLLLoss):
    def __init__(self, weight: Tensor | None = None, size_average=None, ignore_index: int = -100,
                 reduce=None, reduction: str = "mean", label_smoothing: float = 0.0) -> None:
        super().__init__(weight, ignore_index=ignore_index, reduction=reduction)
        self.label_smoothing = label_smoothing

    def forward(self, input: Tensor, target: Tensor) -> Tensor:  # noqa: A002
        if self.weight is None and not self.label_smoothing:
            return F.cross_entropy(input, target, self.reduction, self.ignore_index)
        log_probs = input.log_softmax(-1 if input.dim() == 1 else 1)
        return _class_losses(log_probs, target, self.weight, self.ignore_index, self.reduction,
                             self.label_smoothing)


class BCEWithLogitsLoss(_Loss):
    function = staticmethod(F.binary_cross_entropy_with_logits)
