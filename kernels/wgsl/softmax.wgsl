// Softmax and log-softmax of each row of a dense [rows, cols] matrix, one
// workgroup per row: a tree reduction finds the row maximum, a second one the
// sum of exp(x - max), so large logits never overflow.
struct Params {
  rows: u32,
  cols: u32,
  log: u32,
  pad0: u32,
}
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;

var<workgroup> red: array<f32, 256>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let row = linear_group(wg, nwg);
  let valid = row < p.rows;
  let base = row * p.cols;
  var m = -inf_f32();
  if (valid) {
    for (var c = lid; c < p.cols; c = c + 256u) {
      m = max_nan(m, x[base + c]);
    }
  }
  red[lid] = m;
  workgroupBarrier();
  for (var s = 128u; s > 0u; s = s >> 1u) {
    if (lid < s) {
      red[lid] = max_nan(red[lid], red[lid + s]);
    }
    workgroupBarrier();
  }
  let mx = red[0];
  workgroupBarrier();
  var sum = 0.0;
  if (valid) {
    for (var c = lid; c < p.cols; c = c + 256u) {
      sum = sum + exp(x[base + c] - mx);
    }
  }
  red[lid] = sum;
  workgroupBarrier();
  for (var s = 128u; s > 0u; s = s >> 1u) {
    if (lid < s) {
      red[lid] = red[lid] + red[lid + s];
    }
    workgroupBarrier();
  }
  let total = red[0];
  if (!valid) { return; }
  if (p.log != 0u) {
    let lt = log(total);
    for (var c = lid; c < p.cols; c = c + 256u) {
      y[base + c] = (x[base + c] - mx) - lt;
    }
  } else {
    let inv = 1.0 / total;
    for (var c = lid; c < p.cols; c = c + 256u) {
      y[base + c] = exp(x[base + c] - mx) * inv;
    }
  }
}
