package onnx_test

import (
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/wgtensor/wgtensor/device/devicetest"
	"github.com/wgtensor/wgtensor/onnx"
	"github.com/wgtensor/wgtensor/onnx/internal/onnxpb"
	"github.com/wgtensor/wgtensor/tensor"
)

// TestProfile: a profiled run returns what Run returns and one time per
// node left after Load's fusion, in the graph's order, each labelled with
// the operators fused into it and its output's shape, on every device.
func TestProfile(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	randoms := func(n int) []float32 { return normals(rng, n, 0) }
	g := &onnxpb.GraphProto{
		Node: []*onnxpb.NodeProto{
			node("conv", "Conv", []string{"x", "w", "b"}, []string{"y"}, intsAttrT("pads", 1, 1, 1, 1)),
			node("relu", "Relu", []string{"y"}, []string{"r"}),
			node("pool", "GlobalAveragePool", []string{"r"}, []string{"out"}),
		},
		Initializer: []*onnxpb.TensorProto{floatInit("w", []int64{4, 3, 3, 3}, randoms(108)...), floatInit("b", []int64{4}, randoms(4)...)},
		Input:       []*onnxpb.ValueInfoProto{floatInfo("x", 1, 3, 6, 6)},
		Output:      []*onnxpb.ValueInfoProto{floatInfo("out", 1, 4, 1, 1)},
	}
	xv := randoms(108)
	for _, dev := range devicetest.Devices(t) {
		m, err := onnx.LoadBytes(modelBytes(t, 13, g), "", dev)
		require.NoError(t, err)
		in := map[string]*tensor.Tensor{"x": tensor.New(dev, xv, 1, 3, 6, 6)}
		want, err := m.Run(in)
		require.NoError(t, err)
		got, prof, err := m.Profile(in)
		require.NoError(t, err)
		wantData, err := want["out"].Data()
		require.NoError(t, err)
		gotData, err := got["out"].Data()
		require.NoError(t, err)
		require.Equal(t, wantData, gotData, dev.Name())

		require.Len(t, prof.Nodes, 2, dev.Name())
		require.Equal(t, "conv", prof.Nodes[0].Node)
		require.Equal(t, "Conv+Relu", prof.Nodes[0].Op)
		require.Equal(t, []int{1, 4, 6, 6}, prof.Nodes[0].Shape)
		require.Equal(t, "pool", prof.Nodes[1].Node)
		require.Equal(t, "GlobalAveragePool", prof.Nodes[1].Op)
		require.Equal(t, []int{1, 4, 1, 1}, prof.Nodes[1].Shape)
		var sum int64
		for _, n := range prof.Nodes {
			require.Positive(t, n.Time, n.Node)
			sum += int64(n.Time)
		}
		require.GreaterOrEqual(t, int64(prof.Total), sum)
		byOp := prof.ByOp()
		require.Len(t, byOp, 2)
		require.GreaterOrEqual(t, byOp[0].Time, byOp[1].Time)
		s := prof.String()
		require.True(t, strings.Contains(s, "Conv+Relu") && strings.Contains(s, "GlobalAveragePool"), s)
	}
}
