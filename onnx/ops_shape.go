package onnx

import (
	"errors"
	"fmt"
	"math"
	"slices"

	"github.com/wgtensor/wgtensor/device"
	"github.com/wgtensor/wgtensor/tensor"
)

func init() {
	register("Shape", &opSpec{since: 1, minIn: 1, foldable: true, attrs: []string{"start", "end"}, run: runShape})
	register("Size", &opSpec{since: 1, minIn: 1, foldable: true, run: func(c *call) ([]*value, error) {
		return []*value{hostValue(tInt64, []int{}, []float64{float64(c.in[0].numel())})}, nil
	}})
	register("Reshape", &opSpec{since: 5, minIn: 2, foldable: true, attrs: []string{"allowzero"}, run: runReshape})
	register("Flatten", &opSpec{since: 1, minIn: 1, foldable: true, attrs: []string{"axis"}, run: func(c *call) ([]*value, error) {
		x := c.in[0]
		r := len(x.shape)
		a := c.attrInt("axis", 1)
		if a < 0 {
			a += r // axis is in [-r, r]: -1 leaves the last dimension alone
		}
		if a < 0 || a > r {
			return nil, fmt.Errorf("axis %d out of range for %d dimensions", c.attrInt("axis", 1), r)
		}
		return reshape(c, x, []int{device.Numel(x.shape[:a]), device.Numel(x.shape[a:])})
	}})
	register("Transpose", &opSpec{since: 1, minIn: 1, foldable: true, attrs: []string{"perm"}, run: runTranspose})
	register("Squeeze", &opSpec{since: 1, minIn: 1, foldable: true, attrs: []string{"axes"}, run: runSqueeze})
	register("Unsqueeze", &opSpec{since: 1, minIn: 1, foldable: true, attrs: []string{"axes"}, run: runUnsqueeze})
	register("Concat", &opSpec{since: 4, minIn: 1, foldable: true, attrs: []string{"axis"}, run: runConcat})
	register("Split", &opSpec{since: 2, minIn: 1, foldable: true, attrs: []string{"axis", "split", "num_outputs"}, run: runSplit})
	register("Slice", &opSpec{since: 1, minIn: 1, foldable: true, attrs: []string{"starts", "ends", "axes"}, run: runSlice})
	register("Gather", &opSpec{since: 1, minIn: 2, foldable: true, attrs: []string{"axis"}, run: runGather})
	register("Expand", &opSpec{since: 8, minIn: 2, foldable: true, run: runExpand})
	register("Tile", &opSpec{since: 6, minIn: 2, foldable: true, run: runTile})
	register("Constant", &opSpec{since: 1, foldable: true,
		attrs: []string{"value", "value_float", "value_floats", "value_int", "value_ints"},
		check: func(n *node) error {
			if len(n.attrs) != 1 {
				return errors.New("exactly one value attribute is needed")
			}
			return nil
		}, run: runConstant})
	register("ConstantOfShape", &opSpec{since: 9, minIn: 1, foldable: true, attrs: []string{"value"}, run: runConstantOfShape})
	register("Range", &opSpec{since: 11, minIn: 3, foldable: true, run: runRange})
	register("Pad", &opSpec{since: 2, minIn: 1, foldable: true, attrs: []string{"mode", "pads", "value"},
		check: func(n *node) error {
			if m := n.attrString("mode", "constant"); m != "constant" && m != "reflect" && m != "edge" {
				return fmt.Errorf("mode %q is not supported", m)
			}
			return nil
		}, run: runPad})
	register("Trilu", &opSpec{since: 14, minIn: 1, foldable: true, attrs: []string{"upper"}, run: runTrilu})
}

// axisOf normalises a possibly negative axis for rank dimensions.
func axisOf(a, rank int) (int, error) {
	if a < -rank || a >= rank {
		return 0, fmt.Errorf("axis %d out of range for %d dimensions", a, rank)
	}
	if a < 0 {
		a += rank
	}
	return a, nil
}

// axesInput returns the axes of an op that takes them as an attribute
// before opset since and as input i from it on; ok is false when none are
// given.
func (c *call) axesInput(i, since int) (axes []int, ok bool, err error) {
	if c.opset < since {
		if !c.has("axes") {
			return nil, false, nil
		}
		return c.attrInts("axes", nil), true, nil
	}
	return c.intsInput(i)
}

func runShape(c *call) ([]*value, error) {
	shape := c.in[0].shape
	r := len(shape)
	clip := func(i int) int {
		if i < 0 {
			i += r
		}
		return min(max(i, 0), r)
	}
	start, end := clip(c.attrInt("start", 0)), clip(c.attrInt("end", r))
	out := make([]float64, 0, r)
	for _, d := range shape[start:max(start, end)] {
		out = append(out, float64(d))
	}
	return []*value{hostValue(tInt64, []int{len(out)}, out)}, nil
}

// reshape gives x the new shape, on the host or as a device view.
func reshape(c *call, x *value, shape []int) ([]*value, error) {
	if device.Numel(shape) != x.numel() {
		return nil, fmt.Errorf("cannot reshape %v into %v", x.shape, shape)
	}
	if x.t == nil {
		return []*value{hostValue(x.typ, shape, x.host)}, nil
	}
	out := deviceValue(x.typ, x.t.Reshape(shape...))
	if x.host != nil {
		out.host = x.host
	}
	return []*value{out}, nil
}

func runReshape(c *call) ([]*value, error) {
	x := c.in[0]
	spec, _, err := c.intsInput(1)
	if err != nil {
		return nil, err
	}
	shape := make([]int, len(spec))
	infer := -1
	known := 1
	for i, d := range spec {
		switch {
		case d == 0 && c.attrInt("allowzero", 0) == 0:
			if i >= len(x.shape) {
				return nil, fmt.Errorf("shape %v copies dimension %d of %v, which has none", spec, i, x.shape)
			}
			shape[i] = x.shape[i]
		case d == -1:
			if infer >= 0 {
				return nil, fmt.Errorf("shape %v has more than one -1", spec)
			}
			infer = i
			continue
		case d < 0:
			return nil, fmt.Errorf("shape %v has a negative dimension", spec)
		default:
			shape[i] = d
		}
		known *= shape[i]
	}
	if infer >= 0 {
		if known == 0 || x.numel()%known != 0 {
			return nil, fmt.Errorf("cannot reshape %v into %v", x.shape, spec)
		}
		shape[infer] = x.numel() / known
	}
	return reshape(c, x, shape)
}

func runTranspose(c *call) ([]*value, error) {
	x := c.in[0]
	r := len(x.shape)
	perm := c.attrInts("perm", nil)
	if perm == nil {
		perm = make([]int, r)
		for i := range perm {
			perm[i] = r - 1 - i
		}
	}
	seen := make([]bool, r)
	for _, p := range perm {
		if p < 0 || p >= r || seen[p] {
			return nil, fmt.Errorf("perm %v is not a permutation of %d dimensions", perm, r)
		}
		seen[p] = true
	}
	if len(perm) != r {
		return nil, fmt.Errorf("perm %v for %d dimensions", perm, r)
	}
	if x.onHost() {
		shape := make([]int, r)
		for i, p := range perm {
			shape[i] = x.shape[p]
		}
		src := device.ContiguousStrides(x.shape)
		out := make([]float64, len(x.host))
		idx := make([]int, r)
		for i := range out {
			o := 0
			for d := range r {
				o += idx[d] * src[perm[d]]
			}
			out[i] = x.host[o]
			for d := r - 1; d >= 0; d-- {
				if idx[d]++; idx[d] < shape[d] {
					break
				}
				idx[d] = 0
			}
		}
		return []*value{hostValue(x.typ, shape, out)}, nil
	}
	t, err := x.device(c.dev)
	if err != nil {
		return nil, err
	}
	return one(x.typ, t.Permute(perm...))
}

func runSqueeze(c *call) ([]*value, error) {
	x := c.in[0]
	axes, ok, err := c.axesInput(1, 13)
	if err != nil {
		return nil, err
	}
	drop := make([]bool, len(x.shape))
	for _, a := range axes {
		a, err := axisOf(a, len(x.shape))
		if err != nil {
			return nil, err
		}
		if x.shape[a] != 1 {
			return nil, fmt.Errorf("axis %d of shape %v is not 1", a, x.shape)
		}
		drop[a] = true
	}
	var shape []int
	for i, d := range x.shape {
		if !(drop[i] || (!ok && d == 1)) {
			shape = append(shape, d)
		}
	}
	return reshape(c, x, append([]int{}, shape...))
}

func runUnsqueeze(c *call) ([]*value, error) {
	x := c.in[0]
	axes, _, err := c.axesInput(1, 13)
	if err != nil {
		return nil, err
	}
	r := len(x.shape) + len(axes)
	add := make([]bool, r)
	for _, a := range axes {
		a, err := axisOf(a, r)
		if err != nil {
			return nil, err
		}
		if add[a] {
			return nil, fmt.Errorf("axis %d given twice", a)
		}
		add[a] = true
	}
	shape := make([]int, 0, r)
	j := 0
	for i := range r {
		if add[i] {
			shape = append(shape, 1)
		} else {
			shape = append(shape, x.shape[j])
			j++
		}
	}
	return reshape(c, x, shape)
}

func runConcat(c *call) ([]*value, error) {
	first := c.in[0]
	a, err := axisOf(c.attrInt("axis", 0), len(first.shape))
	if err != nil {
		return nil, err
	}
	host := true
	for _, v := range c.in {
		host = host && v != nil && v.onHost()
		if v == nil || len(v.shape) != len(first.shape) {
			return nil, errors.New("inputs of different ranks")
		}
	}
	if host {
		shape := slices.Clone(first.shape)
		shape[a] = 0
		for _, v := range c.in {
			shape[a] += v.shape[a]
		}
		outer := device.Numel(first.shape[:a])
		var out []float64
		for o := range outer {
			for _, v := range c.in {
				for i, d := range v.shape {
					if i != a && d != first.shape[i] {
						return nil, fmt.Errorf("shapes %v and %v do not fit along axis %d", first.shape, v.shape, a)
					}
				}
				run := device.Numel(v.shape[a:])
				out = append(out, v.host[o*run:(o+1)*run]...)
			}
		}
		return []*value{hostValue(first.typ, shape, out)}, nil
	}
	ts := make([]*tensor.Tensor, len(c.in))
	for i := range c.in {
		if ts[i], err = c.tensor(i); err != nil {
			return nil, err
		}
	}
	return one(first.typ, tensor.Concat(ts, a))
}

func runSplit(c *call) ([]*value, error) {
	x := c.in[0]
	a, err := axisOf(c.attrInt("axis", 0), len(x.shape))
	if err != nil {
		return nil, err
	}
	var sizes []int
	if c.opset < 13 {
		sizes = c.attrInts("split", nil)
	} else if sizes, _, err = c.intsInput(1); err != nil {
		return nil, err
	}
	n := x.shape[a]
	if sizes == nil {
		parts := len(c.outputs)
		if c.has("num_outputs") && c.attrInt("num_outputs", parts) != parts {
			return nil, fmt.Errorf("num_outputs %d for %d outputs", c.attrInt("num_outputs", parts), parts)
		}
		each := (n + parts - 1) / parts
		for off := 0; off < n || len(sizes) < parts; off += each {
			sizes = append(sizes, max(min(each, n-off), 0))
		}
	}
	if len(sizes) != len(c.outputs) {
		return nil, fmt.Errorf("%d parts for %d outputs", len(sizes), len(c.outputs))
	}
	t, err := x.device(c.dev)
	if err != nil {
		return nil, err
	}
	outs := make([]*value, len(sizes))
	off := 0
	for i, s := range sizes {
		if s < 0 || off+s > n {
			return nil, fmt.Errorf("parts %v do not fit axis %d of shape %v", sizes, a, x.shape)
		}
		outs[i] = deviceValue(x.typ, t.Narrow(a, off, s))
		off += s
	}
	if off != n {
		return nil, fmt.Errorf("parts %v do not add up to axis %d of shape %v", sizes, a, x.shape)
	}
	return outs, nil
}

// sliceBounds resolves one axis of a Slice as ONNX defines it, steps of
// either sign included: the first index, the count and the step.
func sliceBounds(start, end, step, n int) (first, count int) {
	clamp := func(i, lo, hi int) int { return min(max(i, lo), hi) }
	if start < 0 {
		start += n
	}
	if end < 0 {
		end += n
	}
	if step > 0 {
		start, end = clamp(start, 0, n), clamp(end, 0, n)
		return start, max(0, (end-start+step-1)/step)
	}
	start, end = clamp(start, 0, n-1), clamp(end, -1, n-1)
	return start, max(0, (start-end-step-1)/(-step))
}

func runSlice(c *call) ([]*value, error) {
	x := c.in[0]
	var starts, ends, axes, steps []int
	if c.opset < 10 {
		starts, ends, axes = c.attrInts("starts", nil), c.attrInts("ends", nil), c.attrInts("axes", nil)
	} else {
		var err error
		if starts, _, err = c.intsInput(1); err == nil {
			if ends, _, err = c.intsInput(2); err == nil {
				if axes, _, err = c.intsInput(3); err == nil {
					steps, _, err = c.intsInput(4)
				}
			}
		}
		if err != nil {
			return nil, err
		}
	}
	if len(starts) != len(ends) {
		return nil, fmt.Errorf("%d starts and %d ends", len(starts), len(ends))
	}
	if axes == nil {
		for i := range starts {
			axes = append(axes, i)
		}
	}
	if steps == nil {
		steps = slices.Repeat([]int{1}, len(starts))
	}
	if len(axes) != len(starts) || len(steps) != len(starts) {
		return nil, fmt.Errorf("%d starts, %d axes and %d steps", len(starts), len(axes), len(steps))
	}
	// Per axis of x: first index, count, step.
	r := len(x.shape)
	first, count, step := make([]int, r), slices.Clone(x.shape), slices.Repeat([]int{1}, r)
	seen := make([]bool, r)
	for i, ax := range axes {
		a, err := axisOf(ax, r)
		if err != nil {
			return nil, err
		}
		if seen[a] {
			return nil, fmt.Errorf("axis %d given twice", a)
		}
		seen[a] = true
		if steps[i] == 0 {
			return nil, errors.New("step 0")
		}
		step[a] = steps[i]
		first[a], count[a] = sliceBounds(starts[i], ends[i], steps[i], x.shape[a])
	}
	if x.onHost() {
		out := make([]float64, 0, device.Numel(count))
		src := device.ContiguousStrides(x.shape)
		idx := make([]int, r)
		for range device.Numel(count) {
			o := 0
			for d := range r {
				o += (first[d] + idx[d]*step[d]) * src[d]
			}
			out = append(out, x.host[o])
			for d := r - 1; d >= 0; d-- {
				if idx[d]++; idx[d] < count[d] {
					break
				}
				idx[d] = 0
			}
		}
		return []*value{hostValue(x.typ, count, out)}, nil
	}
	t, err := x.device(c.dev)
	if err != nil {
		return nil, err
	}
	for a := range r {
		switch {
		case count[a] == x.shape[a] && step[a] == 1:
		case step[a] > 0:
			t = t.Slice(a, first[a], first[a]+(count[a]-1)*step[a]+1, step[a])
		default: // a negative step: gather the indices
			idx := make([]int32, count[a])
			for i := range idx {
				idx[i] = int32(first[a] + i*step[a])
			}
			t = t.IndexSelect(a, tensor.New(c.dev, idx))
		}
	}
	return one(x.typ, t)
}

func runGather(c *call) ([]*value, error) {
	x, idx := c.in[0], c.in[1]
	a, err := axisOf(c.attrInt("axis", 0), len(x.shape))
	if err != nil {
		return nil, err
	}
	n := x.shape[a]
	shape := append(append(slices.Clone(x.shape[:a]), idx.shape...), x.shape[a+1:]...)
	if x.onHost() && idx.onHost() {
		outer, inner := device.Numel(x.shape[:a]), device.Numel(x.shape[a+1:])
		out := make([]float64, 0, device.Numel(shape))
		for o := range outer {
			for _, k := range idx.host {
				j := int(k)
				if j < 0 {
					j += n
				}
				if j < 0 || j >= n {
					return nil, fmt.Errorf("index %d out of range for axis %d of shape %v", int(k), a, x.shape)
				}
				base := (o*n + j) * inner
				out = append(out, x.host[base:base+inner]...)
			}
		}
		return []*value{hostValue(x.typ, shape, out)}, nil
	}
	t, err := x.device(c.dev)
	if err != nil {
		return nil, err
	}
	var it *tensor.Tensor
	if idx.onHost() { // constant indices: wrap negative ones here
		is := make([]int32, len(idx.host))
		for i, k := range idx.host {
			j := int(k)
			if j < 0 {
				j += n
			}
			if j < 0 || j >= n {
				return nil, fmt.Errorf("index %d out of range for axis %d of shape %v", int(k), a, x.shape)
			}
			is[i] = int32(j)
		}
		it = tensor.New(c.dev, is)
	} else {
		if it, err = idx.device(c.dev); err != nil {
			return nil, err
		}
		// Negative indices count from the end.
		it = tensor.Where(it.LtScalar(0), it.AddScalarInt(n), it).Reshape(idx.numel())
	}
	return one(x.typ, t.IndexSelect(a, it.Reshape(idx.numel())).Reshape(shape...))
}

func runExpand(c *call) ([]*value, error) {
	x := c.in[0]
	want, _, err := c.intsInput(1)
	if err != nil {
		return nil, err
	}
	shape, err := broadcastShape(x.shape, want)
	if err != nil {
		return nil, err
	}
	if x.onHost() && device.Numel(shape) <= hostLimit {
		return broadcastHost(x.typ, x, hostValue(x.typ, shape, make([]float64, device.Numel(shape))), func(a, _ float64) float64 { return a })
	}
	t, err := x.device(c.dev)
	if err != nil {
		return nil, err
	}
	return one(x.typ, t.Expand(shape...))
}

func runTile(c *call) ([]*value, error) {
	x := c.in[0]
	reps, _, err := c.intsInput(1)
	if err != nil {
		return nil, err
	}
	if len(reps) != len(x.shape) {
		return nil, fmt.Errorf("%d repeats for %d dimensions", len(reps), len(x.shape))
	}
	t, err := x.device(c.dev)
	if err != nil {
		return nil, err
	}
	for a, r := range reps {
		if r < 0 {
			return nil, fmt.Errorf("negative repeat %d", r)
		}
		if r == 1 {
			continue
		}
		shape := t.Shape()
		exp := slices.Insert(slices.Clone(shape), a, r)
		shape[a] *= r
		t = t.Unsqueeze(a).Expand(exp...).Reshape(shape...)
	}
	return one(x.typ, t)
}

func runConstant(c *call) ([]*value, error) {
	for name, a := range c.attrs {
		switch name {
		case "value":
			v, err := fromProto(a.GetT(), c.dir, c.dev)
			if err != nil {
				return nil, err
			}
			return []*value{v}, nil
		case "value_float":
			return []*value{hostValue(tFloat, []int{}, []float64{float64(a.GetF())})}, nil
		case "value_floats":
			return []*value{hostValue(tFloat, []int{len(a.GetFloats())}, c.attrFloats(name))}, nil
		case "value_int":
			return []*value{hostValue(tInt64, []int{}, []float64{float64(a.GetI())})}, nil
		case "value_ints":
			is := c.attrInts(name, nil)
			f := make([]float64, len(is))
			for i, v := range is {
				f[i] = float64(v)
			}
			return []*value{hostValue(tInt64, []int{len(f)}, f)}, nil
		}
	}
	return nil, errors.New("no value")
}

func runConstantOfShape(c *call) ([]*value, error) {
	shape, _, err := c.intsInput(0)
	if err != nil {
		return nil, err
	}
	for _, d := range shape {
		if d < 0 {
			return nil, fmt.Errorf("negative dimension in %v", shape)
		}
	}
	typ, fill := tFloat, 0.0
	if a, ok := c.attrs["value"]; ok {
		tp := a.GetT()
		if len(tp.GetDims()) > 1 || (len(tp.GetDims()) == 1 && tp.GetDims()[0] != 1) {
			return nil, fmt.Errorf("value of shape %v, want one element", tp.GetDims())
		}
		f, err := decode(elemType(tp.GetDataType()), 1, tp.GetRawData(), tp)
		if err != nil {
			return nil, fmt.Errorf("value: %w", err)
		}
		typ, fill = elemType(tp.GetDataType()), f[0]
	}
	if err := checkElements(shape...); err != nil {
		return nil, err
	}
	if n := device.Numel(shape); n <= hostLimit {
		return []*value{hostValue(typ, shape, slices.Repeat([]float64{fill}, n))}, nil
	}
	return one(typ, tensor.FullOf(c.dev, typ.deviceType(), fill, shape...))
}

func runRange(c *call) ([]*value, error) {
	var b [3]float64
	for i := range b {
		f, err := c.in[i].values()
		if err != nil {
			return nil, err
		}
		if len(f) != 1 {
			return nil, fmt.Errorf("input %d has %d values, want 1", i, len(f))
		}
		b[i] = f[0]
	}
	if b[2] == 0 {
		return nil, errors.New("delta 0")
	}
	n := math.Ceil((b[1] - b[0]) / b[2])
	if math.IsNaN(n) || n > maxElements {
		return nil, fmt.Errorf("start %v, limit %v and delta %v make %v elements", b[0], b[1], b[2], n)
	}
	n = max(n, 0)
	typ := c.in[0].typ
	if n > hostLimit {
		return one(typ, tensor.Arange(c.dev, typ.deviceType(), b[0], b[1], b[2]))
	}
	out := make([]float64, int(n))
	for i := range out {
		out[i] = b[0] + float64(i)*b[2]
	}
	return []*value{hostValue(typ, []int{len(out)}, out)}, nil
}

func runPad(c *call) ([]*value, error) {
	x := c.in[0]
	r := len(x.shape)
	var pads []int
	fill := c.attrFloat("value", 0)
	axes := make([]int, r)
	for i := range axes {
		axes[i] = i
	}
	if c.opset < 11 {
		pads = c.attrInts("pads", nil)
	} else {
		var err error
		if pads, _, err = c.intsInput(1); err != nil {
			return nil, err
		}
		if v := c.input(2); v != nil {
			f, err := v.values()
			if err != nil {
				return nil, err
			}
			if len(f) > 0 {
				fill = f[0]
			}
		}
		if a, ok, err := c.intsInput(3); err != nil {
			return nil, err
		} else if ok {
			axes = a
		}
	}
	if len(pads) != 2*len(axes) {
		return nil, fmt.Errorf("%d pads for %d axes", len(pads), len(axes))
	}
	t, err := x.device(c.dev)
	if err != nil {
		return nil, err
	}
	mode := c.attrString("mode", "constant")
	for i, ax := range axes {
		a, err := axisOf(ax, r)
		if err != nil {
			return nil, err
		}
		before, after := pads[i], pads[i+len(axes)]
		if t, err = padAxis(t, a, before, after, mode, fill); err != nil {
			return nil, err
		}
	}
	return one(x.typ, t)
}

// padAxis pads (or, with negative counts, crops) one axis of t.
func padAxis(t *tensor.Tensor, a, before, after int, mode string, fill float64) (*tensor.Tensor, error) {
	n := t.Size(a)
	if before < 0 {
		t, n, before = t.Narrow(a, -before, n+before), n+before, 0
	}
	if after < 0 {
		t, n, after = t.Narrow(a, 0, n+after), n+after, 0
	}
	if before == 0 && after == 0 {
		return t, nil
	}
	if err := checkElements(before, after); err != nil {
		return nil, err
	}
	if mode == "constant" {
		parts := []*tensor.Tensor{}
		shape := t.Shape()
		if before > 0 {
			shape[a] = before
			parts = append(parts, tensor.FullOf(t.Device(), t.DType(), fill, shape...))
		}
		parts = append(parts, t)
		if after > 0 {
			shape[a] = after
			parts = append(parts, tensor.FullOf(t.Device(), t.DType(), fill, shape...))
		}
		return tensor.Concat(parts, a), nil
	}
	if n == 0 || (mode == "reflect" && (before >= n || after >= n)) {
		return nil, fmt.Errorf("%s padding of %d and %d on an axis of %d", mode, before, after, n)
	}
	if err := checkElements(before + n + after); err != nil {
		return nil, err
	}
	idx := make([]int32, 0, before+n+after)
	for i := -before; i < n+after; i++ {
		j := i
		switch {
		case mode == "edge":
			j = min(max(i, 0), n-1)
		case i < 0:
			j = -i
		case i >= n:
			j = 2*(n-1) - i
		}
		idx = append(idx, int32(j))
	}
	return t.IndexSelect(a, tensor.New(t.Device(), idx)), nil
}

func runTrilu(c *call) ([]*value, error) {
	x := c.in[0]
	if len(x.shape) < 2 {
		return nil, fmt.Errorf("input of shape %v, want at least 2 dimensions", x.shape)
	}
	k := 0
	if v := c.input(1); v != nil {
		ks, err := v.ints()
		if err != nil {
			return nil, err
		}
		if len(ks) != 1 {
			return nil, fmt.Errorf("k of %d values", len(ks))
		}
		k = ks[0]
	}
	rows, cols := x.shape[len(x.shape)-2], x.shape[len(x.shape)-1]
	if err := checkElements(rows, cols); err != nil {
		return nil, err
	}
	upper := c.attrInt("upper", 1) != 0
	mask := make([]float32, rows*cols)
	for i := range rows {
		for j := range cols {
			if (upper && j-i >= k) || (!upper && j-i <= k) {
				mask[i*cols+j] = 1
			}
		}
	}
	t, err := x.device(c.dev)
	if err != nil {
		return nil, err
	}
	m := tensor.New(c.dev, mask, rows, cols)
	return one(x.typ, tensor.Where(m, t, tensor.FullOf(c.dev, t.DType(), 0)))
}
