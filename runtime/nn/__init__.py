"""``runtime.nn``: modules, parameters, layers and losses."""

from runtime.nn import functional, init
from runtime.nn.modules import (
    BatchNorm1d, BCEWithLogitsLoss, CrossEntropyLoss, Dropout, Embedding, Identity, L1Loss,
    Linear, LogSoftmax, Module, ModuleList, MSELoss, NLLLoss, Parameter, ReLU, Sequential,
    Sigmoid, Softmax, Tanh,
)

__all__ = [
    "BatchNorm1d", "BCEWithLogitsLoss", "CrossEntropyLoss", "Dropout", "Embedding", "Identity",
    "L1Loss", "Linear", "LogSoftmax", "Module", "ModuleList", "MSELoss", "NLLLoss", "Parameter",
    "ReLU", "Sequential", "Sigmoid", "Softmax", "Tanh", "functional", "init",
]
