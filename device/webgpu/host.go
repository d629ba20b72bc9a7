package webgpu

import (
	"fmt"
	"slices"
	"unsafe"

	"github.com/wgtensor/wgtensor/device/backend"
)

// hostBytes checks that data is a []float32 or []int32 of type dt and length
// n and returns its memory as bytes (sharing it, not copying).
func hostBytes(op string, dt backend.DType, n int, data any) ([]byte, error) {
	var ptr unsafe.Pointer
	var got backend.DType
	var length int
	switch s := data.(type) {
	case []float32:
		got, length = backend.Float32, len(s)
		if length > 0 {
			ptr = unsafe.Pointer(&s[0])
		}
	case []int32:
		got, length = backend.Int32, len(s)
		if length > 0 {
			ptr = unsafe.Pointer(&s[0])
		}
	case []uint16: // the bits of a Float16 or BFloat16 buffer
		got, length = dt, len(s)
		if !dt.IsHalf() {
			return nil, fmt.Errorf("device: %s: host data is []uint16 (the bits of 16-bit floats), buffer is %v", op, dt)
		}
		if length > 0 {
			ptr = unsafe.Pointer(&s[0])
		}
	default:
		return nil, fmt.Errorf("device: %s: host data is %T, want []float32, []int32 or []uint16", op, data)
	}
	if got != dt || length != n {
		return nil, fmt.Errorf("device: %s: host data is []%v of length %d, buffer is %v of length %d", op, got, length, dt, n)
	}
	if length == 0 {
		return nil, nil
	}
	return unsafe.Slice((*byte)(ptr), length*dt.Size()), nil
}

// padWords returns data, or a copy of it padded with zeros to a whole
// number of 32-bit words (an odd number of 16-bit elements), which is what
// buffer copies move.
func padWords(data []byte) []byte {
	if len(data)%4 == 0 {
		return data
	}
	return append(slices.Clip(data), make([]byte, 4-len(data)%4)...)
}

// Index primitive codes, as kernels report them in the status buffer.
const (
	codeIndexSelect = 1 + iota
	codeIndexAdd
	codeGather
	codeScatterAdd
)

func indexOpName(code uint32) string {
	switch code {
	case codeIndexSelect:
		return "IndexSelect"
	case codeIndexAdd:
		return "IndexAdd"
	case codeGather:
		return "Gather"
	case codeScatterAdd:
		return "ScatterAdd"
	}
	return fmt.Sprintf("index op %d", code)
}
