"""Per-module state shared by the rules of one traversal."""

from __future__ import annotations

from dataclasses import dataclass, field

import libcst as cst

from nograd_lint.config import Config
from nograd_lint.names import ImportResolver
from nograd_lint.rule import Report


@dataclass
class ModuleContext:
    path: str
    config: Config
    module: cst.Module
    names: ImportResolver
    reports: list[Report] = field(default_factory=list)
