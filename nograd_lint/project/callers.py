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
in it, the one nearest the importer if several do.  A call through a receiver whose class is
unknown (``self.model.generate(x)``, ``sampler.sample(img, steps=S)``) may run the method of that
name of every class of the project whose signature accepts its arguments, in its module too;
reading such an attribute other than to call it (``pool.map(model.sample)``,
``getattr(model, "sample")``), or being called by Python or torch without being named
(``forward``, ``__enter__``), makes a method escape.

Call sites and references in test files (pytest's ``test_*.py``/``*_test.py``, anything under a
``tests`` directory) are left out: a test runs the code however it needs to, and is no caller
whose grad mode the code should follow.

What a call site passes binds the callee's parameters: a parameter is a leaf that requires
grad (or an iterable of such) when some call site where gradients are on passes one
(``CallSite.arguments``), directly or through the caller's own parameters (``=p``, ``*p``): a
least fixed point over the call sites of every module, so that recursion ends.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from nograd_lint.frameworks import INERT_BASES, called_by_bases
from nograd_lint.project.facts import (
    CALLER_PARAMETER, ELEMENT_OF, LEAF, PARAMS, Definition, MethodCall, ModuleFacts,
)
from nograd_lint.vocabulary import Callers, Grad, is_test_file, meet

_MAX_HOPS = 8  # re-exports and base classes followed, at most
#: In ``CallerIndex._escapes``: escapes everywhere, its own module included.
_ANYWHERE = ""


class _Site:
    __slots__ = ("module", "grad", "caller", "by_name", "receiver", "arguments")

    def __init__(self, module: str, grad: Grad | None, caller: str | None,
                 by_name: bool = False, receiver: bool = False, arguments: tuple = ()) -> None:
        self.module, self.grad, self.caller = module, grad, caller
        self.by_name = by_name  # matched by method name: the module itself cannot see it
        # As CallSite: called as ``self.f(...)``, and what it passes that may be leaves.
        self.receiver, self.arguments = receiver, arguments


def is_test_module(module: ModuleFacts) -> bool:
    path = module.name.replace(".", "/") + ("/__init__.py" if module.package else ".py")
    return is_test_file(path)


def accepts(signature: tuple, call: MethodCall) -> bool:
    """Can a function of ``signature`` (facts.Definition) take ``call``'s arguments?"""
    if call.positional < 0 or not signature:
        return True
    positional, required, keyword_only, required_keywords, varargs, varkw = signature
    count, keywords = call.positional, call.keywords
    if count > len(positional) and not varargs:
        return False
    names = positional[count:]
    if not varkw and any(name not in names and name not in keyword_only for name in keywords):
        return False
    return (all(name in keywords for name in positional[count:required])
            and all(name in keywords for name in required_keywords))


class CallerIndex:
    """The modules of a project, and per function the grad mode of its callers."""

    def __init__(self, modules: Iterable[ModuleFacts]) -> None:
        self.modules: dict[str, ModuleFacts] = {m.name: m for m in modules}
        self._functions: dict[str, Definition] = {}
        self._classes: dict[str, tuple[str, ...]] = {}  # class -> bases, as written there
        self._suffixes: dict[str, list[str]] = {}
        for module in self.modules.values():
            parts = module.name.split(".")
            for start in range(1, len(parts)):
                self._suffixes.setdefault(".".join(parts[start:]), []).append(module.name)
            self._functions.update((f"{module.name}.{d.qualname}", d) for d in module.definitions
                                   if d.kind != "class")
            self._classes.update((f"{module.name}.{c.name}", c.bases) for c in module.classes)
        self._resolved: dict[tuple[str, str, bool], str | None] = {}
        self._exports: dict[str, dict[str, str]] = {}  # module -> its ``exports``, as a dict
        self._outside: dict[str, Callers] = {}  # module -> outside_callers(module)
        self._ancestry: dict[str, set[str]] = {}
        self._sites: dict[str, list[_Site]] = {}
        self._escapes: dict[str, set[str]] = {}  # function -> modules it escapes in
        methods: dict[str, list[tuple[str, tuple]]] = {}  # name -> (function, signature)
        for module in self.modules.values():
            for definition in module.definitions:
                if definition.kind == "method":
                    name = definition.qualname.rpartition(".")[2]
                    key = f"{module.name}.{definition.qualname}"
                    methods.setdefault(name, []).append((key, definition.signature))
                    klass = definition.qualname.partition(".")[0]
                    if name == "forward" or name.startswith("__") and name.endswith("__") or \
                            called_by_bases(self._external_bases(f"{module.name}.{klass}"), name):
                        self._escapes.setdefault(key, set()).add(_ANYWHERE)
        for module in self.modules.values():
            if is_test_module(module):
                continue
            for fields in module.method_calls:
                candidates = methods.get(fields[0])
                if candidates is None:
                    continue  # most are methods of tensors and other libraries' objects
                call = MethodCall(*fields)
                for key, signature in candidates:
                    if accepts(signature, call):
                        caller = f"{module.name}.{call.caller}" if call.caller else None
                        self._sites.setdefault(key, []).append(
                            _Site(module.name, call.grad and Grad(call.grad), caller, True))
            for name in module.attribute_escapes:
                for key, _ in methods.get(name, ()):
                    self._escapes.setdefault(key, set()).add(_ANYWHERE)
            for call in module.calls:
                key = self.resolve(call.callee, module.name)
                if key is not None:
                    caller = f"{module.name}.{call.caller}" if call.caller else None
                    self._sites.setdefault(key, []).append(_Site(
                        module.name, call.grad and Grad(call.grad), caller,
                        receiver=call.receiver, arguments=call.arguments))
            for name in module.escapes:
                key = self.resolve(name, module.name)
                if key is not None:
                    self._escapes.setdefault(key, set()).add(module.name)
        self.states = self._settle()
        self.parameters = self._bind()

    # ------------------------------------------------------------------ names
    def _external_bases(self, klass: str) -> set[str]:
        """The ancestors of the project's class ``klass`` (``pkg.models.VAE``) that are not
        the project's, as its module resolves them (``torch.nn.Module``)."""
        found = self._ancestry.get(klass)
        if found is not None:
            return found
        self._ancestry[klass] = found = set()  # a cycle of bases ends here
        module = klass.rpartition(".")[0]
        for base in self._classes.get(klass, ()):
            own = None if base in INERT_BASES else self.resolve(base, module, classes=True)
            if own is None:
                found.add(base)
            else:
                found |= self._external_bases(own)
        return found

    def resolve(self, name: str, importer: str, hops: int = 0, classes: bool = False
                ) -> str | None:
        """The function (with ``classes``: the class) of the project ``name`` (as resolved in
        module ``importer``) is."""
        if name in (self._classes if classes else self._functions):
            return name
        memo = (name, importer, classes)
        if memo in self._resolved:
            return self._resolved[memo]
        self._resolved[memo] = None  # a cycle of re-exports resolves to nothing
        found = None
        if hops < _MAX_HOPS:
            parts = name.split(".")
            for cut in range(len(parts) - 1, 0, -1):
                module = self._module(".".join(parts[:cut]), importer)
                if module is not None:
                    found = self._within(module, parts[cut:], hops, classes)
                    break
        self._resolved[memo] = found
        return found

    def _within(self, module: str, rest: list[str], hops: int, classes: bool) -> str | None:
        """``rest`` (``["helper"]``, ``["Model", "step"]``) looked up in ``module``."""
        candidate = f"{module}.{'.'.join(rest)}"
        if candidate in (self._classes if classes else self._functions):
            return candidate
        facts = self.modules[module]
        exports = self._exports.get(module)
        if exports is None:
            self._exports[module] = exports = dict(facts.exports)
        exported = exports.get(rest[0])
        if exported is not None:
            return self.resolve(".".join([exported, *rest[1:]]), module, hops + 1, classes)
        for star in facts.star_imports:
            found = self.resolve(".".join([star, *rest]), module, hops + 1, classes)
            if found is not None:
                return found
        bases = self._classes.get(f"{module}.{rest[0]}")
        if bases and len(rest) == 2 and not classes:
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
        disabled and weakens until stable (a worklist over the callers it depends on); then
        only those reached from a call in a disabled region stay disabled."""
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
        # Disabled only when some chain of callers starts in a disabled region: methods that
        # only call each other by name (``def resize(self): self.child.resize()``) are a
        # public interface whose callers are elsewhere.
        grounded: set[str] = set()
        work = [key for key, state in states.items() if state is Grad.DISABLED and any(
            site.grad is Grad.DISABLED for site in self._sites[key])]
        while work:
            key = work.pop()
            if key in grounded:
                continue
            grounded.add(key)
            work.extend(d for d in dependents.get(key, ()) if states[d] is Grad.DISABLED)
        for key, state in states.items():
            if state is Grad.DISABLED and key not in grounded:
                states[key] = Grad.ENABLED
        return states

    @staticmethod
    def _site_state(site: _Site, states: Mapping[str, Grad]) -> Grad:
        if site.grad is not None:
            return site.grad
        return states.get(site.caller, Grad.ENABLED) if site.caller else Grad.ENABLED

    # ------------------------------------------------------------------ parameters
    def _bind(self) -> dict[str, dict[str, frozenset[str]]]:
        """Per function: its parameters that some call site, where gradients are on, binds
        to a leaf or an iterable of leaves (a least fixed point: facts only grow)."""
        bound: dict[str, dict[str, frozenset[str]]] = {}
        dependents: dict[str, set[str]] = {}
        work = []
        for key, sites in self._sites.items():
            if any(site.arguments for site in sites):
                work.append(key)
                for site in sites:
                    if site.caller is not None and any(value[0] in (CALLER_PARAMETER, ELEMENT_OF)
                                                       for _, value in site.arguments):
                        dependents.setdefault(site.caller, set()).add(key)
        while work:
            key = work.pop()
            found = self._bound_by_sites(key, self._sites[key], bound)
            if found != bound.get(key, {}):
                bound[key] = found
                work.extend(dependents.get(key, ()))
        return bound

    def _bound_by_sites(self, key: str, sites, bound: Mapping[str, Mapping[str, frozenset[str]]]
                        ) -> dict[str, frozenset[str]]:
        definition = self._functions[key]
        found: dict[str, frozenset[str]] = {}
        for site in sites:
            if not site.arguments or self._site_state(site, self.states) is not Grad.ENABLED:
                continue
            for slot, value in site.arguments:
                parameter = _parameter(definition, site.receiver, slot)
                kinds = _kinds(value, bound.get(site.caller, {}) if site.caller else {})
                if parameter is not None and kinds:
                    found[parameter] = found.get(parameter, frozenset()) | kinds
        return found

    def outside_callers(self, module: str) -> Callers:
        """For each module-level function and method of ``module`` (by qualified name) that is
        called or referenced where the module cannot see it (in other modules, or by method
        name): the grad mode of those call sites; and the parameters they bind to leaves (see
        Callers; one object per module, not to be changed)."""
        known = self._outside.get(module)
        if known is None:
            self._outside[module] = known = self._outside_callers(module)
        return known

    def _outside_callers(self, module: str) -> Callers:
        facts = self.modules.get(module)
        if facts is None:
            return Callers()
        found: dict[str, Grad] = {}
        parameters: dict[str, dict[str, frozenset[str]]] = {}
        for definition in facts.definitions:
            key = f"{module}.{definition.qualname}"
            outside = [s for s in self._sites.get(key, ()) if s.module != module or s.by_name]
            sites = [self._site_state(s, self.states) for s in outside]
            if self._escapes.get(key, set()) - {module}:
                sites.append(Grad.ENABLED)
            if sites and definition.kind != "class":
                found[definition.qualname] = meet(sites)
                if key in self.parameters:
                    passed = self._bound_by_sites(key, outside, self.parameters)
                    if passed:
                        parameters[definition.qualname] = passed
        return Callers(found, parameters)


def _parameter(definition: Definition, receiver: bool, slot: int | str) -> str | None:
    """The parameter of ``definition`` an argument in ``slot`` (a position or a keyword)
    binds; ``receiver``: called as ``self.f(...)``, which binds a method's first parameter."""
    if type(slot) is str:
        return slot if slot in definition.parameters or slot in definition.keyword_only else None
    if receiver and definition.kind == "method" and "staticmethod" not in definition.decorators:
        slot += 1
    return definition.parameters[slot] if slot < len(definition.parameters) else None


def _kinds(value: str, caller: Mapping[str, frozenset[str]]) -> frozenset[str]:
    """What an argument passes (CallSite.arguments), given what the caller's parameters are
    bound to."""
    if value == LEAF or value == PARAMS:
        return frozenset((value,))
    if value[0] == CALLER_PARAMETER:
        return caller.get(value[1:], frozenset())
    if value[0] == ELEMENT_OF and PARAMS in caller.get(value[1:], ()):
        return frozenset((LEAF,))
    return frozenset()


def _shared_prefix(a: str, b: str) -> int:
    count = 0
    for x, y in zip(a.split("."), b.split(".")):
        if x != y:
            break
        count += 1
    return count
