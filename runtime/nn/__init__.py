"""``runtime.nn``: modules, parameters, layers and losses."""

from runtime.nn import functional, init, utils
from runtime.nn.modules import (
    BatchNorm1d, BCEWithLogitsLoss, Buffer, Conv2d, CrossEntropyLoss, Dropout, Dropout1d, Dropout2d,
    Dropout3d, Embedding, GELU, Identity, L1Loss, Linear, LogSoftmax, Module, ModuleList, MSELoss,
    NLLLoss, Parameter, ParameterList, ReLU, Sequential, Sigmoid, Softmax, Tanh,
)

__all__ = [
    "BatchNorm1d", "BCEWithLogitsLoss", "Buffer", "Conv2d", "CrossEntropyLoss", "Dropout",
    "Dropout1d", "Dropout2d", "Dropout3d", "Embedding", "GELU", "Identity", "L1Loss", "Linear", "LogSoftmax", "Module",
    "ModuleList", "MSELoss", "NLLLoss", "Parameter", "ParameterList", "ReLU", "Sequential",
    "Sigmoid", "Softmax", "Tanh", "functional", "init", "utils",
]
