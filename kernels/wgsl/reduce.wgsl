// Reductions over the trailing dimensions of a strided view. Output o (a
// linear index over the leading dimensions) combines the n_red elements of its
// row. Large rows use one workgroup per output and a tree in workgroup
// memory (entry point "rows"); short rows use one thread per output
// ("cols"). Very long rows are cut into n_chunks chunks of chunk elements,
// each reduced by its own workgroup into y[o * n_chunks + c], so that no
// thread loops more than chunk/256 times (software rasterisers such as
// llvmpipe stop loops that run too long); a second pass combines the chunks.
struct Params {
  n_out: u32,
  n_red: u32,
  rank_out: u32,
  rank_red: u32,
  x_off: u32,
  scale: f32,
  chunk: u32,
  n_chunks: u32,
  shape_out: array<vec4<u32>, 2>,
  st_out: array<vec4<u32>, 2>,
  shape_red: array<vec4<u32>, 2>,
  st_red: array<vec4<u32>, 2>,
  y_off: u32, // output o (or its chunk oc) is y[y_off + o]
{{- with or .Pro .Epi}}
  rank: u32,
  pad0: u32,
  pad1: u32,
{{- template "fused_fields" .}}
{{- end}}
}
@group(0) @binding(0) var<uniform> p: Params;
{{- with or .Pro .Epi}}
{{template "fused_decls" .}}
{{- end}}
{{- if not .Pro}}
@group(0) @binding(1) var<storage, read> x: array<{{.T}}>;
{{- end}}
@group(0) @binding(2) var<storage, read_write> y: array<{{.OT}}>;

fn out_base(o: u32) -> u32 {
  var rem = o;
  var base = p.x_off;
  for (var d = p.rank_out; d > 0u; d = d - 1u) {
    let k = d - 1u;
    let s = p.shape_out[k >> 2u][k & 3u];
    base = base + (rem % s) * p.st_out[k >> 2u][k & 3u];
    rem = rem / s;
  }
  return base;
}

fn red_offset(r: u32) -> u32 {
  if (p.rank_red <= 1u) {
    return r * p.st_red[0][0];
  }
  var rem = r;
  var o = 0u;
  for (var d = p.rank_red; d > 0u; d = d - 1u) {
    let k = d - 1u;
    let s = p.shape_red[k >> 2u][k & 3u];
    o = o + (rem % s) * p.st_red[k >> 2u][k & 3u];
    rem = rem / s;
  }
  return o;
}

fn combine(a: {{.AT}}, b: {{.AT}}) -> {{.AT}} {
  return {{.Combine}};
}

// load reads element i of x or, with a prologue (.Pro), evaluates the
// elementwise expression that x stands for at i (see device/webgpu/fuse.go).
fn load(i: u32) -> {{.AT}} {
{{- with .Pro}}
{{- template "fused_eval" .}}
  return {{$.AT}}({{.Result}});
{{- else}}
  return {{.AT}}(x[i]);
{{- end}}
}

fn finish_row(acc: {{.AT}}) -> {{.OT}} {
  return {{.Finish}};
}

// finish gives output i its value; with an epilogue (.Epi), a generated
// expression of the reduced value acc and other leaves over the output
// (see device/webgpu/fuse.go). A kernel has a prologue or an epilogue, not
// both.
fn finish(total: {{.AT}}, i: u32) -> {{.OT}} {
{{- with .Epi}}
  let acc = finish_row(total);
{{- template "fused_eval" .}}
  return {{.Result}};
{{- else}}
  return finish_row(total);
{{- end}}
}

var<workgroup> partial: array<{{.AT}}, 256>;
{{- if .Subgroups}}
var<workgroup> subgroups: atomic<u32>;
{{- end}}

// rows: each thread combines a strided share of the row's chunk; the
// workgroup's 256 partial results are then combined by a tree in
// workgroup memory or, with subgroup operations (.Subgroups), by a
// butterfly of shuffles within each subgroup whose results one thread
// combines: no barrier per level. Either way combine() is the only
// arithmetic, so NaN and integer semantics are the same.
@compute @workgroup_size(256)
fn rows(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32{{if .Subgroups}}, @builtin(subgroup_invocation_id) sid: u32, @builtin(subgroup_size) sgs: u32{{end}}) {
  let oc = linear_group(wg, nwg);
  let o = oc / p.n_chunks;
  let r1 = min((oc % p.n_chunks + 1u) * p.chunk, p.n_red);
  // o is uniform across the workgroup, so every thread takes this branch
  // together and the barriers below stay in uniform control flow.
{{- if .Subgroups}}
  // Workgroup memory is not zero on every driver (llvmpipe reuses it
  // between workgroups), so the count of subgroup results starts here.
  if (lid == 0u) {
    atomicStore(&subgroups, 0u);
  }
  workgroupBarrier();
{{- end}}
  var acc: {{.AT}} = {{.Identity}};
  if (o < p.n_out && p.rank_red == 2u) {
    // Two reduced dimensions (a convolution's bias gradient sums over
    // the batch and the pixels): the thread's position in them advances
    // by carries, with a division only when it wraps, not two for each
    // element (which a CPU adapter cannot vectorise).
    let base = out_base(o);
    let s1 = p.shape_red[0][1];
    let st0 = p.st_red[0][0];
    let st1 = p.st_red[0][1];
    var r = (oc % p.n_chunks) * p.chunk + lid;
    var outer = r / s1;
    var inner = r % s1;
    for (; r < r1; r = r + 256u) {
      acc = combine(acc, load(base + outer * st0 + inner * st1));
      inner = inner + 256u;
      if (inner >= s1) {
        let q = inner / s1;
        outer = outer + q;
        inner = inner - q * s1;
      }
    }
  } else if (o < p.n_out) {
    let base = out_base(o);
    for (var r = (oc % p.n_chunks) * p.chunk + lid; r < r1; r = r + 256u) {
      acc = combine(acc, load(base + red_offset(r)));
    }
  }
{{- if .Subgroups}}
  for (var m = 1u; m < sgs; m = m << 1u) {
    acc = combine(acc, subgroupShuffleXor(acc, m));
  }
  if (sid == 0u) {
    partial[atomicAdd(&subgroups, 1u)] = acc;
  }
  workgroupBarrier();
  if (lid == 0u && o < p.n_out) {
    let n = atomicLoad(&subgroups);
    var total = partial[0];
    for (var i = 1u; i < n; i = i + 1u) {
      total = combine(total, partial[i]);
    }
    y[p.y_off + oc] = finish(total, oc);
  }
{{- else}}
  partial[lid] = acc;
  workgroupBarrier();
  for (var s = 128u; s > 0u; s = s >> 1u) {
    if (lid < s) {
      partial[lid] = combine(partial[lid], partial[lid + s]);
    }
    workgroupBarrier();
  }
  if (lid == 0u && o < p.n_out) {
    y[p.y_off + oc] = finish(partial[0], oc);
  }
{{- end}}
}

@compute @workgroup_size(256)
fn cols(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let o = gid.x + gid.y * nwg.x * 256u;
  if (o >= p.n_out) { return; }
  let base = out_base(o);
  var acc: {{.AT}} = {{.Identity}};
  for (var r = 0u; r < p.n_red; r = r + 1u) {
    acc = combine(acc, load(base + red_offset(r)));
  }
  y[p.y_off + o] = finish(acc, o);
}
