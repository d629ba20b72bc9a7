#!/usr/bin/python3
"""Times wgtensor's benchmark workloads in PyTorch and in wgtensor, interleaved
workload by workload, and prints a table of times and ratios.

Run from anywhere (or with `make compare`):

    /usr/bin/python3 bench/compare.py [--rounds 5] [--benchtime 1s]
        [--only REGEX] [--no-gpu] [--repeats 20] [--json FILE]

PyTorch is Debian's python3-torch (CPU) with two threads, as the reference
machine; it is skipped, with a note, when it is not installed. It runs in one
long-lived worker process (this script with --worker) that times a workload
each time it is asked to over a pipe, so no measurement pays torch's import.

Debian's OpenBLAS (libopenblas0-pthread), which torch uses for matmul, calls
CPUs it does not know, as virtual machines often show, "Prescott" and then
runs SSE3 kernels many times slower. The script therefore starts the worker
with OPENBLAS_CORETYPE chosen from the CPU's flags in /proc/cpuinfo: SkylakeX
when it has AVX-512 (avx512f, bw, dq and vl), Haswell when it has avx2 and
fma, else unset. An OPENBLAS_CORETYPE already in the environment wins; set it
empty to let OpenBLAS detect the CPU itself. The header line shows the CPU,
the core type chosen and the core OpenBLAS reports using
(openblas_get_corename() in the library torch loaded), torch's version and
thread count, and the date.

wgtensor's figures come from its benchmarks in ./bench: the test binary is
built once (go test -c) and each measurement is one process of it running one
cpu sub-benchmark for --benchtime (Go's ns/op, the mean), so that what one
workload leaves behind (a large heap, pooled buffers) cannot slow the next.

For each workload the script runs --rounds rounds, each one PyTorch
measurement (--repeats runs after a warm-up) and then one wgtensor
measurement, and reports the median PyTorch time, the median wgtensor time,
the median of the per-round ratios (wgtensor/PyTorch) and their range;
interleaving puts both sides under the same machine noise. Each side's
figure for a round is the median of its runs (PyTorch's, the benchmark's
median-ns/op): on a noisy machine a few runs many times slower (PyTorch's
training steps had rounds with means 15 times their medians) would decide
a mean. The mean ratio column gives the same ratio of the rounds' means,
where each side pays for its slow runs (wgtensor's garbage collections, a
noisy neighbour) as a loop of many calls does. The
GPU column (lavapipe, slow) is measured once per workload, after its rounds;
--no-gpu skips it. Compare ratios measured in one run only: machines are
noisy.
"""

import argparse
import ctypes
import ctypes.util
import glob
import json
import os
import re
import shlex
import statistics
import subprocess
import sys
import tempfile
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

TORCH_THREADS = 2
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


# ---------------------------------------------------------------- CPU, OpenBLAS

def cpuinfo():
    """Returns (model name, set of flags) of the first CPU in /proc/cpuinfo."""
    model, flags = "unknown CPU", set()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                key, _, value = line.partition(":")
                key = key.strip()
                if key == "model name" and model == "unknown CPU":
                    model = value.strip()
                elif key == "flags" and not flags:
                    flags = set(value.split())
    except OSError:
        pass
    return model, flags


def choose_coretype(flags):
    """Returns (OPENBLAS_CORETYPE for the worker or None, why)."""
    if "OPENBLAS_CORETYPE" in os.environ:
        v = os.environ["OPENBLAS_CORETYPE"]
        return (v, "set by user") if v else (None, "left unset by user")
    if {"avx512f", "avx512bw", "avx512dq", "avx512vl"} <= flags:
        return "SkylakeX", "from avx512f"
    if {"avx2", "fma"} <= flags:
        return "Haswell", "from avx2, fma"
    return None, "no avx2/fma"


def openblas():
    """Returns (library, path) of the OpenBLAS this process has loaded (torch
    links it as libblas.so.3 through Debian's alternatives), else of one it
    can load, or (None, None)."""
    mapped = []
    try:
        with open("/proc/self/maps") as f:
            for line in f:
                p = line.split()[-1]
                if p.startswith("/") and ".so" in p and "blas" in os.path.basename(p) and p not in mapped:
                    mapped.append(p)
    except OSError:
        pass
    mapped.sort(key=lambda p: "openblas" not in os.path.basename(p))
    loose = [ctypes.util.find_library("openblas")] + sorted(glob.glob("/usr/lib/*-linux-gnu/openblas*/libopenblas*.so*"))
    for p in mapped + [p + " (not loaded by torch)" for p in loose if p]:
        try:
            lib = ctypes.CDLL(p.split(" ")[0])
        except OSError:
            continue
        if hasattr(lib, "openblas_get_corename"):
            lib.openblas_get_corename.restype = ctypes.c_char_p
            return lib, p
    return None, None


# ---------------------------------------------------------------- PyTorch worker

def torch_workloads(torch, F):
    """Returns {workload: function making the workload's step}: each makes
    its inputs when first called, so the worker only builds what it times."""
    def matmul(n):
        def make():
            a, b = torch.randn(n, n), torch.randn(n, n)
            return lambda: a @ b
        return make

    def conv2d():
        x, w = torch.randn(64, 32, 14, 14), torch.randn(64, 32, 3, 3)
        return lambda: F.conv2d(x, w, padding=1)

    def softmax():
        s = torch.randn(256, 1000)
        return lambda: torch.softmax(s, -1)

    def tanh():
        t = torch.randn(1 << 20)
        return lambda: torch.tanh(t)

    def small_ops():
        u, v = torch.randn(1000), torch.randn(1000)

        def small():
            z = u
            for _ in range(100):
                z = z + v
        return small

    def train_mlp():
        mlp = torch.nn.Sequential(torch.nn.Linear(784, 256), torch.nn.ReLU(), torch.nn.Linear(256, 10))
        opt = torch.optim.SGD(mlp.parameters(), lr=0.01)
        xm, ym = torch.randn(128, 784), torch.randint(0, 10, (128,))

        def step():
            opt.zero_grad()
            F.cross_entropy(mlp(xm), ym).backward()
            opt.step()
        return step

    def train_cnn():
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
        opt = torch.optim.Adam(cnn.parameters(), lr=1e-3)
        xc, yc = torch.randn(64, 1, 28, 28), torch.randint(0, 10, (64,))

        def step():
            opt.zero_grad()
            F.cross_entropy(cnn(xc), yc).backward()
            opt.step()
        return step

    def attention():
        mha = torch.nn.MultiheadAttention(128, 4, batch_first=True)
        xa = torch.randn(32, 64, 128, requires_grad=True)

        def step():
            mha.zero_grad()
            xa.grad = None
            o, _ = mha(xa, xa, xa)
            o.sum().backward()
        return step

    def rnn():
        r = torch.nn.RNN(64, 128, batch_first=True)
        xr = torch.randn(32, 50, 64, requires_grad=True)

        def step():
            r.zero_grad()
            xr.grad = None
            o, _ = r(xr)
            o.sum().backward()
        return step

    out = {"MatMul %d" % n: matmul(n) for n in (128, 256, 512, 1024, 2048)}
    out.update({
        "Conv2D": conv2d, "Softmax": softmax, "Tanh": tanh, "SmallOps": small_ops,
        "TrainStepMLP": train_mlp, "TrainStepCNN": train_cnn,
        "Attention": attention, "RNN": rnn,
    })
    return out


def worker():
    """The PyTorch side: answers a hello, then reads one JSON request a line,
    {"workload": name, "repeats": n}, and answers {"seconds": s, "median": m}
    with the mean and the median of n runs after a warm-up, or {"error":
    message}. Replies go to
    the original stdout; anything else printed goes to stderr."""
    proto = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)

    def reply(**kw):
        proto.write(json.dumps(kw) + "\n")

    try:
        import torch
        import torch.nn.functional as F
    except ImportError as e:
        reply(error="PyTorch (python3-torch) is not installed: %s" % e)
        return
    torch.set_num_threads(TORCH_THREADS)
    lib, path = openblas()
    hello = {"torch": torch.__version__, "threads": torch.get_num_threads(), "openblas": path, "corename": None}
    if lib:
        # OpenBLAS keeps its own pool, sized to the machine; give it torch's.
        if hasattr(lib, "openblas_set_num_threads"):
            lib.openblas_set_num_threads(TORCH_THREADS)
        hello["corename"] = lib.openblas_get_corename().decode(errors="replace")
        if hasattr(lib, "openblas_get_num_threads"):
            hello["openblas_threads"] = lib.openblas_get_num_threads()
    reply(**hello)

    makers, steps = torch_workloads(torch, F), {}
    for line in sys.stdin:
        try:
            req = json.loads(line)
            name, repeats = req["workload"], int(req["repeats"])
            if name not in steps:
                torch.manual_seed(0)
                steps[name] = makers[name]()
            f = steps[name]
            for _ in range(3):
                f()
            ts = []
            for _ in range(repeats):
                t = time.perf_counter()
                f()
                ts.append(time.perf_counter() - t)
            reply(seconds=statistics.mean(ts), median=statistics.median(ts))
        except Exception as e:  # report it and keep serving
            reply(error="%s: %r" % (type(e).__name__, e))


class Torch:
    """The main process's end of the PyTorch worker."""

    def __init__(self, coretype):
        env = dict(os.environ)
        env.pop("OPENBLAS_CORETYPE", None)
        if coretype:
            env["OPENBLAS_CORETYPE"] = coretype
        self.proc = subprocess.Popen(
            [sys.executable, os.path.abspath(__file__), "--worker"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1, env=env)
        self.hello = self._read()

    def _read(self):
        line = self.proc.stdout.readline()
        if not line:
            return {"error": "the PyTorch worker exited (status %s)" % self.proc.wait()}
        return json.loads(line)

    def time(self, workload, repeats):
        """Returns (mean seconds, median seconds, None) or (None, None, error)."""
        try:
            self.proc.stdin.write(json.dumps({"workload": workload, "repeats": repeats}) + "\n")
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError):
            return None, None, "the PyTorch worker exited (status %s)" % self.proc.wait()
        r = self._read()
        return r.get("seconds"), r.get("median"), r.get("error")

    def close(self):
        try:
            self.proc.stdin.close()
        except OSError:
            pass
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


# ---------------------------------------------------------------- wgtensor

def build_go(tmp):
    """Builds the ./bench test binary once and returns its path."""
    path = os.path.join(tmp, "bench.test")
    cmd = ["go", "test", "-c", "-o", path, "./bench"]
    print("building: " + " ".join(cmd), file=sys.stderr)
    res = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    if res.returncode != 0:
        sys.exit("go test -c failed:\n" + res.stdout + res.stderr)
    return path


def go_cmd(binary, bench, dev, benchtime):
    pattern = "/".join("^%s$" % part for part in bench.split("/") + [dev])
    return [binary, "-test.run", "^$", "-test.bench", pattern, "-test.benchtime", benchtime, "-test.timeout", "60m"]


def go_time(binary, bench, dev, benchtime):
    """Runs one sub-benchmark in its own process (in ./bench, as go test
    does) and returns (mean seconds per op, median, None), (None, None,
    None) when it skipped, or (None, None, error)."""
    env = dict(os.environ, WGTENSOR_BENCH_DEVICES=dev)
    res = subprocess.run(go_cmd(binary, bench, dev, benchtime), cwd=os.path.join(ROOT, "bench"),
                         capture_output=True, text=True, env=env)
    if res.returncode != 0:
        return None, None, "%s/%s failed:\n%s" % (bench, dev, (res.stdout + res.stderr)[-3000:])
    line = r"^%s/%s(?:-\d+)?\s+\d+\s+([\d.]+) ns/op.*$" % (re.escape(bench), dev)
    m = re.search(line, res.stdout, re.M)
    if not m:
        return None, None, None
    med = re.search(r"\s([\d.]+) median-ns/op", m.group(0))
    return float(m.group(1)) / 1e9, float(med.group(1)) / 1e9 if med else None, None


# ---------------------------------------------------------------- main

def fmt(s):
    if s is None:
        return "-"
    if s < 1e-3:
        return "%.1f µs" % (s * 1e6)
    if s < 1:
        return "%.2f ms" % (s * 1e3)
    return "%.2f s" % s


def median(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=5, help="interleaved PyTorch/wgtensor rounds per workload (5)")
    ap.add_argument("--benchtime", default="1s", help="-benchtime of each wgtensor measurement (1s)")
    ap.add_argument("--repeats", type=int, default=20, help="timed PyTorch runs per measurement (20; 5 for MatMul 2048)")
    ap.add_argument("--only", metavar="REGEX", help="only the workloads whose name this matches (re.search)")
    ap.add_argument("--no-gpu", action="store_true", help="skip wgtensor's gpu sub-benchmarks")
    ap.add_argument("--json", help="also write the figures to this file")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        return worker()
    if args.rounds < 1 or args.repeats < 1:
        ap.error("--rounds and --repeats must be at least 1")

    workloads = WORKLOADS
    if args.only:
        try:
            only = re.compile(args.only)
        except re.error as e:
            ap.error("--only: %s" % e)
        workloads = [w for w in WORKLOADS if only.search(w[0])]
        if not workloads:
            ap.error("--only %r matches none of: %s" % (args.only, ", ".join(w[0] for w in WORKLOADS)))

    model, flags = cpuinfo()
    coretype, why = choose_coretype(flags)
    pt = Torch(coretype)
    if "error" in pt.hello:
        print("note: %s; showing wgtensor only" % pt.hello["error"], file=sys.stderr)
        pt.close()
        pt = None
    h = pt.hello if pt else {}
    core = h.get("corename") or ("-" if not pt else "unknown (no OpenBLAS found)")
    header = "cpu: %s | OPENBLAS_CORETYPE=%s (%s) | OpenBLAS core: %s | torch %s, %s threads | %s" % (
        model, coretype or "unset", why, core,
        h.get("torch", "not installed"), h.get("threads", "-"), time.strftime("%Y-%m-%d %H:%M %Z"))
    print(header, flush=True)
    if pt:
        print("OpenBLAS: %s, %s threads" % (h.get("openblas"), h.get("openblas_threads", "?")), file=sys.stderr)
        if coretype and h.get("corename") and h["corename"].lower() != coretype.lower():
            print("warning: OPENBLAS_CORETYPE=%s but OpenBLAS reports %s" % (coretype, h["corename"]), file=sys.stderr)

    failures = []
    rows = []
    with tempfile.TemporaryDirectory(prefix="wgtensor-compare-") as tmp:
        binary = build_go(tmp)
        print("each round: %s" % " ".join(map(shlex.quote, go_cmd("bench.test", "<benchmark>", "cpu", args.benchtime))),
              file=sys.stderr)
        for name, bench in workloads:
            repeats = min(5, args.repeats) if name == "MatMul 2048" else args.repeats
            pts, cpus, ratios, means = [], [], [], []
            for r in range(args.rounds):
                pm = p = None
                if pt:
                    pm, p, err = pt.time(name, repeats)
                    if err:
                        failures.append("PyTorch %s: %s" % (name, err))
                        print("error: PyTorch %s: %s" % (name, err), file=sys.stderr)
                        if pt.proc.poll() is not None:
                            pt.close()
                            pt = None
                cm, c, err = go_time(binary, bench, "cpu", args.benchtime)
                if err:
                    failures.append(err)
                    print("error: " + err, file=sys.stderr)
                c = c or cm  # a benchmark without median-ns/op
                ratio = c / p if p and c else None
                pts.append(p)
                cpus.append(c)
                ratios.append(ratio)
                means.append(cm / pm if pm and cm else None)
                print("%-14s round %d/%d: PyTorch %s, wgtensor %s, ratio %s" % (
                    name, r + 1, args.rounds, fmt(p), fmt(c), "%.2f" % ratio if ratio else "-"), file=sys.stderr)
            gpu = None
            if not args.no_gpu:
                gpu, _, err = go_time(binary, bench, "gpu", args.benchtime)
                if err:
                    failures.append(err)
                    print("error: " + err, file=sys.stderr)
                print("%-14s gpu: %s" % (name, fmt(gpu)), file=sys.stderr)
            rs = [x for x in ratios if x is not None]
            rows.append({
                "workload": name, "pytorch": median(pts), "cpu": median(cpus), "ratio": median(rs),
                "ratio_min": min(rs) if rs else None, "ratio_max": max(rs) if rs else None, "gpu": gpu,
                "mean_ratio": median(means),
                "pytorch_rounds": pts, "cpu_rounds": cpus, "ratio_rounds": ratios, "mean_ratio_rounds": means,
            })
    if pt:
        pt.close()

    line = "%-14s %12s %14s %8s %13s %9s %14s"
    print(line % ("workload", "PyTorch CPU", "wgtensor CPU", "ratio", "ratio range", "mean ratio", "wgtensor GPU"))
    for r in rows:
        print(line % (
            r["workload"], fmt(r["pytorch"]), fmt(r["cpu"]), "%.2f" % r["ratio"] if r["ratio"] else "-",
            "%.2f–%.2f" % (r["ratio_min"], r["ratio_max"]) if r["ratio"] else "-",
            "%.2f" % r["mean_ratio"] if r["mean_ratio"] else "-", fmt(r["gpu"])))
    how = ("%d rounds per workload, interleaved (PyTorch, then wgtensor, each round); PyTorch: median of %d runs "
           "per round (at most 5 for MatMul 2048), %d threads; wgtensor: one process per round, -benchtime %s, the median "
           "iteration (median-ns/op); times are medians over rounds, ratio (wgtensor/PyTorch) is the median of the "
           "per-round ratios, range their min–max; mean ratio: the same of each round's means (Go's ns/op); GPU: %s." % (
               args.rounds, args.repeats, TORCH_THREADS, args.benchtime,
               "skipped (--no-gpu)" if args.no_gpu else "one measurement per workload"))
    print(how)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"header": header, "how": how, "rows": rows}, f, indent=1)
    if failures:
        sys.exit("%d measurement(s) failed; see the errors above" % len(failures))


if __name__ == "__main__":
    main()
