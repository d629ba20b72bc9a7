// Helpers shared by every kernel family. The Go side prepends this file to
// each family's source before expanding the text/template placeholders.

// Workgroups are laid out in two dimensions when one would exceed the
// adapter's maxComputeWorkgroupsPerDimension; linear ids fold them back.
fn linear_group(wg: vec3<u32>, nwg: vec3<u32>) -> u32 {
  return wg.x + wg.y * nwg.x;
}

fn is_nan(v: f32) -> bool {
  return (bitcast<u32>(v) & 0x7fffffffu) > 0x7f800000u;
}

// any_nan reports whether a or b is NaN: float comparisons test it
// explicitly, since compilers may treat NaN operands as they like.
fn any_nan(a: f32, b: f32) -> bool {
  return is_nan(a) || is_nan(b);
}

fn nan_f32() -> f32 {
  return bitcast<f32>(0x7fc00000u);
}

fn inf_f32() -> f32 {
  return bitcast<f32>(0x7f800000u);
}

// max and min that propagate NaN, as torch.maximum and torch.max do.
fn max_nan(a: f32, b: f32) -> f32 {
  if (is_nan(a)) { return a; }
  if (is_nan(b)) { return b; }
  return max(a, b);
}

fn min_nan(a: f32, b: f32) -> f32 {
  if (is_nan(a)) { return a; }
  if (is_nan(b)) { return b; }
  return min(a, b);
}

// tanh that is exact to float32 rounding for every x: a series near zero,
// where 1 - e^(-2|x|) would cancel, and the exponential form elsewhere, which
// cannot overflow because the exponent is never positive.
fn tanh_stable(x: f32) -> f32 {
  let a = abs(x);
  if (is_nan(x)) { return x; }
  if (a < 0.125) {
    let x2 = x * x;
    return x * (1.0 + x2 * (-0.33333333 + x2 * (0.13333333 + x2 * (-0.053968254 + x2 * 0.021869488))));
  }
  let e = exp(-2.0 * a);
  return sign(x) * (1.0 - e) / (1.0 + e);
}

// sigmoid without overflow for large |x|.
fn sigmoid_stable(x: f32) -> f32 {
  let e = exp(-abs(x));
  if (x >= 0.0) {
    return 1.0 / (1.0 + e);
  }
  return e / (1.0 + e);
}

// erf from Abramowitz and Stegun 7.1.26 (absolute error below 1.5e-7).
fn erf_approx(x: f32) -> f32 {
  let a = abs(x);
  let t = 1.0 / (1.0 + 0.3275911 * a);
  let y = 1.0 - (((((1.061405429 * t - 1.453152027) * t) + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t * exp(-a * a);
  return sign(x) * y;
}

fn gelu(x: f32) -> f32 {
  return 0.5 * x * (1.0 + erf_approx(x * 0.70710678118654752));
}

fn gelu_grad(x: f32) -> f32 {
  let cdf = 0.5 * (1.0 + erf_approx(x * 0.70710678118654752));
  let pdf = 0.39894228040143268 * exp(-0.5 * x * x);
  return cdf + x * pdf;
}

fn is_inf(v: f32) -> bool {
  return (bitcast<u32>(v) & 0x7fffffffu) == 0x7f800000u;
}

// with_sign_of returns |m| with the sign bit of s.
fn with_sign_of(m: f32, s: f32) -> f32 {
  return bitcast<f32>((bitcast<u32>(m) & 0x7fffffffu) | (bitcast<u32>(s) & 0x80000000u));
}

// pow with the special cases of C's powf (and PyTorch): x^±0 = 1 and 1^y = 1,
// NaN included; ±0 and ±inf bases give zeros and infinities whose sign is
// the base's for odd integer exponents and + otherwise; (±1)^±inf = 1, and
// otherwise x^±inf is 0 or +inf by |x| against 1; negative finite bases take
// integer exponents only (NaN otherwise). WGSL's pow covers only positive
// finite bases.
fn pow_real(a: f32, b: f32) -> f32 {
  if (b == 0.0 || a == 1.0) { return 1.0; }
  if (b == 1.0) { return a; }
  if (b == 2.0) { return a * a; }
  if (is_nan(a) || is_nan(b)) { return nan_f32(); }
  let m = abs(a);
  if (is_inf(b)) {
    if (m == 1.0) { return 1.0; }
    return select(0.0, inf_f32(), (m > 1.0) == (b > 0.0));
  }
  // b is finite and not 0: an odd integer (every float of 2^24 or more is
  // even) keeps a negative base's sign.
  let odd = floor(b) == b && abs(b) < 16777216.0 && (i32(b) & 1) == 1;
  if (a == 0.0 || is_inf(a)) {
    // 0^b is 0 for b > 0 and inf for b < 0, inf^b the other way round.
    let r = select(0.0, inf_f32(), (a == 0.0) == (b < 0.0));
    return select(r, with_sign_of(r, a), odd);
  }
  let p = pow(m, b);
  if (a > 0.0) { return p; }
  if (floor(b) != b) { return nan_f32(); }
  return select(p, -p, odd);
}

// f16_value is the float32 of the binary16 bits h.
fn f16_value(h: u32) -> f32 {
  let sign = (h & 0x8000u) << 16u;
  let e = (h >> 10u) & 0x1fu;
  let frac = h & 0x3ffu;
  if (e == 0x1fu) { // Inf, NaN
    return bitcast<f32>(sign | 0x7f800000u | (frac << 13u));
  }
  if (e == 0u) { // zero, subnormal: frac·2^-24, a normal float32
    return bitcast<f32>(sign | bitcast<u32>(f32(frac) * 5.9604644775390625e-8));
  }
  return bitcast<f32>(sign | ((e + 112u) << 23u) | (frac << 13u));
}

// half_bits returns the 16 bits of element e of a 16-bit buffer from w,
// the word holding it (elements 2k and 2k+1 share word k, the first in
// the low half).
fn half_bits(w: u32, e: u32) -> u32 {
  return (w >> ((e & 1u) * 16u)) & 0xffffu;
}

// bf16_value is the float32 of the bfloat16 bits h.
fn bf16_value(h: u32) -> f32 {
  return bitcast<f32>(h << 16u);
}

// f16_bits rounds the float32 bits b to binary16, ties to even; beyond its
// range to infinity.
fn f16_bits(b: u32) -> u32 {
  let sign = (b >> 16u) & 0x8000u;
  let e = i32((b >> 23u) & 0xffu) - 127;
  let frac = b & 0x7fffffu;
  if (e == 128) {
    return sign | select(0x7c00u, 0x7e00u, frac != 0u);
  }
  if (e >= -14) {
    var h = (u32(e + 15) << 10u) | (frac >> 13u);
    let rest = frac & 0x1fffu;
    if (rest > 0x1000u || (rest == 0x1000u && (h & 1u) == 1u)) {
      h = h + 1u;
    }
    return sign | min(h, 0x7c00u);
  }
  if (e >= -25) { // a subnormal binary16, or zero after rounding
    let m = frac | 0x800000u;
    let shift = u32(-14 - e) + 13u;
    var h = m >> shift;
    let rest = m & ((1u << shift) - 1u);
    let halfway = 1u << (shift - 1u);
    if (rest > halfway || (rest == halfway && (h & 1u) == 1u)) {
      h = h + 1u;
    }
    return sign | h;
  }
  return sign;
}

// bf16_bits rounds the float32 bits b to bfloat16, ties to even; NaN
// becomes the quiet NaN 0x7fc0 with b's sign.
fn bf16_bits(b: u32) -> u32 {
  if ((b & 0x7fffffffu) > 0x7f800000u) {
    return ((b >> 16u) & 0x8000u) | 0x7fc0u;
  }
  return (b + 0x7fffu + ((b >> 16u) & 1u)) >> 16u;
}

fn sign_i32(v: i32) -> i32 {
  return select(select(0, 1, v > 0), -1, v < 0);
}

{{define "ew_fields"}}
  n: u32,
  rank: u32,
  flags: u32,
  scalar: u32,
  off: vec4<u32>,
  shape: array<vec4<u32>, 2>,
  st0: array<vec4<u32>, 2>,
  st1: array<vec4<u32>, 2>,
  st2: array<vec4<u32>, 2>,
  st3: array<vec4<u32>, 2>,
  lin: u32,
{{- end}}

{{define "ew_params"}}
// Params of the elementwise kernels. Operand k has offset off[k] and strides
// stK; the iteration space has rank dimensions of sizes shape. Operands
// indexed by the linear index i (dense outputs) are read and written at
// lin + i.
struct Params {
{{- template "ew_fields"}}
}
@group(0) @binding(0) var<uniform> p: Params;
{{template "divmod"}}
{{- end}}

{{define "divmod"}}
// divmod returns v / s and v % s. Below 2^23 it divides by a float
// reciprocal, whose quotient is then off by at most one and corrected: a
// software adapter has no vector integer division (llvmpipe divides lane
// by lane), and a GPU's is a long sequence of instructions.
fn divmod(v: u32, s: u32) -> vec2<u32> {
  if (v >= 0x800000u) {
    return vec2<u32>(v / s, v % s);
  }
  var q = u32(f32(v) * (1.0 / f32(s)));
  var r = i32(v) - i32(q * s);
  q = select(q, q - 1u, r < 0);
  r = select(r, r + i32(s), r < 0);
  q = select(q, q + 1u, r >= i32(s));
  r = select(r, r - i32(s), r >= i32(s));
  return vec2<u32>(q, u32(r));
}
{{end}}

{{define "ew_offset"}}
// offset{{.}} maps the linear index i of the iteration space to an element
// of operand {{.}}: the index of the outermost dimension is what the
// inner ones leave of i, which lies inside the space.
fn offset{{.}}(i: u32) -> u32 {
  var rem = i;
  var o = p.off[{{.}}];
  for (var d = p.rank; d > 1u; d = d - 1u) {
    let k = d - 1u;
    let qr = divmod(rem, p.shape[k >> 2u][k & 3u]);
    o = o + qr.y * p.st{{.}}[k >> 2u][k & 3u];
    rem = qr.x;
  }
  return o + rem * p.st{{.}}[0][0];
}
{{end}}

{{define "fused_fields"}}
  shape: array<vec4<u32>, 2>,
  off: array<vec4<u32>, {{.Off4}}>,
  st: array<array<vec4<u32>, 2>, {{.NSt}}>,
  sc: array<vec4<u32>, {{.Sc4}}>,
{{- end}}

{{define "fused_decls"}}
// The leaves of a generated expression (see device/webgpu/fuse.go): strided
// views over the iteration space of rank p.rank and sizes p.shape, leaf k
// at offset p.off[k] with strides p.st[k]; scalars are parameters.
{{- range .Leaves}}
@group(0) @binding({{.Binding}}) var<storage, read> x{{.K}}: array<{{.T}}>;
{{- end}}

// cur_row and cur_col are the row and column of the output element being
// stored, in the epilogue of a product or a convolution (a channel), for
// the leaves loaded at them (fused_eval's Row and Col loads).
var<private> cur_row: u32;
var<private> cur_col: u32;

// at maps the linear index i, inside the iteration space, to an element of
// leaf k (as offset in ew_offset).
fn at(k: u32, i: u32) -> u32 {
  var rem = i;
  var o = p.off[k >> 2u][k & 3u];
  for (var d = p.rank; d > 1u; d = d - 1u) {
    let j = d - 1u;
    let qr = divmod(rem, p.shape[j >> 2u][j & 3u]);
    o = o + qr.y * p.st[k][j >> 2u][j & 3u];
    rem = qr.x;
  }
  return o + rem * p.st[k][0][0];
}
{{template "divmod"}}

// scalar returns the bits of scalar parameter j.
fn scalar(j: u32) -> u32 {
  return p.sc[j >> 2u][j & 3u];
}
{{range .Funcs}}
fn {{.Name}}({{.Params}}) -> {{.Ret}} {
  return {{.Body}};
}
{{end}}
{{- end}}

{{define "fused_eval"}}
{{- range .Loads}}
{{- if .Half}}
{{- if .Dense}}
    let j{{.K}} = p.off[{{.K}}u >> 2u][{{.K}}u & 3u] + i;
{{- else}}
    let j{{.K}} = at({{.K}}u, i);
{{- end}}
    let l{{.K}} = {{.Half}}_value(half_bits(x{{.K}}[j{{.K}} >> 1u], j{{.K}}));
{{- else if .Dense}}
    let l{{.K}} = x{{.K}}[p.off[{{.K}}u >> 2u][{{.K}}u & 3u] + i];
{{- else if .Row}}
    let l{{.K}} = x{{.K}}[p.off[{{.K}}u >> 2u][{{.K}}u & 3u] + cur_row * p.st[{{.K}}][0][0]];
{{- else if .Col}}
    let l{{.K}} = x{{.K}}[p.off[{{.K}}u >> 2u][{{.K}}u & 3u] + cur_col * p.st[{{.K}}][0][0]];
{{- else}}
    let l{{.K}} = x{{.K}}[at({{.K}}u, i)];
{{- end}}
{{- end}}
{{- range .Steps}}
    let {{.Name}} = {{.Call}};
{{- end}}
{{- end}}

{{define "ew_index"}}
  let i = gid.x + gid.y * nwg.x * 256u;
  if (i >= p.n) { return; }
{{end}}

{{define "gemm_decl"}}
// The GEMM tile of matmul.wgsl and conv2d.wgsl: a WY×WX workgroup computes
// a TM×TN tile of the output (TM = WY·RM, TN = WX·RN), staging TM×TK panels
// of A and TK×TN panels of B in workgroup memory as vec4s, [k][row / 4] and
// [k][col / 4]; each thread accumulates the RM×RN block of rows lid.y·RM…
// and columns lid.x·RN… in registers.
const TM = {{.TM}}u;
const TN = {{.TN}}u;
const TK = {{.TK}}u;
const THREADS = {{.Threads}}u;
var<workgroup> As: array<vec4<f32>, {{.ASize}}>;
var<workgroup> Bs: array<vec4<f32>, {{.BSize}}>;

fn set_a(k: u32, row: u32, v: f32) {
  As[(k * TM + row) / 4u][row % 4u] = v;
}

fn set_b(k: u32, col: u32, v: f32) {
  Bs[(k * TN + col) / 4u][col % 4u] = v;
}
{{end}}

{{define "gemm_acc"}}
{{- range .Acc}}
  var acc{{.}} = vec4<f32>(0.0);
{{- end}}
{{end}}

{{define "gemm_mac"}}
{{- /* With .SgA (see broadcastsA in device/webgpu/gemm.go) lane li & 7 of
  a subgroup of 8, whose lanes share their block's rows, reads one of
  each 8 values of A a K step needs and broadcasts it to the others. */}}
    workgroupBarrier();
    for (var kk = 0u; kk < TK; kk = kk + 1u) {
      let ar = kk * (TM / 4u) + lid.y * {{.RM4}}u;
      let bc = kk * (TN / 4u) + lid.x * {{.RN4}}u;
{{- if .SgA}}
{{- range .AReads}}
      let mine{{.}} = As[ar + {{.}}u * 2u + (li & 7u) / 4u][li & 3u];
{{- end}}
{{- range .ABcast}}
      let a{{.Vec}} = vec4<f32>(subgroupBroadcast(mine{{.Read}}, {{.Lane}}u), subgroupBroadcast(mine{{.Read}}, {{.Lane}}u + 1u), subgroupBroadcast(mine{{.Read}}, {{.Lane}}u + 2u), subgroupBroadcast(mine{{.Read}}, {{.Lane}}u + 3u));
{{- end}}
{{- else}}
{{- range .AVecs}}
      let a{{.}} = As[ar + {{.}}u];
{{- end}}
{{- end}}
{{- range .BVecs}}
      let b{{.}} = Bs[bc + {{.}}u];
{{- end}}
{{- range .Mac}}
      acc{{.Acc}} = fma(vec4<f32>(a{{.AVec}}.{{.Lane}}), b{{.BVec}}, acc{{.Acc}});
{{- end}}
    }
    workgroupBarrier();
{{end}}

{{define "gemm_store"}}
  // The output element of row r and column col is at row_off(ctx, r) +
  // col_off(ctx, col), functions of the family; rows × cols bound it.
{{- range .BVecs}}
  let c{{.}} = col0 + lid.x * {{$.RN}}u + {{.}}u * 4u;
  let co{{.}} = vec4<u32>(col_off(ctx, c{{.}}), col_off(ctx, c{{.}} + 1u), col_off(ctx, c{{.}} + 2u), col_off(ctx, c{{.}} + 3u));
{{- end}}
{{- range .Rows}}
  {
    let r = row0 + lid.y * {{$.RM}}u + {{.Row}}u;
    if (r < rows) {
{{- if $.Epi}}
      cur_row = r;
{{- end}}
      let ro = row_off(ctx, r);
{{- range .Accs}}
      for (var j = 0u; j < 4u; j = j + 1u) {
        if (c{{.BVec}} + j < cols) {
{{- if $.Epi}}
          cur_col = c{{.BVec}} + j;
{{- end}}
          put(ro + co{{.BVec}}[j], acc{{.Acc}}[j]);
        }
      }
{{- end}}
    }
  }
{{- end}}
{{end}}
