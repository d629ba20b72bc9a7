package onnx

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"

	"github.com/wgtensor/wgtensor/device"
	"github.com/wgtensor/wgtensor/internal/half"
	"github.com/wgtensor/wgtensor/onnx/internal/onnxpb"
	"github.com/wgtensor/wgtensor/tensor"
)

// elemType is an ONNX element type (TensorProto.DataType).
type elemType int32

const (
	tUndefined elemType = 0
	tFloat     elemType = 1
	tUint8     elemType = 2
	tInt8      elemType = 3
	tUint16    elemType = 4
	tInt16     elemType = 5
	tInt32     elemType = 6
	tInt64     elemType = 7
	tString    elemType = 8
	tBool      elemType = 9
	tFloat16   elemType = 10
	tDouble    elemType = 11
	tUint32    elemType = 12
	tUint64    elemType = 13
	tBFloat16  elemType = 16
)

var elemNames = map[elemType]string{
	tFloat: "float32", tUint8: "uint8", tInt8: "int8", tUint16: "uint16", tInt16: "int16",
	tInt32: "int32", tInt64: "int64", tString: "string", tBool: "bool", tFloat16: "float16",
	tDouble: "float64", tUint32: "uint32", tUint64: "uint64", tBFloat16: "bfloat16",
}

// String returns the NumPy name of the type.
func (t elemType) String() string {
	if s, ok := elemNames[t]; ok {
		return s
	}
	return fmt.Sprintf("type %d", int32(t))
}

func elemTypeNamed(s string) elemType {
	for t, name := range elemNames {
		if name == s {
			return t
		}
	}
	return tUndefined
}

// isFloat reports whether the type is a floating-point one.
func (t elemType) isFloat() bool {
	return t == tFloat || t == tFloat16 || t == tDouble || t == tBFloat16
}

// halfType is the 16-bit tensor type of a float16 or bfloat16 value,
// which a run takes and returns at the model's edges (inside, such values
// are held in float32, rounded where the graph casts to them), or 0.
func (t elemType) halfType() tensor.DType {
	switch t {
	case tFloat16:
		return tensor.Float16
	case tBFloat16:
		return tensor.BFloat16
	}
	return 0
}

// deviceType is the wgtensor type that holds values of t on a device.
func (t elemType) deviceType() tensor.DType {
	if t.isFloat() || t == tBool {
		return tensor.Float32
	}
	return tensor.Int32
}

// value is a tensor during a run: on the device, on the host, or both.
// Constants and the small integer tensors of shape arithmetic have a host
// form; real compute has a device form; either is made from the other
// when needed.
type value struct {
	typ   elemType
	shape []int
	t     *tensor.Tensor // the device form, or nil
	host  []float64      // the host form (exact for integers below 2^53), or nil
}

// hostLimit is the size up to which results of integer and constant
// operations are computed on the host.
const hostLimit = 1 << 12

func deviceValue(typ elemType, t *tensor.Tensor) *value {
	return &value{typ: typ, shape: t.Shape(), t: t}
}

func hostValue(typ elemType, shape []int, data []float64) *value {
	return &value{typ: typ, shape: shape, host: data}
}

func (v *value) numel() int { return device.Numel(v.shape) }

// onHost reports whether v has a host form small enough for host compute.
func (v *value) onHost() bool { return v.host != nil && len(v.host) <= hostLimit }

func (v *value) release() {
	if v.t != nil {
		v.t.Release()
	}
}

// device returns v's device form, making it from the host form (and
// keeping it) when there is none.
func (v *value) device(dev device.Device) (*tensor.Tensor, error) {
	if v.t != nil {
		return v.t, nil
	}
	shape := v.shape
	if v.typ.deviceType() == tensor.Float32 {
		f := make([]float32, len(v.host))
		for i, x := range v.host {
			f[i] = float32(x)
		}
		v.t = tensor.New(dev, f, shape...)
	} else {
		is := make([]int32, len(v.host))
		for i, x := range v.host {
			if x < math.MinInt32 || x > math.MaxInt32 {
				return nil, fmt.Errorf("%v value %v does not fit in int32", v.typ, x)
			}
			is[i] = int32(x)
		}
		v.t = tensor.New(dev, is, shape...)
	}
	if len(shape) == 0 {
		v.t = v.t.Reshape()
	}
	return v.t, v.t.Err()
}

// values returns v's host form, reading the device form back when there is
// no host form (for data-dependent shapes; it waits for the device).
func (v *value) values() ([]float64, error) {
	if v.host != nil {
		return v.host, nil
	}
	out := make([]float64, v.numel())
	if v.t.DType() == tensor.Int32 {
		is, err := v.t.Ints()
		if err != nil {
			return nil, err
		}
		for i, x := range is {
			out[i] = float64(x)
		}
	} else {
		fs, err := v.t.Data()
		if err != nil {
			return nil, err
		}
		for i, x := range fs {
			out[i] = float64(x)
		}
	}
	return out, nil
}

// ints returns v's values as integers.
func (v *value) ints() ([]int, error) {
	f, err := v.values()
	if err != nil {
		return nil, err
	}
	out := make([]int, len(f))
	for i, x := range f {
		if x != math.Trunc(x) {
			return nil, fmt.Errorf("%v is not an integer", x)
		}
		// Exporters write INT64_MAX and INT64_MIN for open slice bounds;
		// clamped, they mean the same and convert without overflow.
		out[i] = int(min(max(x, -(1<<62)), 1<<62))
	}
	return out, nil
}

// maxTensorBytes caps the size of one tensor in a model file.
const maxTensorBytes = 1 << 34

// maxElements caps the elements of a tensor that an operator makes from
// sizes the model gives (Range, Pad, Resize, Trilu, Split), so that a
// hostile model cannot make the host allocate without bound.
const maxElements = 1 << 31

// checkElements returns an error when a result of n elements (shape dims)
// would exceed maxElements or overflow.
func checkElements(dims ...int) error {
	n := 1
	for _, d := range dims {
		if d < 0 {
			return fmt.Errorf("negative size in %v", dims)
		}
		if d != 0 && n > maxElements/d {
			return fmt.Errorf("sizes %v make more than %d elements", dims, maxElements)
		}
		n *= d
	}
	return nil
}

// fromProto converts an initializer or a Constant's tensor: float types
// become float32 device tensors (keeping a host copy when small), integer
// and bool types host values (moved to the device when an op needs them).
func fromProto(tp *onnxpb.TensorProto, dir string, dev device.Device) (*value, error) {
	shape := make([]int, len(tp.GetDims()))
	n := 1
	for i, d := range tp.GetDims() {
		if d < 0 || d > maxTensorBytes {
			return nil, fmt.Errorf("dimension %d of shape %v is out of range", i, tp.GetDims())
		}
		shape[i] = int(d)
		if d != 0 && n > maxTensorBytes/int(d) { // checked before multiplying: no overflow
			return nil, fmt.Errorf("shape %v is too large", tp.GetDims())
		}
		n *= shape[i]
	}
	typ := elemType(tp.GetDataType())
	raw := tp.GetRawData()
	if tp.GetDataLocation() == onnxpb.TensorProto_EXTERNAL {
		var err error
		if raw, err = externalData(tp, dir); err != nil {
			return nil, err
		}
	}
	data, err := decode(typ, n, raw, tp)
	if err != nil {
		return nil, err
	}
	v := hostValue(typ, shape, data)
	if typ.isFloat() {
		if _, err := v.device(dev); err != nil {
			return nil, err
		}
		if n > hostLimit {
			v.host = nil
		}
	}
	return v, nil
}

// elemSize is the size in raw_data of one element of each supported type.
var elemSize = map[elemType]int{tFloat: 4, tDouble: 8, tFloat16: 2, tBFloat16: 2, tInt64: 8, tInt32: 4,
	tInt16: 2, tUint16: 2, tInt8: 1, tUint8: 1, tBool: 1, tUint32: 4, tUint64: 8}

// decode reads n elements of type typ from raw (little-endian, when set) or
// from the typed fields of tp.
func decode(typ elemType, n int, raw []byte, tp *onnxpb.TensorProto) ([]float64, error) {
	size, ok := elemSize[typ]
	if !ok {
		return nil, fmt.Errorf("element type %v is not supported", typ)
	}
	if raw != nil {
		if len(raw) != n*size {
			return nil, fmt.Errorf("%d bytes of data for %d %v elements (want %d)", len(raw), n, typ, n*size)
		}
		out := make([]float64, n)
		for i := range out {
			b := raw[i*size:]
			switch typ {
			case tFloat:
				out[i] = float64(math.Float32frombits(binary.LittleEndian.Uint32(b)))
			case tDouble:
				out[i] = math.Float64frombits(binary.LittleEndian.Uint64(b))
			case tFloat16:
				out[i] = float64(half.ToFloat32(binary.LittleEndian.Uint16(b)))
			case tBFloat16:
				out[i] = float64(half.BFloat16ToFloat32(binary.LittleEndian.Uint16(b)))
			case tInt64:
				out[i] = float64(int64(binary.LittleEndian.Uint64(b)))
			case tUint64:
				out[i] = float64(binary.LittleEndian.Uint64(b))
			case tInt32:
				out[i] = float64(int32(binary.LittleEndian.Uint32(b)))
			case tUint32:
				out[i] = float64(binary.LittleEndian.Uint32(b))
			case tInt16:
				out[i] = float64(int16(binary.LittleEndian.Uint16(b)))
			case tUint16:
				out[i] = float64(binary.LittleEndian.Uint16(b))
			case tInt8:
				out[i] = float64(int8(b[0]))
			case tUint8, tBool:
				out[i] = float64(b[0])
			}
		}
		return out, nil
	}
	var got int
	switch typ {
	case tFloat:
		got = len(tp.GetFloatData())
	case tDouble:
		got = len(tp.GetDoubleData())
	case tInt64:
		got = len(tp.GetInt64Data())
	case tUint32, tUint64:
		got = len(tp.GetUint64Data())
	default:
		got = len(tp.GetInt32Data())
	}
	if got != n { // checked before allocating: n comes from the file
		return nil, fmt.Errorf("%d values for %d %v elements", got, n, typ)
	}
	out := make([]float64, n)
	switch typ {
	case tFloat:
		for i := range n {
			out[i] = float64(tp.GetFloatData()[i])
		}
	case tDouble:
		for i := range n {
			out[i] = tp.GetDoubleData()[i]
		}
	case tInt64:
		for i := range n {
			out[i] = float64(tp.GetInt64Data()[i])
		}
	case tUint32, tUint64:
		for i := range n {
			out[i] = float64(tp.GetUint64Data()[i])
		}
	default: // int32, int16, int8, uint16, uint8, bool, float16, bfloat16 in int32_data
		for i := range n {
			x := tp.GetInt32Data()[i]
			switch typ {
			case tFloat16:
				out[i] = float64(half.ToFloat32(uint16(x)))
			case tBFloat16:
				out[i] = float64(half.BFloat16ToFloat32(uint16(x)))
			default:
				out[i] = float64(x)
			}
		}
	}
	return out, nil
}

// externalData reads the bytes of a tensor stored outside the model file.
func externalData(tp *onnxpb.TensorProto, dir string) ([]byte, error) {
	var location string
	offset, length := int64(0), int64(-1)
	for _, kv := range tp.GetExternalData() {
		var err error
		switch kv.GetKey() {
		case "location":
			location = kv.GetValue()
		case "offset":
			offset, err = strconv.ParseInt(kv.GetValue(), 10, 64)
		case "length":
			length, err = strconv.ParseInt(kv.GetValue(), 10, 64)
		}
		if err != nil {
			return nil, fmt.Errorf("external data %s %q: %w", kv.GetKey(), kv.GetValue(), err)
		}
	}
	if location == "" {
		return nil, errors.New("external data without a location")
	}
	if filepath.IsAbs(location) || !filepath.IsLocal(location) {
		return nil, fmt.Errorf("external data location %q is not inside the model's directory", location)
	}
	f, err := os.Open(filepath.Join(dir, location))
	if err != nil {
		return nil, fmt.Errorf("external data: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("external data: %w", err)
	}
	if length < 0 {
		length = st.Size() - offset
	}
	if offset < 0 || length < 0 || offset > st.Size() || length > st.Size()-offset || length > maxTensorBytes {
		return nil, fmt.Errorf("external data %s: offset %d and length %d outside its %d bytes", location, offset, length, st.Size())
	}
	b := make([]byte, length)
	if _, err := f.ReadAt(b, offset); err != nil {
		return nil, fmt.Errorf("external data %s: %w", location, err)
	}
	return b, nil
}
