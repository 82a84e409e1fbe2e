"""Escape analysis for NG106: can a ``no_grad`` block become ``inference_mode``?

Under ``inference_mode`` every tensor a block creates is an *inference tensor*.  Inside the block
that changes nothing; outside it such a tensor raises ``Inference tensors cannot be saved for
backward`` when an op recording a graph saves it, ``Inplace update to inference tensor outside
InferenceMode is not allowed`` when it is updated in place, and ``Setting requires_grad=True on
inference tensor outside InferenceMode`` when it is made a leaf.  A block may migrate only when
no value it makes can reach such a place, so the analysis follows every value the block makes:

* **Seeds.**  Every name bound inside the block (assignment, loop variable, ``with ... as``) to a
  value that is not plainly a Python number, string or NumPy value (``.item()``, ``.tolist()``,
  ``len()``...), every local container (``preds = []``) that such a value is stored into
  (``preds.append(out)``, ``table[k] = out``), and the results of calls to a function that
  returns such a value, when all its callers are known (a nested or ``_private`` function that
  is only ever called directly).
* **Uses.**  Every later use of a seed, in its scope and in nested functions that read it, is
  followed upwards through the expression that consumes it.  Views, casts, containers,
  comprehension and loop variables and assignments carry the value on; ``.item()``,
  ``.tolist()``, ``.numpy()``, metadata (``.shape``), comparisons, conditions, printing,
  f-strings, logging calls and NumPy/math functions end it safely.
* **Escapes** (the block is not migrated): (a) an op under grad mode that combines the value
  with anything that might require grad (any operand that is not a number, a value of the same
  block, or the value itself), a call of anything else with it outside inference mode (a model
  in training code, a helper), ``requires_grad_()``/``backward()`` on it, or calling an object
  built in the block; (b) an in-place update outside inference mode: ``x += ...``,
  ``x[i] = ...``, ``x.add_(...)``, ``out=x``; (c) a store into anything that outlives what the
  analysis sees: attributes (``self.x = ...``, ``p.data = ...``), globals and nonlocals, class
  bodies, containers that are not local, ``register_buffer``, ``setattr``, returning it from a
  function whose callers are not all known, yielding it, raising it, a lambda returning it.
  Any use the analysis does not recognise counts as an escape.

A block is also never proposed when it is not inference code: it updates state that comes from
outside it (``p.add_(...)`` on parameters, EMA updates, weight initialisation,
``optimizer.step()``, ``model.apply(...)``, ``load_state_dict``), calls one of this module's
functions that stores or updates such state, re-enables gradients inside itself, or calls
``backward``.  Calls inside the block to code the module cannot see (``model(x)``) are taken not
to keep their arguments, unless the module registers forward hooks or defines a ``forward`` that
stores values.

Values are followed by name, not by statement order, so a name bound in the block is tainted
everywhere in its scope (over-approximating is safe); uses that precede the block in the same
scope with no loop around both are skipped, since they cannot see its values.  Module-level
names are followed through this module only: another module importing them is not seen.

Everything is recorded during the engine's single traversal; the judgement runs afterwards, when
NG106 asks for :meth:`EscapeAnalysis.candidates`.
"""

from nograd_lint.model.escape.analysis import EscapeAnalysis
from nograd_lint.model.escape.records import Candidate

__all__ = ["Candidate", "EscapeAnalysis"]
