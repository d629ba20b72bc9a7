#!/usr/bin/python3
"""Generate PyTorch reference vectors for the wgtensor autograd tests.

What it writes
--------------
autograd/testdata/reference.json (next to this script).  The Go tests read that
file; they never run Python.  Layout:

  {"generator": "gen_reference.py", "torch": "<torch.__version__>",
   "cases": [
     {"name": "<op>/<variant>",            unique
      "op": "<op>",                         see OPS below
      "params": {...},                      op parameters, {} if none
      "inputs": [{"shape": [...], "dtype": "float32"|"int32",
                  "data": [... flat, row-major ...], "grad": true|false}, ...],
      "output": {"shape": [...], "data": [...]},
      "grad_output": {"shape": [...], "data": [...]},
      "grads": [{"shape": [...], "data": [...]} | null, ...]}, ...]}

  * 0-dim tensors have "shape": [] and one element in "data".
  * "grad_output" is the upstream gradient: standard normal with the output's
    shape, or exactly 1.0 (shape []) when the output is a scalar.
  * "grads"[i] = d sum(output * grad_output) / d inputs[i] for inputs with
    "grad": true, null otherwise.
  * Every float is written as the shortest decimal string that parses back to
    the same float32 (so Go's strconv.ParseFloat(s, 32) is exact).

How the references are computed
-------------------------------
Inputs are drawn as float32 tensors (torch.randn unless a case says
otherwise), each case from its own generator seeded with crc32(case name), so
adding or removing a case does not change the others.  The forward and backward
passes are then run in float64 on those float32 values (int32 inputs become
int64 indices), and output and gradients are rounded to float32 when written.
The semantics of every op name are defined by the OPS table below.

How to run
----------
From the repository root:

    /usr/bin/python3 autograd/testdata/gen_reference.py

(/usr/bin/python3 is Debian's python with python3-torch.)  The output is
deterministic: running it twice gives byte-identical files.  After writing, the
script re-reads the JSON and checks it (float32 PyTorch recomputation of every
output, shapes, grads present, finite values); pass --check to only check the
existing file.
"""

import json
import math
import os
import struct
import sys
import zlib

import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
OUT_PATH = os.path.join(HERE, "reference.json")

torch.set_num_threads(1)
torch.use_deterministic_algorithms(True)


# ---------------------------------------------------------------------------
# Op semantics.  Each entry: fn(params, *inputs) -> output tensor.
# Float inputs arrive as float64 (reference) or float32 (check), int32 inputs
# as int64 tensors.
# ---------------------------------------------------------------------------

def _squeeze(p, x):
    # torch 1.13 has no multi-dim squeeze: squeeze the dims from the back.
    for a in sorted(p["axes"], reverse=True):
        assert x.shape[a] == 1
        x = x.squeeze(a)
    return x


def _all_dims(x):
    return tuple(range(x.dim()))


def _sum(p, x):
    if p["axes"] is None:
        return x.sum(dim=_all_dims(x), keepdim=True) if p["keepdim"] else x.sum()
    return x.sum(dim=tuple(p["axes"]), keepdim=p["keepdim"])


def _mean(p, x):
    if p["axes"] is None:
        return x.mean(dim=_all_dims(x), keepdim=True) if p["keepdim"] else x.mean()
    return x.mean(dim=tuple(p["axes"]), keepdim=p["keepdim"])


def _maxmin(full, vals_dim, amx):
    def f(p, x):
        axes, keep = p["axes"], p["keepdim"]
        if axes is None:
            # torch.max(x) has no keepdim; the keepdim form uses amax over all
            # dims, which has the same gradient rule (split evenly among ties).
            return amx(x, dim=_all_dims(x), keepdim=True) if keep else full(x)
        if len(axes) == 1:
            # gradient goes to the index PyTorch returns
            return vals_dim(x, dim=axes[0], keepdim=keep).values
        return amx(x, dim=tuple(axes), keepdim=keep)  # split evenly among ties
    return f


def _mlp_ce(p, x, w1, b1, w2, b2, labels):
    h = torch.relu(x @ w1.T + b1)
    return F.cross_entropy(h @ w2.T + b2, labels)


def _conv_pool(p, x, w, b):
    return F.max_pool2d(torch.relu(F.conv2d(x, w, b, padding=1)), 2)


def _attention(p, x, wq, wk, wv):
    q, k, v = x @ wq, x @ wk, x @ wv
    s = q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1])
    return torch.softmax(s, dim=-1) @ v


def _rnn3(p, x, w, u, b, h0):
    h = h0
    for t in range(x.shape[1]):
        h = torch.tanh(x[:, t] @ w.T + h @ u.T + b)
    return h


OPS = {
    # elementwise, two tensors (broadcasting)
    "add": lambda p, a, b: torch.add(a, b),
    "sub": lambda p, a, b: torch.sub(a, b),
    "mul": lambda p, a, b: torch.mul(a, b),
    "div": lambda p, a, b: torch.div(a, b),
    "pow": lambda p, a, b: torch.pow(a, b),
    "maximum": lambda p, a, b: torch.maximum(a, b),
    "minimum": lambda p, a, b: torch.minimum(a, b),
    # tensor-scalar
    "add_scalar": lambda p, x: x + p["s"],
    "sub_scalar": lambda p, x: x - p["s"],
    "rsub_scalar": lambda p, x: p["s"] - x,
    "mul_scalar": lambda p, x: x * p["s"],
    "div_scalar": lambda p, x: x / p["s"],
    "rdiv_scalar": lambda p, x: p["s"] / x,
    "pow_scalar": lambda p, x: torch.pow(x, p["s"]),
    "rpow_scalar": lambda p, x: torch.pow(p["s"], x),
    "maximum_scalar": lambda p, x: torch.clamp(x, min=p["s"]),
    "minimum_scalar": lambda p, x: torch.clamp(x, max=p["s"]),
    "clamp": lambda p, x: torch.clamp(x, p["lo"], p["hi"]),
    # unary
    "neg": lambda p, x: torch.neg(x),
    "abs": lambda p, x: torch.abs(x),
    "square": lambda p, x: torch.square(x),
    "exp": lambda p, x: torch.exp(x),
    "log": lambda p, x: torch.log(x),
    "sqrt": lambda p, x: torch.sqrt(x),
    "rsqrt": lambda p, x: torch.rsqrt(x),
    "recip": lambda p, x: torch.reciprocal(x),
    "sin": lambda p, x: torch.sin(x),
    "cos": lambda p, x: torch.cos(x),
    "tanh": lambda p, x: torch.tanh(x),
    "sigmoid": lambda p, x: torch.sigmoid(x),
    "relu": lambda p, x: torch.relu(x),
    "gelu": lambda p, x: F.gelu(x, approximate="none"),
    # selection
    "where": lambda p, c, a, b: torch.where(c != 0, a, b),
    # views
    "reshape": lambda p, x: x.reshape(p["shape"]),
    "flatten": lambda p, x: torch.flatten(x, p["start"], p["end"]),
    "permute": lambda p, x: x.permute(p["dims"]),
    "transpose": lambda p, x: x.transpose(p["a"], p["b"]),
    "narrow": lambda p, x: x.narrow(p["axis"], p["start"], p["length"]),
    "select": lambda p, x: x.select(p["axis"], p["index"]),
    "unsqueeze": lambda p, x: x.unsqueeze(p["axis"]),
    "squeeze": _squeeze,
    "expand": lambda p, x: x.expand(p["shape"]),
    "contiguous_t": lambda p, x: x.t().contiguous(),
    # join
    "concat": lambda p, *xs: torch.cat(xs, dim=p["axis"]),
    "stack": lambda p, *xs: torch.stack(xs, dim=p["axis"]),
    # reductions
    "sum": _sum,
    "mean": _mean,
    "max": _maxmin(torch.max, torch.max, torch.amax),
    "min": _maxmin(torch.min, torch.min, torch.amin),
    # linear algebra / nn
    "matmul": lambda p, a, b: torch.matmul(a, b),
    "conv2d": lambda p, x, w: F.conv2d(x, w, None, stride=p["stride"],
                                       padding=p["padding"],
                                       dilation=p["dilation"],
                                       groups=p["groups"]),
    "max_pool2d": lambda p, x: F.max_pool2d(x, p["kernel"], p["stride"],
                                            p["padding"]),
    "avg_pool2d": lambda p, x: F.avg_pool2d(
        x, p["kernel"], p["stride"], p["padding"], ceil_mode=False,
        count_include_pad=p["count_include_pad"]),
    "softmax": lambda p, x: torch.softmax(x, dim=p["axis"]),
    "log_softmax": lambda p, x: torch.log_softmax(x, dim=p["axis"]),
    "index_select": lambda p, x, idx: torch.index_select(x, p["axis"], idx),
    "gather": lambda p, x, idx: torch.gather(x, p["axis"], idx),
    # composites
    "mlp_ce": _mlp_ce,
    "conv_pool": _conv_pool,
    "attention": _attention,
    "rnn3": _rnn3,
}


# ---------------------------------------------------------------------------
# Input helpers (all draw from the current case's generator).
# ---------------------------------------------------------------------------

class Gen:
    def __init__(self, seed):
        self.g = torch.Generator().manual_seed(seed)

    def randn(self, *shape, scale=1.0):
        return torch.randn(shape, generator=self.g, dtype=torch.float32) * scale

    def uniform(self, lo, hi, *shape):
        return torch.rand(shape, generator=self.g, dtype=torch.float32) * (hi - lo) + lo

    def away(self, lo, hi, *shape):
        """Random sign times uniform(lo, hi): |x| >= lo."""
        sign = torch.where(torch.rand(shape, generator=self.g) < 0.5, -1.0, 1.0)
        return sign * self.uniform(lo, hi, *shape)

    def ints(self, lo, hi, *shape):
        """Integers in [lo, hi) as float32 (for ties)."""
        return torch.randint(lo, hi, shape, generator=self.g).to(torch.float32)

    def index(self, lo, hi, *shape):
        return torch.randint(lo, hi, shape, generator=self.g).to(torch.int32)


def F32(t, grad=True):
    assert t.dtype == torch.float32
    return (t.contiguous(), grad)


def I32(values):
    return (torch.tensor(values, dtype=torch.int32), False)


# ---------------------------------------------------------------------------
# Cases.
# ---------------------------------------------------------------------------

CASES = []  # (name, op, params, builder(gen) -> list of (tensor, grad))


def case(name, op, params, builder):
    assert op in OPS, op
    assert all(c[0] != name for c in CASES), name
    CASES.append((name, op, params, builder))


def with_values(t, flat_positions, value):
    t = t.clone().reshape(-1)
    t[list(flat_positions)] = value
    return t


def define_cases():
    # --- elementwise binary ---------------------------------------------
    def binary_inputs(op):
        if op == "div":
            return lambda g, sa, sb: [F32(g.randn(*sa)), F32(g.away(0.5, 2.0, *sb))]
        if op == "pow":
            return lambda g, sa, sb: [F32(g.uniform(0.5, 2.0, *sa)),
                                      F32(g.uniform(-2.0, 2.0, *sb))]
        return lambda g, sa, sb: [F32(g.randn(*sa)), F32(g.randn(*sb))]

    for op in ["add", "sub", "mul", "div", "pow", "maximum", "minimum"]:
        mk = binary_inputs(op)
        case(op + "/same", op, {}, lambda g, mk=mk: mk(g, (3, 4), (3, 4)))
        case(op + "/broadcast", op, {}, lambda g, mk=mk: mk(g, (3, 1), (1, 4)))
        case(op + "/broadcast3d", op, {}, lambda g, mk=mk: mk(g, (2, 3, 4), (4,)))

    for op in ["maximum", "minimum"]:
        def ties(g):
            a = g.randn(3, 4)
            b = g.randn(3, 4)
            eq = [0, 3, 5, 6, 10]
            b = b.reshape(-1)
            b[eq] = a.reshape(-1)[eq]
            return [F32(a), F32(b.reshape(3, 4))]
        case(op + "/ties", op, {}, ties)

    # --- tensor-scalar ----------------------------------------------------
    case("add_scalar/basic", "add_scalar", {"s": 0.75}, lambda g: [F32(g.randn(3, 5))])
    case("sub_scalar/basic", "sub_scalar", {"s": 1.5}, lambda g: [F32(g.randn(3, 5))])
    case("rsub_scalar/basic", "rsub_scalar", {"s": 2.0}, lambda g: [F32(g.randn(3, 5))])
    case("mul_scalar/basic", "mul_scalar", {"s": -1.25}, lambda g: [F32(g.randn(3, 5))])
    case("div_scalar/basic", "div_scalar", {"s": -2.5}, lambda g: [F32(g.randn(3, 5))])
    case("rdiv_scalar/basic", "rdiv_scalar", {"s": 1.5},
         lambda g: [F32(g.away(0.3, 2.0, 3, 5))])
    for s, tag in [(2.0, "s2"), (0.5, "s0.5"), (-1.5, "s-1.5"), (3.0, "s3")]:
        case("pow_scalar/" + tag, "pow_scalar", {"s": s},
             lambda g: [F32(g.uniform(0.5, 2.0, 3, 5))])
    case("rpow_scalar/s2.5", "rpow_scalar", {"s": 2.5}, lambda g: [F32(g.randn(3, 5))])
    case("maximum_scalar/ties", "maximum_scalar", {"s": 0.25},
         lambda g: [F32(with_values(g.randn(3, 5), [1, 7, 12], 0.25).reshape(3, 5))])
    case("minimum_scalar/ties", "minimum_scalar", {"s": -0.25},
         lambda g: [F32(with_values(g.randn(3, 5), [2, 8, 14], -0.25).reshape(3, 5))])

    def clamp_in(g):
        x = with_values(g.randn(3, 5), [0, 9], -0.5)
        x = with_values(x, [4, 11], 0.75)
        return [F32(x.reshape(3, 5))]
    case("clamp/ties", "clamp", {"lo": -0.5, "hi": 0.75}, clamp_in)

    # --- unary --------------------------------------------------------------
    case("neg/basic", "neg", {}, lambda g: [F32(g.randn(3, 5))])
    case("abs/basic", "abs", {}, lambda g: [F32(g.away(0.1, 2.0, 3, 5))])
    case("square/basic", "square", {}, lambda g: [F32(g.randn(3, 5))])
    case("exp/basic", "exp", {}, lambda g: [F32(g.randn(3, 5))])
    case("log/basic", "log", {}, lambda g: [F32(g.uniform(0.2, 3.0, 3, 5))])
    case("sqrt/basic", "sqrt", {}, lambda g: [F32(g.uniform(0.2, 3.0, 3, 5))])
    case("rsqrt/basic", "rsqrt", {}, lambda g: [F32(g.uniform(0.2, 3.0, 3, 5))])
    case("recip/basic", "recip", {}, lambda g: [F32(g.away(0.3, 2.0, 3, 5))])
    case("sin/basic", "sin", {}, lambda g: [F32(g.randn(3, 5, scale=2.0))])
    case("cos/basic", "cos", {}, lambda g: [F32(g.randn(3, 5, scale=2.0))])

    def saturating(g):
        x = with_values(g.randn(3, 5, scale=2.0), [0, 13], 8.0)
        x = with_values(x, [6], -8.0)
        return [F32(x.reshape(3, 5))]
    case("tanh/basic", "tanh", {}, saturating)
    case("sigmoid/basic", "sigmoid", {}, saturating)
    case("relu/basic", "relu", {}, lambda g: [F32(g.away(0.05, 2.0, 3, 5))])
    case("gelu/basic", "gelu", {}, lambda g: [F32(g.randn(3, 5, scale=2.0))])

    # --- where --------------------------------------------------------------
    case("where/same", "where", {}, lambda g: [
        F32(g.ints(0, 2, 3, 4), grad=False), F32(g.randn(3, 4)), F32(g.randn(3, 4))])
    case("where/broadcast", "where", {}, lambda g: [
        F32(torch.tensor([[1.0], [0.0], [1.0]]), grad=False),
        F32(g.randn(3, 4)), F32(g.randn(4))])

    # --- views --------------------------------------------------------------
    case("reshape/infer_last", "reshape", {"shape": [4, -1]}, lambda g: [F32(g.randn(2, 3, 4))])
    case("reshape/infer_mid", "reshape", {"shape": [2, -1, 2]}, lambda g: [F32(g.randn(3, 4))])
    case("reshape/flat", "reshape", {"shape": [-1]}, lambda g: [F32(g.randn(2, 3, 2))])
    case("flatten/mid", "flatten", {"start": 1, "end": 2}, lambda g: [F32(g.randn(2, 3, 4, 2))])
    case("flatten/all", "flatten", {"start": 0, "end": 2}, lambda g: [F32(g.randn(2, 3, 4))])
    case("permute/3d", "permute", {"dims": [2, 0, 1]}, lambda g: [F32(g.randn(2, 3, 4))])
    case("permute/4d", "permute", {"dims": [0, 2, 3, 1]}, lambda g: [F32(g.randn(2, 3, 2, 4))])
    case("transpose/2d", "transpose", {"a": 0, "b": 1}, lambda g: [F32(g.randn(3, 5))])
    case("transpose/3d", "transpose", {"a": 0, "b": 2}, lambda g: [F32(g.randn(2, 3, 4))])
    case("narrow/axis1", "narrow", {"axis": 1, "start": 2, "length": 3}, lambda g: [F32(g.randn(3, 6))])
    case("narrow/axis0", "narrow", {"axis": 0, "start": 1, "length": 3}, lambda g: [F32(g.randn(5, 2, 3))])
    case("select/axis0", "select", {"axis": 0, "index": 2}, lambda g: [F32(g.randn(4, 3))])
    case("select/axis1", "select", {"axis": 1, "index": 1}, lambda g: [F32(g.randn(2, 3, 4))])
    case("unsqueeze/front", "unsqueeze", {"axis": 0}, lambda g: [F32(g.randn(3, 4))])
    case("unsqueeze/mid", "unsqueeze", {"axis": 1}, lambda g: [F32(g.randn(3, 4))])
    case("unsqueeze/end", "unsqueeze", {"axis": 2}, lambda g: [F32(g.randn(3, 4))])
    case("squeeze/single", "squeeze", {"axes": [1]}, lambda g: [F32(g.randn(3, 1, 4))])
    case("squeeze/multi", "squeeze", {"axes": [0, 2]}, lambda g: [F32(g.randn(1, 3, 1, 4, 1))])
    case("expand/basic", "expand", {"shape": [3, 4]}, lambda g: [F32(g.randn(3, 1))])
    case("expand/leading", "expand", {"shape": [2, 3, 4]}, lambda g: [F32(g.randn(1, 4))])
    case("expand/new_dims", "expand", {"shape": [2, 3, 4]}, lambda g: [F32(g.randn(4))])
    case("contiguous_t/basic", "contiguous_t", {}, lambda g: [F32(g.randn(3, 5))])

    # --- join ---------------------------------------------------------------
    case("concat/axis0", "concat", {"axis": 0}, lambda g: [
        F32(g.randn(2, 3)), F32(g.randn(1, 3)), F32(g.randn(3, 3))])
    case("concat/axis1", "concat", {"axis": 1}, lambda g: [
        F32(g.randn(2, 1, 4)), F32(g.randn(2, 3, 4)), F32(g.randn(2, 2, 4))])
    case("stack/axis0", "stack", {"axis": 0}, lambda g: [F32(g.randn(3, 4)), F32(g.randn(3, 4))])
    case("stack/axis1", "stack", {"axis": 1}, lambda g: [
        F32(g.randn(2, 3)), F32(g.randn(2, 3)), F32(g.randn(2, 3))])
    case("stack/last", "stack", {"axis": 2}, lambda g: [F32(g.randn(2, 3)), F32(g.randn(2, 3))])

    # --- reductions ---------------------------------------------------------
    for op in ["sum", "mean"]:
        case(op + "/all", op, {"axes": None, "keepdim": False}, lambda g: [F32(g.randn(3, 4))])
        case(op + "/all_keepdim", op, {"axes": None, "keepdim": True}, lambda g: [F32(g.randn(2, 3, 4))])
        case(op + "/axis0", op, {"axes": [0], "keepdim": False}, lambda g: [F32(g.randn(3, 4))])
        case(op + "/axis1_keepdim", op, {"axes": [1], "keepdim": True}, lambda g: [F32(g.randn(3, 4))])
        case(op + "/multi", op, {"axes": [0, 2], "keepdim": False}, lambda g: [F32(g.randn(2, 3, 4))])
        case(op + "/multi_keepdim", op, {"axes": [1, 2], "keepdim": True}, lambda g: [F32(g.randn(2, 3, 4))])

    for op in ["max", "min"]:
        case(op + "/all", op, {"axes": None, "keepdim": False}, lambda g: [F32(g.randn(3, 4))])
        case(op + "/all_ties", op, {"axes": None, "keepdim": False}, lambda g: [F32(g.ints(0, 4, 3, 4))])
        case(op + "/all_keepdim_ties", op, {"axes": None, "keepdim": True}, lambda g: [F32(g.ints(0, 4, 2, 3))])
        case(op + "/axis1", op, {"axes": [1], "keepdim": False}, lambda g: [F32(g.randn(3, 4))])
        case(op + "/axis0_keepdim", op, {"axes": [0], "keepdim": True}, lambda g: [F32(g.randn(3, 4))])
        case(op + "/axis1_3d", op, {"axes": [1], "keepdim": False}, lambda g: [F32(g.randn(2, 3, 4))])
        case(op + "/multi", op, {"axes": [0, 2], "keepdim": False}, lambda g: [F32(g.randn(2, 3, 4))])
        case(op + "/multi_ties", op, {"axes": [1, 2], "keepdim": False}, lambda g: [F32(g.ints(0, 4, 2, 3, 4))])
        case(op + "/multi_keepdim_ties", op, {"axes": [0, 2], "keepdim": True}, lambda g: [F32(g.ints(0, 4, 2, 3, 4))])

    # --- matmul -------------------------------------------------------------
    for tag, sa, sb in [("mm", (3, 4), (4, 5)), ("dot", (4,), (4,)), ("mv", (3, 4), (4,)),
                        ("vm", (4,), (4, 5)), ("batched", (2, 3, 4), (4, 5)),
                        ("broadcast_batch", (2, 1, 3, 4), (3, 4, 2))]:
        case("matmul/" + tag, "matmul", {},
             lambda g, sa=sa, sb=sb: [F32(g.randn(*sa)), F32(g.randn(*sb))])

    # --- conv2d -------------------------------------------------------------
    def conv(xs, ws, stride=(1, 1), padding=(0, 0), dilation=(1, 1), groups=1):
        return ({"stride": list(stride), "padding": list(padding),
                 "dilation": list(dilation), "groups": groups},
                lambda g: [F32(g.randn(*xs)), F32(g.randn(*ws, scale=0.5))])
    for tag, (params, b) in [
            ("basic", conv((2, 3, 5, 6), (4, 3, 3, 3))),
            ("padded_stride2", conv((2, 3, 5, 6), (4, 3, 3, 3), stride=(2, 2), padding=(1, 1))),
            ("dilated", conv((2, 3, 5, 6), (4, 3, 3, 3), dilation=(2, 1), padding=(2, 1))),
            ("groups2", conv((1, 4, 5, 5), (6, 2, 3, 3), groups=2))]:
        case("conv2d/" + tag, "conv2d", params, b)

    # --- pooling ------------------------------------------------------------
    case("max_pool2d/k2s2", "max_pool2d", {"kernel": [2, 2], "stride": [2, 2], "padding": [0, 0]},
         lambda g: [F32(g.randn(2, 3, 6, 6))])
    case("max_pool2d/k3s2p1", "max_pool2d", {"kernel": [3, 3], "stride": [2, 2], "padding": [1, 1]},
         lambda g: [F32(g.randn(1, 2, 7, 7))])
    case("avg_pool2d/k2s2", "avg_pool2d",
         {"kernel": [2, 2], "stride": [2, 2], "padding": [0, 0], "count_include_pad": True},
         lambda g: [F32(g.randn(2, 3, 6, 6))])
    case("avg_pool2d/k3s2p1_include_pad", "avg_pool2d",
         {"kernel": [3, 3], "stride": [2, 2], "padding": [1, 1], "count_include_pad": True},
         lambda g: [F32(g.randn(1, 2, 7, 7))])
    case("avg_pool2d/k3s2p1_exclude_pad", "avg_pool2d",
         {"kernel": [3, 3], "stride": [2, 2], "padding": [1, 1], "count_include_pad": False},
         lambda g: [F32(g.randn(1, 2, 7, 7))])

    # --- softmax ------------------------------------------------------------
    for op in ["softmax", "log_softmax"]:
        case(op + "/last", op, {"axis": -1}, lambda g: [F32(g.randn(3, 5))])
        case(op + "/axis0", op, {"axis": 0}, lambda g: [F32(g.randn(4, 3))])
        case(op + "/large_logits", op, {"axis": -1}, lambda g: [F32(50.0 + g.randn(3, 5, scale=10.0))])

    # --- indexing -----------------------------------------------------------
    case("index_select/axis0_embedding", "index_select", {"axis": 0},
         lambda g: [F32(g.randn(6, 4)), I32([0, 2, 5, 2, 1, 0, 2])])
    case("index_select/axis1", "index_select", {"axis": 1},
         lambda g: [F32(g.randn(3, 5)), I32([4, 0, 4, 1])])
    case("gather/axis1", "gather", {"axis": 1},
         lambda g: [F32(g.randn(4, 5)), I32([[0, 3], [2, 2], [4, 1], [1, 1]])])
    case("gather/axis0", "gather", {"axis": 0},
         lambda g: [F32(g.randn(4, 5)), (g.index(0, 4, 3, 5), False)])

    # --- composites ---------------------------------------------------------
    case("mlp_ce/basic", "mlp_ce", {}, lambda g: [
        F32(g.randn(8, 6)), F32(g.randn(10, 6, scale=0.4)), F32(g.randn(10, scale=0.1)),
        F32(g.randn(4, 10, scale=0.3)), F32(g.randn(4, scale=0.1)), (g.index(0, 4, 8), False)])
    case("conv_pool/basic", "conv_pool", {}, lambda g: [
        F32(g.randn(2, 3, 8, 8)), F32(g.randn(4, 3, 3, 3, scale=0.3)), F32(g.randn(4, scale=0.1))])
    case("attention/basic", "attention", {}, lambda g: [
        F32(g.randn(2, 5, 8)), F32(g.randn(8, 8, scale=0.35)), F32(g.randn(8, 8, scale=0.35)),
        F32(g.randn(8, 8, scale=0.35))])
    case("rnn3/basic", "rnn3", {}, lambda g: [
        F32(g.randn(4, 3, 5)), F32(g.randn(6, 5, scale=0.4)), F32(g.randn(6, 6, scale=0.4)),
        F32(g.randn(6, scale=0.1)), F32(g.randn(4, 6, scale=0.5))])


# ---------------------------------------------------------------------------
# Evaluation.
# ---------------------------------------------------------------------------

def evaluate(op, params, inputs, grad_output, dtype):
    """inputs: list of (tensor float32|int32, grad). Returns (out, grads) in dtype.
    grad_output: tensor, or None to draw it later (then returns out only and a
    closure)."""
    ts = []
    for t, grad in inputs:
        if t.dtype == torch.int32:
            ts.append(t.to(torch.int64))
        else:
            ts.append(t.to(dtype).detach().requires_grad_(grad))
    out = OPS[op](params, *ts)
    if grad_output is None:
        return out, ts
    return out, backward(out, ts, grad_output)


def backward(out, ts, grad_output):
    wanted = [t for t in ts if t.requires_grad]
    gs = torch.autograd.grad(out, wanted, grad_output.to(out.dtype), allow_unused=True)
    it = iter(gs)
    return [next(it) if t.requires_grad else None for t in ts]


def margin_checks(name, op, inputs):
    """Composites run in float32 on the Go side; make sure no relu input sits
    so close to 0 (or no pooling window so close to a tie) that float32
    rounding could flip a branch."""
    ts = [t.to(torch.float64) if t.dtype == torch.float32 else t.to(torch.int64)
          for t, _ in inputs]
    if op == "mlp_ce":
        x, w1, b1 = ts[:3]
        pre = x @ w1.T + b1
        assert pre.abs().min().item() > 1e-4, (name, pre.abs().min().item())
    if op == "conv_pool":
        x, w, b = ts
        pre = F.conv2d(x, w, b, padding=1)
        assert pre.abs().min().item() > 1e-4, (name, pre.abs().min().item())
        r = torch.relu(pre)
        win = r.unfold(2, 2, 2).unfold(3, 2, 2).reshape(*r.shape[:2], 4, 4, 4)
        top2 = win.topk(2, dim=-1).values
        pos = top2[..., 0] > 0
        gap = (top2[..., 0] - top2[..., 1])[pos]
        assert gap.min().item() > 1e-4, (name, gap.min().item())


def build_case(name, op, params, builder):
    g = Gen(zlib.crc32(name.encode()))
    inputs = builder(g)
    margin_checks(name, op, inputs)
    out, ts = evaluate(op, params, inputs, None, torch.float64)
    if out.dim() == 0:
        go = torch.tensor(1.0, dtype=torch.float32)
    else:
        go = g.randn(*out.shape)
    grads = backward(out, ts, go)
    return {
        "name": name,
        "op": op,
        "params": params,
        "inputs": [{"shape": list(t.shape),
                    "dtype": "int32" if t.dtype == torch.int32 else "float32",
                    "data": t.reshape(-1).tolist() if t.dtype == torch.int32 else F32Data(t),
                    "grad": grad} for t, grad in inputs],
        "output": {"shape": list(out.shape), "data": F32Data(out)},
        "grad_output": {"shape": list(go.shape), "data": F32Data(go)},
        "grads": [None if gr is None else {"shape": list(gr.shape), "data": F32Data(gr)}
                  for gr in grads],
    }


# ---------------------------------------------------------------------------
# JSON writing with exact, short float32 numbers.
# ---------------------------------------------------------------------------

class F32Data:
    def __init__(self, t):
        self.values = t.detach().to(torch.float32).contiguous().reshape(-1).tolist()


def f32_str(v):
    if not math.isfinite(v):
        raise ValueError("non-finite value %r" % v)
    packed = struct.pack("<f", v)  # raises OverflowError if it overflows float32
    for p in range(1, 10):
        s = "%.*g" % (p, v)
        if struct.pack("<f", float(s)) == packed:
            return s
    raise AssertionError(v)


def encode(obj):
    if isinstance(obj, F32Data):
        return "[" + ",".join(f32_str(v) for v in obj.values) + "]"
    if obj is None or isinstance(obj, (bool, str)):
        return json.dumps(obj)
    if isinstance(obj, int):
        return str(obj)
    if isinstance(obj, float):
        assert struct.unpack("<f", struct.pack("<f", obj))[0] == obj, obj
        return f32_str(obj)
    if isinstance(obj, (list, tuple)):
        return "[" + ",".join(encode(v) for v in obj) + "]"
    if isinstance(obj, dict):
        return "{" + ",".join(json.dumps(k) + ":" + encode(v) for k, v in obj.items()) + "}"
    raise TypeError(type(obj))


def write(cases):
    head = '{"generator":"gen_reference.py","torch":%s,\n"cases":[\n' % json.dumps(torch.__version__)
    body = ",\n".join(encode(c) for c in cases)
    with open(OUT_PATH, "w", newline="\n") as f:
        f.write(head + body + "\n]}\n")


# ---------------------------------------------------------------------------
# Check: re-read the JSON and verify it.
# ---------------------------------------------------------------------------

def check(path=OUT_PATH):
    with open(path) as f:
        doc = json.load(f, parse_constant=lambda c: (_ for _ in ()).throw(ValueError(c)))
    cases = doc["cases"]
    names = [c["name"] for c in cases]
    assert len(set(names)) == len(names), "duplicate case names"
    counts = {}
    worst_out = worst_grad = 0.0
    worst_out_name = worst_grad_name = ""

    def numel(shape):
        return int(math.prod(shape)) if shape else 1

    def tensor_of(spec, dtype):
        assert len(spec["data"]) == numel(spec["shape"]), spec["shape"]
        # float data is parsed as float32 (as Go does), then widened if asked
        src = torch.int32 if dtype == torch.int32 else torch.float32
        return torch.tensor(spec["data"], dtype=src).reshape(spec["shape"]).to(dtype)

    def rel_err(got, ref):
        # relative error against max(|ref|, 1e-2 * max|ref tensor|, 1e-6)
        scale = torch.clamp(ref.abs(), min=max(1e-2 * ref.abs().max().item(), 1e-6))
        return ((got - ref).abs() / scale).max().item() if ref.numel() else 0.0

    for c in cases:
        assert c["name"].split("/")[0] == c["op"], c["name"]
        counts[c["op"]] = counts.get(c["op"], 0) + 1
        inputs = []
        for s in c["inputs"]:
            assert s["dtype"] in ("float32", "int32")
            if s["dtype"] == "int32":
                assert not s["grad"] and all(isinstance(v, int) for v in s["data"])
                inputs.append((tensor_of(s, torch.int32), False))
            else:
                inputs.append((tensor_of(s, torch.float32), s["grad"]))
        ref_out = tensor_of(c["output"], torch.float64)
        go = tensor_of(c["grad_output"], torch.float32)
        assert list(go.shape) == list(ref_out.shape), c["name"]
        if ref_out.dim() == 0:
            assert go.item() == 1.0, c["name"]
        assert len(c["grads"]) == len(c["inputs"]), c["name"]
        for s, gspec in zip(c["inputs"], c["grads"]):
            if s["grad"]:
                assert gspec is not None, c["name"]
                assert gspec["shape"] == s["shape"], c["name"]
            else:
                assert gspec is None, c["name"]
        for spec in [c["output"], c["grad_output"]] + [x for x in c["grads"] if x]:
            assert all(math.isfinite(v) for v in spec["data"]), c["name"]

        # float32 recomputation must match the float64-derived reference
        out32, grads32 = evaluate(c["op"], c["params"], inputs, go, torch.float32)
        assert list(out32.shape) == c["output"]["shape"], (c["name"], out32.shape)
        e = rel_err(out32.detach().double(), ref_out)
        if e > worst_out:
            worst_out, worst_out_name = e, c["name"]
        assert e < 1e-4, (c["name"], "output", e)
        for g32, gspec in zip(grads32, c["grads"]):
            if gspec is None:
                continue
            assert g32 is not None, c["name"]
            e = rel_err(g32.double(), tensor_of(gspec, torch.float64))
            if e > worst_grad:
                worst_grad, worst_grad_name = e, c["name"]
            assert e < 1e-3, (c["name"], "grad", e)

        # float64 recomputation from the stored float32 inputs reproduces the
        # stored values exactly after rounding to float32.
        out64, grads64 = evaluate(c["op"], c["params"], inputs, go, torch.float64)
        assert torch.equal(out64.detach().float().double(), ref_out), c["name"]
        for g64, gspec in zip(grads64, c["grads"]):
            if gspec is not None:
                assert torch.equal(g64.float().double(), tensor_of(gspec, torch.float64)), c["name"]

    print("torch %s, %d cases, %d bytes" % (doc["torch"], len(cases), os.path.getsize(path)))
    for op, n in counts.items():
        print("  %-15s %d" % (op, n))
    print("worst float32-vs-reference error: output %.2e (%s), grad %.2e (%s)"
          % (worst_out, worst_out_name, worst_grad, worst_grad_name))


def main():
    if "--check" not in sys.argv[1:]:
        define_cases()
        write([build_case(*c) for c in CASES])
    check()


if __name__ == "__main__":
    main()
