// Index of the maximum (or minimum) along the last dimension of a strided
// view, first index on ties, NaN counting as the extreme. One workgroup per
// output row.
struct Params {
  n_out: u32,
  n_red: u32,
  rank_out: u32,
  st_red: u32,
  off: u32,
  y_off: u32, // output o is y[y_off + o]
  pad1: u32,
  pad2: u32,
  shape_out: array<vec4<u32>, 2>,
  st_out: array<vec4<u32>, 2>,
}
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<{{.T}}>;
@group(0) @binding(2) var<storage, read_write> y: array<i32>;

fn out_base(o: u32) -> u32 {
  var rem = o;
  var base = p.off;
  for (var d = p.rank_out; d > 0u; d = d - 1u) {
    let k = d - 1u;
    let s = p.shape_out[k >> 2u][k & 3u];
    base = base + (rem % s) * p.st_out[k >> 2u][k & 3u];
    rem = rem / s;
  }
  return base;
}

// better reports whether (v, i) should replace (w, j) as the running answer.
fn better(v: {{.T}}, i: u32, w: {{.T}}, j: u32) -> bool {
  if (i == 0xffffffffu) { return false; }
  if (j == 0xffffffffu) { return true; }
{{if eq .T "f32"}}
  if (is_nan(w)) { return is_nan(v) && i < j; }
  if (is_nan(v)) { return true; }
{{end}}
  if (v == w) { return i < j; }
  return v {{.Cmp}} w;
}

var<workgroup> best_v: array<{{.T}}, 256>;
var<workgroup> best_i: array<u32, 256>;
{{- if .Subgroups}}
var<workgroup> slots: atomic<u32>;
{{- end}}

// main: each thread finds the best of a strided share of the row; the 256
// answers are then merged by a tree in workgroup memory or, with subgroup
// operations (.Subgroups), by a butterfly of shuffles within each subgroup
// whose answers one thread merges. better() decides every merge, so ties
// and NaN go the same way on both paths.
@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32{{if .Subgroups}}, @builtin(subgroup_invocation_id) sid: u32, @builtin(subgroup_size) sgs: u32{{end}}) {
  let o = linear_group(wg, nwg);
{{- if .Subgroups}}
  // Workgroup memory is not zero on every driver: reset the slot count.
  if (lid == 0u) {
    atomicStore(&slots, 0u);
  }
  workgroupBarrier();
{{- end}}
  var bv: {{.T}} = {{.T}}(0);
  var bi = 0xffffffffu;
  if (o < p.n_out) {
    let base = out_base(o);
    for (var r = lid; r < p.n_red; r = r + 256u) {
      let v = x[base + r * p.st_red];
      if (better(v, r, bv, bi)) {
        bv = v;
        bi = r;
      }
    }
  }
{{- if .Subgroups}}
  for (var m = 1u; m < sgs; m = m << 1u) {
    let ov = subgroupShuffleXor(bv, m);
    let oi = subgroupShuffleXor(bi, m);
    if (better(ov, oi, bv, bi)) {
      bv = ov;
      bi = oi;
    }
  }
  if (sid == 0u) {
    let k = atomicAdd(&slots, 1u);
    best_v[k] = bv;
    best_i[k] = bi;
  }
  workgroupBarrier();
  if (lid == 0u && o < p.n_out) {
    let n = atomicLoad(&slots);
    for (var k = 0u; k < n; k = k + 1u) {
      if (better(best_v[k], best_i[k], bv, bi)) {
        bv = best_v[k];
        bi = best_i[k];
      }
    }
    y[p.y_off + o] = i32(bi);
  }
{{- else}}
  best_v[lid] = bv;
  best_i[lid] = bi;
  workgroupBarrier();
  for (var s = 128u; s > 0u; s = s >> 1u) {
    if (lid < s) {
      if (better(best_v[lid + s], best_i[lid + s], best_v[lid], best_i[lid])) {
        best_v[lid] = best_v[lid + s];
        best_i[lid] = best_i[lid + s];
      }
    }
    workgroupBarrier();
  }
  if (lid == 0u && o < p.n_out) {
    y[p.y_off + o] = i32(best_i[0]);
  }
{{- end}}
}
