#!/usr/bin/python3
"""Generate PyTorch reference vectors for the wgtensor nn package tests.

What it writes
--------------
nn/testdata/nn_reference.json (next to this script).  The Go tests read that
file; they never run Python.  Layout:

  {"generator": "gen_nn_reference.py", "torch": "<torch.__version__>",
   "layers": [
     {"name": "<layer>/<variant>",          unique; first part == "layer"
      "layer": "<layer>", "config": {...},  see define_layers()
      "mode": "train" | "eval",
      "state": {"<state_dict name>": {"shape", "dtype": "float32"|"int64",
                                       "data"}, ...},
                     the module's full state_dict before the forward pass
      "inputs": [{"shape", "dtype": "float32"|"int32", "data", "grad"}, ...],
      "outputs": [{"shape", "data"}, ...],        every output of forward
      "grad_outputs": [{"shape", "data"} | null, ...],
      "input_grads": [{"shape", "data"} | null, ...],
      "param_grads": {"<param name>": {"shape", "data"}, ...},
      "state_after": {"<buffer name>": {"shape", "dtype", "data"}, ...}}, ...],
   "losses": [
     {"name", "loss", "config",
      "inputs": [prediction (grad true), target (grad false)],
      "output": {"shape", "data"}, "grad_output": {"shape", "data"},
      "input_grads": [{"shape", "data"} | null, ...]}, ...],
   "optimizers": [
     {"name", "optimizer", "config",
      "params": {"w": {...}, "b": {...}},          initial values
      "data": {"x": {...}, "y": {...}},
      "steps": [{"loss": float, "params": {"w", "b"}} x 10]}, ...],
   "schedulers": [
     {"name", "scheduler", "config", "base_lr": float,
      "lrs": [lr used at step 0..9]}, ...],
   "clip": [
     {"name", "max_norm": float, "grads": {"a", "b"}, "total_norm": float,
      "clipped": {"a", "b"}}, ...]}

  * 0-dim tensors have "shape": [] and one element in "data".
  * grad_outputs[i] is a standard normal upstream gradient with the shape of
    outputs[i], or null when that output is not differentiated (only
    multihead_attention's attention weights).  input_grads and param_grads
    are the gradients of sum_i(sum(outputs[i] * grad_outputs[i])).
    input_grads[i] is null for inputs with "grad": false.
  * Loss grad_output is exactly 1.0 (shape []) for "mean"/"sum" reductions
    and standard normal with the output's shape for "none".
  * Tensor data and the optimizer losses / clip norms are float32 values,
    written as the shortest decimal string that parses back to the same
    float32 (Go: strconv.ParseFloat(s, 32) is exact).  Integer data (int32
    inputs, the int64 num_batches_tracked) is written as JSON integers.
  * "config" values, "base_lr" and the scheduler "lrs" are float64
    hyperparameters written with Python's shortest float64 repr (0.1, 1e-05);
    parse them as float64.

Conventions (what the Go side must match)
-----------------------------------------
Everything is batch_first (RNN/LSTM/GRU/MultiheadAttention/
TransformerEncoderLayer are built with batch_first=True).

state_dict names (exact PyTorch names):
  linear, conv2d, embedding: weight, bias (linear weight [out, in], conv2d
    weight [out, in/groups, kh, kw], embedding weight [num, dim])
  batchnorm1d/2d: weight, bias, running_mean, running_var,
    num_batches_tracked (int64 scalar, shape [])
  layernorm: weight, bias (shape = normalized shape)
  rnn, gru, lstm: weight_ih_l{k} [G*hidden, in_k], weight_hh_l{k}
    [G*hidden, hidden], bias_ih_l{k}, bias_hh_l{k} [G*hidden]; G = 1 (rnn),
    3 (gru: gate rows r, z, n), 4 (lstm: gate rows i, f, g, o).
    gru: n = tanh(W_in x + b_in + r * (W_hn h + b_hn)),
         h' = (1 - z) * n + z * h.
    lstm: c' = f*c + i*g, h' = o*tanh(c') (i, f, o sigmoid; g tanh).
  multihead_attention: in_proj_weight [3E, E] (rows q, k, v), in_proj_bias
    [3E], out_proj.weight [E, E], out_proj.bias [E].  Scores are scaled by
    1/sqrt(E/heads).
  transformer_encoder_layer: self_attn.{in_proj_weight, in_proj_bias,
    out_proj.weight, out_proj.bias}, linear1.{weight,bias} [ff, d],
    linear2.{weight,bias} [d, ff], norm1.{weight,bias}, norm2.{weight,bias}.
    norm_first=false: x = norm1(x + sa(x)); x = norm2(x + ff(x)).
    norm_first=true:  x = x + sa(norm1(x)); x = x + ff(norm2(x)).

Outputs:
  rnn, gru: (out [N, T, H], h_n [layers, N, H]); inputs (x, h0).
  lstm: (out, h_n, c_n); inputs (x, h0, c0).
  multihead_attention: self-attention query = key = value = x;
    (attn_output [N, L, E], attn_weights [N, L, L] averaged over heads);
    the weights are not differentiated (grad_output null).
  everything else: one output.

Masks: "mask" in the multihead_attention and transformer_encoder_layer
  configs says which mask is used.  "causal": bool attn_mask / src_mask
  torch.triu(ones(L, L), diagonal=1).bool(), True = NOT allowed to attend
  (query i sees keys j <= i).  "padding": key_padding_mask, passed as an extra
  int32 input [N, L] with 1 = masked key (True in PyTorch); masked keys get
  weight exactly 0.

BatchNorm (train): normalises with the biased batch variance; updates
  running_mean = (1 - momentum) * running_mean + momentum * batch_mean and
  running_var with the UNBIASED batch variance (n / (n - 1)), and
  num_batches_tracked += 1.  Eval uses running stats.  Every batchnorm case
  starts from random running stats and num_batches_tracked = 3.
  batchnorm1d on [N, C, L] reduces over N and L.

Activations: gelu is the exact (erf) form.  dropout is tested in eval mode
  only (identity).

Losses: cross_entropy config {"reduction", "ignore_index", "label_smoothing"}:
  targets are class indices (int32); logits [N, C] or [N, C, L] with labels
  [N] or [N, L].  Ignored targets contribute 0 and "mean" divides by the
  number of non-ignored targets.  With label_smoothing s:
  loss = (1 - s) * nll + s * mean_c(-log_softmax).  nll_loss takes
  log-probabilities.  bce clamps each log term at >= -100.

Optimizers (problem: loss = mse_loss(x @ w + b, y), mean): each step is
  zero_grad, loss, backward, step; "loss" is the loss before the step and
  "params" the values after it.  Configs omit PyTorch defaults (sgd:
  momentum 0, dampening 0, nesterov false, weight_decay 0; adam: amsgrad
  false).  Semantics (torch 1.13, checked below against a hand-written
  reference):
  sgd: g += wd*p; buf = g on the first step, then buf = m*buf + (1-d)*g;
       g = g + m*buf if nesterov else buf; p -= lr*g.
  adam: g += wd*p; m1 = b1*m1 + (1-b1)*g; m2 = b2*m2 + (1-b2)*g^2;
       (amsgrad: m2max = max(m2max, m2), used instead of m2);
       p -= lr/(1-b1^t) * m1 / (sqrt(m2)/sqrt(1-b2^t) + eps).
  adamw: p *= 1 - lr*wd first, then adam without weight decay.
  rmsprop: g += wd*p; v = a*v + (1-a)*g^2; centered: ga = a*ga + (1-a)*g,
       avg = sqrt(v - ga^2) + eps, else avg = sqrt(v) + eps;
       momentum > 0: buf = m*buf + g/avg, p -= lr*buf; else p -= lr*g/avg.
  adagrad: clr = lr / (1 + (t-1)*lr_decay); s += g^2 (s starts at
       initial_accumulator_value); p -= clr * g / (sqrt(s) + eps).

Schedulers (SGD lr 0.1; lrs[k] = optimizer.param_groups[0]["lr"] after k
  calls of scheduler.step(), which follow optimizer.step()):
  steplr: lr = base * gamma^(k // step_size)
  cosine (CosineAnnealingLR, T_max = t_max):
       lr = eta_min + (base - eta_min) * (1 + cos(pi * k / t_max)) / 2
  linear_warmup (LinearLR): lr = base * (start + (end - start) *
       min(k, total_iters) / total_iters); so lrs[0] = base * start_factor
       already (the constructor applies it) and lrs[total_iters] = base*end.

Clip (clip_grad_norm_, norm type 2): total = sqrt(sum of squares of all
  grads); every grad is multiplied by min(1, max_norm / (total + 1e-6)).

How the references are computed
-------------------------------
Each case draws its inputs (and parameter overrides) as float32 tensors from
its own generator seeded with crc32(case name); module default
initialisation runs under torch.manual_seed(crc32(case name)).  Parameters
that PyTorch initialises to constants (norm weights 1, biases 0) are replaced
by random values so that they are tested.  The module is then converted with
.double() and forward/backward run in float64 on the float32 values;
results are rounded to float32 when written.

How to run
----------
From the repository root:

    /usr/bin/python3 nn/testdata/gen_nn_reference.py

(/usr/bin/python3 is Debian's python with python3-torch.)  The output is
deterministic: running it twice gives byte-identical files.  After writing,
the script re-reads the JSON and checks it (float32 PyTorch recomputation,
exact float64 recomputation from the stored float32 values, shapes, state
names via load_state_dict(strict=True), finite values, and the optimizer /
scheduler / clip formulas above); pass --check to only check the existing
file.
"""

import copy
import json
import math
import os
import struct
import sys
import zlib

import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
OUT_PATH = os.path.join(HERE, "nn_reference.json")

torch.set_num_threads(1)
torch.use_deterministic_algorithms(True)

STEPS = 10


# ---------------------------------------------------------------------------
# Float formatting (same conventions as autograd/testdata/gen_reference.py).
# ---------------------------------------------------------------------------

class F32Data:
    def __init__(self, t):
        self.values = t.detach().to(torch.float32).contiguous().reshape(-1).tolist()


class IntData:
    def __init__(self, t):
        self.values = [int(v) for v in t.detach().contiguous().reshape(-1).tolist()]


class F64:
    """A float64 hyperparameter, written with Python's shortest repr."""
    def __init__(self, v):
        self.v = float(v)


class Raw:
    """A config dict: plain JSON, floats as float64 repr."""
    def __init__(self, obj):
        self.obj = obj


def f32(v):
    return struct.unpack("<f", struct.pack("<f", float(v)))[0]


def f32_str(v):
    if not math.isfinite(v):
        raise ValueError("non-finite value %r" % v)
    packed = struct.pack("<f", v)
    for p in range(1, 10):
        s = "%.*g" % (p, v)
        if struct.pack("<f", float(s)) == packed:
            return s
    raise AssertionError(v)


def encode(obj):
    if isinstance(obj, F32Data):
        return "[" + ",".join(f32_str(v) for v in obj.values) + "]"
    if isinstance(obj, IntData):
        return "[" + ",".join(str(v) for v in obj.values) + "]"
    if isinstance(obj, F64):
        assert math.isfinite(obj.v)
        return repr(obj.v)
    if isinstance(obj, Raw):
        return json.dumps(obj.obj, separators=(",", ":"), allow_nan=False)
    if obj is None or isinstance(obj, (bool, str)):
        return json.dumps(obj)
    if isinstance(obj, int):
        return str(obj)
    if isinstance(obj, float):
        assert f32(obj) == obj, obj
        return f32_str(obj)
    if isinstance(obj, (list, tuple)):
        return "[" + ",".join(encode(v) for v in obj) + "]"
    if isinstance(obj, dict):
        return "{" + ",".join(json.dumps(k) + ":" + encode(v) for k, v in obj.items()) + "}"
    raise TypeError(type(obj))


def spec(t):
    """{"shape", "data"} of a float tensor, rounded to float32."""
    return {"shape": list(t.shape), "data": F32Data(t)}


def state_spec(t):
    if t.dtype == torch.int64:
        return {"shape": list(t.shape), "dtype": "int64", "data": IntData(t)}
    assert t.dtype in (torch.float32, torch.float64), t.dtype
    return {"shape": list(t.shape), "dtype": "float32", "data": F32Data(t)}


def input_spec(t, grad):
    if t.dtype == torch.int32:
        assert not grad
        return {"shape": list(t.shape), "dtype": "int32", "data": IntData(t), "grad": False}
    assert t.dtype == torch.float32
    return {"shape": list(t.shape), "dtype": "float32", "data": F32Data(t), "grad": grad}


# ---------------------------------------------------------------------------
# Random helpers (all draw from the current case's generator).
# ---------------------------------------------------------------------------

class Gen:
    def __init__(self, seed):
        self.g = torch.Generator().manual_seed(seed)

    def randn(self, *shape, scale=1.0):
        return torch.randn(shape, generator=self.g, dtype=torch.float32) * scale

    def uniform(self, lo, hi, *shape):
        return torch.rand(shape, generator=self.g, dtype=torch.float32) * (hi - lo) + lo

    def away(self, lo, hi, *shape):
        sign = torch.where(torch.rand(shape, generator=self.g) < 0.5, -1.0, 1.0)
        return sign * self.uniform(lo, hi, *shape)

    def index(self, lo, hi, *shape):
        return torch.randint(lo, hi, shape, generator=self.g).to(torch.int32)


def seed_of(name):
    return zlib.crc32(name.encode())


# ---------------------------------------------------------------------------
# Layers: config -> module, forward.
# ---------------------------------------------------------------------------

def make_module(layer, c):
    if layer == "linear":
        return nn.Linear(c["in"], c["out"], bias=c["bias"])
    if layer == "conv2d":
        return nn.Conv2d(c["in"], c["out"], tuple(c["kernel"]), stride=tuple(c["stride"]),
                         padding=tuple(c["padding"]), dilation=tuple(c["dilation"]),
                         groups=c["groups"], bias=c["bias"])
    if layer == "maxpool2d":
        return nn.MaxPool2d(tuple(c["kernel"]), tuple(c["stride"]), tuple(c["padding"]))
    if layer == "avgpool2d":
        return nn.AvgPool2d(tuple(c["kernel"]), tuple(c["stride"]), tuple(c["padding"]),
                            count_include_pad=c["count_include_pad"])
    if layer == "flatten":
        return nn.Flatten(c["start"], c["end"])
    if layer == "dropout":
        return nn.Dropout(c["p"])
    if layer in ("batchnorm1d", "batchnorm2d"):
        cls = nn.BatchNorm1d if layer == "batchnorm1d" else nn.BatchNorm2d
        return cls(c["features"], eps=c["eps"], momentum=c["momentum"], affine=c["affine"],
                   track_running_stats=c["track_running_stats"])
    if layer == "layernorm":
        return nn.LayerNorm(c["shape"], eps=c["eps"], elementwise_affine=c["affine"])
    if layer == "embedding":
        return nn.Embedding(c["num"], c["dim"])
    if layer == "rnn":
        return nn.RNN(c["input"], c["hidden"], c["layers"], nonlinearity=c["nonlinearity"],
                      bias=c["bias"], batch_first=True)
    if layer == "lstm":
        return nn.LSTM(c["input"], c["hidden"], c["layers"], bias=c["bias"], batch_first=True)
    if layer == "gru":
        return nn.GRU(c["input"], c["hidden"], c["layers"], bias=c["bias"], batch_first=True)
    if layer == "multihead_attention":
        return nn.MultiheadAttention(c["embed"], c["heads"], bias=c["bias"], batch_first=True)
    if layer == "transformer_encoder_layer":
        return nn.TransformerEncoderLayer(
            c["d_model"], c["nhead"], dim_feedforward=c["dim_feedforward"],
            dropout=c["dropout"], activation=c["activation"],
            layer_norm_eps=c["layer_norm_eps"], batch_first=True, norm_first=c["norm_first"])
    if layer == "relu":
        return nn.ReLU()
    if layer == "sigmoid":
        return nn.Sigmoid()
    if layer == "tanh":
        return nn.Tanh()
    if layer == "gelu":
        return nn.GELU()
    if layer == "softmax":
        return nn.Softmax(dim=c["axis"])
    if layer == "log_softmax":
        return nn.LogSoftmax(dim=c["axis"])
    raise KeyError(layer)


def causal_mask(L):
    return torch.triu(torch.ones(L, L), diagonal=1).bool()


def forward(layer, c, m, ins):
    """ins: float tensors (float32/float64) and int64 tensors. Returns
    (outputs tuple, differentiated flags)."""
    if layer in ("rnn", "gru"):
        out, h = m(ins[0], ins[1])
        return (out, h), (True, True)
    if layer == "lstm":
        out, (h, cc) = m(ins[0], (ins[1], ins[2]))
        return (out, h, cc), (True, True, True)
    if layer == "multihead_attention":
        x = ins[0]
        attn_mask = kpm = None
        if c["mask"] == "causal":
            attn_mask = causal_mask(x.shape[1])
        elif c["mask"] == "padding":
            kpm = ins[1] != 0
        else:
            assert c["mask"] == "none"
        out, w = m(x, x, x, key_padding_mask=kpm, need_weights=True, attn_mask=attn_mask,
                   average_attn_weights=True)
        return (out, w), (True, False)
    if layer == "transformer_encoder_layer":
        x = ins[0]
        mask = causal_mask(x.shape[1]) if c["mask"] == "causal" else None
        assert c["mask"] in ("none", "causal")
        return (m(x, src_mask=mask),), (True,)
    assert len(ins) == 1
    return (m(ins[0]),), (True,)


def run_layer(layer, c, mode, state, inputs, dtype, grad_outputs=None, gen=None):
    """inputs: list of (tensor float32|int32, grad). state: float32 state dict.
    Returns (module, outputs, flags, grad_outputs, input_grads, param_grads)."""
    m = make_module(layer, c)
    m.load_state_dict(state, strict=True)
    m = m.to(dtype)
    m.train(mode == "train")
    ts = []
    for t, grad in inputs:
        if t.dtype == torch.int32:
            ts.append(t.to(torch.int64))
        else:
            ts.append(t.to(dtype).detach().requires_grad_(grad))
    outs, flags = forward(layer, c, m, ts)
    if grad_outputs is None:
        grad_outputs = [gen.randn(*o.shape) if f else None for o, f in zip(outs, flags)]
    total = sum((o * g.to(dtype)).sum() for o, g, f in zip(outs, grad_outputs, flags) if f)
    params = list(m.named_parameters())
    wanted = [t for t in ts if t.requires_grad] + [p for _, p in params]
    gs = list(torch.autograd.grad(total, wanted, allow_unused=True))
    in_grads = [gs.pop(0) if t.requires_grad else None for t in ts]
    pgrads = {n: g for (n, _), g in zip(params, gs)}
    for n, g in pgrads.items():
        assert g is not None, n
    return m, outs, flags, grad_outputs, in_grads, pgrads


LAYERS = []  # (name, layer, config, mode, builder(gen, module) -> inputs)


def layer_case(name, layer, config, mode, builder):
    assert name.split("/")[0] == layer, name
    assert all(c[0] != name for c in LAYERS), name
    LAYERS.append((name, layer, config, mode, builder))


def F32(t, grad=True):
    assert t.dtype == torch.float32
    return (t.contiguous(), grad)


def define_layers():
    X = lambda *shape: (lambda g: [F32(g.randn(*shape))])

    layer_case("linear/bias", "linear", {"in": 5, "out": 3, "bias": True}, "train", X(4, 5))
    layer_case("linear/no_bias", "linear", {"in": 5, "out": 3, "bias": False}, "train", X(2, 3, 5))

    layer_case("conv2d/stride2_pad1", "conv2d",
               {"in": 3, "out": 4, "kernel": [3, 3], "stride": [2, 2], "padding": [1, 1],
                "dilation": [1, 1], "groups": 1, "bias": True}, "train", X(2, 3, 7, 6))
    layer_case("conv2d/groups3", "conv2d",
               {"in": 3, "out": 6, "kernel": [3, 3], "stride": [1, 1], "padding": [1, 1],
                "dilation": [1, 1], "groups": 3, "bias": True}, "train", X(2, 3, 5, 6))
    layer_case("conv2d/dilated_no_bias", "conv2d",
               {"in": 2, "out": 2, "kernel": [3, 2], "stride": [1, 1], "padding": [2, 1],
                "dilation": [2, 1], "groups": 1, "bias": False}, "train", X(2, 2, 6, 5))

    def distinct(g):
        # a shuffled grid of values 0.0185 apart: no near-ties in any window
        n = 2 * 3 * 6 * 6
        v = (torch.randperm(n, generator=g.g).float() + g.uniform(0.0, 0.5, n)) * (4.0 / n) - 2.0
        return [F32(v.reshape(2, 3, 6, 6))]
    layer_case("maxpool2d/k2s2", "maxpool2d",
               {"kernel": [2, 2], "stride": [2, 2], "padding": [0, 0]}, "train", distinct)
    for tag, inc in [("include_pad", True), ("exclude_pad", False)]:
        layer_case("avgpool2d/" + tag, "avgpool2d",
                   {"kernel": [3, 3], "stride": [2, 2], "padding": [1, 1],
                    "count_include_pad": inc}, "train", X(1, 2, 7, 7))

    layer_case("flatten/basic", "flatten", {"start": 1, "end": -1}, "train", X(2, 3, 4))
    layer_case("dropout/eval", "dropout", {"p": 0.5}, "eval", X(3, 4))

    bn = {"features": 4, "eps": 1e-5, "momentum": 0.1, "affine": True,
          "track_running_stats": True}
    layer_case("batchnorm1d/train_2d", "batchnorm1d", bn, "train", X(6, 4))
    layer_case("batchnorm1d/train_3d", "batchnorm1d", bn, "train", X(6, 4, 5))
    layer_case("batchnorm1d/eval", "batchnorm1d", bn, "eval", X(6, 4))
    bn2 = dict(bn, features=3)
    layer_case("batchnorm2d/train", "batchnorm2d", bn2, "train", X(4, 3, 5, 5))
    layer_case("batchnorm2d/eval", "batchnorm2d", bn2, "eval", X(4, 3, 5, 5))

    layer_case("layernorm/last_dim", "layernorm", {"shape": [5], "eps": 1e-5, "affine": True},
               "train", X(3, 4, 5))
    layer_case("layernorm/last_two", "layernorm", {"shape": [4, 5], "eps": 1e-5, "affine": True},
               "train", X(3, 4, 5))

    def emb_ids(g):
        ids = g.index(0, 10, 3, 5)
        ids.view(-1)[[1, 7, 12]] = int(ids.view(-1)[0])  # repeated ids accumulate grads
        return [(ids, False)]
    layer_case("embedding/basic", "embedding", {"num": 10, "dim": 4}, "train", emb_ids)

    layer_case("rnn/tanh", "rnn",
               {"input": 4, "hidden": 5, "layers": 2, "nonlinearity": "tanh", "bias": True},
               "train", lambda g: [F32(g.randn(3, 6, 4)), F32(g.randn(2, 3, 5, scale=0.5))])
    layer_case("lstm/basic", "lstm", {"input": 4, "hidden": 5, "layers": 2, "bias": True},
               "train", lambda g: [F32(g.randn(3, 6, 4)), F32(g.randn(2, 3, 5, scale=0.5)),
                                   F32(g.randn(2, 3, 5, scale=0.5))])
    layer_case("gru/basic", "gru", {"input": 4, "hidden": 5, "layers": 2, "bias": True},
               "train", lambda g: [F32(g.randn(3, 6, 4)), F32(g.randn(2, 3, 5, scale=0.5))])

    for mask in ["none", "causal", "padding"]:
        def mha_in(g, mask=mask):
            ins = [F32(g.randn(2, 5, 8))]
            if mask == "padding":
                kpm = torch.zeros(2, 5, dtype=torch.int32)
                kpm[1, 3:] = 1
                ins.append((kpm, False))
            return ins
        layer_case("multihead_attention/" + mask, "multihead_attention",
                   {"embed": 8, "heads": 2, "bias": True, "mask": mask}, "train", mha_in)

    tel = {"d_model": 8, "nhead": 2, "dim_feedforward": 16, "dropout": 0.0,
           "activation": "relu", "norm_first": False, "layer_norm_eps": 1e-5}
    layer_case("transformer_encoder_layer/relu", "transformer_encoder_layer",
               dict(tel, mask="none"), "train", X(2, 5, 8))
    layer_case("transformer_encoder_layer/relu_causal", "transformer_encoder_layer",
               dict(tel, mask="causal"), "train", X(2, 5, 8))
    layer_case("transformer_encoder_layer/gelu_norm_first", "transformer_encoder_layer",
               dict(tel, activation="gelu", norm_first=True, mask="none"), "train", X(2, 5, 8))

    layer_case("relu/basic", "relu", {}, "train", lambda g: [F32(g.away(0.05, 2.0, 3, 4))])
    layer_case("sigmoid/basic", "sigmoid", {}, "train", lambda g: [F32(g.randn(3, 4, scale=2.0))])
    layer_case("tanh/basic", "tanh", {}, "train", lambda g: [F32(g.randn(3, 4, scale=2.0))])
    layer_case("gelu/basic", "gelu", {}, "train", lambda g: [F32(g.randn(3, 4, scale=2.0))])
    layer_case("softmax/last", "softmax", {"axis": -1}, "train", X(3, 4))
    layer_case("log_softmax/axis1", "log_softmax", {"axis": 1}, "train", X(3, 4))


def randomize_state(module, g):
    """Replace constant-initialised parameters (norm weights 1, biases 0) by
    random values; give BatchNorm non-trivial running stats."""
    with torch.no_grad():
        for n, p in module.named_parameters():
            flat = p.reshape(-1)
            if flat.numel() and bool((flat == flat[0]).all()):
                if flat[0].item() == 1.0:
                    p.copy_(1.0 + g.randn(*p.shape, scale=0.3))
                else:
                    p.copy_(g.randn(*p.shape, scale=0.3))
        for n, b in module.named_buffers():
            if n.endswith("running_mean"):
                b.copy_(g.randn(*b.shape, scale=0.5))
            elif n.endswith("running_var"):
                b.copy_(g.uniform(0.5, 2.0, *b.shape))
            elif n.endswith("num_batches_tracked"):
                b.fill_(3)


def margin_checks(name, layer, c, mode, state, inputs):
    """The Go side computes in float32: make sure no branch (relu, max) sits so
    close to its switch point that float32 rounding could flip it."""
    if layer == "maxpool2d":
        x = inputs[0][0].double()
        k, s = c["kernel"], c["stride"]
        assert c["padding"] == [0, 0]
        win = x.unfold(2, k[0], s[0]).unfold(3, k[1], s[1])
        win = win.reshape(*win.shape[:4], -1)
        top2 = win.topk(2, dim=-1).values
        gap = (top2[..., 0] - top2[..., 1]).min().item()
        assert gap > 1e-3, (name, gap)
    if layer == "transformer_encoder_layer" and c["activation"] == "relu":
        m = make_module(layer, c)
        m.load_state_dict(state)
        m = m.double().train(mode == "train")
        seen = []
        h = m.linear1.register_forward_hook(lambda mod, i, o: seen.append(o.detach()))
        forward(layer, c, m, [t.double() for t, _ in inputs])
        h.remove()
        mn = seen[0].abs().min().item()
        assert mn > 1e-4, (name, mn)


def build_layer(name, layer, c, mode, builder):
    seed = seed_of(name)
    g = Gen(seed)
    torch.manual_seed(seed)
    module = make_module(layer, c)
    randomize_state(module, g)
    state = {k: v.detach().clone() for k, v in module.state_dict().items()}
    inputs = builder(g)
    margin_checks(name, layer, c, mode, state, inputs)
    m, outs, flags, gos, in_grads, pgrads = run_layer(layer, c, mode, state, inputs,
                                                      torch.float64, gen=g)
    after = {n: b for n, b in m.named_buffers()}
    return {
        "name": name, "layer": layer, "config": Raw(c), "mode": mode,
        "state": {k: state_spec(v) for k, v in state.items()},
        "inputs": [input_spec(t, gr) for t, gr in inputs],
        "outputs": [spec(o) for o in outs],
        "grad_outputs": [None if go is None else spec(go) for go in gos],
        "input_grads": [None if gr is None else spec(gr) for gr in in_grads],
        "param_grads": {n: spec(gr) for n, gr in pgrads.items()},
        "state_after": {n: state_spec(b) for n, b in after.items()},
    }


# ---------------------------------------------------------------------------
# Losses.
# ---------------------------------------------------------------------------

def loss_fn(loss, c, pred, target):
    if loss == "mse":
        return F.mse_loss(pred, target, reduction=c["reduction"])
    if loss == "l1":
        return F.l1_loss(pred, target, reduction=c["reduction"])
    if loss == "cross_entropy":
        return F.cross_entropy(pred, target, reduction=c["reduction"],
                               ignore_index=c["ignore_index"],
                               label_smoothing=c["label_smoothing"])
    if loss == "nll_loss":
        return F.nll_loss(pred, target, reduction=c["reduction"], ignore_index=c["ignore_index"])
    if loss == "bce":
        return F.binary_cross_entropy(pred, target, reduction=c["reduction"])
    if loss == "bce_with_logits":
        return F.binary_cross_entropy_with_logits(pred, target, reduction=c["reduction"])
    raise KeyError(loss)


def eval_loss(loss, c, inputs, dtype, grad_output=None, gen=None):
    ts = []
    for t, grad in inputs:
        if t.dtype == torch.int32:
            ts.append(t.to(torch.int64))
        else:
            ts.append(t.to(dtype).detach().requires_grad_(grad))
    out = loss_fn(loss, c, *ts)
    if grad_output is None:
        grad_output = torch.tensor(1.0) if out.dim() == 0 else gen.randn(*out.shape)
    wanted = [t for t in ts if t.requires_grad]
    gs = list(torch.autograd.grad(out, wanted, grad_output.to(dtype)))
    grads = [gs.pop(0) if t.requires_grad else None for t in ts]
    return out, grad_output, grads


LOSSES = []


def loss_case(name, loss, config, builder):
    assert name.split("/")[0] == loss, name
    assert all(c[0] != name for c in LOSSES), name
    LOSSES.append((name, loss, config, builder))


def define_losses():
    def reg(g):
        return [F32(g.randn(4, 3)), F32(g.randn(4, 3), grad=False)]
    for red in ["mean", "sum", "none"]:
        loss_case("mse/" + red, "mse", {"reduction": red}, reg)
    loss_case("l1/mean", "l1", {"reduction": "mean"}, reg)

    ce = {"reduction": "mean", "ignore_index": -100, "label_smoothing": 0.0}

    def ce_in(labels):
        return lambda g: [F32(g.randn(5, 4, scale=1.5)),
                          (torch.tensor(labels, dtype=torch.int32), False)]
    for red in ["mean", "sum", "none"]:
        loss_case("cross_entropy/" + red, "cross_entropy", dict(ce, reduction=red),
                  ce_in([1, 0, 3, 3, 2]))
    loss_case("cross_entropy/ignore_index", "cross_entropy", dict(ce, ignore_index=2),
              ce_in([2, 0, 2, 3, 1]))
    loss_case("cross_entropy/ignore_index_none", "cross_entropy",
              dict(ce, ignore_index=2, reduction="none"), ce_in([2, 0, 2, 3, 1]))
    loss_case("cross_entropy/label_smoothing", "cross_entropy", dict(ce, label_smoothing=0.1),
              ce_in([1, 0, 3, 3, 2]))
    loss_case("cross_entropy/label_smoothing_ignore_index", "cross_entropy",
              dict(ce, label_smoothing=0.1, ignore_index=2), ce_in([2, 0, 2, 3, 1]))
    loss_case("cross_entropy/nd", "cross_entropy", ce,
              lambda g: [F32(g.randn(2, 4, 3, scale=1.5)),
                         (torch.tensor([[0, 3, 1], [2, 2, 0]], dtype=torch.int32), False)])

    loss_case("nll_loss/mean", "nll_loss", {"reduction": "mean", "ignore_index": -100},
              lambda g: [F32(torch.log_softmax(g.randn(5, 4, scale=1.5).double(), 1).float()),
                         (torch.tensor([3, 1, 0, 2, 1], dtype=torch.int32), False)])
    loss_case("bce/mean", "bce", {"reduction": "mean"},
              lambda g: [F32(g.uniform(0.05, 0.95, 4, 3)),
                         F32(g.uniform(0.0, 1.0, 4, 3), grad=False)])
    loss_case("bce_with_logits/mean", "bce_with_logits", {"reduction": "mean"},
              lambda g: [F32(g.randn(4, 3, scale=2.0)),
                         F32(g.uniform(0.0, 1.0, 4, 3), grad=False)])


def build_loss(name, loss, c, builder):
    g = Gen(seed_of(name))
    inputs = builder(g)
    if loss == "l1":
        assert (inputs[0][0] - inputs[1][0]).abs().min().item() > 1e-3, name
    out, go, grads = eval_loss(loss, c, inputs, torch.float64, gen=g)
    return {
        "name": name, "loss": loss, "config": Raw(c),
        "inputs": [input_spec(t, gr) for t, gr in inputs],
        "output": spec(out), "grad_output": spec(go),
        "input_grads": [None if gr is None else spec(gr) for gr in grads],
    }


# ---------------------------------------------------------------------------
# Optimizers.
# ---------------------------------------------------------------------------

OPTIMIZERS = []


def define_optimizers():
    def o(name, opt, config):
        assert name.split("/")[0] == opt, name
        OPTIMIZERS.append((name, opt, config))
    o("sgd/plain", "sgd", {"lr": 0.1})
    o("sgd/momentum", "sgd", {"lr": 0.1, "momentum": 0.9})
    o("sgd/nesterov", "sgd", {"lr": 0.1, "momentum": 0.9, "nesterov": True})
    o("sgd/momentum_wd_dampening", "sgd",
      {"lr": 0.1, "momentum": 0.9, "weight_decay": 0.01, "dampening": 0.1})
    adam = {"lr": 0.01, "betas": [0.9, 0.999], "eps": 1e-8, "weight_decay": 0}
    o("adam/basic", "adam", adam)
    o("adam/weight_decay", "adam", dict(adam, weight_decay=0.01))
    o("adam/amsgrad", "adam", dict(adam, amsgrad=True))
    o("adamw/basic", "adamw", dict(adam, weight_decay=0.01))
    rms = {"lr": 0.01, "alpha": 0.99, "eps": 1e-8, "momentum": 0, "centered": False}
    o("rmsprop/basic", "rmsprop", rms)
    o("rmsprop/momentum", "rmsprop", dict(rms, momentum=0.9))
    o("rmsprop/centered", "rmsprop", dict(rms, centered=True))
    ada = {"lr": 0.1, "lr_decay": 0, "eps": 1e-10, "initial_accumulator_value": 0}
    o("adagrad/basic", "adagrad", ada)
    o("adagrad/lr_decay", "adagrad", dict(ada, lr_decay=0.01))


def make_optimizer(opt, c, params):
    if opt == "sgd":
        return torch.optim.SGD(params, lr=c["lr"], momentum=c.get("momentum", 0),
                               dampening=c.get("dampening", 0),
                               weight_decay=c.get("weight_decay", 0),
                               nesterov=c.get("nesterov", False), foreach=False)
    if opt in ("adam", "adamw"):
        cls = torch.optim.Adam if opt == "adam" else torch.optim.AdamW
        return cls(params, lr=c["lr"], betas=tuple(c["betas"]), eps=c["eps"],
                   weight_decay=c["weight_decay"], amsgrad=c.get("amsgrad", False),
                   foreach=False)
    if opt == "rmsprop":
        return torch.optim.RMSprop(params, lr=c["lr"], alpha=c["alpha"], eps=c["eps"],
                                   weight_decay=c.get("weight_decay", 0),
                                   momentum=c["momentum"], centered=c["centered"],
                                   foreach=False)
    if opt == "adagrad":
        return torch.optim.Adagrad(params, lr=c["lr"], lr_decay=c["lr_decay"], eps=c["eps"],
                                   initial_accumulator_value=c["initial_accumulator_value"],
                                   foreach=False)
    raise KeyError(opt)


def problem():
    g = Gen(seed_of("optimizer/problem"))
    w = g.randn(3, 4)
    b = g.randn(4)
    x = g.randn(8, 3)
    y = g.randn(8, 4)
    return {"w": w, "b": b}, {"x": x, "y": y}


def run_optimizer(opt, c, params0, data, dtype):
    w = params0["w"].to(dtype).clone().requires_grad_(True)
    b = params0["b"].to(dtype).clone().requires_grad_(True)
    x, y = data["x"].to(dtype), data["y"].to(dtype)
    o = make_optimizer(opt, c, [w, b])
    steps = []
    for _ in range(STEPS):
        o.zero_grad()
        loss = F.mse_loss(x @ w + b, y)
        loss.backward()
        o.step()
        steps.append((loss.item(), w.detach().clone(), b.detach().clone()))
    return steps


def manual_optimizer(opt, c, params0, data):
    """Hand-written float64 reference of the documented update rules."""
    ps = [params0["w"].double().clone(), params0["b"].double().clone()]
    x, y = data["x"].double(), data["y"].double()
    st = [{} for _ in ps]
    out = []
    for t in range(1, STEPS + 1):
        w, b = [p.clone().requires_grad_(True) for p in ps]
        loss = F.mse_loss(x @ w + b, y)
        grads = torch.autograd.grad(loss, [w, b])
        new = []
        for p, g, s in zip(ps, grads, st):
            lr = c["lr"]
            wd = c.get("weight_decay", 0)
            if opt == "sgd":
                m, d = c.get("momentum", 0), c.get("dampening", 0)
                g = g + wd * p
                if m:
                    s["buf"] = g.clone() if t == 1 else m * s["buf"] + (1 - d) * g
                    g = g + m * s["buf"] if c.get("nesterov") else s["buf"]
                p = p - lr * g
            elif opt in ("adam", "adamw"):
                b1, b2 = c["betas"]
                if opt == "adamw":
                    p = p * (1 - lr * wd)
                else:
                    g = g + wd * p
                s["m"] = b1 * s.get("m", 0) + (1 - b1) * g
                s["v"] = b2 * s.get("v", 0) + (1 - b2) * g * g
                v = s["v"]
                if c.get("amsgrad"):
                    s["vmax"] = torch.maximum(s.get("vmax", torch.zeros_like(v)), v)
                    v = s["vmax"]
                denom = v.sqrt() / math.sqrt(1 - b2 ** t) + c["eps"]
                p = p - lr / (1 - b1 ** t) * s["m"] / denom
            elif opt == "rmsprop":
                a = c["alpha"]
                g = g + wd * p
                s["v"] = a * s.get("v", 0) + (1 - a) * g * g
                if c["centered"]:
                    s["ga"] = a * s.get("ga", 0) + (1 - a) * g
                    avg = (s["v"] - s["ga"] ** 2).sqrt() + c["eps"]
                else:
                    avg = s["v"].sqrt() + c["eps"]
                if c["momentum"]:
                    s["buf"] = c["momentum"] * s.get("buf", 0) + g / avg
                    p = p - lr * s["buf"]
                else:
                    p = p - lr * g / avg
            elif opt == "adagrad":
                clr = lr / (1 + (t - 1) * c["lr_decay"])
                s["s"] = s.get("s", c["initial_accumulator_value"]) + g * g
                p = p - clr * g / (s["s"].sqrt() + c["eps"])
            new.append(p)
        ps = new
        out.append((loss.item(), ps[0], ps[1]))
    return out


def build_optimizer(name, opt, c):
    params0, data = problem()
    steps = run_optimizer(opt, c, params0, data, torch.float64)
    return {
        "name": name, "optimizer": opt, "config": Raw(c),
        "params": {k: spec(v) for k, v in params0.items()},
        "data": {k: spec(v) for k, v in data.items()},
        "steps": [{"loss": f32(l), "params": {"w": spec(w), "b": spec(b)}}
                  for l, w, b in steps],
    }


# ---------------------------------------------------------------------------
# Schedulers and clipping.
# ---------------------------------------------------------------------------

SCHEDULERS = [
    ("steplr/basic", "steplr", {"step_size": 3, "gamma": 0.5}),
    ("cosine/basic", "cosine", {"t_max": 10, "eta_min": 0.001}),
    ("linear_warmup/basic", "linear_warmup",
     {"start_factor": 0.1, "end_factor": 1.0, "total_iters": 4}),
]
BASE_LR = 0.1


def run_scheduler(sched, c):
    p = torch.zeros(2, requires_grad=True)
    o = torch.optim.SGD([p], lr=BASE_LR)
    if sched == "steplr":
        s = torch.optim.lr_scheduler.StepLR(o, step_size=c["step_size"], gamma=c["gamma"])
    elif sched == "cosine":
        s = torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=c["t_max"], eta_min=c["eta_min"])
    elif sched == "linear_warmup":
        s = torch.optim.lr_scheduler.LinearLR(o, start_factor=c["start_factor"],
                                              end_factor=c["end_factor"],
                                              total_iters=c["total_iters"])
    else:
        raise KeyError(sched)
    lrs = []
    for _ in range(STEPS):
        lrs.append(o.param_groups[0]["lr"])
        o.zero_grad()
        p.sum().backward()
        o.step()
        s.step()
    return lrs


def closed_form_lr(sched, c, k):
    if sched == "steplr":
        return BASE_LR * c["gamma"] ** (k // c["step_size"])
    if sched == "cosine":
        cos = math.cos(math.pi * k / c["t_max"])
        return c["eta_min"] + (BASE_LR - c["eta_min"]) * (1 + cos) / 2
    if sched == "linear_warmup":
        sf, ef, n = c["start_factor"], c["end_factor"], c["total_iters"]
        return BASE_LR * (sf + (ef - sf) * min(k, n) / n)
    raise KeyError(sched)


def build_scheduler(name, sched, c):
    return {"name": name, "scheduler": sched, "config": Raw(c), "base_lr": F64(BASE_LR),
            "lrs": [F64(v) for v in run_scheduler(sched, c)]}


CLIPS = [("clip/above", 1.0, 1.0), ("clip/below", 1.0, 0.2)]  # (name, max_norm, grad scale)


def clip(grads, max_norm):
    ps = []
    for g in grads:
        p = torch.zeros_like(g, requires_grad=True)
        p.grad = g.clone()
        ps.append(p)
    total = torch.nn.utils.clip_grad_norm_(ps, max_norm, norm_type=2.0)
    return total.item(), [p.grad for p in ps]


def build_clip(name, max_norm, scale):
    g = Gen(seed_of(name))
    a, b = g.randn(3, 4, scale=scale), g.randn(4, scale=scale)
    total, (ca, cb) = clip([a.double(), b.double()], max_norm)
    return {"name": name, "max_norm": max_norm, "grads": {"a": spec(a), "b": spec(b)},
            "total_norm": f32(total), "clipped": {"a": spec(ca), "b": spec(cb)}}


# ---------------------------------------------------------------------------
# Writing.
# ---------------------------------------------------------------------------

def write(sections):
    parts = ['{"generator":"gen_nn_reference.py","torch":%s' % json.dumps(torch.__version__)]
    for key, items in sections:
        parts.append(',\n"%s":[\n' % key + ",\n".join(encode(c) for c in items) + "\n]")
    with open(OUT_PATH, "w", newline="\n") as f:
        f.write("".join(parts) + "}\n")


# ---------------------------------------------------------------------------
# Check: re-read the JSON and verify it.
# ---------------------------------------------------------------------------

def numel(shape):
    return int(math.prod(shape)) if shape else 1


def tensor_of(s, dtype=torch.float32):
    assert len(s["data"]) == numel(s["shape"]), s["shape"]
    kind = s.get("dtype", "float32")
    if kind in ("int32", "int64"):
        assert all(isinstance(v, int) for v in s["data"])
        return torch.tensor(s["data"], dtype=torch.int32 if kind == "int32" else torch.int64
                            ).reshape(s["shape"])
    assert kind == "float32", kind
    assert all(isinstance(v, float) or isinstance(v, int) for v in s["data"])
    assert all(math.isfinite(v) for v in s["data"])
    return torch.tensor(s["data"], dtype=torch.float32).reshape(s["shape"]).to(dtype)


def rel_err(got, ref):
    got, ref = got.double(), ref.double()
    if ref.numel() == 0:
        return 0.0
    scale = torch.clamp(ref.abs(), min=max(1e-2 * ref.abs().max().item(), 1e-6))
    return ((got - ref).abs() / scale).max().item()


def same_f32(t64, s):
    """t64 rounded to float32 equals the stored values exactly."""
    return torch.equal(t64.detach().float(), tensor_of(s))


class Worst:
    def __init__(self):
        self.v = {}

    def note(self, kind, name, e, limit):
        assert e < limit, (name, kind, e)
        if e > self.v.get(kind, (0.0, ""))[0]:
            self.v[kind] = (e, name)


def check_layers(cases, worst):
    for c in cases:
        name, layer, cfg, mode = c["name"], c["layer"], c["config"], c["mode"]
        assert name.split("/")[0] == layer, name
        assert mode in ("train", "eval"), name
        state = {k: tensor_of(v) for k, v in c["state"].items()}
        for k, v in c["state"].items():
            want = "int64" if k.endswith("num_batches_tracked") else "float32"
            assert v["dtype"] == want, (name, k)
        inputs = [(tensor_of(s), s["grad"]) for s in c["inputs"]]
        for s in c["inputs"]:
            assert s["dtype"] in ("float32", "int32") and (s["dtype"] == "float32" or not s["grad"])
        gos = [None if s is None else tensor_of(s) for s in c["grad_outputs"]]
        assert len(c["outputs"]) == len(gos), name
        for o, g in zip(c["outputs"], c["grad_outputs"]):
            assert g is None or g["shape"] == o["shape"], name
        assert len(c["input_grads"]) == len(c["inputs"]), name
        for s, gs in zip(c["inputs"], c["input_grads"]):
            assert (gs is not None) == s["grad"], name
            assert gs is None or gs["shape"] == s["shape"], name
        for spec_list in (c["outputs"], [g for g in c["input_grads"] if g],
                          list(c["param_grads"].values()), list(c["state_after"].values())):
            for s in spec_list:
                tensor_of(s)  # finite, sizes

        for dtype in (torch.float64, torch.float32):
            # load_state_dict(strict=True) checks the state names and shapes
            m, outs, flags, _, in_grads, pgrads = run_layer(
                layer, cfg, mode, state, inputs, dtype, grad_outputs=gos)
            assert [g is not None for g in gos] == list(flags), name
            assert [list(o.shape) for o in outs] == [s["shape"] for s in c["outputs"]], name
            assert sorted(pgrads) == sorted(c["param_grads"]), name
            for n, p in m.named_parameters():
                assert c["param_grads"][n]["shape"] == list(p.shape), (name, n)
            after = dict(m.named_buffers())
            assert sorted(after) == sorted(c["state_after"]), name
            pairs = [("output", o, s) for o, s in zip(outs, c["outputs"])]
            pairs += [("grad", g, s) for g, s in zip(in_grads, c["input_grads"]) if s]
            pairs += [("grad", pgrads[n], s) for n, s in c["param_grads"].items()]
            pairs += [("state", after[n], s) for n, s in c["state_after"].items()]
            for kind, t, s in pairs:
                if s.get("dtype") == "int64":
                    assert torch.equal(t, tensor_of(s)), (name, kind)
                elif dtype == torch.float64:
                    assert same_f32(t, s), (name, kind)
                else:
                    worst.note("layer " + kind, name, rel_err(t, tensor_of(s)),
                               1e-4 if kind != "grad" else 1e-3)


def check_losses(cases, worst):
    for c in cases:
        name = c["name"]
        assert name.split("/")[0] == c["loss"], name
        inputs = [(tensor_of(s), s["grad"]) for s in c["inputs"]]
        assert c["inputs"][0]["grad"] and not c["inputs"][1]["grad"], name
        go = tensor_of(c["grad_output"])
        assert c["grad_output"]["shape"] == c["output"]["shape"], name
        if c["config"]["reduction"] != "none":
            assert c["output"]["shape"] == [] and go.item() == 1.0, name
        for dtype in (torch.float64, torch.float32):
            out, _, grads = eval_loss(c["loss"], c["config"], inputs, dtype, grad_output=go)
            assert list(out.shape) == c["output"]["shape"], name
            pairs = [("output", out, c["output"])]
            pairs += [("grad", g, s) for g, s in zip(grads, c["input_grads"]) if s is not None]
            assert [s is not None for s in c["input_grads"]] == [s["grad"] for s in c["inputs"]]
            for kind, t, s in pairs:
                assert list(t.shape) == s["shape"], name
                if dtype == torch.float64:
                    assert same_f32(t, s), (name, kind)
                else:
                    worst.note("loss " + kind, name, rel_err(t, tensor_of(s)), 1e-4)
    # documented cross-entropy semantics
    by = {c["name"]: c for c in cases}
    c = by["cross_entropy/label_smoothing_ignore_index"]
    x = tensor_of(c["inputs"][0], torch.float64)
    lab = tensor_of(c["inputs"][1]).long()
    s, ii = c["config"]["label_smoothing"], c["config"]["ignore_index"]
    lp = torch.log_softmax(x, 1)
    keep = lab != ii
    nll = -lp[keep].gather(1, lab[keep][:, None])[:, 0]
    smooth = -lp[keep].mean(1)
    ref = ((1 - s) * nll + s * smooth).sum() / keep.sum()
    assert abs(ref.item() - c["output"]["data"][0]) < 1e-6 * max(1, abs(ref.item())), name


def check_optimizers(cases, worst):
    for c in cases:
        name, opt, cfg = c["name"], c["optimizer"], c["config"]
        params0 = {k: tensor_of(v) for k, v in c["params"].items()}
        data = {k: tensor_of(v) for k, v in c["data"].items()}
        assert len(c["steps"]) == STEPS, name
        ref = run_optimizer(opt, cfg, params0, data, torch.float64)
        man = manual_optimizer(opt, cfg, params0, data)
        low = run_optimizer(opt, cfg, params0, data, torch.float32)
        for (l, w, b), (ml, mw, mb), (ll, lw, lb), s in zip(ref, man, low, c["steps"]):
            assert f32(l) == f32(s["loss"]), name
            assert same_f32(w, s["params"]["w"]) and same_f32(b, s["params"]["b"]), name
            # the hand-written update rules agree with torch.optim
            assert abs(ml - l) <= 1e-12 * max(1, abs(l)), (name, ml, l)
            for t, u in ((mw, w), (mb, b)):
                assert (t - u).abs().max().item() < 1e-10, (name, "manual")
            worst.note("optimizer loss", name,
                       abs(ll - s["loss"]) / max(abs(s["loss"]), 1e-6), 1e-4)
            worst.note("optimizer param", name, rel_err(lw, tensor_of(s["params"]["w"])), 1e-3)
            worst.note("optimizer param", name, rel_err(lb, tensor_of(s["params"]["b"])), 1e-3)


def check_schedulers(cases):
    for c in cases:
        assert c["base_lr"] == BASE_LR
        lrs = run_scheduler(c["scheduler"], c["config"])
        assert lrs == c["lrs"], c["name"]
        for k, v in enumerate(lrs):
            assert abs(v - closed_form_lr(c["scheduler"], c["config"], k)) < 1e-12, (c["name"], k)


def check_clip(cases):
    kinds = set()
    for c in cases:
        grads = [tensor_of(c["grads"][k], torch.float64) for k in ("a", "b")]
        total, clipped = clip(grads, c["max_norm"])
        assert f32(total) == f32(c["total_norm"]), c["name"]
        norm = math.sqrt(sum((g * g).sum().item() for g in grads))
        assert abs(norm - total) < 1e-12
        coef = min(1.0, c["max_norm"] / (total + 1e-6))
        for k, g, cg in zip(("a", "b"), grads, clipped):
            assert same_f32(cg, c["clipped"][k]), c["name"]
            assert torch.allclose(cg, g * coef, rtol=1e-14, atol=0)
        kinds.add(total > c["max_norm"])
        if total <= c["max_norm"]:
            for k in ("a", "b"):
                assert c["clipped"][k]["data"] == c["grads"][k]["data"], c["name"]
    assert kinds == {True, False}


def check(path=OUT_PATH):
    with open(path) as f:
        doc = json.load(f, parse_constant=lambda c: (_ for _ in ()).throw(ValueError(c)))
    assert doc["generator"] == "gen_nn_reference.py"
    keys = ["layers", "losses", "optimizers", "schedulers", "clip"]
    assert list(doc) == ["generator", "torch"] + keys, list(doc)
    names = [c["name"] for k in keys for c in doc[k]]
    assert len(set(names)) == len(names), "duplicate case names"
    worst = Worst()
    check_layers(doc["layers"], worst)
    check_losses(doc["losses"], worst)
    check_optimizers(doc["optimizers"], worst)
    check_schedulers(doc["schedulers"])
    check_clip(doc["clip"])
    print("torch %s, %d bytes" % (doc["torch"], os.path.getsize(path)))
    for k in keys:
        print("  %-11s %2d: %s" % (k, len(doc[k]), " ".join(c["name"] for c in doc[k])))
    print("worst float32-vs-reference relative error:")
    for kind, (e, n) in sorted(worst.v.items()):
        print("  %-16s %.2e (%s)" % (kind, e, n))


def main():
    if "--check" not in sys.argv[1:]:
        define_layers()
        define_losses()
        define_optimizers()
        write([
            ("layers", [build_layer(*c) for c in LAYERS]),
            ("losses", [build_loss(*c) for c in LOSSES]),
            ("optimizers", [build_optimizer(*c) for c in OPTIMIZERS]),
            ("schedulers", [build_scheduler(*c) for c in SCHEDULERS]),
            ("clip", [build_clip(*c) for c in CLIPS]),
        ])
    check()


if __name__ == "__main__":
    main()
