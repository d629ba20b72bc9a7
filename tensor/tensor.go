// Package tensor provides n-dimensional arrays of float32, int32, float16 or
// bfloat16 that live
// on a device (the CPU or a GPU through WebGPU) and the operations on them:
// views that share memory, elementwise arithmetic with NumPy broadcasting,
// reductions, matrix products, convolutions, pooling, softmax and indexing.
//
// Operations are methods that return new tensors, as in PyTorch:
//
//	dev, _ := device.GPU()
//	x := tensor.Randn(dev, rng, 64, 784)
//	w := tensor.Randn(dev, rng, 784, 10)
//	y := x.MatMul(w).Softmax(-1)
//	probs, err := y.Data()
//
// Misuse (shapes that do not fit, mixed devices, axes out of range) panics
// with an *Error naming the operation and the shapes; Maybe turns such
// panics into errors. Failures of the environment (memory exhausted, a lost
// GPU, an index out of range met inside a kernel) are errors: a result that
// could not be computed carries its error, every tensor computed from it
// carries the same error, and Data, Item and Err return it.
//
// Tensor memory is given back to the device when the tensor and all views
// of it become unreachable; Release gives it back at once.
package tensor

import (
	"fmt"
	"runtime"
	"slices"
	"strings"

	"github.com/wgtensor/wgtensor/device"
)

// DType is the element type of a tensor.
type DType = device.DType

// The element types. Float16 and BFloat16 store 16-bit floats; ops on
// them compute in float32 and round each result (see FromBits and Bits).
const (
	Float32  = device.Float32
	Int32    = device.Int32
	Float16  = device.Float16
	BFloat16 = device.BFloat16
)

// Tensor is an n-dimensional array on a device. Tensors are immutable
// values: operations return new tensors, and views share the memory of the
// tensor they were made from.
type Tensor struct {
	dev     device.Device
	st      *storage // nil when err is set
	dtype   DType
	shape   []int
	strides []int
	offset  int
	err     error
}

// storage is a device buffer shared by a tensor and its views.
type storage struct {
	buf device.Buffer
	ref *bufferRef
	_   [storagePad]byte
}

// storagePad makes a storage 256 bytes long. Each storage carries a
// cleanup, and the runtime finds a cleanup's place by walking the list of
// those in the same memory span: 24-byte storages packed 341 to a span
// made that walk a fifth of the cost of a small op; 32 to a span keep it
// short.
const storagePad = 256 - 24

// empty returns a contiguous tensor of the given shape with undefined
// contents, or a tensor carrying the allocation error.
func empty(dev device.Device, dt DType, shape []int) *Tensor {
	t := &Tensor{dev: dev, dtype: dt, shape: shape, strides: contiguousStrides(shape)}
	t.st, t.err = newStorage(dev, dt, device.Numel(shape))
	return t
}

// oneDim is the strides of every one-dimensional dense tensor, shared.
var oneDim = []int{1}

// contiguousStrides is device.ContiguousStrides without allocating for the
// common one-dimensional and scalar cases.
func contiguousStrides(shape []int) []int {
	switch len(shape) {
	case 0:
		return nil
	case 1:
		return oneDim
	}
	return device.ContiguousStrides(shape)
}

// failed returns a tensor of the given shape that carries err.
func failed(dev device.Device, dt DType, shape []int, err error) *Tensor {
	return &Tensor{dev: dev, dtype: dt, shape: shape, strides: device.ContiguousStrides(shape), err: err}
}

// Device returns the device that holds the tensor.
func (t *Tensor) Device() device.Device { return t.dev }

// DType returns the element type.
func (t *Tensor) DType() DType { return t.dtype }

// Shape returns a copy of the tensor's dimensions.
func (t *Tensor) Shape() []int { return slices.Clone(t.shape) }

// Strides returns a copy of the tensor's strides, in elements.
func (t *Tensor) Strides() []int { return slices.Clone(t.strides) }

// Dim returns the number of dimensions.
func (t *Tensor) Dim() int { return len(t.shape) }

// Numel returns the number of elements.
func (t *Tensor) Numel() int { return device.Numel(t.shape) }

// Size returns the length of one axis; negative axes count from the end.
func (t *Tensor) Size(axis int) int { return t.shape[t.axis("Size", axis)] }

// IsContiguous reports whether the elements are dense in row-major order.
func (t *Tensor) IsContiguous() bool { return t.view().IsContiguous() }

// Err returns the error that prevented the tensor from being computed, or
// nil.
func (t *Tensor) Err() error {
	if t.err != nil {
		return t.err
	}
	if t.st.buf == nil {
		return ErrReleased
	}
	return device.BufferErr(t.st.buf)
}

// Freeze declares that the values of t (and of every view of its memory)
// will not change again, as an inference model's weights do not: the CPU
// then keeps the packed and transposed forms that matrix products and
// convolutions derive from t instead of deriving them at every use, as
// ONNX Runtime pre-packs its weights; they take as much memory again.
// Tensors are never written after they are made, so freezing only decides
// what is worth keeping. It returns t; other devices ignore it.
func (t *Tensor) Freeze() *Tensor {
	if f, ok := t.dev.(device.Freezer); ok && t.st != nil {
		f.Freeze(t.st.buf)
	}
	return t
}

// Release gives the tensor's memory back to the device now instead of when
// the garbage collector finds it unreachable. Every view sharing the memory
// becomes unusable: operations on them yield ErrReleased.
func (t *Tensor) Release() {
	if t.st == nil || t.st.buf == nil {
		return
	}
	t.st.ref.release()
	t.st.buf = nil
}

// MemoryID identifies the memory a tensor views: views of one another
// (reshapes, transposes, slices) have equal IDs, tensors of distinct memory
// distinct ones, and a tensor that holds none (failed, or released) the zero
// ID. It tells a program that frees tensors early (Release) which ones
// must go together.
type MemoryID struct{ st *storage }

// MemoryID returns the identity of the memory t views.
func (t *Tensor) MemoryID() MemoryID {
	if t.st == nil || t.st.buf == nil {
		return MemoryID{}
	}
	return MemoryID{t.st}
}

// view describes the tensor as a device view.
func (t *Tensor) view() device.View {
	var buf device.Buffer
	if t.st != nil {
		buf = t.st.buf
	}
	return device.View{Buf: buf, Shape: t.shape, Strides: t.strides, Offset: t.offset}
}

// axis normalises a possibly negative axis of t, panicking for op when it is
// out of range.
func (t *Tensor) axis(op string, a int) int {
	return normAxis(op, a, len(t.shape))
}

// scalarAxis checks an axis given to op for a 0-d tensor by the ops that,
// as PyTorch, treat a scalar as having one axis of length 1 (reductions,
// argmax/argmin, softmax, transpose, squeeze): 0 and -1 name it, any other
// axis is out of range.
func scalarAxis(op string, a int) {
	if a != 0 && a != -1 {
		panicf(op, "axis %d out of range for 0 dimensions (a 0-d tensor takes axis 0 or -1)", a)
	}
}

func normAxis(op string, a, rank int) int {
	if a < -rank || a >= rank {
		panicf(op, "axis %d out of range for %d dimensions", a, rank)
	}
	if a < 0 {
		a += rank
	}
	return a
}

// inputErr returns the first error carried by ts.
func inputErr(ts ...*Tensor) error {
	for _, t := range ts {
		if err := t.Err(); err != nil {
			return err
		}
	}
	return nil
}

// sameDevice panics for op unless every tensor is on the device of the
// first.
func sameDevice(op string, ts ...*Tensor) {
	for _, t := range ts[1:] {
		if t.dev != ts[0].dev {
			panicf(op, "tensors on different devices: %s and %s", ts[0].dev.Name(), t.dev.Name())
		}
	}
}

// result allocates the output of op for the given inputs, or returns a
// tensor carrying the inputs' (or the allocation's) error, with ok false.
func result(dev device.Device, dt DType, shape []int, inputs ...*Tensor) (out *Tensor, ok bool) {
	if err := inputErr(inputs...); err != nil {
		return failed(dev, dt, shape, err), false
	}
	out = empty(dev, dt, shape)
	return out, out.err == nil
}

// String formats the tensor's shape, type, device and (for up to 100
// elements) values. It reads the values back from the device.
func (t *Tensor) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "tensor(%v %v on %s", t.shape, t.dtype, t.dev.Name())
	if err := t.Err(); err != nil {
		fmt.Fprintf(&b, ", error: %v)", err)
		return b.String()
	}
	if n := t.Numel(); n <= 100 {
		vals, err := t.Data()
		if err != nil {
			fmt.Fprintf(&b, ", error: %v)", err)
			return b.String()
		}
		fmt.Fprintf(&b, ": %v", vals)
	}
	b.WriteString(")")
	return b.String()
}

// keepAlive keeps tensors, and so their memory, reachable until the device
// call before it has returned: the CPU runs primitives during the call, and a
// tensor's memory may otherwise be freed while a primitive still reads it.
func keepAlive(ts ...*Tensor) { runtime.KeepAlive(ts) }
