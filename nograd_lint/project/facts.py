"""What the project index knows about one module: plain tuples, cheap to store and to load.

Names are dotted and, where the module's imports allow, resolved: ``torch.nn.Linear`` for
``nn.Linear`` after ``from torch import nn``, ``pkg.utils.helper`` for ``helper`` after
``from .utils import helper`` in ``pkg/train.py``, ``pkg.train.Trainer.step`` for
``self.step`` inside ``class Trainer``.  Module names are relative to the project root.
Grad modes are :class:`~nograd_lint.vocabulary.Grad` values (``"disabled"``...).
"""

from __future__ import annotations

from typing import NamedTuple, Optional, Union


class Definition(NamedTuple):
    """A module-level function or class, or a method of a module-level class."""

    qualname: str  # ``f``, ``Trainer``, ``Trainer.step``
    kind: str  # "function", "method" or "class"
    line: int
    decorators: tuple[str, ...]  # resolved where the imports allow, else as written
    grad: Optional[str]  # the grad mode its decorators set (``@torch.no_grad()``), if any
    annotations: tuple[tuple[str, str], ...]  # (parameter, annotation) where it is a name
    # What calls of a method through an object accept: (positional parameters, how many of them
    # are required, keyword-only parameters, the required ones among them, ``*args``,
    # ``**kwargs``), its receiver (``self``, ``cls``) left out; () for a function, and for a
    # method never matched by name.
    signature: tuple
    parameters: tuple[str, ...]  # the positional ones, in order (a method's receiver first)
    keyword_only: tuple[str, ...]


class ClassFacts(NamedTuple):
    name: str
    bases: tuple[str, ...]
    # ``self.<attr> = <constructor>(...)`` in ``__init__``: layers and submodules...
    layers: tuple[tuple[str, str], ...]
    parameters: tuple[str, ...]  # ... and the attributes assigned an ``nn.Parameter``


#: What a call passes, where it may be a leaf that requires grad (see ``CallSite.arguments``).
LEAF = "leaf"
PARAMS = "params"  # an iterable of such leaves: ``model.parameters()``, a list of them
CALLER_PARAMETER = "="  # ``=p``: the caller's own parameter ``p``, as its callers bind it
ELEMENT_OF = "*"  # ``*p``: an element of the caller's parameter ``p`` (``for q in p: f(q)``)


class CallSite(NamedTuple):
    """A call of (or a function passed along to) ``callee``."""

    callee: str
    caller: Optional[str]  # the enclosing module-level function or method, if any
    grad: Optional[str]  # the grad mode at the call; None: as ``caller`` runs
    line: int
    receiver: bool  # ``self.f(...)``/``cls.f(...)``: a method's first parameter is bound
    # (position, or keyword, -> what it passes), for the arguments that may be leaves:
    # LEAF, PARAMS, or ``=p``/``*p`` of the caller's parameter ``p``.
    arguments: tuple[tuple[Union[int, str], str], ...]


class MethodCall(NamedTuple):
    """A call ``<receiver>.name(...)`` whose receiver's class is unknown
    (``self.model.generate(x)``, ``sampler.sample(...)``): it may run the project's method of
    that name in any class that accepts its arguments.  Stored as a plain tuple (there are many)."""

    name: str
    caller: Optional[str]
    grad: Optional[str]
    positional: int  # positional arguments; -1 with ``*args``/``**kwargs``: any signature
    keywords: tuple[str, ...]


class ModuleFacts(NamedTuple):
    name: str  # ``pkg.train``; a package's ``__init__.py`` is ``pkg``
    package: bool
    exports: tuple[tuple[str, str], ...]  # module-level names bound by imports -> targets
    definitions: tuple[Definition, ...]
    classes: tuple[ClassFacts, ...]
    calls: tuple[CallSite, ...]
    escapes: tuple[str, ...]  # functions referenced other than by a call: stored, returned
    grad_switches: tuple[tuple[int, str], ...]  # module-level ``set_grad_enabled``: (line, mode)
    method_calls: tuple[tuple, ...]  # MethodCall's fields: plain tuples, as many as calls
    # Attribute names read other than as a callee through a receiver of unknown class
    # (``hooks.append(model.sample)``, ``getattr(model, "sample")``): a method of that name
    # may be called from anywhere.
    attribute_escapes: tuple[str, ...]
    star_imports: tuple[str, ...]  # modules whose names ``from <module> import *`` re-exports

    def to_plain(self) -> tuple:
        """Built-in tuples only: what ``marshal`` stores (see cache.py)."""
        return (self.name, self.package, self.exports,
                tuple(tuple(d) for d in self.definitions), tuple(tuple(c) for c in self.classes),
                tuple(tuple(c) for c in self.calls), self.escapes, self.grad_switches,
                self.method_calls, self.attribute_escapes,
                self.star_imports)

    @classmethod
    def from_plain(cls, plain: tuple) -> ModuleFacts:
        (name, package, exports, definitions, classes, calls, escapes, switches, method_calls,
         attribute_escapes, star_imports) = plain
        return cls(name, package, exports, tuple(Definition(*d) for d in definitions),
                   tuple(ClassFacts(*c) for c in classes), tuple(CallSite(*c) for c in calls),
                   escapes, switches, method_calls,
                   attribute_escapes, star_imports)
