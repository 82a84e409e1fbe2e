"""Grad mode from callers in other files: the project-wide greatest fixed point.

A module-level function or method runs without gradients when every call site of it in the
project does: a call under ``no_grad``, in a ``@no_grad()`` function, or in a function that
itself surely runs without them (as model/grad_mode.py settles it within a module, across files
here).  One referenced other than by a call anywhere (stored, returned) may be called from
anywhere: it runs with them.

Callees are matched by their resolved names (facts.py): ``import pkg.utils``,
``from .utils import helper``, a package re-exporting a name (``from .utils import helper``
in ``pkg/__init__.py``), ``self.f`` in a subclass of a class of the project that defines
``f``.  A module name that is not the full name from the project root (``from utils import
helper`` in a script whose directory is on ``sys.path``) matches the module whose name ends
in it, the one nearest the importer if several do.  Calls through other receivers
(``trainer.evaluate()``) are not matched, as within a module.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from nograd_lint.project.facts import ModuleFacts
from nograd_lint.vocabulary import Grad, meet

_MAX_HOPS = 8  # re-exports and base classes followed, at most


class _Site:
    __slots__ = ("module", "grad", "caller")

    def __init__(self, module: str, grad: Grad | None, caller: str | None) -> None:
        self.module, self.grad, self.caller = module, grad, caller


class CallerIndex:
    """The modules of a project, and per function the grad mode of its callers."""

    def __init__(self, modules: Iterable[ModuleFacts]) -> None:
        self.modules: dict[str, ModuleFacts] = {m.name: m for m in modules}
        self._functions: set[str] = set()
        self._classes: dict[str, tuple[str, ...]] = {}  # class -> bases, as written there
        self._suffixes: dict[str, list[str]] = {}
        for module in self.modules.values():
            parts = module.name.split(".")
            for start in range(1, len(parts)):
                self._suffixes.setdefault(".".join(parts[start:]), []).append(module.name)
            self._functions.update(f"{module.name}.{d.qualname}" for d in module.definitions
                                   if d.kind != "class")
            self._classes.update((f"{module.name}.{c.name}", c.bases) for c in module.classes)
        self._resolved: dict[tuple[str, str], str | None] = {}
        self._sites: dict[str, list[_Site]] = {}
        self._escapes: dict[str, set[str]] = {}  # function -> modules it escapes in
        for module in self.modules.values():
            for call in module.calls:
                key = self.resolve(call.callee, module.name)
                if key is not None:
                    caller = f"{module.name}.{call.caller}" if call.caller else None
                    self._sites.setdefault(key, []).append(
                        _Site(module.name, call.grad and Grad(call.grad), caller))
            for name in module.escapes:
                key = self.resolve(name, module.name)
                if key is not None:
                    self._escapes.setdefault(key, set()).add(module.name)
        self.states = self._settle()

    # ------------------------------------------------------------------ names
    def resolve(self, name: str, importer: str, hops: int = 0) -> str | None:
        """The function of the project ``name`` (as resolved in module ``importer``) is."""
        if name in self._functions:
            return name
        memo = (name, importer)
        if memo in self._resolved:
            return self._resolved[memo]
        self._resolved[memo] = None  # a cycle of re-exports resolves to nothing
        found = None
        if hops < _MAX_HOPS:
            parts = name.split(".")
            for cut in range(len(parts) - 1, 0, -1):
                module = self._module(".".join(parts[:cut]), importer)
                if module is not None:
                    found = self._within(module, parts[cut:], hops)
                    break
        self._resolved[memo] = found
        return found

    def _within(self, module: str, rest: list[str], hops: int) -> str | None:
        """``rest`` (``["helper"]``, ``["Model", "step"]``) looked up in ``module``."""
        candidate = f"{module}.{'.'.join(rest)}"
        if candidate in self._functions:
            return candidate
        exported = dict(self.modules[module].exports).get(rest[0])
        if exported is not None:
            return self.resolve(".".join([exported, *rest[1:]]), module, hops + 1)
        bases = self._classes.get(f"{module}.{rest[0]}")
        if bases and len(rest) == 2:
            for base in bases:
                found = self.resolve(f"{base}.{rest[1]}", module, hops + 1)
                if found is not None:
                    return found
        return None

    def _module(self, name: str, importer: str) -> str | None:
        if name in self.modules:
            return name
        candidates = self._suffixes.get(name)
        if not candidates:
            return None
        if len(candidates) == 1:
            return candidates[0]
        # The nearest to the importer: the longest shared package prefix, if one is longest.
        shared = sorted(((_shared_prefix(c, importer), c) for c in candidates), reverse=True)
        return shared[0][1] if shared[0][0] > shared[1][0] else None

    # ------------------------------------------------------------------ grad mode
    def _settle(self) -> dict[str, Grad]:
        """Greatest fixed point: every function with call sites that escapes nowhere starts
        disabled and weakens until stable (a worklist over the callers it depends on)."""
        states = {key: Grad.DISABLED for key in self._sites if key not in self._escapes}
        dependents: dict[str, list[str]] = {}
        for key in states:
            for site in self._sites[key]:
                if site.grad is None and site.caller is not None:
                    dependents.setdefault(site.caller, []).append(key)
        work = list(states)
        while work:
            key = work.pop()
            new = meet(self._site_state(site, states) for site in self._sites[key])
            if new is not states[key]:
                states[key] = new
                work.extend(dependents.get(key, ()))
        return states

    @staticmethod
    def _site_state(site: _Site, states: Mapping[str, Grad]) -> Grad:
        if site.grad is not None:
            return site.grad
        return states.get(site.caller, Grad.ENABLED) if site.caller else Grad.ENABLED

    def outside_callers(self, module: str) -> dict[str, Grad]:
        """For each module-level function and method of ``module`` (by qualified name) that is
        called or referenced in other modules: the grad mode of those call sites."""
        facts = self.modules.get(module)
        if facts is None:
            return {}
        found: dict[str, Grad] = {}
        for definition in facts.definitions:
            key = f"{module}.{definition.qualname}"
            sites = [self._site_state(s, self.states)
                     for s in self._sites.get(key, ()) if s.module != module]
            if self._escapes.get(key, set()) - {module}:
                sites.append(Grad.ENABLED)
            if sites and definition.kind != "class":
                found[definition.qualname] = meet(sites)
        return found


def _shared_prefix(a: str, b: str) -> int:
    count = 0
    for x, y in zip(a.split("."), b.split(".")):
        if x != y:
            break
        count += 1
    return count
