#!/usr/bin/python3
"""Times the ONNX models in ONNX Runtime 1.30 (CPU, 2 threads) and in
wgtensor, interleaved model by model, and prints a table of times and
ratios (wgtensor / ONNX Runtime, lower is better).

Run from the repository root (or with `make compare-onnx`), after
`make onnx-models`:

    /usr/bin/python3 bench/compare_onnx.py [--rounds 5] [--benchtime 2s] [--only REGEX] [--no-gpu]

ONNX Runtime runs in one long-lived Node worker (bench/ort_worker.js,
onnxruntime-node from onnx/testdata/gen/npm) that times a model on request:
5 warm-up runs, then the median of 30. wgtensor's figure for a round is one
`BenchmarkONNX/<model>/cpu` run of the bench test binary (built once): its
median iteration (median-ns/op). Each round measures ONNX Runtime, then
wgtensor; the table gives the medians over rounds and the median of the
per-round ratios, and the same ratio of the rounds' means (ONNX Runtime's
mean of its 30 runs, Go's ns/op), where each side pays for its slow runs. The GPU column
(lavapipe without a GPU) is measured once per model.
"""

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile

GEN = os.path.join("onnx", "testdata", "gen")
# name as in BenchmarkONNX, model and input under GEN
MODELS = [
    ("ResNet18", "models/resnet18.onnx", "models/resnet18.input_0.npy"),
    ("MobileNetV2", "models/mobilenet_v2.onnx", "models/mobilenet_v2.input_0.npy"),
    ("PPOCRv4", "ocr/assets/ch_PP-OCRv4_rec_infer.onnx", "ocr/line_0.npy"),
    ("BERTEncoder", "models/bert_encoder.onnx", "models/bert_encoder.input_0.npy"),
    ("GPT2Decoder", "models/gpt2_decoder.onnx", "models/gpt2_decoder.input_0.npy"),
]


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown CPU"


def go_bench(binary, name, device, benchtime):
    """Runs one benchmark and returns its mean and median seconds per op."""
    pattern = "^BenchmarkONNX$/^%s$/^%s$" % (name, device)
    out = subprocess.run([binary, "-test.run", "^$", "-test.bench", pattern, "-test.benchtime", benchtime],
                         cwd="bench", capture_output=True, text=True)
    m = re.search(r"\s(\d+(?:\.\d+)?) ns/op.*$", out.stdout, re.M)
    if not m:
        raise RuntimeError("%s/%s: no result:\n%s%s" % (name, device, out.stdout, out.stderr))
    med = re.search(r"\s(\d+(?:\.\d+)?) median-ns/op", m.group(0))
    return float(m.group(1)) / 1e9, float(med.group(1)) / 1e9 if med else None


def fmt(sec):
    return "%.2f ms" % (sec * 1e3) if sec < 1 else "%.2f s" % sec


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--benchtime", default="2s")
    ap.add_argument("--only", default="")
    ap.add_argument("--no-gpu", action="store_true")
    args = ap.parse_args()
    models = [m for m in MODELS if re.search(args.only, m[0])]
    missing = [m[1] for m in models if not os.path.exists(os.path.join(GEN, m[1]))]
    if missing:
        sys.exit("compare_onnx: %s missing: run `make onnx-models`" % ", ".join(missing))
    tmp = tempfile.mkdtemp(prefix="wgtensor-compare-onnx-")
    binary = os.path.join(tmp, "bench.test")
    subprocess.run(["go", "test", "-c", "-o", binary, "./bench"], check=True)
    worker = subprocess.Popen(["node", os.path.join("bench", "ort_worker.js")], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)

    def ort_time(model, inp):
        worker.stdin.write(json.dumps({"model": os.path.abspath(os.path.join(GEN, model)),
                                       "input": os.path.abspath(os.path.join(GEN, inp))}) + "\n")
        worker.stdin.flush()
        r = json.loads(worker.stdout.readline())
        if "error" in r:
            raise RuntimeError(r["error"])
        return r["mean_ms"] / 1e3, r["median_ms"] / 1e3

    print("cpu: %s, 2 cores | ONNX Runtime 1.30.0 (onnxruntime-node), 2 intra-op threads | wgtensor CPU backend"
          % cpu_model())
    rows = []
    for name, model, inp in models:
        ort_s, wg_s, ratios, means = [], [], [], []
        for r in range(args.rounds):
            om, o = ort_time(model, inp)
            wm, w = go_bench(binary, name, "cpu", args.benchtime)
            w = w or wm  # a benchmark without median-ns/op
            ort_s.append(o)
            wg_s.append(w)
            ratios.append(w / o)
            means.append(wm / om)
            print("%-12s round %d/%d: ORT %s, wgtensor %s, ratio %.2f" % (name, r + 1, args.rounds, fmt(o), fmt(w), w / o),
                  file=sys.stderr)
        gpu = None if args.no_gpu else go_bench(binary, name, "gpu", "3x")[0]
        rows.append((name, statistics.median(ort_s), statistics.median(wg_s), statistics.median(ratios),
                     min(ratios), max(ratios), statistics.median(means), gpu))
    worker.stdin.close()
    worker.wait()
    print("%-12s %12s %14s %8s %13s %10s %14s" % ("model", "ORT CPU", "wgtensor CPU", "ratio", "ratio range", "mean ratio",
                                                "wgtensor GPU"))
    for name, o, w, r, lo, hi, mr, gpu in rows:
        print("%-12s %12s %14s %8.2f %13s %10.2f %14s" % (name, fmt(o), fmt(w), r, "%.2f–%.2f" % (lo, hi), mr,
                                                        fmt(gpu) if gpu else "-"))
    print("%d rounds per model, interleaved (ONNX Runtime, then wgtensor); batch 1; times are medians over rounds of "
          "each round's median run, ratio the median of the per-round ratios; mean ratio: the same of each round's "
          "mean; GPU: one measurement." % args.rounds)


if __name__ == "__main__":
    main()
