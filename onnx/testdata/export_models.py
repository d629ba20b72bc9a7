#!/usr/bin/python3
"""Reference models and inputs for the ONNX importer's tests.

Run with Debian's /usr/bin/python3 (python3-torch 1.13, python3-torchvision
0.14, python3-pil, python3-numpy); normally through onnx/testdata/deps.sh
(`make onnx-models`). Everything is written under onnx/testdata/gen/:

  models/<name>.onnx           exported with torch.onnx.export, opset 13
  models/<name>.input_<k>.npy  seeded inputs (k = test case, not input index)
  models/<name>.input_<k>.torch.<output>.npy
                               PyTorch's own outputs for them
  models/mnist_zoo.onnx        the ONNX model zoo MNIST model, decoded from
                               onnx-go v0.5.0's Go string literal
  models/mnist_zoo.input_<k>.npy, mnist_zoo.input_<k>.official.<out>.npy
                               its official test_data_set_<k> vectors
  ocr/line_<k>.png|.npy, ocr/lines.txt
                               rendered text lines, preprocessed for
                               PP-OCRv4 rec (ocr/assets/ch_PP-OCRv4_rec_infer.onnx)
  ops.json                     per model: opset imports, inputs/outputs,
                               op-type histogram (read with the small
                               protobuf reader below; no `onnx` module)

Each step is skipped when its outputs exist, unless --force.
"""

import argparse
import json
import math
import os
import subprocess
import sys
import warnings

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
SEED = 20240601          # torch.manual_seed for weights of model i: SEED + i
INPUT_SEED = 1234        # numpy Generator seed for inputs
OPSET = 13

# --------------------------------------------------------------------------
# A minimal protobuf wire-format reader: enough of ModelProto and TensorProto
# (field numbers from onnx.proto) to list op types and read test vectors.


def _varint(b, i):
    r = 0
    s = 0
    while True:
        c = b[i]
        i += 1
        r |= (c & 0x7F) << s
        if c < 0x80:
            return r, i
        s += 7


def fields(b):
    """Yields (field number, wire type, value) for one message; value is an
    int for varints/fixed and a memoryview for length-delimited fields."""
    b = memoryview(b)
    i, n = 0, len(b)
    while i < n:
        key, i = _varint(b, i)
        fn, wt = key >> 3, key & 7
        if wt == 0:
            v, i = _varint(b, i)
        elif wt == 1:
            v = int.from_bytes(b[i:i + 8], "little")
            i += 8
        elif wt == 2:
            ln, i = _varint(b, i)
            v = b[i:i + ln]
            i += ln
        elif wt == 5:
            v = int.from_bytes(b[i:i + 4], "little")
            i += 4
        else:
            raise ValueError("unsupported wire type %d" % wt)
        yield fn, wt, v


def _s(v):
    return bytes(v).decode("utf-8")


def _ints(wt, v):
    """A repeated int64 field element: packed (wt 2) or not (wt 0)."""
    if wt == 0:
        return [v - (1 << 64) if v >= 1 << 63 else v]
    out, i = [], 0
    while i < len(v):
        x, i = _varint(v, i)
        out.append(x - (1 << 64) if x >= 1 << 63 else x)
    return out


ELEM = {1: "float32", 2: "uint8", 3: "int8", 5: "int16", 6: "int32", 7: "int64",
        9: "bool", 10: "float16", 11: "float64", 12: "uint32", 13: "uint64"}


def _value_info(b):
    name, elem, dims = "", None, []
    for fn, _, v in fields(b):
        if fn == 1:
            name = _s(v)
        elif fn == 2:                       # TypeProto
            for fn2, _, v2 in fields(v):
                if fn2 == 1:                # tensor_type
                    for fn3, _, v3 in fields(v2):
                        if fn3 == 1:
                            elem = ELEM.get(v3, str(v3))
                        elif fn3 == 2:      # TensorShapeProto
                            for fn4, _, v4 in fields(v3):
                                if fn4 == 1:
                                    d = "?"
                                    for fn5, _, v5 in fields(v4):
                                        if fn5 == 1:
                                            d = v5
                                        elif fn5 == 2:
                                            d = _s(v5)
                                    dims.append(d)
    return {"name": name, "type": elem, "shape": dims}


def _graph(b, hist, depth=0):
    inputs, outputs, inits = [], [], set()
    nodes = 0
    for fn, _, v in fields(b):
        if fn == 1:                          # NodeProto
            nodes += 1
            op, dom = "", ""
            for fn2, _, v2 in fields(v):
                if fn2 == 4:
                    op = _s(v2)
                elif fn2 == 7:
                    dom = _s(v2)
                elif fn2 == 5:               # AttributeProto: subgraphs
                    for fn3, _, v3 in fields(v2):
                        if fn3 == 6:
                            nodes += _graph(v3, hist, depth + 1)[3]
                        elif fn3 == 11:
                            nodes += _graph(v3, hist, depth + 1)[3]
            key = op if dom in ("", "ai.onnx") else dom + "." + op
            hist[key] = hist.get(key, 0) + 1
        elif fn == 5 and depth == 0:         # initializer name
            for fn2, _, v2 in fields(v):
                if fn2 == 8:
                    inits.add(_s(v2))
        elif fn == 11 and depth == 0:
            inputs.append(_value_info(v))
        elif fn == 12 and depth == 0:
            outputs.append(_value_info(v))
    return inputs, outputs, inits, nodes


def model_summary(path):
    with open(path, "rb") as f:
        b = f.read()
    info = {"file": os.path.relpath(path, GEN), "bytes": len(b), "opsets": {}}
    hist = {}
    for fn, _, v in fields(b):
        if fn == 1:
            info["ir_version"] = v
        elif fn == 2:
            info["producer"] = _s(v)
        elif fn == 3:
            info["producer_version"] = _s(v)
        elif fn == 8:
            dom, ver = "", 0
            for fn2, _, v2 in fields(v):
                if fn2 == 1:
                    dom = _s(v2)
                elif fn2 == 2:
                    ver = v2
            info["opsets"][dom or "ai.onnx"] = ver
        elif fn == 7:
            ins, outs, inits, n = _graph(v, hist)
            info["inputs"] = [x for x in ins if x["name"] not in inits]
            info["outputs"] = outs
            info["initializers"] = len(inits)
            info["nodes"] = n
    info["ops"] = dict(sorted(hist.items(), key=lambda kv: (-kv[1], kv[0])))
    return info


def read_tensor_pb(path):
    """A TensorProto file (ONNX test vectors) as a numpy array."""
    with open(path, "rb") as f:
        b = f.read()
    dims, dtype, raw, floats = [], 1, None, []
    for fn, wt, v in fields(b):
        if fn == 1:
            dims += _ints(wt, v)
        elif fn == 2:
            dtype = v
        elif fn == 4:                        # float_data
            if wt == 2:
                floats += list(np.frombuffer(bytes(v), "<f4"))
            else:
                floats.append(np.frombuffer(v.to_bytes(4, "little"), "<f4")[0])
        elif fn == 9:
            raw = bytes(v)
    if dtype != 1:
        raise ValueError("%s: data_type %d, want 1 (float)" % (path, dtype))
    a = np.frombuffer(raw, "<f4") if raw is not None else np.array(floats, "<f4")
    return a.reshape(dims).astype(np.float32)


# --------------------------------------------------------------------------
# The Go string literal in onnx-go's mnist_binary.go.

_SIMPLE = {ord("a"): 7, ord("b"): 8, ord("f"): 12, ord("n"): 10, ord("r"): 13,
           ord("t"): 9, ord("v"): 11, ord("\\"): 92, ord('"'): 34, ord("'"): 39}


def go_unquote(lit):
    """Decodes the body of a Go interpreted string literal (bytes between the
    quotes) into the bytes it denotes."""
    out = bytearray()
    i, n = 0, len(lit)
    while i < n:
        c = lit[i]
        if c != 0x5C:                        # not a backslash: the byte itself
            if c == 0x0A:
                raise ValueError("newline inside an interpreted string literal")
            out.append(c)
            i += 1
            continue
        e = lit[i + 1]
        if e in _SIMPLE:
            out.append(_SIMPLE[e])
            i += 2
        elif e == ord("x"):
            out.append(int(lit[i + 2:i + 4], 16))
            i += 4
        elif ord("0") <= e <= ord("7"):
            out.append(int(lit[i + 1:i + 4], 8))
            i += 4
        elif e == ord("u"):
            out += chr(int(lit[i + 2:i + 6], 16)).encode("utf-8")
            i += 6
        elif e == ord("U"):
            out += chr(int(lit[i + 2:i + 10], 16)).encode("utf-8")
            i += 10
        else:
            raise ValueError("unknown escape \\%c at %d" % (e, i))
    return bytes(out)


def onnx_go_dir():
    if os.environ.get("ONNX_GO_DIR"):
        return os.environ["ONNX_GO_DIR"]
    cache = subprocess.check_output(["go", "env", "GOMODCACHE"], text=True).strip()
    return os.path.join(cache, "github.com/owulveryck/onnx-go@v0.5.0")


def write_mnist(force):
    d = os.path.join(onnx_go_dir(), "internal", "examples", "mnist")
    model = os.path.join(MODELS, "mnist_zoo.onnx")
    if force or not os.path.exists(model):
        src = open(os.path.join(d, "mnist_binary.go"), "rb").read()
        start = src.index(b'[]byte("') + len(b'[]byte("')
        end = src.rindex(b'")')
        data = go_unquote(src[start:end])
        if data[:2] != b"\x08\x03" or data[2:4] != b"\x12\x04" or data[4:8] != b"CNTK":
            raise ValueError("mnist_zoo.onnx: unexpected first bytes %r" % data[:8])
        summary = model_summary_bytes(data)
        if summary["nodes"] != 12:
            raise ValueError("mnist_zoo.onnx: %d nodes, want 12" % summary["nodes"])
        with open(model, "wb") as f:
            f.write(data)
        print("wrote %s (%d bytes)" % (os.path.relpath(model, GEN), len(data)))
    outname = "Plus214_Output_0"
    for k in range(3):
        td = os.path.join(d, "test_data_set_%d" % k)
        inp = os.path.join(MODELS, "mnist_zoo.input_%d.npy" % k)
        exp = os.path.join(MODELS, "mnist_zoo.input_%d.official.%s.npy" % (k, outname))
        if force or not (os.path.exists(inp) and os.path.exists(exp)):
            np.save(inp, read_tensor_pb(os.path.join(td, "input_0.pb")))
            np.save(exp, read_tensor_pb(os.path.join(td, "output_0.pb")))


def model_summary_bytes(data):
    tmp = os.path.join(MODELS, ".tmp_summary.onnx")
    with open(tmp, "wb") as f:
        f.write(data)
    try:
        return model_summary(tmp)
    finally:
        os.remove(tmp)


# --------------------------------------------------------------------------
# PyTorch models.

def build_gpt2(torch):
    nn = torch.nn

    class Block(nn.Module):
        def __init__(self, d, h):
            super().__init__()
            self.h = h
            self.ln1 = nn.LayerNorm(d)
            self.qkv = nn.Linear(d, 3 * d)
            self.proj = nn.Linear(d, d)
            self.ln2 = nn.LayerNorm(d)
            self.fc = nn.Linear(d, 4 * d)
            self.act = nn.GELU()
            self.out = nn.Linear(4 * d, d)

        def forward(self, x, mask):
            B, T, C = x.size()
            hd = C // self.h
            q, k, v = self.qkv(self.ln1(x)).split(C, dim=2)
            q = q.view(B, T, self.h, hd).transpose(1, 2)
            k = k.view(B, T, self.h, hd).transpose(1, 2)
            v = v.view(B, T, self.h, hd).transpose(1, 2)
            att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(hd))
            att = att.masked_fill(mask, float("-inf")).softmax(dim=-1)
            y = (att @ v).transpose(1, 2).reshape(B, T, C)
            x = x + self.proj(y)
            return x + self.out(self.act(self.fc(self.ln2(x))))

    class GPT2(nn.Module):
        def __init__(self, vocab=8000, ctx=64, d=384, heads=6, layers=6):
            super().__init__()
            self.wte = nn.Embedding(vocab, d)
            self.wpe = nn.Embedding(ctx, d)
            self.blocks = nn.ModuleList(Block(d, heads) for _ in range(layers))
            self.ln_f = nn.LayerNorm(d)
            self.head = nn.Linear(d, vocab, bias=False)   # untied
            for m in self.modules():                      # GPT-2's init
                if isinstance(m, (nn.Linear, nn.Embedding)):
                    nn.init.normal_(m.weight, 0.0, 0.02)
                if isinstance(m, nn.Linear) and m.bias is not None:
                    nn.init.zeros_(m.bias)

        def forward(self, ids):
            T = ids.size(1)
            pos = torch.arange(T, device=ids.device)
            mask = pos.unsqueeze(0) > pos.unsqueeze(1)    # [T,T], True above the diagonal
            x = self.wte(ids) + self.wpe(pos)
            for b in self.blocks:
                x = b(x, mask)
            return self.head(self.ln_f(x))

    return GPT2()


def warm_batchnorm(torch, model, shape, batches=4):
    """Runs seeded random batches in train mode so BatchNorm running stats
    are non-trivial; then switches to eval."""
    g = torch.Generator().manual_seed(SEED)
    model.train()
    with torch.no_grad():
        for _ in range(batches):
            model(torch.randn(*shape, generator=g) * 1.5 + 0.25)
    model.eval()


MODEL_NAMES = ["resnet18", "mobilenet_v2", "bert_encoder", "gpt2_decoder"]
OUTPUT_NAME = {"resnet18": "logits", "mobilenet_v2": "logits", "bert_encoder": "y",
               "gpt2_decoder": "logits"}


def make_model(torch, name):
    import torchvision
    torch.manual_seed(SEED + MODEL_NAMES.index(name))
    if name == "resnet18":
        m = torchvision.models.resnet18(weights=None)
        warm_batchnorm(torch, m, (8, 3, 224, 224))
        return m, ["input"], ["logits"], {"input": {0: "batch"}, "logits": {0: "batch"}}
    if name == "mobilenet_v2":
        m = torchvision.models.mobilenet_v2(weights=None)
        warm_batchnorm(torch, m, (8, 3, 224, 224))
        return m, ["input"], ["logits"], {"input": {0: "batch"}, "logits": {0: "batch"}}
    if name == "bert_encoder":
        layer = torch.nn.TransformerEncoderLayer(d_model=256, nhead=8, dim_feedforward=1024,
                                                 batch_first=True, dropout=0.0)
        m = torch.nn.TransformerEncoder(layer, num_layers=4)
        return m.eval(), ["x"], ["y"], {"x": {0: "batch"}, "y": {0: "batch"}}
    if name == "gpt2_decoder":
        m = build_gpt2(torch)
        return m.eval(), ["ids"], ["logits"], {"ids": {0: "batch"}, "logits": {0: "batch"}}
    raise KeyError(name)


def make_inputs(name):
    """The seeded test inputs: a list with one array per test case."""
    rng = np.random.default_rng(INPUT_SEED + MODEL_NAMES.index(name))
    if name == "resnet18":
        return [rng.standard_normal((1, 3, 224, 224), dtype=np.float32),
                rng.standard_normal((2, 3, 224, 224), dtype=np.float32)]
    if name == "mobilenet_v2":
        return [rng.standard_normal((1, 3, 224, 224), dtype=np.float32)]
    if name == "bert_encoder":
        return [rng.standard_normal((1, 128, 256), dtype=np.float32)]
    if name == "gpt2_decoder":
        return [rng.integers(0, 8000, size=(1, 64), dtype=np.int64)]
    raise KeyError(name)


def export_models(names, force):
    """Exports each model and writes its inputs and PyTorch's own outputs for
    them (<model>.input_<k>.torch.<output>.npy, a second reference)."""
    todo = []
    for name in names:
        path = os.path.join(MODELS, name + ".onnx")
        inputs = make_inputs(name)
        for k, a in enumerate(inputs):
            p = os.path.join(MODELS, "%s.input_%d.npy" % (name, k))
            if force or not os.path.exists(p):
                np.save(p, a)
        refs = [os.path.join(MODELS, "%s.input_%d.torch.%s.npy" % (name, k, OUTPUT_NAME[name]))
                for k in range(len(inputs))]
        if force or not all(os.path.exists(p) for p in [path] + refs):
            todo.append((name, path, inputs, refs))
    if not todo:
        return
    import torch
    torch.set_num_threads(min(2, os.cpu_count() or 1))
    warnings.filterwarnings("ignore")        # exporter chatter (TracerWarning, etc.)
    for name, path, inputs, refs in todo:
        model, in_names, out_names, dyn = make_model(torch, name)
        with torch.no_grad():
            for a, ref in zip(inputs, refs):
                np.save(ref, model(torch.from_numpy(a)).numpy().astype(np.float32))
        x = torch.from_numpy(inputs[0])
        tmp = path + ".tmp"
        torch.onnx.export(model, (x,), tmp, input_names=in_names, output_names=out_names,
                          dynamic_axes=dyn, opset_version=OPSET, do_constant_folding=True,
                          training=torch.onnx.TrainingMode.EVAL, export_params=True)
        os.replace(tmp, path)
        print("exported %s (torch %s)" % (name, torch.__version__))


# --------------------------------------------------------------------------
# OCR lines for PP-OCRv4 rec.

OCR_LINES = ["Hello World 2024", "Invoice No. 58317", "Total: $42.50 (paid)"]
OCR_FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
OCR_FONT_SIZE = 43      # DejaVu Sans at 43 px: capitals ~31 px tall, ascenders ~32 (the "32 px" line)
OCR_MARGIN = (24, 12)   # left/right, top/bottom margin in px around the font's line box


def render_line(text, font_size, margin):
    """Black text on a white canvas: the font's full line height (ascent +
    descent) plus the margins, so every line gets the same canvas height."""
    from PIL import Image, ImageDraw, ImageFont
    font = ImageFont.truetype(OCR_FONT, font_size)
    ascent, descent = font.getmetrics()
    w = int(math.ceil(font.getlength(text))) + 2 * margin[0]
    h = ascent + descent + 2 * margin[1]
    img = Image.new("RGB", (w, h), (255, 255, 255))
    ImageDraw.Draw(img).text((margin[0], margin[1]), text, font=font, fill=(0, 0, 0))
    return img


def preprocess_rec(img, height=48):
    """PaddleOCR's recognizer preprocessing for one line: resize to height 48
    keeping the aspect ratio (width ceil(48*w/h)), BGR, (x/255-0.5)/0.5,
    NCHW float32. No right padding."""
    from PIL import Image
    w, h = img.size
    nw = int(math.ceil(height * w / h))
    a = np.asarray(img.convert("RGB").resize((nw, height), Image.BILINEAR), dtype=np.float32)
    a = a[:, :, ::-1]                                  # RGB -> BGR
    a = (a / 255.0 - 0.5) / 0.5
    return np.ascontiguousarray(a.transpose(2, 0, 1)[None]).astype(np.float32)


def write_ocr(force, font_size, margin):
    txt = os.path.join(OCR, "lines.txt")
    want = "\n".join(OCR_LINES) + "\n"
    have = open(txt, encoding="utf-8").read() if os.path.exists(txt) else None
    done = have == want and all(os.path.exists(os.path.join(OCR, "line_%d.npy" % k))
                                for k in range(len(OCR_LINES)))
    if done and not force:
        return
    for k, s in enumerate(OCR_LINES):
        img = render_line(s, font_size, margin)
        img.save(os.path.join(OCR, "line_%d.png" % k))
        a = preprocess_rec(img)
        np.save(os.path.join(OCR, "line_%d.npy" % k), a)
        print("ocr line_%d: %r png %dx%d -> input %s" % (k, s, img.size[0], img.size[1], a.shape))
    with open(txt, "w", encoding="utf-8") as f:
        f.write(want)


# --------------------------------------------------------------------------

def write_ops(paths):
    out = os.path.join(GEN, "ops.json")
    summaries = {}
    for name, p in paths:
        if os.path.exists(p):
            summaries[name] = model_summary(p)
    with open(out, "w") as f:
        json.dump(summaries, f, indent=1)
    for name, s in summaries.items():
        opsets = ", ".join("%s %d" % kv for kv in s["opsets"].items())
        ins = "; ".join("%s %s%s" % (x["name"], x["type"], x["shape"]) for x in s["inputs"])
        outs = "; ".join("%s %s%s" % (x["name"], x["type"], x["shape"]) for x in s["outputs"])
        print("%s: %.2f MB, opset %s, ir %s, %d nodes, %d initializers\n  in: %s\n  out: %s"
              % (name, s["bytes"] / 1e6, opsets, s.get("ir_version"), s["nodes"],
                 s["initializers"], ins, outs))
        print("  ops: " + ", ".join("%s %d" % kv for kv in s["ops"].items()))


def main():
    global GEN, MODELS, OCR
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--gen", default=os.path.join(HERE, "gen"))
    ap.add_argument("--force", action="store_true", help="rewrite outputs that exist")
    ap.add_argument("--only", default="", help="comma-separated subset of " + ",".join(MODEL_NAMES))
    ap.add_argument("--ocr-font-size", type=int, default=OCR_FONT_SIZE)
    ap.add_argument("--ocr-margin", type=int, nargs=2, default=list(OCR_MARGIN))
    args = ap.parse_args()
    GEN = os.path.abspath(args.gen)
    MODELS = os.path.join(GEN, "models")
    OCR = os.path.join(GEN, "ocr")
    os.makedirs(MODELS, exist_ok=True)
    os.makedirs(OCR, exist_ok=True)
    names = [n for n in args.only.split(",") if n] or MODEL_NAMES

    export_models(names, args.force)
    write_mnist(args.force)
    write_ocr(args.force, args.ocr_font_size, tuple(args.ocr_margin))
    paths = [(n, os.path.join(MODELS, n + ".onnx")) for n in MODEL_NAMES + ["mnist_zoo"]]
    paths.append(("ppocrv4_rec", os.path.join(OCR, "assets", "ch_PP-OCRv4_rec_infer.onnx")))
    write_ops(paths)


if __name__ == "__main__":
    main()
