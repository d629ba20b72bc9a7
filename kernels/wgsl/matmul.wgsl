// Batched matrix product c[b] = a[b] @ b[b] for strided a [B, M, K] and
// b [B, K, N] into a dense c [B, M, N]. Each 16×16 workgroup computes a
// 64×64 tile of c, staging 64×16 panels of a and 16×64 panels of b in
// workgroup memory; each thread accumulates a 4×4 block in registers, its
// rows and columns 16 apart so that neighbouring threads touch neighbouring
// addresses. With accumulate set, the product is added to c's contents, so
// that a long K can be split over several dispatches.
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
}
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read_write> c: array<f32>;

var<workgroup> As: array<f32, 1024>; // [16 k][64 rows]
var<workgroup> Bs: array<f32, 1024>; // [16 k][64 cols]

@compute @workgroup_size(16, 16)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let batch = wg.z + p.batch_base;
  let row0 = wg.y * 64u;
  let col0 = wg.x * 64u;
  let abase = p.off_a + batch * p.sa_b;
  let bbase = p.off_b + batch * p.sb_b;
  var acc0 = vec4<f32>(0.0);
  var acc1 = vec4<f32>(0.0);
  var acc2 = vec4<f32>(0.0);
  var acc3 = vec4<f32>(0.0);
  for (var k0 = 0u; k0 < p.k; k0 = k0 + 16u) {
    for (var t = 0u; t < 4u; t = t + 1u) {
      let e = li + t * 256u;
      let mm = e / 16u;
      let kk = e % 16u;
      let gr = row0 + mm;
      let gk = k0 + kk;
      var v = 0.0;
      if (gr < p.m && gk < p.k) {
        v = a[abase + gr * p.sa_m + gk * p.sa_k];
      }
      As[kk * 64u + mm] = v;
      let kb = e / 64u;
      let nn = e % 64u;
      let gc = col0 + nn;
      let gkb = k0 + kb;
      var w = 0.0;
      if (gc < p.n && gkb < p.k) {
        w = b[bbase + gkb * p.sb_k + gc * p.sb_n];
      }
      Bs[kb * 64u + nn] = w;
    }
    workgroupBarrier();
    for (var kk = 0u; kk < 16u; kk = kk + 1u) {
      let ar = kk * 64u + lid.y;
      let bc = kk * 64u + lid.x;
      let bv = vec4<f32>(Bs[bc], Bs[bc + 16u], Bs[bc + 32u], Bs[bc + 48u]);
      acc0 = acc0 + As[ar] * bv;
      acc1 = acc1 + As[ar + 16u] * bv;
      acc2 = acc2 + As[ar + 32u] * bv;
      acc3 = acc3 + As[ar + 48u] * bv;
    }
    workgroupBarrier();
  }
  let cbase = batch * p.m * p.n;
  for (var i = 0u; i < 4u; i = i + 1u) {
    let r = row0 + lid.y + i * 16u;
    if (r >= p.m) { continue; }
    var acc = acc0;
    if (i == 1u) { acc = acc1; }
    if (i == 2u) { acc = acc2; }
    if (i == 3u) { acc = acc3; }
    for (var j = 0u; j < 4u; j = j + 1u) {
      let col = col0 + lid.x + j * 16u;
      if (col < p.n) {
        let i = cbase + r * p.n + col;
        if (p.accumulate != 0u) {
          c[i] = c[i] + acc[j];
        } else {
          c[i] = acc[j];
        }
      }
    }
  }
}
