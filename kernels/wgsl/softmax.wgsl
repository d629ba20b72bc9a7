// Softmax and log-softmax of each row of a dense [rows, cols] matrix, one
// workgroup per row: a reduction finds the row maximum, a second one the
// sum of exp(x - max), so large logits never overflow; with subgroup
// operations (.Subgroups) the reductions shuffle within subgroups instead
// of climbing a tree of barriers. With a prologue (.Pro), x is not bound:
// the elementwise expression it stands for (see device/webgpu/fuse.go) is
// evaluated wherever an element of x is read.
struct Params {
  rows: u32,
  cols: u32,
  log: u32,
  first: u32, // x and y's first row starts at element first
{{- with .Pro}}
  pad: u32,
  rank: u32,
  pad0: u32,
  pad1: u32,
{{- template "fused_fields" .}}
{{- end}}
}
@group(0) @binding(0) var<uniform> p: Params;
{{- with .Pro}}
{{template "fused_decls" .}}
{{- else}}
@group(0) @binding(1) var<storage, read> x: array<f32>;
{{- end}}
@group(0) @binding(2) var<storage, read_write> y: array<f32>;

// load_x reads element i of x.
fn load_x(i: u32) -> f32 {
{{- with .Pro}}
{{- template "fused_eval" .}}
  return f32({{.Result}});
{{- else}}
  return x[i];
{{- end}}
}

var<workgroup> red: array<f32, 256>;

{{- if .Subgroups}}
var<workgroup> slots: atomic<u32>;

// row_max and row_sum combine one value per thread over the workgroup and
// return the result to every thread: a butterfly of subgroup shuffles,
// then the subgroups' results (256 / subgroup size of them, every subgroup
// being full) in workgroup memory.
fn row_max(v: f32, lid: u32, sid: u32, sgs: u32) -> f32 {
  var a = v;
  for (var m = 1u; m < sgs; m = m << 1u) {
    a = max_nan(a, subgroupShuffleXor(a, m));
  }
  publish(a, lid, sid);
  var t = red[0];
  for (var i = 1u; i < 256u / sgs; i = i + 1u) {
    t = max_nan(t, red[i]);
  }
  workgroupBarrier();
  return t;
}

fn row_sum(v: f32, lid: u32, sid: u32, sgs: u32) -> f32 {
  var a = v;
  for (var m = 1u; m < sgs; m = m << 1u) {
    a = a + subgroupShuffleXor(a, m);
  }
  publish(a, lid, sid);
  var t = red[0];
  for (var i = 1u; i < 256u / sgs; i = i + 1u) {
    t = t + red[i];
  }
  workgroupBarrier();
  return t;
}

// publish stores each subgroup's result in a slot of its own of red. The
// slot counter is reset first: workgroup memory is not zero on every
// driver.
fn publish(a: f32, lid: u32, sid: u32) {
  if (lid == 0u) {
    atomicStore(&slots, 0u);
  }
  workgroupBarrier();
  if (sid == 0u) {
    red[atomicAdd(&slots, 1u)] = a;
  }
  workgroupBarrier();
}
{{- else}}

// row_max and row_sum combine one value per thread over the workgroup by a
// tree in workgroup memory and return the result to every thread.
fn row_max(v: f32, lid: u32) -> f32 {
  red[lid] = v;
  workgroupBarrier();
  for (var s = 128u; s > 0u; s = s >> 1u) {
    if (lid < s) {
      red[lid] = max_nan(red[lid], red[lid + s]);
    }
    workgroupBarrier();
  }
  let t = red[0];
  workgroupBarrier();
  return t;
}

fn row_sum(v: f32, lid: u32) -> f32 {
  red[lid] = v;
  workgroupBarrier();
  for (var s = 128u; s > 0u; s = s >> 1u) {
    if (lid < s) {
      red[lid] = red[lid] + red[lid + s];
    }
    workgroupBarrier();
  }
  let t = red[0];
  workgroupBarrier();
  return t;
}
{{- end}}

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32{{if .Subgroups}}, @builtin(subgroup_invocation_id) sid: u32, @builtin(subgroup_size) sgs: u32{{end}}) {
  let row = linear_group(wg, nwg);
  let valid = row < p.rows;
  let base = p.first + row * p.cols;
  var m = -inf_f32();
  if (valid) {
    for (var c = lid; c < p.cols; c = c + 256u) {
      m = max_nan(m, load_x(base + c));
    }
  }
  let mx = row_max(m, lid{{if .Subgroups}}, sid, sgs{{end}});
  var sum = 0.0;
  if (valid) {
    for (var c = lid; c < p.cols; c = c + 256u) {
      sum = sum + exp(load_x(base + c) - mx);
    }
  }
  let total = row_sum(sum, lid{{if .Subgroups}}, sid, sgs{{end}});
  if (!valid) { return; }
  if (p.log != 0u) {
    let lt = log(total);
    for (var c = lid; c < p.cols; c = c + 256u) {
      y[base + c] = (load_x(base + c) - mx) - lt;
    }
  } else {
    let inv = 1.0 / total;
    for (var c = lid; c < p.cols; c = c + 256u) {
      y[base + c] = exp(load_x(base + c) - mx) * inv;
    }
  }
}

// short: one thread per row, for rows too short to occupy a workgroup
// (attention scores over a few dozen keys): three passes over the row in
// the thread, no barriers.
@compute @workgroup_size(256)
fn short(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let row = gid.x + gid.y * nwg.x * 256u;
  if (row >= p.rows) { return; }
  let base = p.first + row * p.cols;
  var mx = -inf_f32();
  for (var c = 0u; c < p.cols; c = c + 1u) {
    mx = max_nan(mx, load_x(base + c));
  }
  var total = 0.0;
  for (var c = 0u; c < p.cols; c = c + 1u) {
    total = total + exp(load_x(base + c) - mx);
  }
  if (p.log != 0u) {
    let lt = log(total);
    for (var c = 0u; c < p.cols; c = c + 1u) {
      y[base + c] = (load_x(base + c) - mx) - lt;
    }
  } else {
    let inv = 1.0 / total;
    for (var c = 0u; c < p.cols; c = c + 1u) {
      y[base + c] = exp(load_x(base + c) - mx) * inv;
    }
  }
}
