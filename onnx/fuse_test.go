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

// TestConvEpilogues: the Add of a residual and the Relu or Clip after a
// Conv are fused into it at Load where the graph allows, and the fused
// model computes what the nodes one by one do, on every device: residuals
// of the output's shape in either operand of Add, residuals that broadcast
// (not fused into the kernel), 1-D convolutions, Clip's bounds as inputs
// and as attributes.
func TestConvEpilogues(t *testing.T) {
	conv := func(in ...string) *onnxpb.NodeProto {
		return node("conv", "Conv", in, []string{"y"}, intsAttrT("pads", 1, 1, 1, 1))
	}
	conv1D := node("conv", "Conv", []string{"x", "w", "b"}, []string{"y"}, intsAttrT("pads", 1, 1))
	clipAttrs := node("clip", "Clip", []string{"s"}, []string{"out"},
		&onnxpb.AttributeProto{Name: "min", Type: onnxpb.AttributeProto_FLOAT, F: -0.5},
		&onnxpb.AttributeProto{Name: "max", Type: onnxpb.AttributeProto_FLOAT, F: 0.5})
	cases := []struct {
		name        string
		opset       int64
		nodes       []*onnxpb.NodeProto
		x, w, r     []int // r nil: no residual input
		lo, hi      float64
		fused       int
		notResidual bool // the graph adds no residual
	}{
		{"add-relu", 13, []*onnxpb.NodeProto{conv("x", "w", "b"), node("add", "Add", []string{"y", "r"}, []string{"s"}), node("relu", "Relu", []string{"s"}, []string{"out"})},
			[]int{2, 3, 5, 6}, []int{4, 3, 3, 3}, []int{2, 4, 5, 6}, 0, math.Inf(1), 2, false},
		{"residual-first-clip", 13, []*onnxpb.NodeProto{conv("x", "w", "b"), node("add", "Add", []string{"r", "y"}, []string{"s"}), node("clip", "Clip", []string{"s", "lo", "hi"}, []string{"out"})},
			[]int{1, 3, 5, 5}, []int{4, 3, 3, 3}, []int{1, 4, 5, 5}, -0.5, 0.5, 2, false},
		{"broadcast-residual", 13, []*onnxpb.NodeProto{conv("x", "w", "b"), node("add", "Add", []string{"y", "r"}, []string{"s"}), node("relu", "Relu", []string{"s"}, []string{"out"})},
			[]int{2, 3, 5, 5}, []int{4, 3, 3, 3}, []int{1, 4, 1, 5}, 0, math.Inf(1), 2, false},
		{"no-bias-relu", 13, []*onnxpb.NodeProto{conv("x", "w"), node("relu", "Relu", []string{"y"}, []string{"out"})},
			[]int{2, 3, 4, 4}, []int{4, 3, 3, 3}, nil, 0, math.Inf(1), 1, true},
		{"1d-add-clip-attrs", 9, []*onnxpb.NodeProto{conv1D, node("add", "Add", []string{"y", "r"}, []string{"s"}), clipAttrs},
			[]int{2, 3, 7}, []int{4, 3, 3}, []int{2, 4, 7}, -0.5, 0.5, 2, false},
		{"output-used-twice", 13, []*onnxpb.NodeProto{conv("x", "w", "b"), node("add", "Add", []string{"y", "y"}, []string{"s"}), node("relu", "Relu", []string{"s"}, []string{"out"})},
			[]int{1, 3, 4, 4}, []int{4, 3, 3, 3}, nil, 0, math.Inf(1), 0, false},
	}
	rng := rand.New(rand.NewPCG(1, 2))
	randoms := func(n int) []float32 { return normals(rng, n, 0) }
	numel := func(s []int) int {
		n := 1
		for _, d := range s {
			n *= d
		}
		return n
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			wv, bv := randoms(numel(c.w)), randoms(c.w[0])
			w64 := make([]int64, len(c.w))
			for i, d := range c.w {
				w64[i] = int64(d)
			}
			g := &onnxpb.GraphProto{
				Node:        c.nodes,
				Initializer: []*onnxpb.TensorProto{floatInit("w", w64, wv...), floatInit("b", []int64{int64(c.w[0])}, bv...), floatInit("lo", nil, -0.5), floatInit("hi", nil, 0.5)},
				Input:       []*onnxpb.ValueInfoProto{floatInfo("x", anys(c.x)...)},
				Output:      []*onnxpb.ValueInfoProto{floatInfo("out", anys([]int{-1, -1, -1, -1}[:len(c.x)])...)},
			}
			if c.r != nil {
				g.Input = append(g.Input, floatInfo("r", anys(c.r)...))
			}
			xv := randoms(numel(c.x))
			var rv []float32
			if c.r != nil {
				rv = randoms(numel(c.r))
			}
			for _, dev := range devicetest.Devices(t) {
				m, err := onnx.LoadBytes(modelBytes(t, c.opset, g), "", dev)
				require.NoError(t, err)
				require.Equal(t, c.fused, m.Stats().FusedEpilogues, "fused nodes")
				x := tensor.New(dev, xv, c.x...)
				in := map[string]*tensor.Tensor{"x": x}
				if c.r != nil {
					in["r"] = tensor.New(dev, rv, c.r...)
				}
				out, err := m.Run(in)
				require.NoError(t, err)
				got, err := out["out"].Data()
				require.NoError(t, err)

				// The same, op by op.
				w, x4 := tensor.New(dev, wv, c.w...), x
				if len(c.x) == 3 {
					w, x4 = w.Unsqueeze(2), x.Unsqueeze(2)
				}
				y := tensor.Conv2D(x4, w, tensor.Conv2DOptions{Padding: [2]int{1, 1}})
				if len(c.x) == 3 {
					y = tensor.Conv2D(x4, w, tensor.Conv2DOptions{Padding: [2]int{0, 1}}).Squeeze(2)
				}
				if c.name != "no-bias-relu" {
					shape := make([]int, y.Dim())
					for i := range shape {
						shape[i] = 1
					}
					shape[1] = c.w[0]
					y = y.Add(tensor.New(dev, bv, shape...))
				}
				switch {
				case c.r != nil:
					y = y.Add(in["r"])
				case !c.notResidual:
					y = y.Add(y)
				}
				want, err := y.Clamp(c.lo, c.hi).Data()
				require.NoError(t, err)
				require.Len(t, got, len(want))
				for i := range want {
					require.InDelta(t, want[i], got[i], 1e-5, "%s: element %d", dev.Name(), i)
				}
			}
		})
	}
}

// anys returns dims as floatInfo's arguments, -1 as a symbolic dimension.
func anys(dims []int) []any {
	a := make([]any, len(dims))
	for i, d := range dims {
		a[i] = d
		if d < 0 {
			a[i] = "d"
		}
	}
	return a
}

// TestConvAffineAndHardSwish: PP-OCR's pattern, a Conv, a learnable affine
// step (Mul by a value, Add per channel), a spelt-out hard swish
// y·clip(y+3, 0, 6)/6 and another affine step, becomes one Conv: the first
// affine step folded into its weights, the hard swish and the second step
// into its epilogue; the result is what the nodes one by one compute.
func TestConvAffineAndHardSwish(t *testing.T) {
	g := &onnxpb.GraphProto{
		Node: []*onnxpb.NodeProto{
			node("conv", "Conv", []string{"x", "w", "b"}, []string{"y"}, intsAttrT("pads", 1, 1, 1, 1)),
			node("scale", "Mul", []string{"k", "y"}, []string{"m1"}),
			node("shift", "Add", []string{"m1", "cb"}, []string{"a1"}),
			node("plus3", "Add", []string{"a1", "three"}, []string{"a3"}),
			node("clip", "Clip", []string{"a3", "zero", "six"}, []string{"c"}),
			node("times", "Mul", []string{"a1", "c"}, []string{"mm"}),
			node("sixth", "Div", []string{"mm", "six"}, []string{"hs"}),
			node("scale2", "Mul", []string{"hs", "half"}, []string{"h2"}),
			node("shift2", "Add", []string{"h2", "q"}, []string{"out"}),
		},
		Initializer: []*onnxpb.TensorProto{
			floatInit("w", []int64{4, 3, 3, 3}, randomsFor(108, 3)...), floatInit("b", []int64{4}, 0.5, -1, 2, 0),
			floatInit("k", nil, 1.5), floatInit("cb", []int64{1, 4, 1, 1}, 3, -2, 0.25, 1),
			floatInit("three", nil, 3), floatInit("zero", nil, 0), floatInit("six", nil, 6),
			floatInit("half", nil, 0.5), floatInit("q", nil, -0.25),
		},
		Input:  []*onnxpb.ValueInfoProto{floatInfo("x", 2, 3, 5, 6)},
		Output: []*onnxpb.ValueInfoProto{floatInfo("out", 2, 4, 5, 6)},
	}
	xv := randomsFor(2*3*5*6, 4)
	for _, dev := range devicetest.Devices(t) {
		m, err := onnx.LoadBytes(modelBytes(t, 13, g), "", dev)
		require.NoError(t, err)
		st := m.Stats()
		require.Equal(t, 2, st.FoldedAffines, "%+v", st)
		require.Equal(t, 1, st.HardSwishes, "%+v", st)
		require.Equal(t, 3, st.FusedEpilogues, "%+v", st)
		require.Equal(t, 1, st.Nodes, "%+v", st)
		x := tensor.New(dev, xv, 2, 3, 5, 6)
		out, err := m.Run(map[string]*tensor.Tensor{"x": x})
		require.NoError(t, err)
		got, err := out["out"].Data()
		require.NoError(t, err)

		y := tensor.Conv2D(x, tensor.New(dev, randomsFor(108, 3), 4, 3, 3, 3), tensor.Conv2DOptions{Padding: [2]int{1, 1}})
		y = y.Add(tensor.New(dev, []float32{0.5, -1, 2, 0}, 1, 4, 1, 1)).MulScalar(1.5).Add(tensor.New(dev, []float32{3, -2, 0.25, 1}, 1, 4, 1, 1))
		y = y.Mul(y.AddScalar(3).Clamp(0, 6)).DivScalar(6).MulScalar(0.5).AddScalar(-0.25)
		want, err := y.Data()
		require.NoError(t, err)
		for i := range want {
			require.InDelta(t, want[i], got[i], 1e-5, "%s: element %d", dev.Name(), i)
		}
	}
}

// randomsFor returns n normal values of the seed.
func randomsFor(n int, seed uint64) []float32 {
	return normals(rand.New(rand.NewPCG(seed, 7)), n, 0)
}
