package onnx

import (
	"fmt"
	"math"

	"github.com/wgtensor/wgtensor/tensor"
)

func init() {
	register("Resize", &opSpec{since: 10, minIn: 1, foldable: true,
		attrs: []string{"mode", "coordinate_transformation_mode", "nearest_mode", "cubic_coeff_a", "exclude_outside", "extrapolation_value", "antialias", "axes", "keep_aspect_ratio_policy"},
		check: checkResize, run: runResize})
	register("Upsample", &opSpec{since: 7, minIn: 1, foldable: true, attrs: []string{"mode", "scales"}, check: checkResize, run: runResize})
}

func checkResize(n *node) error {
	if m := n.attrString("mode", "nearest"); m != "nearest" && m != "linear" && m != "bilinear" {
		return fmt.Errorf("mode %q is not supported (nearest and linear are)", m)
	}
	switch c := n.attrString("coordinate_transformation_mode", "half_pixel"); c {
	case "half_pixel", "pytorch_half_pixel", "align_corners", "asymmetric", "tf_half_pixel_for_nn":
	default:
		return fmt.Errorf("coordinate_transformation_mode %q is not supported", c)
	}
	switch m := n.attrString("nearest_mode", "round_prefer_floor"); m {
	case "round_prefer_floor", "round_prefer_ceil", "floor", "ceil":
	default:
		return fmt.Errorf("nearest_mode %q is not supported", m)
	}
	if n.attrInt("antialias", 0) != 0 {
		return fmt.Errorf("antialias is not supported")
	}
	if p := n.attrString("keep_aspect_ratio_policy", "stretch"); p != "stretch" {
		return fmt.Errorf("keep_aspect_ratio_policy %q is not supported", p)
	}
	if n.attrInt("exclude_outside", 0) != 0 {
		return fmt.Errorf("exclude_outside is not supported")
	}
	return nil
}

// runResize serves Upsample (opsets 7 to 9: scales as an attribute, then
// input 1; asymmetric coordinates) and Resize (10: scales as input 1; 11
// and later: roi, scales and sizes as inputs 1 to 3). Each axis is
// resampled in turn: nearest by gathering, linear by blending two
// gathered neighbours.
func runResize(c *call) ([]*value, error) {
	x := c.in[0]
	r := len(x.shape)
	var scales []float64
	var sizes []int
	coord := c.attrString("coordinate_transformation_mode", "half_pixel")
	nearest := c.attrString("nearest_mode", "round_prefer_floor")
	switch {
	case c.op == "Upsample" && c.opset < 9:
		scales = c.attrFloats("scales")
	case c.op == "Upsample" || c.opset == 10:
		v := c.input(1)
		if v == nil {
			return nil, fmt.Errorf("scales are missing")
		}
		var err error
		if scales, err = v.values(); err != nil {
			return nil, err
		}
	default:
		if v := c.input(2); v != nil && v.numel() > 0 {
			var err error
			if scales, err = v.values(); err != nil {
				return nil, err
			}
		}
		if v := c.input(3); v != nil && v.numel() > 0 {
			var err error
			if sizes, err = v.ints(); err != nil {
				return nil, err
			}
		}
	}
	if c.op == "Upsample" || c.opset == 10 {
		coord, nearest = "asymmetric", "floor" // and Resize-10 takes ceil on the axes it shrinks, as ONNX Runtime
	}
	axes := c.attrInts("axes", nil)
	if axes == nil {
		for i := range r {
			axes = append(axes, i)
		}
	}
	if (scales == nil) == (sizes == nil) {
		return nil, fmt.Errorf("give exactly one of scales and sizes")
	}
	if (scales != nil && len(scales) != len(axes)) || (sizes != nil && len(sizes) != len(axes)) {
		return nil, fmt.Errorf("%d scales and %d sizes for %d axes", len(scales), len(sizes), len(axes))
	}
	t, err := x.device(c.dev)
	if err != nil {
		return nil, err
	}
	linear := c.attrString("mode", "nearest") != "nearest"
	for i, ax := range axes {
		a, err := axisOf(ax, r)
		if err != nil {
			return nil, err
		}
		in := x.shape[a]
		var out int
		var scale float64
		if sizes != nil {
			out = sizes[i]
			scale = float64(out) / float64(in)
		} else {
			scale = scales[i]
			out = int(math.Floor(float64(in) * scale))
		}
		if out < 0 || !(scale > 0) || checkElements(out) != nil {
			return nil, fmt.Errorf("axis %d of %d to %d (scale %v)", a, in, out, scale)
		}
		if out == in && scale == 1 {
			continue
		}
		mode := nearest
		if c.op == "Resize" && c.opset == 10 && scale < 1 {
			mode = "ceil"
		}
		if t, err = resample(t, a, in, out, scale, coord, mode, linear); err != nil {
			return nil, err
		}
	}
	return one(x.typ, t)
}

// resample resizes axis a of t from in to out elements.
func resample(t *tensor.Tensor, a, in, out int, scale float64, coord, nearest string, linear bool) (*tensor.Tensor, error) {
	if in == 0 {
		return nil, fmt.Errorf("resizing an empty axis %d", a)
	}
	src := func(o int) float64 {
		x := float64(o)
		switch coord {
		case "half_pixel":
			return (x+0.5)/scale - 0.5
		case "pytorch_half_pixel":
			if out > 1 {
				return (x+0.5)/scale - 0.5
			}
			return 0
		case "align_corners":
			if out == 1 {
				return 0
			}
			return x * float64(in-1) / float64(out-1)
		case "tf_half_pixel_for_nn":
			return (x + 0.5) / scale
		}
		return x / scale // asymmetric
	}
	clampi := func(i int) int32 { return int32(min(max(i, 0), in-1)) }
	if !linear {
		idx := make([]int32, out)
		for o := range idx {
			x := src(o)
			var k float64
			switch nearest {
			case "floor":
				k = math.Floor(x)
			case "ceil":
				k = math.Ceil(x)
			case "round_prefer_ceil":
				k = math.Floor(x + 0.5)
			default: // round_prefer_floor
				k = math.Ceil(x - 0.5)
			}
			idx[o] = clampi(int(k))
		}
		return t.IndexSelect(a, tensor.New(t.Device(), idx)), nil
	}
	lo, hi := make([]int32, out), make([]int32, out)
	w := make([]float32, out)
	for o := range out {
		x := min(max(src(o), 0), float64(in-1))
		f := math.Floor(x)
		lo[o], hi[o] = clampi(int(f)), clampi(int(f)+1)
		w[o] = float32(x - f)
	}
	shape := make([]int, t.Dim())
	for i := range shape {
		shape[i] = 1
	}
	shape[a] = out
	wt := tensor.New(t.Device(), w, shape...)
	dev := t.Device()
	l := t.IndexSelect(a, tensor.New(dev, lo))
	h := t.IndexSelect(a, tensor.New(dev, hi))
	return l.Add(h.Sub(l).Mul(wt)), nil
}
