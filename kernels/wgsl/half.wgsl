// Conversions to and from the 16-bit float types, Float16 (binary16) and
// BFloat16, whose buffers hold two elements a 32-bit word, the first in the
// low half. Operand 0 is the source and operand 1 the (strided)
// destination; .S and .D name their kinds (f32, i32, f16, bf16) and .Mode
// the entry point's shape: "unpack" writes a 32-bit destination, "dense"
// writes whole words of a dense 16-bit destination (p.n counts words), and
// "strided" sets the 16 bits of each element of any 16-bit view with
// atomics, since two threads may share a word. The conversions are done on
// the bits, as the CPU does them, never with pack2x16float (undefined
// beyond binary16's range): ties round to even, NaN stays NaN.
{{template "ew_params"}}
@group(0) @binding(1) var<storage, read> src: array<{{if eq .S "f16" "bf16"}}u32{{else}}{{.S}}{{end}}>;
{{- if eq .Mode "unpack"}}
@group(0) @binding(2) var<storage, read_write> dst: array<{{.D}}>;
{{- else if eq .Mode "dense"}}
@group(0) @binding(2) var<storage, read_write> dst: array<u32>;
{{- else}}
@group(0) @binding(2) var<storage, read_write> dst: array<atomic<u32>>;
{{- end}}
{{template "ew_offset" 0}}
{{template "ew_offset" 1}}

{{if eq .S "f16" "bf16"}}
// half_at returns the 16 bits of element e of src.
fn half_at(e: u32) -> u32 {
  return half_bits(src[e >> 1u], e);
}
{{end}}
// value returns element e of src as float32 bits.
fn value(e: u32) -> u32 {
{{- if eq .S "f16"}}
  return bitcast<u32>(f16_value(half_at(e)));
{{- else if eq .S "bf16"}}
  return half_at(e) << 16u;
{{- else if eq .S "i32"}}
  return bitcast<u32>(f32(src[e]));
{{- else}}
  return bitcast<u32>(src[e]);
{{- end}}
}

{{if eq .Mode "unpack"}}
@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
{{template "ew_index"}}
{{- if eq .D "i32"}}
  dst[offset1(i)] = i32(bitcast<f32>(value(offset0(i))));
{{- else}}
  dst[offset1(i)] = bitcast<f32>(value(offset0(i)));
{{- end}}
}
{{else}}
// bits returns element e of src as the destination's 16 bits.
fn bits(e: u32) -> u32 {
{{- if eq .S .D}}
  return half_at(e);
{{- else if eq .D "f16"}}
  return f16_bits(value(e));
{{- else}}
  return bf16_bits(value(e));
{{- end}}
}
{{end}}
{{- if eq .Mode "dense"}}
// main writes word i of the dense destination: elements 2i and 2i+1, the
// second zero past the last element (p.scalar counts the elements).
@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
{{template "ew_index"}}
  let e = 2u * i;
  var w = bits(offset0(e));
  if (e + 1u < p.scalar) {
    w = w | (bits(offset0(e + 1u)) << 16u);
  }
  dst[p.lin + i] = w;
}
{{- else if eq .Mode "strided"}}
@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
{{template "ew_index"}}
  let e = offset1(i);
  let shift = (e & 1u) * 16u;
  atomicAnd(&dst[e >> 1u], ~(0xffffu << shift));
  atomicOr(&dst[e >> 1u], bits(offset0(i)) << shift);
}
{{- end}}
