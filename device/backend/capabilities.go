package backend

// Capabilities describes what a device's engine offers, for programs that
// report it (examples/devices) and for choosing kernels.
type Capabilities struct {
	Engine       string // the engine and its version, e.g. "wgpu-native 29.0.1.1"
	Backend      string // Vulkan, Metal, D3D12
	Adapter      string
	SubgroupSize int  // lanes of a subgroup, 0 when the kernels use no subgroup operations
	ShaderF16    bool // WGSL's `enable f16;` is available
	Timestamps   bool // the kernels can be timed (see Profiler)
	// Limits that bound what one kernel can bind and launch.
	MaxStorageBufferBinding   int64
	MaxBuffer                 int64
	MaxWorkgroupsPerDimension int
}

// Describer is a Device that can describe its engine.
type Describer interface {
	Capabilities() Capabilities
}

// Limiter is implemented by devices that cannot hold a buffer larger than
// some size (a GPU's maxBufferSize; buffers larger than one binding
// covers are split by the kernels that use them).
type Limiter interface {
	// MaxBufferBytes is the size of the largest buffer Alloc accepts.
	MaxBufferBytes() int64
}
