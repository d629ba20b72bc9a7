// The epilogue of a convolution, in place on its dense output y:
// y[i] = clamp(y[i] + bias[offset0(i)] + res[offset1(i)], lo, hi), where
// bias is the per-channel vector seen as a broadcast view of y's shape.
// Operands that are absent are not declared. lo and hi travel as the bits
// of the scalar and flags parameters; NaN stays NaN.
{{template "ew_params"}}
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
  var v = y[i];
{{- if .Bias}}
  v = v + bias[offset0(i)];
{{- end}}
{{- if .Res}}
  v = v + res[offset1(i)];
{{- end}}
{{- if .Clamp}}
  let lo = bitcast<f32>(p.scalar);
  let hi = bitcast<f32>(p.flags);
  v = select(v, lo, v < lo);
  v = select(v, hi, v > hi);
{{- end}}
  y[i] = v;
}
