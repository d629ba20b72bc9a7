package onnx_test

import (
	"math/rand/v2"
	"runtime"
	"testing"
	"weak"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/wgtensor/wgtensor/device/devicetest"
	"github.com/wgtensor/wgtensor/onnx"
	"github.com/wgtensor/wgtensor/onnx/internal/onnxpb"
	"github.com/wgtensor/wgtensor/tensor"
)

// TestRunReleasesIntermediates: a run releases its intermediate values
// once nothing reads them, so that repeated runs take every buffer from
// the device's pool and collect no garbage, while values that view one
// another's memory stay until the last of them is read: views of an
// intermediate (read after it), of a weight and of the input, an output
// that views an intermediate, a weight as an output, and a result nobody
// reads.
func TestRunReleasesIntermediates(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	randoms := func(n int) []float32 { return normals(rng, n, 0) }
	wv := randoms(12 * 5)
	g := &onnxpb.GraphProto{
		Node: []*onnxpb.NodeProto{
			node("relu", "Relu", []string{"x"}, []string{"a"}),
			node("view", "Reshape", []string{"a", "s6x4"}, []string{"av"}), // a view of a
			node("dead", "Neg", []string{"a"}, []string{"unread"}),
			node("wview", "Reshape", []string{"w", "s5x12"}, []string{"wt"}), // a view of w
			node("xview", "Flatten", []string{"x"}, []string{"xf"}),          // a view of x
			node("sig", "Sigmoid", []string{"av"}, []string{"b"}),
			node("rows", "Reshape", []string{"av", "s2x12"}, []string{"a2"}),
			node("mm", "MatMul", []string{"a2", "w"}, []string{"c"}),
			node("mm2", "MatMul", []string{"c", "wt"}, []string{"d"}),
			node("add", "Add", []string{"d", "xf"}, []string{"out"}),
			node("bview", "Reshape", []string{"b", "s24"}, []string{"bflat"}), // an output viewing an intermediate
			node("id", "Identity", []string{"w"}, []string{"wout"}),           // a weight as an output
		},
		Initializer: []*onnxpb.TensorProto{floatInit("w", []int64{12, 5}, wv...),
			int64Init("s6x4", 6, 4), int64Init("s5x12", 5, 12), int64Init("s2x12", 2, 12), int64Init("s24", 24)},
		Input: []*onnxpb.ValueInfoProto{floatInfo("x", 2, 3, 4)},
		Output: []*onnxpb.ValueInfoProto{floatInfo("out", 2, 12), floatInfo("bflat", 24), floatInfo("wout", 12, 5),
			floatInfo("av", 6, 4)},
	}
	xv := randoms(24)
	for _, dev := range devicetest.Devices(t) {
		t.Run(dev.Name(), func(t *testing.T) {
			m, err := onnx.LoadBytes(modelBytes(t, 13, g), "", dev)
			require.NoError(t, err)
			x := tensor.New(dev, xv, 2, 3, 4)
			w := tensor.New(dev, wv, 12, 5)
			a := x.ReLU()
			want := map[string]*tensor.Tensor{
				"out":   a.Reshape(2, 12).MatMul(w).MatMul(w.Reshape(5, 12)).Add(x.Reshape(2, 12)),
				"bflat": a.Sigmoid().Reshape(24),
				"wout":  w,
				"av":    a.Reshape(6, 4),
			}
			run := func() {
				out, err := m.Run(map[string]*tensor.Tensor{"x": x})
				require.NoError(t, err)
				for name, wt := range want {
					got, err := out[name].Data()
					require.NoError(t, err, name)
					exp, err := wt.Data()
					require.NoError(t, err)
					require.InDeltaSlice(t, exp, got, 1e-5, name)
					out[name].Release()
				}
				_, err = x.Data()
				require.NoError(t, err, "the input after a run")
			}
			run()
			run()
			created, collections := dev.Stats().Created, tensor.ReadMemoryStats().Collections
			for range 10 {
				run()
			}
			assert.Equal(t, created, dev.Stats().Created, "buffers created by later runs")
			assert.Equal(t, collections, tensor.ReadMemoryStats().Collections, "collections during later runs")
		})
	}
}

// TestRunKeepsNoValues: once Run has returned, the model holds none of the
// run's values, the caller's input among them, whether the run succeeded
// or failed halfway (a model keeps its environment between runs).
func TestRunKeepsNoValues(t *testing.T) {
	g := &onnxpb.GraphProto{
		Node: []*onnxpb.NodeProto{
			node("relu", "Relu", []string{"x"}, []string{"a"}),
			node("mm", "MatMul", []string{"a", "a"}, []string{"y"}),
		},
		Input:  []*onnxpb.ValueInfoProto{floatInfo("x", -1, 3)},
		Output: []*onnxpb.ValueInfoProto{floatInfo("y", 3, 3)},
	}
	for _, dev := range devicetest.Devices(t) {
		t.Run(dev.Name(), func(t *testing.T) {
			m, err := onnx.LoadBytes(modelBytes(t, 13, g), "", dev)
			require.NoError(t, err)
			for _, rows := range []int{3, 2} { // 2 rows: MatMul fails after Relu ran
				x := tensor.Ones(dev, rows, 3)
				gone := weak.Make(x)
				out, err := m.Run(map[string]*tensor.Tensor{"x": x})
				if rows == 3 {
					require.NoError(t, err)
					out["y"].Release()
				} else {
					require.ErrorContains(t, err, "mm")
				}
				x = nil
				for range 3 {
					runtime.GC()
				}
				assert.Nil(t, gone.Value(), "%d rows: the input is still referenced", rows)
			}
		})
	}
}

// TestConvWindowsFollowTheInput: a Conv with SAME padding pads by what
// each run's input size asks (the window geometry is remembered between
// runs only for the same input size): 1 and 1 at 5×5, 0 and 1 at 6×6 with
// stride 2.
func TestConvWindowsFollowTheInput(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	wv := normals(rng, 9, 0)
	g := &onnxpb.GraphProto{
		Node: []*onnxpb.NodeProto{node("c", "Conv", []string{"x", "w"}, []string{"y"},
			&onnxpb.AttributeProto{Name: "auto_pad", Type: onnxpb.AttributeProto_STRING, S: []byte("SAME_UPPER")},
			&onnxpb.AttributeProto{Name: "strides", Type: onnxpb.AttributeProto_INTS, Ints: []int64{2, 2}})},
		Initializer: []*onnxpb.TensorProto{floatInit("w", []int64{1, 1, 3, 3}, wv...)},
		Input:       []*onnxpb.ValueInfoProto{floatInfo("x", 1, 1, -1, -1)},
		Output:      []*onnxpb.ValueInfoProto{floatInfo("y", 1, 1, -1, -1)},
	}
	for _, dev := range devicetest.Devices(t) {
		t.Run(dev.Name(), func(t *testing.T) {
			m, err := onnx.LoadBytes(modelBytes(t, 13, g), "", dev)
			require.NoError(t, err)
			w := tensor.New(dev, wv, 1, 1, 3, 3)
			for _, c := range []struct{ size, before, after int }{{5, 1, 1}, {6, 0, 1}, {5, 1, 1}} {
				x := tensor.New(dev, normals(rng, c.size*c.size, 0), 1, 1, c.size, c.size)
				out, err := m.Run(map[string]*tensor.Tensor{"x": x})
				require.NoError(t, err)
				// The padding made explicit: before on the top and left,
				// after on the bottom and right.
				n := c.size + c.before + c.after
				rows := tensor.Concat([]*tensor.Tensor{tensor.Zeros(dev, 1, 1, c.before, c.size), x, tensor.Zeros(dev, 1, 1, c.after, c.size)}, 2)
				padded := tensor.Concat([]*tensor.Tensor{tensor.Zeros(dev, 1, 1, n, c.before), rows, tensor.Zeros(dev, 1, 1, n, c.after)}, 3)
				want, err := tensor.Conv2D(padded, w, tensor.Conv2DOptions{Stride: [2]int{2, 2}}).Data()
				require.NoError(t, err)
				got, err := out["y"].Data()
				require.NoError(t, err)
				assert.InDeltaSlice(t, want, got, 1e-5, "%d×%d", c.size, c.size)
			}
		})
	}
}
