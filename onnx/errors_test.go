package onnx_test

import (
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"

	"github.com/wgtensor/wgtensor/device"
	"github.com/wgtensor/wgtensor/device/devicetest"
	"github.com/wgtensor/wgtensor/onnx"
	"github.com/wgtensor/wgtensor/onnx/internal/onnxpb"
	"github.com/wgtensor/wgtensor/tensor"
)

// Small models built here, for the tests of errors and the fuzz seeds.

func floatInfo(name string, dims ...any) *onnxpb.ValueInfoProto {
	shape := &onnxpb.TensorShapeProto{}
	for _, d := range dims {
		switch d := d.(type) {
		case int:
			shape.Dim = append(shape.Dim, &onnxpb.TensorShapeProto_Dimension{Value: &onnxpb.TensorShapeProto_Dimension_DimValue{DimValue: int64(d)}})
		case string:
			shape.Dim = append(shape.Dim, &onnxpb.TensorShapeProto_Dimension{Value: &onnxpb.TensorShapeProto_Dimension_DimParam{DimParam: d}})
		}
	}
	return &onnxpb.ValueInfoProto{Name: name, Type: &onnxpb.TypeProto{Value: &onnxpb.TypeProto_TensorType{
		TensorType: &onnxpb.TypeProto_Tensor{ElemType: int32(onnxpb.TensorProto_FLOAT), Shape: shape}}}}
}

func floatInit(name string, dims []int64, vals ...float32) *onnxpb.TensorProto {
	raw := make([]byte, 4*len(vals))
	for i, v := range vals {
		binary.LittleEndian.PutUint32(raw[4*i:], math.Float32bits(v))
	}
	return &onnxpb.TensorProto{Name: name, Dims: dims, DataType: int32(onnxpb.TensorProto_FLOAT), RawData: raw}
}

func node(name, op string, in, out []string, attrs ...*onnxpb.AttributeProto) *onnxpb.NodeProto {
	return &onnxpb.NodeProto{Name: name, OpType: op, Input: in, Output: out, Attribute: attrs}
}

func modelBytes(t testing.TB, opset int64, g *onnxpb.GraphProto) []byte {
	t.Helper()
	b, err := proto.Marshal(&onnxpb.ModelProto{IrVersion: 8, OpsetImport: []*onnxpb.OperatorSetIdProto{{Version: opset}}, Graph: g})
	require.NoError(t, err)
	return b
}

// linearModel is y = relu(x @ w + b) with x [batch, 3].
func linearModel(t testing.TB) []byte {
	return modelBytes(t, 13, &onnxpb.GraphProto{
		Node: []*onnxpb.NodeProto{
			node("mm", "MatMul", []string{"x", "w"}, []string{"xw"}),
			node("add", "Add", []string{"xw", "b"}, []string{"z"}),
			node("relu", "Relu", []string{"z"}, []string{"y"}),
		},
		Initializer: []*onnxpb.TensorProto{floatInit("w", []int64{3, 2}, 1, -1, 2, 0, 0, 3), floatInit("b", []int64{2}, 0.5, -10)},
		Input:       []*onnxpb.ValueInfoProto{floatInfo("x", "batch", 3)},
		Output:      []*onnxpb.ValueInfoProto{floatInfo("y", "batch", 2)},
	})
}

func TestSmallModelRuns(t *testing.T) {
	for _, dev := range devicetest.Devices(t) {
		m, err := onnx.LoadBytes(linearModel(t), "", dev)
		require.NoError(t, err)
		assert.Equal(t, []onnx.ValueInfo{{Name: "x", DType: "float32", Shape: []onnx.Dim{{Size: -1, Symbol: "batch"}, {Size: 3}}}}, m.Inputs())
		out, err := m.Run(map[string]*tensor.Tensor{"x": tensor.New(dev, []float32{1, 1, 1, 2, 0, 0}, 2, 3)})
		require.NoError(t, err)
		got, err := out["y"].Data()
		require.NoError(t, err)
		assert.Equal(t, []float32{3.5, 0, 2.5, 0}, got)
	}
}

// TestLoadErrors: a model this package cannot run is refused at Load with
// an error that names the node, the operator and the opset.
func TestLoadErrors(t *testing.T) {
	x, y := []*onnxpb.ValueInfoProto{floatInfo("x", 2)}, []*onnxpb.ValueInfoProto{floatInfo("y", 2)}
	graph := func(n ...*onnxpb.NodeProto) *onnxpb.GraphProto {
		return &onnxpb.GraphProto{Node: n, Input: x, Output: y}
	}
	full := linearModel(t)
	for _, c := range []struct {
		name  string
		model []byte
		want  string
	}{
		{"garbage", []byte("this is not a model"), "not an ONNX model"},
		{"truncated", full[:len(full)/2], "not an ONNX model"},
		{"no graph", func() []byte { b, _ := proto.Marshal(&onnxpb.ModelProto{IrVersion: 8}); return b }(), "no graph"},
		{"old opset", modelBytes(t, 5, graph(node("r", "Relu", []string{"x"}, []string{"y"}))), "opset 5 of the default domain is not supported"},
		{"unknown op", modelBytes(t, 13, graph(node("n1", "FooBar", []string{"x"}, []string{"y"}))), `node "n1" (FooBar, opset 13): operator FooBar is not supported`},
		{"unnamed node", modelBytes(t, 13, graph(node("", "FooBar", []string{"x"}, []string{"y"}))), `node "#0" (FooBar, opset 13)`},
		{"unknown attribute", modelBytes(t, 13, graph(node("r", "Relu", []string{"x"}, []string{"y"}, &onnxpb.AttributeProto{Name: "speed", Type: onnxpb.AttributeProto_INT, I: 3}))),
			`node "r" (Relu, opset 13): attribute "speed" is not supported`},
		{"unsupported value", modelBytes(t, 13, graph(node("up", "Resize", []string{"x", "", "s"}, []string{"y"}, &onnxpb.AttributeProto{Name: "mode", Type: onnxpb.AttributeProto_STRING, S: []byte("cubic")}))),
			`node "up" (Resize, opset 13): mode "cubic" is not supported`},
		{"other domain", modelBytes(t, 13, graph(&onnxpb.NodeProto{Name: "q", OpType: "QLinearConv", Domain: "com.microsoft", Input: []string{"x"}, Output: []string{"y"}})), `operators of domain "com.microsoft"`},
		{"dangling input", modelBytes(t, 13, graph(node("a", "Add", []string{"x", "ghost"}, []string{"y"}))), `input "ghost" is not produced`},
		{"too few inputs", modelBytes(t, 13, graph(node("a", "Add", []string{"x"}, []string{"y"}))), `node "a" (Add, opset 13): 1 inputs, want at least 2`},
		{"op too old for its form", modelBytes(t, 13, graph(node("hs", "HardSwish", []string{"x"}, []string{"y"}))), ""},
		{"bad initializer", modelBytes(t, 13, &onnxpb.GraphProto{Node: []*onnxpb.NodeProto{node("a", "Add", []string{"x", "w"}, []string{"y"})},
			Initializer: []*onnxpb.TensorProto{{Name: "w", Dims: []int64{4}, DataType: int32(onnxpb.TensorProto_FLOAT), RawData: make([]byte, 8)}}, Input: x, Output: y}),
			`initializer "w": 8 bytes of data for 4 float32 elements`},
		{"huge initializer", modelBytes(t, 13, &onnxpb.GraphProto{Node: []*onnxpb.NodeProto{node("a", "Add", []string{"x", "w"}, []string{"y"})},
			Initializer: []*onnxpb.TensorProto{{Name: "w", Dims: []int64{1 << 30, 1 << 30}, DataType: int32(onnxpb.TensorProto_FLOAT)}}, Input: x, Output: y}),
			`initializer "w": shape [1073741824 1073741824] is too large`},
		{"escaping external data", modelBytes(t, 13, &onnxpb.GraphProto{Node: []*onnxpb.NodeProto{node("a", "Add", []string{"x", "w"}, []string{"y"})},
			Initializer: []*onnxpb.TensorProto{{Name: "w", Dims: []int64{2}, DataType: int32(onnxpb.TensorProto_FLOAT), DataLocation: onnxpb.TensorProto_EXTERNAL,
				ExternalData: []*onnxpb.StringStringEntryProto{{Key: "location", Value: "../../etc/passwd"}}}}, Input: x, Output: y}),
			`not inside the model's directory`},
		{"missing output", modelBytes(t, 13, &onnxpb.GraphProto{Node: []*onnxpb.NodeProto{node("r", "Relu", []string{"x"}, []string{"z"})}, Input: x, Output: y}), `output "y" is produced by no node`},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := onnx.LoadBytes(c.model, t.TempDir(), device.CPU())
			if c.want == "" { // HardSwish exists from opset 14: 13 is refused
				require.Error(t, err)
				assert.Contains(t, err.Error(), `node "hs" (HardSwish, opset 13): operator HardSwish before opset 14 is not supported`)
				return
			}
			require.Error(t, err)
			assert.Contains(t, err.Error(), c.want)
		})
	}
}

// TestExternalData: a tensor stored beside the model, at an offset, loads.
func TestExternalData(t *testing.T) {
	dir := t.TempDir()
	raw := make([]byte, 16+8)
	for i, v := range []float32{2, -3} {
		binary.LittleEndian.PutUint32(raw[16+4*i:], math.Float32bits(v))
	}
	require.NoError(t, os.WriteFile(filepath.Join(dir, "weights.bin"), raw, 0o644))
	b := modelBytes(t, 13, &onnxpb.GraphProto{
		Node: []*onnxpb.NodeProto{node("m", "Mul", []string{"x", "w"}, []string{"y"})},
		Initializer: []*onnxpb.TensorProto{{Name: "w", Dims: []int64{2}, DataType: int32(onnxpb.TensorProto_FLOAT), DataLocation: onnxpb.TensorProto_EXTERNAL,
			ExternalData: []*onnxpb.StringStringEntryProto{{Key: "location", Value: "weights.bin"}, {Key: "offset", Value: "16"}, {Key: "length", Value: "8"}}}},
		Input: []*onnxpb.ValueInfoProto{floatInfo("x", 2)}, Output: []*onnxpb.ValueInfoProto{floatInfo("y", 2)},
	})
	require.NoError(t, os.WriteFile(filepath.Join(dir, "m.onnx"), b, 0o644))
	m, err := onnx.Load(filepath.Join(dir, "m.onnx"), device.CPU())
	require.NoError(t, err)
	out, err := m.Run(map[string]*tensor.Tensor{"x": tensor.New(device.CPU(), []float32{1, 1})})
	require.NoError(t, err)
	got, _ := out["y"].Data()
	assert.Equal(t, []float32{2, -3}, got)
}

// TestRunErrors: inputs that do not fit give errors naming the input or the
// node and the shapes, and the device goes on working.
func TestRunErrors(t *testing.T) {
	for _, dev := range devicetest.Devices(t) {
		m, err := onnx.LoadBytes(linearModel(t), "", dev)
		require.NoError(t, err)
		for _, c := range []struct {
			name string
			in   map[string]*tensor.Tensor
			want string
		}{
			{"missing", map[string]*tensor.Tensor{}, `input "x" (float32 [batch 3]) is missing`},
			{"extra", map[string]*tensor.Tensor{"x": tensor.Zeros(dev, 1, 3), "q": tensor.Zeros(dev, 1)}, `no input "q"`},
			{"rank", map[string]*tensor.Tensor{"x": tensor.Zeros(dev, 3)}, `input "x": shape [3] does not fit [batch 3]`},
			{"size", map[string]*tensor.Tensor{"x": tensor.Zeros(dev, 2, 4)}, `input "x": shape [2 4] does not fit [batch 3]`},
			{"dtype", map[string]*tensor.Tensor{"x": tensor.FullOf(dev, tensor.Int32, 0, 2, 3)}, `input "x": int32 tensor for a float32 input`},
			{"nil", map[string]*tensor.Tensor{"x": nil}, `input "x": nil tensor`},
		} {
			_, err := m.Run(c.in)
			require.Error(t, err, c.name)
			assert.Contains(t, err.Error(), c.want, c.name)
		}
		// A shape error inside the graph names the node.
		g, err := onnx.LoadBytes(modelBytes(t, 13, &onnxpb.GraphProto{
			Node:  []*onnxpb.NodeProto{node("mm", "MatMul", []string{"a", "b"}, []string{"y"})},
			Input: []*onnxpb.ValueInfoProto{floatInfo("a", "n", "k"), floatInfo("b", "k2", "m")}, Output: []*onnxpb.ValueInfoProto{floatInfo("y", "n", "m")},
		}), "", dev)
		require.NoError(t, err)
		_, err = g.Run(map[string]*tensor.Tensor{"a": tensor.Zeros(dev, 2, 3), "b": tensor.Zeros(dev, 4, 5)})
		require.Error(t, err)
		assert.Contains(t, err.Error(), `onnx: node "mm" (MatMul, opset 13): MatMul: shapes [2 3] and [4 5] do not fit`)
		// The device is unharmed.
		out, err := m.Run(map[string]*tensor.Tensor{"x": tensor.Ones(dev, 1, 3)})
		require.NoError(t, err)
		v, err := out["y"].Data()
		require.NoError(t, err)
		assert.Equal(t, []float32{3.5, 0}, v)
	}
}

// FuzzLoad: no byte string makes Load (or a run of what it accepts) panic
// or exhaust memory; the device's memory is capped for the fuzzer.
func FuzzLoad(f *testing.F) {
	f.Add(linearModel(f))
	f.Add([]byte("\x08\x03\x12\x04CNTK"))
	for _, g := range []*onnxpb.GraphProto{
		{Node: []*onnxpb.NodeProto{node("s", "Shape", []string{"x"}, []string{"s"}), node("c", "ConstantOfShape", []string{"s"}, []string{"y"})},
			Input: []*onnxpb.ValueInfoProto{floatInfo("x", 2, 3)}, Output: []*onnxpb.ValueInfoProto{floatInfo("y", 2, 3)}},
		{Node: []*onnxpb.NodeProto{node("c", "Conv", []string{"x", "w"}, []string{"y"}, &onnxpb.AttributeProto{Name: "pads", Type: onnxpb.AttributeProto_INTS, Ints: []int64{1, 1, 1, 1}})},
			Initializer: []*onnxpb.TensorProto{floatInit("w", []int64{1, 1, 3, 3}, 1, 1, 1, 1, 1, 1, 1, 1, 1)},
			Input:       []*onnxpb.ValueInfoProto{floatInfo("x", 1, 1, 4, 4)}, Output: []*onnxpb.ValueInfoProto{floatInfo("y", 1, 1, 4, 4)}},
	} {
		f.Add(modelBytes(f, 13, g))
	}
	dev := device.CPU()
	require.NoError(f, device.SetMemoryLimit(dev, 64<<20))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := onnx.LoadBytes(b, t.TempDir(), dev)
		if err != nil {
			return
		}
		in := map[string]*tensor.Tensor{}
		for _, vi := range m.Inputs() {
			shape := make([]int, len(vi.Shape))
			for i, d := range vi.Shape {
				shape[i] = min(max(d.Size, 1), 8)
			}
			dt := tensor.Float32
			if vi.DType == "int64" || vi.DType == "int32" {
				dt = tensor.Int32
			}
			in[vi.Name] = tensor.FullOf(dev, dt, 1, shape...)
		}
		_, _ = m.Run(in)
	})
}

func intsAttrT(name string, vs ...int64) *onnxpb.AttributeProto {
	return &onnxpb.AttributeProto{Name: name, Type: onnxpb.AttributeProto_INTS, Ints: vs}
}

func intAttrT(name string, v int64) *onnxpb.AttributeProto {
	return &onnxpb.AttributeProto{Name: name, Type: onnxpb.AttributeProto_INT, I: v}
}

func int64Init(name string, vals ...int64) *onnxpb.TensorProto {
	return &onnxpb.TensorProto{Name: name, Dims: []int64{int64(len(vals))}, DataType: int32(onnxpb.TensorProto_INT64), Int64Data: vals}
}

// TestHostileModelsAreErrors: models that once crashed the importer (found
// by review) give errors, at Load or at Run, and never a panic.
func TestHostileModelsAreErrors(t *testing.T) {
	x := []*onnxpb.ValueInfoProto{floatInfo("x", 2, 3)}
	y := []*onnxpb.ValueInfoProto{floatInfo("y", 2, 3)}
	g := func(n *onnxpb.NodeProto, inits ...*onnxpb.TensorProto) *onnxpb.GraphProto {
		return &onnxpb.GraphProto{Node: []*onnxpb.NodeProto{n}, Initializer: inits, Input: x, Output: y}
	}
	f32 := func(name string, vals ...float32) *onnxpb.TensorProto {
		return floatInit(name, []int64{int64(len(vals))}, vals...)
	}
	for _, c := range []struct {
		name  string
		graph *onnxpb.GraphProto
		want  string
	}{
		{"omitted required input", g(node("r", "Relu", []string{"", "x"}, []string{"y"})), "input 0 is omitted but required"},
		{"an output the op does not make", &onnxpb.GraphProto{Node: []*onnxpb.NodeProto{node("r", "Relu", []string{"x"}, []string{"y", "z"})}, Input: x,
			Output: []*onnxpb.ValueInfoProto{floatInfo("y", 2, 3), floatInfo("z", 2, 3)}}, `output 1 ("z") is not one that Relu produces`},
		{"unnamed graph output", &onnxpb.GraphProto{Node: []*onnxpb.NodeProto{node("r", "Relu", []string{"x"}, []string{"y"})}, Input: x,
			Output: []*onnxpb.ValueInfoProto{floatInfo("", 2, 3)}}, "a graph output has no name"},
		{"repeated perm", g(node("t", "Transpose", []string{"x"}, []string{"y"}, intsAttrT("perm", 0, 0))), "is not a permutation"},
		{"repeated perm on a constant", g(node("t", "Transpose", []string{"w"}, []string{"y"}, intsAttrT("perm", 0, 0)), floatInit("w", []int64{2, 3}, 1, 2, 3, 4, 5, 6)), "is not a permutation"},
		{"num_outputs 0", g(node("s", "Split", []string{"x"}, []string{"y"}, intAttrT("num_outputs", 0))), "num_outputs 0 for 1 outputs"},
		{"num_outputs negative", g(node("s", "Split", []string{"x"}, []string{"y"}, intAttrT("num_outputs", -3))), "num_outputs -3 for 1 outputs"},
		{"short output_shape", g(node("ct", "ConvTranspose", []string{"w4", "w4"}, []string{"y"}, intsAttrT("output_shape", 5)),
			floatInit("w4", []int64{1, 1, 2, 2}, 1, 2, 3, 4)), "output_shape [5]: want the height and width"},
		{"NaN range", g(node("r", "Range", []string{"a", "a", "d"}, []string{"y"}), f32("a", float32(math.Inf(1))), f32("d", 1)), "make NaN elements"},
		{"endless range", g(node("r", "Range", []string{"z", "a", "d"}, []string{"y"}), f32("z", 0), f32("a", float32(math.Inf(1))), f32("d", 1)), "make +Inf elements"},
		{"huge edge pad", g(node("p", "Pad", []string{"x", "pads"}, []string{"y"}, &onnxpb.AttributeProto{Name: "mode", Type: onnxpb.AttributeProto_STRING, S: []byte("edge")}),
			int64Init("pads", 0, 1<<50, 0, 0)), "elements"},
		{"huge resize", g(node("rs", "Resize", []string{"x", "", "", "sizes"}, []string{"y"}), int64Init("sizes", 2, 1<<50)), "axis 1 of 3 to"},
		{"shape overflow", g(node("a", "Add", []string{"x", "w"}, []string{"y"}),
			&onnxpb.TensorProto{Name: "w", Dims: []int64{1 << 32, 1 << 32}, DataType: int32(onnxpb.TensorProto_FLOAT)}), "is too large"},
	} {
		t.Run(c.name, func(t *testing.T) {
			dev := device.CPU()
			var err error
			require.NotPanics(t, func() {
				var m *onnx.Model
				if m, err = onnx.LoadBytes(modelBytes(t, 18, c.graph), t.TempDir(), dev); err == nil {
					_, err = m.Run(map[string]*tensor.Tensor{"x": tensor.Ones(dev, 2, 3)})
				}
			})
			require.Error(t, err)
			assert.Contains(t, err.Error(), c.want)
		})
	}
}

// TestExternalDataOffsetOverflow: an offset near the largest int64 is an
// error naming the bounds, not a wrapped check.
func TestExternalDataOffsetOverflow(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "w.bin"), make([]byte, 8), 0o644))
	b := modelBytes(t, 13, &onnxpb.GraphProto{
		Node: []*onnxpb.NodeProto{node("m", "Mul", []string{"x", "w"}, []string{"y"})},
		Initializer: []*onnxpb.TensorProto{{Name: "w", Dims: []int64{2}, DataType: int32(onnxpb.TensorProto_FLOAT), DataLocation: onnxpb.TensorProto_EXTERNAL,
			ExternalData: []*onnxpb.StringStringEntryProto{{Key: "location", Value: "w.bin"}, {Key: "offset", Value: "9223372036854775800"}, {Key: "length", Value: "8"}}}},
		Input: []*onnxpb.ValueInfoProto{floatInfo("x", 2)}, Output: []*onnxpb.ValueInfoProto{floatInfo("y", 2)},
	})
	_, err := onnx.LoadBytes(b, dir, device.CPU())
	require.Error(t, err)
	assert.Contains(t, err.Error(), "outside its 8 bytes")
}

// TestOutputsAreTheCallers: releasing an output, even one that is a view
// of a weight, leaves the model working.
func TestOutputsAreTheCallers(t *testing.T) {
	dev := device.CPU()
	m, err := onnx.LoadBytes(modelBytes(t, 13, &onnxpb.GraphProto{
		Node: []*onnxpb.NodeProto{
			node("s", "Shape", []string{"x"}, []string{"s"}),
			node("r", "Reshape", []string{"w", "s"}, []string{"y"}),
		},
		Initializer: []*onnxpb.TensorProto{floatInit("w", []int64{6}, 1, 2, 3, 4, 5, 6)},
		Input:       []*onnxpb.ValueInfoProto{floatInfo("x", "a", "b")}, Output: []*onnxpb.ValueInfoProto{floatInfo("y", "a", "b")},
	}), "", dev)
	require.NoError(t, err)
	for range 2 {
		out, err := m.Run(map[string]*tensor.Tensor{"x": tensor.Zeros(dev, 2, 3)})
		require.NoError(t, err)
		v, err := out["y"].Data()
		require.NoError(t, err)
		assert.Equal(t, []float32{1, 2, 3, 4, 5, 6}, v)
		out["y"].Release()
	}
}

// TestWithInputShape: fixing the free dimension of the linear model's
// input keeps its results, shows in Inputs, refuses other shapes at Run,
// and a shape that does not fit the model is an error at Load naming the
// input.
func TestWithInputShape(t *testing.T) {
	dev := devicetest.Devices(t)[0]
	m, err := onnx.LoadBytes(linearModel(t), "", dev, onnx.WithInputShape("x", 2, 3))
	require.NoError(t, err)
	assert.Equal(t, []onnx.Dim{{Size: 2}, {Size: 3}}, m.Inputs()[0].Shape)
	out, err := m.Run(map[string]*tensor.Tensor{"x": tensor.New(dev, []float32{1, 1, 1, 2, 0, 0}, 2, 3)})
	require.NoError(t, err)
	got, err := out["y"].Data()
	require.NoError(t, err)
	assert.Equal(t, []float32{3.5, 0, 2.5, 0}, got)
	_, err = m.Run(map[string]*tensor.Tensor{"x": tensor.Zeros(dev, 1, 3)})
	assert.ErrorContains(t, err, `input "x": shape [1 3] does not fit [2 3]`)

	for _, c := range []struct {
		opt  onnx.Option
		want string
	}{
		{onnx.WithInputShape("z", 2, 3), `WithInputShape: the model has no input "z" (its inputs: "x")`},
		{onnx.WithInputShape("x", 2, 3, 1), `WithInputShape: input "x": 3 dimensions [2 3 1] for the model's [batch 3]`},
		{onnx.WithInputShape("x", 2, 4), `WithInputShape: input "x": dimension 1 of [2 4] differs from the model's [batch 3]`},
		{onnx.WithInputShape("x", -1, 3), `WithInputShape: input "x": negative dimension in [-1 3]`},
		{onnx.WithInputShape("x", 1<<40, 3), `WithInputShape: input "x":`},
	} {
		_, err := onnx.LoadBytes(linearModel(t), "", dev, c.opt)
		assert.ErrorContains(t, err, c.want)
	}
}
