// Direct 2-D convolution (cross-correlation, as PyTorch) over NCHW tensors
// with stride, padding, dilation and groups, and its two gradients. Each
// entry point gives one thread one element of its output. The outermost
// loop of each entry runs over [first, last) only, so that the host can cut
// long loops into several dispatches: forward and input_grad then add into
// their output (accumulate), weight_grad writes partial sums at out_off for
// a reduction to combine.
struct Params {
  n: u32,
  c: u32,
  h: u32,
  w: u32,
  o: u32,
  kh: u32,
  kw: u32,
  oh: u32,
  ow: u32,
  sh: u32,
  sw: u32,
  ph: u32,
  pw: u32,
  dh: u32,
  dw: u32,
  groups: u32,
  total: u32,
  first: u32,
  last: u32,
  accumulate: u32,
  out_off: u32,
  pad0: u32,
  pad1: u32,
  pad2: u32,
}

fn store(t: u32, v: f32) {
  if (p.accumulate != 0u) {
    out[p.out_off + t] = out[p.out_off + t] + v;
  } else {
    out[p.out_off + t] = v;
  }
}
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> in0: array<f32>;
@group(0) @binding(2) var<storage, read> in1: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

// forward: in0 = x [N, C, H, W], in1 = w [O, C/g, KH, KW], out = y [N, O, OH, OW].
@compute @workgroup_size(256)
fn forward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let t = gid.x + gid.y * nwg.x * 256u;
  if (t >= p.total) { return; }
  let ox = t % p.ow;
  let oy = (t / p.ow) % p.oh;
  let o = (t / (p.ow * p.oh)) % p.o;
  let n = t / (p.ow * p.oh * p.o);
  let cg = p.c / p.groups;
  let g = o / (p.o / p.groups);
  var acc = 0.0;
  for (var ci = p.first; ci < p.last; ci = ci + 1u) {
    let xc = (n * p.c + g * cg + ci) * p.h;
    let wc = (o * cg + ci) * p.kh;
    for (var ky = 0u; ky < p.kh; ky = ky + 1u) {
      let iy = i32(oy * p.sh + ky * p.dh) - i32(p.ph);
      if (iy < 0 || iy >= i32(p.h)) { continue; }
      let xrow = (xc + u32(iy)) * p.w;
      let wrow = (wc + ky) * p.kw;
      for (var kx = 0u; kx < p.kw; kx = kx + 1u) {
        let ix = i32(ox * p.sw + kx * p.dw) - i32(p.pw);
        if (ix < 0 || ix >= i32(p.w)) { continue; }
        acc = acc + in0[xrow + u32(ix)] * in1[wrow + kx];
      }
    }
  }
  store(t, acc);
}

// input_grad: in0 = dy [N, O, OH, OW], in1 = w, out = dx [N, C, H, W].
@compute @workgroup_size(256)
fn input_grad(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let t = gid.x + gid.y * nwg.x * 256u;
  if (t >= p.total) { return; }
  let ix = t % p.w;
  let iy = (t / p.w) % p.h;
  let c = (t / (p.w * p.h)) % p.c;
  let n = t / (p.w * p.h * p.c);
  let cg = p.c / p.groups;
  let og = p.o / p.groups;
  let g = c / cg;
  let ci = c % cg;
  var acc = 0.0;
  for (var oo = p.first; oo < p.last; oo = oo + 1u) {
    let o = g * og + oo;
    for (var ky = 0u; ky < p.kh; ky = ky + 1u) {
      let ty = i32(iy + p.ph) - i32(ky * p.dh);
      if (ty < 0 || u32(ty) % p.sh != 0u) { continue; }
      let oy = u32(ty) / p.sh;
      if (oy >= p.oh) { continue; }
      for (var kx = 0u; kx < p.kw; kx = kx + 1u) {
        let tx = i32(ix + p.pw) - i32(kx * p.dw);
        if (tx < 0 || u32(tx) % p.sw != 0u) { continue; }
        let ox = u32(tx) / p.sw;
        if (ox >= p.ow) { continue; }
        acc = acc + in0[((n * p.o + o) * p.oh + oy) * p.ow + ox] * in1[((o * cg + ci) * p.kh + ky) * p.kw + kx];
      }
    }
  }
  store(t, acc);
}

// weight_grad: in0 = x, in1 = dy, out = dw [O, C/g, KH, KW].
@compute @workgroup_size(256)
fn weight_grad(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let t = gid.x + gid.y * nwg.x * 256u;
  if (t >= p.total) { return; }
  let kx = t % p.kw;
  let ky = (t / p.kw) % p.kh;
  let cg = p.c / p.groups;
  let ci = (t / (p.kw * p.kh)) % cg;
  let o = t / (p.kw * p.kh * cg);
  let g = o / (p.o / p.groups);
  let c = g * cg + ci;
  var acc = 0.0;
  for (var n = p.first; n < p.last; n = n + 1u) {
    let xc = (n * p.c + c) * p.h;
    let yc = (n * p.o + o) * p.oh;
    for (var oy = 0u; oy < p.oh; oy = oy + 1u) {
      let iy = i32(oy * p.sh + ky * p.dh) - i32(p.ph);
      if (iy < 0 || iy >= i32(p.h)) { continue; }
      let xrow = (xc + u32(iy)) * p.w;
      let yrow = (yc + oy) * p.ow;
      for (var ox = 0u; ox < p.ow; ox = ox + 1u) {
        let ix = i32(ox * p.sw + kx * p.dw) - i32(p.pw);
        if (ix < 0 || ix >= i32(p.w)) { continue; }
        acc = acc + in0[xrow + u32(ix)] * in1[yrow + ox];
      }
    }
  }
  store(t, acc);
}
