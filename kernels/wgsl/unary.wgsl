// Elementwise functions of one argument: y[i] = f(x[offset0(i)]).
{{template "ew_params"}}
@group(0) @binding(1) var<storage, read> x: array<{{.T}}>;
@group(0) @binding(2) var<storage, read_write> y: array<{{.T}}>;
{{template "ew_offset" 0}}

fn f(v: {{.T}}) -> {{.T}} {
  return {{.Expr}};
}

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
{{template "ew_index"}}
  y[p.lin + i] = f(x[offset0(i)]);
}
