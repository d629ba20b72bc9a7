// Strided copies, with a type conversion when the element types differ, and
// fills. Operand 0 is the source and operand 1 the (strided) destination.
{{template "ew_params"}}
@group(0) @binding(1) var<storage, read> src: array<{{.T}}>;
@group(0) @binding(2) var<storage, read_write> dst: array<{{.OT}}>;
{{template "ew_offset" 0}}
{{template "ew_offset" 1}}

@compute @workgroup_size(256)
fn copy(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
{{template "ew_index"}}
  dst[offset1(i)] = {{.OT}}(src[offset0(i)]);
}

// fill writes the bit pattern p.scalar to the first p.n elements of dst.
@compute @workgroup_size(256)
fn fill(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
{{template "ew_index"}}
  dst[p.lin + i] = bitcast<{{.OT}}>(p.scalar);
}
