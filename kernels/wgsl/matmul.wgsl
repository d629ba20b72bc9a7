// Batched matrix product c[b] = a[b] @ b[b] for strided a [B, M, K] and
// b [B, K, N] into c [B, M, N] with rows of unit stride, tiled as gemm_decl in common.wgsl
// describes: the specialisation gives the tile shape (the host picks one
// per adapter and problem size). With accumulate set, the product is added
// to c's contents, so that a long K can be split over several dispatches.
//
// VecA (VecB) is set when a is contiguous along K (b along N) with sizes,
// offsets and strides multiples of 4: the panels then load as vec4s. Epi,
// when set, is an epilogue fused into the store (device/webgpu/fuse.go); c is
// then dense.
struct Params {
  m: u32,
  n: u32,
  k: u32,
  batch_base: u32,
  off_a: u32,
  off_b: u32,
  sa_b: u32,
  sa_m: u32,
  sa_k: u32,
  sb_b: u32,
  sb_k: u32,
  sb_n: u32,
  accumulate: u32,
  off_c: u32,
  sc_b: u32,
  sc_m: u32,
  // Index i of an operand's dimension x is at (i / x_in)·s_x + (i % x_in)·
  // s_x2: two levels when the operand reads through a copy (.Split for
  // its rows and columns).
  ab_in: u32,
  sa_b2: u32,
  bb_in: u32,
  sb_b2: u32,
  am_in: u32,
  sa_m2: u32,
  bk_in: u32,
  sb_k2: u32,
  ak_in: u32,
  sa_k2: u32,
  bn_in: u32,
  sb_n2: u32,
{{- if .Epi}}
  last: u32,
  rank: u32,
  pad0: u32,
  pad1: u32,
{{- template "fused_fields" .Epi}}
{{- end}}
}
@group(0) @binding(0) var<uniform> p: Params;
{{if .VecA}}
@group(0) @binding(1) var<storage, read> a: array<vec4<f32>>;
{{else if .HalfA}}
@group(0) @binding(1) var<storage, read> a: array<u32>;
{{else}}
@group(0) @binding(1) var<storage, read> a: array<f32>;
{{end}}
{{if .VecB}}
@group(0) @binding(2) var<storage, read> b: array<vec4<f32>>;
{{else if .HalfB}}
@group(0) @binding(2) var<storage, read> b: array<u32>;
{{else}}
@group(0) @binding(2) var<storage, read> b: array<f32>;
{{end}}

// load_a and load_b read element i of a scalar operand: a 16-bit float
// (HalfA, HalfB: f16 or bf16, two a word, the first in the low half) is
// widened to float32 as it is read.
fn load_a(i: u32) -> f32 {
{{- if .HalfA}}
  return {{.HalfA}}_value(half_bits(a[i >> 1u], i));
{{- else if not .VecA}}
  return a[i];
{{- else}}
  return 0.0;
{{- end}}
}

fn load_b(i: u32) -> f32 {
{{- if .HalfB}}
  return {{.HalfB}}_value(half_bits(b[i >> 1u], i));
{{- else if not .VecB}}
  return b[i];
{{- else}}
  return 0.0;
{{- end}}
}
@group(0) @binding(3) var<storage, read_write> c: array<f32>;

{{- if not .Thin}}
{{template "gemm_decl" .}}
{{- end}}

{{- if .Epi}}
{{template "fused_decls" .Epi}}
{{- end}}

// put stores the product's element i; on the last pass over K, an
// epilogue (a generated expression of the product acc and other leaves,
// over the dense output) applies to it first.
fn put(i: u32, v: f32) {
  var acc = v;
  if (p.accumulate != 0u) {
    acc = c[i] + v;
  }
{{- with .Epi}}
  if (p.last != 0u) {
{{- template "fused_eval" .}}
    acc = {{.Result}};
  }
{{- end}}
  c[i] = acc;
}

// at2 is the offset of index i of a dimension of two levels.
fn at2(i: u32, inner: u32, outer: u32, stride: u32) -> u32 {
  return (i / inner) * outer + (i % inner) * stride;
}

// a_at and b_at are the offsets of a[row, k] and b[k, col] from their
// batch's base.
fn a_at(r: u32, k: u32) -> u32 {
{{- if .Split}}
  return at2(r, p.am_in, p.sa_m, p.sa_m2) + at2(k, p.ak_in, p.sa_k, p.sa_k2);
{{- else}}
  return r * p.sa_m + k * p.sa_k;
{{- end}}
}

fn b_at(k: u32, col: u32) -> u32 {
{{- if .Split}}
  return at2(k, p.bk_in, p.sb_k, p.sb_k2) + at2(col, p.bn_in, p.sb_n, p.sb_n2);
{{- else}}
  return k * p.sb_k + col * p.sb_n;
{{- end}}
}

fn row_off(batch: u32, r: u32) -> u32 {
  return p.off_c + batch * p.sc_b + r * p.sc_m;
}

fn col_off(batch: u32, col: u32) -> u32 {
  return col;
}

{{if .Thin}}
// thin: a product of at most four rows (a vector times a transposed
// weight: a classifier's head) without tiles, whose rows would be mostly
// padding: thread col sums every row's element of its column over K,
// reading each element of b once; with VecA and VecB (set together, for a
// and b contiguous along K) four steps of K at a time.
@compute @workgroup_size(256)
fn thin(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let batch = wg.z + p.batch_base;
  let col = wg.x * 256u + li;
  if (col >= p.n) {
    return;
  }
  let abase = p.off_a + at2(batch, p.ab_in, p.sa_b, p.sa_b2);
  let bbase = p.off_b + at2(batch, p.bb_in, p.sb_b, p.sb_b2);
  var acc = vec4<f32>(0.0);
{{- if .VecB}}
  // a along K and b's columns along K (a transposed weight): four steps
  // of K a load.
  for (var k = 0u; k < p.k; k = k + 4u) {
    let w = b[(bbase + b_at(k, col)) / 4u];
    acc.x = acc.x + dot(a[(abase + a_at(0u, k)) / 4u], w);
    if (p.m > 1u) {
      acc.y = acc.y + dot(a[(abase + a_at(1u, k)) / 4u], w);
    }
    if (p.m > 2u) {
      acc.z = acc.z + dot(a[(abase + a_at(2u, k)) / 4u], w);
    }
    if (p.m > 3u) {
      acc.w = acc.w + dot(a[(abase + a_at(3u, k)) / 4u], w);
    }
  }
{{- else}}
  for (var k = 0u; k < p.k; k = k + 1u) {
    let w = load_b(bbase + b_at(k, col));
    acc.x = acc.x + load_a(abase + a_at(0u, k)) * w;
    if (p.m > 1u) {
      acc.y = acc.y + load_a(abase + a_at(1u, k)) * w;
    }
    if (p.m > 2u) {
      acc.z = acc.z + load_a(abase + a_at(2u, k)) * w;
    }
    if (p.m > 3u) {
      acc.w = acc.w + load_a(abase + a_at(3u, k)) * w;
    }
  }
{{- end}}
  for (var r = 0u; r < p.m; r = r + 1u) {
{{- if .Epi}}
    cur_row = r;
    cur_col = col;
{{- end}}
    put(row_off(batch, r) + col_off(batch, col), acc[r]);
  }
}
{{else}}
@compute @workgroup_size({{.WX}}, {{.WY}})
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let batch = wg.z + p.batch_base;
  let row0 = wg.y * TM;
  let col0 = wg.x * TN;
  let abase = p.off_a + at2(batch, p.ab_in, p.sa_b, p.sa_b2);
  let bbase = p.off_b + at2(batch, p.bb_in, p.sb_b, p.sb_b2);
{{template "gemm_acc" .}}  for (var k0 = 0u; k0 < p.k; k0 = k0 + TK) {
{{if .VecA}}
    for (var e = li; e < TM * TK / 4u; e = e + THREADS) {
      let mm = e / (TK / 4u);
      let kq = (e % (TK / 4u)) * 4u;
      let gr = row0 + mm;
      var v = vec4<f32>(0.0);
      if (gr < p.m && k0 + kq < p.k) {
        v = a[(abase + a_at(gr, k0 + kq)) / 4u];
      }
      set_a(kq, mm, v.x);
      set_a(kq + 1u, mm, v.y);
      set_a(kq + 2u, mm, v.z);
      set_a(kq + 3u, mm, v.w);
    }
{{else}}
    for (var e = li; e < TM * TK; e = e + THREADS) {
      let mm = e / TK;
      let kk = e % TK;
      let gr = row0 + mm;
      var v = 0.0;
      if (gr < p.m && k0 + kk < p.k) {
        v = load_a(abase + a_at(gr, k0 + kk));
      }
      set_a(kk, mm, v);
    }
{{end}}
{{if .VecB}}
    for (var e = li; e < TN * TK / 4u; e = e + THREADS) {
      let kb = e / (TN / 4u);
      let nq = e % (TN / 4u);
      var w = vec4<f32>(0.0);
      if (col0 + nq * 4u < p.n && k0 + kb < p.k) {
        w = b[(bbase + b_at(k0 + kb, col0 + nq * 4u)) / 4u];
      }
      Bs[kb * (TN / 4u) + nq] = w;
    }
{{else}}
    for (var e = li; e < TN * TK; e = e + THREADS) {
      let kb = e / TN;
      let nn = e % TN;
      var w = 0.0;
      if (col0 + nn < p.n && k0 + kb < p.k) {
        w = load_b(bbase + b_at(k0 + kb, col0 + nn));
      }
      set_b(kb, nn, w);
    }
{{end}}
{{template "gemm_mac" .}}
  }
  let rows = p.m;
  let cols = p.n;
  let ctx = batch;
{{template "gemm_store" .}}
}
{{end}}
