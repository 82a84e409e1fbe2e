"""Analyses as layers on the semantic model, with dependencies declared by class.

A layer names the layers it reads in ``requires`` (LibCST's ``METADATA_DEPENDENCIES``); a rule
names the ones it reads in ``needs``.  :func:`build_order` puts what a run needs, and everything
that needs, in an order where each layer comes after its dependencies: the engine builds them in
that order and hands them the walk's nodes in that order too, so a layer's ``visit_*`` method
runs after those of the layers it reads.  A layer no enabled rule needs is never built.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, ClassVar

if TYPE_CHECKING:
    from nograd_lint.context import ModuleContext


class Layer:
    """Base of every analysis: subclasses set ``requires`` and read those layers from the
    context they are built with."""

    requires: ClassVar[tuple[type[Layer], ...]] = ()

    @classmethod
    def build(cls, context: ModuleContext) -> Layer:
        return cls(context)


class DependencyCycle(Exception):
    """Layers that require one another: a programming error, found by the tests."""


def build_order(needed: Iterable[type[Layer]]) -> list[type[Layer]]:
    """``needed`` and their dependencies, each after what it requires (depth first, in the
    order given, so the result does not depend on set iteration)."""
    order: list[type[Layer]] = []
    placed: set[type[Layer]] = set()
    visiting: list[type[Layer]] = []

    def place(layer: type[Layer]) -> None:
        if layer in placed:
            return
        if layer in visiting:
            cycle = " -> ".join(t.__name__ for t in [*visiting[visiting.index(layer):], layer])
            raise DependencyCycle(cycle)
        visiting.append(layer)
        for dependency in layer.requires:
            place(dependency)
        visiting.pop()
        placed.add(layer)
        order.append(layer)

    for layer in needed:
        place(layer)
    return order
