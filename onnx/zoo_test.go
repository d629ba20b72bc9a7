package onnx_test

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"

	"github.com/wgtensor/wgtensor/data"
	"github.com/wgtensor/wgtensor/device/devicetest"
	"github.com/wgtensor/wgtensor/onnx"
	"github.com/wgtensor/wgtensor/onnx/internal/onnxpb"
	"github.com/wgtensor/wgtensor/tensor"
)

// The ONNX model zoo's MNIST CNN (opset 7, written by CNTK 2.5.1) and its
// official test vectors ship in this Go module.
const (
	zooModule  = "github.com/owulveryck/onnx-go"
	zooVersion = "v0.5.0"
	zooDir     = "internal/examples/mnist"
)

// zooFile returns a file of the zoo example, or skips the test (fails it in
// CI) with the command that brings it.
func zooFile(t *testing.T, name string) string {
	t.Helper()
	p, err := data.ModuleFile(zooModule, zooVersion, zooDir+"/"+name)
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	return p
}

// zooModel reads the model bytes, a string literal in mnist_binary.go.
func zooModel(t *testing.T) []byte {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), zooFile(t, "mnist_binary.go"), nil, 0)
	require.NoError(t, err)
	var model []byte
	ast.Inspect(f, func(n ast.Node) bool {
		if lit, ok := n.(*ast.BasicLit); ok && lit.Kind == token.STRING && len(lit.Value) > 1000 {
			s, err := strconv.Unquote(lit.Value)
			require.NoError(t, err)
			model = []byte(s)
		}
		return true
	})
	require.NotEmpty(t, model, "no model literal in mnist_binary.go")
	return model
}

// readTensorProto reads a serialized TensorProto test vector as float32.
func readTensorProto(t *testing.T, path string) ([]int, []float32) {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	var tp onnxpb.TensorProto
	require.NoError(t, proto.Unmarshal(b, &tp))
	shape := make([]int, len(tp.GetDims()))
	for i, d := range tp.GetDims() {
		shape[i] = int(d)
	}
	vals := tp.GetFloatData()
	if raw := tp.GetRawData(); len(raw) > 0 {
		vals = make([]float32, len(raw)/4)
		for i := range vals {
			vals[i] = float32frombytes(raw[4*i:])
		}
	}
	return shape, vals
}

func TestZooMNIST(t *testing.T) {
	model := zooModel(t)
	for _, dev := range devicetest.Devices(t) {
		t.Run(dev.Kind().String(), func(t *testing.T) {
			m, err := onnx.LoadBytes(model, "", dev)
			require.NoError(t, err)
			assert.Equal(t, 7, m.Opset())
			require.Len(t, m.Inputs(), 1)
			require.Len(t, m.Outputs(), 1)
			in, out := m.Inputs()[0], m.Outputs()[0]
			assert.Equal(t, "float32", in.DType)
			t.Logf("%s: input %s %v, output %s %v", m.Producer(), in.Name, in.Shape, out.Name, out.Shape)
			for i := range 3 {
				dir := filepath.Dir(zooFile(t, fmt.Sprintf("test_data_set_%d/input_0.pb", i)))
				shape, x := readTensorProto(t, filepath.Join(dir, "input_0.pb"))
				_, want := readTensorProto(t, filepath.Join(dir, "output_0.pb"))
				res, err := m.Run(map[string]*tensor.Tensor{in.Name: tensor.New(dev, x, shape...)})
				require.NoError(t, err)
				got, err := res[out.Name].Data()
				require.NoError(t, err)
				require.Len(t, got, len(want))
				assertCloseToMax(t, want, got, 1e-4, fmt.Sprintf("test set %d", i))
				assert.Equal(t, argmax(want), argmax(got), "predicted digit, test set %d", i)
			}
		})
	}
}

// assertCloseToMax checks that got matches want within tol relative to
// want's largest magnitude, as the ONNX tests compare.
func assertCloseToMax(t *testing.T, want, got []float32, tol float64, msg string) {
	t.Helper()
	scale := 0.0
	for _, w := range want {
		scale = max(scale, abs(float64(w)))
	}
	worst, at := 0.0, 0
	for i := range want {
		if d := abs(float64(got[i]) - float64(want[i])); d > worst {
			worst, at = d, i
		}
	}
	assert.LessOrEqual(t, worst, tol*max(scale, 1e-30), "%s: largest difference %.3g at %d (got %v, want %v; scale %.3g)", msg, worst, at, got[at], want[at], scale)
}

func abs(x float64) float64 {
	if x < 0 {
		return -x
	}
	return x
}

func argmax(v []float32) int {
	best := 0
	for i, x := range v {
		if x > v[best] {
			best = i
		}
	}
	return best
}
