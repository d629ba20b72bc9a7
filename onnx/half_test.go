package onnx_test

import (
	"encoding/binary"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/wgtensor/wgtensor/device/devicetest"
	"github.com/wgtensor/wgtensor/internal/half"
	"github.com/wgtensor/wgtensor/onnx"
	"github.com/wgtensor/wgtensor/onnx/internal/onnxpb"
	"github.com/wgtensor/wgtensor/tensor"
)

// halfModel is y = relu(x @ w) in float16 (or bfloat16): x [2, 3] is an
// input, w [3, 2] an initializer of that type.
func halfModel(t *testing.T, typ onnxpb.TensorProto_DataType, bf16 bool, w []float32) []byte {
	info := func(name string, dims ...int) *onnxpb.ValueInfoProto {
		vi := floatInfo(name, dims[0], dims[1])
		vi.GetType().GetTensorType().ElemType = int32(typ)
		return vi
	}
	raw := make([]byte, 2*len(w))
	for i, v := range w {
		binary.LittleEndian.PutUint16(raw[2*i:], half.Round(v, bf16))
	}
	return modelBytes(t, 13, &onnxpb.GraphProto{
		Node: []*onnxpb.NodeProto{
			node("mm", "MatMul", []string{"x", "w"}, []string{"xw"}),
			node("relu", "Relu", []string{"xw"}, []string{"y"}),
		},
		Initializer: []*onnxpb.TensorProto{{Name: "w", Dims: []int64{3, 2}, DataType: int32(typ), RawData: raw}},
		Input:       []*onnxpb.ValueInfoProto{info("x", 2, 3)},
		Output:      []*onnxpb.ValueInfoProto{info("y", 2, 2)},
	})
}

// TestHalfModel: a float16 (and a bfloat16) model takes inputs of its type
// (or float32) and returns outputs of its type, computed in float32 and
// rounded, on every device; another type is refused naming both.
func TestHalfModel(t *testing.T) {
	w := []float32{0.5, -1, 1.25, 2, -0.75, 0.001}
	x := []float32{1, 2, 3, -1, 0.5, 1e-3}
	for _, c := range []struct {
		typ  onnxpb.TensorProto_DataType
		dt   tensor.DType
		bf16 bool
	}{{onnxpb.TensorProto_FLOAT16, tensor.Float16, false}, {onnxpb.TensorProto_BFLOAT16, tensor.BFloat16, true}} {
		// The reference: the 16-bit values' product in float64, ReLU,
		// rounded to the 16-bit type.
		r := func(v float32) float64 { return float64(half.Value(half.Round(v, c.bf16), c.bf16)) }
		var want []uint16
		for i := range 2 {
			for j := range 2 {
				var s float64
				for k := range 3 {
					s += r(x[i*3+k]) * r(w[k*2+j])
				}
				want = append(want, half.Round(float32(max(s, 0)), c.bf16))
			}
		}
		for _, dev := range devicetest.Devices(t) {
			m, err := onnx.LoadBytes(halfModel(t, c.typ, c.bf16, w), "", dev)
			require.NoError(t, err)
			for _, in := range []*tensor.Tensor{tensor.New(dev, x, 2, 3).AsType(c.dt), tensor.New(dev, x, 2, 3)} {
				out, err := m.Run(map[string]*tensor.Tensor{"x": in})
				require.NoError(t, err, "%s %v input", dev.Name(), in.DType())
				y := out["y"]
				require.Equal(t, c.dt, y.DType(), "%s: the output keeps the model's type", dev.Name())
				bits, err := y.Bits()
				require.NoError(t, err)
				assert.Equal(t, want, bits, "%s %v model, %v input", dev.Name(), c.dt, in.DType())
			}
			_, err = m.Run(map[string]*tensor.Tensor{"x": tensor.New(dev, []int32{1, 2, 3, 4, 5, 6}, 2, 3)})
			assert.ErrorContains(t, err, "int32 tensor for a "+c.dt.String()+" input (pass "+c.dt.String()+" or float32)")
		}
	}
}
