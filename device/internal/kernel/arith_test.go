package kernel

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestArith compares Arith with the scalar operations bit for bit, on
// lengths around the vector width and on special values.
func TestArith(t *testing.T) {
	ops := map[ArithOp]func(a, b float32) float32{
		AddOp: func(a, b float32) float32 { return a + b },
		SubOp: func(a, b float32) float32 { return a - b },
		MulOp: func(a, b float32) float32 { return a * b },
		DivOp: func(a, b float32) float32 { return a / b },
		EqOp:  func(a, b float32) float32 { return bit(a == b) },
		NeOp:  func(a, b float32) float32 { return bit(a != b) },
		LtOp:  func(a, b float32) float32 { return bit(a < b) },
		LeOp:  func(a, b float32) float32 { return bit(a <= b) },
		GtOp:  func(a, b float32) float32 { return bit(a > b) },
		GeOp:  func(a, b float32) float32 { return bit(a >= b) },
		MaxOp: func(a, b float32) float32 {
			if b > a || b != b {
				return b
			}
			return a
		},
		MinOp: func(a, b float32) float32 {
			if b < a || b != b {
				return b
			}
			return a
		},
	}
	r := rand.New(rand.NewPCG(5, 6))
	specials := []float32{0, float32(math.Copysign(0, -1)), 1, -3, float32(math.Inf(1)), float32(math.Inf(-1)), float32(math.NaN()), 1e-40, 3e38}
	for op, f := range ops {
		for _, n := range []int{0, 1, 15, 16, 17, 31, 32, 33, 100, 1000} {
			x, y := make([]float32, n+1), make([]float32, n+1)
			for i := range x {
				x[i], y[i] = float32(r.NormFloat64()), float32(r.NormFloat64())
				if i%5 == 0 {
					x[i], y[i] = specials[i%len(specials)], specials[(i/5)%len(specials)]
				}
				if i%7 == 0 {
					y[i] = x[i] // equal pairs for the comparisons, NaN included
				}
			}
			dst := make([]float32, n)
			for i := range dst {
				dst[i] = 12345
			}
			done := Arith(op, dst, x, y)
			if HasAVX2 && done != n&^15 {
				t.Fatalf("op %d, n=%d: did %d elements, want %d", op, n, done, n&^15)
			}
			for i := range done {
				want := f(x[i], y[i])
				if math.Float32bits(dst[i]) != math.Float32bits(want) && !(want != want && dst[i] != dst[i]) {
					t.Fatalf("op %d, n=%d: element %d = %v, want %v", op, n, i, dst[i], want)
				}
			}
			for i := done; i < n; i++ {
				if dst[i] != 12345 {
					t.Fatalf("op %d, n=%d: element %d past the prefix was written", op, n, i)
				}
			}
		}
	}
}

// TestSelect compares Select with the scalar choice bit for bit, on lengths
// around the vector width, with conditions of 0, -0, NaN, infinities and
// random signs (NaN selects x, -0 selects y, as the scalar c != 0).
func TestSelect(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	conds := []float32{0, float32(math.Copysign(0, -1)), 1, -1, float32(math.NaN()), float32(math.Inf(-1)), 1e-40}
	for _, n := range []int{0, 1, 15, 16, 17, 31, 32, 33, 100, 1000} {
		c, x, y := make([]float32, n+1), make([]float32, n+1), make([]float32, n+1)
		for i := range c {
			c[i] = conds[r.IntN(len(conds))]
			x[i], y[i] = float32(r.NormFloat64()), float32(r.NormFloat64())
			if i%9 == 0 {
				x[i] = float32(math.NaN())
			}
		}
		dst := make([]float32, n)
		for i := range dst {
			dst[i] = 12345
		}
		done := Select(dst, c, x, y)
		if HasAVX2 && done != n&^15 {
			t.Fatalf("n=%d: did %d elements, want %d", n, done, n&^15)
		}
		for i := range done {
			want := y[i]
			if c[i] != 0 {
				want = x[i]
			}
			if math.Float32bits(dst[i]) != math.Float32bits(want) {
				t.Fatalf("n=%d: element %d (condition %v) = %v, want %v", n, i, c[i], dst[i], want)
			}
		}
		for i := done; i < n; i++ {
			if dst[i] != 12345 {
				t.Fatalf("n=%d: element %d past the prefix was written", n, i)
			}
		}
	}
}

// TestCopyRows checks the row copies against a plain loop, gathering
// (a dense destination) and scattering (a dense source), for the sliver
// widths and, with AVX-512, others with and without a masked tail.
func TestCopyRows(t *testing.T) {
	for _, width := range []int{16, 32, 1, 7, 14, 28, 48} {
		for _, rows := range []int{1, 2, 7} {
			for _, ld := range [][2]int{{width, width + 5}, {width + 3, width}} {
				ldDst, ldSrc := ld[0], ld[1]
				src := make([]float32, (rows-1)*ldSrc+width)
				for i := range src {
					src[i] = float32(i)
				}
				size := (rows-1)*ldDst + width
				dst := make([]float32, size+1)
				for i := range dst {
					dst[i] = -1
				}
				ok := CopyRows(dst[:size], src, width, rows, ldDst, ldSrc)
				if want := HasAVX512 || HasAVX2 && (width == 16 || width == 32); ok != want {
					t.Fatalf("width %d: CopyRows reported %v with AVX2 %v, AVX-512 %v", width, ok, HasAVX2, HasAVX512)
				}
				if !ok {
					continue
				}
				for i := range dst {
					r, j := i/ldDst, i%ldDst
					want := float32(-1)
					if r < rows && j < width {
						want = src[r*ldSrc+j]
					}
					if dst[i] != want {
						t.Fatalf("width %d rows %d ld %v: dst[%d] = %v, want %v", width, rows, ld, i, dst[i], want)
					}
				}
			}
		}
	}
}

// TestTranspose checks the block transposition against a plain loop for
// line counts and lengths below, at and above the 16×16 block, leaving the
// rest of the destination alone.
func TestTranspose(t *testing.T) {
	for _, lines := range []int{1, 5, 12, 16, 17, 32} {
		for _, kb := range []int{1, 7, 16, 19, 196} {
			ld, w := kb+3, lines+2
			src := make([]float32, (lines-1)*ld+kb)
			for i := range src {
				src[i] = float32(i)
			}
			dst := make([]float32, kb*w)
			for i := range dst {
				dst[i] = -1
			}
			ok := Transpose(dst, w, src, ld, lines, kb)
			if ok != HasAVX512 {
				t.Fatalf("Transpose reported %v with AVX-512 %v", ok, HasAVX512)
			}
			if !ok {
				continue
			}
			for i, got := range dst {
				p, q := i/w, i%w
				want := float32(-1)
				if q < lines {
					want = src[q*ld+p]
				}
				if got != want {
					t.Fatalf("lines %d kb %d: dst[%d] = %v, want %v", lines, kb, i, got, want)
				}
			}
		}
	}
}

// bit is 1 for true and 0 for false.
func bit(b bool) float32 {
	if b {
		return 1
	}
	return 0
}

// TestAxpy checks the vector prefix against the scalar sum, bit for bit
// up to the fused multiply-add's single rounding.
func TestAxpy(t *testing.T) {
	for _, n := range []int{0, 1, 7, 8, 9, 31, 64, 100} {
		x, dst := make([]float32, n), make([]float32, n)
		for i := range x {
			x[i], dst[i] = float32(i)-3.5, float32(2*i)+0.25
		}
		want := make([]float32, n)
		for i := range want {
			want[i] = float32(math.FMA(-1.5, float64(x[i]), float64(dst[i])))
		}
		done := Axpy(dst, x, -1.5)
		if HasAVX2 && done != n&^7 {
			t.Fatalf("n=%d: did %d", n, done)
		}
		for i := range done {
			if dst[i] != want[i] {
				t.Fatalf("n=%d: dst[%d] = %v, want %v", n, i, dst[i], want[i])
			}
		}
	}
}

// TestDot: lengths around the 8- and 32-float steps, against float64; a
// NaN and an infinity propagate.
func TestDot(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	for _, n := range []int{0, 1, 7, 8, 9, 31, 32, 33, 40, 100, 1280} {
		x, y := make([]float32, n), make([]float32, n+3)
		for i := range x {
			x[i] = rng.Float32()*2 - 1
		}
		for i := range y {
			y[i] = rng.Float32()*2 - 1
		}
		got, done := Dot(x, y)
		if !HasAVX2 {
			assert.Equal(t, 0, done)
			continue
		}
		require.Equal(t, n&^7, done, "n=%d", n)
		var want, mag float64
		for i := range done {
			want += float64(x[i]) * float64(y[i])
			mag += math.Abs(float64(x[i]) * float64(y[i]))
		}
		assert.InDelta(t, want, got, 1e-6*mag+1e-7, "n=%d", n)
	}
	if HasAVX2 {
		x, y := make([]float32, 40), make([]float32, 40)
		x[35] = float32(math.NaN())
		got, _ := Dot(x, y)
		assert.True(t, math.IsNaN(float64(got)), "NaN")
		x[35], x[3], y[3] = 0, float32(math.Inf(1)), 2
		got, _ = Dot(x, y)
		assert.True(t, math.IsInf(float64(got), 1), "Inf")
	}
}

// TestSumF64: lengths around the 16-element step, against float64, with
// values whose float32 sum would round; NaN and infinities propagate.
func TestSumF64(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	for _, n := range []int{0, 1, 15, 16, 17, 33, 64, 1000} {
		x := make([]float32, n)
		for i := range x {
			x[i] = (rng.Float32()*2 - 1) * 1e4
		}
		got, done := SumF64(x)
		if !HasAVX2 {
			assert.Equal(t, 0, done)
			continue
		}
		require.Equal(t, n&^15, done, "n=%d", n)
		var want float64
		for _, v := range x[:done] {
			want += float64(v)
		}
		assert.InDelta(t, want, got, 1e-9*float64(n)*1e4+1e-12, "n=%d", n)
	}
	if HasAVX2 {
		x := make([]float32, 32)
		x[20] = float32(math.NaN())
		got, _ := SumF64(x)
		assert.True(t, math.IsNaN(got), "NaN")
		x[20], x[3] = 0, float32(math.Inf(-1))
		got, _ = SumF64(x)
		assert.True(t, math.IsInf(got, -1), "-Inf")
	}
}

// TestEpilogue checks the vector prefix against EpilogueArgs.Step bit for
// bit, with and without a residual, clamped and not, with the hard swish
// and the affine step, NaN kept; and Step against the formula.
func TestEpilogue(t *testing.T) {
	inf := float32(math.Inf(1))
	nan := float32(math.NaN())
	for _, n := range []int{0, 1, 7, 8, 9, 31, 64, 100} {
		for _, withRes := range []bool{false, true} {
			for _, bounds := range [][2]float32{{-inf, inf}, {0, inf}, {0, 6}} {
				for flags := range uint32(4) {
					e := NewEpilogueArgs(0.5, bounds[0], bounds[1])
					e.Flags, e.Scale, e.Shift = flags, 1.25, -0.75
					dst, res := make([]float32, n), make([]float32, n)
					for i := range dst {
						dst[i], res[i] = float32(i%13)-6.5, float32(i%5)-1.75
					}
					if n > 3 {
						dst[3] = nan
					}
					r := res
					if !withRes {
						r = nil
					}
					want := slices.Clone(dst)
					for i := range want {
						var ri float32
						if withRes {
							ri = res[i]
						}
						want[i] = e.Step(want[i], ri)
					}
					done := Epilogue(dst, r, &e)
					if HasAVX2 && done != n&^7 {
						t.Fatalf("n=%d: did %d", n, done)
					}
					for i := range done {
						if dst[i] != want[i] && !(want[i] != want[i] && dst[i] != dst[i]) {
							t.Fatalf("n=%d res=%v bounds=%v flags=%d: dst[%d] = %v, want %v", n, withRes, bounds, flags, i, dst[i], want[i])
						}
					}
				}
			}
		}
	}
	e := NewEpilogueArgs(1, -inf, inf)
	e.Flags, e.Scale, e.Shift = EpilogueHardSwish|EpilogueAffine, 2, 0.5
	// (x+1)·clamp((x+1)/6 + 1/2, 0, 1)·2 + 1/2
	for _, c := range [][2]float32{{-5, 0.5}, {-4, 0.5}, {-1, 0.5}, {0, 2*(1*(1.0/6+0.5)) + 0.5}, {2, 6.5}, {5, 12.5}} {
		if got := e.Step(c[0], 0); math.Abs(float64(got-c[1])) > 1e-6 {
			t.Errorf("Step(%v) = %v, want %v", c[0], got, c[1])
		}
	}
}

// TestDepthwise checks the vector prefix against the sums of the taps, in
// the kernel's order of additions.
func TestDepthwise(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	offs := []int{0, 1, 2, 37, 38, 39, 74, 75, 76}
	w := make([]float32, len(offs))
	for i := range w {
		w[i] = float32(rng.NormFloat64())
	}
	for _, n := range []int{0, 1, 63, 64, 65, 200, 256} {
		src := make([]float32, n+80)
		for i := range src {
			src[i] = float32(rng.NormFloat64())
		}
		dst := make([]float32, n)
		done := Depthwise(dst, src, offs, w)
		if HasAVX512 && done != n&^63 {
			t.Fatalf("n=%d: did %d", n, done)
		}
		for j := range done {
			var want float32
			for k, o := range offs {
				want = float32(math.FMA(float64(w[k]), float64(src[o+j]), float64(want)))
			}
			if dst[j] != want {
				t.Fatalf("n=%d: dst[%d] = %v, want %v", n, j, dst[j], want)
			}
		}
	}
}

// TestDeinterleave checks the split of rows of every length around the
// vector step into their even and odd elements.
func TestDeinterleave(t *testing.T) {
	for _, n := range []int{0, 1, 2, 15, 31, 32, 33, 64, 100, 111} {
		src := make([]float32, n)
		for i := range src {
			src[i] = float32(i) + 0.5
		}
		even, odd := make([]float32, (n+1)/2), make([]float32, n/2)
		Deinterleave(even, odd, src)
		for i := range n / 2 {
			if even[i] != src[2*i] || odd[i] != src[2*i+1] {
				t.Fatalf("n=%d: pair %d = (%v, %v), want (%v, %v)", n, i, even[i], odd[i], src[2*i], src[2*i+1])
			}
		}
	}
}

// TestEvenColumns: widths around the chunks of 16, rows apart by more
// than they hold, src cut right after the last element read, nothing
// written between or after the rows, and short slices refused.
func TestEvenColumns(t *testing.T) {
	if !HasAVX512 {
		require.False(t, EvenColumns(make([]float32, 4), 2, make([]float32, 4), 2, 1, 1))
		t.Skip("no AVX-512: EvenColumns reports false, the callers' loops run")
	}
	for width := 1; width <= 50; width++ {
		for rows := 1; rows <= 3; rows++ {
			ldDst, ldSrc := width+3, 2*width+5
			src := make([]float32, (rows-1)*ldSrc+2*width-1)
			for i := range src {
				src[i] = float32(i) + 0.5
			}
			dst := make([]float32, (rows-1)*ldDst+width+2)
			for i := range dst {
				dst[i] = -1
			}
			require.True(t, EvenColumns(dst, ldDst, src, ldSrc, rows, width))
			for i, v := range dst {
				r, c := i/ldDst, i%ldDst
				want := float32(-1)
				if r < rows && c < width {
					want = src[r*ldSrc+2*c]
				}
				require.Equal(t, want, v, "width %d rows %d: dst[%d]", width, rows, i)
			}
		}
	}
	require.Panics(t, func() { EvenColumns(make([]float32, 20), 10, make([]float32, 20), 10, 2, 6) })
	require.Panics(t, func() { EvenColumns(make([]float32, 15), 10, make([]float32, 21), 10, 2, 6) })
}

// TestGather: lengths around the chunks of 16, positions anywhere in src
// and negative ones (zeros), nothing written past dst, and positions
// outside src refused.
func TestGather(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	src := make([]float32, 300)
	for i := range src {
		src[i] = float32(i) + 0.5
	}
	for n := 0; n <= 50; n++ {
		idx := make([]int32, n)
		for i := range idx {
			idx[i] = int32(rng.IntN(len(src)+100)) - 100
		}
		dst := make([]float32, n+1)
		for i := range dst {
			dst[i] = 42
		}
		Gather(dst[:n], src, NewGatherIndex(idx))
		for i, at := range idx {
			want := float32(0)
			if at >= 0 {
				want = src[at]
			}
			require.Equal(t, want, dst[i], "n %d: element %d", n, i)
		}
		require.Equal(t, float32(42), dst[n], "n %d: wrote past dst", n)
	}
	assert.Panics(t, func() { Gather(make([]float32, 2), src, NewGatherIndex([]int32{0, 300})) })
	assert.Panics(t, func() { Gather(make([]float32, 3), src, NewGatherIndex([]int32{0, 1})) })
}

// TestDepthwiseS1 compares DepthwiseS1 with a plain loop over planes one
// chunk wide and several, square and uneven kernels and padding, a kernel
// as large as its plane, three channels at once, with and without an
// epilogue, and a NaN input.
func TestDepthwiseS1(t *testing.T) {
	if !HasAVX512 {
		assert.False(t, DepthwiseS1(nil, nil, nil, nil, nil, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0))
		return
	}
	for i, c := range []depthwiseCase{
		{7, 7, 3, 3, 1, 1, 1}, {14, 14, 3, 3, 1, 1, 1}, {3, 3, 5, 5, 2, 2, 1}, {12, 12, 5, 5, 2, 2, 1},
		{20, 37, 3, 3, 1, 1, 1}, {5, 16, 3, 3, 1, 1, 1}, {4, 17, 3, 3, 1, 1, 1}, {1, 1, 1, 1, 0, 0, 1},
		{9, 9, 3, 3, 0, 0, 1}, {8, 10, 3, 5, 1, 2, 1}, {6, 33, 7, 7, 3, 3, 1}, {2, 3, 3, 3, 2, 2, 1},
		{3, 5, 3, 3, 1, 1, 1}, {1, 20, 3, 3, 1, 1, 1},
	} {
		checkDepthwise(t, i, c, func(dst, src, w, bias []float32, oh, ow int, lo, hi float32) bool {
			return DepthwiseS1(dst, src, w, bias, DepthwiseMasks(c.wd, ow, c.kw, c.padW), depthwiseChannels, c.h, c.wd, oh, ow, c.kh, c.kw, c.padH, c.padW, lo, hi)
		})
	}
}

// TestDepthwise3x3S2: planes of odd and even sizes, wider than two chunks
// of output, narrower than one, padding of 0 to 2.
func TestDepthwise3x3S2(t *testing.T) {
	if !HasAVX512 {
		assert.False(t, Depthwise3x3S2(nil, nil, nil, nil, nil, 1, 1, 1, 1, 1, 1, 1, 0, 0))
		return
	}
	for i, c := range []depthwiseCase{
		{112, 112, 3, 3, 1, 1, 2}, {7, 7, 3, 3, 1, 1, 2}, {14, 14, 3, 3, 1, 1, 2}, {9, 75, 3, 3, 1, 1, 2},
		{5, 64, 3, 3, 0, 0, 2}, {6, 33, 3, 3, 1, 1, 2}, {2, 2, 3, 3, 1, 1, 2}, {3, 3, 3, 3, 2, 2, 2},
		{1, 40, 3, 3, 1, 1, 2}, {8, 31, 3, 3, 1, 2, 2},
	} {
		checkDepthwise(t, i, c, func(dst, src, w, bias []float32, oh, ow int, lo, hi float32) bool {
			return Depthwise3x3S2(dst, src, w, bias, DepthwiseS2Masks(c.wd, ow, c.padW), depthwiseChannels, c.h, c.wd, oh, ow, c.padH, c.padW, lo, hi)
		})
	}
}

// depthwiseCase is a plane h×wd, a kernel kh×kw, padding and stride.
type depthwiseCase struct{ h, wd, kh, kw, padH, padW, stride int }

// depthwiseChannels is the channels of checkDepthwise's planes.
const depthwiseChannels = 3

// checkDepthwise runs the depthwise convolution c of random planes through
// run and checks it against float64: case i takes an epilogue when it is
// odd, and a NaN input when it is 5.
func checkDepthwise(t *testing.T, i int, c depthwiseCase, run func(dst, src, w, bias []float32, oh, ow int, lo, hi float32) bool) {
	t.Helper()
	rng := rand.New(rand.NewPCG(3, uint64(i)))
	inf := float32(math.Inf(1))
	const channels = depthwiseChannels
	var bias []float32
	lo, hi := -inf, inf
	if i%2 == 1 {
		bias, lo, hi = []float32{0.25, -0.125, 0.5}, -0.5, 0.75
	}
	oh, ow := (c.h+2*c.padH-c.kh)/c.stride+1, (c.wd+2*c.padW-c.kw)/c.stride+1
	plane, oplane, taps := c.h*c.wd, oh*ow, c.kh*c.kw
	src := make([]float32, channels*plane)
	w := make([]float32, channels*taps)
	for i := range src {
		src[i] = rng.Float32()*2 - 1
	}
	for i := range w {
		w[i] = rng.Float32()*2 - 1
	}
	if i == 5 {
		src[plane+plane/2] = float32(math.NaN())
	}
	dst := make([]float32, channels*oplane+1)
	dst[channels*oplane] = 42 // must stay
	require.True(t, run(dst, src, w, bias, oh, ow, lo, hi))
	for ch := range channels {
		for oy := range oh {
			for ox := range ow {
				var want float64
				for ky := range c.kh {
					for kx := range c.kw {
						iy, ix := oy*c.stride+ky-c.padH, ox*c.stride+kx-c.padW
						if iy >= 0 && iy < c.h && ix >= 0 && ix < c.wd {
							want += float64(w[ch*taps+ky*c.kw+kx]) * float64(src[ch*plane+iy*c.wd+ix])
						}
					}
				}
				if bias != nil {
					want += float64(bias[ch])
				}
				want = min(max(want, float64(lo)), float64(hi))
				got := dst[ch*oplane+oy*ow+ox]
				if math.IsNaN(want) {
					require.True(t, math.IsNaN(float64(got)), "%+v channel %d at (%d, %d): got %v, want NaN", c, ch, oy, ox, got)
					continue
				}
				require.InDelta(t, want, got, 1e-5, "%+v channel %d at (%d, %d)", c, ch, oy, ox)
			}
		}
	}
	assert.Equal(t, float32(42), dst[channels*oplane], "%+v: written past the output", c)
}
