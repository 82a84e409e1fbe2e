"""Autograd speed and memory: runtime against a plain-NumPy floor and PyTorch, side by side.

    python bench/autograd_speed.py [--repeat N]

Each backend runs in its own subprocess (so one's imports and garbage do not tax the other),
with one thread for NumPy's BLAS and for PyTorch.  The backends take turns: every measure is
timed once on each backend, then again, ``--repeat`` rounds, so a load change on a shared
machine hits all of them alike; times are CPU time, ratios medians of the per-round ratios.
Measured: a chain of 1,000 elementwise ops on 10 elements, forward + backward; an MLP
64-256-256-10, batch 64: a training step (forward, backward), a forward under no_grad, one
under inference_mode; an epoch of DataLoader + Adam training; and the memory 200 evaluation
forwards keep alive when their outputs are kept, grad enabled and under no_grad, on both
backends: glibc's bytes in use (NumPy's buffers, PyTorch's tensors and graph nodes) plus
Python's small-object blocks (skipped without glibc).  The NumPy floor does the same
arithmetic by hand, float32 throughout and in the forms runtime uses: the chain and the
training step with their backward, and the forward; the training step and the forward also
with the weights stored as torch and runtime store them, (out, in), the floor runtime's
"NumPy, weights (out, in)" ratio is taken against.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ONE_THREAD = {name: "1" for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")}

# A worker defines MEASURES (name -> (function, calls per round)), then serves requests: a
# measure's name -> microseconds per call over one round; "memory" -> its retained MiB.
# Times are the worker's CPU time (each worker runs one thread), so that other load on a
# shared machine, which delays a worker without making it work more, counts less.
SERVE = r'''
import ctypes, json, os, re, sys, tempfile, time

class Mallinfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in (
        "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks",
        "keepcost")]

def allocated():
    """Bytes in use: what malloc has handed out (NumPy's buffers, PyTorch's tensors and nodes,
    large Python objects) plus pymalloc's blocks (small Python objects), the same yardstick
    for both backends; None without glibc's mallinfo2."""
    mallinfo2 = getattr(ctypes.CDLL(None), "mallinfo2", None)
    if mallinfo2 is None:
        return None
    mallinfo2.restype = Mallinfo2
    info = mallinfo2()
    with tempfile.TemporaryFile() as stats:  # sys._debugmallocstats writes to the C stderr
        saved = os.dup(2)
        os.dup2(stats.fileno(), 2)
        try:
            sys._debugmallocstats()
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        stats.seek(0)
        text = stats.read().decode()
    blocks = re.search(r"# bytes in allocated blocks\s*=\s*([\d,]+)", text)
    return info.uordblks + info.hblkhd + int(blocks.group(1).replace(",", ""))

def serve(measures, memory=lambda: {}):
    print(json.dumps(list(measures)), flush=True)
    for request in sys.stdin:
        name = request.strip()
        if name == "memory":
            print(json.dumps(memory()), flush=True)
            continue
        function, calls = measures[name]
        start = time.process_time()
        for _ in range(calls):
            function()
        print((time.process_time() - start) / calls * 1e6, flush=True)
'''

WORKER = r'''
import gc, sys
backend = sys.argv[1]
if backend == "torch":
    import torch
    torch.set_num_threads(1)
else:
    import runtime as torch
nn = torch.nn

x0 = torch.ones(10, requires_grad=True)
def chain():
    y = x0
    for _ in range(250):
        y = ((y * 1.0001) + 0.5).tanh() - 0.1
    y.sum().backward()

torch.manual_seed(0)
model = nn.Sequential(nn.Linear(64, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, 10))
batch, labels = torch.randn(64, 64), torch.randint(0, 10, (64,))
loss_fn = nn.CrossEntropyLoss()
def train_step():
    model.zero_grad()
    loss_fn(model(batch), labels).backward()
def no_grad_forward():
    with torch.no_grad():
        model(batch)
def inference_forward():
    with torch.inference_mode():
        model(batch)

DataLoader, TensorDataset = torch.utils.data.DataLoader, torch.utils.data.TensorDataset
loader = DataLoader(TensorDataset(torch.randn(2048, 64), torch.randint(0, 10, (2048,))),
                    batch_size=64, shuffle=True)
optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
def epoch():
    for inputs, targets in loader:
        optimizer.zero_grad()
        loss_fn(model(inputs), targets).backward()
        optimizer.step()

def retained(grad_enabled):
    gc.collect()
    before = allocated()
    kept = []
    with torch.set_grad_enabled(grad_enabled):
        for _ in range(200):
            kept.append(model(batch))
    gc.collect()
    return (allocated() - before) / 2**20
def memory():
    if allocated() is None:
        return {}
    return {"retained_MiB_grad": retained(True), "retained_MiB_no_grad": retained(False)}

serve({"chain_1000_ops_fwd_bwd": (chain, 3), "mlp_train_step": (train_step, 20),
       "mlp_forward_no_grad": (no_grad_forward, 50),
       "mlp_forward_inference_mode": (inference_forward, 50),
       "epoch_dataloader_adam": (epoch, 1)}, memory)
'''

NUMPY_FLOOR = r'''
import numpy as np
rng = np.random.default_rng(0)
w = [rng.standard_normal(s).astype(np.float32) * 0.05 for s in ((64, 256), (256, 256), (256, 10))]
b = [np.zeros(n, np.float32) for n in (256, 256, 10)]
batch = rng.standard_normal((64, 64)).astype(np.float32)
labels = rng.integers(0, 10, 64)
rows = np.arange(64)
# relu against an array of zeros and its backward with a float mask, as runtime computes them:
# on current NumPy both are several times faster than np.maximum(h, 0) and a bool mask
zeros = np.zeros((64, 256), np.float32)
def relu(h):
    return np.maximum(h, zeros)
def relu_backward(g, h):
    return g * (h > 0).astype(np.float32)
def forward():
    h = relu(batch @ w[0] + b[0])
    h = relu(h @ w[1] + b[1])
    return h @ w[2] + b[2]
# the same with the weights stored as torch (and runtime) store them, (out, in): BLAS then
# multiplies by a transposed matrix in the forward (and by an untransposed one in backward)
w_out_in = [np.ascontiguousarray(m.T) for m in w]
def forward_out_in():
    h = relu(batch @ w_out_in[0].T + b[0])
    h = relu(h @ w_out_in[1].T + b[1])
    return h @ w_out_in[2].T + b[2]
def loss_and_its_gradient(logits):
    # log_softmax, nll_loss (mean) and their backward, float32 throughout
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    -log_probs[rows, labels].sum() / 64
    g = np.exp(log_probs)
    g[rows, labels] -= 1
    g /= 64
    return g
def train_step():
    # the same eight matrix products as the autograd backends (no gradient for the input)
    h1 = relu(batch @ w[0] + b[0])
    h2 = relu(h1 @ w[1] + b[1])
    g = loss_and_its_gradient(h2 @ w[2] + b[2])
    grads = [h2.T @ g, g.sum(axis=0)]
    g = relu_backward(g @ w[2].T, h2)
    grads += [h1.T @ g, g.sum(axis=0)]
    g = relu_backward(g @ w[1].T, h1)
    grads += [batch.T @ g, g.sum(axis=0)]
def train_step_out_in():
    h1 = relu(batch @ w_out_in[0].T + b[0])
    h2 = relu(h1 @ w_out_in[1].T + b[1])
    g = loss_and_its_gradient(h2 @ w_out_in[2].T + b[2])
    grads = [g.T @ h2, g.sum(axis=0)]
    g = relu_backward(g @ w_out_in[2], h2)
    grads += [g.T @ h1, g.sum(axis=0)]
    g = relu_backward(g @ w_out_in[1], h1)
    grads += [g.T @ batch, g.sum(axis=0)]
x = np.ones(10, np.float32)
def chain():
    y, outputs = x, []
    for _ in range(250):
        t = np.tanh(y * 1.0001 + 0.5)
        outputs.append(t)
        y = t - 0.1
    y.sum()
    g = np.ones_like(y)
    for t in reversed(outputs):
        g = g * (1 - t * t) * 1.0001

serve({"chain_1000_ops_fwd_bwd": (chain, 3), "mlp_train_step": (train_step, 20),
       "mlp_train_step_out_in": (train_step_out_in, 20),
       "mlp_forward_no_grad": (forward, 50), "mlp_forward_no_grad_out_in": (forward_out_in, 50)})
'''


class Backend:
    def __init__(self, code: str, *args: str) -> None:
        env = {**os.environ, **ONE_THREAD, "PYTHONPATH": str(ROOT)}
        # in ROOT, so that ``python -c`` imports this checkout's runtime, whatever the caller's cwd
        self.process = subprocess.Popen([sys.executable, "-c", SERVE + code, *args], env=env, cwd=ROOT,
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.measures = self._ask(None)

    def _ask(self, request: str | None):
        if request is not None:
            self.process.stdin.write(request + "\n")
            self.process.stdin.flush()
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"benchmark worker died (exit status {self.process.wait()})")
        return json.loads(line)

    def time(self, measure: str) -> float:
        return self._ask(measure)

    def memory(self) -> dict:
        return self._ask("memory")

    def close(self) -> None:
        self.process.stdin.close()
        self.process.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=15, help="rounds (default: 15)")
    repeat = parser.parse_args().repeat
    backends = {"runtime": Backend(WORKER, "runtime"), "numpy": Backend(NUMPY_FLOOR)}
    if importlib.util.find_spec("torch"):
        backends["torch"] = Backend(WORKER, "torch")
    times = {name: {measure: [] for measure in backend.measures} for name, backend in backends.items()}
    measures = list(dict.fromkeys(m for backend in backends.values() for m in backend.measures))
    for round_ in range(repeat):
        for measure in measures:
            order = list(backends.items())
            order = order[round_ % len(order):] + order[:round_ % len(order)]  # nobody always first
            for name, backend in order:
                if measure in backend.measures:
                    times[name][measure].append(backend.time(measure))
    memory = {name: backends[name].memory() for name in ("runtime", "torch") if name in backends}
    for backend in backends.values():
        backend.close()

    def median(name: str, measure: str) -> float:
        values = times.get(name, {}).get(measure)
        return statistics.median(values) if values else float("nan")

    def ratio(mine: str, theirs: str, measure: str, theirs_measure: str | None = None) -> float:
        pairs = zip(times.get(mine, {}).get(measure, ()),
                    times.get(theirs, {}).get(theirs_measure or measure, ()))
        ratios = [a / b for a, b in pairs]
        return statistics.median(ratios) if ratios else float("nan")

    def cell(value: float, width: int, digits: int) -> str:
        return f"{'-' if math.isnan(value) else f'{value:.{digits}f}':>{width}}"

    print(f"{repeat} rounds, medians; 1 thread per backend; {os.cpu_count()} cores; "
          "microseconds of CPU time")
    print(f"{'measure':<30}{'runtime':>11}{'torch':>11}{'NumPy':>11}{'runtime/torch':>15}{'runtime/NumPy':>15}")
    for measure in backends["runtime"].measures:
        print(f"{measure:<30}" + "".join(cell(median(name, measure), 11, 1) for name in ("runtime", "torch", "numpy"))
              + cell(ratio("runtime", "torch", measure), 15, 2) + cell(ratio("runtime", "numpy", measure), 15, 2))
        if measure + "_out_in" in backends["numpy"].measures:
            # the floor with torch's weight layout, and runtime's ratio to it
            print(f"{'  NumPy, weights (out, in)':<30}" + " " * 22
                  + cell(median("numpy", measure + "_out_in"), 11, 1) + " " * 15
                  + cell(ratio("runtime", "numpy", measure, measure + "_out_in"), 15, 2))

    def kept(name: str, key: str) -> float:
        return memory.get(name, {}).get(key, float("nan"))

    for key in memory["runtime"]:
        print(f"{key:<30}" + cell(kept("runtime", key), 11, 2) + cell(kept("torch", key), 11, 2)
              + " " * 11 + cell(kept("runtime", key) / kept("torch", key), 15, 2))
    targets = [  # issue 20's
        ("chain / torch", ratio("runtime", "torch", "chain_1000_ops_fwd_bwd"), "<= 0.6"),
        ("MLP training step / torch", ratio("runtime", "torch", "mlp_train_step"), "<= 0.7"),
        ("  NumPy floor (out, in) / torch", ratio("numpy", "torch", "mlp_train_step_out_in",
                                                  "mlp_train_step"), "-"),
        ("no_grad forward / NumPy floor", ratio("runtime", "numpy", "mlp_forward_no_grad"), "<= 1.15"),
        ("  / NumPy floor (out, in)", ratio("runtime", "numpy", "mlp_forward_no_grad",
                                           "mlp_forward_no_grad_out_in"), "<= 1.15"),
        ("inference_mode / no_grad forward",
         ratio("runtime", "runtime", "mlp_forward_inference_mode", "mlp_forward_no_grad"), "<= 1.0"),
        ("DataLoader+Adam epoch / torch", ratio("runtime", "torch", "epoch_dataloader_adam"), "<= 1.5"),
        ("retained memory, grad: / torch", kept("runtime", "retained_MiB_grad")
         / kept("torch", "retained_MiB_grad"), "<= 1.0"),
        ("retained memory, no_grad: / torch", kept("runtime", "retained_MiB_no_grad")
         / kept("torch", "retained_MiB_no_grad"), "<= 1.0"),
        ("retained memory no_grad / grad",
         kept("runtime", "retained_MiB_no_grad") / kept("runtime", "retained_MiB_grad"), "<= 0.05"),
    ]
    for label, value, target in targets:
        print(f"{label + ':':<36}{cell(value, 6, 3)}  (target {target})")


if __name__ == "__main__":
    main()
