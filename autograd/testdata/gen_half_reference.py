#!/usr/bin/python3
"""Generate PyTorch float16 and bfloat16 references for the wgtensor autograd tests.

It reads reference.json (written by gen_reference.py, next to this script)
and, for every case and each of torch.float16 and torch.bfloat16, rounds the
case's float inputs and its grad_output to that type, runs the op forward
and backward in PyTorch in that type, and writes the output and gradients
to reference_half.json:

  {"generator": "gen_half_reference.py", "torch": "<version>",
   "cases": [{"name": "<case name in reference.json>",
              "dtype": "float16"|"bfloat16",
              "native": true|false,
              "output": [...], "grads": [[...] | null, ...]}, ...]}

"native" is true when PyTorch 1.13's CPU kernels ran the op in the 16-bit
type.  Where they do not (several float16 CPU kernels are missing in 1.13),
the op runs in float32 on the rounded inputs and its output and gradients
are rounded to the 16-bit type: what PyTorch's GPU kernels compute, and
what wgtensor does for every op.  Values are written as the shortest
decimal that parses back to the same float32 (16-bit values are exact in
float32).  The Go tests never run Python.

Run from the repository root: /usr/bin/python3 autograd/testdata/gen_half_reference.py
The output is deterministic.
"""

import json
import os
import sys

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import gen_reference as ref  # noqa: E402

OUT_PATH = os.path.join(HERE, "reference_half.json")


def tensor_of(spec, dtype):
    src = torch.int32 if dtype == torch.int32 else torch.float32
    shape = spec["shape"]
    return torch.tensor(spec["data"], dtype=src).reshape(shape)


def run(c, dtype):
    inputs = []
    for s in c["inputs"]:
        if s["dtype"] == "int32":
            inputs.append((tensor_of(s, torch.int32), False))
        else:
            inputs.append((tensor_of(s, torch.float32).to(dtype), s["grad"]))
    go = tensor_of(c["grad_output"], torch.float32).to(dtype)
    try:
        out, grads = ref.evaluate(c["op"], c["params"], inputs, go, dtype)
        native = True
        if out.dtype != dtype:
            raise RuntimeError("output is %s" % out.dtype)
    except RuntimeError:
        # float32 on the rounded inputs, each result rounded once
        inputs32 = [(t.to(torch.float32) if t.is_floating_point() else t, g) for t, g in inputs]
        out, grads = ref.evaluate(c["op"], c["params"], inputs32, go.to(torch.float32), torch.float32)
        out = out.to(dtype)
        grads = [None if g is None else g.to(dtype) for g in grads]
        native = False
    return {
        "name": c["name"],
        "dtype": str(dtype).replace("torch.", ""),
        "native": native,
        "output": ref.F32Data(out),
        "grads": [None if g is None else ref.F32Data(g) for g in grads],
    }


def main():
    with open(os.path.join(HERE, "reference.json")) as f:
        doc = json.load(f)
    cases, skipped = [], []
    for c in doc["cases"]:
        for dtype in (torch.float16, torch.bfloat16):
            r = run(c, dtype)
            vals = r["output"].values + [v for g in r["grads"] if g for v in g.values]
            if not all(abs(v) < float("inf") for v in vals):
                skipped.append("%s/%s" % (c["name"], r["dtype"]))  # overflows the 16-bit range
                continue
            cases.append(r)
    head = '{"generator":"gen_half_reference.py","torch":%s,\n"cases":[\n' % json.dumps(torch.__version__)
    with open(OUT_PATH, "w", newline="\n") as f:
        f.write(head + ",\n".join(ref.encode(c) for c in cases) + "\n]}\n")
    native = sum(c["native"] for c in cases)
    print("%d cases (%d run natively in 16 bits), %d skipped (non-finite): %s; %d bytes"
          % (len(cases), native, len(skipped), ", ".join(skipped), os.path.getsize(OUT_PATH)))


if __name__ == "__main__":
    main()
