package tensor

import (
	"slices"

	"github.com/wgtensor/wgtensor/device"
)

// Conv2DOptions configures a 2-D convolution. Zero values mean PyTorch's
// defaults: stride 1, no padding, dilation 1, one group.
type Conv2DOptions struct {
	Stride   [2]int
	Padding  [2]int
	Dilation [2]int
	Groups   int
}

func (o Conv2DOptions) withDefaults() Conv2DOptions {
	for i := range 2 {
		if o.Stride[i] == 0 {
			o.Stride[i] = 1
		}
		if o.Dilation[i] == 0 {
			o.Dilation[i] = 1
		}
	}
	if o.Groups == 0 {
		o.Groups = 1
	}
	return o
}

// convParams checks the shapes of a convolution of an input of shape x with a
// weight of shape w and returns the primitive's parameters.
func convParams(op string, x, w []int, o Conv2DOptions) device.Conv2DParams {
	o = o.withDefaults()
	if len(x) != 4 || len(w) != 4 {
		panicf(op, "input %v and weight %v must both be 4-D (NCHW and OCHW)", x, w)
	}
	for i := range 2 {
		if o.Stride[i] < 0 || o.Padding[i] < 0 || o.Dilation[i] < 0 {
			panicf(op, "negative stride, padding or dilation in %+v", o)
		}
	}
	if o.Groups < 0 || x[1]%o.Groups != 0 || w[0]%o.Groups != 0 {
		panicf(op, "%d groups do not divide input %v and weight %v", o.Groups, x, w)
	}
	if w[1] != x[1]/o.Groups {
		panicf(op, "input %v and weight %v do not fit: weight needs %d input channels", x, w, x[1]/o.Groups)
	}
	p := device.Conv2DParams{
		N: x[0], C: x[1], H: x[2], W: x[3], O: w[0], KH: w[2], KW: w[3],
		StrideH: o.Stride[0], StrideW: o.Stride[1], PadH: o.Padding[0], PadW: o.Padding[1],
		DilH: o.Dilation[0], DilW: o.Dilation[1], Groups: o.Groups,
	}
	p.OH, p.OW = windows(op, x, [2]int{p.PadH, p.PadW}, [2]int{p.KH, p.KW}, [2]int{p.DilH, p.DilW}, [2]int{p.StrideH, p.StrideW})
	return p
}

// windows returns how many windows of the kernel (with dilation) fit along
// the height and width of the input x [N, C, H, W] padded by pad, at the
// given stride, as PyTorch counts them; it panics for op when the kernel
// is larger than the padded input, even by less than a stride.
func windows(op string, x []int, pad, kernel, dil, stride [2]int) (oh, ow int) {
	var out [2]int
	for i := range 2 {
		padded := x[2+i] + 2*pad[i]
		extent := dil[i]*(kernel[i]-1) + 1
		if extent > padded {
			panicf(op, "kernel %v (dilation %v) spans %d, more than the padded input's %d along %s (input %v, padding %v)",
				kernel, dil, extent, padded, [2]string{"height", "width"}[i], x, pad)
		}
		out[i] = (padded-extent)/stride[i] + 1
	}
	return out[0], out[1]
}

// Conv2D returns the 2-D cross-correlation of x [N, C, H, W] with w
// [O, C/groups, KH, KW], as torch.nn.functional.conv2d without bias.
func Conv2D(x, w *Tensor, o Conv2DOptions) *Tensor {
	return Conv2DFused(x, w, o, ConvEpilogue{})
}

// ConvEpilogue is what Conv2DFused does to each output element right after
// computing it, as inference runtimes fuse a layer's bias, residual
// connection, activation and the scaling after it into its convolution. In
// order, the element v becomes v + Bias[channel] + Residual[i], then
// clamp(v, Lo, Hi) when Clamp, then the hard swish v·clamp(v/6 + 1/2, 0, 1)
// when HardSwish, then v·Scale + Shift when Affine; NaN stays NaN.
type ConvEpilogue struct {
	Bias         *Tensor // [O], or nil
	Residual     *Tensor // of the output's shape, or nil
	Clamp        bool    // clamp to [Lo, Hi]: Lo 0 and Hi +Inf is ReLU
	Lo, Hi       float64
	HardSwish    bool
	Affine       bool
	Scale, Shift float64
}

// Conv2DFused is Conv2D followed by the epilogue e, in one pass over the
// output: relu(conv(x, w) + b + r) without the three intermediate tensors.
func Conv2DFused(x, w *Tensor, o Conv2DOptions, e ConvEpilogue) *Tensor {
	const op = "Conv2D"
	sameDevice(op, x, w)
	checkFloat(op, x, w, e.Bias, e.Residual)
	if dt := x.dtype; dt.IsHalf() { // a float32 epilogue, rounded after it
		e.Bias, e.Residual = widen(e.Bias), widen(e.Residual)
		if !convHalf(x) {
			x, w = widen(x), widen(w)
		}
		return narrow(conv2DFused(x, w, o, e), dt)
	}
	return conv2DFused(x, w, o, e)
}

// convHalf reports whether x's device convolves 16-bit inputs of x's type
// natively (see device.HalfKernels).
func convHalf(x *Tensor) bool {
	hk, ok := x.dev.(device.HalfKernels)
	return ok && hk.Conv2DHalf(x.dtype)
}

// conv2DFused is Conv2DFused once the types are settled: x and w of one
// type (float32, or 16-bit on a device that takes it), a float32 bias and
// residual, a float32 result.
func conv2DFused(x, w *Tensor, o Conv2DOptions, e ConvEpilogue) *Tensor {
	const op = "Conv2D"
	p := convParams(op, x.shape, w.shape, o)
	shape := []int{p.N, p.O, p.OH, p.OW}
	xc, wc := dense(x), dense(w)
	de, ein := convEpilogue(op, x, e, shape)
	inputs := append([]*Tensor{xc, wc}, ein...)
	out, ok := result(x.dev, Float32, shape, inputs...)
	if ok && out.Numel() > 0 {
		x.dev.Conv2D(out.st.buf, xc.st.buf, wc.st.buf, p, de)
	}
	keepAlive(inputs...)
	return out
}

// convEpilogue returns e as the device takes it, for a convolution of x
// whose output has the given shape, and the dense tensors it reads.
func convEpilogue(op string, x *Tensor, e ConvEpilogue, shape []int) (device.Epilogue, []*Tensor) {
	var de device.Epilogue
	var inputs []*Tensor
	if e.Bias != nil {
		sameDevice(op, x, e.Bias)
		if e.Bias.Numel() != shape[1] {
			panicf(op, "bias of shape %v for %d output channels", e.Bias.shape, shape[1])
		}
		b := dense(e.Bias)
		inputs, de.Bias = append(inputs, b), b.st.buf
	}
	if e.Residual != nil {
		sameDevice(op, x, e.Residual)
		if !slices.Equal(e.Residual.shape, shape) {
			panicf(op, "residual of shape %v for an output of shape %v", e.Residual.shape, shape)
		}
		r := dense(e.Residual)
		inputs, de.Residual = append(inputs, r), r.st.buf
	}
	if e.Clamp {
		de.Clamp, de.Lo, de.Hi = true, float32(e.Lo), float32(e.Hi)
	}
	de.HardSwish = e.HardSwish
	if e.Affine {
		de.Affine, de.Scale, de.Shift = true, float32(e.Scale), float32(e.Shift)
	}
	return de, inputs
}

// ConvLink is one convolution of a Conv2DChain or a Conv2DPair: its
// weights (nil for a link that is absent), options and epilogue.
type ConvLink struct {
	W        *Tensor
	Options  Conv2DOptions
	Epilogue ConvEpilogue
}

// Conv2DChain applies the convolutions of MobileNet's inverted residual
// block to x in turn, as Conv2DFused does each: an optional expansion (1×1
// in the blocks, or the network's first layer before the first), a
// depthwise convolution and an optional 1×1 projection (only its epilogue
// may add a residual). A device that computes such chains in one
// op (device.ConvChainer: the CPU) does where it takes the shapes, without
// writing the intermediate outputs out whole (the ONNX importer chains
// MobileNets' layers so); otherwise the convolutions run one after the
// other. Not differentiable.
func Conv2DChain(x *Tensor, expand, depthwise, project ConvLink) *Tensor {
	const op = "Conv2DChain"
	links := []ConvLink{expand, depthwise, project}
	oneByOne := func() *Tensor {
		y := x
		for _, l := range links {
			if l.W != nil {
				y = Conv2DFused(y, l.W, l.Options, l.Epilogue)
			}
		}
		return y
	}
	if depthwise.W == nil {
		panicf(op, "no depthwise convolution")
	}
	cc, ok := x.dev.(device.ConvChainer)
	if !ok || x.Dim() != 4 || x.dtype != Float32 || expand.Epilogue.Residual != nil || depthwise.Epilogue.Residual != nil {
		return oneByOne()
	}
	xc := dense(x)
	chain, shape, inputs, ok := deviceLinks(op, xc, links)
	if !ok {
		return oneByOne()
	}
	c := device.ConvChain{Expand: chain[0], Depthwise: chain[1], Project: chain[2]}
	if !cc.Conv2DChains(c) {
		return oneByOne()
	}
	out, ok := result(x.dev, Float32, shape, inputs...)
	if ok && out.Numel() > 0 {
		cc.Conv2DChain(out.st.buf, xc.st.buf, c)
	}
	keepAlive(inputs...)
	return out
}

// deviceLinks binds the convolutions links, applied in turn to the dense
// x, for a device op of op: each link present (W not nil) as a
// device.ConvLink, the last one's output shape, and the tensors the op
// reads (to keep alive). It reports false, for the caller to run the
// convolutions one by one, when a link is not 2-D or not float32.
func deviceLinks(op string, x *Tensor, links []ConvLink) (dl []device.ConvLink, shape []int, inputs []*Tensor, ok bool) {
	dl, shape, inputs = make([]device.ConvLink, len(links)), x.shape, []*Tensor{x}
	for i, l := range links {
		if l.W == nil {
			continue
		}
		sameDevice(op, x, l.W)
		checkFloat(op, l.W, l.Epilogue.Bias, l.Epilogue.Residual)
		if l.W.Dim() != 4 || anyHalf(l.W, l.Epilogue.Bias, l.Epilogue.Residual) {
			return nil, nil, nil, false
		}
		p := convParams(op, shape, l.W.shape, l.Options)
		shape = []int{p.N, p.O, p.OH, p.OW}
		de, ein := convEpilogue(op, x, l.Epilogue, shape)
		wc := dense(l.W)
		inputs = append(append(inputs, wc), ein...)
		dl[i] = device.ConvLink{W: wc.st.buf, P: p, E: de}
	}
	return dl, shape, inputs, true
}

// Conv2DPair applies the convolution second to the convolution first of x,
// as two Conv2DFused calls would (only second's epilogue may add a
// residual). A device that computes the two in one op (device.ConvPairer:
// the CPU) does where it takes the shapes, its first convolution storing
// straight into the padded planes the second reads (the ONNX importer
// pairs ResNet's 3×3 convolutions so); otherwise they run one after the
// other. Not differentiable.
func Conv2DPair(x *Tensor, first, second ConvLink) *Tensor {
	const op = "Conv2DPair"
	oneByOne := func() *Tensor {
		return Conv2DFused(Conv2DFused(x, first.W, first.Options, first.Epilogue), second.W, second.Options, second.Epilogue)
	}
	if first.W == nil || second.W == nil {
		panicf(op, "a pair needs two convolutions")
	}
	cp, ok := x.dev.(device.ConvPairer)
	if !ok || x.Dim() != 4 || x.dtype != Float32 || first.Epilogue.Residual != nil {
		return oneByOne()
	}
	xc := dense(x)
	pair, shape, inputs, ok := deviceLinks(op, xc, []ConvLink{first, second})
	if !ok || !cp.Conv2DPairs(pair[0], pair[1]) {
		return oneByOne()
	}
	out, ok := result(x.dev, Float32, shape, inputs...)
	if ok && out.Numel() > 0 {
		cp.Conv2DPair(out.st.buf, xc.st.buf, pair[0], pair[1])
	}
	keepAlive(inputs...)
	return out
}

// Conv2DMaxPool returns the values of the max pooling pool of
// Conv2DFused(x, w, o, e), as MaxPool2DValues would: a device that computes
// the two in one op (device.ConvPooler: the CPU) does where it takes the
// shapes, without writing the convolution's output out whole (the ONNX
// importer fuses ResNet's stem and the pooling after it so); otherwise the
// two run one after the other. Not differentiable.
func Conv2DMaxPool(x, w *Tensor, o Conv2DOptions, e ConvEpilogue, pool Pool2DOptions) *Tensor {
	const op = "Conv2DMaxPool"
	sameDevice(op, x, w)
	checkFloat(op, x, w, e.Bias, e.Residual)
	cp, ok := x.dev.(device.ConvPooler)
	if !ok || x.Dim() != 4 || w.Dim() != 4 || x.dtype != Float32 || anyHalf(w, e.Bias, e.Residual) || e.Residual != nil {
		return MaxPool2DValues(Conv2DFused(x, w, o, e), pool)
	}
	p := convParams(op, x.shape, w.shape, o)
	shape := []int{p.N, p.O, p.OH, p.OW}
	de, ein := convEpilogue(op, x, e, shape)
	q := poolParams(op, shape, pool)
	if !cp.Conv2DMaxPools(p, de, q) {
		return MaxPool2DValues(Conv2DFused(x, w, o, e), pool)
	}
	xc, wc := dense(x), dense(w)
	inputs := append([]*Tensor{xc, wc}, ein...)
	out, ok := result(x.dev, Float32, []int{q.N, q.C, q.OH, q.OW}, inputs...)
	if ok && out.Numel() > 0 {
		cp.Conv2DMaxPool(out.st.buf, xc.st.buf, wc.st.buf, p, de, q)
	}
	keepAlive(inputs...)
	return out
}

// Conv2DInputGrad returns the gradient of Conv2D with respect to its input
// of shape inputShape, given the output gradient dy and the weight w.
func Conv2DInputGrad(dy, w *Tensor, inputShape []int, o Conv2DOptions) (out *Tensor) {
	sameDevice("Conv2DInputGrad", dy, w)
	checkFloat("Conv2DInputGrad", dy, w)
	if dt := dy.dtype; dt.IsHalf() { // a float32 result, rounded
		defer func() { out = narrow(out, dt) }()
		if !convHalf(dy) {
			dy, w = widen(dy), widen(w)
		}
	}
	p := convParams("Conv2DInputGrad", inputShape, w.shape, o)
	checkGradShape("Conv2DInputGrad", dy.shape, []int{p.N, p.O, p.OH, p.OW})
	dyc, wc := dense(dy), dense(w)
	out, ok := result(dy.dev, Float32, slices.Clone(inputShape), dyc, wc)
	if ok && out.Numel() > 0 {
		dy.dev.Conv2DInputGrad(out.st.buf, dyc.st.buf, wc.st.buf, p)
	}
	keepAlive(dyc, wc)
	return out
}

// Conv2DWeightGrad returns the gradient of Conv2D with respect to its weight
// of shape weightShape, given the input x and the output gradient dy.
func Conv2DWeightGrad(x, dy *Tensor, weightShape []int, o Conv2DOptions) (out *Tensor) {
	sameDevice("Conv2DWeightGrad", x, dy)
	checkFloat("Conv2DWeightGrad", x, dy)
	if dt := x.dtype; dt.IsHalf() { // a float32 result, rounded
		defer func() { out = narrow(out, dt) }()
		if !convHalf(x) {
			x, dy = widen(x), widen(dy)
		}
	}
	p := convParams("Conv2DWeightGrad", x.shape, weightShape, o)
	checkGradShape("Conv2DWeightGrad", dy.shape, []int{p.N, p.O, p.OH, p.OW})
	xc, dyc := dense(x), dense(dy)
	out, ok := result(x.dev, Float32, slices.Clone(weightShape), xc, dyc)
	if ok && out.Numel() > 0 {
		x.dev.Conv2DWeightGrad(out.st.buf, xc.st.buf, dyc.st.buf, p)
	}
	keepAlive(xc, dyc)
	return out
}

func checkGradShape(op string, got, want []int) {
	if !slices.Equal(got, want) {
		panicf(op, "output gradient of shape %v, want %v", got, want)
	}
}

// checkFloat panics for op unless the tensors among ts that are not nil
// are of one float type.
func checkFloat(op string, ts ...*Tensor) {
	for _, t := range ts {
		if t == nil {
			continue
		}
		if !t.dtype.IsFloat() {
			panicf(op, "float tensors only, got %v of shape %v", t.dtype, t.shape)
		}
		if t.dtype != ts[0].dtype {
			panicf(op, "tensors of one float type only, got %v and %v", ts[0].dtype, t.dtype)
		}
	}
}

// dense returns t if it is contiguous from the first element of its buffer
// and a dense copy otherwise, as the NCHW and index primitives need.
func dense(t *Tensor) *Tensor {
	if t.offset == 0 && t.IsContiguous() {
		return t
	}
	return t.copyContiguous()
}

// Pool2DOptions configures 2-D pooling. A zero Stride means the kernel size,
// as in PyTorch. ExcludePadding makes average pooling divide by the number of
// real input elements instead of the whole window (count_include_pad=False).
type Pool2DOptions struct {
	Kernel         [2]int
	Stride         [2]int
	Padding        [2]int
	ExcludePadding bool
}

func poolParams(op string, x []int, o Pool2DOptions) device.Pool2DParams {
	if len(x) != 4 {
		panicf(op, "input %v must be 4-D (NCHW)", x)
	}
	for i := range 2 {
		if o.Stride[i] == 0 {
			o.Stride[i] = o.Kernel[i]
		}
	}
	for i := range 2 {
		if o.Kernel[i] <= 0 || o.Stride[i] <= 0 || o.Padding[i] < 0 || 2*o.Padding[i] > o.Kernel[i] {
			panicf(op, "invalid kernel %v, stride %v, padding %v (padding must be at most half the kernel)",
				o.Kernel, o.Stride, o.Padding)
		}
	}
	p := device.Pool2DParams{
		N: x[0], C: x[1], H: x[2], W: x[3], KH: o.Kernel[0], KW: o.Kernel[1],
		StrideH: o.Stride[0], StrideW: o.Stride[1], PadH: o.Padding[0], PadW: o.Padding[1],
		CountIncludePad: !o.ExcludePadding,
	}
	p.OH, p.OW = windows(op, x, o.Padding, o.Kernel, [2]int{1, 1}, o.Stride)
	return p
}

// MaxPool2D returns the window maxima of x [N, C, H, W] and the int32 index
// (h*W + w, within each plane) each one came from, for MaxPool2DGrad.
func MaxPool2D(x *Tensor, o Pool2DOptions) (out, indices *Tensor) {
	checkFloat("MaxPool2D", x)
	if x.dtype.IsHalf() {
		out, indices = MaxPool2D(widen(x), o)
		return narrow(out, x.dtype), indices
	}
	p := poolParams("MaxPool2D", x.shape, o)
	xc := dense(x)
	shape := []int{p.N, p.C, p.OH, p.OW}
	out, ok := result(x.dev, Float32, shape, xc)
	indices, ok2 := result(x.dev, Int32, slices.Clone(shape), xc)
	if ok && ok2 && out.Numel() > 0 {
		x.dev.MaxPool2D(out.st.buf, indices.st.buf, xc.st.buf, p)
	}
	keepAlive(xc)
	return out, indices
}

// MaxPool2DValues is MaxPool2D without the indices, for inference: the
// CPU computes the maxima alone in fewer steps.
func MaxPool2DValues(x *Tensor, o Pool2DOptions) *Tensor {
	checkFloat("MaxPool2D", x)
	if x.dtype.IsHalf() {
		return narrow(MaxPool2DValues(widen(x), o), x.dtype)
	}
	p := poolParams("MaxPool2D", x.shape, o)
	xc := dense(x)
	out, ok := result(x.dev, Float32, []int{p.N, p.C, p.OH, p.OW}, xc)
	if ok && out.Numel() > 0 {
		x.dev.MaxPool2D(out.st.buf, nil, xc.st.buf, p)
	}
	keepAlive(xc)
	return out
}

// MaxPool2DGrad routes the output gradient dy to the input elements recorded
// in indices, returning a gradient of inputShape.
func MaxPool2DGrad(dy, indices *Tensor, inputShape []int, o Pool2DOptions) *Tensor {
	sameDevice("MaxPool2DGrad", dy, indices)
	checkFloat("MaxPool2DGrad", dy)
	if dy.dtype.IsHalf() {
		return narrow(MaxPool2DGrad(widen(dy), indices, inputShape, o), dy.dtype)
	}
	p := poolParams("MaxPool2DGrad", inputShape, o)
	checkGradShape("MaxPool2DGrad", dy.shape, []int{p.N, p.C, p.OH, p.OW})
	checkGradShape("MaxPool2DGrad", indices.shape, []int{p.N, p.C, p.OH, p.OW})
	dyc, ic := dense(dy), dense(indices)
	out, ok := result(dy.dev, Float32, slices.Clone(inputShape), dyc, ic)
	if ok && out.Numel() > 0 {
		dy.dev.MaxPool2DGrad(out.st.buf, dyc.st.buf, ic.st.buf, p)
	}
	keepAlive(dyc, ic)
	return out
}

// AvgPool2D returns the window means of x [N, C, H, W].
func AvgPool2D(x *Tensor, o Pool2DOptions) *Tensor {
	checkFloat("AvgPool2D", x)
	if x.dtype.IsHalf() {
		return narrow(AvgPool2D(widen(x), o), x.dtype)
	}
	p := poolParams("AvgPool2D", x.shape, o)
	xc := dense(x)
	out, ok := result(x.dev, Float32, []int{p.N, p.C, p.OH, p.OW}, xc)
	if ok && out.Numel() > 0 {
		x.dev.AvgPool2D(out.st.buf, xc.st.buf, p)
	}
	keepAlive(xc)
	return out
}

// AvgPool2DGrad returns the gradient of AvgPool2D with respect to its input
// of inputShape, given the output gradient dy.
func AvgPool2DGrad(dy *Tensor, inputShape []int, o Pool2DOptions) *Tensor {
	checkFloat("AvgPool2DGrad", dy)
	if dy.dtype.IsHalf() {
		return narrow(AvgPool2DGrad(widen(dy), inputShape, o), dy.dtype)
	}
	p := poolParams("AvgPool2DGrad", inputShape, o)
	checkGradShape("AvgPool2DGrad", dy.shape, []int{p.N, p.C, p.OH, p.OW})
	dyc := dense(dy)
	out, ok := result(dy.dev, Float32, slices.Clone(inputShape), dyc)
	if ok && out.Numel() > 0 {
		dy.dev.AvgPool2DGrad(out.st.buf, dyc.st.buf, p)
	}
	keepAlive(dyc)
	return out
}

// Softmax returns exp(t) / sum(exp(t)) along axis, computed stably for
// large values. A 0-d tensor takes axis 0 or -1, as in PyTorch.
func (t *Tensor) Softmax(axis int) *Tensor { return t.softmax("Softmax", axis, false) }

// LogSoftmax returns t - log(sum(exp(t))) along axis, computed stably.
func (t *Tensor) LogSoftmax(axis int) *Tensor { return t.softmax("LogSoftmax", axis, true) }

func (t *Tensor) softmax(op string, axis int, log bool) *Tensor {
	checkFloat(op, t)
	if t.dtype.IsHalf() {
		return narrow(widen(t).softmax(op, axis, log), t.dtype)
	}
	if t.Dim() == 0 {
		scalarAxis(op, axis) // 0 or -1, as PyTorch
		return t.Reshape(1).softmax(op, 0, log).Reshape()
	}
	a := t.axis(op, axis)
	last := t.Dim() - 1
	x := dense(t.Transpose(a, last))
	cols := x.shape[last]
	out, ok := result(t.dev, Float32, slices.Clone(x.shape), x)
	if ok && out.Numel() > 0 {
		t.dev.Softmax(out.st.buf, x.st.buf, out.Numel()/cols, cols, log)
	}
	keepAlive(x)
	return out.Transpose(a, last)
}

// gatherShape splits shape around axis into the [outer, n, inner] of the
// index primitives.
func gatherShape(shape []int, axis int) (outer, n, inner int) {
	return device.Numel(shape[:axis]), shape[axis], device.Numel(shape[axis+1:])
}

func checkIndex(op string, idx *Tensor) {
	if idx.dtype != Int32 {
		panicf(op, "index tensor must be int32, got %v of shape %v", idx.dtype, idx.shape)
	}
}

// IndexSelect returns the entries idx (a 1-D int32 tensor) of axis, as
// torch.index_select; an embedding lookup is weight.IndexSelect(0, ids).
// An index out of range yields zeros and an error from the next Sync or
// Data.
func (t *Tensor) IndexSelect(axis int, idx *Tensor) *Tensor {
	sameDevice("IndexSelect", t, idx)
	checkIndex("IndexSelect", idx)
	if idx.Dim() != 1 {
		panicf("IndexSelect", "index must be 1-D, got shape %v", idx.shape)
	}
	if t.dtype.IsHalf() {
		return narrow(widen(t).IndexSelect(axis, idx), t.dtype)
	}
	a := t.axis("IndexSelect", axis)
	shape := slices.Clone(t.shape)
	shape[a] = idx.shape[0]
	x, ic := dense(t), dense(idx)
	out, ok := result(t.dev, t.dtype, shape, x, ic)
	if ok && out.Numel() > 0 {
		outer, n, inner := gatherShape(t.shape, a)
		t.dev.IndexSelect(out.st.buf, x.st.buf, ic.st.buf, device.GatherShape{Outer: outer, N: n, M: idx.shape[0], Inner: inner})
	}
	keepAlive(x, ic)
	return out
}

// IndexAdd returns a copy of t with src added at the entries idx of axis:
// out[..., idx[j], ...] += src[..., j, ...], repeated indices accumulating.
// It is the gradient of IndexSelect.
func (t *Tensor) IndexAdd(axis int, idx, src *Tensor) *Tensor {
	sameDevice("IndexAdd", t, idx, src)
	checkIndex("IndexAdd", idx)
	if t.dtype.IsHalf() && src.dtype == t.dtype { // accumulated in float32
		return narrow(widen(t).IndexAdd(axis, idx, widen(src)), t.dtype)
	}
	a := t.axis("IndexAdd", axis)
	want := slices.Clone(t.shape)
	if idx.Dim() == 1 {
		want[a] = idx.shape[0]
	}
	if idx.Dim() != 1 || !slices.Equal(src.shape, want) || src.dtype != t.dtype {
		panicf("IndexAdd", "index %v and source %v %v do not fit tensor %v %v along axis %d",
			idx.shape, src.shape, src.dtype, t.shape, t.dtype, a)
	}
	out := t.Clone()
	sc, ic := dense(src), dense(idx)
	if err := inputErr(out, sc, ic); err != nil {
		return failed(t.dev, t.dtype, out.shape, err)
	}
	if src.Numel() > 0 {
		outer, n, inner := gatherShape(t.shape, a)
		t.dev.IndexAdd(out.st.buf, ic.st.buf, sc.st.buf, device.GatherShape{Outer: outer, N: n, M: idx.shape[0], Inner: inner})
	}
	keepAlive(ic, sc)
	return out
}

// Gather returns out[i][j][k] = t[i][idx[i][j][k]][k] (for axis 1, and
// likewise for any axis), as torch.gather: idx has t's rank and, outside
// axis, lengths no larger than t's.
func (t *Tensor) Gather(axis int, idx *Tensor) *Tensor { return t.GatherNamed("", axis, idx) }

// GatherNamed is Gather for an op built on it: an index out of range is
// reported as what (for example "CrossEntropyLoss: label") instead of as
// Gather's index. An empty what is Gather's own name.
func (t *Tensor) GatherNamed(what string, axis int, idx *Tensor) *Tensor {
	sameDevice("Gather", t, idx)
	checkIndex("Gather", idx)
	if t.dtype.IsHalf() {
		return narrow(widen(t).GatherNamed(what, axis, idx), t.dtype)
	}
	a := t.axis("Gather", axis)
	if idx.Dim() != t.Dim() {
		panicf("Gather", "index of shape %v and tensor of shape %v differ in rank", idx.shape, t.shape)
	}
	x := t
	for d := range t.shape {
		if d == a {
			continue
		}
		if idx.shape[d] > t.shape[d] {
			panicf("Gather", "index of shape %v exceeds tensor of shape %v along axis %d", idx.shape, t.shape, d)
		}
		x = x.Narrow(d, 0, idx.shape[d])
	}
	x, ic := dense(x), dense(idx)
	out, ok := result(t.dev, t.dtype, slices.Clone(idx.shape), x, ic)
	if ok && out.Numel() > 0 {
		outer, m, inner := gatherShape(idx.shape, a)
		t.dev.Gather(out.st.buf, x.st.buf, ic.st.buf, device.GatherShape{Outer: outer, N: t.shape[a], M: m, Inner: inner, Index: what})
	}
	keepAlive(x, ic)
	return out
}

// ScatterAdd returns a copy of t with src added at the positions idx names
// along axis: out[i][idx[i][j][k]][k] += src[i][j][k] (for axis 1). idx and
// src have one shape, equal to t's outside axis. It is the gradient of
// Gather.
func (t *Tensor) ScatterAdd(axis int, idx, src *Tensor) *Tensor {
	sameDevice("ScatterAdd", t, idx, src)
	checkIndex("ScatterAdd", idx)
	if t.dtype.IsHalf() && src.dtype == t.dtype { // accumulated in float32
		return narrow(widen(t).ScatterAdd(axis, idx, widen(src)), t.dtype)
	}
	a := t.axis("ScatterAdd", axis)
	fits := slices.Equal(idx.shape, src.shape) && idx.Dim() == t.Dim() && src.dtype == t.dtype
	for d := range t.shape {
		if fits && d != a && idx.shape[d] != t.shape[d] {
			fits = false
		}
	}
	if !fits {
		panicf("ScatterAdd", "index %v and source %v %v do not fit tensor %v %v along axis %d",
			idx.shape, src.shape, src.dtype, t.shape, t.dtype, a)
	}
	out := t.Clone()
	sc, ic := dense(src), dense(idx)
	if err := inputErr(out, sc, ic); err != nil {
		return failed(t.dev, t.dtype, out.shape, err)
	}
	if src.Numel() > 0 {
		outer, m, inner := gatherShape(idx.shape, a)
		t.dev.ScatterAdd(out.st.buf, ic.st.buf, sc.st.buf, device.GatherShape{Outer: outer, N: t.shape[a], M: m, Inner: inner})
	}
	keepAlive(ic, sc)
	return out
}

// OneHot returns a float32 tensor of shape [idx..., classes] with 1 at each
// index and 0 elsewhere; indices outside [0, classes) give rows of zeros.
func OneHot(idx *Tensor, classes int) *Tensor {
	checkIndex("OneHot", idx)
	if classes <= 0 {
		panicf("OneHot", "%d classes", classes)
	}
	return idx.Unsqueeze(-1).Eq(Arange(idx.dev, Int32, 0, float64(classes), 1))
}

// LayerNorm normalizes x over its last dimension, as PyTorch's layer_norm
// over it and ONNX's LayerNormalization with axis −1: (x − mean)/√(var +
// eps)·weight + bias, the mean and the biased variance per row, weight
// and bias of x's last size or nil (for 1 and 0). A device that normalizes
// rows in one op (device.LayerNormer: the CPU) does; on the others it is
// composed of reductions and elementwise ops. Not differentiable: autograd
// and nn compose their own.
func LayerNorm(x, weight, bias *Tensor, eps float64) *Tensor {
	const op = "LayerNorm"
	checkFloat(op, x, weight, bias)
	if x.Dim() == 0 {
		panicf(op, "x is a scalar: it needs a dimension to normalize over")
	}
	cols := x.shape[x.Dim()-1]
	for _, p := range []*Tensor{weight, bias} {
		if p != nil {
			sameDevice(op, x, p)
			if p.Dim() != 1 || p.shape[0] != cols {
				panicf(op, "weight and bias must be [%d] (x's last size), got %v", cols, p.shape)
			}
		}
	}
	ln, ok := x.dev.(device.LayerNormer)
	if !ok || x.dtype != Float32 || cols == 0 || anyHalf(weight, bias) {
		return composeLayerNorm(x, weight, bias, eps)
	}
	xd := dense(x)
	in := []*Tensor{xd}
	var wb, bb device.Buffer
	if weight != nil {
		weight = dense(weight)
		in, wb = append(in, weight), weight.st.buf
	}
	if bias != nil {
		bias = dense(bias)
		in, bb = append(in, bias), bias.st.buf
	}
	out, ok := result(x.dev, Float32, slices.Clone(x.shape), in...)
	if ok && out.Numel() > 0 {
		ln.LayerNorm(out.st.buf, xd.st.buf, wb, bb, out.Numel()/cols, cols, float32(eps))
	}
	keepAlive(in...)
	return out
}

// composeLayerNorm is LayerNorm in reductions and elementwise ops.
func composeLayerNorm(x, weight, bias *Tensor, eps float64) *Tensor {
	last := x.Dim() - 1
	centred := x.Sub(x.MeanKeepDim(last))
	y := centred.Mul(centred.Square().MeanKeepDim(last).AddScalar(eps).Rsqrt())
	if weight != nil {
		y = y.Mul(weight)
	}
	if bias != nil {
		y = y.Add(bias)
	}
	return y
}
