package cpu

import (
	"fmt"
	"math"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/wgtensor/wgtensor/device/backend"
)

// cpuReduceRef reduces consecutive groups of count > 0 values in float64.
func cpuReduceRef(op backend.ReduceOp, x []float64, count int) []float64 {
	out := make([]float64, len(x)/count)
	for o := range out {
		row := x[o*count : (o+1)*count]
		acc := row[0]
		if op == backend.ReduceSum || op == backend.ReduceMean {
			acc = 0
		}
		for _, v := range row {
			switch {
			case op == backend.ReduceSum || op == backend.ReduceMean:
				acc += v
			case math.IsNaN(v) || math.IsNaN(acc):
				acc = math.NaN()
			case op == backend.ReduceMax:
				acc = math.Max(acc, v)
			default:
				acc = math.Min(acc, v)
			}
		}
		if op == backend.ReduceMean {
			acc /= float64(count)
		}
		out[o] = acc
	}
	return out
}

// cpuAbsSums returns the sums of |x| over groups of count values, the scale
// of the rounding error of a sum.
func cpuAbsSums(x []float64, count int) float64 {
	m := 0.0
	for o := 0; o+count <= len(x) && count > 0; o += count {
		s := 0.0
		for _, v := range x[o : o+count] {
			if !math.IsNaN(v) {
				s += math.Abs(v)
			}
		}
		m = max(m, s)
	}
	return m
}

func TestCPUReduceFloat(t *testing.T) {
	h := newCPUHarness(t)
	type tc struct {
		l cpuLayout
		n int
	}
	var cases []tc
	for _, l := range cpuLayouts(17, 33) {
		cases = append(cases, tc{l, 0}, tc{l, 1}, tc{l, 2})
	}
	cases = append(cases,
		tc{cpuLayout{name: "3d-permuted", shape: []int{4, 5, 6}, strides: []int{1, 4, 20}}, 1},
		tc{cpuLayout{name: "3d-permuted", shape: []int{4, 5, 6}, strides: []int{1, 4, 20}}, 2},
		tc{cpuLayout{name: "3d-permuted", shape: []int{4, 5, 6}, strides: []int{1, 4, 20}}, 3},
		tc{cpuLayout{name: "scalar", shape: []int{}, offset: 1}, 0},
		tc{cpuLayout{name: "columns", shape: []int{300, 200}, strides: []int{1, 300}}, 1},
		tc{cpuLayout{name: "columns-3d", shape: []int{3, 300, 40}, strides: []int{12000, 1, 300}}, 1},
		tc{cpuLayout{name: "columns-2", shape: []int{300, 20, 10}, strides: []int{1, 3000, 300}}, 2},
		tc{cpuLayout{name: "many-rows", shape: []int{2000, 50}}, 1},
		tc{cpuLayout{name: "split", shape: []int{1_000_003}}, 1},
		tc{cpuLayout{name: "split-2", shape: []int{2, 300_001}, strides: []int{1, 2}}, 1},
		tc{cpuLayout{name: "empty-outer", shape: []int{0, 4}}, 1},
		tc{cpuLayout{name: "empty-inner", shape: []int{3, 0}}, 1},
	)
	for op := backend.ReduceSum; op <= backend.ReduceMin; op++ {
		for _, c := range cases {
			if backend.Numel(c.l.shape[len(c.l.shape)-c.n:]) == 0 && (op == backend.ReduceMax || op == backend.ReduceMin) {
				continue
			}
			name := fmt.Sprintf("%v/%s/n=%d", op, c.l.name, c.n)
			data := h.randF(c.l.span())
			x := cpuF64(cpuRefElems(data, c.l))
			outShape := c.l.shape[:len(c.l.shape)-c.n]
			count := backend.Numel(c.l.shape[len(c.l.shape)-c.n:])
			dst := h.dirty(backend.Float32, backend.Numel(outShape))
			h.d.Reduce(op, dst, c.l.view(h.f32(data)), c.n)
			var want []float64
			if count == 0 {
				want = make([]float64, backend.Numel(outShape))
				if op == backend.ReduceMean {
					for i := range want {
						want[i] = math.NaN()
					}
				}
			} else {
				want = cpuReduceRef(op, x, count)
			}
			cpuClose(t, want, h.readF(dst), 1e-6, 1e-7*cpuAbsSums(x, count), name)
		}
	}
}

func TestCPUReduceNaN(t *testing.T) {
	h := newCPUHarness(t)
	nan := float32(math.NaN())
	for _, l := range []cpuLayout{
		{name: "rows", shape: []int{3, 1000}},
		{name: "columns", shape: []int{1000, 3}, strides: []int{1, 1000}},
		{name: "split", shape: []int{1, 300_000}},
	} {
		data := h.randF(l.span())
		data[1500] = nan // second output of rows/columns, somewhere in split
		x := cpuF64(cpuRefElems(data, l))
		count := l.shape[1]
		for op := backend.ReduceSum; op <= backend.ReduceMin; op++ {
			dst := h.dirty(backend.Float32, l.shape[0])
			h.d.Reduce(op, dst, l.view(h.f32(data)), 1)
			cpuClose(t, cpuReduceRef(op, x, count), h.readF(dst), 1e-6, 1e-7*cpuAbsSums(x, count), fmt.Sprintf("%v %s", op, l.name))
		}
	}
	// -Inf and +Inf are ordinary extremes.
	dst := h.dirty(backend.Float32, 2)
	x := backend.Dense(h.f32([]float32{float32(math.Inf(-1)), float32(math.Inf(-1)), 1, float32(math.Inf(1))}), 2, 2)
	h.d.Reduce(backend.ReduceMax, dst, x, 1)
	assert.Equal(t, []float32{float32(math.Inf(-1)), float32(math.Inf(1))}, h.readF(dst))
}

func TestCPUReduceInt(t *testing.T) {
	h := newCPUHarness(t)
	dst := h.dirty(backend.Int32, 3)
	x := backend.Dense(h.i32([]int32{math.MaxInt32, 1, -5, 7, math.MinInt32, -1}), 3, 2)
	h.d.Reduce(backend.ReduceSum, dst, x, 1)
	assert.Equal(t, []int32{math.MinInt32, 2, math.MaxInt32}, h.readI(dst), "sum wraps")
	h.d.Reduce(backend.ReduceMax, dst, x, 1)
	assert.Equal(t, []int32{math.MaxInt32, 7, -1}, h.readI(dst))
	h.d.Reduce(backend.ReduceMin, dst, x, 1)
	assert.Equal(t, []int32{1, -5, math.MinInt32}, h.readI(dst))

	for _, l := range []cpuLayout{
		{name: "transposed", shape: []int{17, 33}, strides: []int{1, 17}},
		{name: "columns", shape: []int{500, 90}, strides: []int{1, 500}},
		{name: "split", shape: []int{1, 200_000}},
	} {
		data := h.randI(l.span())
		in := cpuRefElems(data, l)
		for op := backend.ReduceSum; op <= backend.ReduceMin; op++ {
			if op == backend.ReduceMean {
				continue
			}
			dst := h.dirty(backend.Int32, l.shape[0])
			h.d.Reduce(op, dst, l.view(h.i32(data)), 1)
			want := make([]int32, l.shape[0])
			for o := range want {
				row := in[o*l.shape[1] : (o+1)*l.shape[1]]
				acc := row[0]
				for _, v := range row[1:] {
					switch op {
					case backend.ReduceSum:
						acc += v
					case backend.ReduceMax:
						acc = max(acc, v)
					case backend.ReduceMin:
						acc = min(acc, v)
					}
				}
				want[o] = acc
			}
			assert.Equal(t, want, h.readI(dst), "%v %s", op, l.name)
		}
	}
}

func TestCPUArgReduce(t *testing.T) {
	h := newCPUHarness(t)
	nan := float32(math.NaN())
	x := []float32{
		2, 5, 5, 1, 1,
		1, nan, 3, nan, -9,
		-1, -1, -1, -1, -1,
		7, 3, 9, 9, nan,
	}
	dst := h.dirty(backend.Int32, 4)
	h.d.ArgReduce(backend.ReduceMax, dst, backend.Dense(h.f32(x), 4, 5))
	assert.Equal(t, []int32{1, 1, 0, 4}, h.readI(dst))
	h.d.ArgReduce(backend.ReduceMin, dst, backend.Dense(h.f32(x), 4, 5))
	assert.Equal(t, []int32{3, 1, 0, 4}, h.readI(dst))

	for _, l := range append(cpuLayouts(17, 33),
		cpuLayout{name: "3d", shape: []int{40, 30, 50}, strides: []int{1, 40 * 50, 40}},
		cpuLayout{name: "vector", shape: []int{1001}},
		cpuLayout{name: "empty", shape: []int{0, 3}}) {
		fdata := h.randF(l.span())
		for i := range fdata {
			fdata[i] = float32(math.Round(float64(fdata[i]) * 2)) // many ties
		}
		idata := h.randI(l.span())
		for _, op := range []backend.ReduceOp{backend.ReduceMax, backend.ReduceMin} {
			n := l.shape[len(l.shape)-1]
			outs := backend.Numel(l.shape) / max(n, 1)
			dst := h.dirty(backend.Int32, outs)
			h.d.ArgReduce(op, dst, l.view(h.f32(fdata)))
			assert.Equal(t, cpuArgRef(op, cpuRefElems(fdata, l), n), h.readI(dst), "float %v %s", op, l.name)
			h.d.ArgReduce(op, dst, l.view(h.i32(idata)))
			assert.Equal(t, cpuArgRef(op, cpuRefElems(idata, l), n), h.readI(dst), "int %v %s", op, l.name)
		}
	}
}

// cpuArgRef finds the first maximum or minimum of each row of n values.
func cpuArgRef[T float32 | int32](op backend.ReduceOp, x []T, n int) []int32 {
	var out []int32
	for o := 0; o+n <= len(x) && n > 0; o += n {
		at := 0
		for i, v := range x[o : o+n] {
			if (op == backend.ReduceMax && v > x[o+at]) || (op == backend.ReduceMin && v < x[o+at]) {
				at = i
			}
		}
		out = append(out, int32(at))
	}
	if out == nil {
		out = []int32{}
	}
	return out
}

// cpuSoftmaxRef computes softmax or log-softmax of each row in float64.
func cpuSoftmaxRef(x []float32, rows, cols int, log bool) []float64 {
	out := make([]float64, len(x))
	for r := range rows {
		row := x[r*cols : (r+1)*cols]
		m := math.Inf(-1)
		for _, v := range row {
			m = math.Max(m, float64(v))
		}
		s := 0.0
		for _, v := range row {
			s += math.Exp(float64(v) - m)
		}
		for i, v := range row {
			if log {
				out[r*cols+i] = float64(v) - m - math.Log(s)
			} else {
				out[r*cols+i] = math.Exp(float64(v)-m) / s
			}
		}
	}
	return out
}

func TestCPUSoftmax(t *testing.T) {
	h := newCPUHarness(t)
	inf := float32(math.Inf(1))
	for _, c := range []struct {
		name       string
		rows, cols int
		x          []float32
	}{
		{name: "1x1", rows: 1, cols: 1},
		{name: "3x17", rows: 3, cols: 17},
		{name: "big", rows: 300, cols: 1001},
		{name: "empty", rows: 0, cols: 5},
		{name: "large-logits", rows: 2, cols: 3, x: []float32{1e4, 1e4 - 1, 0, -1e4, 1e4, 1e4}},
		{name: "minus-inf", rows: 2, cols: 3, x: []float32{-inf, 0, 1, -inf, -inf, 5}},
	} {
		x := c.x
		if x == nil {
			x = h.randF(c.rows * c.cols)
			for i := range x {
				x[i] *= 10
			}
		}
		for _, log := range []bool{false, true} {
			dst := h.dirty(backend.Float32, len(x))
			h.d.Softmax(dst, h.f32(x), c.rows, c.cols, log)
			got := h.readF(dst)
			cpuClose(t, cpuSoftmaxRef(x, c.rows, c.cols, log), got, 1e-5, 1e-7, fmt.Sprintf("%s log=%v", c.name, log))
		}
	}
	// Exact values for the edge rows.
	dst := h.dirty(backend.Float32, 3)
	h.d.Softmax(dst, h.f32([]float32{-inf, -inf, 5}), 1, 3, false)
	assert.Equal(t, []float32{0, 0, 1}, h.readF(dst))
	h.d.Softmax(dst, h.f32([]float32{-inf, -inf, 5}), 1, 3, true)
	assert.Equal(t, []float32{-inf, -inf, 0}, h.readF(dst))
}
