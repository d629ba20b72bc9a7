// Index primitives over [outer, n, inner] sources: IndexSelect and Gather
// read through an int32 index, IndexAdd and ScatterAdd accumulate through it
// (atomically, since indices may repeat). An index outside [0, n) reads as
// 0 or is skipped, and the first one is recorded in the status buffer:
// status[0] = op code, status[1] = index, status[2] = n.
//
// A dispatch covers outer slices from one the host chose; element (o, k, i)
// of the [outer, n, inner] side is at (o·n + k)·inner + i + n_off and
// element t of the [outer, m, inner] side at t + m_off (and of a Gather
// index at t + idx_off), the offsets wrapping modulo 2³² so that they may
// be negative. Only indices in [lo, hi) are used: a side too large for one
// binding is covered by several dispatches, one per range of n, and the
// first one (lo = 0) writes the zeros of invalid indices.
struct Params {
  outer: u32,
  n: u32,
  m: u32,
  inner: u32,
  total: u32,
  op: u32,
  lo: u32,
  hi: u32,
  n_off: u32,
  m_off: u32,
  idx_off: u32,
  pad0: u32,
}
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> src: array<{{.T}}>;
@group(0) @binding(2) var<storage, read> idx: array<i32>;
@group(0) @binding(3) var<storage, read_write> dst: array<{{.DT}}>;
@group(0) @binding(4) var<storage, read_write> status: array<atomic<u32>, 4>;

fn report(k: i32) {
  loop {
    let r = atomicCompareExchangeWeak(&status[0], 0u, p.op);
    if (r.exchanged) {
      atomicStore(&status[1], bitcast<u32>(k));
      atomicStore(&status[2], p.n);
      return;
    }
    if (r.old_value != 0u) {
      return;
    }
  }
}

fn valid(k: i32) -> bool {
  if (k < 0 || u32(k) >= p.n) {
    report(k);
    return false;
  }
  return true;
}

// inside reports whether the valid index k is in this dispatch's range.
fn inside(k: i32) -> bool {
  return u32(k) >= p.lo && u32(k) < p.hi;
}

// big is the element (o, k, i) of the [outer, n, inner] side.
fn big(o: u32, k: i32, i: u32) -> u32 {
  return (o * p.n + u32(k)) * p.inner + i + p.n_off;
}

{{if .Atomic}}
fn accumulate(i: u32, v: {{.T}}) {
{{if eq .T "f32"}}
  var old = atomicLoad(&dst[i]);
  loop {
    let r = atomicCompareExchangeWeak(&dst[i], old, bitcast<u32>(bitcast<f32>(old) + v));
    if (r.exchanged) { return; }
    old = r.old_value;
  }
{{else}}
  atomicAdd(&dst[i], v);
{{end}}
}

// index_add: dst[o, idx[j], i] += src[o, j, i].
@compute @workgroup_size(256)
fn index_add(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let t = gid.x + gid.y * nwg.x * 256u;
  if (t >= p.total) { return; }
  let i = t % p.inner;
  let j = (t / p.inner) % p.m;
  let o = t / (p.inner * p.m);
  let k = idx[j];
  if (valid(k) && inside(k)) {
    accumulate(big(o, k, i), src[t + p.m_off]);
  }
}

// scatter_add: dst[o, idx[o, j, i], i] += src[o, j, i].
@compute @workgroup_size(256)
fn scatter_add(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let t = gid.x + gid.y * nwg.x * 256u;
  if (t >= p.total) { return; }
  let i = t % p.inner;
  let o = t / (p.inner * p.m);
  let k = idx[t + p.idx_off];
  if (valid(k) && inside(k)) {
    accumulate(big(o, k, i), src[t + p.m_off]);
  }
}
{{else}}
// take sets element t of dst to element (o, k, i) of src, or to 0 when k is
// invalid.
fn take(t: u32, o: u32, k: i32, i: u32) {
  if (!valid(k)) {
    if (p.lo == 0u) {
      dst[t + p.m_off] = {{.T}}(0);
    }
  } else if (inside(k)) {
    dst[t + p.m_off] = src[big(o, k, i)];
  }
}

// index_select: dst[o, j, i] = src[o, idx[j], i].
@compute @workgroup_size(256)
fn index_select(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let t = gid.x + gid.y * nwg.x * 256u;
  if (t >= p.total) { return; }
  let i = t % p.inner;
  let j = (t / p.inner) % p.m;
  let o = t / (p.inner * p.m);
  take(t, o, idx[j], i);
}

// gather: dst[o, j, i] = src[o, idx[o, j, i], i].
@compute @workgroup_size(256)
fn gather(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let t = gid.x + gid.y * nwg.x * 256u;
  if (t >= p.total) { return; }
  let i = t % p.inner;
  let o = t / (p.inner * p.m);
  take(t, o, idx[t + p.idx_off], i);
}
{{end}}
