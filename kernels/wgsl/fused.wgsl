// Chains of elementwise ops fused into one kernel (see device/webgpu/fuse.go).
// Each output y<k>[lin + i] (rounded to a 16-bit float when Half) is an
// expression of the leaves, strided views
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
{{- template "fused_fields" .}}
  cn: array<vec4<u32>, {{.C4}}>,
}
@group(0) @binding(0) var<uniform> p: Params;
{{- template "fused_decls" .}}
{{- range .Outs}}
@group(0) @binding({{.Binding}}) var<storage, read_write> y{{.K}}: array<{{if .Half}}atomic<u32>{{else}}{{.T}}{{end}}>;
{{- end}}

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * 256u;
  if (i >= p.n) { return; }
{{- range .Clusters}}
  if (i < p.cn[{{.K}}u >> 2u][{{.K}}u & 3u]) {
{{- template "fused_eval" .}}
{{- range .Outs}}
{{- if .Half}}
    {
      // A 16-bit output: this element's half of a word another thread
      // writes the other half of.
      let e = p.lin + i;
      let sh = (e & 1u) * 16u;
      atomicAnd(&y{{.K}}[e >> 1u], ~(0xffffu << sh));
      atomicOr(&y{{.K}}[e >> 1u], {{.Half}}_bits(bitcast<u32>({{.Result}})) << sh);
    }
{{- else}}
    y{{.K}}[p.lin + i] = {{.Result}};
{{- end}}
{{- end}}
  }
{{- end}}
}
