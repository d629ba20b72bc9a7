#!/usr/bin/python3
"""Generate the randomized differential programs of wgtensor's conformance test.

Run from the repository root (Debian's python3-torch is seen only by
/usr/bin/python3):

    OPENBLAS_CORETYPE=Haswell /usr/bin/python3 conformance/testdata/gen_programs.py

It writes conformance/testdata/programs.json next to this script.  The output is
deterministic: every program is drawn from its own random.Random seeded with a
string naming it, torch runs on one thread, and floats are written in a fixed
shortest form, so running it twice gives byte-identical files.  The Go test
(conformance/conformance_test.go) never needs Python.

What a program is
-----------------
A short chain of steps (1 to 4 ops) over 1 to 3 input tensors.  Values are
numbered: inputs 0..n-1, then step k produces value n+k; the last step's value
is the output.  Each step names an op (see TORCH_OPS below for its PyTorch
meaning; the Go test maps the same name to a wgtensor call), the values it
takes ("args") and its parameters ("p").

File layout
-----------
  {"generator": "gen_programs.py", "torch": "<version>",
   "cases": [
     {"name": "s3/0042/transpose>exp>sum",   unique: group/index/op chain
      "group": "s3" | "bug1".."bug8" | "extra",
      "inputs": [{"shape": [...], "dtype": "float32"|"int32",
                  "data": [...], "grad": true|false}, ...],
      "steps": [{"op": "...", "args": [...], "p": {...}}, ...],
      "expect": "value" | "error",
      # expect == "value":
      "output": {"shape": [...], "dtype": "float32"|"int32"|"bool", "data": [...]},
      "grad_output": {"shape": [...], "data": [...]}        # only when grads are checked
      "grads": [{"shape": [...], "data": [...]} | null, ...]  # one per input
      "no_grad": "<why gradients are not compared>"           # optional
      # expect == "error":
      "error_step": k,  "torch_error": "<PyTorch's message, first line>"
      # optional:
      "gpu_may_refuse": true,  "bug": "<known bug this case targets>",
      "note": "<free text>"}, ...]}

  * dtype "bool" is PyTorch's comparison result; wgtensor returns a float32 0/1
    mask, which the Go test accepts for it.  PyTorch's int64 results (argmax,
    sums of ints) are written as "int32", wgtensor's only integer type.
  * Float data: finite values are JSON numbers, the shortest decimal that parses
    back to the same float32 (so strconv.ParseFloat(s, 32) is exact; -0 is
    written as -0).  NaN and infinities are the strings "nan", "inf", "-inf".
    Scalar parameters (p.s, p.lo, p.hi) use the same encoding; they are
    Python floats (on an int32 tensor the result is float32, as with
    wgtensor's float64 scalar methods), except for the int-scalar ops add_si,
    sub_si and mul_si, whose p.s is a JSON integer (int32 stays int32, as with
    AddScalarInt and friends).
  * grads[i] = d sum(output * grad_output) / d inputs[i] for inputs with
    "grad": true that the output depends on, null otherwise.

How the references are computed
-------------------------------
Inputs are drawn as float32 values (integers for int32 inputs).  The program
is run in float64 (torch.set_default_dtype(float64), so int->float promotions
are float64 too; integers run as int64) and the output and gradients are
rounded to float32.  The program is also run in float32; a program whose
float32 result is not within half the Go test's tolerance of the float64
reference (overflow of an intermediate, catastrophic cancellation) is
ill-conditioned for a float32 library and is redrawn, as is a program that
PyTorch refuses in one precision and not the other.

Values are drawn so that NaN, +-Inf, 0, -0, ties and large magnitudes appear.
Where PyTorch's gradient is a convention at a point (max/min reductions and
max pooling at ties or NaN, relu/abs/maximum/minimum at NaN, the losses built
on them at NaN) the program keeps its forward check and "no_grad" says why;
where PyTorch 1.13's forward value is itself version-dependent (sign(NaN) is 0
here, NaN in newer releases) the program is redrawn.

Invalid programs end in a step that PyTorch refuses (shapes that do not
broadcast or fit, an axis or index out of range, a kernel larger than the
padded input, ...); the Go test wants an error from that step.
"""

import json
import math
import os
import random
import struct
import sys

os.environ.setdefault("OPENBLAS_CORETYPE", "Haswell")

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
OUT_PATH = os.path.join(HERE, "programs.json")

torch.set_num_threads(1)

SEEDS = [1, 2, 3, 4, 5, 6]
PER_SEED = 250
MAX_STEPS = 4

NAN = float("nan")
INF = float("inf")

# ---------------------------------------------------------------------------
# Tolerance classes: a mirror of the Go test's table (conformance_test.go,
# tolClass), used here to redraw programs that float32 itself cannot meet.
# The Go side is authoritative; keep the two in step.
# ---------------------------------------------------------------------------

EXACT, ARITH, TRANSC, REDUCE, PRODUCT = "exact", "arith", "transc", "reduce", "product"
TOL = {  # (abs, rel), CPU values (the GPU's are looser or equal)
    EXACT: (0.0, 0.0),
    ARITH: (1e-5, 1e-4),
    TRANSC: (1e-5, 1e-4),
    REDUCE: (1e-4, 1e-4),
    PRODUCT: (1e-4, 1e-4),
}
OP_CLASS = {}
for _op in ["neg", "abs", "sign", "relu", "maximum", "minimum", "max_s", "min_s", "clamp",
            "eq", "ne", "lt", "le", "gt", "ge", "eq_s", "ne_s", "lt_s", "le_s", "gt_s", "ge_s",
            "where", "max", "min", "argmax", "argmin", "transpose", "permute", "narrow", "slice",
            "expand", "reshape", "unsqueeze", "squeeze", "select", "flatten", "contiguous",
            "concat", "stack", "gather", "index_select", "max_pool2d", "astype"]:
    OP_CLASS[_op] = EXACT
for _op in ["add", "sub", "mul", "div", "square", "reciprocal", "sqrt", "add_s", "sub_s",
            "rsub_s", "mul_s", "div_s", "rdiv_s", "add_si", "sub_si", "mul_si"]:
    OP_CLASS[_op] = ARITH
for _op in ["exp", "log", "rsqrt", "tanh", "sigmoid", "gelu", "sin", "cos", "pow", "pow_s",
            "rpow_s"]:
    OP_CLASS[_op] = TRANSC
for _op in ["sum", "mean", "softmax", "log_softmax", "cross_entropy", "nll_loss", "bce_logits",
            "bce", "mse", "l1", "layer_norm", "avg_pool2d"]:
    OP_CLASS[_op] = REDUCE
for _op in ["matmul", "conv2d"]:
    OP_CLASS[_op] = PRODUCT
ORDER = [EXACT, ARITH, TRANSC, REDUCE, PRODUCT]


def prog_tol(steps, grad):
    """The tolerance of a program: the loosest of its steps' classes (abs and
    rel separately); gradients twice that and at least ARITH, as in Go."""
    a = r = 0.0
    for s in steps:
        ta, tr = TOL[OP_CLASS[s["op"]]]
        a, r = max(a, ta), max(r, tr)
    if grad:
        a, r = max(2 * a, TOL[ARITH][0]), max(2 * r, TOL[ARITH][1])
    return a, r


# ---------------------------------------------------------------------------
# Float32 helpers.
# ---------------------------------------------------------------------------

def f32(v):
    if math.isnan(v) or math.isinf(v):
        return v
    try:
        return struct.unpack("<f", struct.pack("<f", v))[0]
    except OverflowError:  # beyond float32: IEEE rounding gives +-inf (or FLT_MAX)
        return torch.tensor(v, dtype=torch.float64).float().item()


def f32_str(v):
    if math.isnan(v):
        return '"nan"'
    if math.isinf(v):
        return '"inf"' if v > 0 else '"-inf"'
    if v == 0:
        return "-0" if math.copysign(1, v) < 0 else "0"
    packed = struct.pack("<f", v)
    for p in range(1, 10):
        s = "%.*g" % (p, v)
        if struct.pack("<f", float(s)) == packed:
            return s
    raise AssertionError(v)


# ---------------------------------------------------------------------------
# Op semantics in PyTorch.  Each entry: fn(p, *args) -> tensor.
# Float tensors are float64 (reference) or float32 (check); ints are int64.
# ---------------------------------------------------------------------------

def _is_float(t):
    return t.dtype.is_floating_point


def _all(x):
    return tuple(range(x.dim()))


def _reduce(fn_all, fn_dims):
    def f(p, x):
        axes, kd = p["axes"], p["keepdim"]
        if axes is None:
            return fn_dims(x, _all(x), True) if kd else fn_all(x)
        return fn_dims(x, tuple(axes), kd)
    return f


def _float(x):
    return x if _is_float(x) else x.to(torch.get_default_dtype())


def _max_dims(x, dims, kd):
    if len(dims) == 1:
        return torch.max(x, dims[0], keepdim=kd).values
    return torch.amax(x, dims, keepdim=kd)


def _min_dims(x, dims, kd):
    if len(dims) == 1:
        return torch.min(x, dims[0], keepdim=kd).values
    return torch.amin(x, dims, keepdim=kd)


def _squeeze(p, x):
    # torch 1.13 squeezes one dim at a time, and a dim whose length is not 1
    # is left alone there (wgtensor refuses it); programs only squeeze 1s.
    if p["axes"] is None:
        return x.squeeze()
    r = x.dim()
    for a in p["axes"]:
        if not -max(r, 1) <= a < max(r, 1):
            raise IndexError("Dimension out of range (expected to be in range of [%d, %d], but got %d)"
                             % (-max(r, 1), max(r, 1) - 1, a))
    for a in sorted([a % max(r, 1) for a in p["axes"]], reverse=True):
        assert r == 0 or x.shape[a] == 1, "squeeze of an axis of length %d" % x.shape[a]
        x = x.squeeze(a)
    return x


def _slice(p, x):
    if x.dim() == 0:
        raise IndexError("slice() cannot be applied to a 0-dim tensor")
    a = p["axis"]
    if not -x.dim() <= a < x.dim():
        raise IndexError("Dimension out of range")
    idx = [slice(None)] * x.dim()
    idx[a] = slice(p["start"], p["end"], p.get("step", 1))
    return x[tuple(idx)]


def _where(p, c, a, b):
    cond = c if c.dtype == torch.bool else (c != 0)
    return torch.where(cond, a, b)


def _long(i):
    return i.to(torch.int64)


def _layer_norm(p, x, *wb):
    # args: x, then the weight if p.weight, then the bias if p.bias
    wb = list(wb)
    w = wb.pop(0) if p.get("weight", True) else None
    b = wb.pop(0) if p.get("bias", True) else None
    assert not wb
    return F.layer_norm(x, p["shape"], w, b, p["eps"])


RED = {"mean": "mean", "sum": "sum", "none": "none"}

TORCH_OPS = {
    # unary
    "neg": lambda p, x: torch.neg(x),
    "abs": lambda p, x: torch.abs(x),
    "sign": lambda p, x: torch.sign(x),
    "square": lambda p, x: torch.square(x),
    "exp": lambda p, x: torch.exp(x),
    "log": lambda p, x: torch.log(x),
    "sqrt": lambda p, x: torch.sqrt(x),
    "rsqrt": lambda p, x: torch.rsqrt(x),
    "reciprocal": lambda p, x: torch.reciprocal(x),
    "sin": lambda p, x: torch.sin(x),
    "cos": lambda p, x: torch.cos(x),
    "tanh": lambda p, x: torch.tanh(x),
    "sigmoid": lambda p, x: torch.sigmoid(x),
    "relu": lambda p, x: torch.relu(x),
    "gelu": lambda p, x: F.gelu(x),
    # binary, broadcasting
    "add": lambda p, a, b: a + b,
    "sub": lambda p, a, b: a - b,
    "mul": lambda p, a, b: a * b,
    "div": lambda p, a, b: torch.div(a, b),
    "pow": lambda p, a, b: torch.pow(a, b),
    "maximum": lambda p, a, b: torch.maximum(a, b),
    "minimum": lambda p, a, b: torch.minimum(a, b),
    "eq": lambda p, a, b: torch.eq(a, b),
    "ne": lambda p, a, b: torch.ne(a, b),
    "lt": lambda p, a, b: torch.lt(a, b),
    "le": lambda p, a, b: torch.le(a, b),
    "gt": lambda p, a, b: torch.gt(a, b),
    "ge": lambda p, a, b: torch.ge(a, b),
    # with a Python float scalar p.s
    "add_s": lambda p, x: x + p["s"],
    # an int scalar p.s (AddScalarInt, ...): int32 stays int32
    "add_si": lambda p, x: x + int(p["s"]),
    "sub_si": lambda p, x: x - int(p["s"]),
    "mul_si": lambda p, x: x * int(p["s"]),
    "astype": lambda p, x: x.to(torch.int64 if p["dtype"] == "int32" else torch.get_default_dtype()),
    "sub_s": lambda p, x: x - p["s"],
    "rsub_s": lambda p, x: p["s"] - x,
    "mul_s": lambda p, x: x * p["s"],
    "div_s": lambda p, x: x / p["s"],
    "rdiv_s": lambda p, x: p["s"] / x,
    "pow_s": lambda p, x: torch.pow(x, p["s"]),
    "rpow_s": lambda p, x: torch.pow(p["s"], x),
    "max_s": lambda p, x: torch.clamp(x, min=p["s"]),
    "min_s": lambda p, x: torch.clamp(x, max=p["s"]),
    "eq_s": lambda p, x: x == p["s"],
    "ne_s": lambda p, x: x != p["s"],
    "lt_s": lambda p, x: x < p["s"],
    "le_s": lambda p, x: x <= p["s"],
    "gt_s": lambda p, x: x > p["s"],
    "ge_s": lambda p, x: x >= p["s"],
    "clamp": lambda p, x: torch.clamp(x, p["lo"], p["hi"]),
    "where": _where,
    # reductions
    "sum": _reduce(lambda x: x.sum(), lambda x, d, k: x.sum(dim=d, keepdim=k)),
    # torch refuses mean of integers; wgtensor averages them as float32.
    "mean": _reduce(lambda x: _float(x).mean(), lambda x, d, k: _float(x).mean(dim=d, keepdim=k)),
    "max": _reduce(lambda x: x.max(), _max_dims),
    "min": _reduce(lambda x: x.min(), _min_dims),
    "argmax": lambda p, x: torch.argmax(x, p["axis"], keepdim=p["keepdim"]),
    "argmin": lambda p, x: torch.argmin(x, p["axis"], keepdim=p["keepdim"]),
    "softmax": lambda p, x: F.softmax(x, p["axis"]),
    "log_softmax": lambda p, x: F.log_softmax(x, p["axis"]),
    "matmul": lambda p, a, b: torch.matmul(a, b),
    # views
    "transpose": lambda p, x: x.transpose(p["a"], p["b"]),
    "permute": lambda p, x: x.permute(*p["dims"]),
    "narrow": lambda p, x: x.narrow(p["axis"], p["start"], p["length"]),
    "slice": _slice,
    "expand": lambda p, x: x.expand(*p["shape"]),
    "reshape": lambda p, x: x.reshape(*p["shape"]),
    "unsqueeze": lambda p, x: x.unsqueeze(p["axis"]),
    "squeeze": _squeeze,
    "select": lambda p, x: x.select(p["axis"], p["index"]),
    "flatten": lambda p, x: x.flatten(p["start"], p["end"]),
    "contiguous": lambda p, x: x.contiguous(),
    "concat": lambda p, *xs: torch.cat(xs, p["axis"]),
    "stack": lambda p, *xs: torch.stack(xs, p["axis"]),
    "gather": lambda p, x, i: torch.gather(x, p["axis"], _long(i)),
    "index_select": lambda p, x, i: torch.index_select(x, p["axis"], _long(i)),
    # nn
    "cross_entropy": lambda p, x, y: F.cross_entropy(
        x, _long(y), ignore_index=p["ignore_index"], label_smoothing=p["label_smoothing"],
        reduction=RED[p["reduction"]]),
    "nll_loss": lambda p, x, y: F.nll_loss(x, _long(y), ignore_index=p["ignore_index"],
                                           reduction=RED[p["reduction"]]),
    "bce_logits": lambda p, x, t: F.binary_cross_entropy_with_logits(x, t, reduction=p["reduction"]),
    "bce": lambda p, x, t: F.binary_cross_entropy(x, t, reduction=p["reduction"]),
    "mse": lambda p, a, b: F.mse_loss(a, b, reduction=p["reduction"]),
    "l1": lambda p, a, b: F.l1_loss(a, b, reduction=p["reduction"]),
    "layer_norm": _layer_norm,
    "conv2d": lambda p, x, w: F.conv2d(x, w, None, p["stride"], p["padding"], p["dilation"], p["groups"]),
    "max_pool2d": lambda p, x: F.max_pool2d(x, p["kernel"], p["stride"], p["padding"]),
    "avg_pool2d": lambda p, x: F.avg_pool2d(x, p["kernel"], p["stride"], p["padding"],
                                            count_include_pad=p["count_include_pad"]),
}

COMPARES = ["eq", "ne", "lt", "le", "gt", "ge"]
UNARY = ["neg", "abs", "sign", "square", "exp", "log", "sqrt", "rsqrt", "reciprocal", "sin", "cos",
         "tanh", "sigmoid", "relu", "gelu"]
UNARY_INT = ["neg", "abs", "sign", "square"]  # int32 in, int32 out in both libraries
BINARY = ["add", "sub", "mul", "div", "pow", "maximum", "minimum"]
BINARY_INT = ["add", "sub", "mul", "maximum", "minimum"]
SCALAR_OPS = ["add_s", "sub_s", "rsub_s", "mul_s", "div_s", "rdiv_s", "pow_s", "rpow_s", "max_s",
              "min_s"]
SCALAR_INT = ["add_s", "sub_s", "rsub_s", "mul_s", "div_s", "max_s", "min_s", "add_si", "sub_si", "mul_si"]
LOSSES = ["cross_entropy", "nll_loss", "bce_logits", "bce", "mse", "l1"]


# ---------------------------------------------------------------------------
# Ambiguity rules: where PyTorch's gradient (or value) is a convention.
# ---------------------------------------------------------------------------

def _has_nan(t):
    return _is_float(t) and bool(torch.isnan(t).any())


def _reduced_ties(x, axes):
    """Whether some reduced slice of x has its max or min more than once, or
    a NaN (the gradient then depends on a tie-breaking convention)."""
    if not _is_float(x) or x.numel() == 0:
        return False
    if torch.isnan(x).any():
        return True
    if x.dim() == 0:
        return False
    dims = _all(x) if axes is None else tuple(a % x.dim() for a in axes)
    mx = torch.amax(x, dims, keepdim=True)
    mn = torch.amin(x, dims, keepdim=True)
    return bool(((x == mx).sum(dims) > 1).any() or ((x == mn).sum(dims) > 1).any())


def _pool_ties(p, x):
    if torch.isnan(x).any():
        return True
    n, c, h, w = x.shape
    if n * c == 0:
        return False
    (kh, kw), (sh, sw), (ph, pw) = p["kernel"], p["stride"], p["padding"]
    xp = F.pad(x.reshape(n * c, 1, h, w), (pw, pw, ph, ph), value=-INF)
    win = F.unfold(xp, (kh, kw), stride=(sh, sw))  # [n*c, kh*kw, L]
    mx = win.max(1, keepdim=True).values
    return bool(((win == mx).sum(1) > 1).any())


def grad_ambiguity(op, p, args):
    """A reason why PyTorch's gradient of this step is a convention here, or
    None."""
    if op in ("max", "min") and _reduced_ties(args[0], p["axes"]):
        return "%s at ties or NaN: PyTorch 1.13 gives one element or splits evenly" % op
    if op == "max_pool2d" and _pool_ties(p, args[0]):
        return "max_pool2d at ties or NaN: which element gets the gradient is a convention"
    if op in ("relu", "abs", "maximum", "minimum", "bce_logits", "l1") and any(_has_nan(a) for a in args):
        return "%s at NaN: PyTorch's derivative there is a convention (relu' = 1, abs' = 0, maximum: both)" % op
    return None


def forward_ambiguity(op, p, args):
    if op == "sign" and any(_has_nan(a) for a in args):
        return "sign(NaN) is 0 in PyTorch 1.13 and NaN in later releases"
    if op == "astype" and p["dtype"] == "int32" and any(
            _is_float(a) and not bool((torch.isfinite(a) & (a.abs() < 2 ** 31)).all()) for a in args):
        return "float to int of NaN, inf or beyond int32 is undefined"
    if op in ("max_s", "min_s", "clamp") and any(
            isinstance(p.get(k), float) and math.isnan(p[k]) for k in ("s", "lo", "hi")):
        return "clamp with a NaN bound: PyTorch 1.13's CPU result depends on the operand order of std::min"
    return None


# Ops whose PyTorch backward is written differently from wgtensor's (fused,
# or masked and multiplied in another order): where a non-finite value meets
# them, 0*inf decides whether a gradient element is 0, NaN or inf, and that is
# no property of the op.  Ops that PyTorch masks with where/masked_fill
# (relu, clamp, maximum, minimum, where, max/min, pooling) are not here: their
# gradient is exactly 0 off the mask whatever flows in, and wgtensor is held to
# that.  Nor are products and sums: NaN and inf propagate through them the
# same way in any order.
FORMULA_SENSITIVE = {"div", "rdiv_s", "pow", "pow_s", "rpow_s", "layer_norm", "bce_logits", "bce"}


def _finite(t):
    return t is None or not _is_float(t) or bool(torch.isfinite(t).all())


def formula_ambiguity(steps, vals, upstream, n_in):
    for k, s in enumerate(steps):
        if s["op"] not in FORMULA_SENSITIVE:
            continue
        if upstream[k] is None:
            continue
        if not _finite(upstream[k]) or not all(_finite(vals[a]) for a in s["args"]):
            return ("%s meets a non-finite value in the backward pass: whether 0*inf gives 0 or NaN "
                    "there depends on how the derivative is written" % s["op"])
    return None


# ---------------------------------------------------------------------------
# Program builder.  Steps are evaluated eagerly (float64, no grad) so that
# families can look at shapes and dtypes.
# ---------------------------------------------------------------------------


class Builder:
    def __init__(self, rng):
        self.rng = rng
        self.inputs = []
        self.steps = []
        self.vals = []      # eager float64/int64 values
        self.error = None   # (step index, message) once a step is refused
        self.meta = {}
        self.kinds = []     # per value: ("in", input index) or ("step", step index)

    # --- inputs -----------------------------------------------------------
    def input(self, shape, dtype="float32", profile=None, grad=None, data=None):
        n = numel(shape)
        if data is None:
            if dtype == "int32":
                data = [self.rng.randint(-4, 8) for _ in range(n)]
            else:
                data = fill(self.rng, n, profile or pick_profile(self.rng))
        if dtype == "float32":
            data = [f32(float(v)) for v in data]
            if grad is None:
                grad = self.rng.random() < 0.85
        else:
            data = [int(v) for v in data]
            grad = False
        self.inputs.append({"shape": list(shape), "dtype": dtype, "data": data, "grad": bool(grad)})
        self.kinds.append(("in", len(self.inputs) - 1))
        t = torch.tensor(data, dtype=torch.float64 if dtype == "float32" else torch.int64).reshape(shape)
        self.vals.append(t)
        return len(self.vals) - 1

    def ints(self, shape, lo, hi):
        return self.input(shape, "int32", data=[self.rng.randrange(lo, hi) for _ in range(numel(shape))])

    # --- steps ------------------------------------------------------------
    def step(self, op, args, **p):
        assert self.error is None, "step after an invalid step"
        self.steps.append({"op": op, "args": list(args), "p": p})
        self.kinds.append(("step", len(self.steps) - 1))
        torch.set_default_dtype(torch.float64)
        try:
            with torch.no_grad():
                v = TORCH_OPS[op](p, *[self.vals[a] for a in args])
        except (RuntimeError, IndexError, ValueError, TypeError) as e:
            self.error = (len(self.steps) - 1, str(e).split("\n")[0][:200])
            v = None
        finally:
            torch.set_default_dtype(torch.float32)
        self.vals.append(v)
        return len(self.vals) - 1

    def program(self):
        """The inputs and steps with values numbered as in the file: inputs
        first, then steps (the builder numbers them in creation order)."""
        n = len(self.inputs)
        canon = [i if k == "in" else n + i for k, i in self.kinds]
        steps = [{"op": s["op"], "args": [canon[a] for a in s["args"]], "p": s["p"]} for s in self.steps]
        return self.inputs, steps

    def shape(self, i):
        return list(self.vals[i].shape)

    def dtype(self, i):
        return self.vals[i].dtype

    def is_float(self, i):
        return _is_float(self.vals[i])

    def budget(self):
        return MAX_STEPS - len(self.steps)

    # --- views: a value of the given shape made by view steps -------------
    def viewed(self, shape, dtype="float32", profile=None, grad=None, depth=None, p_view=0.45):
        """A value of shape built from an input through 0-2 view steps, so
        that it is often not contiguous."""
        if depth is None:
            depth = 0
            r = self.rng.random()
            if r < p_view:
                depth = 1 if r < p_view * 0.75 else 2
        depth = min(depth, max(self.budget() - 1, 0))
        if depth == 0:
            return self.input(shape, dtype, profile, grad)
        kinds = ["transpose", "permute", "narrow", "slice", "expand", "select", "unsqueeze",
                 "squeeze", "reshape", "contiguous_t", "flatten"]
        rng = self.rng
        for _ in range(20):
            kind = rng.choice(kinds)
            r = len(shape)
            if kind == "transpose" and r >= 2:
                a, b = rng.sample(range(r), 2)
                src = list(shape)
                src[a], src[b] = src[b], src[a]
                x = self.viewed(src, dtype, profile, grad, depth - 1)
                return self.step("transpose", [x], a=neg_axis(rng, a, r), b=neg_axis(rng, b, r))
            if kind == "contiguous_t" and r >= 2 and depth >= 2:
                src = list(shape)
                src[-1], src[-2] = src[-2], src[-1]
                x = self.input(src, dtype, profile, grad)
                y = self.step("transpose", [x], a=-1, b=-2)
                return self.step("contiguous", [y])
            if kind == "permute" and r >= 3:
                perm = list(range(r))
                while perm == list(range(r)):
                    rng.shuffle(perm)
                src = [0] * r
                for i, d in enumerate(perm):
                    src[d] = shape[i]
                x = self.viewed(src, dtype, profile, grad, depth - 1)
                return self.step("permute", [x], dims=[neg_axis(rng, d, r) for d in perm])
            if kind == "slice" and r >= 1 and rng.random() < 0.4:
                # a strided slice start:end:step
                a = rng.randrange(r)
                st = rng.choice([2, 3])
                start = rng.randint(0, 2)
                src = list(shape)
                src[a] = start + (shape[a] - 1) * st + 1 + rng.randint(0, st - 1) if shape[a] else start
                x = self.viewed(src, dtype, profile, grad, depth - 1)
                end = rng.choice([src[a], src[a] + 4, start + (shape[a] - 1) * st + 1]) if shape[a] else start
                return self.step("slice", [x], axis=neg_axis(rng, a, r), start=start, end=end, step=st)
            if kind in ("narrow", "slice") and r >= 1:
                a = rng.randrange(r)
                extra = rng.choice([1, 2, 3])
                src = list(shape)
                src[a] += extra
                start = rng.randint(0, extra)
                x = self.viewed(src, dtype, profile, grad, depth - 1)
                if kind == "narrow":
                    return self.step("narrow", [x], axis=neg_axis(rng, a, r), start=start, length=shape[a])
                end = start + shape[a]
                s_start = start - src[a] if rng.random() < 0.4 else start
                s_end = end
                if end == src[a] and rng.random() < 0.5:
                    s_end = src[a] + rng.choice([1, 5, 100])
                elif rng.random() < 0.3 and end > 0:
                    s_end = end - src[a]
                    if s_end == 0:
                        s_end = end
                return self.step("slice", [x], axis=neg_axis(rng, a, r), start=s_start, end=s_end)
            if kind == "expand" and r >= 1:
                src = [1 if (d != 1 and rng.random() < 0.5) else d for d in shape]
                lead = 0
                if r >= 2 and rng.random() < 0.4:
                    lead = rng.randint(1, r - 1)
                src = src[lead:]
                if src == list(shape):
                    continue
                x = self.viewed(src, dtype, profile, grad, depth - 1)
                tgt = list(shape)
                for i in range(lead, r):
                    if src[i - lead] == shape[i] and rng.random() < 0.3:
                        tgt[i] = -1
                return self.step("expand", [x], shape=tgt)
            if kind == "select" and r <= 3:
                a = rng.randint(0, r)
                m = rng.choice([2, 3])
                src = list(shape[:a]) + [m] + list(shape[a:])
                x = self.viewed(src, dtype, profile, grad, depth - 1)
                i = rng.randrange(m)
                if rng.random() < 0.3:
                    i -= m
                return self.step("select", [x], axis=neg_axis(rng, a, r + 1), index=i)
            if kind == "unsqueeze" and 1 in shape:
                a = shape.index(1)
                src = list(shape[:a]) + list(shape[a + 1:])
                x = self.viewed(src, dtype, profile, grad, depth - 1)
                return self.step("unsqueeze", [x], axis=neg_axis(rng, a, r))
            if kind == "squeeze" and r <= 3:
                a = rng.randint(0, r)
                src = list(shape[:a]) + [1] + list(shape[a:])
                x = self.viewed(src, dtype, profile, grad, depth - 1)
                if 1 not in shape and rng.random() < 0.5:
                    return self.step("squeeze", [x], axes=None)
                return self.step("squeeze", [x], axes=[neg_axis(rng, a, r + 1)])
            if kind == "reshape" and r >= 1:
                n = numel(shape)
                src = rng.choice([[n], list(reversed(shape)), list(shape) + [1]])
                x = self.viewed(src, dtype, profile, grad, depth - 1)
                tgt = list(shape)
                if n > 0 and rng.random() < 0.3:
                    tgt[rng.randrange(r)] = -1
                return self.step("reshape", [x], shape=tgt)
            if kind == "flatten" and r >= 1:
                # split one axis of shape into two and flatten them back
                a = rng.randrange(r)
                d = shape[a]
                f = [f for f in (2, 3) if d % f == 0 and d > f]
                if not f:
                    continue
                src = list(shape[:a]) + [f[0], d // f[0]] + list(shape[a + 1:])
                x = self.viewed(src, dtype, profile, grad, depth - 1)
                return self.step("flatten", [x], start=a, end=neg_axis(rng, a + 1, r + 1))
        return self.input(shape, dtype, profile, grad)


def neg_axis(rng, a, r):
    return a - r if rng.random() < 0.3 else a


def numel(shape):
    n = 1
    for d in shape:
        n *= d
    return n


SPECIALS = [NAN, INF, -INF, 0.0, -0.0, 1e4, -1e4, 3e38, -3e38, 1e-30, 88.0, -88.0, 1.0, -1.0]


def fill(rng, n, profile):
    out = []
    for _ in range(n):
        if profile == "normal":
            v = rng.gauss(0, 1)
        elif profile == "special":
            v = rng.choice(SPECIALS) if rng.random() < 0.3 else rng.gauss(0, 1)
        elif profile == "ties":
            v = float(rng.randint(-2, 2))
        elif profile == "positive":
            v = rng.uniform(0.05, 3.0)
        elif profile == "large":
            v = rng.gauss(0, 1) * rng.choice([1e3, 1e4, 3e4])
        elif profile == "zeros":
            v = rng.choice([0.0, -0.0, 0.0, rng.gauss(0, 1)])
        elif profile == "unit":
            v = rng.uniform(0.0, 1.0)
        elif profile == "prob":
            v = rng.uniform(0.02, 0.98)
        else:
            raise ValueError(profile)
        out.append(v)
    return out


def pick_profile(rng):
    return rng.choices(["normal", "special", "ties", "positive", "large", "zeros"],
                       [35, 22, 18, 10, 8, 7])[0]


def rand_shape(rng, rank=None, max_numel=48, zero=0.06, sizes=(1, 1, 2, 3, 3, 4, 5, 7)):
    if rank is None:
        rank = rng.choices([0, 1, 2, 3, 4], [8, 22, 34, 24, 12])[0]
    for _ in range(100):
        s = [rng.choice(sizes) for _ in range(rank)]
        if numel(s) <= max_numel:
            break
    else:
        s = [1] * rank
    if rank and rng.random() < zero:
        s[rng.randrange(rank)] = 0
    return s


def broadcast_pair(rng, shape):
    """A shape that broadcasts with shape (possibly to a larger shape)."""
    r = len(shape)
    other = [1 if rng.random() < 0.35 else d for d in shape]
    if r and rng.random() < 0.3:
        other = other[rng.randint(1, r):]
    if rng.random() < 0.15:
        # shape itself gets stretched: other has a real size where shape has 1
        other = [rng.choice([2, 3]) if d == 1 and rng.random() < 0.5 else o for d, o in zip(shape, [1] * (r - len(other)) + other)]
    return other


def non_broadcast(rng, shape):
    """A shape that does not broadcast with shape (shape must have a dim > 1)."""
    cand = [i for i, d in enumerate(shape) if d > 1]
    i = rng.choice(cand)
    other = list(shape)
    other[i] = shape[i] + rng.choice([1, 2])
    if rng.random() < 0.3:
        other = other[i:]
    return other


def scalar(rng, specials=True):
    """A Python float scalar (float32-exact): on an int32 tensor it makes
    PyTorch's result float32, as wgtensor's float64 scalar methods do."""
    choices = [0.0, 1.0, -1.0, 2.0, -0.5, 0.25, 3.0, -3.0, 1.5, 10.0]
    if specials:
        choices += [NAN, INF, -INF]
    return rng.choice(choices)


# ---------------------------------------------------------------------------
# Follow-up steps: make chains longer.
# ---------------------------------------------------------------------------

def follow(b, x, p=0.5):
    """Maybe append one more op that consumes x."""
    rng = b.rng
    if b.budget() <= 0 or rng.random() > p or b.error is not None:
        return x
    v = b.vals[x]
    if v.dtype == torch.bool:
        return x
    fl = _is_float(v)
    r = v.dim()
    kind = rng.choices(["unary", "reduce", "softmax", "view", "scalar"], [35, 30, 8, 15, 12])[0]
    if kind == "unary":
        return b.step(rng.choice(UNARY if fl else UNARY_INT), [x])
    if kind == "reduce":
        op = rng.choice(["sum", "mean", "max", "min"] if fl else ["sum", "max", "min"])
        axes, kd = rand_axes(rng, list(v.shape), op in ("max", "min"))
        if axes is False:
            return x
        return b.step(op, [x], axes=axes, keepdim=kd)
    if kind == "softmax" and fl and r >= 1:
        return b.step(rng.choice(["softmax", "log_softmax"]), [x], axis=neg_axis(rng, rng.randrange(r), r))
    if kind == "view" and r >= 2:
        a, c = rng.sample(range(r), 2)
        return b.step("transpose", [x], a=a, b=c)
    if kind == "view" and r >= 1:
        return b.step("reshape", [x], shape=[-1] if v.numel() > 0 else [0])
    if kind == "scalar":
        op = rng.choice(SCALAR_OPS if fl else SCALAR_INT)
        return b.step(op, [x], s=scalar(rng, specials=fl) if not op.endswith("_si") else rng.choice([2, -1, 3, 0]))
    return x


def rand_axes(rng, shape, needs_nonempty):
    """Axes (or None for all) and keepdim for a reduction over shape; False
    when no valid choice (max/min of an empty axis)."""
    r = len(shape)
    for _ in range(10):
        if r == 0 or rng.random() < 0.25:
            axes = None
        else:
            k = rng.randint(1, r)
            axes = sorted(rng.sample(range(r), k))
            axes = [neg_axis(rng, a, r) for a in axes]
            if rng.random() < 0.3:
                rng.shuffle(axes)
        if needs_nonempty:
            red = range(r) if axes is None else [a % r for a in axes]
            kept = [shape[i] for i in range(r) if i not in red]
            if any(shape[i] == 0 for i in red) and numel(kept) > 0:
                continue
            if axes is None and numel(shape) == 0:
                continue
        return axes, rng.random() < 0.4
    return False, False


# ---------------------------------------------------------------------------
# Families of valid programs.
# ---------------------------------------------------------------------------

def fam_unary(b):
    rng = b.rng
    op = rng.choice(UNARY)
    prof = pick_profile(rng)
    if op in ("log", "sqrt", "rsqrt") and rng.random() < 0.5:
        prof = "positive"
    s = rand_shape(rng)
    x = b.viewed(s, profile=prof)
    y = b.step(op, [x])
    if rng.random() < 0.25 and b.budget() > 0:
        y = b.step(rng.choice(UNARY), [y])
    return follow(b, y, 0.4)


def fam_binary(b):
    rng = b.rng
    op = rng.choice(BINARY)
    s = rand_shape(rng, max_numel=36)
    o = broadcast_pair(rng, s)
    if rng.random() < 0.5:
        s, o = o, s
    pa = pick_profile(rng)
    pb = pick_profile(rng)
    if op == "pow":
        pa = rng.choice(["positive", "ties", "zeros", "special", "normal"])
        pb = rng.choice(["ties", "normal", "zeros", "special"])
    x = b.viewed(s, profile=pa, p_view=0.3)
    y = b.viewed(o, profile=pb, p_view=0.3)
    z = b.step(op, [x, y])
    return follow(b, z, 0.5)


def fam_int(b):
    rng = b.rng
    s = rand_shape(rng, max_numel=36)
    kind = rng.choice(["unary", "binary", "scalar", "scalar", "mixed", "reduce", "div"])
    x = b.viewed(s, "int32", p_view=0.3)
    if kind == "unary":
        z = b.step(rng.choice(UNARY_INT + ["exp", "sqrt", "sigmoid", "reciprocal"]), [x])
    elif kind == "binary":
        y = b.viewed(broadcast_pair(rng, s), "int32", p_view=0.2)
        z = b.step(rng.choice(BINARY_INT), [x, y])
    elif kind == "div":
        y = b.viewed(broadcast_pair(rng, s), "int32", p_view=0.2)
        z = b.step("div", [x, y])
    elif kind == "scalar":
        op = rng.choice(SCALAR_INT[-3:] if rng.random() < 0.5 else SCALAR_INT)
        if op.endswith("_si"):
            s_ = rng.choice([2, -1, 3, 0, -7])
        else:
            s_ = rng.choice([2.0, -1.0, 3.0, 0.0, 2.5, -0.5, 1.5])
        z = b.step(op, [x], s=s_)
    elif kind == "mixed":
        y = b.viewed(broadcast_pair(rng, s), "float32", p_view=0.2)
        z = b.step(rng.choice(["add", "mul", "sub", "maximum"]), [x, y] if rng.random() < 0.5 else [y, x])
    else:
        op = rng.choice(["sum", "max", "min", "mean"])
        axes, kd = rand_axes(rng, s, op in ("max", "min"))
        if axes is False:
            return x
        z = b.step(op, [x], axes=axes, keepdim=kd)
    return follow(b, z, 0.3)


def fam_cast(b):
    rng = b.rng
    s = rand_shape(rng)
    if rng.random() < 0.6:
        x = b.viewed(s, profile=rng.choice(["normal", "ties", "large", "zeros"]), p_view=0.3)
        z = b.step("astype", [x], dtype="int32")
    else:
        x = b.viewed(s, "int32", p_view=0.3)
        z = b.step("astype", [x], dtype="float32")
    return follow(b, z, 0.6)


def fam_scalar(b):
    rng = b.rng
    op = rng.choice(SCALAR_OPS)
    s = rand_shape(rng)
    prof = pick_profile(rng)
    if op in ("rpow_s",):
        sv = rng.choice([2.0, 0.5, 3.0, 10.0, 1.5])
    elif op == "pow_s":
        sv = rng.choice([0.0, 1.0, 2.0, 3.0, -1.0, 0.5, -2.0, 1.5])
    else:
        sv = scalar(rng)
    x = b.viewed(s, profile=prof)
    z = b.step(op, [x], s=sv)
    return follow(b, z, 0.5)


def fam_clamp(b):
    rng = b.rng
    s = rand_shape(rng)
    x = b.viewed(s)
    lo = rng.choice([-1.0, -0.5, 0.0, -2.0, -INF])
    hi = rng.choice([0.0, 0.5, 1.0, 2.0, INF])
    if lo > hi:
        lo, hi = hi, lo
    z = b.step("clamp", [x], lo=lo, hi=hi)
    return follow(b, z, 0.4)


def fam_compare(b):
    rng = b.rng
    op = rng.choice(COMPARES)
    s = rand_shape(rng, max_numel=36)
    dt = "int32" if rng.random() < 0.15 else "float32"
    prof = rng.choice(["ties", "special", "normal", "zeros"])
    x = b.viewed(s, dt, profile=prof, p_view=0.3)
    if rng.random() < 0.5:
        y = b.viewed(broadcast_pair(rng, s), dt, profile=prof, p_view=0.2)
        m = b.step(op, [x, y])
    else:
        m = b.step(op + "_s", [x], s=scalar(rng, specials=dt == "float32"))
    if rng.random() < 0.5 and b.budget() > 0:
        ms = b.shape(m)
        a = b.input(broadcast_pair(rng, ms))
        c = b.input(broadcast_pair(rng, ms))
        m = b.step("where", [m, a, c])
        return follow(b, m, 0.3)
    return m


def fam_where(b):
    rng = b.rng
    s = rand_shape(rng, max_numel=36)
    c = b.input(broadcast_pair(rng, s), profile=rng.choice(["ties", "zeros", "special"]), grad=False)
    x = b.viewed(s, p_view=0.3)
    y = b.viewed(broadcast_pair(rng, s), p_view=0.2,
                 dtype="int32" if rng.random() < 0.1 else "float32")
    z = b.step("where", [c, x, y] if rng.random() < 0.7 else [c, y, x])
    return follow(b, z, 0.4)


def fam_reduce(b):
    rng = b.rng
    op = rng.choice(["sum", "mean", "max", "min", "sum", "mean", "argmax", "argmin"])
    long = rng.random() < 0.08
    s = rand_shape(rng, rank=rng.choice([1, 2]), max_numel=400, sizes=(17, 31, 64, 100, 255)) if long else rand_shape(rng)
    prof = pick_profile(rng)
    if op in ("argmax", "argmin", "max", "min") and rng.random() < 0.5:
        prof = "ties"
    if long:
        prof = rng.choice(["normal", "ties", "positive"])
    x = b.viewed(s, profile=prof, p_view=0.5)
    if op in ("argmax", "argmin"):
        if not s:
            return follow(b, x, 1.0)
        a = rng.randrange(len(s))
        kept = [d for i, d in enumerate(s) if i != a]
        if s[a] == 0 and numel(kept) > 0:
            return follow(b, x, 1.0)
        return b.step(op, [x], axis=neg_axis(rng, a, len(s)), keepdim=rng.random() < 0.4)
    axes, kd = rand_axes(rng, s, op in ("max", "min"))
    if axes is False:
        return follow(b, x, 1.0)
    z = b.step(op, [x], axes=axes, keepdim=kd)
    return follow(b, z, 0.35)


def fam_softmax(b):
    rng = b.rng
    op = rng.choice(["softmax", "log_softmax"])
    s = rand_shape(rng, rank=rng.choice([0, 1, 2, 2, 3, 4]))
    prof = rng.choice(["normal", "normal", "large", "special", "ties"])
    x = b.viewed(s, profile=prof)
    r = len(s)
    a = 0 if r == 0 else neg_axis(rng, rng.randrange(r), r)
    if r == 0:
        a = rng.choice([0, -1])
    z = b.step(op, [x], axis=a)
    return follow(b, z, 0.35)


def fam_matmul(b):
    rng = b.rng
    kind = rng.choice(["mm", "mm", "mv", "vm", "dot", "bmm", "bcast", "bmm2", "zero"])
    d = lambda: rng.choice([1, 2, 3, 4, 5, 7])
    m, k, n = d(), d(), d()
    if kind == "zero":
        which = rng.choice(["k", "m", "n", "batch"])
        if which == "k":
            k = 0
        elif which == "m":
            m = 0
        elif which == "n":
            n = 0
        kind2 = rng.choice(["mm", "bmm", "bcast"])
    else:
        kind2 = kind
    batch = [rng.choice([1, 2, 3])]
    if kind == "zero" and which == "batch":
        batch = [0]
    if kind2 == "mm":
        sa, sb = [m, k], [k, n]
    elif kind2 == "mv":
        sa, sb = [m, k], [k]
    elif kind2 == "vm":
        sa, sb = [k], [k, n]
    elif kind2 == "dot":
        sa, sb = [k], [k]
    elif kind2 == "bmm":
        sa, sb = batch + [m, k], batch + [k, n]
    elif kind2 == "bmm2":
        sa, sb = batch + [m, k], [k, n]
        if rng.random() < 0.5:
            sa, sb = [m, k], batch + [k, n]
    else:  # broadcast batch axes
        sa, sb = [2, 1, m, k], [3, k, n]
        if rng.random() < 0.5:
            sa, sb = [1, m, k], [2, 3, k, n]
    prof = rng.choice(["normal", "normal", "ties", "special"])
    x = b.viewed(sa, profile=prof, p_view=0.4)
    y = b.viewed(sb, profile=prof, p_view=0.4)
    z = b.step("matmul", [x, y])
    return follow(b, z, 0.4)


def fam_views(b):
    rng = b.rng
    s = rand_shape(rng, rank=rng.choice([1, 2, 3, 4]))
    dt = "int32" if rng.random() < 0.15 else "float32"
    x = b.viewed(s, dt, depth=rng.choice([1, 2, 2]))
    if b.budget() > 0:
        r = len(b.shape(x))
        op = rng.choice(["contiguous", "reshape", "unary", "sum", "none"])
        if op == "contiguous":
            x = b.step("contiguous", [x])
        elif op == "reshape" and r:
            x = b.step("reshape", [x], shape=list(reversed(b.shape(x))))
        elif op == "unary":
            x = b.step(rng.choice(UNARY if dt == "float32" else UNARY_INT), [x])
        elif op == "sum":
            x = b.step("sum", [x], axes=None, keepdim=False)
    return x


def fam_concat(b):
    rng = b.rng
    op = rng.choice(["concat", "concat", "stack"])
    s = rand_shape(rng, rank=rng.choice([1, 2, 3]), max_numel=24)
    r = len(s)
    a = rng.randrange(r + (1 if op == "stack" else 0))
    k = rng.choice([2, 2, 3])
    dt = "int32" if rng.random() < 0.12 else "float32"
    xs = []
    for i in range(k):
        si = list(s)
        if op == "concat":
            si[a] = rng.choice([0, 1, 2, 3]) if rng.random() < 0.6 else s[a]
        xs.append(b.viewed(si, dt, p_view=0.3 if i == 0 else 0.15))
    rr = r + (1 if op == "stack" else 0)
    z = b.step(op, xs, axis=neg_axis(rng, a, rr))
    return follow(b, z, 0.3)


def fam_index(b):
    rng = b.rng
    op = rng.choice(["gather", "index_select"])
    s = rand_shape(rng, rank=rng.choice([1, 2, 3]), max_numel=30, zero=0.0)
    r = len(s)
    a = rng.randrange(r)
    dt = "int32" if rng.random() < 0.12 else "float32"
    x = b.viewed(s, dt, p_view=0.35)
    if op == "index_select":
        m = rng.choice([0, 1, 2, 3, 5])
        i = b.ints([m], 0, s[a])
    else:
        ishape = [rng.randint(1, d) if i != a else rng.choice([1, 2, 3, 4]) for i, d in enumerate(s)]
        i = b.ints(ishape, 0, s[a])
    z = b.step(op, [x, i], axis=neg_axis(rng, a, r))
    return follow(b, z, 0.3)


def fam_loss(b):
    rng = b.rng
    op = rng.choice(LOSSES + ["cross_entropy", "bce_logits"])
    red = rng.choice(["mean", "sum", "none"])
    if op in ("cross_entropy", "nll_loss"):
        n = rng.choice([1, 2, 3, 4, 5])
        c = rng.choice([1, 2, 3, 5])
        extra = [] if rng.random() < 0.7 else [rng.choice([1, 2, 3])]
        ii = -100 if rng.random() < 0.75 else rng.randrange(c)
        labels = []
        for _ in range(n * numel(extra)):
            labels.append(-100 if (ii == -100 and rng.random() < 0.2) else rng.randrange(c))
        prof = rng.choice(["normal", "normal", "ties", "large"])
        x = b.viewed([n, c] + extra, profile=prof, p_view=0.3)
        y = b.input([n] + extra, "int32", data=labels)
        p = {"ignore_index": ii, "reduction": red}
        if op == "cross_entropy":
            p["label_smoothing"] = rng.choice([0.0, 0.0, 0.1, 0.25])
        z = b.step(op, [x, y], **p)
    else:
        s = rand_shape(rng, rank=rng.choice([0, 1, 2, 3]), max_numel=30)
        if op == "bce_logits":
            x = b.viewed(s, profile=rng.choice(["normal", "zeros", "ties", "large"]), p_view=0.3)
            t = b.input(s, profile="unit")
        elif op == "bce":
            x = b.viewed(s, profile="prob", p_view=0.3)
            t = b.input(s, profile="unit")
        else:
            x = b.viewed(s, profile=rng.choice(["normal", "ties", "zeros"]), p_view=0.3)
            t = b.input(s, profile=rng.choice(["normal", "ties"]))
        z = b.step(op, [x, t], reduction=red)
    return follow(b, z, 0.2)


def fam_layer_norm(b):
    rng = b.rng
    nd = rng.choice([1, 1, 2])
    ns = [rng.choice([1, 2, 3, 5, 8]) for _ in range(nd)]
    lead = rand_shape(rng, rank=rng.choice([0, 1, 2]), max_numel=6, zero=0.05)
    prof = rng.choice(["normal", "normal", "ties", "large", "special"])
    x = b.viewed(lead + ns, profile=prof, p_view=0.3)
    args = [x]
    hw, hb = rng.random() < 0.8, rng.random() < 0.7
    if hw:
        args.append(b.input(ns))
    if hb:
        args.append(b.input(ns))
    z = b.step("layer_norm", args, shape=ns, eps=1e-5, weight=hw, bias=hb)
    return follow(b, z, 0.25)


def conv_shapes(rng):
    g = rng.choice([1, 1, 1, 2])
    c = g * rng.choice([1, 2])
    o = g * rng.choice([1, 2])
    kh, kw = rng.choice([1, 2, 3]), rng.choice([1, 2, 3])
    sh, sw = rng.choice([1, 1, 2, 3]), rng.choice([1, 2])
    ph, pw = rng.choice([0, 0, 1, 2]), rng.choice([0, 1])
    dh, dw = rng.choice([1, 1, 2]), 1
    n = rng.choice([1, 1, 2])
    h = max(dh * (kh - 1) + 1 - 2 * ph, 1) + rng.randint(0, 4)
    w = max(dw * (kw - 1) + 1 - 2 * pw, 1) + rng.randint(0, 4)
    return n, c, h, w, o, g, (kh, kw), (sh, sw), (ph, pw), (dh, dw)


def fam_conv(b):
    rng = b.rng
    n, c, h, w, o, g, k, st, pd, dl = conv_shapes(rng)
    if rng.random() < 0.05:
        n = 0
    x = b.viewed([n, c, h, w], profile=rng.choice(["normal", "normal", "ties"]), p_view=0.25)
    wt = b.input([o, c // g, k[0], k[1]], profile="normal")
    z = b.step("conv2d", [x, wt], stride=list(st), padding=list(pd), dilation=list(dl), groups=g)
    return follow(b, z, 0.3)


def fam_pool(b):
    rng = b.rng
    op = rng.choice(["max_pool2d", "avg_pool2d"])
    kh, kw = rng.choice([1, 2, 3]), rng.choice([1, 2, 3])
    sh, sw = rng.choice([1, 2, 3]), rng.choice([1, 2])
    ph, pw = rng.randint(0, kh // 2), rng.randint(0, kw // 2)
    n, c = rng.choice([1, 2]), rng.choice([1, 2, 3])
    h = max(kh - 2 * ph, 1) + rng.randint(0, 4)
    w = max(kw - 2 * pw, 1) + rng.randint(0, 4)
    prof = rng.choice(["normal", "normal", "ties", "special"])
    x = b.viewed([n, c, h, w], profile=prof, p_view=0.25)
    p = {"kernel": [kh, kw], "stride": [sh, sw], "padding": [ph, pw]}
    if op == "avg_pool2d":
        p["count_include_pad"] = rng.random() < 0.5
    z = b.step(op, [x], **p)
    return follow(b, z, 0.3)


# ---------------------------------------------------------------------------
# Invalid programs: the last step is one PyTorch refuses.
# ---------------------------------------------------------------------------

def fam_invalid(b):
    rng = b.rng
    kind = rng.choice(["broadcast", "matmul", "axis", "axis", "dup_axes", "permute", "reshape",
                       "expand", "select", "narrow", "concat", "gather_oob", "index_oob",
                       "ce_label", "empty_max", "conv", "pool", "layer_norm", "stack", "matmul0d",
                       "flatten", "where"])
    if kind in ("broadcast", "where"):
        s = rand_shape(rng, rank=rng.choice([1, 2, 3]), zero=0, sizes=(2, 3, 4, 5))
        o = non_broadcast(rng, s)
        x = b.viewed(s, p_view=0.3)
        y = b.input(o)
        if kind == "where":
            c = b.input(s, profile="ties", grad=False)
            return b.step("where", [c, x, y])
        return b.step(rng.choice(BINARY + COMPARES), [x, y])
    if kind == "matmul":
        m, k, n = rng.randint(1, 4), rng.randint(1, 4), rng.randint(1, 4)
        sa, sb = rng.choice([([m, k], [k + 1, n]), ([k], [k + 2]), ([2, m, k], [3, k, n]),
                             ([m, k], [k + 1])])
        return b.step("matmul", [b.input(sa), b.input(sb)])
    if kind == "matmul0d":
        return b.step("matmul", [b.input([]), b.input([3])] if rng.random() < 0.5 else [b.input([3]), b.input([])])
    if kind == "axis":
        s = rand_shape(rng, rank=rng.choice([1, 2, 3]), zero=0)
        r = len(s)
        x = b.viewed(s, p_view=0.3)
        bad = rng.choice([r, r + 1, -r - 1])
        op = rng.choice(["sum", "mean", "max", "argmax", "argmin", "softmax", "log_softmax",
                         "transpose", "unsqueeze", "select", "narrow", "slice", "gather",
                         "index_select", "concat", "squeeze"])
        if op in ("sum", "mean", "max"):
            return b.step(op, [x], axes=[bad], keepdim=False)
        if op in ("argmax", "argmin"):
            return b.step(op, [x], axis=bad, keepdim=False)
        if op in ("softmax", "log_softmax"):
            return b.step(op, [x], axis=bad)
        if op == "transpose":
            return b.step(op, [x], a=0, b=bad)
        if op == "unsqueeze":
            return b.step(op, [x], axis=rng.choice([r + 1, -r - 2]))
        if op == "select":
            return b.step(op, [x], axis=bad, index=0)
        if op == "narrow":
            return b.step(op, [x], axis=bad, start=0, length=0)
        if op == "slice":
            return b.step(op, [x], axis=bad, start=0, end=1)
        if op == "squeeze":
            return b.step(op, [x], axes=[bad])
        if op == "concat":
            return b.step(op, [x, b.input(s)], axis=bad)
        if op == "gather":
            return b.step(op, [x, b.ints(s, 0, 1)], axis=bad)
        return b.step("index_select", [x, b.ints([1], 0, 1)], axis=bad)
    if kind == "dup_axes":
        s = rand_shape(rng, rank=rng.choice([2, 3]), zero=0)
        x = b.input(s)
        a = rng.randrange(len(s))
        return b.step(rng.choice(["sum", "mean"]), [x], axes=[a, a - len(s)], keepdim=False)
    if kind == "permute":
        s = rand_shape(rng, rank=rng.choice([2, 3]), zero=0)
        x = b.input(s)
        dims = rng.choice([list(range(len(s) - 1)), [0] * len(s), list(range(len(s) + 1))])
        return b.step("permute", [x], dims=dims)
    if kind == "reshape":
        s = rand_shape(rng, rank=rng.choice([1, 2, 3]), zero=0, sizes=(2, 3, 5))
        x = b.viewed(s, p_view=0.3)
        n = numel(s)
        return b.step("reshape", [x], shape=rng.choice([[n + 1], [-1, -1], [n, 2], [-1, n + 1]]))
    if kind == "expand":
        s = rand_shape(rng, rank=rng.choice([1, 2]), zero=0, sizes=(2, 3))
        x = b.input(s)
        t = list(s)
        t[-1] = s[-1] + 1
        return b.step("expand", [x], shape=rng.choice([t, s[1:] if len(s) > 1 else [5]]))
    if kind == "select":
        s = rand_shape(rng, rank=rng.choice([1, 2, 3]), zero=0)
        x = b.viewed(s, p_view=0.3)
        a = rng.randrange(len(s))
        return b.step("select", [x], axis=a, index=rng.choice([s[a], -s[a] - 1]))
    if kind == "narrow":
        s = rand_shape(rng, rank=rng.choice([1, 2, 3]), zero=0)
        x = b.viewed(s, p_view=0.3)
        a = rng.randrange(len(s))
        return b.step("narrow", [x], axis=a, start=rng.randint(0, s[a]), length=s[a] + 1)
    if kind == "concat":
        s = rand_shape(rng, rank=rng.choice([2, 3]), zero=0, sizes=(2, 3, 4))
        o = list(s)
        a = rng.randrange(len(s))
        o[(a + 1) % len(s)] += 1
        if rng.random() < 0.3:
            o = o + [1]
        return b.step("concat", [b.input(s), b.input(o)], axis=a)
    if kind == "stack":
        s = rand_shape(rng, rank=rng.choice([1, 2]), zero=0, sizes=(2, 3))
        o = list(s)
        o[0] += 1
        return b.step("stack", [b.input(s), b.input(o)], axis=0)
    if kind == "flatten":
        s = rand_shape(rng, rank=3, zero=0)
        return b.step("flatten", [b.input(s)], start=2, end=1)
    if kind == "gather_oob":
        s = rand_shape(rng, rank=rng.choice([1, 2]), zero=0, sizes=(2, 3, 4))
        x = b.input(s)
        a = rng.randrange(len(s))
        idx = [0] * numel(s)
        idx[rng.randrange(len(idx))] = rng.choice([s[a], s[a] + 3, -1])
        return b.step("gather", [x, b.input(s, "int32", data=idx)], axis=a)
    if kind == "index_oob":
        s = rand_shape(rng, rank=rng.choice([1, 2]), zero=0, sizes=(2, 3, 4))
        x = b.input(s)
        a = rng.randrange(len(s))
        return b.step("index_select", [x, b.input([2], "int32", data=[0, rng.choice([s[a], -1, 99])])], axis=a)
    if kind == "ce_label":
        n, c = rng.randint(1, 4), rng.randint(2, 4)
        labels = [rng.randrange(c) for _ in range(n)]
        labels[rng.randrange(n)] = rng.choice([c, c + 2, -1])
        return b.step("cross_entropy", [b.input([n, c]), b.input([n], "int32", data=labels)],
                      ignore_index=-100, label_smoothing=0.0, reduction="mean")
    if kind == "empty_max":
        s = rand_shape(rng, rank=2, zero=0, sizes=(2, 3))
        a = rng.randrange(2)
        s[a] = 0
        x = b.input(s)
        op = rng.choice(["max", "min", "argmax", "argmin"])
        if op in ("max", "min"):
            return b.step(op, [x], axes=rng.choice([[a], None]), keepdim=False)
        return b.step(op, [x], axis=a, keepdim=False)
    if kind == "conv":
        sub = rng.choice(["big", "channels", "groups"])
        if sub == "big":
            k = rng.randint(3, 5)
            h = rng.randint(1, k - 2)
            x, w = b.input([1, 2, h, h + 2]), b.input([2, 2, k, k])
            return b.step("conv2d", [x, w], stride=[1, 1], padding=[0, 0], dilation=[1, 1], groups=1)
        if sub == "channels":
            x, w = b.input([1, 3, 4, 4]), b.input([2, 2, 3, 3])
            return b.step("conv2d", [x, w], stride=[1, 1], padding=[0, 0], dilation=[1, 1], groups=1)
        x, w = b.input([1, 3, 4, 4]), b.input([2, 1, 3, 3])
        return b.step("conv2d", [x, w], stride=[1, 1], padding=[0, 0], dilation=[1, 1], groups=2)
    if kind == "pool":
        op = rng.choice(["max_pool2d", "avg_pool2d"])
        sub = rng.choice(["big", "pad"])
        p = {"count_include_pad": True} if op == "avg_pool2d" else {}
        if sub == "big":
            k = rng.randint(3, 5)
            h = rng.randint(1, k - 2)
            return b.step(op, [b.input([1, 1, h, k + 1])], kernel=[k, k], stride=[1, 1], padding=[0, 0], **p)
        k = rng.randint(1, 3)
        return b.step(op, [b.input([1, 1, 5, 5])], kernel=[k, k], stride=[1, 1], padding=[k // 2 + 1, 0], **p)
    if kind == "layer_norm":
        s = [rng.randint(1, 3), rng.choice([2, 3, 4])]
        ns = [s[-1] + 1]
        return b.step("layer_norm", [b.input(s), b.input(ns), b.input(ns)], shape=ns, eps=1e-5)
    raise AssertionError(kind)


FAMILIES = [
    (fam_unary, 15), (fam_binary, 14), (fam_scalar, 8), (fam_clamp, 3), (fam_compare, 7),
    (fam_where, 4), (fam_int, 5), (fam_cast, 2), (fam_reduce, 12), (fam_softmax, 5), (fam_matmul, 7),
    (fam_views, 7), (fam_concat, 4), (fam_index, 4), (fam_loss, 7), (fam_layer_norm, 3),
    (fam_conv, 4), (fam_pool, 4), (fam_invalid, 11),
]


# ---------------------------------------------------------------------------
# Targeted programs for the known bugs (and a few extras).  Each builder gets
# its own Builder; values are still random.
# ---------------------------------------------------------------------------

PERM9 = [3, 2, 0, 5, 8, 4, 7, 1, 6]


def bug1(b, i):
    """GPU: a view of rank 9 whose dims do not coalesce to 8 or fewer."""
    b.meta["gpu_may_refuse"] = True
    b.meta["bug"] = "1: an op the GPU refuses (rank-9 view) breaks the device for later ops"
    x = b.input([2] * 9, profile="ties", grad=i != 0)
    if i == 0:
        y = b.step("permute", [x], dims=PERM9)
        return b.step("contiguous", [y])
    if i == 1:
        y = b.step("permute", [x], dims=PERM9)
        return b.step("exp", [y])
    if i == 2:
        y = b.step("permute", [x], dims=PERM9)
        return b.step("sum", [y], axes=[0], keepdim=False)
    # rank 9 that coalesces: must work everywhere
    y = b.input([2] * 9, profile="ties")
    return b.step("add", [x, y])


def bug2(b, i):
    """BCEWithLogits gradient at logit exactly 0."""
    b.meta["bug"] = "2: BCEWithLogits gradient wrong at logit exactly 0"
    s = [[5], [2, 3], [], [4, 2], [7], [3, 3]][i]
    x = b.input(s, profile="zeros", grad=True, data=[0.0] if i == 2 else None)
    t = b.input(s, profile="unit", grad=i % 2 == 0)
    return b.step("bce_logits", [x, t], reduction=["mean", "sum", "none"][i % 3])


def bug3(b, i):
    """Conv2D/MaxPool2D/AvgPool2D accept a kernel larger than the padded input
    when the overhang is smaller than the stride."""
    b.meta["bug"] = "3: kernel larger than the padded input accepted when the overhang is smaller than the stride"
    if i == 0:
        return b.step("conv2d", [b.input([1, 1, 4, 4]), b.input([1, 1, 5, 5])],
                      stride=[2, 2], padding=[0, 0], dilation=[1, 1], groups=1)
    if i == 1:
        return b.step("conv2d", [b.input([2, 2, 3, 6]), b.input([3, 2, 6, 2])],
                      stride=[3, 1], padding=[1, 0], dilation=[1, 1], groups=1)
    if i == 2:
        return b.step("conv2d", [b.input([1, 2, 4, 5]), b.input([2, 2, 3, 3])],
                      stride=[2, 1], padding=[0, 0], dilation=[2, 1], groups=1)
    if i == 3:
        return b.step("max_pool2d", [b.input([1, 1, 4, 4])], kernel=[5, 5], stride=[2, 2], padding=[0, 0])
    if i == 4:
        return b.step("max_pool2d", [b.input([1, 2, 1, 6])], kernel=[4, 2], stride=[3, 2], padding=[1, 0])
    if i == 5:
        return b.step("avg_pool2d", [b.input([1, 1, 4, 4])], kernel=[5, 5], stride=[2, 2], padding=[0, 0],
                      count_include_pad=True)
    return b.step("avg_pool2d", [b.input([2, 1, 6, 1])], kernel=[2, 4], stride=[2, 3], padding=[0, 1],
                  count_include_pad=False)


def bug4(b, i):
    """Backward of a batched matmul whose inner dimension is 0."""
    b.meta["bug"] = "4: backward fails when a batched matmul's inner dimension is 0"
    sa, sb = [([2, 3, 0], [0, 4]), ([2, 3, 0], [0]), ([2, 1, 4, 0], [0, 2]),
              ([2, 3, 0], [2, 0, 4]), ([3, 0], [2, 0, 5]), ([2, 1, 4, 0], [3, 0, 2]),
              ([0], [2, 0, 3]), ([3, 0], [0, 2])][i]
    x = b.input(sa, grad=True)
    y = b.input(sb, grad=i != 2)
    z = b.step("matmul", [x, y])
    if i == 7:
        z = b.step("add_s", [z], s=1.0)
    return z


def bug5(b, i):
    """CrossEntropy/NLL: NaN logits in an ignored row make the loss NaN."""
    b.meta["bug"] = "5: NaN logits in an ignored row (label -100) make the loss NaN"
    rng = b.rng
    n, c = 4, 3
    op = "nll_loss" if i in (3, 7) else "cross_entropy"
    extra = [2] if i in (4, 7) else []
    rows = n * numel(extra)
    labels = [rng.randrange(c) for _ in range(rows)]
    ignored = [1, 3] if rows >= 4 else [1]
    for j in ignored:
        labels[j] = -100
    logits = [rng.gauss(0, 1) for _ in range(n * c * numel(extra))]
    bad = [NAN, INF, -INF][i % 3] if i < 6 else NAN
    # the ignored rows (for [N, C, d] the ignored positions) get non-finite logits
    for j in ignored:
        for cc in range(c):
            v = bad if cc != 1 else rng.choice([bad, 0.5])
            if extra:
                nn_, dd = divmod(j, extra[0])
                logits[(nn_ * c + cc) * extra[0] + dd] = v
            else:
                logits[j * c + cc] = v
    x = b.input([n, c] + extra, data=logits, grad=True)
    y = b.input([n] + extra, "int32", data=labels)
    red = ["mean", "sum", "none", "mean", "mean", "sum", "mean", "mean"][i]
    p = {"ignore_index": -100, "reduction": red}
    if op == "cross_entropy":
        p["label_smoothing"] = [0.0, 0.1, 0.0, 0.0, 0.25, 0.0, 0.1, 0.0][i]
    return b.step(op, [x, y], **p)


def bug6(b, i):
    """GPU comparisons (and min/max) with NaN."""
    b.meta["bug"] = "6: GPU Ne/NeScalar (and other comparisons, min/max) with NaN"
    rng = b.rng
    vals = [NAN, 1.0, NAN, -INF, 0.0, NAN, 2.0, INF, NAN, -1.0, 0.5, NAN]
    x = b.input([12], data=vals, grad=False)
    ops = COMPARES + ["maximum", "minimum"]
    if i < len(ops):
        y = b.input([12], data=[rng.choice([NAN, 1.0, 0.0, -INF, INF, 2.0]) for _ in range(12)], grad=False)
        return b.step(ops[i], [x, y])
    j = i - len(ops)
    # scalar comparisons: NaN scalar, then an ordinary scalar against NaN elements
    if j < 2 * len(COMPARES):
        return b.step(COMPARES[j % 6] + "_s", [x], s=NAN if j < 6 else 1.0)
    j -= 2 * len(COMPARES)
    # a NaN bound of clamp is no defined case (see forward_ambiguity): NaN elements instead
    tail = [
        lambda: b.step("max_s", [x], s=0.5),
        lambda: b.step("min_s", [x], s=0.5),
        lambda: b.step("max", [b.input([3, 4], data=vals, grad=False)], axes=[1], keepdim=False),
        lambda: b.step("min", [b.input([3, 4], data=vals, grad=False)], axes=None, keepdim=False),
        lambda: b.step("argmax", [b.input([3, 4], data=vals, grad=False)], axis=1, keepdim=False),
        lambda: b.step("argmin", [b.input([4, 3], data=vals, grad=False)], axis=0, keepdim=True),
        lambda: b.step("clamp", [x], lo=-0.5, hi=0.5),
        lambda: b.step("relu", [x]),
        lambda: b.step("where", [b.step("ne", [x, x]), b.input([12]), b.input([1])]),
    ]
    assert BUG6_N == len(ops) + 2 * len(COMPARES) + len(tail)
    return tail[j]()


BUG6_N = 8 + 12 + 9


def bug7(b, i):
    """Pow gradient w.r.t. the base at (0, 0)."""
    b.meta["bug"] = "7: Pow gradient w.r.t. the base at (0, 0) is NaN (PyTorch 0)"
    rng = b.rng
    n = 6
    base = [0.0, 0.0, 0.0, 2.0, 0.0, 1.5]
    expo = [0.0, 0.0, 2.0, 0.0, 0.5, 3.0]
    if i == 1:
        base = [0.0, -0.0, 0.0, 0.0, 3.0, 0.0]
    if i == 2:
        expo = [0.0] * n
    x = b.input([n], data=base, grad=True)
    if i == 3:
        y = b.input([1], data=[0.0], grad=True)
    elif i == 4:
        y = b.input([2, 1], data=[0.0, 1.0], grad=False)
    else:
        y = b.input([n], data=expo, grad=i != 5)
    return b.step("pow", [x, y])


def bug8(b, i):
    """Error messages: refused calls whose message should name the op."""
    b.meta["bug"] = "8: error messages (the refusal should name the op)"
    x = b.input([2, 3])
    cases = [
        lambda: b.step("slice", [x], axis=2, start=0, end=1),
        lambda: b.step("select", [x], axis=-3, index=0),
        lambda: b.step("gather", [x, b.ints([2, 3], 0, 2)], axis=2),
        lambda: b.step("index_select", [x, b.ints([2], 0, 2)], axis=5),
        lambda: b.step("stack", [x, b.input([3, 2])], axis=0),
        lambda: b.step("cross_entropy", [x, b.ints([3], 0, 2)], ignore_index=-100, label_smoothing=0.0, reduction="mean"),
        lambda: b.step("layer_norm", [x, b.input([2]), b.input([2])], shape=[2], eps=1e-5),
        lambda: b.step("narrow", [x], axis=1, start=2, length=2),
        lambda: b.step("softmax", [x], axis=2),
        lambda: b.step("max_pool2d", [b.input([1, 1, 4, 4])], kernel=[2, 2], stride=[1, 1], padding=[2, 0]),
    ]
    return cases[i]()


def extra(b, i):
    """Cases found by the random programs that are not in the list of known
    bugs, pinned down: 0-d tensors with axis 0 or -1 (which PyTorch accepts, a
    scalar having one axis for dim wrapping), the derivative of tanh where it
    saturates, pow of -inf and -0, and a zero derivative meeting an infinite
    gradient."""
    if i == 6:
        # 1 - tanh(x) is below 1e-17 for these; times 1e6 it is still ~0
        b.meta["note"] = "tanh saturates to exactly +-1 for |x| >= 20 in float32"
        x = b.input([16], data=[20.0, -20.0, 25.0, 30.0, -30.0, 50.0, 100.0, 1e4,
                                INF, -INF, 40.0, 60.0, -100.0, 35.0, 45.0, 80.0], grad=True)
        y = b.step("tanh", [x])
        y = b.step("rsub_s", [y], s=1.0)
        return b.step("mul_s", [y], s=1e6)
    if i == 7:
        b.meta["note"] = "IEEE pow: (-inf)^y and (-0)^y for odd, even and non-integer y"
        base = [-INF, -INF, -INF, -INF, -INF, -0.0, -0.0, -0.0, -0.0, -0.0, -0.0, INF]
        expo = [0.5, -0.5, 3.0, -3.0, 2.0, -1.0, -3.0, 1.0, 0.5, -0.5, -2.0, -0.5]
        return b.step("pow", [b.input([12], data=base, grad=False), b.input([12], data=expo, grad=False)])
    if i == 8:
        b.meta["note"] = "relu' = 0 for x < 0 even where the incoming gradient is infinite (PyTorch masks with where)"
        x = b.input([6], data=[1.0, -1.0, 0.0, 2.0, -3.0, 0.5], grad=True)
        return b.step("log", [b.step("relu", [x])])
    if i == 9:
        b.meta["note"] = "clamp' = 0 outside [lo, hi] even where the incoming gradient is infinite"
        x = b.input([6], data=[1.0, -1.0, 0.0, 2.0, -3.0, 0.5], grad=True)
        return b.step("reciprocal", [b.step("clamp", [x], lo=0.0, hi=1.0)])
    b.meta["note"] = "PyTorch lets axis 0 and -1 name the only 'axis' of a 0-d tensor"
    x = b.input([], profile="normal")
    return [
        lambda: b.step("sum", [x], axes=[0], keepdim=False),
        lambda: b.step("argmax", [x], axis=0, keepdim=False),
        lambda: b.step("softmax", [x], axis=-1),
        lambda: b.step("max", [x], axes=[-1], keepdim=True),
        lambda: b.step("unsqueeze", [x], axis=-1),
        lambda: b.step("transpose", [x], a=0, b=-1),
    ][i]()


TARGETED = [("bug1", bug1, 4), ("bug2", bug2, 6), ("bug3", bug3, 7), ("bug4", bug4, 8),
            ("bug5", bug5, 8), ("bug6", bug6, BUG6_N), ("bug7", bug7, 6), ("bug8", bug8, 10),
            ("extra", extra, 10)]


# ---------------------------------------------------------------------------
# Evaluation: float64 reference, float32 check, gradients.
# ---------------------------------------------------------------------------

class Redraw(Exception):
    pass


def run(inputs, steps, dtype):
    """Runs the program in dtype; returns (values, leaves, error) where error
    is (step, message) or None."""
    torch.set_default_dtype(dtype)
    try:
        vals, leaves = [], []
        for spec in inputs:
            if spec["dtype"] == "int32":
                t = torch.tensor(spec["data"], dtype=torch.int64).reshape(spec["shape"])
            else:
                t = torch.tensor(spec["data"], dtype=torch.float32).reshape(spec["shape"]).to(dtype)
                t.requires_grad_(spec["grad"])
            vals.append(t)
            leaves.append(t)
        for k, s in enumerate(steps):
            try:
                vals.append(TORCH_OPS[s["op"]](s["p"], *[vals[a] for a in s["args"]]))
            except (RuntimeError, IndexError, ValueError, TypeError) as e:
                return vals, leaves, (k, str(e).split("\n")[0][:200])
        return vals, leaves, None
    finally:
        torch.set_default_dtype(torch.float32)


def close(got, ref, tol):
    """Elementwise: NaN matches NaN, infinities match exactly."""
    a, r = tol
    got, ref = got.double(), ref.double()
    both_nan = torch.isnan(got) & torch.isnan(ref)
    inf = torch.isinf(got) | torch.isinf(ref)
    ok = (got - ref).abs() <= a + r * ref.abs()
    ok = torch.where(inf, got == ref, ok)
    return bool((both_nan | (ok & ~torch.isnan(got) & ~torch.isnan(ref))).all())


def out_dtype(t):
    if t.dtype == torch.bool:
        return "bool"
    if t.dtype.is_floating_point:
        return "float32"
    assert t.dtype == torch.int64, t.dtype
    return "int32"


def round32(t):
    return t.detach().to(torch.float64).to(torch.float32).reshape(-1).tolist()


def evaluate(b, name, group, intent):
    inputs, steps = b.program()
    case = {"name": name, "group": group, "inputs": inputs, "steps": steps}
    v64, leaves64, err64 = run(inputs, steps, torch.float64)
    v32, leaves32, err32 = run(inputs, steps, torch.float32)
    if (err64 is None) != (err32 is None):
        raise Redraw("refused in one precision only: %s %s" % (err64, err32))
    if err64 is not None:
        if intent == "value":
            raise AssertionError("%s: PyTorch refused a program meant to be valid: %s %s" % (name, steps, err64))
        if err64[0] != len(steps) - 1:
            raise AssertionError("%s: refused at step %d, not the last" % (name, err64[0]))
        case["expect"] = "error"
        case["error_step"] = err64[0]
        case["torch_error"] = err64[1]
        return case
    if intent == "error":
        raise AssertionError("%s: PyTorch accepted a program meant to be invalid: %s" % (name, steps))
    n_in = len(inputs)
    # forward ambiguity and gradient conventions, judged on float64 values
    no_grad = None
    for k, s in enumerate(steps):
        args = [v64[a].detach() for a in s["args"]]
        why = forward_ambiguity(s["op"], s["p"], args)
        if why:
            raise Redraw(why)
        why = grad_ambiguity(s["op"], s["p"], args)
        if why and no_grad is None:
            no_grad = why
    out64, out32 = v64[-1], v32[-1]
    dt = out_dtype(out64)
    if dt != out_dtype(out32):
        raise AssertionError("dtype differs between precisions")
    if dt == "int32" and out64.numel() and (out64.abs().max() > 2 ** 31 - 1):
        raise Redraw("int overflow")
    tol = prog_tol(steps, False)
    if dt != "float32":
        if not torch.equal(out64.to(torch.float64), out32.to(torch.float64)):
            raise Redraw("integer/bool result differs between precisions")
    elif not close(out32.detach(), out64.detach().float(), (tol[0] / 2, tol[1] / 2)):
        raise Redraw("float32 result not within half the tolerance of the float64 reference")
    case["expect"] = "value"
    case["output"] = {"shape": list(out64.shape), "dtype": dt,
                      "data": round32(out64) if dt == "float32" else [int(v) for v in out64.reshape(-1).tolist()]}
    if dt != "float32" or not out64.requires_grad:
        return case
    if no_grad:
        case["no_grad"] = no_grad
        return case
    g = torch.tensor(fill(b.rng, out64.numel(), "normal"), dtype=torch.float32).reshape(out64.shape)
    inter = [k for k in range(len(steps)) if v64[n_in + k].requires_grad]
    ups = torch.autograd.grad(out64, [v64[n_in + k] for k in inter], g.double(), allow_unused=True,
                              retain_graph=True)
    upstream = [None] * len(steps)
    for k, u in zip(inter, ups):
        upstream[k] = u
    why = formula_ambiguity(steps, [v.detach() for v in v64], upstream, n_in)
    if why:
        case["no_grad"] = why
        return case
    want = [t for t in leaves64 if t.requires_grad]
    want32 = [t for t in leaves32 if t.requires_grad]
    gs64 = torch.autograd.grad(out64, want, g.double(), allow_unused=True)
    gs32 = torch.autograd.grad(out32, want32, g, allow_unused=True)
    gtol = prog_tol(steps, True)
    grads = []
    it64, it32 = iter(gs64), iter(gs32)
    for spec, t in zip(inputs, leaves64):
        if not t.requires_grad:
            grads.append(None)
            continue
        a, c = next(it64), next(it32)
        if a is None:
            if c is not None:
                raise AssertionError("grad used in one precision only")
            grads.append(None)
            continue
        if not close(c, a.float(), (gtol[0] / 2, gtol[1] / 2)):
            raise Redraw("float32 gradient not within half the tolerance")
        grads.append({"shape": list(a.shape), "data": round32(a)})
    assert len(grads) == n_in
    case["grad_output"] = {"shape": list(g.shape), "data": round32(g)}
    case["grads"] = grads
    return case


def chain_name(steps):
    return ">".join(s["op"] for s in steps) or "input"


def build_random(seed, index):
    for attempt in range(200):
        rng = random.Random("wgtensor-conformance/%d/%d/%d" % (seed, index, attempt))
        fam = rng.choices([f for f, _ in FAMILIES], [w for _, w in FAMILIES])[0]
        b = Builder(rng)
        fam(b)
        if not b.steps:
            continue
        intent = "error" if fam is fam_invalid else "value"
        if intent == "value" and b.error is not None:
            raise AssertionError("seed %d index %d: %s refused: %s %s" % (seed, index, fam.__name__, b.steps, b.error))
        name = "s%d/%04d/%s%s" % (seed, index, "invalid:" if intent == "error" else "", chain_name(b.steps))
        try:
            case = evaluate(b, name, "s%d" % seed, intent)
        except Redraw:
            STATS["redrawn"] = STATS.get("redrawn", 0) + 1
            continue
        case.update({k: v for k, v in b.meta.items()})
        return case
    raise AssertionError("no program for seed %d index %d" % (seed, index))


def build_targeted(group, fn, i):
    for attempt in range(50):
        rng = random.Random("wgtensor-conformance/%s/%d/%d" % (group, i, attempt))
        b = Builder(rng)
        fn(b, i)
        intent = "error" if b.error is not None else "value"
        name = "%s/%04d/%s%s" % (group, i, "invalid:" if intent == "error" else "", chain_name(b.steps))
        try:
            case = evaluate(b, name, group, intent)
        except Redraw as e:
            STATS["redrawn"] = STATS.get("redrawn", 0) + 1
            last = e
            continue
        case.update({k: v for k, v in b.meta.items()})
        return case
    raise AssertionError("%s/%d: %s" % (group, i, last))


STATS = {}


# ---------------------------------------------------------------------------
# Writing.
# ---------------------------------------------------------------------------

def encode(obj, key=None):
    if obj is None or isinstance(obj, (bool, str)):
        return json.dumps(obj)
    if isinstance(obj, int):
        return str(obj)
    if isinstance(obj, float):
        return f32_str(f32(obj))
    if isinstance(obj, (list, tuple)):
        return "[" + ",".join(encode(v) for v in obj) + "]"
    if isinstance(obj, dict):
        return "{" + ",".join(json.dumps(k) + ":" + encode(v, k) for k, v in obj.items()) + "}"
    raise TypeError(type(obj))


def write(cases):
    head = '{"generator":"gen_programs.py","torch":%s,\n"cases":[\n' % json.dumps(torch.__version__)
    body = ",\n".join(encode(c) for c in cases)
    with open(OUT_PATH, "w", newline="\n") as f:
        f.write(head + body + "\n]}\n")


def main():
    cases = []
    for group, fn, n in TARGETED:
        for i in range(n):
            cases.append(build_targeted(group, fn, i))
    for seed in SEEDS:
        for i in range(PER_SEED):
            cases.append(build_random(seed, i))
    names = [c["name"] for c in cases]
    assert len(set(names)) == len(names), "duplicate names"
    write(cases)
    size = os.path.getsize(OUT_PATH)
    ops = {}
    for c in cases:
        for s in c["steps"]:
            ops[s["op"]] = ops.get(s["op"], 0) + 1
    n_err = sum(c["expect"] == "error" for c in cases)
    n_grad = sum("grads" in c for c in cases)
    print("torch %s: %d cases (%d invalid, %d with gradients), %d redrawn, %d bytes"
          % (torch.__version__, len(cases), n_err, n_grad, STATS.get("redrawn", 0), size))
    print("steps per op: " + ", ".join("%s %d" % kv for kv in sorted(ops.items())))
    missing = sorted(set(TORCH_OPS) - set(ops))
    if missing:
        print("ops without a program: %s" % missing)
    # the file must parse back with the documented encoding
    with open(OUT_PATH) as f:
        json.load(f, parse_constant=lambda c: (_ for _ in ()).throw(ValueError(c)))


if __name__ == "__main__":
    if sys.argv[1:]:
        sys.exit("usage: gen_programs.py (no arguments)")
    main()
