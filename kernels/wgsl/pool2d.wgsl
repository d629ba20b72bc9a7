// 2-D max and average pooling over NCHW tensors and their gradients, one
// thread per output element (forward) or per input element (gradients, which
// gather from every window that covers the element, so no atomics are
// needed).
struct Params {
  n: u32,
  c: u32,
  h: u32,
  w: u32,
  kh: u32,
  kw: u32,
  oh: u32,
  ow: u32,
  sh: u32,
  sw: u32,
  ph: u32,
  pw: u32,
  include_pad: u32,
  total: u32,
  // Each binding starts this many elements before the first plane's, so
  // that a tensor larger than one binding is pooled in parts of its planes.
  in0_off: u32,
  in1_off: u32,
  out0_off: u32,
  out1_off: u32,
  pad0: u32,
  pad1: u32,
}
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> in0: array<f32>;
@group(0) @binding(2) var<storage, read> in1: array<i32>;
@group(0) @binding(3) var<storage, read_write> out0: array<f32>;
@group(0) @binding(4) var<storage, read_write> out1: array<i32>;

fn index(gid: vec3<u32>, nwg: vec3<u32>) -> u32 {
  return gid.x + gid.y * nwg.x * 256u;
}
{{template "divmod"}}
// split decomposes t, an index into planes of r×q elements, into (plane,
// row, column).
fn split(t: u32, r: u32, q: u32) -> vec3<u32> {
  let a = divmod(t, q);
  let b = divmod(a.x, r);
  return vec3<u32>(b.x, b.y, a.y);
}

// window_divisor is the divisor PyTorch's avg_pool2d uses for window (oy, ox).
fn window_divisor(oy: u32, ox: u32) -> f32 {
  let hs = i32(oy * p.sh) - i32(p.ph);
  let ws = i32(ox * p.sw) - i32(p.pw);
  var he = min(hs + i32(p.kh), i32(p.h + p.ph));
  var we = min(ws + i32(p.kw), i32(p.w + p.pw));
  if (p.include_pad != 0u) {
    return f32((he - hs) * (we - ws));
  }
  he = min(he, i32(p.h));
  we = min(we, i32(p.w));
  return f32((he - max(hs, 0)) * (we - max(ws, 0)));
}

// max_forward: in0 = x; out0 = y, out1 = argmax within the plane.
@compute @workgroup_size(256)
fn max_forward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let t = index(gid, nwg);
  if (t >= p.total) { return; }
  let d = split(t, p.oh, p.ow);
  let oy = d.y;
  let ox = d.z;
  let base = p.in0_off + d.x * p.h * p.w;
  var best = -inf_f32();
  var bi = -1;
  // Positions in the padding read the plane's first element instead, and
  // select nothing (no masked loads, which a software adapter runs lane
  // by lane).
  for (var ky = 0u; ky < p.kh; ky = ky + 1u) {
    let iy = i32(oy * p.sh + ky) - i32(p.ph);
    for (var kx = 0u; kx < p.kw; kx = kx + 1u) {
      let ix = i32(ox * p.sw + kx) - i32(p.pw);
      let ok = u32(iy) < p.h && u32(ix) < p.w;
      let k = iy * i32(p.w) + ix;
      let v = in0[base + select(0u, u32(k), ok)];
      // As PyTorch: a larger value or a NaN replaces the running maximum,
      // so ties keep the first and NaNs the last.
      let take = ok && (bi < 0 || v > best || is_nan(v));
      best = select(best, v, take);
      bi = select(bi, k, take);
    }
  }
  out0[p.out0_off + t] = best;
  out1[p.out1_off + t] = bi;
}

// max_backward: in0 = dy, in1 = argmax; out0 = dx.
@compute @workgroup_size(256)
fn max_backward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let t = index(gid, nwg);
  if (t >= p.total) { return; }
  let d = split(t, p.h, p.w);
  let plane = d.x;
  let iy = d.y;
  let ix = d.z;
  let k = i32(iy * p.w + ix);
  let oy0 = max(i32(iy + p.ph) - i32(p.kh) + i32(p.sh), 0) / i32(p.sh);
  let oy1 = min(i32(iy + p.ph) / i32(p.sh), i32(p.oh) - 1);
  let ox0 = max(i32(ix + p.pw) - i32(p.kw) + i32(p.sw), 0) / i32(p.sw);
  let ox1 = min(i32(ix + p.pw) / i32(p.sw), i32(p.ow) - 1);
  var acc = 0.0;
  for (var oy = oy0; oy <= oy1; oy = oy + 1) {
    for (var ox = ox0; ox <= ox1; ox = ox + 1) {
      let o = (plane * p.oh + u32(oy)) * p.ow + u32(ox);
      if (in1[p.in1_off + o] == k) {
        acc = acc + in0[p.in0_off + o];
      }
    }
  }
  out0[p.out0_off + t] = acc;
}

// max_backward_tiled is max_backward where the windows tile the input
// exactly (stride = kernel, no padding, nothing left over): one thread per
// window writes its elements, dy where its maximum was and zero elsewhere,
// with a fifth of the divisions (a CPU adapter cannot vectorise them).
@compute @workgroup_size(256)
fn max_backward_tiled(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let t = index(gid, nwg);
  if (t >= p.total) { return; }
  let d = split(t, p.oh, p.ow);
  let plane = d.x;
  let oy = d.y;
  let ox = d.z;
  let g = in0[p.in0_off + t];
  let k = in1[p.in1_off + t];
  let base = p.out0_off + plane * p.h * p.w;
  for (var ky = 0u; ky < p.kh; ky = ky + 1u) {
    let row = (oy * p.kh + ky) * p.w + ox * p.kw;
    for (var kx = 0u; kx < p.kw; kx = kx + 1u) {
      out0[base + row + kx] = select(0.0, g, i32(row + kx) == k);
    }
  }
}

// avg_forward: in0 = x; out0 = y.
@compute @workgroup_size(256)
fn avg_forward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let t = index(gid, nwg);
  if (t >= p.total) { return; }
  let d = split(t, p.oh, p.ow);
  let oy = d.y;
  let ox = d.z;
  let base = d.x * p.h * p.w;
  var acc = 0.0;
  for (var ky = 0u; ky < p.kh; ky = ky + 1u) {
    let iy = i32(oy * p.sh + ky) - i32(p.ph);
    if (iy < 0 || iy >= i32(p.h)) { continue; }
    for (var kx = 0u; kx < p.kw; kx = kx + 1u) {
      let ix = i32(ox * p.sw + kx) - i32(p.pw);
      if (ix < 0 || ix >= i32(p.w)) { continue; }
      acc = acc + in0[p.in0_off + base + u32(iy) * p.w + u32(ix)];
    }
  }
  out0[p.out0_off + t] = acc / window_divisor(oy, ox);
}

// avg_backward: in0 = dy; out0 = dx.
@compute @workgroup_size(256)
fn avg_backward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let t = index(gid, nwg);
  if (t >= p.total) { return; }
  let d = split(t, p.h, p.w);
  let plane = d.x;
  let iy = d.y;
  let ix = d.z;
  let oy0 = max(i32(iy + p.ph) - i32(p.kh) + i32(p.sh), 0) / i32(p.sh);
  let oy1 = min(i32(iy + p.ph) / i32(p.sh), i32(p.oh) - 1);
  let ox0 = max(i32(ix + p.pw) - i32(p.kw) + i32(p.sw), 0) / i32(p.sw);
  let ox1 = min(i32(ix + p.pw) / i32(p.sw), i32(p.ow) - 1);
  var acc = 0.0;
  for (var oy = oy0; oy <= oy1; oy = oy + 1) {
    for (var ox = ox0; ox <= ox1; ox = ox + 1) {
      acc = acc + in0[p.in0_off + (plane * p.oh + u32(oy)) * p.ow + u32(ox)] / window_divisor(u32(oy), u32(ox));
    }
  }
  out0[p.out0_off + t] = acc;
}
