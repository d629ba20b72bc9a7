package kernel

import (
	"math"
	"unsafe"
)

// ArithOp names an elementwise float32 operation that Arith vectorises.
type ArithOp uint8

// The operations of Arith: arithmetic, and comparisons that give 1 where
// they hold and 0 elsewhere (false for NaN but for NeOp, as Go's operators).
const (
	AddOp ArithOp = iota
	SubOp
	MulOp
	DivOp
	EqOp
	NeOp
	LtOp
	LeOp
	GtOp
	GeOp
	MaxOp // the larger, NaN of either operand propagating
	MinOp // the smaller, NaN of either operand propagating
)

// Arith writes dst[i] = x[i] op y[i] for the longest prefix of dst whose
// length is a multiple of 16 and returns that length; the caller does the
// rest. It returns 0 without AVX2. x and y must be at least as long as dst.
func Arith(op ArithOp, dst, x, y []float32) int {
	n := len(dst) &^ 15
	if !HasAVX2 || n == 0 || int(op) >= len(arithAVX2) {
		return 0
	}
	_, _ = x[n-1], y[n-1]
	arithAVX2[op](unsafe.SliceData(dst), unsafe.SliceData(x), unsafe.SliceData(y), n)
	return n
}

// arithAVX2 holds the kernel of each ArithOp.
var arithAVX2 = [...]func(dst, x, y *float32, n int){
	AddOp: addAVX2, SubOp: subAVX2, MulOp: mulAVX2, DivOp: divAVX2,
	EqOp: eqAVX2, NeOp: neAVX2, LtOp: ltAVX2, LeOp: leAVX2, GtOp: gtAVX2, GeOp: geAVX2,
	MaxOp: maximumAVX2, MinOp: minimumAVX2,
}

// Select writes dst[i] = x[i] where c[i] is non-zero (NaN included, -0 not)
// and y[i] elsewhere, for the longest prefix of dst whose length is a
// multiple of 16, and returns that length; the caller does the rest. It
// returns 0 without AVX2. c, x and y must be at least as long as dst. It
// has no branch per element, which would mispredict on random conditions
// such as the masks of derivative rules.
func Select(dst, c, x, y []float32) int {
	n := len(dst) &^ 15
	if !HasAVX2 || n == 0 {
		return 0
	}
	_, _, _ = c[n-1], x[n-1], y[n-1]
	selectAVX2(unsafe.SliceData(dst), unsafe.SliceData(c), unsafe.SliceData(x), unsafe.SliceData(y), n)
	return n
}

// Axpy adds a·x[i] to dst[i] for the longest prefix of dst whose length is a
// multiple of 8 and returns that length; the caller does the rest. It
// returns 0 without AVX2 and FMA. x must be at least as long as dst.
func Axpy(dst, x []float32, a float32) int {
	n := len(dst) &^ 7
	if !HasAVX2 || n == 0 {
		return 0
	}
	_ = x[n-1]
	axpyAVX2(unsafe.SliceData(dst), unsafe.SliceData(x), a, n)
	return n
}

// Dot returns the sum of x[i]·y[i] over the longest prefix of x whose
// length is a multiple of 8, and that length; the caller adds the rest.
// It returns 0, 0 without AVX2 and FMA. y must be at least as long as x.
func Dot(x, y []float32) (float32, int) {
	n := len(x) &^ 7
	if !HasAVX2 || n == 0 {
		return 0, 0
	}
	_ = y[n-1]
	return dotAVX2(unsafe.SliceData(x), unsafe.SliceData(y), n), n
}

// SumF64 returns the sum of the longest prefix of x whose length is a
// multiple of 16, accumulated in float64, and that length; the caller adds
// the rest. It returns 0, 0 without AVX2.
func SumF64(x []float32) (float64, int) {
	n := len(x) &^ 15
	if !HasAVX2 || n == 0 {
		return 0, 0
	}
	return sumF64AVX2(unsafe.SliceData(x), n), n
}

// EpilogueArgs are the constants of Epilogue; the layout is the assembly's.
type EpilogueArgs struct {
	Bias, Lo, Hi float32 // Lo and Hi ±Inf for no clamp
	Scale, Shift float32 // with EpilogueAffine
	A, B, One    float32 // the hard sigmoid's slope and offset, and 1: NewEpilogueArgs sets them
	Flags        uint32
}

// The flags of EpilogueArgs.
const (
	EpilogueHardSwish = 1 << iota // v·hardsigmoid(v) after the clamp
	EpilogueAffine                // v·Scale + Shift last
)

// NewEpilogueArgs returns the arguments of an epilogue that adds bias and
// clamps to [lo, hi], with no other step.
func NewEpilogueArgs(bias, lo, hi float32) EpilogueArgs {
	return EpilogueArgs{Bias: bias, Lo: lo, Hi: hi, A: 1.0 / 6, B: 0.5, One: 1}
}

// Step applies the epilogue to one element; Epilogue does the same in
// vector steps.
func (e *EpilogueArgs) Step(v, res float32) float32 {
	v = v + e.Bias + res
	if v < e.Lo {
		v = e.Lo
	}
	if v > e.Hi {
		v = e.Hi
	}
	if e.Flags&EpilogueHardSwish != 0 {
		t := v*e.A + e.B
		if t < 0 {
			t = 0
		}
		if t > 1 {
			t = 1
		}
		v *= t
	}
	if e.Flags&EpilogueAffine != 0 {
		v = v*e.Scale + e.Shift
	}
	return v
}

// Epilogue writes dst[i] = e.Step(dst[i], res[i]) (res 0 when it is nil),
// NaN staying NaN, for the longest prefix of dst whose length is a multiple
// of 8, and returns that length; the caller does the rest. It returns 0
// without AVX2 and FMA. res, when not nil, must be at least as long as dst.
func Epilogue(dst, res []float32, e *EpilogueArgs) int {
	n := len(dst) &^ 7
	if !HasAVX2 || n == 0 {
		return 0
	}
	var r *float32
	if res != nil {
		_ = res[n-1]
		r = unsafe.SliceData(res)
	}
	epilogueAVX2(unsafe.SliceData(dst), r, n, e)
	return n
}

// DepthwiseMasks returns the masks of DepthwiseS1 for a plane wd wide,
// an output ow wide and a kernel kw wide with padW columns of padding on
// the left: per chunk of 16 output columns, for each tap column kx the
// lanes whose input column lies in the plane, then the lanes in the output.
func DepthwiseMasks(wd, ow, kw, padW int) []int {
	chunks := (ow + 15) / 16
	masks := make([]int, 0, chunks*(kw+1))
	for c := range chunks {
		lane := func(ok func(x int) bool) int {
			m := 0
			for l := range 16 {
				if x := 16*c + l; x < ow && ok(x) {
					m |= 1 << l
				}
			}
			return m
		}
		for kx := range kw {
			masks = append(masks, lane(func(x int) bool { in := x + kx - padW; return in >= 0 && in < wd }))
		}
		masks = append(masks, lane(func(int) bool { return true }))
	}
	return masks
}

// DepthwiseS1 writes the depthwise convolution of stride 1 (no dilation)
// of channels channels into dst (channels planes of oh×ow), reading their
// h×wd planes src and kh×kw weights w (one after the other), with padH
// rows and padW columns of zero padding, and masks from DepthwiseMasks,
// then applies min(max(sum + bias[c], lo), hi) to each output of channel
// c (bias nil for none; infinite bounds for no clamp). It reports whether
// it could: only with AVX-512. It checks that the slices hold what it
// reads and writes.
func DepthwiseS1(dst, src, w, bias []float32, masks []int, channels, h, wd, oh, ow, kh, kw, padH, padW int, lo, hi float32) bool {
	chunks := (ow + 15) / 16
	if !HasAVX512 || channels <= 0 || oh <= 0 || ow <= 0 || kh <= 0 || kw <= 0 || h <= 0 || wd <= 0 {
		return false
	}
	if len(masks) != chunks*(kw+1) || len(src) < channels*h*wd || len(dst) < channels*oh*ow || len(w) < channels*kh*kw ||
		bias != nil && len(bias) < channels {
		panic("kernel: DepthwiseS1: slices too short for the shapes")
	}
	if bias == nil {
		bias = make([]float32, channels)
	}
	if kh == 3 && kw == 3 {
		depthwise3x3S1AVX512(unsafe.SliceData(dst), unsafe.SliceData(src), unsafe.SliceData(w), unsafe.SliceData(bias), unsafe.SliceData(masks),
			h, wd, oh, ow, padH, padW, chunks, channels, lo, hi)
		return true
	}
	clamped := !math.IsInf(float64(lo), -1) || !math.IsInf(float64(hi), 1)
	for c := range channels {
		out := dst[c*oh*ow : (c+1)*oh*ow]
		depthwiseS1AVX512(unsafe.SliceData(out), unsafe.SliceData(src[c*h*wd:]), unsafe.SliceData(w[c*kh*kw:]), unsafe.SliceData(masks),
			h, wd, oh, ow, kh, kw, padH, padW, chunks)
		if b := bias[c]; b != 0 || clamped {
			for i, v := range out {
				out[i] = min(max(v+b, lo), hi)
			}
		}
	}
	return true
}

// DepthwiseS2Masks returns the masks of Depthwise3x3S2 and MaxPool3x3S2
// for a plane wd wide, an output ow wide and padW columns of padding on
// the left: per chunk of 16 output columns, the lanes of each of the three
// vectors of input it reads (columns 32·chunk−padW on; of the third, only
// lane 0) that lie in the plane, then the lanes in the output.
func DepthwiseS2Masks(wd, ow, padW int) []int {
	chunks := (ow + 15) / 16
	masks := make([]int, 0, 4*chunks)
	for c := range chunks {
		for v := range 3 {
			lanes := 16
			if v == 2 {
				lanes = 1 // of the third vector, lane 0 is read
			}
			m := 0
			for l := range lanes {
				if x := 32*c - padW + 16*v + l; x >= 0 && x < wd {
					m |= 1 << l
				}
			}
			masks = append(masks, m)
		}
		m := 0
		for l := range 16 {
			if 16*c+l < ow {
				m |= 1 << l
			}
		}
		masks = append(masks, m)
	}
	return masks
}

// depthwiseS2Index holds the lanes Depthwise3x3S2 permutes two vectors
// of input by: the even ones, then the odd ones.
var depthwiseS2Index = func() (idx [32]int32) {
	for i := range 16 {
		idx[i], idx[16+i] = int32(2*i), int32(2*i+1)
	}
	return idx
}()

// Depthwise3x3S2 is DepthwiseS1 for a 3×3 kernel of stride 2 (no
// dilation), with masks from DepthwiseS2Masks: each chunk of 16 outputs
// reads three vectors of each input row straight from the plane and
// permutes their even and odd lanes into the taps' columns, with no copy
// of the plane into its stride phases. It reports whether it could: only
// with AVX-512. It checks that the slices hold what it reads and writes.
func Depthwise3x3S2(dst, src, w, bias []float32, masks []int, channels, h, wd, oh, ow, padH, padW int, lo, hi float32) bool {
	chunks := (ow + 15) / 16
	if !HasAVX512 || channels <= 0 || oh <= 0 || ow <= 0 || h <= 0 || wd <= 0 {
		return false
	}
	if len(masks) != 4*chunks || len(src) < channels*h*wd || len(dst) < channels*oh*ow || len(w) < channels*9 ||
		bias != nil && len(bias) < channels {
		panic("kernel: Depthwise3x3S2: slices too short for the shapes")
	}
	if bias == nil {
		bias = make([]float32, channels)
	}
	depthwise3x3S2AVX512(unsafe.SliceData(dst), unsafe.SliceData(src), unsafe.SliceData(w), unsafe.SliceData(bias), unsafe.SliceData(masks),
		&depthwiseS2Index[0], h, wd, oh, ow, padH, padW, chunks, channels, lo, hi)
	return true
}

// Depthwise writes dst[j] = Σ over taps t of w[t]·src[offs[t] + j], the
// taps of one channel of a depthwise convolution, for the longest prefix of
// dst whose length is a multiple of 64, and returns that length; the caller
// does the rest. It returns 0 without AVX-512. It checks that every read
// lies in src.
func Depthwise(dst, src []float32, offs []int, w []float32) int {
	n := len(dst) &^ 63
	if !HasAVX512 || n == 0 || len(offs) == 0 {
		return 0
	}
	_ = w[len(offs)-1]
	for _, o := range offs {
		_ = src[o+n-1]
		_ = src[o]
	}
	depthwiseAVX512(unsafe.SliceData(dst), unsafe.SliceData(src), unsafe.SliceData(offs), unsafe.SliceData(w), len(offs), n)
	return n
}

// Deinterleave writes even[i] = src[2i] and odd[i] = src[2i+1], the stride-2
// phases of a row, for i < min(len(even), len(odd), len(src)/2), in vector
// steps with AVX-512 and element by element for the rest.
func Deinterleave(even, odd, src []float32) {
	n := min(len(even), len(odd), len(src)/2)
	done := 0
	if HasAVX512 && n >= 16 {
		done = n &^ 15
		_, _, _ = even[done-1], odd[done-1], src[2*done-1]
		deinterleaveAVX512(unsafe.SliceData(even), unsafe.SliceData(odd), unsafe.SliceData(src), done)
	}
	for i := done; i < n; i++ {
		even[i], odd[i] = src[2*i], src[2*i+1]
	}
}

// EvenColumns writes dst[r·ldDst+i] = src[r·ldSrc+2i] for r < rows and
// i < width: every other column of rows of src, which a convolution of
// stride 2 reads, in vector steps of 16. It reports whether it could:
// only with AVX-512. It checks the bounds first; the last element of a
// row it reads is src[r·ldSrc+2·width−2].
func EvenColumns(dst []float32, ldDst int, src []float32, ldSrc, rows, width int) bool {
	if !HasAVX512 || rows <= 0 || width <= 0 {
		return false
	}
	if ldDst < 0 || ldSrc < 0 || len(dst) < (rows-1)*ldDst+width || len(src) < (rows-1)*ldSrc+2*width-1 {
		panic("kernel: EvenColumns: slices too short for the rows")
	}
	full := (width - 1) / 16
	t := width - 16*full // the last chunk's outputs, 1 to 16
	in := 2*t - 1        // and its inputs
	evenColumnsAVX512(unsafe.SliceData(dst), unsafe.SliceData(src), ldDst, ldSrc, rows, full,
		1<<t-1, 1<<min(in, 16)-1, 1<<max(in-16, 0)-1)
	return true
}

// GatherIndex is a list of positions for Gather to read, checked once:
// negative ones stand for zeros.
type GatherIndex struct {
	idx []int32
	max int32 // the largest position, −1 when there are none
}

// NewGatherIndex returns idx as a GatherIndex.
func NewGatherIndex(idx []int32) GatherIndex {
	g := GatherIndex{idx: idx, max: -1}
	for _, i := range idx {
		g.max = max(g.max, i)
	}
	return g
}

// Len is the number of positions.
func (g GatherIndex) Len() int { return len(g.idx) }

// Gather writes dst[i] = src[g's position i], or 0 where that position is
// negative, for i < len(dst) = g.Len(): a row of a convolution's column
// matrix whose output rows are short or strided, where copying runs
// costs more than reading through a table (a 3×3 of stride 2 over 7×7
// outputs). It gathers 16 elements a step with AVX-512 and one at a time
// without.
func Gather(dst, src []float32, g GatherIndex) {
	n := len(dst)
	if n != len(g.idx) || int(g.max) >= len(src) {
		panic("kernel: Gather: positions outside src, or as many as dst")
	}
	if HasAVX512 && n > 0 {
		tail := 0
		if r := n % 16; r > 0 {
			tail = 1<<r - 1
		}
		gatherAVX512(unsafe.SliceData(dst), unsafe.SliceData(src), unsafe.SliceData(g.idx), n/16, tail)
		return
	}
	for i, at := range g.idx {
		if at >= 0 {
			dst[i] = src[at]
		} else {
			dst[i] = 0
		}
	}
}

// CopyRows copies rows rows of width floats from src, the rows ldSrc
// floats apart, to dst, ldDst floats apart, and reports whether it could:
// any width with AVX-512, only widths 16 and 32 (the slivers of the GEMM)
// with AVX2. It checks the bounds of both slices first.
func CopyRows(dst, src []float32, width, rows, ldDst, ldSrc int) bool {
	if rows <= 0 || width <= 0 || !HasAVX512 && (!HasAVX2 || width != 16 && width != 32) {
		return false
	}
	_, _ = dst[(rows-1)*ldDst+width-1], src[(rows-1)*ldSrc+width-1]
	d, s := unsafe.SliceData(dst), unsafe.SliceData(src)
	switch width {
	case 16:
		copyRows16(d, s, rows, ldDst, ldSrc)
	case 32:
		copyRows32(d, s, rows, ldDst, ldSrc)
	default:
		copyRowsAVX512(d, s, width, rows, ldDst, ldSrc)
	}
	return true
}

// Transpose writes lines lines of kb floats, line q starting at src[q*ld],
// into dst so that element p of line q lands at dst[p*w+q], and reports
// whether it could: only with AVX-512. It checks the bounds of both slices
// first.
func Transpose(dst []float32, w int, src []float32, ld, lines, kb int) bool {
	if !HasAVX512 || lines <= 0 || kb <= 0 {
		return false
	}
	_, _ = dst[(kb-1)*w+lines-1], src[(lines-1)*ld+kb-1]
	d, s := unsafe.SliceData(dst), unsafe.SliceData(src)
	for q0 := 0; q0 < lines; q0 += 16 {
		n := min(16, lines-q0)
		for p0 := 0; p0 < kb; p0 += 16 {
			transpose16AVX512((*float32)(unsafe.Add(unsafe.Pointer(d), 4*(p0*w+q0))), w,
				(*float32)(unsafe.Add(unsafe.Pointer(s), 4*(q0*ld+p0))), ld, n, min(16, kb-p0))
		}
	}
	return true
}
