#!/usr/bin/python3
"""Times wgtensor's benchmark workloads in PyTorch and in wgtensor, one after
the other in one run, and prints a table of times and ratios.

Run from the repository root (or with `make compare`):

    /usr/bin/python3 bench/compare.py [--benchtime 2s] [--no-gpu]

PyTorch is Debian's python3-torch (CPU) with two threads, as the reference
machine; it is skipped, with a note, when it is not installed. wgtensor's
figures come from `go test -bench` on ./bench, cpu and gpu sub-benchmarks.
Each PyTorch figure is the median of repeated runs after a warm-up; each
wgtensor figure is Go's ns/op, each benchmark in its own process. Compare
ratios measured in one run only: machines are noisy.
"""

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time

# Workload name -> Go benchmark (sub-benchmark name without the device).
WORKLOADS = [
    ("MatMul 128", "BenchmarkMatMul/128"),
    ("MatMul 256", "BenchmarkMatMul/256"),
    ("MatMul 512", "BenchmarkMatMul/512"),
    ("MatMul 1024", "BenchmarkMatMul/1024"),
    ("MatMul 2048", "BenchmarkMatMul/2048"),
    ("Conv2D", "BenchmarkConv2D"),
    ("Softmax", "BenchmarkSoftmax"),
    ("Tanh", "BenchmarkTanh"),
    ("SmallOps", "BenchmarkSmallOps"),
    ("TrainStepMLP", "BenchmarkTrainStepMLP"),
    ("TrainStepCNN", "BenchmarkTrainStepCNN"),
    ("Attention", "BenchmarkAttention"),
    ("RNN", "BenchmarkRNN"),
]


def torch_times(repeats):
    """Returns {workload: seconds} measured in PyTorch, or None."""
    try:
        import torch
        import torch.nn.functional as F
    except ImportError:
        return None
    torch.set_num_threads(2)
    torch.manual_seed(0)

    def median(f, n=repeats):
        for _ in range(3):
            f()
        ts = []
        for _ in range(n):
            t = time.perf_counter()
            f()
            ts.append(time.perf_counter() - t)
        return statistics.median(ts)

    out = {}
    for n in (128, 256, 512, 1024, 2048):
        a, b = torch.randn(n, n), torch.randn(n, n)
        out["MatMul %d" % n] = median(lambda: a @ b, 5 if n == 2048 else repeats)
    x, w = torch.randn(64, 32, 14, 14), torch.randn(64, 32, 3, 3)
    out["Conv2D"] = median(lambda: F.conv2d(x, w, padding=1))
    s = torch.randn(256, 1000)
    out["Softmax"] = median(lambda: torch.softmax(s, -1))
    t = torch.randn(1 << 20)
    out["Tanh"] = median(lambda: torch.tanh(t))
    u, v = torch.randn(1000), torch.randn(1000)

    def small():
        z = u
        for _ in range(100):
            z = z + v
    out["SmallOps"] = median(small)

    mlp = torch.nn.Sequential(torch.nn.Linear(784, 256), torch.nn.ReLU(), torch.nn.Linear(256, 10))
    opt = torch.optim.SGD(mlp.parameters(), lr=0.01)
    xm, ym = torch.randn(128, 784), torch.randint(0, 10, (128,))

    def mlp_step():
        opt.zero_grad()
        F.cross_entropy(mlp(xm), ym).backward()
        opt.step()
    out["TrainStepMLP"] = median(mlp_step)

    class CNN(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = torch.nn.Conv2d(1, 32, 3, padding=1)
            self.conv2 = torch.nn.Conv2d(32, 64, 3, padding=1)
            self.fc1 = torch.nn.Linear(64 * 7 * 7, 128)
            self.fc2 = torch.nn.Linear(128, 10)

        def forward(self, x):
            x = F.max_pool2d(F.relu(self.conv1(x)), 2)
            x = F.max_pool2d(F.relu(self.conv2(x)), 2)
            return self.fc2(F.relu(self.fc1(x.flatten(1))))
    cnn = CNN()
    copt = torch.optim.Adam(cnn.parameters(), lr=1e-3)
    xc, yc = torch.randn(64, 1, 28, 28), torch.randint(0, 10, (64,))

    def cnn_step():
        copt.zero_grad()
        F.cross_entropy(cnn(xc), yc).backward()
        copt.step()
    out["TrainStepCNN"] = median(cnn_step)

    mha = torch.nn.MultiheadAttention(128, 4, batch_first=True)
    xa = torch.randn(32, 64, 128, requires_grad=True)

    def attention():
        mha.zero_grad()
        xa.grad = None
        o, _ = mha(xa, xa, xa)
        o.sum().backward()
    out["Attention"] = median(attention)

    rnn = torch.nn.RNN(64, 128, batch_first=True)
    xr = torch.randn(32, 50, 64, requires_grad=True)

    def rnn_pass():
        rnn.zero_grad()
        xr.grad = None
        o, _ = rnn(xr)
        o.sum().backward()
    out["RNN"] = median(rnn_pass)
    return out


def go_times(benchtime, gpu):
    """Returns {(benchmark, device): seconds} from go test -bench. Each
    benchmark runs in its own process, and the CPU and GPU sub-benchmarks
    separately: what one workload leaves behind (a large heap, pooled
    buffers, the GPU driver's threads on the same cores) cannot slow the
    next, as in a program that runs that one workload."""
    names = sorted({w[1].split("/")[0] for w in WORKLOADS})
    times = {}
    for dev in ["cpu", "gpu"] if gpu else ["cpu"]:
        env = dict(os.environ, WGTENSOR_BENCH_DEVICES=dev)
        for name in names:
            cmd = ["go", "test", "-run", "^$", "-bench", "^%s$" % name, "-benchtime", benchtime, "-timeout", "60m", "./bench"]
            print("running: WGTENSOR_BENCH_DEVICES=%s %s" % (dev, " ".join(cmd)), file=sys.stderr)
            res = subprocess.run(cmd, capture_output=True, text=True, env=env)
            if res.returncode != 0:
                sys.exit("go test failed:\n" + res.stdout + res.stderr)
            for line in res.stdout.splitlines():
                m = re.match(r"^(Benchmark\S+?)/(cpu|gpu)-\d+\s+\d+\s+([\d.]+) ns/op", line)
                if m:
                    times[(m.group(1), m.group(2))] = float(m.group(3)) / 1e9
    return times


def fmt(s):
    if s is None:
        return "-"
    if s < 1e-3:
        return "%.1f µs" % (s * 1e6)
    if s < 1:
        return "%.2f ms" % (s * 1e3)
    return "%.2f s" % s


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--benchtime", default="1s", help="go test -benchtime")
    ap.add_argument("--repeats", type=int, default=20, help="PyTorch runs per workload")
    ap.add_argument("--no-gpu", action="store_true", help="skip wgtensor's gpu sub-benchmarks")
    ap.add_argument("--json", help="also write the figures to this file")
    args = ap.parse_args()

    torch = torch_times(args.repeats)
    if torch is None:
        print("note: PyTorch (python3-torch) is not installed; showing wgtensor only", file=sys.stderr)
    go = go_times(args.benchtime, not args.no_gpu)

    rows = []
    for name, bench in WORKLOADS:
        pt = torch.get(name) if torch else None
        cpu, gpu = go.get((bench, "cpu")), go.get((bench, "gpu"))
        ratio = cpu / pt if pt and cpu else None
        rows.append((name, pt, cpu, ratio, gpu))
    print("%-14s %12s %14s %8s %14s" % ("workload", "PyTorch CPU", "wgtensor CPU", "ratio", "wgtensor GPU"))
    for name, pt, cpu, ratio, gpu in rows:
        print("%-14s %12s %14s %8s %14s" % (name, fmt(pt), fmt(cpu), "%.2f" % ratio if ratio else "-", fmt(gpu)))
    if args.json:
        with open(args.json, "w") as f:
            json.dump([dict(zip(("workload", "pytorch", "cpu", "ratio", "gpu"), r)) for r in rows], f, indent=1)


if __name__ == "__main__":
    main()
