// Elementwise functions of two arguments: y[i] = f(a[offset0(i)], b[offset1(i)]).
// flags bit 0: b is the scalar p.scalar; bit 1: the scalar is the left operand.
{{template "ew_params"}}
@group(0) @binding(1) var<storage, read> a: array<{{.T}}>;
@group(0) @binding(2) var<storage, read> b: array<{{.T}}>;
@group(0) @binding(3) var<storage, read_write> y: array<{{.OT}}>;
{{template "ew_offset" 0}}
{{template "ew_offset" 1}}

fn f(u: {{.T}}, v: {{.T}}) -> {{.OT}} {
  return {{.Expr}};
}

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
{{template "ew_index"}}
  let u = a[offset0(i)];
  if ((p.flags & 1u) == 0u) {
    y[p.lin + i] = f(u, b[offset1(i)]);
    return;
  }
  let s = bitcast<{{.T}}>(p.scalar);
  if ((p.flags & 2u) == 0u) {
    y[p.lin + i] = f(u, s);
  } else {
    y[p.lin + i] = f(s, u);
  }
}
