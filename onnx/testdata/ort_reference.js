#!/usr/bin/env node
// Reference outputs from ONNX Runtime (onnxruntime-node 1.30.0, CPU) for the
// ONNX importer's tests. Normally run by onnx/testdata/deps.sh
// (`make onnx-models`), after export_models.py.
//
//   node onnx/testdata/ort_reference.js [--bench] [--gen DIR]
//
// For every gen/models/<m>.onnx and each gen/models/<m>.input_<k>.npy it
// writes gen/models/<m>.input_<k>.ort.<output>.npy (one file per model
// output); likewise gen/ocr/line_<k>.ort.<output>.npy for the PP-OCRv4
// recognizer (gen/ocr/assets/ch_PP-OCRv4_rec_infer.onnx). It then checks
//   - the MNIST zoo model's ORT outputs against its official test vectors
//     (gen/models/mnist_zoo.input_<k>.official.<output>.npy), and
//   - that greedy CTC decoding of the recognizer's output reads back each
//     line of gen/ocr/lines.txt,
// writes gen/ort_reference.json (and gen/ocr/ort_decoded.txt), and exits 1
// when a check fails. Output names are used as they are in file names, any
// character outside [A-Za-z0-9._-] replaced with '_'.
//
// --bench also times each model: 5 warm-up runs, then 30 timed runs of
// session.run on input_0 (line_0 for OCR); prints model, input shape and the
// median in ms, and writes gen/ort_times.json.
'use strict';

const fs = require('fs');
const path = require('path');
const os = require('os');

const args = process.argv.slice(2);
const BENCH = args.includes('--bench');
const genArg = args.indexOf('--gen');
const GEN = path.resolve(genArg >= 0 ? args[genArg + 1] : path.join(__dirname, 'gen'));
const MODELS = path.join(GEN, 'models');
const OCR = path.join(GEN, 'ocr');
const OCR_MODEL = path.join(OCR, 'assets', 'ch_PP-OCRv4_rec_infer.onnx');
const OCR_KEYS = path.join(OCR, 'assets', 'ppocr_keys_v1.txt');

const ort = require(path.join(GEN, 'npm', 'node_modules', 'onnxruntime-node'));

const SESSION_OPTIONS = {
  executionProviders: ['cpu'],
  intraOpNumThreads: 2,
  interOpNumThreads: 1,
  graphOptimizationLevel: 'all',
};

// ---------------------------------------------------------------------------
// .npy: NumPy format 1.0, 2.0 and 3.0; little-endian <f4, <i8, <i4 (and |b1,
// |u1 on read); C order only.

const DTYPES = {
  '<f4': { ort: 'float32', Arr: Float32Array, size: 4 },
  '<i8': { ort: 'int64', Arr: BigInt64Array, size: 8 },
  '<i4': { ort: 'int32', Arr: Int32Array, size: 4 },
  '|u1': { ort: 'uint8', Arr: Uint8Array, size: 1 },
  '|b1': { ort: 'bool', Arr: Uint8Array, size: 1 },
  '<f8': { ort: 'float64', Arr: Float64Array, size: 8 },
  '<f2': { ort: 'float16', Arr: Uint16Array, size: 2 },
  '|i1': { ort: 'int8', Arr: Int8Array, size: 1 },
};

function readNpy(file) {
  const buf = fs.readFileSync(file);
  if (buf.length < 10 || buf.readUInt8(0) !== 0x93 || buf.toString('latin1', 1, 6) !== 'NUMPY') {
    throw new Error(`${file}: not a .npy file`);
  }
  const major = buf.readUInt8(6);
  let hlen, off;
  if (major === 1) {
    hlen = buf.readUInt16LE(8);
    off = 10;
  } else if (major === 2 || major === 3) {
    hlen = buf.readUInt32LE(8);
    off = 12;
  } else {
    throw new Error(`${file}: .npy version ${major} not supported`);
  }
  const header = buf.toString(major === 3 ? 'utf8' : 'latin1', off, off + hlen);
  const descr = /'descr'\s*:\s*'([^']+)'/.exec(header);
  const fortran = /'fortran_order'\s*:\s*(True|False)/.exec(header);
  const shape = /'shape'\s*:\s*\(([^)]*)\)/.exec(header);
  if (!descr || !fortran || !shape) throw new Error(`${file}: bad header ${header}`);
  if (fortran[1] === 'True') throw new Error(`${file}: Fortran order not supported`);
  const dt = DTYPES[descr[1]];
  if (!dt) throw new Error(`${file}: dtype ${descr[1]} not supported`);
  const dims = shape[1].split(',').map((s) => s.trim()).filter((s) => s !== '').map(Number);
  const n = dims.reduce((a, b) => a * b, 1);
  const start = off + hlen;
  if (buf.length - start !== n * dt.size) {
    throw new Error(`${file}: ${buf.length - start} data bytes, want ${n * dt.size}`);
  }
  // Copy into an aligned buffer: the data offset need not be a multiple of 8.
  const ab = new ArrayBuffer(n * dt.size);
  new Uint8Array(ab).set(buf.subarray(start));
  return { dtype: descr[1], shape: dims, data: new dt.Arr(ab) };
}

function writeNpy(file, dtype, shape, data) {
  const dt = DTYPES[dtype];
  if (!dt) throw new Error(`writeNpy: dtype ${dtype} not supported`);
  const shp = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
  let header = `{'descr': '${dtype}', 'fortran_order': False, 'shape': ${shp}, }`;
  // Pad with spaces so that magic + version + length + header + '\n' is a
  // multiple of 64, as NumPy does.
  const total = Math.ceil((10 + header.length + 1) / 64) * 64;
  header = header.padEnd(total - 10 - 1, ' ') + '\n';
  const head = Buffer.alloc(10);
  head.writeUInt8(0x93, 0);
  head.write('NUMPY', 1, 'latin1');
  head.writeUInt8(1, 6);
  head.writeUInt8(0, 7);
  head.writeUInt16LE(header.length, 8);
  const body = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  const tmp = file + '.tmp';
  fs.writeFileSync(tmp, Buffer.concat([head, Buffer.from(header, 'latin1'), body]));
  fs.renameSync(tmp, file);
}

function toTensor(a) {
  return new ort.Tensor(DTYPES[a.dtype].ort, a.data, a.shape);
}

function npyDtype(t) {
  switch (t.type) {
    case 'float32': return '<f4';
    case 'int64': return '<i8';
    case 'int32': return '<i4';
    case 'uint8': return '|u1';
    case 'bool': return '|b1';
    default: throw new Error(`output type ${t.type} not supported`);
  }
}

// Max abs difference, and max abs difference relative to max(1, |want|).
function diff(got, want) {
  if (got.length !== want.length) return { max_abs_diff: Infinity, max_rel_diff: Infinity, max_abs_ref: 0 };
  let maxAbs = 0;
  let maxRel = 0;
  let maxRef = 0;
  for (let i = 0; i < want.length; i++) {
    const e = Math.abs(got[i] - want[i]);
    if (!(e <= maxAbs)) maxAbs = e;            // NaN propagates
    maxRel = Math.max(maxRel, e / Math.max(1, Math.abs(want[i])));
    maxRef = Math.max(maxRef, Math.abs(want[i]));
  }
  return { max_abs_diff: maxAbs, max_rel_diff: maxRel, max_abs_ref: maxRef };
}

const safe = (name) => name.replace(/[^A-Za-z0-9._-]/g, '_');
const rel = (p) => path.relative(GEN, p);

// ---------------------------------------------------------------------------

async function runCases(modelPath, inputs, summary) {
  const session = await ort.InferenceSession.create(modelPath, SESSION_OPTIONS);
  if (session.inputNames.length !== 1) {
    throw new Error(`${modelPath}: ${session.inputNames.length} inputs, only single-input models are handled`);
  }
  const entry = { model: rel(modelPath), input: session.inputNames[0], outputs: session.outputNames, cases: [] };
  const results = [];
  for (const inp of inputs) {
    const a = readNpy(inp);
    const out = await session.run({ [session.inputNames[0]]: toTensor(a) });
    const base = inp.replace(/\.npy$/, '');
    const c = { input: rel(inp), shape: a.shape, outputs: {} };
    for (const name of session.outputNames) {
      const t = out[name];
      const file = `${base}.ort.${safe(name)}.npy`;
      writeNpy(file, npyDtype(t), t.dims, t.data);
      c.outputs[name] = { file: rel(file), shape: Array.from(t.dims) };
    }
    entry.cases.push(c);
    results.push(out);
  }
  summary[path.basename(modelPath, '.onnx')] = entry;
  return { session, results };
}

function casesFor(dir, re) {
  return fs.readdirSync(dir)
    .map((f) => [f, re.exec(f)])
    .filter(([, m]) => m)
    .sort((x, y) => Number(x[1][1]) - Number(y[1][1]))
    .map(([f]) => path.join(dir, f));
}

function ctcDecode(t, keys) {
  // t: [1, T, C] probabilities. Greedy: argmax per step, collapse repeats,
  // drop the blank (class 0); class k is keys[k-1], class keys.length+1 a space.
  const [, T, C] = t.dims;
  const d = t.data;
  let s = '';
  let prev = -1;
  const conf = [];
  for (let i = 0; i < T; i++) {
    let best = 0;
    for (let c = 1; c < C; c++) if (d[i * C + c] > d[i * C + best]) best = c;
    if (best !== prev && best !== 0) {
      s += best - 1 < keys.length ? keys[best - 1] : ' ';
      conf.push(d[i * C + best]);
    }
    prev = best;
  }
  return { text: s, minProb: conf.length ? Math.min(...conf) : 0 };
}

async function bench(session, file) {
  const a = readNpy(file);
  const feeds = { [session.inputNames[0]]: toTensor(a) };
  for (let i = 0; i < 5; i++) await session.run(feeds);
  const ms = [];
  for (let i = 0; i < 30; i++) {
    const t0 = process.hrtime.bigint();
    await session.run(feeds);
    ms.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  ms.sort((x, y) => x - y);
  const mean = ms.reduce((s, x) => s + x, 0) / ms.length;
  return { shape: a.shape, mean_ms: mean, median_ms: (ms[14] + ms[15]) / 2, min_ms: ms[0], max_ms: ms[29] };
}

async function main() {
  const summary = { onnxruntime: ort.env.versions, session_options: SESSION_OPTIONS, models: {} };
  const failures = [];
  const sessions = [];

  const models = fs.readdirSync(MODELS).filter((f) => f.endsWith('.onnx')).sort();
  for (const f of models) {
    const base = f.replace(/\.onnx$/, '');
    const inputs = casesFor(MODELS, new RegExp(`^${base.replace(/[.]/g, '\\.')}\\.input_(\\d+)\\.npy$`));
    if (!inputs.length) continue;
    const { session } = await runCases(path.join(MODELS, f), inputs, summary.models);
    sessions.push({ name: base, session, input0: inputs[0] });
  }

  // The exported models: ORT against PyTorch's own outputs, when present.
  summary.vs_torch = {};
  for (const [m, entry] of Object.entries(summary.models)) {
    for (const c of entry.cases) {
      for (const [name, o] of Object.entries(c.outputs)) {
        const ref = path.join(GEN, c.input.replace(/\.npy$/, `.torch.${safe(name)}.npy`));
        if (!fs.existsSync(ref)) continue;
        const d = diff(readNpy(path.join(GEN, o.file)).data, readNpy(ref).data);
        const k = `${path.basename(c.input, '.npy')}.${name}`;
        summary.vs_torch[k] = d;
        console.log(`${k}: ORT vs PyTorch max abs diff ${d.max_abs_diff.toExponential(3)} (max |ref| ${d.max_abs_ref.toPrecision(4)})`);
        if (!(d.max_rel_diff <= 1e-3)) failures.push(`${k}: ORT differs from PyTorch (rel ${d.max_rel_diff})`);
      }
    }
  }

  // MNIST: ORT against the official outputs.
  const mnist = summary.models.mnist_zoo;
  if (mnist) {
    let maxAbs = 0;
    let maxRel = 0;
    for (const c of mnist.cases) {
      for (const [name, o] of Object.entries(c.outputs)) {
        const official = path.join(GEN, c.input.replace(/\.npy$/, `.official.${safe(name)}.npy`));
        const d = diff(readNpy(path.join(GEN, o.file)).data, readNpy(official).data);
        maxAbs = Math.max(maxAbs, d.max_abs_diff);
        maxRel = Math.max(maxRel, d.max_rel_diff);
      }
    }
    summary.mnist_vs_official = { max_abs_diff: maxAbs, max_rel_diff: maxRel };
    console.log(`mnist_zoo: ORT vs official test_data_set_{0,1,2}: max abs diff ${maxAbs.toExponential(3)}, max rel diff ${maxRel.toExponential(3)}`);
    if (maxRel > 1e-4) failures.push(`mnist_zoo differs from the official outputs (rel ${maxRel})`);
  }

  // OCR.
  if (fs.existsSync(OCR_MODEL)) {
    const lines = casesFor(OCR, /^line_(\d+)\.npy$/);
    const want = fs.readFileSync(path.join(OCR, 'lines.txt'), 'utf8').split('\n').filter((s) => s !== '');
    const keys = fs.readFileSync(OCR_KEYS, 'utf8').split('\n').filter((s, i, a) => !(i === a.length - 1 && s === ''));
    const ocrSummary = {};
    const { session, results } = await runCases(OCR_MODEL, lines, ocrSummary);
    const entry = Object.values(ocrSummary)[0];
    entry.decoded = [];
    const out = [];
    results.forEach((r, k) => {
      const d = ctcDecode(r[session.outputNames[0]], keys);
      const ok = d.text === want[k];
      entry.decoded.push({ want: want[k], got: d.text, match: ok, min_prob: d.minProb });
      out.push(d.text);
      console.log(`ocr line_${k}: want ${JSON.stringify(want[k])} got ${JSON.stringify(d.text)} ${ok ? 'ok' : 'MISMATCH'} (min char prob ${d.minProb.toFixed(3)})`);
      if (!ok) failures.push(`ocr line_${k} reads ${JSON.stringify(d.text)}, want ${JSON.stringify(want[k])}`);
    });
    if (lines.length !== want.length) failures.push(`ocr: ${lines.length} line_*.npy but ${want.length} lines in lines.txt`);
    fs.writeFileSync(path.join(OCR, 'ort_decoded.txt'), out.join('\n') + '\n');
    summary.models.ppocrv4_rec = entry;
    sessions.push({ name: 'ppocrv4_rec', session, input0: lines[0] });
  }

  fs.writeFileSync(path.join(GEN, 'ort_reference.json'), JSON.stringify(summary, null, 1) + '\n');

  if (BENCH) {
    const times = {
      onnxruntime: ort.env.versions.node, threads: { intra: 2, inter: 1 },
      cpu: os.cpus()[0].model, cores: os.cpus().length, date: new Date().toISOString(),
      note: 'shared, noisy machine; 5 warm-up + 30 timed session.run calls, median', models: {},
    };
    console.log('\nmodel          input shape              median ms   (min..max)');
    for (const s of sessions) {
      const b = await bench(s.session, s.input0);
      times.models[s.name] = b;
      console.log(`${s.name.padEnd(14)} ${JSON.stringify(b.shape).padEnd(24)} ${b.median_ms.toFixed(2).padStart(9)}   (${b.min_ms.toFixed(2)}..${b.max_ms.toFixed(2)})`);
    }
    fs.writeFileSync(path.join(GEN, 'ort_times.json'), JSON.stringify(times, null, 1) + '\n');
  }

  if (failures.length) {
    for (const f of failures) console.error(`ort_reference: ${f}`);
    process.exitCode = 1;
  }
}

// Required as a module (bench/ort_worker.js), it only lends its helpers.
if (require.main === module) {
  main().catch((e) => {
    console.error(e);
    process.exitCode = 1;
  });
}
module.exports = { ort, readNpy, writeNpy, bench, SESSION_OPTIONS };
