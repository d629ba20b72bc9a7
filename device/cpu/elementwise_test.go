package cpu

import (
	"fmt"
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/wgtensor/wgtensor/device/backend"
)

// cpuExtraLayouts are layouts beyond the 2-D ones: higher rank, scalars,
// empty views and a view large enough to run on several goroutines with
// chunks that start mid-row.
var cpuExtraLayouts = []cpuLayout{
	{name: "scalar", shape: []int{}, offset: 2},
	{name: "empty", shape: []int{0, 5}},
	{name: "empty-inner", shape: []int{4, 0}},
	{name: "ones", shape: []int{1, 1, 1}},
	{name: "permuted-4d", shape: []int{2, 3, 4, 5}, strides: []int{1, 2, 6, 24}},
	{name: "broadcast-4d", shape: []int{3, 1, 4, 5}, strides: []int{5, 7, 0, 1}, offset: 1},
	{name: "big-transposed", shape: []int{301, 257}, strides: []int{1, 301}},
	{name: "big-stepped", shape: []int{257, 301}, strides: []int{700, 2}, offset: 3},
	{name: "batched-transposed", shape: []int{3, 40, 50}, strides: []int{2000, 1, 40}, offset: 5},
	// Blocks of short rows (copied by cpuCopyBlocks first): attention
	// heads of a [128, 8, 32] tensor seen as [8, 128, 32], and rows of 20
	// of every 40.
	{name: "heads-permuted", shape: []int{8, 128, 32}, strides: []int{32, 256, 1}, offset: 3},
	{name: "short-rows", shape: []int{50, 20}, strides: []int{40, 1}, offset: 1},
}

// cpuAllLayouts returns the 2-D layouts of an r×c shape and the extra ones.
func cpuAllLayouts(r, c int) []cpuLayout {
	return append(cpuLayouts(r, c), cpuExtraLayouts...)
}

// contiguousTwin returns the contiguous layout of l's shape, to pair with l
// as the other operand.
func (l cpuLayout) contiguousTwin() cpuLayout {
	return cpuLayout{name: "contiguous", shape: l.shape}
}

func TestCPUCopy(t *testing.T) {
	h := newCPUHarness(t)
	for _, l := range cpuAllLayouts(17, 33) {
		t.Run(l.name, func(t *testing.T) {
			data := h.randF(l.span())
			src := h.f32(data)
			dst := h.dirty(backend.Float32, backend.Numel(l.shape))
			h.d.Copy(backend.Dense(dst, l.shape...), l.view(src))
			assert.Equal(t, cpuRefElems(data, l), h.readF(dst))

			idata := h.randI(l.span())
			isrc := h.i32(idata)
			idst := h.dirty(backend.Int32, backend.Numel(l.shape))
			h.d.Copy(backend.Dense(idst, l.shape...), l.view(isrc))
			assert.Equal(t, cpuRefElems(idata, l), h.readI(idst))
		})
	}
}

func TestCPUCopyIntoStridedDst(t *testing.T) {
	h := newCPUHarness(t)
	// Concatenate a [5, 17] and a [5, 23] tensor along dim 1 into [5, 40].
	a, b := h.randF(5*17), h.randF(5*23)
	dst := h.dirty(backend.Float32, 5*40)
	h.d.Copy(backend.View{Buf: dst, Shape: []int{5, 17}, Strides: []int{40, 1}}, backend.Dense(h.f32(a), 5, 17))
	h.d.Copy(backend.View{Buf: dst, Shape: []int{5, 23}, Strides: []int{40, 1}, Offset: 17}, backend.Dense(h.f32(b), 5, 23))
	got := h.readF(dst)
	for r := range 5 {
		assert.Equal(t, a[r*17:(r+1)*17], got[r*40:r*40+17])
		assert.Equal(t, b[r*23:(r+1)*23], got[r*40+17:(r+1)*40])
	}

	// Write a transposed source into every other column, leaving the rest.
	src := h.randF(6 * 4)
	dst = h.dirty(backend.Float32, 4*12)
	h.d.Copy(backend.View{Buf: dst, Shape: []int{4, 6}, Strides: []int{12, 2}, Offset: 1},
		backend.View{Buf: h.f32(src), Shape: []int{4, 6}, Strides: []int{1, 4}})
	got = h.readF(dst)
	for r := range 4 {
		for c := range 12 {
			want := float32(12345)
			if c%2 == 1 {
				want = src[(c/2)*4+r]
			}
			require.Equal(t, want, got[r*12+c], "r=%d c=%d", r, c)
		}
	}
}

func TestCPUCopyConverts(t *testing.T) {
	h := newCPUHarness(t)
	f := []float32{-2.7, -0.5, 0.5, 2.7, 100.9, -100.9, 0}
	idst := h.dirty(backend.Int32, len(f))
	h.d.Copy(backend.Dense(idst, len(f)), backend.Dense(h.f32(f), len(f)))
	assert.Equal(t, []int32{-2, 0, 0, 2, 100, -100, 0}, h.readI(idst))

	i := []int32{-3, 0, 7, 1 << 24, math.MaxInt32}
	fdst := h.dirty(backend.Float32, len(i))
	h.d.Copy(backend.Dense(fdst, len(i)), backend.Dense(h.i32(i), len(i)))
	assert.Equal(t, []float32{-3, 0, 7, 1 << 24, math.MaxInt32}, h.readF(fdst))

	// Broadcast and convert at once.
	big := h.dirty(backend.Int32, 3*1000)
	h.d.Copy(backend.Dense(big, 3, 1000), backend.View{Buf: h.f32([]float32{1.5, -2.5, 9.99}), Shape: []int{3, 1000}, Strides: []int{1, 0}})
	got := h.readI(big)
	assert.Equal(t, int32(1), got[999])
	assert.Equal(t, int32(-2), got[1000])
	assert.Equal(t, int32(9), got[2999])
}

// cpuSpecials are float32 inputs that exercise the edge cases of the math.
var cpuSpecials = []float32{0, float32(math.Copysign(0, -1)), 1, -1, 0.5, -0.5, 3.7, -3.7, 20, -20, 88, -88,
	1e4, -1e4, 1e-30, -1e-30, float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1))}

// cpuUnaryRef computes a unary op in float64 as the reference.
func cpuUnaryRef(op backend.UnaryOp, x float64) float64 {
	switch op {
	case backend.Neg:
		return -x
	case backend.Abs:
		return math.Abs(x)
	case backend.Sign:
		switch {
		case x > 0:
			return 1
		case x < 0:
			return -1
		}
		return 0
	case backend.Square:
		return x * x
	case backend.Exp:
		return math.Exp(x)
	case backend.Log:
		return math.Log(x)
	case backend.Sqrt:
		return math.Sqrt(x)
	case backend.Rsqrt:
		return 1 / math.Sqrt(x)
	case backend.Recip:
		return 1 / x
	case backend.Sin:
		return math.Sin(x)
	case backend.Cos:
		return math.Cos(x)
	case backend.Tanh:
		return math.Tanh(x)
	case backend.Sigmoid:
		return 1 / (1 + math.Exp(-x))
	case backend.ReLU:
		if x < 0 {
			return 0
		}
		return x
	case backend.GELU:
		return 0.5 * x * (1 + math.Erf(x/math.Sqrt2))
	case backend.GELUGrad:
		return 0.5*(1+math.Erf(x/math.Sqrt2)) + x*math.Exp(-x*x/2)/math.Sqrt(2*math.Pi)
	}
	panic(op)
}

func TestCPUUnaryFloat(t *testing.T) {
	h := newCPUHarness(t)
	for op := backend.Neg; op <= backend.GELUGrad; op++ {
		t.Run(op.String(), func(t *testing.T) {
			for _, l := range []cpuLayout{
				{name: "specials", shape: []int{len(cpuSpecials)}},
				{name: "transposed", shape: []int{33, 17}, strides: []int{1, 33}},
				{name: "heads-permuted", shape: []int{8, 128, 32}, strides: []int{32, 256, 1}, offset: 3},
				{name: "broadcast", shape: []int{5, 7}, strides: []int{1, 0}},
				{name: "big", shape: []int{70001}, offset: 3},
				{name: "empty", shape: []int{0}},
			} {
				data := h.randF(l.span())
				if l.name == "specials" {
					copy(data, cpuSpecials)
				}
				dst := h.dirty(backend.Float32, backend.Numel(l.shape))
				h.d.Unary(op, dst, l.view(h.f32(data)))
				in := cpuRefElems(data, l)
				want := make([]float64, len(in))
				for i, v := range in {
					want[i] = cpuUnaryRef(op, float64(v))
				}
				cpuClose(t, want, h.readF(dst), 2e-6, 1e-30, fmt.Sprintf("%v %s", op, l.name))
			}
		})
	}
}

func TestCPUUnaryEdgeCases(t *testing.T) {
	h := newCPUHarness(t)
	nan := float32(math.NaN())
	run := func(op backend.UnaryOp, x ...float32) []float32 {
		dst := h.dirty(backend.Float32, len(x))
		h.d.Unary(op, dst, backend.Dense(h.f32(x), len(x)))
		return h.readF(dst)
	}
	assert.Equal(t, []float32{1, 0, 0.5}, run(backend.Sigmoid, 1e4, -1e4, 0))
	assert.Equal(t, []float32{1, -1}, run(backend.Tanh, 1e4, -1e4))
	got := run(backend.ReLU, nan, -1, 2)
	assert.True(t, math.IsNaN(float64(got[0])), "ReLU(NaN) = %v", got[0])
	assert.Equal(t, []float32{0, 2}, got[1:])
	assert.Equal(t, []float32{0, 0, 1, -1, 0}, run(backend.Sign, 0, float32(math.Copysign(0, -1)), 5, -5, nan))
	assert.Equal(t, []float32{float32(math.Inf(1)), 0.5}, run(backend.Rsqrt, 0, 4))
	assert.Equal(t, []float32{0, 1e4}, run(backend.GELU, -1e4, 1e4))
	assert.Equal(t, []float32{0, 1}, run(backend.GELUGrad, -1e4, 1e4))
	assert.InDelta(t, 0.8413447, run(backend.GELU, 1)[0], 1e-6)
	assert.InDelta(t, 1.0833155, run(backend.GELUGrad, 1)[0], 1e-6)
}

func TestCPUUnaryInt(t *testing.T) {
	h := newCPUHarness(t)
	x := []int32{0, 5, -5, 50000, math.MinInt32, math.MaxInt32}
	want := map[backend.UnaryOp][]int32{
		backend.Neg:    {0, -5, 5, -50000, math.MinInt32, -math.MaxInt32},
		backend.Abs:    {0, 5, 5, 50000, math.MinInt32, math.MaxInt32},
		backend.Sign:   {0, 1, -1, 1, -1, 1},
		backend.Square: {0, 25, 25, -1794967296, 0, 1},
	}
	for op, w := range want {
		dst := h.dirty(backend.Int32, len(x))
		h.d.Unary(op, dst, backend.Dense(h.i32(x), len(x)))
		assert.Equal(t, w, h.readI(dst), op.String())
	}
	// A strided int view.
	data := h.randI(40)
	dst := h.dirty(backend.Int32, 4*5)
	l := cpuLayout{shape: []int{4, 5}, strides: []int{1, 8}}
	h.d.Unary(backend.Neg, dst, l.view(h.i32(data)))
	for i, v := range cpuRefElems(data, l) {
		assert.Equal(t, -v, h.readI(dst)[i])
	}
}

// cpuBinaryRef computes a binary op on float64 values as the reference.
func cpuBinaryRef(op backend.BinaryOp, a, b float64) float64 {
	switch op {
	case backend.Add:
		return a + b
	case backend.Sub:
		return a - b
	case backend.Mul:
		return a * b
	case backend.Div:
		return a / b
	case backend.Pow:
		return math.Pow(a, b)
	case backend.Maximum:
		if math.IsNaN(a) || math.IsNaN(b) {
			return math.NaN()
		}
		return math.Max(a, b)
	case backend.Minimum:
		if math.IsNaN(a) || math.IsNaN(b) {
			return math.NaN()
		}
		return math.Min(a, b)
	}
	var c bool
	switch op {
	case backend.Eq:
		c = a == b
	case backend.Ne:
		c = a != b
	case backend.Lt:
		c = a < b
	case backend.Le:
		c = a <= b
	case backend.Gt:
		c = a > b
	case backend.Ge:
		c = a >= b
	}
	if c {
		return 1
	}
	return 0
}

// cpuBinaryRefInt computes an int32 binary op with wrapping arithmetic.
func cpuBinaryRefInt(op backend.BinaryOp, a, b int32) int32 {
	switch op {
	case backend.Add:
		return a + b
	case backend.Sub:
		return a - b
	case backend.Mul:
		return a * b
	case backend.Div:
		if b == 0 {
			return 0
		}
		return a / b
	case backend.Maximum:
		return max(a, b)
	case backend.Minimum:
		return min(a, b)
	}
	panic(op)
}

// TestCPUBinaryIntoOperand: an op whose output is its dense operand's
// buffer, beside a view of short rows, reads that operand before writing.
func TestCPUBinaryIntoOperand(t *testing.T) {
	h := newCPUHarness(t)
	l := cpuLayout{name: "short-rows", shape: []int{50, 20}, strides: []int{40, 1}, offset: 1}
	ad, bd := h.randF(l.span()), h.randF(1000)
	b := h.f32(bd)
	h.d.Binary(backend.Sub, b, l.view(h.f32(ad)), backend.Dense(b, 50, 20))
	a := cpuRefElems(ad, l)
	want := make([]float64, len(a))
	for i := range a {
		want[i] = float64(a[i] - bd[i])
	}
	cpuClose(t, want, h.readF(b), 0, 0, "a - b into b")
	x := h.f32(bd)
	h.d.Unary(backend.Neg, x, backend.View{Buf: x, Shape: []int{20, 20}, Strides: []int{40, 1}})
	got := h.readF(x)
	for r := range 20 {
		for c := range 20 {
			assert.Equal(t, -bd[r*40+c], got[r*20+c], "neg of rows of x into x, row %d col %d", r, c)
		}
	}
}

func TestCPUBinaryFloat(t *testing.T) {
	h := newCPUHarness(t)
	pairs := [][2]cpuLayout{}
	for _, l := range cpuAllLayouts(17, 33) {
		pairs = append(pairs, [2]cpuLayout{l, l.contiguousTwin()}, [2]cpuLayout{l.contiguousTwin(), l})
	}
	pairs = append(pairs, [2]cpuLayout{
		{name: "col", shape: []int{100, 130}, strides: []int{1, 0}},
		{name: "row", shape: []int{100, 130}, strides: []int{0, 1}, offset: 4},
	})
	for op := backend.Add; op <= backend.Ge; op++ {
		t.Run(op.String(), func(t *testing.T) {
			for _, p := range pairs {
				ad, bd := h.randF(p[0].span()), h.randF(p[1].span())
				if op == backend.Pow {
					for i := range ad {
						ad[i] = float32(math.Abs(float64(ad[i])))
					}
				}
				if op.IsComparison() && len(bd) > 0 {
					copy(ad, bd[:min(len(ad), len(bd))/2]) // some equal pairs
				}
				dst := h.dirty(backend.Float32, backend.Numel(p[0].shape))
				h.d.Binary(op, dst, p[0].view(h.f32(ad)), p[1].view(h.f32(bd)))
				a, b := cpuRefElems(ad, p[0]), cpuRefElems(bd, p[1])
				want := make([]float64, len(a))
				for i := range a {
					want[i] = cpuBinaryRef(op, float64(a[i]), float64(b[i]))
				}
				cpuClose(t, want, h.readF(dst), 2e-6, 1e-30, fmt.Sprintf("%v %s,%s", op, p[0].name, p[1].name))
			}
		})
	}
}

func TestCPUBinarySpecials(t *testing.T) {
	h := newCPUHarness(t)
	nan, inf := math.NaN(), math.Inf(1)
	a := []float32{float32(nan), 1, float32(nan), 2, 0, -1, float32(inf), 0}
	b := []float32{1, float32(nan), float32(nan), 3, 0, 0.5, float32(inf), -2}
	for op := backend.Add; op <= backend.Ge; op++ {
		dst := h.dirty(backend.Float32, len(a))
		h.d.Binary(op, dst, backend.Dense(h.f32(a), len(a)), backend.Dense(h.f32(b), len(b)))
		want := make([]float64, len(a))
		for i := range a {
			want[i] = cpuBinaryRef(op, float64(a[i]), float64(b[i]))
		}
		cpuClose(t, want, h.readF(dst), 1e-6, 0, op.String())
	}
}

func TestCPUBinaryInt(t *testing.T) {
	h := newCPUHarness(t)
	extra := []int32{math.MaxInt32, math.MinInt32, 7, -7, 0}
	for op := backend.Add; op <= backend.Ge; op++ {
		if op == backend.Pow {
			continue
		}
		for _, l := range []cpuLayout{
			{name: "transposed", shape: []int{17, 33}, strides: []int{1, 17}},
			{name: "broadcast", shape: []int{17, 33}, strides: []int{0, 1}, offset: 2},
			{name: "big", shape: []int{300, 301}},
			{name: "empty", shape: []int{0, 3}},
		} {
			ad, bd := h.randI(l.span()), h.randI(backend.Numel(l.shape))
			if len(ad) >= len(extra) && len(bd) >= len(extra) {
				copy(ad, extra)
				copy(bd, []int32{1, 1, 0, 2, 0}) // overflow, division by zero
			}
			a := cpuRefElems(ad, l)
			switch op {
			case backend.Eq, backend.Ne, backend.Lt, backend.Le, backend.Gt, backend.Ge:
				dst := h.dirty(backend.Float32, len(a))
				h.d.Binary(op, dst, l.view(h.i32(ad)), backend.Dense(h.i32(bd), l.shape...))
				want := make([]float64, len(a))
				for i := range a {
					want[i] = cpuBinaryRef(op, float64(a[i]), float64(bd[i]))
				}
				cpuClose(t, want, h.readF(dst), 0, 0, fmt.Sprintf("%v %s", op, l.name))
			default:
				dst := h.dirty(backend.Int32, len(a))
				h.d.Binary(op, dst, l.view(h.i32(ad)), backend.Dense(h.i32(bd), l.shape...))
				want := make([]int32, len(a))
				for i := range a {
					want[i] = cpuBinaryRefInt(op, a[i], bd[i])
				}
				assert.Equal(t, want, h.readI(dst), "%v %s", op, l.name)
			}
		}
	}
}

func TestCPUBinaryScalar(t *testing.T) {
	for _, l := range []cpuLayout{
		{shape: []int{13, 9}, strides: []int{1, 13}},
		{shape: []int{50, 20}, strides: []int{40, 1}, offset: 1}, // short rows
	} {
		testCPUBinaryScalar(t, l)
	}
}

func testCPUBinaryScalar(t *testing.T, l cpuLayout) {
	h := newCPUHarness(t)
	data := h.randF(l.span())
	x := l.view(h.f32(data))
	in := cpuRefElems(data, l)
	for _, op := range []backend.BinaryOp{backend.Add, backend.Sub, backend.Div, backend.Pow, backend.Maximum, backend.Lt, backend.Ge} {
		for _, first := range []bool{false, true} {
			const s = 1.5
			dst := h.dirty(backend.Float32, len(in))
			h.d.BinaryScalar(op, dst, x, s, first)
			want := make([]float64, len(in))
			for i, v := range in {
				if first {
					want[i] = cpuBinaryRef(op, cpuRound32(s), float64(v))
				} else {
					want[i] = cpuBinaryRef(op, float64(v), cpuRound32(s))
				}
			}
			cpuClose(t, want, h.readF(dst), 2e-6, 0, fmt.Sprintf("%v first=%v", op, first))
		}
	}

	// Int inputs take the scalar as int32: 2.7 becomes 2.
	xi := backend.Dense(h.i32([]int32{-3, 0, 5, 2}), 4)
	di := h.dirty(backend.Int32, 4)
	h.d.BinaryScalar(backend.Sub, di, xi, 2.7, true)
	assert.Equal(t, []int32{5, 2, -3, 0}, h.readI(di))
	h.d.BinaryScalar(backend.Mul, di, xi, 2.7, false)
	assert.Equal(t, []int32{-6, 0, 10, 4}, h.readI(di))
	df := h.dirty(backend.Float32, 4)
	h.d.BinaryScalar(backend.Eq, df, xi, 2.7, false)
	assert.Equal(t, []float32{0, 0, 0, 1}, h.readF(df))

	h.d.BinaryScalar(backend.Add, h.dirty(backend.Float32, 0), backend.Dense(h.f32(nil), 0), 1, false)
}

// cpuRound32 rounds v to float32 and back, as the device converts scalars.
func cpuRound32(v float64) float64 { return float64(float32(v)) }

func TestCPUWhere(t *testing.T) {
	h := newCPUHarness(t)
	nan := float32(math.NaN())
	cond := []float32{0, 1, nan, float32(math.Copysign(0, -1)), -2, 0}
	a := []float32{1, 2, 3, 4, 5, 6}
	dst := h.dirty(backend.Float32, 6)
	h.d.Where(dst, backend.Dense(h.f32(cond), 6), backend.Dense(h.f32(a), 6),
		backend.View{Buf: h.f32([]float32{-9}), Shape: []int{6}, Strides: []int{0}})
	assert.Equal(t, []float32{-9, 2, 3, -9, 5, -9}, h.readF(dst))
	idst := h.dirty(backend.Int32, 6)
	h.d.Where(idst, backend.Dense(h.f32(cond), 6), backend.Dense(h.i32([]int32{1, 2, 3, 4, 5, 6}), 6), backend.Dense(h.i32(make([]int32, 6)), 6))
	assert.Equal(t, []int32{0, 2, 3, 0, 5, 0}, h.readI(idst))

	// Int condition and int values, with broadcast and transposed views.
	for _, l := range cpuAllLayouts(17, 33) {
		cd := h.randI(l.span())
		for i := range cd {
			cd[i] %= 2
		}
		ad, bd := h.randI(backend.Numel(l.shape)), h.randI(backend.Numel(l.shape))
		idst := h.dirty(backend.Int32, backend.Numel(l.shape))
		bt := cpuLayout{shape: l.shape, strides: backend.ContiguousStrides(l.shape)}
		h.d.Where(idst, l.view(h.i32(cd)), backend.Dense(h.i32(ad), l.shape...), bt.view(h.i32(bd)))
		c := cpuRefElems(cd, l)
		want := make([]int32, len(c))
		for i := range c {
			want[i] = bd[i]
			if c[i] != 0 {
				want[i] = ad[i]
			}
		}
		assert.Equal(t, want, h.readI(idst), l.name)

		// An int condition choosing between float values.
		fdst := h.dirty(backend.Float32, backend.Numel(l.shape))
		fa, fb := h.randF(backend.Numel(l.shape)), h.randF(l.span())
		h.d.Where(fdst, backend.Dense(h.i32(c), l.shape...), backend.Dense(h.f32(fa), l.shape...), l.view(h.f32(fb)))
		b := cpuRefElems(fb, l)
		fwant := make([]float32, len(c))
		for i := range c {
			fwant[i] = b[i]
			if c[i] != 0 {
				fwant[i] = fa[i]
			}
		}
		assert.Equal(t, fwant, h.readF(fdst), l.name)
	}
}
