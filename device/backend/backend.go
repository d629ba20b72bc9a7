// Package backend defines the contract between package device and its
// backends: the Device interface that every backend implements, the types
// its methods take (DType, Buffer, View, the op names, the parameters of
// convolution, pooling and the index primitives), the optional interfaces a
// device may implement (Describer and its Capabilities, Limiter, Realizer,
// Profiler and its Profile) and what the backends share (the memory cap of
// SetMemoryLimit, the reclaim hook of SetReclaim).
// Package device re-exports all of it under the same names and is the one
// that programs import; a backend imports backend, never device.
//
// Primitives trust their arguments: shapes, dtypes and devices are checked by
// the tensor package before a primitive is called. Failures of the
// environment (a lost GPU, an index out of range found inside a kernel) are
// reported by the next Sync or Read; allocation failures are returned by
// Alloc; an op a backend refuses (a limit of its kernels) marks the buffers
// it should have written, as BufferErr reports, and leaves the device
// working.
package backend

import (
	"errors"
	"fmt"
	"sync/atomic"
)

// DType is the element type of a buffer.
type DType uint8

// The element types wgtensor supports.
const (
	Float32 DType = iota + 1
	Int32
	// Float16 is IEEE 754 binary16: a buffer holds its bits, two bytes an
	// element; hosts read and write them as []uint16.
	Float16
	// BFloat16 is the upper half of a float32 (8 exponent bits, 7
	// fraction bits); hosts read and write its bits as []uint16.
	BFloat16
)

// String returns the name PyTorch uses for the type ("float32", "int32",
// "float16", "bfloat16").
func (d DType) String() string {
	switch d {
	case Float32:
		return "float32"
	case Int32:
		return "int32"
	case Float16:
		return "float16"
	case BFloat16:
		return "bfloat16"
	}
	return fmt.Sprintf("DType(%d)", uint8(d))
}

// Size is the number of bytes of one element.
func (d DType) Size() int {
	if d.IsHalf() {
		return 2
	}
	return 4
}

// IsFloat reports whether d is a floating-point type.
func (d DType) IsFloat() bool { return d == Float32 || d.IsHalf() }

// IsHalf reports whether d is one of the 16-bit floating-point types.
// Buffers of them take Alloc, Free, Write, Read, Fill and Copy (which
// converts); the other primitives take float32 and int32, and the tensor
// package computes half-precision ops in float32, rounding each result.
func (d DType) IsHalf() bool { return d == Float16 || d == BFloat16 }

// Kind says which family of backend a device belongs to.
type Kind uint8

// The device kinds.
const (
	KindCPU Kind = iota + 1
	KindGPU
)

// String returns "cpu" or "gpu".
func (k Kind) String() string {
	switch k {
	case KindCPU:
		return "cpu"
	case KindGPU:
		return "gpu"
	}
	return fmt.Sprintf("Kind(%d)", uint8(k))
}

// Buffer is a flat array of elements owned by one device. Buffers are created
// by Device.Alloc and returned with Device.Free.
type Buffer interface {
	// Len is the number of elements.
	Len() int
	// DType is the element type.
	DType() DType
}

// BufferErr returns the error of an op that its device refused when it was
// issued (the GPU refuses ops beyond its kernels' limits) and that should
// have written b, or nil. Such a refusal fails that op and whatever is
// computed from its result, not the device; Read of b returns it too.
func BufferErr(b Buffer) error {
	if e, ok := b.(interface{ Err() error }); ok {
		return e.Err()
	}
	return nil
}

// Stats are counters a user can read to see what a device is doing.
type Stats struct {
	LiveBuffers  int   // buffers handed out by Alloc and not yet freed
	LiveBytes    int64 // bytes held by those buffers
	PoolBuffers  int   // freed buffers kept for reuse
	PoolBytes    int64 // bytes held by the pool
	Created      int64 // backend buffers created since start (pool misses)
	Dispatches   int64 // kernels run since start
	Submits      int64 // command-buffer submissions since start (GPU)
	Readbacks    int64 // reads of device memory into host memory since start
	PeakLiveByte int64 // largest LiveBytes seen
	BindGroups   int64 // bind groups created since start (GPU; a captured step creates none)
}

// Device runs primitive tensor operations on buffers it owns.
//
// Unless a method says otherwise, dst is a buffer of exactly the number of
// elements of the result, written densely in row-major order, and every
// View refers to a buffer of the same device. Methods may return before the
// work is done (the GPU records it for later); Read and Sync wait for it.
// A Device is safe for use by several goroutines.
type Device interface {
	// Name describes the device, for example "cpu (2 threads)" or
	// "gpu: llvmpipe (LLVM 15.0.6, 256 bits) on Vulkan".
	Name() string
	// Kind says whether this is a CPU or a GPU device.
	Kind() Kind

	// Alloc returns a buffer of n elements of type dt with undefined
	// contents, or an error naming the size and the limit it exceeds.
	Alloc(dt DType, n int) (Buffer, error)
	// Free gives a buffer back; it must not be used afterwards. Work already
	// queued that reads the buffer still sees its contents.
	Free(b Buffer)
	// Write copies host data into dst; src is a []float32, []int32 or (the
	// bits of a Float16 or BFloat16 buffer) []uint16 that matches dst's
	// type and length.
	Write(dst Buffer, src any) error
	// Read waits for queued work and copies src into dst, a []float32,
	// []int32 or []uint16 that matches src's type and length.
	Read(src Buffer, dst any) error
	// Sync waits for all queued work and returns the first error it met.
	Sync() error
	// Stats returns the device's counters.
	Stats() Stats

	// Fill sets every element of dst to v (converted to dst's type).
	Fill(dst Buffer, v float64)
	// Copy copies src into dst element by element; both views have the same
	// shape. When their types differ the values are converted (float to int
	// truncates toward zero).
	Copy(dst, src View)
	// Unary applies op to every element of x. x is float32, except for
	// Neg, Abs, Sign and Square, which also take int32; dst has x's type.
	Unary(op UnaryOp, dst Buffer, x View)
	// Binary applies op to pairs of elements of a and b, which have the
	// same shape (broadcast dimensions have stride 0) and the same type.
	// Comparisons write 1 or 0 into a float32 dst; other ops write a's type.
	Binary(op BinaryOp, dst Buffer, a, b View)
	// BinaryScalar is Binary with one operand the scalar s: op(a, s), or
	// op(s, a) when scalarFirst is set.
	BinaryScalar(op BinaryOp, dst Buffer, a View, s float64, scalarFirst bool)
	// Where writes a where cond is non-zero and b elsewhere; the three views
	// have the same shape, and a and b the same type.
	Where(dst Buffer, cond, a, b View)
	// Reduce combines the last n dimensions of x with op; dst has the shape
	// of the leading dimensions. Mean is float32 only.
	Reduce(op ReduceOp, dst Buffer, x View, n int)
	// ArgReduce writes, into the int32 dst, the index along the last
	// dimension of x of its maximum (op ReduceMax) or minimum (ReduceMin),
	// the first one on ties. NaN counts as the largest and smallest value.
	ArgReduce(op ReduceOp, dst Buffer, x View)
	// MatMul writes a @ b for float32 views a [B, M, K] and b [B, K, N]
	// into dst [B, M, N].
	MatMul(dst Buffer, a, b View)
	// Softmax writes the softmax (or log-softmax) of each row of the
	// contiguous float32 matrix x [rows, cols].
	Softmax(dst Buffer, x Buffer, rows, cols int, log bool)

	// Conv2D writes the cross-correlation of x [N, C, H, W] with w
	// [O, C/groups, KH, KW] into dst [N, O, OH, OW], each element passed
	// through the epilogue e (the zero Epilogue stores the sums as they are).
	Conv2D(dst, x, w Buffer, p Conv2DParams, e Epilogue)
	// Conv2DInputGrad writes the gradient of Conv2D with respect to x into
	// dx [N, C, H, W], given dy [N, O, OH, OW] and w.
	Conv2DInputGrad(dx, dy, w Buffer, p Conv2DParams)
	// Conv2DWeightGrad writes the gradient of Conv2D with respect to w into
	// dw [O, C/groups, KH, KW], given x and dy.
	Conv2DWeightGrad(dw, x, dy Buffer, p Conv2DParams)
	// MaxPool2D writes the window maxima of x [N, C, H, W] into dst
	// [N, C, OH, OW] and, into the int32 idx of the same shape, the index
	// within the H×W plane of the element each maximum came from: the first
	// of tied maxima, the last NaN, as PyTorch. idx may be nil when only the
	// maxima are wanted (inference), which the CPU computes faster.
	MaxPool2D(dst, idx, x Buffer, p Pool2DParams)
	// MaxPool2DGrad writes into dx [N, C, H, W] the sum of the gradients
	// dy [N, C, OH, OW] routed to the elements recorded in idx.
	MaxPool2DGrad(dx, dy, idx Buffer, p Pool2DParams)
	// AvgPool2D writes the window means of x into dst.
	AvgPool2D(dst, x Buffer, p Pool2DParams)
	// AvgPool2DGrad writes into dx the gradient of AvgPool2D given dy.
	AvgPool2DGrad(dx, dy Buffer, p Pool2DParams)

	// IndexSelect writes dst[o, j, i] = x[o, idx[j], i] for the contiguous
	// x [outer, n, inner] and the int32 idx [m]; dst is [outer, m, inner].
	IndexSelect(dst, x, idx Buffer, g GatherShape)
	// IndexAdd adds src[o, j, i] into dst[o, idx[j], i]; dst keeps its
	// previous contents.
	IndexAdd(dst, idx, src Buffer, g GatherShape)
	// Gather writes dst[o, j, i] = x[o, idx[o, j, i], i] for x
	// [outer, n, inner] and the int32 idx [outer, m, inner].
	Gather(dst, x, idx Buffer, g GatherShape)
	// ScatterAdd adds src[o, j, i] into dst[o, idx[o, j, i], i]; dst keeps
	// its previous contents.
	ScatterAdd(dst, idx, src Buffer, g GatherShape)
}

// Freezer is a Device that can keep derived forms of buffers whose contents
// will not change (the CPU's packed matrix panels of a model's weights), as
// inference runtimes pre-pack their weights once.
type Freezer interface {
	// Freeze declares that b's contents will not change again before it
	// is freed: the device may then keep forms of it that its ops derive,
	// instead of deriving them again at every use. A frozen buffer must
	// not be written; Write refuses it.
	Freeze(b Buffer)
}

// LayerNormer is a Device that normalizes rows in one op (ONNX Runtime's
// fused LayerNormalization): dst = (x − mean)/√(var + eps)·weight + bias
// over each of rows rows of cols float32 elements of the dense x, mean
// and (biased) variance per row, weight and bias [cols] or nil.
type LayerNormer interface {
	LayerNorm(dst, x, weight, bias Buffer, rows, cols int, eps float32)
}

// ConvChainer is a Device that computes the convolutions of MobileNet's
// inverted residual block in one op, band by band of output rows: a 1×1
// expansion, a depthwise convolution and a 1×1 projection, so that the
// intermediate outputs (the expansion's six times the block's input) are
// never written out whole.
type ConvChainer interface {
	// Conv2DChains reports whether Conv2DChain computes c, better than
	// one Conv2D call per link would.
	Conv2DChains(c ConvChain) bool
	// Conv2DChain writes into dst the convolutions of c applied in turn to
	// x. It must only be called for a chain that Conv2DChains takes.
	Conv2DChain(dst, x Buffer, c ConvChain)
}

// ConvChain is a depthwise convolution (Depthwise.P.C = O = Groups) with
// an optional convolution before it (Expand: MobileNet's 1×1 expansion,
// or the network's first layer) and an optional 1×1 convolution of stride
// 1 after it (Project), each link with its weights and epilogue; a link
// whose W is nil is absent. Only Project's epilogue may add a residual.
type ConvChain struct {
	Expand, Depthwise, Project ConvLink
}

// ConvLink is one convolution of a ConvChain or a ConvPairer's pair.
type ConvLink struct {
	W Buffer
	P Conv2DParams
	E Epilogue
}

// ConvPooler is a Device that computes a convolution and the max pooling
// of its output in one op, band by band of pooled rows, so that the
// convolution's output (ResNet's stem: 64 channels of 112×112) is never
// written out whole and read back.
type ConvPooler interface {
	// Conv2DMaxPools reports whether Conv2DMaxPool computes the
	// convolution p with epilogue e followed by the max pooling q
	// (values only) better than Conv2D and MaxPool2D would.
	Conv2DMaxPools(p Conv2DParams, e Epilogue, q Pool2DParams) bool
	// Conv2DMaxPool writes into dst the max pooling q of the convolution
	// p of x by w with epilogue e. It must only be called for shapes that
	// Conv2DMaxPools takes.
	Conv2DMaxPool(dst, x, w Buffer, p Conv2DParams, e Epilogue, q Pool2DParams)
}

// ConvPairer is a Device that computes two convolutions in turn in one
// op, the first's output written straight into the zero-padded planes the
// second reads (ResNet's basic block: a 3×3 convolution and another after
// it), rather than written out whole and then copied again with its
// padding.
type ConvPairer interface {
	// Conv2DPairs reports whether Conv2DPair computes first and then
	// second, better than one Conv2D call for each would.
	Conv2DPairs(first, second ConvLink) bool
	// Conv2DPair writes into dst the convolution second of the
	// convolution first of x, each with its weights and epilogue (only
	// second's may add a residual). It must only be called for a pair
	// that Conv2DPairs takes.
	Conv2DPair(dst, x Buffer, first, second ConvLink)
}

// reclaim is the function SetReclaim installed, or nil.
var reclaim atomic.Pointer[func(force bool)]

// SetReclaim installs f, which a device calls with force false when its
// pool has no buffer of the size asked for, before it creates a new one,
// and with force true when an allocation would exceed its memory limit.
// The tensor package uses it to collect unreachable tensors, so that their
// buffers return to the pool first and a steady training loop creates
// none; force asks it to collect even when little was allocated since the
// last collection. f may free buffers of any device; devices call it
// without holding their locks.
func SetReclaim(f func(force bool)) { reclaim.Store(&f) }

// Reclaim calls the function SetReclaim installed, if any, with force: a
// device calls Reclaim(false) when its pool has no buffer of the size asked
// for, before it creates a new one, without holding its locks.
func Reclaim(force bool) {
	if f := reclaim.Load(); f != nil {
		(*f)(force)
	}
}

// ErrOutOfMemory is wrapped by the error of an allocation that does not
// fit: over the limit set with SetMemoryLimit, or more than the driver
// could give.
var ErrOutOfMemory = errors.New("out of device memory")

// SetMemoryLimit caps the bytes of d's live buffers, as PyTorch's
// set_per_process_memory_fraction does for a GPU: an Alloc that would
// exceed the cap first collects unreachable tensors, then fails with an
// error that wraps ErrOutOfMemory and names the limit. The device keeps
// working, and allocations succeed again once memory is freed. 0 removes
// the cap. The check is made at each allocation, so goroutines allocating
// at the same moment may overshoot it by one buffer each. A device has a
// cap when it embeds a MemoryCap.
func SetMemoryLimit(d Device, bytes int64) error {
	l, ok := d.(interface{ SetMemoryLimit(int64) })
	if !ok {
		return fmt.Errorf("device: SetMemoryLimit: %s has no memory limit", d.Name())
	}
	l.SetMemoryLimit(max(bytes, 0))
	return nil
}

// MemoryCap is the limit of SetMemoryLimit, embedded in each device.
type MemoryCap struct{ limit atomic.Int64 }

// SetMemoryLimit sets the cap to bytes; 0 removes it.
func (c *MemoryCap) SetMemoryLimit(bytes int64) { c.limit.Store(bytes) }

// Admit returns nil when size more bytes fit under the cap, given the live
// bytes that live reports; otherwise it collects garbage and asks again,
// and returns an ErrOutOfMemory error if they still do not fit.
func (c *MemoryCap) Admit(size int64, live func() int64) error {
	limit := c.limit.Load()
	if limit == 0 || live()+size <= limit {
		return nil
	}
	Reclaim(true)
	if now := live(); now+size > limit {
		return fmt.Errorf("device: Alloc: %d more bytes would bring live memory to %d bytes, over the limit of %d bytes set with SetMemoryLimit: %w",
			size, now+size, limit, ErrOutOfMemory)
	}
	return nil
}

// GatherShape gives the sizes of the index primitives: the source (or
// destination) is [Outer, N, Inner] and the indexed side [Outer, M, Inner].
type GatherShape struct {
	Outer, N, M, Inner int
	// Index names the indices in the error an out-of-range one raises, as
	// an op built on the primitive sees them ("CrossEntropyLoss: label");
	// empty, they are the primitive's "index".
	Index string
}

// IndexName is what an out-of-range index of primitive op is called.
func (g GatherShape) IndexName(op string) string {
	if g.Index != "" {
		return g.Index
	}
	return op + ": index"
}

// Conv2DParams describes a 2-D convolution of an input [N, C, H, W] with a
// weight [O, C/Groups, KH, KW] into an output [N, O, OH, OW].
type Conv2DParams struct {
	N, C, H, W       int
	O, KH, KW        int
	OH, OW           int
	StrideH, StrideW int
	PadH, PadW       int
	DilH, DilW       int
	Groups           int
}

// Epilogue is what a convolution does to each output element before it
// stores it, while the element is still in registers or cache: inference
// runtimes fuse a layer's bias, residual connection, activation and the
// scaling after it this way instead of passing over the output once for
// each. In order, the element v becomes v + Bias[channel] + Residual[i],
// then clamp(v, Lo, Hi) when Clamp, then v·clamp(v/6 + 1/2, 0, 1) (the hard
// swish) when HardSwish, then v·Scale + Shift when Affine; NaN stays NaN.
type Epilogue struct {
	Bias         Buffer // float32 [O], one value per output channel, or nil
	Residual     Buffer // float32 of the output's shape, or nil
	Clamp        bool   // Lo 0, Hi +Inf is ReLU, Hi 6 ReLU6
	Lo, Hi       float32
	HardSwish    bool
	Affine       bool
	Scale, Shift float32
}

// IsZero reports whether e leaves the sums as they are.
func (e Epilogue) IsZero() bool {
	return e.Bias == nil && e.Residual == nil && !e.Clamp && !e.HardSwish && !e.Affine
}

// Pool2DParams describes a 2-D pooling of an input [N, C, H, W] into an output
// [N, C, OH, OW] with windows KH×KW. CountIncludePad makes AvgPool2D divide
// by the full window size, padding included, as PyTorch does by default.
type Pool2DParams struct {
	N, C, H, W       int
	KH, KW           int
	OH, OW           int
	StrideH, StrideW int
	PadH, PadW       int
	CountIncludePad  bool
}

// UnaryOp names an elementwise function of one argument.
type UnaryOp uint8

// The unary operations.
const (
	Neg UnaryOp = iota + 1
	Abs
	Sign
	Square
	Exp
	Log
	Sqrt
	Rsqrt
	Recip
	Sin
	Cos
	Tanh
	Sigmoid
	ReLU
	GELU     // exact GELU, x·Φ(x), as PyTorch's default
	GELUGrad // derivative of GELU, Φ(x) + x·φ(x)
	Erf      // the error function
)

var unaryNames = [...]string{Neg: "Neg", Abs: "Abs", Sign: "Sign", Square: "Square", Exp: "Exp",
	Log: "Log", Sqrt: "Sqrt", Rsqrt: "Rsqrt", Recip: "Recip", Sin: "Sin", Cos: "Cos", Tanh: "Tanh",
	Sigmoid: "Sigmoid", ReLU: "ReLU", GELU: "GELU", GELUGrad: "GELUGrad", Erf: "Erf"}

// String returns the op's name.
func (op UnaryOp) String() string {
	if int(op) < len(unaryNames) && unaryNames[op] != "" {
		return unaryNames[op]
	}
	return fmt.Sprintf("UnaryOp(%d)", uint8(op))
}

// IntOK reports whether the op is defined on int32 elements.
func (op UnaryOp) IntOK() bool {
	return op == Neg || op == Abs || op == Sign || op == Square
}

// BinaryOp names an elementwise function of two arguments.
type BinaryOp uint8

// The binary operations. Comparisons yield 1 or 0 as float32.
const (
	Add BinaryOp = iota + 1
	Sub
	Mul
	Div
	Pow
	Maximum
	Minimum
	Eq
	Ne
	Lt
	Le
	Gt
	Ge
	TanhGrad    // u·(1 − v²): the gradient u of tanh through its output v
	SigmoidGrad // u·v·(1 − v): the gradient u of the sigmoid through its output v
)

var binaryNames = [...]string{Add: "Add", Sub: "Sub", Mul: "Mul", Div: "Div", Pow: "Pow",
	Maximum: "Maximum", Minimum: "Minimum", Eq: "Eq", Ne: "Ne", Lt: "Lt", Le: "Le", Gt: "Gt", Ge: "Ge",
	TanhGrad: "TanhGrad", SigmoidGrad: "SigmoidGrad"}

// String returns the op's name.
func (op BinaryOp) String() string {
	if int(op) < len(binaryNames) && binaryNames[op] != "" {
		return binaryNames[op]
	}
	return fmt.Sprintf("BinaryOp(%d)", uint8(op))
}

// IsComparison reports whether the op yields a 0/1 float32 mask.
func (op BinaryOp) IsComparison() bool { return op >= Eq && op <= Ge }

// IntOK reports whether the op is defined on int32 elements (Div, Pow and
// the gradients are float32 only).
func (op BinaryOp) IntOK() bool {
	switch op {
	case Div, Pow, TanhGrad, SigmoidGrad:
		return false
	}
	return true
}

// ReduceOp names a reduction.
type ReduceOp uint8

// The reductions.
const (
	ReduceSum ReduceOp = iota + 1
	ReduceMean
	ReduceMax
	ReduceMin
)

var reduceNames = [...]string{ReduceSum: "Sum", ReduceMean: "Mean", ReduceMax: "Max", ReduceMin: "Min"}

// String returns the op's name.
func (op ReduceOp) String() string {
	if int(op) < len(reduceNames) && reduceNames[op] != "" {
		return reduceNames[op]
	}
	return fmt.Sprintf("ReduceOp(%d)", uint8(op))
}

// HalfKernels is implemented by devices whose matrix products or
// convolutions also take operands of a 16-bit float type natively, into a
// float32 dst, accumulating in float32 (the tensor package otherwise
// converts them to float32 first).
type HalfKernels interface {
	// MatMulHalf reports whether MatMul takes two operands of type dt.
	MatMulHalf(dt DType) bool
	// Conv2DHalf reports whether Conv2D, Conv2DInputGrad and
	// Conv2DWeightGrad take their two inputs of type dt (and Conv2D's
	// epilogue float32 bias and residual).
	Conv2DHalf(dt DType) bool
}

// HostLen returns the length of host data as Write and Read take it (a
// []float32, []int32 or []uint16), or -1 for anything else.
func HostLen(s any) int {
	switch s := s.(type) {
	case []float32:
		return len(s)
	case []int32:
		return len(s)
	case []uint16:
		return len(s)
	}
	return -1
}
