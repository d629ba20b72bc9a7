// Package safetensors reads and writes checkpoints in the safetensors format
// (https://github.com/huggingface/safetensors).
//
// A file is an 8-byte little-endian header length N, N bytes of UTF-8 JSON
// describing each tensor's dtype, shape and byte range, and the data section
// holding the tensors' little-endian elements back to back:
//
//	{"__metadata__":{"format":"pt"},
//	 "fc1.weight":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]}}
//
// The package deals in bytes, shapes and host slices only; converting to
// device tensors is the caller's business. Parse validates a file completely
// (it never panics and its memory use is linear in the input's size), Encode
// writes a deterministic file and WriteFile replaces a file atomically.
//
// Errors name the problem and, where one is involved, the tensor. They wrap
// one of the sentinel errors below, so errors.Is can tell the kinds apart.
package safetensors

import (
	"encoding/binary"
	"errors"
	"fmt"
	"github.com/wgtensor/wgtensor/internal/half"
	"math"
	"slices"
)

// MaxHeaderSize is the largest JSON header, in bytes, that Parse accepts and
// Encode writes (100 MiB).
const MaxHeaderSize = 100 << 20

// Sentinel errors wrapped by the errors this package returns.
var (
	// ErrTruncated reports a file shorter than 8 bytes or shorter than its
	// header length claims.
	ErrTruncated = errors.New("safetensors: truncated file")
	// ErrHeaderTooLarge reports a header longer than MaxHeaderSize.
	ErrHeaderTooLarge = errors.New("safetensors: header too large")
	// ErrInvalidHeader reports a header that is not UTF-8, not a JSON object,
	// has duplicate keys or a malformed "__metadata__" entry.
	ErrInvalidHeader = errors.New("safetensors: invalid header")
	// ErrInvalidTensor reports a tensor whose dtype, shape, data_offsets or
	// data are wrong or inconsistent with each other.
	ErrInvalidTensor = errors.New("safetensors: invalid tensor")
	// ErrInvalidLayout reports tensors whose byte ranges overlap or leave
	// bytes of the data section uncovered.
	ErrInvalidLayout = errors.New("safetensors: invalid data layout")
	// ErrUnsupportedDType reports a conversion (Float32s, Int64s) that is not
	// defined for the tensor's dtype.
	ErrUnsupportedDType = errors.New("safetensors: unsupported dtype")
	// ErrOutOfRange reports an element that does not fit the requested type.
	ErrOutOfRange = errors.New("safetensors: value out of range")
)

// formatError is an error with a descriptive message that wraps a sentinel.
type formatError struct {
	kind error
	msg  string
}

// Error returns the message, prefixed with "safetensors: ".
func (e *formatError) Error() string { return "safetensors: " + e.msg }

// Unwrap returns the sentinel, for errors.Is.
func (e *formatError) Unwrap() error { return e.kind }

// errorf returns a formatError of the given kind.
func errorf(kind error, format string, args ...any) error {
	return &formatError{kind: kind, msg: fmt.Sprintf(format, args...)}
}

// DType names the element type of a tensor as the safetensors header spells
// it: "F32", "I64", "BF16", ...
type DType string

// The dtypes this package knows.
const (
	BOOL DType = "BOOL"
	U8   DType = "U8"
	I8   DType = "I8"
	I16  DType = "I16"
	U16  DType = "U16"
	F16  DType = "F16"
	BF16 DType = "BF16"
	I32  DType = "I32"
	U32  DType = "U32"
	F32  DType = "F32"
	F64  DType = "F64"
	I64  DType = "I64"
	U64  DType = "U64"
)

// Size returns the size in bytes of one element of d, and false if d is not
// a dtype this package knows.
func (d DType) Size() (int, bool) {
	switch d {
	case BOOL, U8, I8:
		return 1, true
	case I16, U16, F16, BF16:
		return 2, true
	case I32, U32, F32:
		return 4, true
	case F64, I64, U64:
		return 8, true
	}
	return 0, false
}

// Tensor is one tensor of a file: its dtype, its shape (empty for a scalar)
// and its elements in row-major order, little-endian, len(Data) ==
// Numel()*size of DType.
type Tensor struct {
	DType DType
	Shape []int
	Data  []byte
}

// FromFloat32 returns an F32 tensor of the given shape holding v. It copies
// shape and v. It panics if len(v) is not the number of elements of shape.
func FromFloat32(shape []int, v []float32) Tensor {
	t := newTensor(F32, shape, len(v), "FromFloat32")
	for i, x := range v {
		binary.LittleEndian.PutUint32(t.Data[4*i:], math.Float32bits(x))
	}
	return t
}

// FromInt32 returns an I32 tensor of the given shape holding v. It copies
// shape and v. It panics if len(v) is not the number of elements of shape.
func FromInt32(shape []int, v []int32) Tensor {
	t := newTensor(I32, shape, len(v), "FromInt32")
	for i, x := range v {
		binary.LittleEndian.PutUint32(t.Data[4*i:], uint32(x))
	}
	return t
}

// FromInt64 returns an I64 tensor of the given shape holding v. It copies
// shape and v. It panics if len(v) is not the number of elements of shape.
func FromInt64(shape []int, v []int64) Tensor {
	t := newTensor(I64, shape, len(v), "FromInt64")
	for i, x := range v {
		binary.LittleEndian.PutUint64(t.Data[8*i:], uint64(x))
	}
	return t
}

// FromBits16 returns an F16 or BF16 tensor (d) of the given shape holding
// the 16-bit floats whose bits are v. It copies shape and v. It panics if
// len(v) is not the number of elements of shape or d is another dtype.
func FromBits16(d DType, shape []int, v []uint16) Tensor {
	if d != F16 && d != BF16 {
		panic(fmt.Sprintf("safetensors.FromBits16: %s is not F16 or BF16", d))
	}
	t := newTensor(d, shape, len(v), "FromBits16")
	for i, x := range v {
		binary.LittleEndian.PutUint16(t.Data[2*i:], x)
	}
	return t
}

// newTensor allocates a tensor of n elements, panicking if shape does not
// hold exactly n (fn names the caller in the panic).
func newTensor(d DType, shape []int, n int, fn string) Tensor {
	t := Tensor{DType: d, Shape: append([]int{}, shape...)}
	if want := t.Numel(); want != n {
		panic(fmt.Sprintf("safetensors.%s: shape %v holds %d elements, got %d values", fn, shape, want, n))
	}
	size, _ := d.Size()
	t.Data = make([]byte, n*size)
	return t
}

// Numel returns the number of elements of t: the product of its shape, 1 for
// a scalar (empty shape). It returns -1 if a dimension is negative or the
// product overflows int.
func (t Tensor) Numel() int {
	n, ok := numel(t.Shape)
	if !ok {
		return -1
	}
	return n
}

// numel multiplies the dimensions left to right, failing on a negative one or
// on overflow, as the reference implementation does.
func numel(shape []int) (int, bool) {
	n := 1
	for _, d := range shape {
		if d < 0 || (d != 0 && n > math.MaxInt/d) {
			return 0, false
		}
		n *= d
	}
	return n, true
}

// check verifies that t is self-consistent: known dtype, valid shape and
// len(Data) matching them. Errors name the tensor unless name is empty.
func (t Tensor) check(name string) error {
	prefix := ""
	if name != "" {
		prefix = fmt.Sprintf("tensor %q: ", name)
	}
	size, ok := t.DType.Size()
	if !ok {
		return errorf(ErrInvalidTensor, "%sunknown dtype %q", prefix, string(t.DType))
	}
	n, ok := numel(t.Shape)
	if !ok || n > math.MaxInt/size {
		return errorf(ErrInvalidTensor, "%sshape %v is invalid (negative dimension or size overflows)", prefix, t.Shape)
	}
	if len(t.Data) != n*size {
		return errorf(ErrInvalidTensor, "%sdata holds %d bytes, shape %v of %s needs %d", prefix, len(t.Data), t.Shape, t.DType, n*size)
	}
	return nil
}

// Float32s decodes the elements of t as float32. F32 is copied exactly; F16
// and BF16 widen exactly (subnormals, infinities and NaN included); F64 is
// rounded to the nearest float32 (values beyond its range become ±Inf). Other
// dtypes give an error wrapping ErrUnsupportedDType.
func (t Tensor) Float32s() ([]float32, error) {
	switch t.DType {
	case F32, F64, F16, BF16:
	default:
		return nil, errorf(ErrUnsupportedDType, "cannot convert %s tensor to float32", t.DType)
	}
	if err := t.check(""); err != nil {
		return nil, err
	}
	size, _ := t.DType.Size()
	out := make([]float32, len(t.Data)/size)
	le := binary.LittleEndian
	for i := range out {
		switch t.DType {
		case F32:
			out[i] = math.Float32frombits(le.Uint32(t.Data[4*i:]))
		case F64:
			out[i] = float32(math.Float64frombits(le.Uint64(t.Data[8*i:])))
		case F16:
			out[i] = half.ToFloat32(le.Uint16(t.Data[2*i:]))
		case BF16:
			out[i] = math.Float32frombits(uint32(le.Uint16(t.Data[2*i:])) << 16)
		}
	}
	return out, nil
}

// Bits16 returns the bits of the elements of an F16 or BF16 tensor; other
// dtypes give an error wrapping ErrUnsupportedDType.
func (t Tensor) Bits16() ([]uint16, error) {
	if t.DType != F16 && t.DType != BF16 {
		return nil, errorf(ErrUnsupportedDType, "a %s tensor has no 16-bit floats", t.DType)
	}
	if err := t.check(""); err != nil {
		return nil, err
	}
	out := make([]uint16, len(t.Data)/2)
	for i := range out {
		out[i] = binary.LittleEndian.Uint16(t.Data[2*i:])
	}
	return out, nil
}

// Int64s decodes the elements of t as int64, from I64, I32, I16, I8, U8, U16,
// U32, U64 and BOOL (which must hold 0 or 1). A U64 element above
// math.MaxInt64 or a BOOL byte other than 0 and 1 gives an error wrapping
// ErrOutOfRange; floating-point dtypes give an error wrapping
// ErrUnsupportedDType.
func (t Tensor) Int64s() ([]int64, error) {
	switch t.DType {
	case I64, I32, I16, I8, U8, U16, U32, U64, BOOL:
	default:
		return nil, errorf(ErrUnsupportedDType, "cannot convert %s tensor to int64", t.DType)
	}
	if err := t.check(""); err != nil {
		return nil, err
	}
	size, _ := t.DType.Size()
	out := make([]int64, len(t.Data)/size)
	le := binary.LittleEndian
	for i := range out {
		switch t.DType {
		case I64:
			out[i] = int64(le.Uint64(t.Data[8*i:]))
		case U64:
			v := le.Uint64(t.Data[8*i:])
			if v > math.MaxInt64 {
				return nil, errorf(ErrOutOfRange, "element %d: U64 value %d overflows int64", i, v)
			}
			out[i] = int64(v)
		case I32:
			out[i] = int64(int32(le.Uint32(t.Data[4*i:])))
		case U32:
			out[i] = int64(le.Uint32(t.Data[4*i:]))
		case I16:
			out[i] = int64(int16(le.Uint16(t.Data[2*i:])))
		case U16:
			out[i] = int64(le.Uint16(t.Data[2*i:]))
		case I8:
			out[i] = int64(int8(t.Data[i]))
		case U8:
			out[i] = int64(t.Data[i])
		case BOOL:
			if b := t.Data[i]; b > 1 {
				return nil, errorf(ErrOutOfRange, "element %d: BOOL byte 0x%02x is neither 0 nor 1", i, b)
			}
			out[i] = int64(t.Data[i])
		}
	}
	return out, nil
}

// File is the content of a safetensors file: optional string metadata (the
// header's "__metadata__" entry; nil when absent) and the tensors by name.
type File struct {
	Metadata map[string]string
	Tensors  map[string]Tensor
}

// Names returns the names of f's tensors in sorted order.
func (f *File) Names() []string {
	if f == nil {
		return nil
	}
	names := make([]string, 0, len(f.Tensors))
	for name := range f.Tensors {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}
