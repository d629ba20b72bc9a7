#!/usr/bin/env node
// A long-lived ONNX Runtime timing worker for bench/compare_onnx.py: each
// line on stdin is a JSON request {"model": PATH, "input": PATH}; the worker
// answers one JSON line {"mean_ms": X, "median_ms": Y, ...} (5 warm-up
// runs, then 30 timed session.run calls, intraOpNumThreads 2), keeping
// sessions open between requests so that no measurement pays the model's
// load.
'use strict';

const path = require('path');
const readline = require('readline');
const ref = require(path.join(__dirname, '..', 'onnx', 'testdata', 'ort_reference.js'));

const sessions = new Map();
const rl = readline.createInterface({ input: process.stdin });
rl.on('line', async (line) => {
  rl.pause();
  try {
    const req = JSON.parse(line);
    let s = sessions.get(req.model);
    if (!s) {
      s = await ref.ort.InferenceSession.create(req.model, ref.SESSION_OPTIONS);
      sessions.set(req.model, s);
    }
    const b = await ref.bench(s, req.input);
    process.stdout.write(JSON.stringify(b) + '\n');
  } catch (e) {
    process.stdout.write(JSON.stringify({ error: String(e) }) + '\n');
  }
  rl.resume();
});
