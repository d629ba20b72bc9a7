// y[i] = cond[i] != 0 ? a[i] : b[i] over three strided operands.
{{template "ew_params"}}
@group(0) @binding(1) var<storage, read> cond: array<{{.CT}}>;
@group(0) @binding(2) var<storage, read> a: array<{{.T}}>;
@group(0) @binding(3) var<storage, read> b: array<{{.T}}>;
@group(0) @binding(4) var<storage, read_write> y: array<{{.T}}>;
{{template "ew_offset" 0}}
{{template "ew_offset" 1}}
{{template "ew_offset" 2}}

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
{{template "ew_index"}}
  // A float condition is tested on its bits, so that NaN counts as true
  // (non-zero) whatever the compiler makes of comparisons with NaN.
{{- if eq .CT "f32"}}
  if ((bitcast<u32>(cond[offset0(i)]) & 0x7fffffffu) != 0u) {
{{- else}}
  if (cond[offset0(i)] != 0) {
{{- end}}
    y[p.lin + i] = a[offset1(i)];
  } else {
    y[p.lin + i] = b[offset2(i)];
  }
}
