// Chains of elementwise ops fused into one kernel (see device/gpu_fuse.go).
// Each output y<k>[lin + i] is an expression of the leaves, strided views
// of buffers over the iteration space. Outputs of one shape form a cluster
// that shares its loads and steps; a kernel of several clusters (dense
// values of several shapes, as an optimizer's parameters) runs one
// dimension as long as the longest, each cluster below its own length. The
// host generates the leaves, the functions (one per distinct op) and the
// steps that apply them; scalars and lengths are parameters, so the kernel
// depends on the expressions' shape, not on their values.
struct Params {
  n: u32,
  rank: u32,
  lin: u32,
  pad0: u32,
  shape: array<vec4<u32>, 2>,
  off: array<vec4<u32>, {{.Off4}}>,
  st: array<array<vec4<u32>, 2>, {{.NSt}}>,
  sc: array<vec4<u32>, {{.Sc4}}>,
  cn: array<vec4<u32>, {{.C4}}>,
}
@group(0) @binding(0) var<uniform> p: Params;
{{- range .Leaves}}
@group(0) @binding({{.Binding}}) var<storage, read> x{{.K}}: array<{{.T}}>;
{{- end}}
{{- range .Outs}}
@group(0) @binding({{.Binding}}) var<storage, read_write> y{{.K}}: array<{{.T}}>;
{{- end}}

// at maps the linear index i to an element of leaf k.
fn at(k: u32, i: u32) -> u32 {
  var rem = i;
  var o = p.off[k >> 2u][k & 3u];
  for (var d = p.rank; d > 0u; d = d - 1u) {
    let j = d - 1u;
    let s = p.shape[j >> 2u][j & 3u];
    o = o + (rem % s) * p.st[k][j >> 2u][j & 3u];
    rem = rem / s;
  }
  return o;
}

// scalar returns the bits of scalar parameter j.
fn scalar(j: u32) -> u32 {
  return p.sc[j >> 2u][j & 3u];
}
{{range .Funcs}}
fn {{.Name}}({{.Params}}) -> {{.Ret}} {
  return {{.Body}};
}
{{end}}
@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * 256u;
  if (i >= p.n) { return; }
{{- range .Clusters}}
  if (i < p.cn[{{.K}}u >> 2u][{{.K}}u & 3u]) {
{{- range .Loads}}
    let l{{.}} = x{{.}}[at({{.}}u, i)];
{{- end}}
{{- range .Steps}}
    let {{.Name}} = {{.Call}};
{{- end}}
{{- range .Outs}}
    y{{.K}}[p.lin + i] = {{.Result}};
{{- end}}
  }
{{- end}}
}
