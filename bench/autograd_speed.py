"""Autograd speed and memory: runtime against a plain-NumPy floor and PyTorch, side by side.

    python bench/autograd_speed.py [--repeat N]

Each backend runs in its own subprocess (so one's imports and garbage do not tax the other),
with one thread for NumPy's BLAS and for PyTorch.  Measured: a chain of 1,000 elementwise ops
on 10 elements, forward + backward; an MLP 64-256-256-10, batch 64: a training step (forward,
backward), a forward under no_grad, one under inference_mode, and the NumPy forward (floor);
an epoch of DataLoader + Adam training; and the memory 200 evaluation forwards keep alive when
their outputs are kept, grad enabled versus no_grad (tracemalloc).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ONE_THREAD = {name: "1" for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")}

TIMER = r'''
import statistics, time

def best(function, inner):
    """Median microseconds per call of `function`, over `repeat` rounds of `inner` calls."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        for _ in range(inner):
            function()
        times.append((time.perf_counter() - start) / inner)
    return statistics.median(times) * 1e6
'''

WORKER = r'''
import gc, json, statistics, sys, time, tracemalloc
import numpy as np
backend, repeat = sys.argv[1], int(sys.argv[2])
if backend == "torch":
    import torch
    torch.set_num_threads(1)
else:
    import runtime as torch
nn = torch.nn

results = {}
x0 = torch.ones(10, requires_grad=True)
def chain():
    y = x0
    for _ in range(250):
        y = ((y * 1.0001) + 0.5).tanh() - 0.1
    y.sum().backward()
results["chain_1000_ops_fwd_bwd"] = best(chain, 3)

torch.manual_seed(0)
model = nn.Sequential(nn.Linear(64, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, 10))
batch, labels = torch.randn(64, 64), torch.randint(0, 10, (64,))
loss_fn = nn.CrossEntropyLoss()
def train_step():
    model.zero_grad()
    loss_fn(model(batch), labels).backward()
results["mlp_train_step"] = best(train_step, 20)
def no_grad_forward():
    with torch.no_grad():
        model(batch)
results["mlp_forward_no_grad"] = best(no_grad_forward, 50)
def inference_forward():
    with torch.inference_mode():
        model(batch)
results["mlp_forward_inference_mode"] = best(inference_forward, 50)

DataLoader, TensorDataset = torch.utils.data.DataLoader, torch.utils.data.TensorDataset
data = TensorDataset(torch.randn(2048, 64), torch.randint(0, 10, (2048,)))
loader = DataLoader(data, batch_size=64, shuffle=True)
optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
def epoch():
    for inputs, targets in loader:
        optimizer.zero_grad()
        loss_fn(model(inputs), targets).backward()
        optimizer.step()
results["epoch_dataloader_adam_us"] = best(epoch, 1)

def retained(grad_enabled):
    gc.collect()
    tracemalloc.start()
    kept = []
    with torch.set_grad_enabled(grad_enabled):
        for _ in range(200):
            kept.append(model(batch))
    size = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    return size / 2**20
if backend != "torch":  # tracemalloc sees NumPy's buffers, not PyTorch's C++ allocator
    results["retained_MiB_grad"] = retained(True)
    results["retained_MiB_no_grad"] = retained(False)
print(json.dumps(results))
'''

NUMPY_FLOOR = r'''
import json, statistics, sys, time
import numpy as np
repeat = int(sys.argv[1])
rng = np.random.default_rng(0)
w = [rng.standard_normal(s).astype(np.float32) * 0.05 for s in ((64, 256), (256, 256), (256, 10))]
b = [np.zeros(n, np.float32) for n in (256, 256, 10)]
batch = rng.standard_normal((64, 64)).astype(np.float32)
def forward():
    h = np.maximum(batch @ w[0] + b[0], 0)
    h = np.maximum(h @ w[1] + b[1], 0)
    return h @ w[2] + b[2]
x = np.ones(10, np.float32)
def chain():
    y = x
    for _ in range(250):
        y = np.tanh(y * 1.0001 + 0.5) - 0.1
print(json.dumps({"mlp_forward_numpy": best(forward, 50), "chain_forward_numpy": best(chain, 3)}))
'''


def run(code: str, *args: str) -> dict:
    env = {**os.environ, **ONE_THREAD, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", TIMER + code, *args], capture_output=True, text=True,
                          env=env, check=True)
    return json.loads(done.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=5)
    repeat = str(parser.parse_args().repeat)
    floor = run(NUMPY_FLOOR, repeat)
    ours = run(WORKER, "runtime", repeat)
    theirs = run(WORKER, "torch", repeat) if importlib.util.find_spec("torch") else {}

    print(f"1 thread; medians of {repeat}; microseconds unless noted")
    print(f"{'measure':<34}{'runtime':>12}{'torch':>12}{'runtime/torch':>15}")
    for key, value in ours.items():
        other = theirs.get(key)
        ratio = f"{value / other:.2f}" if other else "-"
        print(f"{key:<34}{value:>12.1f}{(other or float('nan')):>12.1f}{ratio:>15}")
    print(f"{'mlp_forward_numpy (floor)':<34}{floor['mlp_forward_numpy']:>12.1f}")
    print(f"{'chain_forward_numpy (floor)':<34}{floor['chain_forward_numpy']:>12.1f}")
    print(f"no_grad forward / NumPy floor:        {ours['mlp_forward_no_grad'] / floor['mlp_forward_numpy']:.2f}  (target <= 1.1)")
    print(f"inference_mode / no_grad forward:     {ours['mlp_forward_inference_mode'] / ours['mlp_forward_no_grad']:.2f}  (target <= 1.0)")
    print(f"retained memory no_grad / grad:       {ours['retained_MiB_no_grad'] / ours['retained_MiB_grad']:.3f}  (target <= 0.05)")
    if theirs:
        print(f"chain / torch:                        {ours['chain_1000_ops_fwd_bwd'] / theirs['chain_1000_ops_fwd_bwd']:.2f}  (target <= 0.8)")
        print(f"MLP training step / torch:            {ours['mlp_train_step'] / theirs['mlp_train_step']:.2f}  (target <= 1.0)")
        print(f"DataLoader+Adam epoch / torch:        {ours['epoch_dataloader_adam_us'] / theirs['epoch_dataloader_adam_us']:.2f}  (target <= 1.5)")


if __name__ == "__main__":
    main()
