// 2-D convolution (cross-correlation, as PyTorch) over dense NCHW tensors
// with stride, padding, dilation and groups, and its two gradients, each an
// implicit GEMM per group: the im2col matrix is never stored, the kernels
// gather its elements while they load their tiles.
//
//   forward      y[n, o, oy, ox]  = sum over k = (ci, ky, kx) of
//                w[o, k] · x[n, ci, oy·sh − ph + ky·dh, ox·sw − pw + kx·dw]
//                (M = O/G rows o, N = batch·OH·OW columns (n, oy, ox),
//                K = C/G·KH·KW)
//   input_grad   dx[n, c, iy, ix] = sum over k = (o, ky, kx) of
//                w[o, c, ky, kx] · dy[n, o, oy, ox], where iy = oy·sh − ph + ky·dh
//                (M = C/G, N = batch·H·W, K = O/G·KH·KW)
//   weight_grad  dw[o, (ci, ky, kx)] = sum over k = (n, oy, ox) of
//                dy[n, o, oy, ox] · x[n, ci, iy, ix]
//                (M = O/G, N = C/G·KH·KW, K = batch·OH·OW)
//
// The tiling is matmul.wgsl's: a 16×16 workgroup computes a 64×64 tile of
// the GEMM's output, staging 64×16 panels of A and 16×64 panels of B in
// workgroup memory; each thread accumulates a 4×4 block in registers, its
// rows and columns 16 apart. Each thread loads the same column of B (and the
// same K offset of A) at every step, so the column's decomposition is done
// once and the K indices, digits in a mixed radix, advance by carries
// instead of divisions.
//
// The workgroup grid is (column tiles, row tiles, groups × slices); slice s
// covers K indices [k0 + s·kc, k0 + (s+1)·kc) and writes at out_off +
// s·slice_stride, so that a long K can be cut into several slices (summed
// afterwards) and several dispatches (accumulate adds into the output).
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
  m: u32,
  cols: u32,
  k: u32,
  k0: u32,
  kc: u32,
  row_tile0: u32,
  col_tile0: u32,
  group0: u32,
  slices: u32,
  slice_stride: u32,
  out_off: u32,
  accumulate: u32,
}
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> in0: array<f32>;
@group(0) @binding(2) var<storage, read> in1: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

var<workgroup> As: array<f32, 1024>; // [16 k][64 rows]
var<workgroup> Bs: array<f32, 1024>; // [16 k][64 cols]

// Digits holds four indices in a mixed radix (hi, mid, lo), lo counting
// up to r2 and mid up to r1.
struct Digits {
  hi: vec4<u32>,
  mid: vec4<u32>,
  lo: vec4<u32>,
}

fn digits(v: vec4<u32>, r1: u32, r2: u32) -> Digits {
  let q = v / vec4<u32>(r2);
  return Digits(q / vec4<u32>(r1), q % vec4<u32>(r1), v % vec4<u32>(r2));
}

// advance adds s, itself in digits (s.y < r1, s.z < r2), to d.
fn advance(d: Digits, s: vec3<u32>, r1: u32, r2: u32) -> Digits {
  let lo = d.lo + vec4<u32>(s.z);
  let cl = lo >= vec4<u32>(r2);
  let mid = d.mid + vec4<u32>(s.y) + select(vec4<u32>(0u), vec4<u32>(1u), cl);
  let cm = mid >= vec4<u32>(r1);
  return Digits(d.hi + vec4<u32>(s.x) + select(vec4<u32>(0u), vec4<u32>(1u), cm),
    select(mid, mid - vec4<u32>(r1), cm), select(lo, lo - vec4<u32>(r2), cl));
}

fn step_digits(s: u32, r1: u32, r2: u32) -> vec3<u32> {
  return vec3<u32>(s / (r1 * r2), (s / r2) % r1, s % r2);
}

// Tile is where one workgroup works: group g, slice s, the tile's first
// row and column, and its K range [k_first, k_end).
struct Tile {
  g: u32,
  s: u32,
  row0: u32,
  col0: u32,
  k_first: u32,
  k_end: u32,
}

fn tile(wg: vec3<u32>) -> Tile {
  let s = wg.z % p.slices;
  let k_first = p.k0 + s * p.kc;
  return Tile(wg.z / p.slices + p.group0, s, (wg.y + p.row_tile0) * 64u, (wg.x + p.col_tile0) * 64u,
    k_first, min(k_first + p.kc, p.k));
}

fn put(i: u32, v: f32) {
  if (p.accumulate != 0u) {
    out[i] = out[i] + v;
  } else {
    out[i] = v;
  }
}

{{define "conv_mac"}}
    workgroupBarrier();
    for (var kk = 0u; kk < 16u; kk = kk + 1u) {
      let ar = kk * 64u + lid.y;
      let bc = kk * 64u + lid.x;
      let bv = vec4<f32>(Bs[bc], Bs[bc + 16u], Bs[bc + 32u], Bs[bc + 48u]);
      acc[0] = acc[0] + As[ar] * bv;
      acc[1] = acc[1] + As[ar + 16u] * bv;
      acc[2] = acc[2] + As[ar + 32u] * bv;
      acc[3] = acc[3] + As[ar + 48u] * bv;
    }
    workgroupBarrier();
{{end}}

// forward: in0 = x [N, C, H, W], in1 = w [O, C/g, KH, KW], out = y [N, O, OH, OW].
@compute @workgroup_size(16, 16)
fn forward(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let tl = tile(wg);
  let cg = p.c / p.groups;
  let og = p.o / p.groups;
  let ohw = p.oh * p.ow;
  let hw = p.h * p.w;
  // This thread's A element: row li/16 + 16t, K offset li%16.
  let ka = li % 16u;
  let arow = tl.row0 + li / 16u;
  let wbase = (tl.g * og + arow) * p.k + ka;
  // This thread's B column (n, oy, ox) and K offsets li/64 + 4t.
  let bcol = li % 64u;
  let kb = li / 64u;
  let j = tl.col0 + bcol;
  let jn = j / ohw;
  let pix = j % ohw;
  let colok = j < p.cols;
  let iy0 = i32((pix / p.ow) * p.sh) - i32(p.ph);
  let ix0 = i32((pix % p.ow) * p.sw) - i32(p.pw);
  let xbase = (jn * p.c + tl.g * cg) * hw;
  var d = digits(vec4<u32>(tl.k_first + kb) + vec4<u32>(0u, 4u, 8u, 12u), p.kh, p.kw);
  let st = step_digits(16u, p.kh, p.kw);
  var acc = array<vec4<f32>, 4>(vec4<f32>(0.0), vec4<f32>(0.0), vec4<f32>(0.0), vec4<f32>(0.0));
  for (var k0 = tl.k_first; k0 < tl.k_end; k0 = k0 + 16u) {
    for (var t = 0u; t < 4u; t = t + 1u) {
      var v = 0.0;
      if (arow + t * 16u < p.m && k0 + ka < tl.k_end) {
        v = in1[wbase + t * 16u * p.k + k0];
      }
      As[ka * 64u + li / 16u + t * 16u] = v;
      let iy = iy0 + i32(d.mid[t] * p.dh);
      let ix = ix0 + i32(d.lo[t] * p.dw);
      var u = 0.0;
      if (colok && k0 + kb + t * 4u < tl.k_end && iy >= 0 && iy < i32(p.h) && ix >= 0 && ix < i32(p.w)) {
        u = in0[xbase + d.hi[t] * hw + u32(iy) * p.w + u32(ix)];
      }
      Bs[(kb + t * 4u) * 64u + bcol] = u;
    }
    d = advance(d, st, p.kh, p.kw);
{{template "conv_mac"}}
  }
  for (var i = 0u; i < 4u; i = i + 1u) {
    let r = tl.row0 + lid.y + i * 16u;
    if (r >= p.m) { continue; }
    for (var jj = 0u; jj < 4u; jj = jj + 1u) {
      let col = tl.col0 + lid.x + jj * 16u;
      if (col < p.cols) {
        put(((col / ohw) * p.o + tl.g * og + r) * ohw + col % ohw, acc[i][jj]);
      }
    }
  }
}

// input_grad: in0 = dy [N, O, OH, OW], in1 = w [O, C/g, KH, KW], out = dx [N, C, H, W].
@compute @workgroup_size(16, 16)
fn input_grad(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let tl = tile(wg);
  let cg = p.c / p.groups;
  let og = p.o / p.groups;
  let kk2 = p.kh * p.kw;
  let ohw = p.oh * p.ow;
  let hw = p.h * p.w;
  // A[c, (o, ky, kx)] = w[g·og + o, c, ky, kx]: rows li/16 + 16t, K offset li%16.
  let ka = li % 16u;
  let arow = tl.row0 + li / 16u;
  let wbase = (tl.g * og * cg + arow) * kk2;
  var da = digits(vec4<u32>(tl.k_first + ka), p.kh, p.kw);
  // B[(o, ky, kx), (n, iy, ix)] = dy[n, g·og + o, oy, ox].
  let bcol = li % 64u;
  let kb = li / 64u;
  let j = tl.col0 + bcol;
  let jn = j / hw;
  let pix = j % hw;
  let colok = j < p.cols;
  let ty0 = i32(pix / p.w + p.ph);
  let tx0 = i32(pix % p.w + p.pw);
  let ybase = (jn * p.o + tl.g * og) * ohw;
  var d = digits(vec4<u32>(tl.k_first + kb) + vec4<u32>(0u, 4u, 8u, 12u), p.kh, p.kw);
  let st = step_digits(16u, p.kh, p.kw);
  var acc = array<vec4<f32>, 4>(vec4<f32>(0.0), vec4<f32>(0.0), vec4<f32>(0.0), vec4<f32>(0.0));
  for (var k0 = tl.k_first; k0 < tl.k_end; k0 = k0 + 16u) {
    let aok = k0 + ka < tl.k_end;
    let aoff = wbase + da.hi.x * cg * kk2 + da.mid.x * p.kw + da.lo.x;
    for (var t = 0u; t < 4u; t = t + 1u) {
      var v = 0.0;
      if (arow + t * 16u < p.m && aok) {
        v = in1[aoff + t * 16u * kk2];
      }
      As[ka * 64u + li / 16u + t * 16u] = v;
      let ty = ty0 - i32(d.mid[t] * p.dh);
      let tx = tx0 - i32(d.lo[t] * p.dw);
      var u = 0.0;
      if (colok && k0 + kb + t * 4u < tl.k_end && ty >= 0 && tx >= 0) {
{{if .Strided}}
        let oy = u32(ty) / p.sh;
        let ox = u32(tx) / p.sw;
        if (oy * p.sh == u32(ty) && ox * p.sw == u32(tx) && oy < p.oh && ox < p.ow) {
{{else}}
        let oy = u32(ty);
        let ox = u32(tx);
        if (oy < p.oh && ox < p.ow) {
{{end}}
          u = in0[ybase + d.hi[t] * ohw + oy * p.ow + ox];
        }
      }
      Bs[(kb + t * 4u) * 64u + bcol] = u;
    }
    da = advance(da, st, p.kh, p.kw);
    d = advance(d, st, p.kh, p.kw);
{{template "conv_mac"}}
  }
  for (var i = 0u; i < 4u; i = i + 1u) {
    let r = tl.row0 + lid.y + i * 16u;
    if (r >= p.m) { continue; }
    for (var jj = 0u; jj < 4u; jj = jj + 1u) {
      let col = tl.col0 + lid.x + jj * 16u;
      if (col < p.cols) {
        put(((col / hw) * p.c + tl.g * cg + r) * hw + col % hw, acc[i][jj]);
      }
    }
  }
}

// weight_grad: in0 = x [N, C, H, W], in1 = dy [N, O, OH, OW], out = dw
// [O, C/g, KH, KW] or slices of partial sums of it.
@compute @workgroup_size(16, 16)
fn weight_grad(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let tl = tile(wg);
  let cg = p.c / p.groups;
  let og = p.o / p.groups;
  let ohw = p.oh * p.ow;
  let hw = p.h * p.w;
  // A[o, (n, oy, ox)] = dy[n, g·og + o, oy, ox]: rows li/16 + 16t, K offset li%16.
  let ka = li % 16u;
  let arow = tl.row0 + li / 16u;
  let abase = (tl.g * og + arow) * ohw;
  var da = digits(vec4<u32>(tl.k_first + ka), p.oh, p.ow);
  // B[(n, oy, ox), (ci, ky, kx)] = x[n, g·cg + ci, iy, ix].
  let bcol = li % 64u;
  let kb = li / 64u;
  let j = tl.col0 + bcol;
  let colok = j < p.cols;
  let dj = digits(vec4<u32>(j), p.kh, p.kw);
  let xbase = (tl.g * cg + dj.hi.x) * hw;
  let yoff = i32(dj.mid.x * p.dh) - i32(p.ph);
  let xoff = i32(dj.lo.x * p.dw) - i32(p.pw);
  var d = digits(vec4<u32>(tl.k_first + kb) + vec4<u32>(0u, 4u, 8u, 12u), p.oh, p.ow);
  let st = step_digits(16u, p.oh, p.ow);
  var acc = array<vec4<f32>, 4>(vec4<f32>(0.0), vec4<f32>(0.0), vec4<f32>(0.0), vec4<f32>(0.0));
  for (var k0 = tl.k_first; k0 < tl.k_end; k0 = k0 + 16u) {
    let aok = k0 + ka < tl.k_end;
    let aoff = abase + da.hi.x * p.o * ohw + da.mid.x * p.ow + da.lo.x;
    for (var t = 0u; t < 4u; t = t + 1u) {
      var v = 0.0;
      if (arow + t * 16u < p.m && aok) {
        v = in1[aoff + t * 16u * ohw];
      }
      As[ka * 64u + li / 16u + t * 16u] = v;
      let iy = i32(d.mid[t] * p.sh) + yoff;
      let ix = i32(d.lo[t] * p.sw) + xoff;
      var u = 0.0;
      if (colok && k0 + kb + t * 4u < tl.k_end && iy >= 0 && iy < i32(p.h) && ix >= 0 && ix < i32(p.w)) {
        u = in0[xbase + d.hi[t] * p.c * hw + u32(iy) * p.w + u32(ix)];
      }
      Bs[(kb + t * 4u) * 64u + bcol] = u;
    }
    da = advance(da, st, p.oh, p.ow);
    d = advance(d, st, p.oh, p.ow);
{{template "conv_mac"}}
  }
  let obase = p.out_off + tl.s * p.slice_stride;
  for (var i = 0u; i < 4u; i = i + 1u) {
    let r = tl.row0 + lid.y + i * 16u;
    if (r >= p.m) { continue; }
    for (var jj = 0u; jj < 4u; jj = jj + 1u) {
      let col = tl.col0 + lid.x + jj * 16u;
      if (col < p.cols) {
        put(obase + (tl.g * og + r) * p.cols + col, acc[i][jj]);
      }
    }
  }
}
