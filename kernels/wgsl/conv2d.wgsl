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
// The tiling is matmul.wgsl's (gemm_decl in common.wgsl). The host picks
// tiles whose thread count is a multiple of TK and of TN/4, so that each
// thread loads A elements at one K offset and B elements of the same four
// adjacent columns at every step, storing them as one vector: the columns'
// decompositions are done once, an element's offset is the sum of a part
// of its column's and a part of its K index's, and the K indices, digits
// in a mixed radix, advance by carries instead of divisions.
//
// The workgroup grid is (column tiles, row tiles, groups × slices); slice s
// covers K indices [k0 + s·kc, k0 + (s+1)·kc) and writes at out_off +
// s·slice_stride, so that a long K can be cut into several slices (summed
// afterwards) and several dispatches (accumulate adds into the output).
// in0, in1 and out start at elements in0_off, in1_off and out_base of their
// bindings, so that a batch too large for one binding runs in parts.
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
  in0_off: u32,
  in1_off: u32,
  out_base: u32,
{{- if .Epi}}
  last: u32,
  pad0: u32,
  rank: u32,
  pad1: u32,
  pad2: u32,
{{- template "fused_fields" .Epi}}
{{- end}}
}
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> in0: array<{{if .Half0}}u32{{else}}f32{{end}}>;
@group(0) @binding(2) var<storage, read> in1: array<{{if .Half1}}u32{{else}}f32{{end}}>;

// load_in0 and load_in1 read element i of an input: a 16-bit float (Half0,
// Half1: f16 or bf16, two a word, the first in the low half) is widened to
// float32 as it is read.
fn load_in0(i: u32) -> f32 {
{{- if .Half0}}
  return {{.Half0}}_value(half_bits(in0[i >> 1u], i));
{{- else}}
  return in0[i];
{{- end}}
}

fn load_in1(i: u32) -> f32 {
{{- if .Half1}}
  return {{.Half1}}_value(half_bits(in1[i >> 1u], i));
{{- else}}
  return in1[i];
{{- end}}
}
@group(0) @binding(3) var<storage, read_write> out: array<f32>;
{{- with .Epi}}
{{template "fused_decls" .}}
{{- end}}

{{if not .Direct}}
{{template "gemm_decl" .}}
// Each thread loads B elements of the four columns 4·bq … 4·bq + 3 of the
// tile, bq = li % (TN / 4), at K offsets li / (TN / 4) + t·KS.
const KS = THREADS / (TN / 4u);

// far is where a column past the matrix's last one starts its window, so
// that every bounds check of its elements fails.
const far = -0x40000000;

// digits splits v into a mixed radix (hi, mid, lo), lo counting up to r2
// and mid up to r1.
fn digits(v: u32, r1: u32, r2: u32) -> vec3<u32> {
  let q = v / r2;
  return vec3<u32>(q / r1, q % r1, v % r2);
}

// advance adds s, itself in digits, to d.
fn advance(d: vec3<u32>, s: vec3<u32>, r1: u32, r2: u32) -> vec3<u32> {
  var lo = d.z + s.z;
  var mid = d.y + s.y;
  if (lo >= r2) {
    lo = lo - r2;
    mid = mid + 1u;
  }
  var hi = d.x + s.x;
  if (mid >= r1) {
    mid = mid - r1;
    hi = hi + 1u;
  }
  return vec3<u32>(hi, mid, lo);
}

// gather loads the elements of in0 at offsets o where ok holds, zero
// elsewhere (o wraps around as u32). It loads element 0 in place of the
// others, which spares a software adapter four masked loads.
fn gather(ok: vec4<bool>, o: vec4<i32>) -> vec4<f32> {
  let a = select(vec4<u32>(0u), vec4<u32>(o), ok);
  return select(vec4<f32>(0.0), vec4<f32>(load_in0(a.x), load_in0(a.y), load_in0(a.z), load_in0(a.w)), ok);
}

// set_b4 stores the B panel's columns 4·q … 4·q + 3 at K offset k.
fn set_b4(k: u32, q: u32, v: vec4<f32>) {
  Bs[k * (TN / 4u) + q] = v;
}
{{end}}

// Tile is where one workgroup works: group g, slice s, and its K range
// [k_first, k_end).
struct Tile {
  g: u32,
  s: u32,
  k_first: u32,
  k_end: u32,
}

fn tile(wg: vec3<u32>) -> Tile {
  let s = wg.z % p.slices;
  let k_first = p.k0 + s * p.kc;
  return Tile(wg.z / p.slices + p.group0, s, k_first, min(k_first + p.kc, p.k));
}

// put stores output element i; on the last pass over K of a deferred
// forward pass (whose output is dense and bound whole), an epilogue (.Epi,
// a generated expression of the convolution's value acc and other leaves
// over the output; see device/webgpu/fuse.go) applies to it first.
fn put(i: u32, v: f32) {
  var acc = v;
  if (p.accumulate != 0u) {
    acc = out[p.out_base + i] + v;
  }
{{- with .Epi}}
  if (p.last != 0u) {
{{- template "fused_eval" .}}
    acc = {{.Result}};
  }
{{- end}}
  out[p.out_base + i] = acc;
}

{{if eq .Entry "forward"}}
fn row_off(tl: Tile, r: u32) -> u32 {
  return (tl.g * (p.o / p.groups) + r) * p.oh * p.ow;
}

fn col_off(tl: Tile, col: u32) -> u32 {
  let ohw = p.oh * p.ow;
  return (col / ohw) * p.o * ohw + col % ohw;
}

// forward: in0 = x [N, C, H, W], in1 = w [O, C/g, KH, KW], out = y [N, O, OH, OW].
@compute @workgroup_size({{.WX}}, {{.WY}})
fn forward(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let tl = tile(wg);
  let row0 = (wg.y + p.row_tile0) * TM;
  let col0 = (wg.x + p.col_tile0) * TN;
  let cg = p.c / p.groups;
  let og = p.o / p.groups;
  let ohw = p.oh * p.ow;
  let hw = p.h * p.w;
  // A = w: this thread loads rows li/TK + t·THREADS/TK at K offset li%TK.
  let ka = li % TK;
  let arow = li / TK;
  let wbase = (tl.g * og + row0) * p.k + ka;
  // B: column j = (n, oy, ox) reads the window from row iy0 and column
  // ix0, at element xb + (ci·h + ky·dh)·w + kx·dw of x.
  let bq = li % (TN / 4u);
  let kb = li / (TN / 4u);
  let j = vec4<u32>(col0 + 4u * bq) + vec4<u32>(0u, 1u, 2u, 3u);
  let pix = j % ohw;
  let iy0 = select(vec4<i32>(far), vec4<i32>((pix / p.ow) * p.sh) - i32(p.ph), j < vec4<u32>(p.cols));
  let ix0 = vec4<i32>((pix % p.ow) * p.sw) - i32(p.pw);
  let xb = vec4<i32>(p.in0_off + ((j / ohw) * p.c + tl.g * cg) * hw) + iy0 * i32(p.w) + ix0;
  var d = digits(tl.k_first + kb, p.kh, p.kw);
  let step_t = digits(KS, p.kh, p.kw);
  let step_k = digits(TK, p.kh, p.kw);
{{template "gemm_acc" .}}
  for (var k0 = tl.k_first; k0 < tl.k_end; k0 = k0 + TK) {
    let aok = k0 + ka < tl.k_end;
    for (var t = 0u; t < TM * TK / THREADS; t = t + 1u) {
      let r = arow + t * (THREADS / TK);
      var v = 0.0;
      if (row0 + r < p.m && aok) {
        v = load_in1(p.in1_off + wbase + r * p.k + k0);
      }
      set_a(ka, r, v);
    }
    var e = d;
    for (var t = 0u; t < TK / KS; t = t + 1u) {
      let kr = kb + t * KS;
      let ky = i32(e.y * p.dh);
      let kx = i32(e.z * p.dw);
      let ok = vec4<u32>(iy0 + ky) < vec4<u32>(p.h) & vec4<u32>(ix0 + kx) < vec4<u32>(p.w) &
        vec4<bool>(k0 + kr < tl.k_end);
      set_b4(kr, bq, gather(ok, xb + i32(e.x * hw) + ky * i32(p.w) + kx));
      e = advance(e, step_t, p.kh, p.kw);
    }
    d = advance(d, step_k, p.kh, p.kw);
{{template "gemm_mac" .}}
  }
  let rows = p.m;
  let cols = p.cols;
  let ctx = tl;
{{template "gemm_store" .}}
}
{{end}}

{{if eq .Entry "input_grad"}}
fn row_off(tl: Tile, r: u32) -> u32 {
  return (tl.g * (p.c / p.groups) + r) * p.h * p.w;
}

fn col_off(tl: Tile, col: u32) -> u32 {
  let hw = p.h * p.w;
  return (col / hw) * p.c * hw + col % hw;
}

// input_grad: in0 = dy [N, O, OH, OW], in1 = w [O, C/g, KH, KW], out = dx [N, C, H, W].
@compute @workgroup_size({{.WX}}, {{.WY}})
fn input_grad(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let tl = tile(wg);
  let row0 = (wg.y + p.row_tile0) * TM;
  let col0 = (wg.x + p.col_tile0) * TN;
  let cg = p.c / p.groups;
  let og = p.o / p.groups;
  let kk2 = p.kh * p.kw;
  let ohw = p.oh * p.ow;
  let hw = p.h * p.w;
  // A[c, (o, ky, kx)] = w[g·og + o, c, ky, kx].
  let ka = li % TK;
  let arow = li / TK;
  let wbase = (tl.g * og * cg + row0) * kk2;
  var da = digits(tl.k_first + ka, p.kh, p.kw);
  // B[(o, ky, kx), (n, iy, ix)] = dy[n, g·og + o, oy, ox] where
  // oy·sh = ty0 − ky·dh and ox·sw = tx0 − kx·dw; column j's image starts
  // at element yb of dy (with stride 1, its element (o, ky, kx) is at
  // yo + o·oh·ow − ky·dh·ow − kx·dw).
  let bq = li % (TN / 4u);
  let kb = li / (TN / 4u);
  let j = vec4<u32>(col0 + 4u * bq) + vec4<u32>(0u, 1u, 2u, 3u);
  let pix = j % hw;
  let ty0 = select(vec4<i32>(far), vec4<i32>(pix / p.w + p.ph), j < vec4<u32>(p.cols));
  let tx0 = vec4<i32>(pix % p.w + p.pw);
  let yb = vec4<i32>(p.in0_off + ((j / hw) * p.o + tl.g * og) * ohw);
  let yo = yb + ty0 * i32(p.ow) + tx0;
  var d = digits(tl.k_first + kb, p.kh, p.kw);
  let step_t = digits(KS, p.kh, p.kw);
  let step_k = digits(TK, p.kh, p.kw);
{{template "gemm_acc" .}}
  for (var k0 = tl.k_first; k0 < tl.k_end; k0 = k0 + TK) {
    let aok = k0 + ka < tl.k_end;
    let aoff = wbase + da.x * cg * kk2 + da.y * p.kw + da.z;
    for (var t = 0u; t < TM * TK / THREADS; t = t + 1u) {
      let r = arow + t * (THREADS / TK);
      var v = 0.0;
      if (row0 + r < p.m && aok) {
        v = load_in1(p.in1_off + aoff + r * kk2);
      }
      set_a(ka, r, v);
    }
    var e = d;
    for (var t = 0u; t < TK / KS; t = t + 1u) {
      let kr = kb + t * KS;
      let ky = i32(e.y * p.dh);
      let kx = i32(e.z * p.dw);
      let kok = vec4<bool>(k0 + kr < tl.k_end);
{{- if .Strided}}
      let ty = ty0 - ky;
      let tx = tx0 - kx;
      let oy = vec4<u32>(ty) / p.sh;
      let ox = vec4<u32>(tx) / p.sw;
      let ok = ty >= vec4<i32>(0) & tx >= vec4<i32>(0) & oy * p.sh == vec4<u32>(ty) & ox * p.sw == vec4<u32>(tx) &
        oy < vec4<u32>(p.oh) & ox < vec4<u32>(p.ow) & kok;
      set_b4(kr, bq, gather(ok, yb + vec4<i32>(e.x * ohw + oy * p.ow + ox)));
{{- else}}
      let ok = vec4<u32>(ty0 - ky) < vec4<u32>(p.oh) & vec4<u32>(tx0 - kx) < vec4<u32>(p.ow) & kok;
      set_b4(kr, bq, gather(ok, yo + i32(e.x * ohw) - ky * i32(p.ow) - kx));
{{- end}}
      e = advance(e, step_t, p.kh, p.kw);
    }
    da = advance(da, step_k, p.kh, p.kw);
    d = advance(d, step_k, p.kh, p.kw);
{{template "gemm_mac" .}}
  }
  let rows = p.m;
  let cols = p.cols;
  let ctx = tl;
{{template "gemm_store" .}}
}
{{end}}

{{if eq .Entry "weight_grad"}}
fn row_off(tl: Tile, r: u32) -> u32 {
  return p.out_off + tl.s * p.slice_stride + (tl.g * (p.o / p.groups) + r) * p.cols;
}

fn col_off(tl: Tile, col: u32) -> u32 {
  return col;
}

// weight_grad: in0 = x [N, C, H, W], in1 = dy [N, O, OH, OW], out = dw
// [O, C/g, KH, KW] or slices of partial sums of it.
@compute @workgroup_size({{.WX}}, {{.WY}})
fn weight_grad(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let tl = tile(wg);
  let row0 = (wg.y + p.row_tile0) * TM;
  let col0 = (wg.x + p.col_tile0) * TN;
  let cg = p.c / p.groups;
  let og = p.o / p.groups;
  let ohw = p.oh * p.ow;
  let hw = p.h * p.w;
  // A[o, (n, oy, ox)] = dy[n, g·og + o, oy, ox].
  let ka = li % TK;
  let arow = li / TK;
  let abase = (tl.g * og + row0) * ohw;
  var da = digits(tl.k_first + ka, p.oh, p.ow);
  // B[(n, oy, ox), (ci, ky, kx)] = x[n, g·cg + ci, iy, ix] where iy =
  // oy·sh + yoff and ix = ox·sw + xoff: column j's element is at xo +
  // n·c·h·w + oy·sh·w + ox·sw.
  let bq = li % (TN / 4u);
  let kb = li / (TN / 4u);
  var yoff: vec4<i32>;
  var xoff: vec4<i32>;
  var xo: vec4<i32>;
  for (var c = 0u; c < 4u; c = c + 1u) {
    let j = col0 + 4u * bq + c;
    let dj = digits(j, p.kh, p.kw);
    yoff[c] = select(far, i32(dj.y * p.dh) - i32(p.ph), j < p.cols);
    xoff[c] = i32(dj.z * p.dw) - i32(p.pw);
    xo[c] = i32(p.in0_off + (tl.g * cg + dj.x) * hw) + yoff[c] * i32(p.w) + xoff[c];
  }
  var d = digits(tl.k_first + kb, p.oh, p.ow);
  let step_t = digits(KS, p.oh, p.ow);
  let step_k = digits(TK, p.oh, p.ow);
{{template "gemm_acc" .}}
  for (var k0 = tl.k_first; k0 < tl.k_end; k0 = k0 + TK) {
    let aok = k0 + ka < tl.k_end;
    let aoff = abase + da.x * p.o * ohw + da.y * p.ow + da.z;
    for (var t = 0u; t < TM * TK / THREADS; t = t + 1u) {
      let r = arow + t * (THREADS / TK);
      var v = 0.0;
      if (row0 + r < p.m && aok) {
        v = load_in1(p.in1_off + aoff + r * ohw);
      }
      set_a(ka, r, v);
    }
    var e = d;
    for (var t = 0u; t < TK / KS; t = t + 1u) {
      let kr = kb + t * KS;
      let oy = i32(e.y * p.sh);
      let ox = i32(e.z * p.sw);
      let ok = vec4<u32>(yoff + oy) < vec4<u32>(p.h) & vec4<u32>(xoff + ox) < vec4<u32>(p.w) &
        vec4<bool>(k0 + kr < tl.k_end);
      set_b4(kr, bq, gather(ok, xo + i32(e.x * p.c * hw) + oy * i32(p.w) + ox));
      e = advance(e, step_t, p.oh, p.ow);
    }
    da = advance(da, step_k, p.oh, p.ow);
    d = advance(d, step_k, p.oh, p.ow);
{{template "gemm_mac" .}}
  }
  let rows = p.m;
  let cols = p.cols;
  let ctx = tl;
{{template "gemm_store" .}}
}
{{end}}

{{if or (eq .Entry "direct") (eq .Entry "direct_input_grad")}}
// Quad is four adjacent elements of a row of a [N, C, H, W] tensor: image
// n, channel ch, row y, columns 4q … 4q + 3, the first at index first.
struct Quad {
  n: u32,
  ch: u32,
  y: u32,
  q: u32,
  first: u32,
}

// quads is how many quads rows rows of w elements make.
fn quads(rows: u32, w: u32) -> u32 {
  return rows * ((w + 3u) / 4u);
}

// quad is quad t of a tensor of rows of w elements, h rows a channel and
// c channels: t = ((n·c + ch)·h + y)·⌈w/4⌉ + q.
fn quad(t: u32, w: u32, h: u32, c: u32) -> Quad {
  let a = divmod(t, (w + 3u) / 4u);
  let b = divmod(a.x, h);
  let d = divmod(b.x, c);
  return Quad(d.x, d.y, b.y, a.y, a.x * w + a.y * 4u);
}
{{end}}

{{if eq .Entry "direct"}}
// direct: the forward pass of a convolution whose groups read one input
// channel each (C = groups: depthwise, with O/groups outputs a channel).
// Each thread computes four adjacent outputs of a row, reading each weight
// once for the four: as a GEMM each group's tiles would have one row
// (O/groups), a 32nd of their work useful.
// in0 = x [N, C, H, W], in1 = w [O, 1, KH, KW], out = y [N, O, OH, OW].
{{- if not .Epi}}
{{template "divmod"}}
{{- end}}
@compute @workgroup_size(256)
fn direct(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let t = (wg.x + wg.y * nwg.x) * 256u + li;
  if (t >= quads(p.cols / p.ow * p.o, p.ow)) {
    return;
  }
  let e = quad(t, p.ow, p.oh, p.o); // outputs ox of row e.y of channel e.ch
  let ox = vec4<u32>(e.q * 4u) + vec4<u32>(0u, 1u, 2u, 3u);
  let iy0 = i32(e.y * p.sh) - i32(p.ph);
  let ix0 = vec4<i32>(ox * p.sw) - i32(p.pw);
  let xb = p.in0_off + (e.n * p.c + e.ch / (p.o / p.groups)) * p.h * p.w;
  var wi = p.in1_off + e.ch * p.kh * p.kw;
  var acc = vec4<f32>(0.0);
  for (var ky = 0u; ky < p.kh; ky = ky + 1u) {
    let iy = iy0 + i32(ky * p.dh);
    let row_ok = u32(iy) < p.h;
    let row = xb + u32(iy) * p.w;
    for (var kx = 0u; kx < p.kw; kx = kx + 1u) {
      let ix = ix0 + vec4<i32>(i32(kx * p.dw));
      let ok = vec4<bool>(row_ok) & vec4<u32>(ix) < vec4<u32>(p.w);
      // Element 0 stands in outside the image: no masked load.
      let o = select(vec4<u32>(0u), vec4<u32>(row) + vec4<u32>(ix), ok);
      let v = vec4<f32>(load_in0(o.x), load_in0(o.y), load_in0(o.z), load_in0(o.w));
      acc = acc + select(vec4<f32>(0.0), v, ok) * load_in1(wi);
      wi = wi + 1u;
    }
  }
  for (var j = 0u; j < 4u; j = j + 1u) {
    if (ox[j] < p.ow) {
      put(e.first + j, acc[j]);
    }
  }
}
{{end}}

{{if eq .Entry "direct_input_grad"}}
// direct_input_grad: the input gradient of the convolutions the direct
// kernel computes, four adjacent elements of a row of dx a thread: each
// sums, over the O/groups outputs of its channel and the taps, the dy
// elements whose windows read it.
// in0 = dy [N, O, OH, OW], in1 = w [O, 1, KH, KW], out = dx [N, C, H, W].
{{template "divmod"}}
@compute @workgroup_size(256)
fn direct_input_grad(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let t = (wg.x + wg.y * nwg.x) * 256u + li;
  if (t >= quads(p.cols / p.w * p.c, p.w)) {
    return;
  }
  let e = quad(t, p.w, p.h, p.c); // elements ix of row e.y of channel e.ch
  let og = p.o / p.groups;
  let ix = vec4<i32>(vec4<u32>(e.q * 4u) + vec4<u32>(0u, 1u, 2u, 3u));
  let ohw = p.oh * p.ow;
  var acc = vec4<f32>(0.0);
  for (var j = 0u; j < og; j = j + 1u) {
    let o = e.ch * og + j;
    let dyb = p.in0_off + (e.n * p.o + o) * ohw;
    var wi = p.in1_off + o * p.kh * p.kw;
    for (var ky = 0u; ky < p.kh; ky = ky + 1u) {
      // output row oy reads row iy through tap ky when oy·sh = iy + ph − ky·dh
      let ty = i32(e.y + p.ph) - i32(ky * p.dh);
{{- if .Unit}}
      let oy = u32(ty); // stride 1: no division
{{- else}}
      let oy = u32(ty) / p.sh;
{{- end}}
      let row_ok = ty >= 0 && oy * p.sh == u32(ty) && oy < p.oh;
      for (var kx = 0u; kx < p.kw; kx = kx + 1u) {
        let tx = ix + vec4<i32>(i32(p.pw) - i32(kx * p.dw));
{{- if .Unit}}
        let ox = vec4<u32>(tx);
{{- else}}
        let ox = vec4<u32>(tx) / p.sw;
{{- end}}
        let ok = vec4<bool>(row_ok) & tx >= vec4<i32>(0) & ox * p.sw == vec4<u32>(tx) & ox < vec4<u32>(p.ow);
        // Element 0 stands in where no output reads it: no masked load.
        let at = select(vec4<u32>(0u), vec4<u32>(dyb + oy * p.ow) + ox, ok);
        let v = vec4<f32>(load_in0(at.x), load_in0(at.y), load_in0(at.z), load_in0(at.w));
        acc = acc + select(vec4<f32>(0.0), v, ok) * load_in1(wi);
        wi = wi + 1u;
      }
    }
  }
  for (var j = 0u; j < 4u; j = j + 1u) {
    if (u32(ix[j]) < p.w) {
      put(e.first + j, acc[j]);
    }
  }
}
{{end}}

{{if eq .Entry "direct_weight_grad"}}
// direct_weight_grad: the weight gradient of the convolutions the direct
// kernel computes, one workgroup an output channel o: thread li sums tap
// li % KH·KW over the (li / KH·KW)-th of 256 / KH·KW runs of the positions
// (n, oy, ox) in the K range [k0, k0 + kc), and the workgroup adds up each
// tap's partial sums. KH·KW ≤ 256.
// in0 = x [N, C, H, W], in1 = dy [N, O, OH, OW], out = dw [O, 1, KH, KW].
{{template "divmod"}}
var<workgroup> part: array<f32, 256>;

@compute @workgroup_size(256)
fn direct_weight_grad(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let o = wg.x + wg.y * nwg.x;
  let kk = p.kh * p.kw;
  let lanes = 256u / kk; // threads a tap
  let tap = divmod(li, kk);
  let k = divmod(tap.y, p.kw);
  let yoff = i32(k.x * p.dh) - i32(p.ph);
  let xoff = i32(k.y * p.dw) - i32(p.pw);
  let ohw = p.oh * p.ow;
  let ci = o / (p.o / p.groups);
  var acc = 0.0;
  if (o < p.o && tap.x < lanes) {
    // This thread's positions: a run of the K range, walked by counters.
    let len = min(p.k0 + p.kc, p.k) - p.k0;
    let q = len / lanes;
    let r = len % lanes;
    let first = p.k0 + q * tap.x + min(tap.x, r);
    let end = first + q + select(0u, 1u, tap.x < r);
    let nr = divmod(first, ohw);
    let yx = divmod(nr.y, p.ow);
    var n = nr.x;
    var oy = yx.x;
    var ox = yx.y;
    for (var pos = first; pos < end; pos = pos + 1u) {
      let iy = i32(oy * p.sh) + yoff;
      let ix = i32(ox * p.sw) + xoff;
      let ok = u32(iy) < p.h && u32(ix) < p.w;
      let xv = load_in0(select(0u, p.in0_off + (n * p.c + ci) * p.h * p.w + u32(iy) * p.w + u32(ix), ok));
      acc = acc + select(0.0, xv, ok) * load_in1(p.in1_off + (n * p.o + o) * ohw + oy * p.ow + ox);
      ox = ox + 1u;
      let wrap = ox == p.ow;
      ox = select(ox, 0u, wrap);
      oy = select(oy, oy + 1u, wrap);
      let wrap_y = oy == p.oh;
      oy = select(oy, 0u, wrap_y);
      n = select(n, n + 1u, wrap_y);
    }
  }
  part[li] = acc;
  workgroupBarrier();
  if (o < p.o && li < kk) {
    var sum = 0.0;
    for (var l = 0u; l < lanes; l = l + 1u) {
      sum = sum + part[l * kk + li];
    }
    put(o * kk + li, sum);
  }
}
{{end}}
