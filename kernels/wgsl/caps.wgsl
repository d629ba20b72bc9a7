// The subgroup size the adapter runs compute kernels with, for
// Capabilities.
@group(0) @binding(0) var<uniform> p: vec4<u32>;
@group(0) @binding(1) var<storage, read_write> out: array<u32>;

@compute @workgroup_size(1)
fn main(@builtin(subgroup_size) size: u32) {
  out[0] = size + p.x;
}
