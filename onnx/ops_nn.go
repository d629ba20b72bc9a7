package onnx

import (
	"errors"
	"fmt"
	"math"
	"slices"

	"github.com/wgtensor/wgtensor/tensor"
)

func init() {
	convAttrs := []string{"auto_pad", "dilations", "group", "kernel_shape", "pads", "strides"}
	register("Conv", &opSpec{since: 1, minIn: 2, foldable: true, attrs: convAttrs, check: checkAutoPad, run: runConv})
	register("ConvTranspose", &opSpec{since: 1, minIn: 2, foldable: true,
		attrs: append(slices.Clone(convAttrs), "output_padding", "output_shape"), check: checkAutoPad, run: runConvTranspose})
	register("BatchNormalization", &opSpec{since: 7, minIn: 5, foldable: true,
		attrs: []string{"epsilon", "momentum", "spatial", "training_mode"},
		check: func(n *node) error {
			if n.attrInt("training_mode", 0) != 0 {
				return errors.New("training_mode is not supported (inference only)")
			}
			if n.attrInt("spatial", 1) != 1 {
				return errors.New("spatial=0 is not supported")
			}
			if len(n.outputs) > 1 && slices.ContainsFunc(n.outputs[1:], func(s string) bool { return s != "" }) {
				return errors.New("the running statistics outputs are not supported (inference only)")
			}
			return nil
		}, run: runBatchNorm})
	register("Gemm", &opSpec{since: 7, minIn: 2, foldable: true, attrs: []string{"alpha", "beta", "transA", "transB"}, run: runGemm})
	register("MatMul", &opSpec{since: 1, minIn: 2, foldable: true, run: func(c *call) ([]*value, error) {
		a, err := c.tensor(0)
		if err != nil {
			return nil, err
		}
		b, err := c.tensor(1)
		if err != nil {
			return nil, err
		}
		if typ := c.in[0].typ; !typ.isFloat() {
			// Integer products in float32: exact while every sum stays
			// below 2^24.
			return one(typ, a.AsType(tensor.Float32).MatMul(b.AsType(tensor.Float32)).AsType(tensor.Int32))
		}
		return one(tFloat, a.MatMul(b))
	}})
	poolAttrs := []string{"auto_pad", "ceil_mode", "dilations", "kernel_shape", "pads", "strides", "storage_order", "count_include_pad"}
	register("MaxPool", &opSpec{since: 1, minIn: 1, foldable: true, attrs: poolAttrs, check: checkPool, run: runPool(true)})
	register("AveragePool", &opSpec{since: 1, minIn: 1, foldable: true, attrs: poolAttrs, check: checkPool, run: runPool(false)})
	register("GlobalAveragePool", &opSpec{since: 1, minIn: 1, foldable: true, run: globalPool((*tensor.Tensor).MeanKeepDim)})
	register("GlobalMaxPool", &opSpec{since: 1, minIn: 1, foldable: true, run: globalPool((*tensor.Tensor).MaxKeepDim)})
	register("Softmax", &opSpec{since: 1, minIn: 1, foldable: true, attrs: []string{"axis"}, run: softmaxOp((*tensor.Tensor).Softmax)})
	register("LogSoftmax", &opSpec{since: 1, minIn: 1, foldable: true, attrs: []string{"axis"}, run: softmaxOp((*tensor.Tensor).LogSoftmax)})
	register("LayerNormalization", &opSpec{since: 17, minIn: 2, foldable: true, attrs: []string{"axis", "epsilon", "stash_type"},
		check: func(n *node) error {
			if len(n.outputs) > 1 && slices.ContainsFunc(n.outputs[1:], func(s string) bool { return s != "" }) {
				return errors.New("the Mean and InvStdDev outputs are not supported")
			}
			return nil
		}, run: runLayerNorm})
	reduce := map[string]struct {
		f     func(t *tensor.Tensor, axes ...int) *tensor.Tensor
		since int // the opset that moved axes from an attribute to an input
	}{
		"ReduceMean": {(*tensor.Tensor).MeanKeepDim, 18}, "ReduceSum": {(*tensor.Tensor).SumKeepDim, 13},
		"ReduceMax": {(*tensor.Tensor).MaxKeepDim, 18}, "ReduceMin": {(*tensor.Tensor).MinKeepDim, 18},
	}
	for name, r := range reduce {
		register(name, &opSpec{since: 1, minIn: 1, foldable: true, attrs: []string{"axes", "keepdims", "noop_with_empty_axes"},
			run: reduceOp(r.f, r.since)})
	}
	for _, name := range []string{"ArgMax", "ArgMin"} {
		isMax := name == "ArgMax"
		register(name, &opSpec{since: 1, minIn: 1, foldable: true, attrs: []string{"axis", "keepdims", "select_last_index"},
			check: func(n *node) error {
				if n.attrInt("select_last_index", 0) != 0 {
					return errors.New("select_last_index=1 is not supported")
				}
				return nil
			},
			run: func(c *call) ([]*value, error) {
				t, err := c.tensor(0)
				if err != nil {
					return nil, err
				}
				a := c.attrInt("axis", 0)
				var r *tensor.Tensor
				switch keep := c.attrInt("keepdims", 1) != 0; {
				case isMax && keep:
					r = t.ArgMaxKeepDim(a)
				case isMax:
					r = t.ArgMax(a)
				case keep:
					r = t.ArgMinKeepDim(a)
				default:
					r = t.ArgMin(a)
				}
				return one(tInt64, r)
			}})
	}
}

func checkAutoPad(n *node) error {
	switch p := n.attrString("auto_pad", "NOTSET"); p {
	case "NOTSET", "SAME_UPPER", "SAME_LOWER", "VALID":
		return nil
	default:
		return fmt.Errorf("auto_pad %q is not supported", p)
	}
}

// spatial describes the windows of a 2-D convolution or pooling: kernel,
// strides, dilations and the padding before and after each axis, after
// auto_pad is resolved for an input of the given height and width.
type spatial struct {
	kernel, stride, dil, padBefore, padAfter [2]int
	ceilExtra                                [2]int // the part of padAfter that ceil_mode added
}

// windowsMemo is a result of windowsOf and the arguments it is for.
type windowsMemo struct {
	kernel, hw [2]int
	ceil       bool
	s          spatial
}

// windowsOf reads the window attributes of n for an input [N, C, H, W]:
// again only when the arguments differ from the last call's (reading them
// took a microsecond a node, 1.5% of MobileNetV2's run).
func windowsOf(n *node, kernel [2]int, hw [2]int, ceil bool) (spatial, error) {
	if w := n.windows; w != nil && w.kernel == kernel && w.hw == hw && w.ceil == ceil {
		return w.s, nil
	}
	s, err := readWindows(n, kernel, hw, ceil)
	if err == nil {
		n.windows = &windowsMemo{kernel: kernel, hw: hw, ceil: ceil, s: s}
	}
	return s, err
}

// readWindows is windowsOf reading the attributes.
func readWindows(n *node, kernel [2]int, hw [2]int, ceil bool) (spatial, error) {
	var s spatial
	s.kernel = kernel
	if k := n.attrInts("kernel_shape", nil); k != nil {
		if len(k) != 2 {
			return s, fmt.Errorf("kernel_shape %v: only 2-D windows are supported", k)
		}
		s.kernel = [2]int{k[0], k[1]}
	}
	get := func(name string, def int) ([2]int, error) {
		v := n.attrInts(name, []int{def, def})
		if len(v) != 2 {
			return [2]int{}, fmt.Errorf("%s %v: want 2 values", name, v)
		}
		return [2]int{v[0], v[1]}, nil
	}
	var err error
	if s.stride, err = get("strides", 1); err != nil {
		return s, err
	}
	if s.dil, err = get("dilations", 1); err != nil {
		return s, err
	}
	pads := n.attrInts("pads", []int{0, 0, 0, 0})
	if len(pads) != 4 {
		return s, fmt.Errorf("pads %v: want 4 values", pads)
	}
	s.padBefore, s.padAfter = [2]int{pads[0], pads[1]}, [2]int{pads[2], pads[3]}
	for i := range 2 {
		if s.kernel[i] <= 0 || s.stride[i] <= 0 || s.dil[i] <= 0 || s.padBefore[i] < 0 || s.padAfter[i] < 0 {
			return s, fmt.Errorf("kernel %v, strides %v, dilations %v, pads %v", s.kernel, s.stride, s.dil, pads)
		}
		ext := s.dil[i]*(s.kernel[i]-1) + 1
		switch n.attrString("auto_pad", "NOTSET") {
		case "VALID":
			s.padBefore[i], s.padAfter[i] = 0, 0
		case "SAME_UPPER", "SAME_LOWER":
			out := (hw[i] + s.stride[i] - 1) / s.stride[i]
			total := max((out-1)*s.stride[i]+ext-hw[i], 0)
			s.padBefore[i], s.padAfter[i] = total/2, total-total/2
			if n.attrString("auto_pad", "") == "SAME_LOWER" {
				s.padBefore[i], s.padAfter[i] = total-total/2, total/2
			}
		}
		if ceil { // pad after so that a last partial window counts...
			span := hw[i] + s.padBefore[i] + s.padAfter[i] - ext
			out := (span+s.stride[i]-1)/s.stride[i] + 1
			if (out-1)*s.stride[i] >= hw[i]+s.padBefore[i] {
				out-- // ...unless it would start in the padding after (as PyTorch and ONNX Runtime)
			}
			s.ceilExtra[i] = max((out-1)*s.stride[i]+ext-(hw[i]+s.padBefore[i]+s.padAfter[i]), 0)
			s.padAfter[i] += s.ceilExtra[i]
		}
	}
	return s, nil
}

// symmetric splits the padding into the part both sides share and the
// input padded explicitly by the rest.
func (s spatial) symmetric(x *tensor.Tensor, fill float64) (*tensor.Tensor, [2]int, error) {
	var common [2]int
	for i := range 2 {
		common[i] = min(s.padBefore[i], s.padAfter[i])
		var err error
		if x, err = padAxis(x, 2+i, s.padBefore[i]-common[i], s.padAfter[i]-common[i], "constant", fill); err != nil {
			return nil, common, err
		}
	}
	return x, common, nil
}

// as4D returns x as [N, C, H, W]: a 1-D signal [N, C, L] gets H = 1.
func as4D(x *tensor.Tensor) (*tensor.Tensor, bool, error) {
	switch x.Dim() {
	case 4:
		return x, false, nil
	case 3:
		return x.Unsqueeze(2), true, nil
	}
	return nil, false, fmt.Errorf("input of shape %v: only 1-D and 2-D convolutions and pooling are supported", x.Shape())
}

// convOperands returns the input and weight of a Conv or ConvTranspose as
// 2-D ones ([N, C, H, W] and a 4-D weight): a 1-D one gets a height of 1,
// and the call returned has its window attributes widened to match.
func convOperands(c *call) (x, w *tensor.Tensor, oneD bool, _ *call, err error) {
	if x, err = c.tensor(0); err != nil {
		return nil, nil, false, nil, err
	}
	if w, err = c.tensor(1); err != nil {
		return nil, nil, false, nil, err
	}
	if x, oneD, err = as4D(x); err != nil {
		return nil, nil, false, nil, err
	}
	if oneD {
		w, c = w.Unsqueeze(2), widen(c)
	}
	if w.Dim() != 4 {
		return nil, nil, false, nil, fmt.Errorf("weight of shape %v for input %v", w.Shape(), x.Shape())
	}
	return x, w, oneD, c, nil
}

func runConv(c *call) ([]*value, error) {
	if c.chain != nil {
		return runConvChain(c)
	}
	if c.pair != nil {
		return runConvPair(c)
	}
	x, w, oneD, c, err := convOperands(c)
	if err != nil {
		return nil, err
	}
	s, err := windowsOf(c.node, [2]int{w.Size(2), w.Size(3)}, [2]int{x.Size(2), x.Size(3)}, false)
	if err != nil {
		return nil, err
	}
	if s.kernel != [2]int{w.Size(2), w.Size(3)} {
		return nil, fmt.Errorf("kernel_shape %v differs from the weight's %v", s.kernel, w.Shape())
	}
	x, pad, err := s.symmetric(x, 0)
	if err != nil {
		return nil, err
	}
	o := tensor.Conv2DOptions{Stride: s.stride, Padding: pad, Dilation: s.dil, Groups: c.attrInt("group", 1)}
	var e tensor.ConvEpilogue
	if b := c.input(2); b != nil {
		if e.Bias, err = b.device(c.dev); err != nil {
			return nil, err
		}
	}
	ep := c.epilogue
	if ep != nil {
		e.Clamp, e.Lo, e.Hi = ep.clamp, ep.lo, ep.hi
		e.HardSwish, e.Affine, e.Scale, e.Shift = ep.hardSwish, ep.affine, ep.scale, ep.shift
	}
	if c.pool != nil {
		return runConvPool(c, x, w, o, e)
	}
	if ep == nil || !ep.residual {
		return convOutput(tensor.Conv2DFused(x, w, o, e), oneD)
	}
	r, err := c.tensor(3)
	if err != nil {
		return nil, err
	}
	r4 := r
	if oneD && r.Dim() == 3 {
		r4 = r.Unsqueeze(2)
	}
	if slices.Equal(r4.Shape(), convShape(x, w, o)) {
		e.Residual = r4
		return convOutput(tensor.Conv2DFused(x, w, o, e), oneD)
	}
	// A residual that broadcasts: the steps after the bias on their own.
	y := tensor.Conv2DFused(x, w, o, tensor.ConvEpilogue{Bias: e.Bias})
	if oneD {
		y = y.Squeeze(2)
	}
	y = y.Add(r)
	if ep.clamp {
		y = y.Clamp(ep.lo, ep.hi)
	}
	if ep.hardSwish {
		y = y.Mul(y.MulScalar(1.0/6).AddScalar(0.5).Clamp(0, 1))
	}
	if ep.affine {
		y = y.MulScalar(ep.scale).AddScalar(ep.shift)
	}
	return one(tFloat, y)
}

// runConvPool runs a Conv and the MaxPool fused into it (see
// fuseConvPools) as one tensor.Conv2DMaxPool, or when the pooling pads
// unequally (ceil_mode, auto_pad) one after the other.
func runConvPool(c *call, x, w *tensor.Tensor, o tensor.Conv2DOptions, e tensor.ConvEpilogue) ([]*value, error) {
	shape := convShape(x, w, o)
	pool := c.pool
	s, err := windowsOf(pool, [2]int{0, 0}, [2]int{shape[2], shape[3]}, pool.attrInt("ceil_mode", 0) != 0)
	if err != nil {
		return nil, fmt.Errorf("%s %q: %w", pool.op, pool.name, err)
	}
	if s.padBefore == s.padAfter && s.dil == [2]int{1, 1} {
		return one(tFloat, tensor.Conv2DMaxPool(x, w, o, e, tensor.Pool2DOptions{Kernel: s.kernel, Stride: s.stride, Padding: s.padBefore}))
	}
	y, err := one(tFloat, tensor.Conv2DFused(x, w, o, e))
	if err != nil {
		return nil, err
	}
	return pool.spec.run(&call{node: pool, dev: c.dev, in: y})
}

// convShape returns the shape of the output of tensor.Conv2D(x, w, o).
func convShape(x, w *tensor.Tensor, o tensor.Conv2DOptions) []int {
	return convShapeOf(x.Shape(), w, o)
}

// convShapeOf is convShape for an input of shape x.
func convShapeOf(x []int, w *tensor.Tensor, o tensor.Conv2DOptions) []int {
	shape := []int{x[0], w.Size(0), 0, 0}
	for i := range 2 {
		extent := o.Dilation[i]*(w.Size(2+i)-1) + 1
		shape[2+i] = (x[2+i]+2*o.Padding[i]-extent)/o.Stride[i] + 1
	}
	return shape
}

// convOutput gives the output y of a 1-D convolution its shape back.
func convOutput(y *tensor.Tensor, oneD bool) ([]*value, error) {
	if oneD {
		y = y.Squeeze(2)
	}
	return one(tFloat, y)
}

// convLink returns the weight (input at) and bias (input at+1) of Conv n
// fused into c, with n's epilogue but its residual, as a link of a chain
// or a pair.
func (c *call) convLink(at int, n *node) (tensor.ConvLink, error) {
	var l tensor.ConvLink
	var err error
	if l.W, err = c.tensor(at); err != nil {
		return l, err
	}
	if b := c.input(at + 1); b != nil {
		if l.Epilogue.Bias, err = b.device(c.dev); err != nil {
			return l, err
		}
	}
	if ep := n.epilogue; ep != nil {
		e := &l.Epilogue
		e.Clamp, e.Lo, e.Hi = ep.clamp, ep.lo, ep.hi
		e.HardSwish, e.Affine, e.Scale, e.Shift = ep.hardSwish, ep.affine, ep.scale, ep.shift
	}
	return l, nil
}

// images returns input 0 of c, which what takes as 2-D images [N, C, H, W].
func (c *call) images(what string) (*tensor.Tensor, error) {
	x, err := c.tensor(0)
	if err != nil {
		return nil, err
	}
	if x.Dim() != 4 {
		return nil, fmt.Errorf("input of shape %v: %s takes 2-D images", x.Shape(), what)
	}
	return x, nil
}

// runConvPair runs a Conv and the Conv fused after it (see fuseConvPairs)
// as one tensor.Conv2DPair, each with its epilogue; when the second one's
// residual broadcasts, it runs them one after the other.
func runConvPair(c *call) ([]*value, error) {
	x, err := c.images("a pair of Convs")
	if err != nil {
		return nil, err
	}
	var links [2]tensor.ConvLink
	shape := x.Shape()
	for i, n := range []*node{c.node, c.pair} {
		l := &links[i]
		if *l, err = c.convLink(1+2*i, n); err != nil {
			return nil, err
		}
		kernel := [2]int{l.W.Size(2), l.W.Size(3)}
		s, err := windowsOf(n, kernel, [2]int{shape[2], shape[3]}, false)
		if err != nil {
			return nil, fmt.Errorf("%s %q: %w", n.op, n.name, err)
		}
		if s.kernel != kernel {
			return nil, fmt.Errorf("kernel_shape %v of %q differs from its weight's %v", s.kernel, n.name, l.W.Shape())
		}
		l.Options = tensor.Conv2DOptions{Stride: s.stride, Padding: s.padBefore, Dilation: s.dil}
		shape = convShapeOf(shape, l.W, l.Options)
	}
	if ep := c.pair.epilogue; ep != nil && ep.residual {
		r, err := c.tensor(5)
		if err != nil {
			return nil, err
		}
		if !slices.Equal(r.Shape(), shape) {
			y, err := one(tFloat, tensor.Conv2DFused(x, links[0].W, links[0].Options, links[0].Epilogue))
			if err != nil {
				return nil, err
			}
			return runConv(&call{node: c.pair, dev: c.dev, in: append(y, c.in[3:]...)})
		}
		links[1].Epilogue.Residual = r
	}
	return one(tFloat, tensor.Conv2DPair(x, links[0], links[1]))
}

// runConvChain runs the Convs of c.chain (see fuseConvChains) as one
// tensor.Conv2DChain, each with its epilogue.
func runConvChain(c *call) ([]*value, error) {
	x, err := c.images("a chain of Convs")
	if err != nil {
		return nil, err
	}
	var links [3]tensor.ConvLink
	for i, n := range []*node{c.chain.expand, c.chain.depthwise, c.chain.project} {
		if n == nil {
			continue
		}
		if links[i], err = c.convLink(1+2*i, n); err != nil {
			return nil, err
		}
	}
	if c.chain.project != nil && c.input(7) != nil {
		if links[2].Epilogue.Residual, err = c.tensor(7); err != nil {
			return nil, err
		}
	}
	hw := [2]int{x.Size(2), x.Size(3)}
	if e := c.chain.expand; e != nil {
		kernel := [2]int{links[0].W.Size(2), links[0].W.Size(3)}
		s, err := windowsOf(e, kernel, hw, false)
		if err != nil {
			return nil, err
		}
		if s.kernel != kernel {
			return nil, fmt.Errorf("kernel_shape %v of %q differs from its weight's %v", s.kernel, e.name, links[0].W.Shape())
		}
		links[0].Options = tensor.Conv2DOptions{Stride: s.stride, Padding: s.padBefore, Dilation: s.dil}
		shape := convShape(x, links[0].W, links[0].Options)
		hw = [2]int{shape[2], shape[3]}
	}
	dw := c.chain.depthwise
	s, err := windowsOf(dw, [2]int{links[1].W.Size(2), links[1].W.Size(3)}, hw, false)
	if err != nil {
		return nil, err
	}
	if s.kernel != [2]int{links[1].W.Size(2), links[1].W.Size(3)} {
		return nil, fmt.Errorf("kernel_shape %v of %q differs from its weight's %v", s.kernel, dw.name, links[1].W.Shape())
	}
	links[1].Options = tensor.Conv2DOptions{Stride: s.stride, Padding: s.padBefore, Dilation: s.dil, Groups: dw.attrInt("group", 1)}
	return one(tFloat, tensor.Conv2DChain(x, links[0], links[1], links[2]))
}

// convResult adds the bias (input 2, per output channel) of a
// ConvTranspose to its output y and gives a 1-D one its shape back.
func convResult(c *call, y *tensor.Tensor, oneD bool) ([]*value, error) {
	if b := c.input(2); b != nil {
		bt, err := b.device(c.dev)
		if err != nil {
			return nil, err
		}
		y = y.Add(bt.Reshape(1, -1, 1, 1))
	}
	if oneD {
		y = y.Squeeze(2)
	}
	return one(tFloat, y)
}

// widen returns a call whose 1-D window attributes have a leading height
// axis of size 1, so that the 2-D code serves 1-D convolutions.
func widen(c *call) *call {
	n := *c.node
	n.attrs = make(map[string]*attrProto, len(c.attrs))
	for k, v := range c.attrs {
		n.attrs[k] = v
	}
	for name, def := range map[string]int{"kernel_shape": -1, "strides": 1, "dilations": 1, "output_padding": 0} {
		if v := c.attrInts(name, nil); len(v) == 1 {
			n.attrs[name] = intsAttr(name, []int{max(def, 1), v[0]})
			if name == "output_padding" {
				n.attrs[name] = intsAttr(name, []int{0, v[0]})
			}
		}
	}
	if p := c.attrInts("pads", nil); len(p) == 2 {
		n.attrs["pads"] = intsAttr("pads", []int{0, p[0], 0, p[1]})
	}
	if o := c.attrInts("output_shape", nil); len(o) == 1 {
		n.attrs["output_shape"] = intsAttr("output_shape", []int{1, o[0]})
	}
	return &call{node: &n, dev: c.dev, in: c.in}
}

func runConvTranspose(c *call) ([]*value, error) {
	x, w, oneD, c, err := convOperands(c)
	if err != nil {
		return nil, err
	}
	groups := c.attrInt("group", 1)
	if w.Size(0) != x.Size(1) {
		return nil, fmt.Errorf("weight of shape %v for input %v", w.Shape(), x.Shape())
	}
	kernel := [2]int{w.Size(2), w.Size(3)}
	s, err := windowsOf(c.node, kernel, [2]int{0, 0}, false)
	if err != nil {
		return nil, err
	}
	outPad := c.attrInts("output_padding", []int{0, 0})
	if len(outPad) != 2 {
		return nil, fmt.Errorf("output_padding %v: want 2 values", outPad)
	}
	// The full output, before padding is cropped: every input position's
	// window, plus output_padding rows and columns of zeros.
	var full, out [2]int
	for i := range 2 {
		ext := s.dil[i]*(kernel[i]-1) + 1
		full[i] = s.stride[i]*(x.Size(2+i)-1) + ext + outPad[i]
	}
	// With output_shape or a SAME auto_pad the padding is what makes that
	// shape (in·stride for SAME), split as the ONNX operator says: the
	// larger half after for SAME_UPPER, before otherwise.
	var want []int
	if os := c.attrInts("output_shape", nil); os != nil {
		if len(os) < 2 {
			return nil, fmt.Errorf("output_shape %v: want the height and width", os)
		}
		want = os[len(os)-2:]
	} else if ap := c.attrString("auto_pad", "NOTSET"); ap == "SAME_UPPER" || ap == "SAME_LOWER" {
		want = []int{x.Size(2) * s.stride[0], x.Size(3) * s.stride[1]}
	}
	if want != nil {
		for i := range 2 {
			total := full[i] - want[i]
			if total < 0 { // a larger output: zeros (and the bias) after
				full[i] += -total
				total = 0
			}
			s.padBefore[i], s.padAfter[i] = total-total/2, total/2
			if c.attrString("auto_pad", "NOTSET") == "SAME_UPPER" {
				s.padBefore[i], s.padAfter[i] = total/2, total-total/2
			}
		}
	}
	for i := range 2 {
		out[i] = full[i] - s.padBefore[i] - s.padAfter[i]
		if out[i] < 0 {
			return nil, fmt.Errorf("pads %v %v crop more than the output's %v", s.padBefore, s.padAfter, full)
		}
	}
	shape := []int{x.Size(0), w.Size(1) * groups, full[0], full[1]}
	y := tensor.Conv2DInputGrad(x, w, shape, tensor.Conv2DOptions{Stride: s.stride, Dilation: s.dil, Groups: groups})
	y = y.Narrow(2, s.padBefore[0], out[0]).Narrow(3, s.padBefore[1], out[1])
	return convResult(c, y, oneD)
}

// channelShape is the shape that broadcasts a per-channel vector over an
// input of rank r with channels on axis 1.
func channelShape(r int) []int {
	s := []int{1, -1}
	for range r - 2 {
		s = append(s, 1)
	}
	return s
}

func runBatchNorm(c *call) ([]*value, error) {
	x, err := c.tensor(0)
	if err != nil {
		return nil, err
	}
	var p [4]*tensor.Tensor // scale, bias, mean, var
	for i := range p {
		if p[i], err = c.tensor(i + 1); err != nil {
			return nil, err
		}
	}
	if x.Dim() < 2 {
		return nil, fmt.Errorf("input of shape %v, want [N, C, ...]", x.Shape())
	}
	// y = x·a + b with a = scale/sqrt(var+eps), b = bias - mean·a.
	a := p[0].Mul(p[3].AddScalar(c.attrFloat("epsilon", 1e-5)).Rsqrt())
	b := p[1].Sub(p[2].Mul(a))
	sh := channelShape(x.Dim())
	return one(tFloat, x.Mul(a.Reshape(sh...)).Add(b.Reshape(sh...)))
}

func runGemm(c *call) ([]*value, error) {
	a, err := c.tensor(0)
	if err != nil {
		return nil, err
	}
	b, err := c.tensor(1)
	if err != nil {
		return nil, err
	}
	if a.Dim() != 2 || b.Dim() != 2 {
		return nil, fmt.Errorf("inputs of shapes %v and %v, want matrices", a.Shape(), b.Shape())
	}
	if c.attrInt("transA", 0) != 0 {
		a = a.T()
	}
	if c.attrInt("transB", 0) != 0 {
		b = b.T()
	}
	y := a.MatMul(b)
	if alpha := c.attrFloat("alpha", 1); alpha != 1 {
		y = y.MulScalar(alpha)
	}
	if cv := c.input(2); cv != nil {
		ct, err := cv.device(c.dev)
		if err != nil {
			return nil, err
		}
		if beta := c.attrFloat("beta", 1); beta != 1 {
			ct = ct.MulScalar(beta)
		}
		y = y.Add(ct)
	}
	return one(tFloat, y)
}

func checkPool(n *node) error {
	if err := checkAutoPad(n); err != nil {
		return err
	}
	if d := n.attrInts("dilations", nil); d != nil && slices.ContainsFunc(d, func(v int) bool { return v != 1 }) {
		return fmt.Errorf("dilations %v are not supported", d)
	}
	if len(n.outputs) > 1 && n.outputs[1] != "" {
		return errors.New("the Indices output of MaxPool is not supported") // storage_order only orders them
	}
	return nil
}

func runPool(isMax bool) func(c *call) ([]*value, error) {
	return func(c *call) ([]*value, error) {
		x, err := c.tensor(0)
		if err != nil {
			return nil, err
		}
		x, oneD, err := as4D(x)
		if err != nil {
			return nil, err
		}
		if oneD {
			c = widen(c)
		}
		ceil := c.attrInt("ceil_mode", 0) != 0
		s, err := windowsOf(c.node, [2]int{0, 0}, [2]int{x.Size(2), x.Size(3)}, ceil)
		if err != nil {
			return nil, err
		}
		var y *tensor.Tensor
		if isMax {
			x, pad, err := s.symmetric(x, math.Inf(-1))
			if err != nil {
				return nil, err
			}
			y = tensor.MaxPool2DValues(x, tensor.Pool2DOptions{Kernel: s.kernel, Stride: s.stride, Padding: pad})
		} else if y, err = avgPool(x, s, c.attrInt("count_include_pad", 0) != 0, ceil); err != nil {
			return nil, err
		}
		if oneD {
			y = y.Squeeze(2)
		}
		return one(tFloat, y)
	}
}

// avgPool averages the windows s describes. With equal padding on both
// sides of each axis and no ceil_mode extension, that is AvgPool2D. Else
// the input is padded with zeros explicitly and each window's sum is
// divided by the number of its elements that count: those of the input
// (count_include_pad=0) or of the input and its pads (=1), never the
// extension ceil_mode adds, as ONNX Runtime divides. The two averages over
// the padded input and over a mask of what counts give that ratio.
func avgPool(x *tensor.Tensor, s spatial, includePad, ceil bool) (*tensor.Tensor, error) {
	if s.padBefore == s.padAfter && s.ceilExtra == [2]int{} {
		return tensor.AvgPool2D(x, tensor.Pool2DOptions{Kernel: s.kernel, Stride: s.stride, Padding: s.padBefore, ExcludePadding: !includePad}), nil
	}
	xp, err := padPlane(x, s.padBefore, s.padAfter, 0)
	if err != nil {
		return nil, err
	}
	mask := tensor.Ones(x.Device(), 1, 1, x.Size(2), x.Size(3))
	if includePad { // the attributes' pads count, the ceil_mode extension does not
		userAfter := [2]int{s.padAfter[0] - s.ceilExtra[0], s.padAfter[1] - s.ceilExtra[1]}
		if mask, err = padPlane(mask, s.padBefore, userAfter, 1); err == nil {
			mask, err = padPlane(mask, [2]int{}, s.ceilExtra, 0)
		}
	} else {
		mask, err = padPlane(mask, s.padBefore, s.padAfter, 0)
	}
	if err != nil {
		return nil, err
	}
	o := tensor.Pool2DOptions{Kernel: s.kernel, Stride: s.stride}
	return tensor.AvgPool2D(xp, o).Div(tensor.AvgPool2D(mask, o)), nil
}

// padPlane pads the height and width of x with fill.
func padPlane(x *tensor.Tensor, before, after [2]int, fill float64) (*tensor.Tensor, error) {
	var err error
	for i := range 2 {
		if x, err = padAxis(x, 2+i, before[i], after[i], "constant", fill); err != nil {
			return nil, err
		}
	}
	return x, nil
}

func globalPool(f func(t *tensor.Tensor, axes ...int) *tensor.Tensor) func(c *call) ([]*value, error) {
	return func(c *call) ([]*value, error) {
		x, err := c.tensor(0)
		if err != nil {
			return nil, err
		}
		if x.Dim() < 3 {
			return nil, fmt.Errorf("input of shape %v, want [N, C, ...]", x.Shape())
		}
		axes := make([]int, 0, x.Dim()-2)
		for a := 2; a < x.Dim(); a++ {
			axes = append(axes, a)
		}
		return one(tFloat, f(x, axes...))
	}
}

// softmaxOp follows the two definitions: before opset 13 the input is
// flattened to [d0·…·d(axis-1), d(axis)·…] (axis 1 by default) and
// normalised along the second axis; from 13 on along one axis (-1).
func softmaxOp(f func(t *tensor.Tensor, axis int) *tensor.Tensor) func(c *call) ([]*value, error) {
	return func(c *call) ([]*value, error) {
		x, err := c.tensor(0)
		if err != nil {
			return nil, err
		}
		if c.opset >= 13 {
			return one(tFloat, f(x, c.attrInt("axis", -1)))
		}
		a, err := axisOf(c.attrInt("axis", 1), max(x.Dim(), 1))
		if err != nil {
			return nil, err
		}
		shape := x.Shape()
		rows := 1
		for _, d := range shape[:a] {
			rows *= d
		}
		flat := x.Reshape(rows, x.Numel()/max(rows, 1))
		return one(tFloat, f(flat, 1).Reshape(shape...))
	}
}

func runLayerNorm(c *call) ([]*value, error) {
	x, err := c.tensor(0)
	if err != nil {
		return nil, err
	}
	scale, err := c.tensor(1)
	if err != nil {
		return nil, err
	}
	a, err := axisOf(c.attrInt("axis", -1), x.Dim())
	if err != nil {
		return nil, err
	}
	eps := c.attrFloat("epsilon", 1e-5)
	var bias *tensor.Tensor
	if b := c.input(2); b != nil {
		if bias, err = b.device(c.dev); err != nil {
			return nil, err
		}
	}
	if last := x.Dim() - 1; a == last && scale.Dim() == 1 && scale.Size(0) == x.Size(last) &&
		(bias == nil || bias.Dim() == 1 && bias.Size(0) == x.Size(last)) {
		// Over the last axis with per-column scale and bias: one op.
		return one(tFloat, tensor.LayerNorm(x, scale, bias, eps))
	}
	axes := make([]int, 0, x.Dim()-a)
	for i := a; i < x.Dim(); i++ {
		axes = append(axes, i)
	}
	mean := x.MeanKeepDim(axes...)
	centred := x.Sub(mean)
	y := centred.Mul(centred.Square().MeanKeepDim(axes...).AddScalar(eps).Rsqrt()).Mul(scale)
	if bias != nil {
		y = y.Add(bias)
	}
	return one(tFloat, y)
}

// reduceOp reads axes from the attribute before opset since and from input
// 1 from it on.
func reduceOp(f func(t *tensor.Tensor, axes ...int) *tensor.Tensor, since int) func(c *call) ([]*value, error) {
	return func(c *call) ([]*value, error) {
		x, err := c.tensor(0)
		if err != nil {
			return nil, err
		}
		axes, ok, err := c.axesInput(1, since)
		if err != nil {
			return nil, err
		}
		if !ok || len(axes) == 0 {
			if c.attrInt("noop_with_empty_axes", 0) != 0 {
				return []*value{c.in[0]}, nil
			}
			axes = nil
			for i := range x.Dim() {
				axes = append(axes, i)
			}
		}
		for i, ax := range axes {
			if axes[i], err = axisOf(ax, x.Dim()); err != nil {
				return nil, err
			}
		}
		y := f(x, axes...)
		if c.attrInt("keepdims", 1) == 0 {
			y = y.Squeeze(axes...)
		}
		typ := c.in[0].typ
		if !typ.isFloat() && y.DType() != tensor.Int32 {
			y = y.AsType(tensor.Int32)
		}
		return one(typ, y)
	}
}
