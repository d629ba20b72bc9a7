#!/usr/bin/env node
// ONNX Runtime's outputs for the per-operator conformance cases that
// gen_op_cases.py writes into onnx/testdata/ops/ (see ops/README.md).
//
//   node onnx/testdata/op_cases_ort.js [--gen DIR] [--only REGEXP]
//
// Needs onnxruntime-node 1.30.0 under gen/npm (`make onnx-models`); it is
// loaded through ort_reference.js, whose .npy reader it uses. For every case
// of ops/cases.json it runs the model on its inputs (CPU execution provider,
// intraOpNumThreads 1, interOpNumThreads 1, graph optimizations disabled, so
// that each operator runs as its own kernel) and writes each output to the
// file the manifest names, ops/<case>.ort.<output>.npy. A case that the
// importer must refuse is still run, to show that ONNX Runtime accepts the
// model, but its outputs are not kept. It checks that every output the
// manifest lists comes back with the type the model declares, and exits 1
// when a case fails.
'use strict';

const fs = require('fs');
const path = require('path');

const { ort, readNpy, writeNpy: writeNpyData } = require('./ort_reference.js');

const OPS = path.join(__dirname, 'ops');
const args = process.argv.slice(2);
const onlyArg = args.indexOf('--only');
const ONLY = onlyArg >= 0 ? new RegExp(args[onlyArg + 1]) : null;

const SESSION_OPTIONS = {
  executionProviders: ['cpu'],
  intraOpNumThreads: 1,
  interOpNumThreads: 1,
  graphOptimizationLevel: 'disabled',
};

// .npy writer: format 1.0, header padded to 64 bytes as NumPy does.
const NPY = {
  float32: '<f4', float64: '<f8', float16: '<f2', int64: '<i8', int32: '<i4', uint8: '|u1', int8: '|i1', bool: '|b1',
};

// writeNpy writes an ORT output tensor with ort_reference.js's writer.
function writeNpy(file, t) {
  const descr = NPY[t.type];
  if (!descr) throw new Error(`${file}: output type ${t.type} not supported`);
  writeNpyData(file, descr, t.dims, t.data);
}

const ORT_TYPES = { '<f4': 'float32', '<i8': 'int64', '<i4': 'int32', '|u1': 'uint8', '|b1': 'bool' };

async function main() {
  const doc = JSON.parse(fs.readFileSync(path.join(OPS, 'cases.json'), 'utf8'));
  const failures = [];
  let ran = 0;
  for (const c of doc.cases) {
    if (ONLY && !ONLY.test(c.name)) continue;
    try {
      const session = await ort.InferenceSession.create(path.join(OPS, c.model), SESSION_OPTIONS);
      const feeds = {};
      for (const [name, file] of Object.entries(c.inputs)) {
        const a = readNpy(path.join(OPS, file));
        feeds[name] = new ort.Tensor(ORT_TYPES[a.dtype], a.data, a.shape);
      }
      const out = await session.run(feeds);
      for (const [name, type] of Object.entries(c.output_types)) {
        const t = out[name];
        if (!t) throw new Error(`no output ${name}`);
        if (t.type !== type) throw new Error(`output ${name} is ${t.type}, the model declares ${type}`);
      }
      for (const [name, file] of Object.entries(c.outputs)) {
        writeNpy(path.join(OPS, file), out[name]);
      }
      if (typeof session.release === 'function') await session.release();
      ran++;
    } catch (e) {
      failures.push(`${c.name}: ${e.message}`);
    }
  }
  console.log(`op_cases_ort: ${ran} cases run in onnxruntime-node ${ort.env.versions ? ort.env.versions.common : ''}`);
  if (failures.length) {
    for (const f of failures) console.error(`op_cases_ort: ${f}`);
    process.exitCode = 1;
  }
}

main().catch((e) => {
  console.error(e);
  process.exitCode = 1;
});
