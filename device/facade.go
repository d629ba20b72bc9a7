// Package device defines the compute devices that wgtensor runs on: a small
// set of primitive operations over strided buffers, implemented once for the
// CPU and once for WebGPU (WGSL compute shaders on Vulkan, Metal or D3D12).
//
// Everything above this package (tensor, autograd, nn) is written against the
// Device interface, so one model runs unchanged on either backend.
//
// Primitives trust their arguments: shapes, dtypes and devices are checked by
// the tensor package before a primitive is called. Failures of the
// environment (a lost GPU, an index out of range found inside a kernel) are
// reported by the next Sync or Read; allocation failures are returned by
// Alloc; an op a backend refuses (a limit of its kernels) marks the buffers
// it should have written, as BufferErr reports, and leaves the device
// working.
//
// The contract between this package and its backends (the Device interface
// and the types its methods take) lives in package device/backend, the CPU
// backend in package device/cpu and the WebGPU backend in package
// device/webgpu; this package re-exports the contract under the same names,
// so that programs import device alone.
package device

import (
	"fmt"

	"github.com/wgtensor/wgtensor/device/backend"
	"github.com/wgtensor/wgtensor/device/cpu"
	"github.com/wgtensor/wgtensor/device/webgpu"
)

// The contract every backend implements, re-exported from package backend.
type (
	// DType is the element type of a buffer.
	DType = backend.DType
	// Kind says which family of backend a device belongs to.
	Kind = backend.Kind
	// Buffer is a flat array of elements owned by one device. Buffers are
	// created by Device.Alloc and returned with Device.Free.
	Buffer = backend.Buffer
	// Stats are counters a user can read to see what a device is doing.
	Stats = backend.Stats
	// Device runs primitive tensor operations on buffers it owns.
	Device = backend.Device
	// Freezer is a Device that can keep derived forms of buffers whose
	// contents will not change (the CPU's packed matrix panels of a
	// model's weights).
	Freezer = backend.Freezer
	// View is a strided window onto a buffer.
	View = backend.View
	// GatherShape gives the sizes of the index primitives.
	GatherShape = backend.GatherShape
	// Conv2DParams describes a 2-D convolution.
	Conv2DParams = backend.Conv2DParams
	// Epilogue is what a convolution does to each output element before it
	// stores it.
	Epilogue = backend.Epilogue
	// Pool2DParams describes a 2-D pooling.
	Pool2DParams = backend.Pool2DParams
	// UnaryOp names an elementwise function of one argument.
	UnaryOp = backend.UnaryOp
	// BinaryOp names an elementwise function of two arguments.
	BinaryOp = backend.BinaryOp
	// ReduceOp names a reduction.
	ReduceOp = backend.ReduceOp
	// Capabilities describes what a device's engine offers, for programs
	// that report it (examples/devices) and for choosing kernels.
	Capabilities = backend.Capabilities
	// Describer is a Device that can describe its engine.
	Describer = backend.Describer
	// Limiter is implemented by devices that cannot hold a buffer larger
	// than some size (a GPU's maxBufferSize; buffers larger than one
	// binding covers are split by the kernels that use them).
	Limiter     = backend.Limiter
	HalfKernels = backend.HalfKernels
	// LayerNormer is implemented by devices that normalize rows in one op
	// (the CPU); tensor.LayerNorm composes the op on the others.
	LayerNormer = backend.LayerNormer
	// ConvChainer is implemented by devices that compute MobileNet's
	// inverted residual block (1×1, depthwise, 1×1 convolutions) in one op
	// (the CPU); tensor.Conv2DChain runs the convolutions one by one on the
	// others.
	ConvChainer = backend.ConvChainer
	// ConvChain is the convolutions of a ConvChainer's op.
	ConvChain = backend.ConvChain
	// ConvLink is one convolution of a ConvChain or a ConvPairer's pair.
	ConvLink = backend.ConvLink
	// ConvPooler is implemented by devices that compute a convolution and
	// the max pooling of its output in one op (the CPU);
	// tensor.Conv2DMaxPool runs the two one after the other on the others.
	ConvPooler = backend.ConvPooler
	// ConvPairer is implemented by devices that compute two convolutions
	// in turn in one op, the first's output written straight into the
	// padded planes the second reads (the CPU); tensor.Conv2DPair runs
	// them one after the other on the others.
	ConvPairer = backend.ConvPairer
	// Realizer is implemented by devices that defer work (the GPU defers
	// elementwise ops and fuses them when their values are needed).
	Realizer = backend.Realizer
	// Profiler is a Device that can time its work kernel by kernel: the
	// GPU backend, from timestamp queries where the adapter has the
	// timestamp-query feature.
	Profiler = backend.Profiler
	// Profile is what a device's work took over a region of code (see
	// StartProfile and StopProfile).
	Profile = backend.Profile
	// KernelTime is the GPU time of one kind of dispatch.
	KernelTime = backend.KernelTime
)

// The element types wgtensor supports.
const (
	Float32  = backend.Float32
	Int32    = backend.Int32
	Float16  = backend.Float16
	BFloat16 = backend.BFloat16
)

// The device kinds.
const (
	KindCPU = backend.KindCPU
	KindGPU = backend.KindGPU
)

// MaxRank is the largest number of dimensions a View may have after its
// dimensions have been coalesced (see Coalesce).
const MaxRank = backend.MaxRank

// The unary operations.
const (
	Neg      = backend.Neg
	Abs      = backend.Abs
	Sign     = backend.Sign
	Square   = backend.Square
	Exp      = backend.Exp
	Log      = backend.Log
	Sqrt     = backend.Sqrt
	Rsqrt    = backend.Rsqrt
	Recip    = backend.Recip
	Sin      = backend.Sin
	Cos      = backend.Cos
	Tanh     = backend.Tanh
	Sigmoid  = backend.Sigmoid
	ReLU     = backend.ReLU
	GELU     = backend.GELU     // exact GELU, x·Φ(x), as PyTorch's default
	GELUGrad = backend.GELUGrad // derivative of GELU, Φ(x) + x·φ(x)
	Erf      = backend.Erf      // the error function
)

// The binary operations. Comparisons yield 1 or 0 as float32.
const (
	Add     = backend.Add
	Sub     = backend.Sub
	Mul     = backend.Mul
	Div     = backend.Div
	Pow     = backend.Pow
	Maximum = backend.Maximum
	Minimum = backend.Minimum
	Eq      = backend.Eq
	Ne      = backend.Ne
	Lt      = backend.Lt
	Le      = backend.Le
	Gt      = backend.Gt
	Ge      = backend.Ge

	TanhGrad    = backend.TanhGrad    // u·(1 − v²): the gradient u of tanh through its output v
	SigmoidGrad = backend.SigmoidGrad // u·v·(1 − v): the gradient u of the sigmoid through its output v
)

// The reductions.
const (
	ReduceSum  = backend.ReduceSum
	ReduceMean = backend.ReduceMean
	ReduceMax  = backend.ReduceMax
	ReduceMin  = backend.ReduceMin
)

// CPU returns the process-wide CPU device, which runs primitives on the host
// with as many goroutines as runtime.GOMAXPROCS allows.
func CPU() Device { return cpu.Default() }

// GPU returns the process's WebGPU device, opening it on first use on the
// best adapter available (discrete before integrated before software). It
// returns an error, never panics, when no adapter answers, and in a build
// without the WebGPU backend (it needs cgo and one of the platforms
// wgpu-native ships for: linux/amd64, darwin, windows/amd64).
func GPU() (Device, error) { return webgpu.Open() }

// ErrOutOfMemory is wrapped by the error of an allocation that does not
// fit: over the limit set with SetMemoryLimit, or more than the driver
// could give.
var ErrOutOfMemory = backend.ErrOutOfMemory

// BufferErr returns the error of an op that its device refused when it was
// issued (the GPU refuses ops beyond its kernels' limits) and that should
// have written b, or nil. Such a refusal fails that op and whatever is
// computed from its result, not the device; Read of b returns it too.
func BufferErr(b Buffer) error { return backend.BufferErr(b) }

// SetReclaim installs f, which a device calls with force false when its
// pool has no buffer of the size asked for, before it creates a new one,
// and with force true when an allocation would exceed its memory limit.
// The tensor package uses it to collect unreachable tensors, so that their
// buffers return to the pool first and a steady training loop creates
// none; force asks it to collect even when little was allocated since the
// last collection. f may free buffers of any device; devices call it
// without holding their locks.
func SetReclaim(f func(force bool)) { backend.SetReclaim(f) }

// SetMemoryLimit caps the bytes of d's live buffers, as PyTorch's
// set_per_process_memory_fraction does for a GPU: an Alloc that would
// exceed the cap first collects unreachable tensors, then fails with an
// error that wraps ErrOutOfMemory and names the limit. The device keeps
// working, and allocations succeed again once memory is freed. 0 removes
// the cap. The check is made at each allocation, so goroutines allocating
// at the same moment may overshoot it by one buffer each.
func SetMemoryLimit(d Device, bytes int64) error { return backend.SetMemoryLimit(d, bytes) }

// Dense returns the view of a whole buffer as a row-major array of the given
// shape.
func Dense(b Buffer, shape ...int) View { return backend.Dense(b, shape...) }

// Numel returns the product of the dimensions of shape (1 for a scalar).
func Numel(shape []int) int { return backend.Numel(shape) }

// ContiguousStrides returns the row-major strides of shape.
func ContiguousStrides(shape []int) []int { return backend.ContiguousStrides(shape) }

// Coalesce merges adjacent dimensions that every view traverses as one: it
// drops dimensions of size 1 and joins dimension d with d+1 when, for every
// view, stride[d] == stride[d+1]*shape[d+1]. All views must have the same
// shape. It returns the merged shape and one stride list per view; the
// element order is unchanged, so a dense output of the original shape is a
// dense output of the merged shape.
func Coalesce(shape []int, strides ...[]int) ([]int, [][]int) {
	return backend.Coalesce(shape, strides...)
}

// Realize asks d to compute the deferred values of bufs together; a
// device that defers nothing ignores it.
func Realize(d Device, bufs ...Buffer) {
	if r, ok := d.(Realizer); ok {
		r.Realize(bufs...)
	}
}

// StartProfile begins a profile of dev's work, or returns an error naming
// the device when it cannot time its kernels.
func StartProfile(dev Device) error {
	p, ok := dev.(Profiler)
	if !ok {
		return fmt.Errorf("device: %s cannot profile its kernels", dev.Name())
	}
	return p.StartProfile()
}

// StopProfile ends the profile StartProfile began on dev.
func StopProfile(dev Device) (*Profile, error) {
	p, ok := dev.(Profiler)
	if !ok {
		return nil, fmt.Errorf("device: %s cannot profile its kernels", dev.Name())
	}
	return p.StopProfile()
}
