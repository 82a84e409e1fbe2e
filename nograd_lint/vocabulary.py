"""The names the analyses go by: torch's grad-mode APIs, words that say "evaluation" or "model",
in-place method names.

Shared by the libcst analyses and by the syntax-tree screen (``screen/``), which must agree
on them to stay sound; nothing here imports libcst, so a run that screens out every file never
loads it.
"""

from __future__ import annotations

import enum
import functools
import re
from collections.abc import Mapping

NO_GRAD = frozenset({"torch.no_grad", "torch.autograd.no_grad", "torch.autograd.grad_mode.no_grad"})
ENABLE_GRAD = frozenset({"torch.enable_grad", "torch.autograd.enable_grad",
                         "torch.autograd.grad_mode.enable_grad"})
INFERENCE_MODE = frozenset({"torch.inference_mode", "torch.autograd.inference_mode",
                            "torch.autograd.grad_mode.inference_mode"})
SET_GRAD_ENABLED = frozenset({"torch.set_grad_enabled", "torch.autograd.set_grad_enabled",
                              "torch.autograd.grad_mode.set_grad_enabled"})
GRAD_MODE_APIS = NO_GRAD | ENABLE_GRAD | INFERENCE_MODE | SET_GRAD_ENABLED
#: The last part of every name in GRAD_MODE_APIS.
GRAD_MODE_NAMES = frozenset(name.rsplit(".", 1)[-1] for name in GRAD_MODE_APIS)
AUTOGRAD_GRAD = frozenset({"torch.autograd.grad"})
BACKWARD_FUNCTIONS = frozenset({"torch.autograd.backward", "torch.autograd.grad"})
PARAMETER = frozenset({"torch.nn.Parameter", "torch.nn.parameter.Parameter"})
VARIABLE = frozenset({"torch.autograd.Variable", "torch.autograd.variable.Variable"})
# Text without which no grad leaf can exist in a file (NG201/NG203's trigger strings).
LEAF_EVIDENCE = ("requires_grad", "Parameter", "parameters(", "param_groups", ".weight",
                 ".bias", "modules(", "children(")
WEIGHTS = frozenset({"weight", "bias"})
# Classes under ``torch.nn`` that are no modules: a parameter, its containers, a buffer.
_NOT_MODULES = frozenset({"Parameter", "UninitializedParameter", "UninitializedBuffer",
                          "ParameterList", "ParameterDict", "Buffer"})
#: Functions that make a whole model (a module): ``timm.create_model``, ``torchvision.models.*``.
MODEL_FACTORIES = frozenset({"timm.create_model", "timm.models.create_model",
                             "timm.models._factory.create_model"})
MODEL_FACTORY_MODULES = ("torchvision.models.",)
#: Methods that make or return a module whatever their receiver (``X.from_pretrained``), and
#: module methods that return one of its layers (``model.get_classifier()``).
MODULE_METHODS = frozenset({"from_pretrained", "get_classifier", "get_submodule"})
#: Module methods that return the module itself.
MODULE_SELF_METHODS = frozenset({"to", "cuda", "cpu", "float", "double", "half", "bfloat16",
                                 "type", "train", "eval", "apply"})
DEEPCOPY = frozenset({"copy.deepcopy"})
#: Tensor methods that return the tensor itself when it already has their dtype.
DTYPE_CASTS = frozenset({"float", "double", "half", "bfloat16"})
PARTIAL = frozenset({"functools.partial"})



class Grad(enum.Enum):
    """Gradient recording at a point of the program.  ``MANAGED``: the program decides at run
    time (``set_grad_enabled(phase == "train")``, a context manager of its own)."""

    ENABLED = "enabled"
    DISABLED = "disabled"
    MANAGED = "managed"


def meet(states) -> Grad:
    """The grad mode of code reached from all of ``states``: disabled only if all are,
    enabled if any is.  (Compared by identity: an Enum member hashes in Python, and the
    project index meets hundreds of thousands of states.)"""
    worst = Grad.DISABLED
    for state in states:
        if state is Grad.ENABLED:
            return state
        if state is Grad.MANAGED:
            worst = state
    return worst


class Callers(dict):
    """What the project index says about a module's functions (by qualified name: ``f``,
    ``Model.step``): the grad mode of their call sites in other files; and in
    ``parameters``, per function, the parameters that some call site in another file, where
    gradients are on, binds to a leaf that requires grad (``"leaf"``) or an iterable of
    such (``"params"``): ``{"init_": {"tensor": frozenset({"leaf"})}}``."""

    def __init__(self, grad: Mapping[str, Grad] = {},
                 parameters: Mapping[str, Mapping[str, frozenset[str]]] = {}) -> None:
        super().__init__(grad)
        self.parameters = parameters


def bound_parameters(callers: Mapping[str, Grad]) -> Mapping[str, Mapping[str, frozenset[str]]]:
    """``callers.parameters`` (see Callers), or nothing known of them."""
    return getattr(callers, "parameters", {})


#: ``flag`` of :func:`grad_api_effect` when the call has no ``mode`` argument.
NO_FLAG = object()


def grad_api_effect(qualified: str | None, called: bool, flag=NO_FLAG) -> Grad | None:
    """What entering ``with <api>:`` (or decorating with it) does, for a torch grad-mode API
    ``qualified`` (None for anything else): ``called`` says whether it is called, ``flag`` is
    the constant ``mode`` argument (True/False), None when it is not a constant, or NO_FLAG."""
    if qualified in NO_GRAD:
        return Grad.DISABLED
    if qualified in ENABLE_GRAD:
        return Grad.ENABLED
    if qualified not in INFERENCE_MODE and qualified not in SET_GRAD_ENABLED:
        return None
    inference = qualified in INFERENCE_MODE
    if not called:
        return Grad.DISABLED if inference else None
    if flag is NO_FLAG:
        return Grad.DISABLED if inference else Grad.MANAGED
    if flag is None:
        return Grad.MANAGED
    return Grad.ENABLED if (flag if not inference else not flag) else Grad.DISABLED


# Context managers from elsewhere whose name says they switch grad mode (e.g. a project's
# ``evaluating(model)`` helper): treated as managed rather than guessed at.
MANAGER_NAME = re.compile(r"no_?grad|grad_?mode|inference|evaluating|eval_?mode|frozen|freeze",
                          re.IGNORECASE)

_WORD = re.compile(r"[A-Z]?[a-z0-9]+|[A-Z]+(?![a-z])")
EVAL_FUNCTION_WORDS = frozenset({
    "evaluate", "evaluation", "eval", "validate", "validation", "val", "test", "predict",
    "prediction", "infer", "inference", "score", "generate",
})
EVAL_DATA_WORDS = frozenset({"val", "valid", "validation", "test", "testing", "eval",
                             "evaluation", "dev"})
MODEL_WORDS = frozenset({
    "model", "models", "net", "network", "encoder", "decoder", "backbone", "classifier",
    "generator", "discriminator", "critic", "actor", "unet", "transformer", "mlp", "cnn",
    "rnn", "lstm", "gru", "teacher", "student",
})
# ``LightningModule``: a class named ``*Module`` is a model; a variable named ``*module`` need not
# be (``accelerator_module``).
MODEL_CLASS_WORDS = MODEL_WORDS | {"module"}
OPTIMIZER_WORDS = frozenset({"opt", "optim", "optimizer", "optimiser"})
# ``create_model(...)``, ``build_transformer(...)`` make a model; they do not run one.
# ``accelerator.unwrap_model(...)``, ``prepare_model(...)``, ``save_model(...)`` handle one.
# (``get_action(s)`` may well run one: see SETUP_WORDS.)
FACTORY_WORDS = frozenset({"create", "build", "make", "get", "load", "init", "new", "construct",
                           "instantiate", "unwrap", "wrap", "prepare", "save", "export", "freeze",
                           "unfreeze", "compile", "copy", "print", "count", "set", "setup",
                           "convert", "register", "is", "has", "reset"})
#: First words of a model's methods that set something up rather than run it
#: (``model.init_hidden(bsz)``, ``model.load_weights(path)``).
SETUP_WORDS = FACTORY_WORDS - {"get"}

# Methods that copy or move a tensor on purpose: rebinding a name to their result is intended.
COPIES = frozenset({"detach", "clone", "to", "cpu", "cuda", "float", "double", "half",
                    "bfloat16", "type", "contiguous", "numpy", "item", "tolist", "requires_grad_"})
# Methods named like in-place ops that do not write to the tensor's data.  PyTorch 2.13:
# ``detach_``, ``requires_grad_`` and ``share_memory_`` leave ``_version`` alone and are allowed
# on a leaf that requires grad; ``detach_`` and ``share_memory_`` are allowed on an inference
# tensor outside inference mode too (``requires_grad_`` is refused there, as autograd use).
NOT_INPLACE = frozenset({"requires_grad_", "share_memory_", "retain_grad", "detach_",
                         "record_stream_", "pin_memory_"})
#: Methods that return a view of their receiver: an in-place update through one writes to it.
VIEW_METHODS = frozenset({"view", "view_as", "narrow", "select", "unsqueeze", "squeeze", "t",
                          "transpose", "permute", "expand", "expand_as", "diagonal", "unflatten",
                          "as_strided", "unfold"})
# In-place updates spelled as functions (PyTorch 2.13's own lists, checked against ``dir(torch)``
# and the signatures when written; tests/lint/test_vocabulary.py checks them again where torch
# is installed).  The dropouts are left out: they write only while training, which an argument
# or the module's mode decides at run time.
#: ``torch.relu_(t)``: writes to its first argument, as ``t.relu_()`` does.
INPLACE_FUNCTIONS = frozenset({f"torch.{name}_" for name in (
    "abs", "acos", "acosh", "addmv", "arccos", "arccosh", "arcsin", "arcsinh", "arctan",
    "arctanh", "as_strided", "asin", "asinh", "atan", "atanh", "ceil", "celu", "clamp",
    "clamp_max", "clamp_min", "clip", "conj_physical", "cos", "cosh", "deg2rad", "embedding_renorm",
    "erf", "erfc", "exp2", "exp", "expm1", "fill", "fix", "floor", "frac", "gcd", "i0",
    "index_put", "lcm", "ldexp", "log10", "log1p", "log2", "log", "logit", "nan_to_num", "neg",
    "negative", "rad2deg", "reciprocal", "relu", "resize_as_sparse", "round", "rrelu", "rsqrt",
    "selu", "sigmoid", "sin", "sinc", "sinh", "sqrt", "square", "tan", "tanh", "threshold",
    "trunc", "xlogy", "zero")} | {f"torch.nn.functional.{name}_" for name in (
    "celu", "elu", "hardtanh", "leaky_relu", "relu", "rrelu", "selu", "threshold")})
#: ``torch._foreach_add_(tensors, ...)``: writes to every tensor of its first argument.
FOREACH_INPLACE_FUNCTIONS = frozenset(f"torch._foreach_{name}_" for name in (
    "abs", "acos", "add", "addcdiv", "addcmul", "asin", "atan", "ceil", "clamp_max", "clamp_min",
    "copy", "cos", "cosh", "div", "erf", "erfc", "exp", "expm1", "floor", "frac", "lerp",
    "lgamma", "log10", "log1p", "log2", "log", "maximum", "minimum", "mul", "neg", "pow",
    "reciprocal", "round", "rsqrt", "sigmoid", "sign", "sin", "sinh", "sqrt", "sub", "tan",
    "tanh", "trunc", "zero"))
#: Functions with an ``inplace`` flag that writes to their first argument, by the flag's
#: position (``F.relu(t, True)``).
INPLACE_FLAG_FUNCTIONS = {f"torch.nn.functional.{name}": position for name, position in (
    ("celu", 2), ("elu", 2), ("hardsigmoid", 1), ("hardswish", 1), ("hardtanh", 3),
    ("leaky_relu", 2), ("mish", 1), ("relu", 1), ("relu6", 1), ("rrelu", 4), ("selu", 1),
    ("silu", 1), ("threshold", 3))}
#: Layers made with an ``inplace`` flag (by its position among the constructor's arguments)
#: that write to their input when called: ``nn.ReLU(inplace=True)(t)``.
INPLACE_FLAG_LAYERS = {f"torch.nn.{name}": position for name, position in (
    ("CELU", 1), ("ELU", 1), ("Hardsigmoid", 0), ("Hardswish", 0), ("Hardtanh", 2),
    ("LeakyReLU", 1), ("Mish", 0), ("RReLU", 2), ("ReLU", 0), ("ReLU6", 0), ("SELU", 0),
    ("SiLU", 0), ("Threshold", 2))}
#: The last part of every function name above: what the screen matches, whatever the alias.
INPLACE_FUNCTION_NAMES = frozenset(name.rsplit(".", 1)[-1] for name in (
    INPLACE_FUNCTIONS | FOREACH_INPLACE_FUNCTIONS))
#: Attributes that are the tensor itself or a view of it.
VIEW_ATTRIBUTES = frozenset({"data", "T", "mT", "H", "mH", "real", "imag"})


# ----------------------------------------------------------------------------- leaves (NG201-NG204)

#: torch factories that make a leaf when called with ``requires_grad=True``.
FACTORIES = frozenset(f"torch.{name}" for name in (
    "tensor", "as_tensor", "zeros", "ones", "empty", "full", "rand", "randn", "randint",
    "randperm", "arange", "linspace", "logspace", "eye", "normal", "zeros_like", "ones_like",
    "empty_like", "full_like", "rand_like", "randn_like", "randint_like"))
OPTIMIZERS = frozenset({"torch.optim.Optimizer", "torch.optim.optimizer.Optimizer"})
#: Tensor methods whose result is no tensor: a value read through them is not a leaf.
TENSOR_EXITS = frozenset({"item", "tolist", "numpy", "size", "dim", "numel", "data_ptr",
                          "stride", "element_size", "nelement", "is_contiguous"})
#: What gives a tensor that does not require grad.
PLAIN_RESULTS = frozenset({"detach", "data"})
# Ops whose backward needs their own output (PyTorch's derivatives.yaml ``result``).
SAVES_RESULT = frozenset({"sigmoid", "tanh", "exp", "sqrt", "rsqrt", "relu", "softmax",
                          "log_softmax", "reciprocal", "tan"})
# Unary ops whose backward needs their input.
SAVES_INPUT = frozenset({"log", "log2", "log10", "log1p", "sin", "cos", "abs", "pow",
                         "square", "erf", "clamp", "clip", "atan", "asin", "acos", "sinh",
                         "cosh", "var", "std", "norm", "max", "min", "prod"})
# Binary ops whose backward needs the *other* operand (``a * b``: d/da = b).
SAVES_OTHER = frozenset({"mul", "multiply", "matmul", "mm", "bmm", "mv", "dot"})
#: torch functions that save a tensor for backward.
SAVING_FUNCTIONS = frozenset(f"{module}.{name}" for module in ("torch", "torch.nn.functional")
                             for name in SAVES_RESULT | SAVES_INPUT | SAVES_OTHER | {"div"})
# Binary operators by libcst class name, and their augmented forms (``w = w - x`` -> ``w -= x``).
AUGMENTED = {name: f"{name}Assign" for name in (
    "Add", "Subtract", "Multiply", "Divide", "MatrixMultiply", "Power", "FloorDivide", "Modulo")}


# ----------------------------------------------------------------------------- escape (NG106)

#: Methods whose result is a Python value (or NumPy array): the tensor's use ends there.
CONVERSION_METHODS = frozenset({
    "item", "tolist", "numpy", "size", "dim", "ndimension", "numel", "nelement", "element_size",
    "is_inference", "is_floating_point", "is_complex", "is_contiguous", "equal", "allclose",
    "get_device", "data_ptr", "stride", "storage_offset", "__len__", "__bool__", "__float__",
    "__int__", "__format__", "__repr__", "__str__",
})
#: Methods with results that nothing can differentiate (comparisons, indices): safe consumers.
NONDIFFERENTIABLE_METHODS = frozenset({
    "eq", "ne", "lt", "le", "gt", "ge", "isclose", "isnan", "isinf", "isfinite", "any", "all",
    "argmax", "argmin", "argsort", "nonzero", "count_nonzero", "__eq__", "__ne__", "__lt__",
    "__le__", "__gt__", "__ge__",
})
NONDIFFERENTIABLE_FUNCTIONS = frozenset(f"torch.{name}" for name in (
    "eq", "ne", "lt", "le", "gt", "ge", "isclose", "isnan", "isinf", "isfinite", "any", "all",
    "argmax", "argmin", "argsort", "nonzero", "count_nonzero", "equal", "allclose", "is_tensor",
    "numel", "save", "is_inference", "is_floating_point",
))
#: Attributes that are metadata, not tensor data.
METADATA_ATTRIBUTES = frozenset({
    "shape", "dtype", "device", "ndim", "requires_grad", "is_leaf", "grad_fn", "is_cuda",
    "layout", "is_sparse", "is_quantized", "is_meta", "names",
})
#: Methods that may return their receiver or a view of it (so they keep its identity), besides
#: every ``*_`` method: the views, and casts and copies that return the tensor itself when
#: nothing changes.
KEEPS_IDENTITY = VIEW_METHODS | frozenset({
    "reshape", "reshape_as", "to", "cpu", "cuda", "float", "double", "half", "bfloat16", "long",
    "int", "short", "bool", "byte", "char", "type", "type_as", "contiguous", "detach",
    "flatten", "chunk", "split", "unbind", "movedim", "swapaxes", "pin_memory", "__getitem__",
})
VIEW_FUNCTIONS = frozenset(f"torch.{name}" for name in (
    "squeeze", "unsqueeze", "flatten", "reshape", "transpose", "permute", "t", "narrow", "select",
    "chunk", "split", "unbind", "as_strided", "detach", "diagonal", "movedim", "swapaxes",
))
#: Methods of a tensor whose other arguments are sizes, dims, dtypes or devices, never tensors
#: that autograd would save: a value of the block passes through them unchanged in kind.
NO_SAVE_METHODS = KEEPS_IDENTITY | frozenset({
    "clone", "sum", "mean", "max", "min", "amax", "amin", "prod", "std", "var", "norm",
    "softmax", "log_softmax", "topk", "sort", "cumsum", "abs", "exp", "log", "sqrt", "sigmoid",
    "tanh", "relu", "neg", "round", "floor", "ceil", "sign", "flip", "roll", "repeat", "tril",
    "triu", "diag", "unique", "squeeze", "items", "values", "keys", "get", "pop", "copy",
    "index", "count",
})
#: Methods that store their arguments in the receiver (a container).
STORING_METHODS = frozenset({
    "append", "extend", "insert", "appendleft", "extendleft", "setdefault", "put", "put_nowait",
    "push",
})
#: Methods that update state the block did not make: parameter updates, optimizer steps,
#: initialisation, state loading.  ``update`` on a local dict is a container store instead.
STATE_METHODS = frozenset({
    "step", "apply", "load_state_dict", "zero_grad", "update", "update_parameters",
    "reset_parameters", "register_buffer", "register_parameter",
})
#: Methods that hand a tensor to autograd.
AUTOGRAD_METHODS = frozenset({"backward", "requires_grad_", "retain_grad", "register_hook"})
#: Methods of loggers, progress bars and summary writers: they print or convert what they get.
LOGGING_METHODS = frozenset({
    "info", "debug", "warning", "warn", "error", "critical", "exception", "log", "write",
    "add_scalar", "add_scalars", "add_histogram", "add_text", "set_postfix", "set_postfix_str",
    "set_description", "add_image", "add_images", "add_figure", "add_video", "add_audio",
    "add_embedding", "log_image", "log_images", "log_dict", "log_metrics",
})
#: Tensor methods that take another tensor as an argument.
TENSOR_ARGUMENT_METHODS = frozenset({
    "add", "sub", "mul", "div", "true_divide", "matmul", "mm", "bmm", "dot", "mv", "pow",
    "lerp", "addcmul", "addcdiv", "where", "masked_fill", "index_select", "gather", "scatter",
    "index_add", "maximum", "minimum", "fmax", "fmin", "outer", "cross",
})
SHAPE_ARGUMENT_METHODS = frozenset({"expand_as", "view_as", "reshape_as", "type_as", "new_tensor"})
#: Builtins whose result is a Python value.
PLAIN_BUILTINS = frozenset({
    "len", "int", "float", "bool", "str", "repr", "format", "range", "isinstance", "issubclass",
    "type", "id", "hash", "print", "callable", "hasattr", "ord", "chr",
})
#: Builtins whose result carries the argument's tensors on.
PASSING_BUILTINS = frozenset({
    "list", "tuple", "set", "frozenset", "dict", "iter", "next", "enumerate", "zip", "reversed",
    "sorted", "sum", "max", "min", "abs", "round", "map", "filter",
})
CONTAINER_BUILTINS = frozenset({"list", "dict", "set"})
CONTAINER_FACTORIES = frozenset({"collections.defaultdict", "collections.OrderedDict",
                                 "collections.deque", "collections.Counter"})
#: Libraries that turn a tensor into their own values: using a tensor with them is safe.
NUMERIC_MODULES = frozenset({"math", "numpy", "statistics", "sklearn", "scipy"})
#: Functions (by their last name) that save, show or plot what they get (NG101's evidence that
#: outputs are only looked at).
INSPECTING_FUNCTIONS = frozenset({
    "save_image", "make_grid", "imsave", "imwrite", "imshow", "savefig", "plot", "scatter",
    "hist", "show", "save_images", "write_image", "write_video",
})
#: Libraries that only draw, save or report what they get.
INSPECTING_MODULES = frozenset({"matplotlib", "PIL", "cv2", "imageio", "wandb", "torchvision.utils"})
#: Words of a callee that computes a loss from what it gets, or of a name that holds one.
LOSS_WORDS = frozenset({"loss", "losses", "criterion", "objective"})
#: Words of a callee or receiver that measures what it gets (a metric or meter).
METRIC_WORDS = frozenset({"accuracy", "acc", "metric", "metrics", "meter", "psnr", "ssim", "iou",
                          "bleu", "auc", "f1"})
#: Methods of a module, or of an estimator (``clf.score(X, y)``), that are not forward passes
#: (a model's other methods are, by default).
NOT_FORWARD_METHODS = frozenset({
    "eval", "train", "parameters", "named_parameters", "modules", "named_modules", "children",
    "named_children", "buffers", "named_buffers", "state_dict", "load_state_dict", "to", "cuda",
    "cpu", "half", "float", "double", "bfloat16", "zero_grad", "apply", "requires_grad_",
    "add_module", "get_submodule", "get_parameter", "share_memory", "type", "extra_repr",
    "save_pretrained", "from_pretrained", "register_buffer", "register_parameter",
    "register_forward_hook", "register_forward_pre_hook", "register_full_backward_hook",
    "register_backward_hook", "gradient_checkpointing_enable", "resize_token_embeddings",
    "get_input_embeddings", "get_output_embeddings", "print_trainable_parameters", "log",
    "log_dict", "save_hyperparameters", "freeze", "unfreeze", "compile", "fit", "configure_optimizers",
    "score", "predict_proba", "transform", "fit_transform", "append", "extend", "insert",
})


def may_be_model_method(method: str, has_arguments: bool) -> bool:
    """Can ``model.<method>(...)`` be a forward pass through one of a model's methods
    (``model.decode(z)``, ``self.net.get_action(s)``)?  Not a module's or an estimator's own
    methods, a string's or a tensor's, a private one, a set-up (``init_hidden``), Hugging
    Face's ``generate()`` (no_grad where it is defined), nor one without inputs
    (``model.name()``)."""
    first = _WORD.findall(method)[:1]
    return (has_arguments and method not in NOT_FORWARD_METHODS and method not in STRING_METHODS
            and method not in KNOWN_TENSOR_METHODS and not method.startswith("_")
            and not words(method) & NO_GRAD_METHOD_WORDS
            and not (first and first[0].lower() in SETUP_WORDS))
#: Methods of strings and paths, which a name like ``args.model`` may hold: no forward passes.
STRING_METHODS = frozenset({
    "split", "rsplit", "splitlines", "startswith", "endswith", "lower", "upper", "strip",
    "lstrip", "rstrip", "replace", "format", "join", "find", "rfind", "count", "partition",
    "rpartition", "exists", "is_file", "is_dir", "read_text", "open",
})
#: Words of model methods that run under ``no_grad`` where they are defined (Hugging Face's
#: ``generate()`` and the chat APIs over it): calling them is no grad-enabled forward.
NO_GRAD_METHOD_WORDS = frozenset({"generate", "chat"})
#: Methods every tensor has: calling them inside the block runs no code of the program's own.
KNOWN_TENSOR_METHODS = (CONVERSION_METHODS | NONDIFFERENTIABLE_METHODS | NO_SAVE_METHODS
                        | TENSOR_ARGUMENT_METHODS | SHAPE_ARGUMENT_METHODS)
HOOK_METHODS = frozenset({"register_forward_hook", "register_forward_pre_hook",
                          "register_full_backward_hook", "register_backward_hook"})


@functools.lru_cache(maxsize=4096)  # identifiers repeat: the regex is the cost
def words(identifier: str) -> frozenset[str]:
    """``val_loader`` -> {val, loader}; ``testDataLoader`` -> {test, data, loader}."""
    return frozenset(w.lower() for w in _WORD.findall(identifier))


@functools.lru_cache(maxsize=4096)
def names_a_model(callee: str) -> bool:
    """Does the last part of a callee's name say it runs a model (``model``, ``self.encoder``,
    ``run_net``), rather than build one (``EncoderCNN``, ``create_model``)?"""
    if callee[:1].isupper():
        return False
    parts = _WORD.findall(callee)
    return bool(parts) and parts[-1].lower() in MODEL_WORDS and parts[0].lower() not in FACTORY_WORDS


#: Methods a model is moved or switched with where it is made (``Net().to(device).eval()``).
PLACEMENT_METHODS = frozenset({"to", "cuda", "cpu", "eval", "train", "float", "half", "double",
                               "bfloat16"})


@functools.lru_cache(maxsize=4096)
def constructs_a_model(callee: str) -> bool:
    """Does a callee's (or annotation's) last part name a model class (``Encoder``,
    ``GeneratorUNet``, ``nn.LSTM``, ``pl.LightningModule``), so that calling it makes a
    model?"""
    last = callee.rsplit(".", 1)[-1]
    return last[:1].isupper() and any(w.lower() in MODEL_CLASS_WORDS for w in _WORD.findall(last))


def returns_receiver(name: str) -> bool:
    """``add_``, ``detach_``, ``requires_grad_``: a tensor method named like an in-place op,
    which returns its receiver (whether or not it writes to its data)."""
    return name.endswith("_") and not name.endswith("__")


def is_inplace_method(name: str) -> bool:
    """``add_``, ``normal_``: a tensor method that updates its receiver's data in place."""
    return returns_receiver(name) and not name.startswith("_") and name not in NOT_INPLACE


def is_module_class(qualified: str) -> bool:
    """``torch.nn.Linear``, ``torch.nn.Module``, ``torch.nn.modules.conv.Conv2d``: a torch
    module class (not ``torch.nn.Parameter``, not ``torch.nn.utils.rnn.PackedSequence``)."""
    parts = qualified.split(".")
    return (len(parts) >= 3 and parts[0] == "torch" and parts[1] == "nn"
            and (len(parts) == 3 or parts[2] == "modules") and parts[-1][:1].isupper()
            and parts[-1] not in _NOT_MODULES)


def makes_model(qualified: str) -> bool:
    """Does calling ``qualified`` make a model: ``timm.create_model``, ``torchvision.models.*``?"""
    return qualified in MODEL_FACTORIES or qualified.startswith(MODEL_FACTORY_MODULES)


def is_test_file(path: str) -> bool:
    base = path.replace("\\", "/").rsplit("/", 1)[-1]
    return base.startswith("test_") or base.endswith("_test.py") or "/tests/" in f"/{path}"
