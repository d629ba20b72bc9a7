package onnx_test

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/wgtensor/wgtensor/device/devicetest"
	"github.com/wgtensor/wgtensor/onnx"
	"github.com/wgtensor/wgtensor/onnx/internal/onnxpb"
	"github.com/wgtensor/wgtensor/tensor"
)

// TestFuseLayerNorms: a layer normalization spelt out in nine nodes, as
// PyTorch exports nn.LayerNorm below opset 17 (the Mul's and the last
// Add's operands in either order), becomes one LayerNormalization node and
// computes what the nodes do, on every device; one whose centred values
// are also a graph output is left as it is.
func TestFuseLayerNorms(t *testing.T) {
	const rows, cols = 6, 40
	rng := rand.New(rand.NewPCG(21, 22))
	xv, gv, bv := normals(rng, rows*cols, 3), normals(rng, cols, 1), normals(rng, cols, 0)
	// The reference, in float64.
	want := make([]float64, rows*cols)
	for r := range rows {
		row := xv[r*cols : (r+1)*cols]
		var mean, v float64
		for _, x := range row {
			mean += float64(x) / cols
		}
		for _, x := range row {
			v += (float64(x) - mean) * (float64(x) - mean) / cols
		}
		for i, x := range row {
			want[r*cols+i] = (float64(x)-mean)/math.Sqrt(v+1e-5)*float64(gv[i]) + float64(bv[i])
		}
	}
	graph := func(swapped, centredOut bool) *onnxpb.GraphProto {
		last := intsAttrT("axes", -1)
		mul := node("mul", "Mul", []string{"n", "gamma"}, []string{"m"})
		add := node("add2", "Add", []string{"m", "beta"}, []string{"y"})
		if swapped {
			mul.Input, add.Input = []string{"gamma", "n"}, []string{"beta", "m"}
		}
		g := &onnxpb.GraphProto{
			Node: []*onnxpb.NodeProto{
				node("mean", "ReduceMean", []string{"x"}, []string{"mu"}, last),
				node("sub", "Sub", []string{"x", "mu"}, []string{"d"}),
				node("pow", "Pow", []string{"d", "two"}, []string{"sq"}),
				node("var", "ReduceMean", []string{"sq"}, []string{"v"}, last),
				node("add1", "Add", []string{"v", "eps"}, []string{"ve"}),
				node("sqrt", "Sqrt", []string{"ve"}, []string{"s"}),
				node("div", "Div", []string{"d", "s"}, []string{"n"}),
				mul, add,
			},
			Initializer: []*onnxpb.TensorProto{floatInit("two", nil, 2), floatInit("eps", nil, 1e-5),
				floatInit("gamma", []int64{cols}, gv...), floatInit("beta", []int64{cols}, bv...)},
			Input:  []*onnxpb.ValueInfoProto{floatInfo("x", rows, cols)},
			Output: []*onnxpb.ValueInfoProto{floatInfo("y", rows, cols)},
		}
		if centredOut {
			g.Output = append(g.Output, floatInfo("d", rows, cols))
		}
		return g
	}
	for _, c := range []struct {
		name                string
		swapped, centredOut bool
		fused               int
	}{{"plain", false, false, 1}, {"operands-swapped", true, false, 1}, {"centred-is-an-output", false, true, 0}} {
		t.Run(c.name, func(t *testing.T) {
			for _, dev := range devicetest.Devices(t) {
				m, err := onnx.LoadBytes(modelBytes(t, 13, graph(c.swapped, c.centredOut)), "", dev)
				require.NoError(t, err)
				require.Equal(t, c.fused, m.Stats().LayerNorms, dev.Name())
				out, err := m.Run(map[string]*tensor.Tensor{"x": tensor.New(dev, xv, rows, cols)})
				require.NoError(t, err)
				got, err := out["y"].Data()
				require.NoError(t, err)
				for i := range want {
					require.InDelta(t, want[i], got[i], 1e-4*(1+math.Abs(want[i])), "%s: element %d", dev.Name(), i)
				}
			}
		})
	}
}
