// The epilogue of a convolution, in place on its dense output y (see
// device.Epilogue): v = y[i] + bias[offset0(i)] + res[offset1(i)], then
// clamp(v, lo, hi), then v·clamp(v/6 + 1/2, 0, 1), then v·scale + shift,
// each step only where the specialisation has it; bias is the per-channel
// vector seen as a broadcast view of y's shape. Operands that are absent
// are not declared. NaN stays NaN.
// Params are ew_params' followed by the epilogue's constants.
struct Params {
{{- template "ew_fields"}}
  lo: f32,
  hi: f32,
  scale: f32,
  shift: f32,
}
@group(0) @binding(0) var<uniform> p: Params;
{{template "divmod"}}
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
{{- if .Bias}}
@group(0) @binding(2) var<storage, read> bias: array<f32>;
{{template "ew_offset" 0}}
{{- end}}
{{- if .Res}}
@group(0) @binding(3) var<storage, read> res: array<f32>;
{{template "ew_offset" 1}}
{{- end}}

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
{{template "ew_index"}}
  var v = y[p.lin + i];
{{- if .Bias}}
  v = v + bias[offset0(i)];
{{- end}}
{{- if .Res}}
  v = v + res[offset1(i)];
{{- end}}
{{- if .Clamp}}
  v = select(v, p.lo, v < p.lo);
  v = select(v, p.hi, v > p.hi);
{{- end}}
{{- if .HardSwish}}
  var t = v * (1.0 / 6.0) + 0.5;
  t = select(t, 0.0, t < 0.0);
  t = select(t, 1.0, t > 1.0);
  v = v * t;
{{- end}}
{{- if .Affine}}
  v = v * p.scale + p.shift;
{{- end}}
  y[p.lin + i] = v;
}
