#!/usr/bin/python3
"""Checkpoint interop between wgtensor's nn package and PyTorch.

Both sides define the same small network, RoundTripNet (below), and exchange
its state_dict as a safetensors file plus a JSON file with one input and the
eval-mode output for it.

Subcommands (run from the repository root with Debian's python3-torch):

  /usr/bin/python3 nn/testdata/roundtrip.py write [DIR] [--name NAME]
      Seeds torch with 0, builds RoundTripNet (float32), runs two forward
      passes in train mode on random [4, 1, 8, 8] inputs (so the BatchNorm
      running stats are non-trivial and num_batches_tracked == 2), switches
      to eval, draws x [2, 1, 8, 8] and computes y = net(x).  Writes
      DIR/NAME.safetensors (the full state_dict: F32 tensors, and
      bn.num_batches_tracked as I64 with shape []) and DIR/NAME.json
      {"input": {"shape", "data"}, "output": {"shape", "data"}}.
      DIR defaults to nn/testdata (next to this script) and NAME to
      roundtrip_torch: those two files are committed, and a Go test loads
      them into its own RoundTripNet and compares the outputs.
      (--nbt-dtype I32 writes num_batches_tracked as I32, as a Go writer
      may; only used to test `check`.)  The output is deterministic.
      With --float F16 or --float BF16 the float tensors are stored in that
      type (net.to(dtype)), and the output is that of the 16-bit weights
      widened back to float32 (PyTorch 1.13 has no float16 convolution on
      the CPU); NAME defaults to roundtrip_torch_f16 or roundtrip_torch_bf16.

  /usr/bin/python3 nn/testdata/roundtrip.py check DIR [--float F16|BF16]
      Reads DIR/roundtrip_go.safetensors (written by the Go side: the same
      names, F32 tensors, num_batches_tracked as I64 or I32) and
      DIR/roundtrip_go.json ({"input", "output"}), builds RoundTripNet,
      loads the state with load_state_dict(strict=True) (num_batches_tracked
      converted to int64), runs the eval forward pass on the input and prints
      the max abs difference from the stored output.  Exits non-zero if it
      exceeds 1e-5, or with a clear message if a tensor is missing,
      unexpected, or has the wrong shape or dtype.  With --float F16 or BF16
      it reads DIR/roundtrip_go_f16 or _bf16 instead, whose float tensors
      must have that type; it loads them into net.to(dtype) and runs the
      forward pass widened to float32.

  /usr/bin/python3 nn/testdata/roundtrip.py selftest
      Runs `write` into a temporary directory under the Go names, then `check`
      on it (F32/I64 and F32/I32 variants), and makes sure `check` rejects a
      perturbed output, a missing tensor and a wrong shape.

state_dict names (exact PyTorch names, sorted as stored in the file):
  bn.bias [4], bn.num_batches_tracked [] (int64), bn.running_mean [4],
  bn.running_var [4], bn.weight [4], conv.bias [4], conv.weight [4, 1, 3, 3],
  fc1.bias [16], fc1.weight [16, 64], fc2.bias [3], fc2.weight [3, 16],
  ln.bias [16], ln.weight [16].

safetensors format (implemented here; there is no safetensors package):
  8-byte little-endian u64 N, then N bytes of JSON header
  {name: {"dtype": "F32"|"I64"|..., "shape": [...], "data_offsets": [b, e]},
   "__metadata__": {str: str} (optional)}, padded with spaces so that 8 + N
  is a multiple of 8, then the raw little-endian data; offsets are relative
  to the start of the data, tensors are stored in sorted name order.
"""

import json
import math
import os
import struct
import sys
import tempfile

import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
TOLERANCE = 1e-5

torch.set_num_threads(1)


class RoundTripNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3, padding=1)
        self.bn = nn.BatchNorm2d(4)
        self.fc1 = nn.Linear(4 * 4 * 4, 16)
        self.ln = nn.LayerNorm(16)
        self.fc2 = nn.Linear(16, 3)

    def forward(self, x):  # x [N, 1, 8, 8]
        x = F.max_pool2d(F.relu(self.bn(self.conv(x))), 2)
        x = torch.flatten(x, 1)
        return self.fc2(self.ln(F.relu(self.fc1(x))))


class RoundTripError(Exception):
    pass


# ---------------------------------------------------------------------------
# safetensors
# ---------------------------------------------------------------------------

DTYPES = {
    "F64": (torch.float64, 8), "F32": (torch.float32, 4), "F16": (torch.float16, 2),
    "BF16": (torch.bfloat16, 2), "I64": (torch.int64, 8), "I32": (torch.int32, 4),
    "I16": (torch.int16, 2), "I8": (torch.int8, 1), "U8": (torch.uint8, 1),
    "BOOL": (torch.bool, 1),
}
NAME_OF = {dt: name for name, (dt, _) in DTYPES.items()}


def save_safetensors(path, tensors, metadata=None):
    header = {}
    blobs = []
    offset = 0
    for name in sorted(tensors):
        t = tensors[name].detach().contiguous().cpu()
        if t.dtype not in NAME_OF:
            raise RoundTripError("%s: dtype %s not supported" % (name, t.dtype))
        # tensor -> little-endian bytes (this machine is little-endian)
        assert sys.byteorder == "little"
        raw = bytes(t.reshape(-1).view(torch.uint8).tolist()) if t.numel() else b""
        header[name] = {"dtype": NAME_OF[t.dtype], "shape": list(t.shape),
                        "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - (8 + len(h)) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def load_safetensors(path):
    """Returns ({name: tensor}, metadata)."""
    try:
        with open(path, "rb") as f:
            buf = f.read()
    except OSError as e:
        raise RoundTripError("cannot read %s: %s" % (path, e))
    if len(buf) < 8:
        raise RoundTripError("%s: too short for a safetensors file" % path)
    (n,) = struct.unpack("<Q", buf[:8])
    if 8 + n > len(buf):
        raise RoundTripError("%s: header length %d exceeds file size %d" % (path, n, len(buf)))
    try:
        header = json.loads(buf[8:8 + n].decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        raise RoundTripError("%s: bad JSON header: %s" % (path, e))
    if not isinstance(header, dict):
        raise RoundTripError("%s: header is not a JSON object" % path)
    data = buf[8 + n:]
    metadata = header.pop("__metadata__", None) or {}
    out = {}
    for name, info in header.items():
        try:
            dtype, size = DTYPES[info["dtype"]]
        except KeyError:
            raise RoundTripError("%s: tensor %r: unsupported dtype %r"
                                 % (path, name, info.get("dtype")))
        shape = info.get("shape")
        if not isinstance(shape, list) or not all(isinstance(d, int) and d >= 0 for d in shape):
            raise RoundTripError("%s: tensor %r: bad shape %r" % (path, name, shape))
        b, e = info.get("data_offsets", [None, None])
        count = math.prod(shape) if shape else 1
        if not (isinstance(b, int) and isinstance(e, int) and 0 <= b <= e <= len(data)):
            raise RoundTripError("%s: tensor %r: bad data_offsets %r (data is %d bytes)"
                                 % (path, name, info.get("data_offsets"), len(data)))
        if e - b != count * size:
            raise RoundTripError("%s: tensor %r: %d bytes for shape %s of %s (want %d)"
                                 % (path, name, e - b, shape, info["dtype"], count * size))
        raw = bytearray(data[b:e])
        if count:
            t = torch.frombuffer(raw, dtype=torch.uint8).view(dtype).reshape(shape).clone()
        else:
            t = torch.empty(shape, dtype=dtype)
        out[name] = t
    return out, metadata


# ---------------------------------------------------------------------------
# JSON tensors (float32 values written as the shortest exact decimal)
# ---------------------------------------------------------------------------

def f32_str(v):
    if not math.isfinite(v):
        raise ValueError("non-finite value %r" % v)
    packed = struct.pack("<f", v)
    for p in range(1, 10):
        s = "%.*g" % (p, v)
        if struct.pack("<f", float(s)) == packed:
            return s
    raise AssertionError(v)


def tensor_json(t):
    vals = t.detach().to(torch.float32).contiguous().reshape(-1).tolist()
    return '{"shape":%s,"data":[%s]}' % (json.dumps(list(t.shape), separators=(",", ":")),
                                         ",".join(f32_str(v) for v in vals))


def tensor_from_json(path, key, spec):
    try:
        shape, data = spec["shape"], spec["data"]
        if len(data) != (math.prod(shape) if shape else 1):
            raise ValueError("%d values for shape %s" % (len(data), shape))
        return torch.tensor(data, dtype=torch.float32).reshape(shape)
    except (KeyError, TypeError, ValueError, RuntimeError) as e:
        raise RoundTripError("%s: bad %r tensor: %s" % (path, key, e))


# ---------------------------------------------------------------------------
# write / check
# ---------------------------------------------------------------------------

def make_reference():
    torch.manual_seed(0)
    net = RoundTripNet()
    net.train()
    with torch.no_grad():
        for _ in range(2):
            net(torch.randn(4, 1, 8, 8))
    net.eval()
    x = torch.randn(2, 1, 8, 8)
    with torch.no_grad():
        y = net(x)
    assert net.bn.num_batches_tracked.item() == 2
    return net, x, y


def write(out_dir, name, nbt_dtype="I64", float_type="F32"):
    net, x, y = make_reference()
    if float_type != "F32":
        net = net.to(DTYPES[float_type][0])
        with torch.no_grad():
            y = net.float()(x)
        net = net.to(DTYPES[float_type][0])
    state = dict(net.state_dict())
    for k, v in state.items():
        assert v.dtype in (DTYPES[float_type][0], torch.int64), (k, v.dtype)
    if nbt_dtype == "I32":
        state["bn.num_batches_tracked"] = state["bn.num_batches_tracked"].to(torch.int32)
    st_path = os.path.join(out_dir, name + ".safetensors")
    js_path = os.path.join(out_dir, name + ".json")
    save_safetensors(st_path, state, {"format": "pt"})
    with open(js_path, "w", newline="\n") as f:
        f.write('{"input":%s,\n"output":%s}\n' % (tensor_json(x), tensor_json(y)))
    print("wrote %s (%d bytes) and %s (%d bytes)" % (st_path, os.path.getsize(st_path),
                                                     js_path, os.path.getsize(js_path)))


def check(in_dir, name="roundtrip_go", float_type="F32"):
    st_path = os.path.join(in_dir, name + ".safetensors")
    js_path = os.path.join(in_dir, name + ".json")
    tensors, _ = load_safetensors(st_path)
    try:
        with open(js_path) as f:
            doc = json.load(f)
    except (OSError, ValueError) as e:
        raise RoundTripError("cannot read %s: %s" % (js_path, e))
    for key in ("input", "output"):
        if key not in doc:
            raise RoundTripError("%s: missing %r" % (js_path, key))
    x = tensor_from_json(js_path, "input", doc["input"])
    want = tensor_from_json(js_path, "output", doc["output"])

    dtype = DTYPES[float_type][0]
    net = RoundTripNet().to(dtype)
    expected = net.state_dict()
    problems = []
    for k in expected:
        if k not in tensors:
            problems.append("missing tensor %r (want shape %s)" % (k, list(expected[k].shape)))
    for k in tensors:
        if k not in expected:
            problems.append("unexpected tensor %r (shape %s)" % (k, list(tensors[k].shape)))
    state = {}
    for k, ref in expected.items():
        if k not in tensors:
            continue
        t = tensors[k]
        if list(t.shape) != list(ref.shape):
            problems.append("tensor %r has shape %s, want %s" % (k, list(t.shape), list(ref.shape)))
            continue
        if k.endswith("num_batches_tracked"):
            if t.dtype not in (torch.int64, torch.int32):
                problems.append("tensor %r has dtype %s, want I64 or I32" % (k, NAME_OF[t.dtype]))
                continue
            t = t.to(torch.int64)
        elif t.dtype != dtype:
            problems.append("tensor %r has dtype %s, want %s" % (k, NAME_OF[t.dtype], float_type))
            continue
        if t.is_floating_point() and not torch.isfinite(t).all():
            problems.append("tensor %r has non-finite values" % k)
        state[k] = t
    if problems:
        raise RoundTripError("%s:\n  " % st_path + "\n  ".join(problems))
    net.load_state_dict(state, strict=True)
    for k, v in net.state_dict().items():
        if v.is_floating_point() and not torch.equal(v, state[k]):
            raise RoundTripError("%s: tensor %r changed when loaded" % (st_path, k))
    net = net.float()
    net.eval()
    if x.dim() != 4 or list(x.shape[1:]) != [1, 8, 8]:
        raise RoundTripError("%s: input shape %s, want [N, 1, 8, 8]" % (js_path, list(x.shape)))
    with torch.no_grad():
        y = net(x)
    if list(y.shape) != list(want.shape):
        raise RoundTripError("%s: output shape %s, but the network gives %s"
                             % (js_path, list(want.shape), list(y.shape)))
    diff = (y - want).abs().max().item()
    ok = diff <= TOLERANCE
    print("num_batches_tracked = %d; max abs difference between PyTorch and stored output: "
          "%.3g (tolerance %g): %s" % (state["bn.num_batches_tracked"].item(), diff, TOLERANCE,
                                       "OK" if ok else "FAIL"))
    return ok


def selftest():
    with tempfile.TemporaryDirectory() as d:
        for nbt in ("I64", "I32"):
            write(d, "roundtrip_go", nbt)
            tensors, meta = load_safetensors(os.path.join(d, "roundtrip_go.safetensors"))
            assert tensors["bn.num_batches_tracked"].dtype == DTYPES[nbt][0]
            assert tensors["bn.num_batches_tracked"].shape == ()
            assert check(d), nbt
        for ft in ("F16", "BF16"):
            write(d, "roundtrip_go_" + ft.lower(), "I64", ft)
            tensors, _ = load_safetensors(os.path.join(d, "roundtrip_go_%s.safetensors" % ft.lower()))
            assert tensors["fc1.weight"].dtype == DTYPES[ft][0]
            assert check(d, "roundtrip_go_" + ft.lower(), ft), ft
        # a perturbed output fails
        path = os.path.join(d, "roundtrip_go.json")
        with open(path) as f:
            doc = json.load(f)
        doc["output"]["data"][0] += 1e-3
        with open(path, "w") as f:
            json.dump(doc, f)
        assert not check(d)
        # a missing tensor and a wrong shape are reported by name
        st = os.path.join(d, "roundtrip_go.safetensors")
        tensors, _ = load_safetensors(st)
        bad = dict(tensors)
        del bad["ln.weight"]
        bad["fc2.bias"] = torch.zeros(4)
        save_safetensors(st, bad)
        try:
            check(d)
            raise AssertionError("check accepted a broken state")
        except RoundTripError as e:
            msg = str(e)
            print("expected error:", msg)
            assert "missing tensor 'ln.weight'" in msg and "'fc2.bias' has shape [4]" in msg
    print("selftest OK")


def usage():
    sys.stderr.write(__doc__)
    sys.exit(2)


def main(argv):
    if not argv:
        usage()
    cmd, rest = argv[0], argv[1:]
    try:
        if cmd == "write":
            name, nbt, ft, pos = None, "I64", "F32", []
            i = 0
            while i < len(rest):
                if rest[i] == "--name" and i + 1 < len(rest):
                    name, i = rest[i + 1], i + 2
                elif rest[i] == "--float" and i + 1 < len(rest) and rest[i + 1] in ("F16", "BF16"):
                    ft, i = rest[i + 1], i + 2
                elif rest[i] == "--nbt-dtype" and i + 1 < len(rest) and rest[i + 1] in ("I64", "I32"):
                    nbt, i = rest[i + 1], i + 2
                else:
                    pos.append(rest[i])
                    i += 1
            if len(pos) > 1:
                usage()
            if name is None:
                name = "roundtrip_torch" + ("" if ft == "F32" else "_" + ft.lower())
            write(pos[0] if pos else HERE, name, nbt, ft)
        elif cmd == "check":
            ft = "F32"
            if len(rest) == 3 and rest[1] == "--float" and rest[2] in ("F16", "BF16"):
                ft, rest = rest[2], rest[:1]
            if len(rest) != 1:
                usage()
            name = "roundtrip_go" + ("" if ft == "F32" else "_" + ft.lower())
            sys.exit(0 if check(rest[0], name, ft) else 1)
        elif cmd == "selftest":
            selftest()
        else:
            usage()
    except RoundTripError as e:
        sys.stderr.write("roundtrip.py %s: error: %s\n" % (cmd, e))
        sys.exit(1)


if __name__ == "__main__":
    main(sys.argv[1:])
