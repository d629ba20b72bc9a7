package cpu

import (
	"fmt"
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/wgtensor/wgtensor/device/backend"
)

// cpuMatLayout places a [B, R, C] operand in memory.
type cpuMatLayout int

const (
	cpuMatContiguous cpuMatLayout = iota // row-major [B, R, C]
	cpuMatTransposed                     // stored as [B, C, R]
	cpuMatBroadcast                      // one [R, C] matrix for every batch element
	cpuMatOffset                         // row-major with padded rows, at an offset
)

func (l cpuMatLayout) String() string {
	return [...]string{"contiguous", "transposed", "broadcast", "offset"}[l]
}

// layout returns the cpuLayout of a [b, r, c] operand.
func (l cpuMatLayout) layout(b, r, c int) cpuLayout {
	shape := []int{b, r, c}
	switch l {
	case cpuMatTransposed:
		return cpuLayout{shape: shape, strides: []int{r * c, 1, r}}
	case cpuMatBroadcast:
		return cpuLayout{shape: shape, strides: []int{0, c, 1}}
	case cpuMatOffset:
		return cpuLayout{shape: shape, strides: []int{r * (c + 3), c + 3, 1}, offset: 11}
	}
	return cpuLayout{shape: shape}
}

// cpuMatMulRef returns a·b in float64 and, per element, the sum of the
// magnitudes of the products, which bounds the rounding error.
func cpuMatMulRef(a, b []float32, bs, m, k, n int) (c, mag []float64) {
	c, mag = make([]float64, bs*m*n), make([]float64, bs*m*n)
	for l := range bs {
		for i := range m {
			for j := range n {
				var s, g float64
				for p := range k {
					v := float64(a[(l*m+i)*k+p]) * float64(b[(l*k+p)*n+j])
					s += v
					g += math.Abs(v)
				}
				c[(l*m+i)*n+j], mag[(l*m+i)*n+j] = s, g
			}
		}
	}
	return c, mag
}

// TestCPUMatMul checks the product with every micro-kernel this CPU runs.
func TestCPUMatMul(t *testing.T) {
	inUse := cpuChoice
	defer func() { cpuChoice = inUse }()
	for _, k := range cpuKernels {
		cpuChoice = []cpuMicro{k}
		t.Run(k.name, testCPUMatMul)
	}
}

func testCPUMatMul(t *testing.T) {
	h := newCPUHarness(t)
	sizes := [][4]int{ // B, M, K, N
		{1, 1, 1, 1}, {1, 3, 17, 33}, {2, 17, 33, 3}, {3, 65, 7, 129}, {1, 100, 130, 70},
		{2, 128, 256, 64}, {1, 1, 300, 513}, {1, 513, 300, 1}, {1, 200, 600, 150}, {1, 64, 40, 1100},
		{2, 5, 0, 7}, {0, 3, 3, 3}, {1, 0, 5, 4}, {1, 4, 5, 0},
	}
	for _, sz := range sizes {
		bs, m, k, n := sz[0], sz[1], sz[2], sz[3]
		for la := cpuMatContiguous; la <= cpuMatOffset; la++ {
			for lb := cpuMatContiguous; lb <= cpuMatOffset; lb++ {
				if m*n*k > 10000 && lb != (la+1)%4 {
					continue // keep the large cases quick: each layout once per operand
				}
				name := fmt.Sprintf("%dx%dx%dx%d/%v/%v", bs, m, k, n, la, lb)
				al, bl := la.layout(bs, m, k), lb.layout(bs, k, n)
				ad, bd := h.randF(al.span()), h.randF(bl.span())
				want, mag := cpuMatMulRef(cpuRefElems(ad, al), cpuRefElems(bd, bl), bs, m, k, n)
				check := func(what string, dst backend.Buffer) {
					got := h.readF(dst)
					require.Len(t, got, len(want))
					for i := range want {
						if math.Abs(float64(got[i])-want[i]) > 1e-5*mag[i]+1e-30 {
							t.Fatalf("%s%s: element %d: got %v, want %v", name, what, i, got[i], want[i])
						}
					}
				}
				abuf, bbuf := h.f32(ad), h.f32(bd)
				dst := h.dirty(backend.Float32, bs*m*n)
				h.d.MatMul(dst, al.view(abuf), bl.view(bbuf))
				check("", dst)
				// Frozen operands: their packed blocks are kept and reused.
				h.d.(backend.Freezer).Freeze(abuf)
				h.d.(backend.Freezer).Freeze(bbuf)
				for run := range 2 {
					dst := h.dirty(backend.Float32, bs*m*n)
					h.d.MatMul(dst, al.view(abuf), bl.view(bbuf))
					check(fmt.Sprintf(" frozen, run %d", run), dst)
				}
			}
		}
	}
}

func TestCPUMatMulSpecials(t *testing.T) {
	h := newCPUHarness(t)
	// NaN and Inf propagate like in a plain dot product.
	a := []float32{float32(math.NaN()), 1, 2, 3}
	b := []float32{1, 0, 0, float32(math.Inf(1))}
	dst := h.dirty(backend.Float32, 4)
	h.d.MatMul(dst, backend.Dense(h.f32(a), 1, 2, 2), backend.Dense(h.f32(b), 1, 2, 2))
	cpuClose(t, []float64{math.NaN(), math.NaN(), 2, math.Inf(1)}, h.readF(dst), 0, 0, "specials")
}

// TestCPUPickKernel: a product takes the kernel that pads its tiles least,
// and the first kernel when the others save little.
func TestCPUPickKernel(t *testing.T) {
	inUse := cpuChoice
	defer func() { cpuChoice = inUse }()
	wide := cpuMicro{mr: 12, nr: 32, name: "wide"}
	tall := cpuMicro{mr: 16, nr: 16, name: "tall"}
	cpuChoice = []cpuMicro{wide, tall}
	for _, c := range []struct {
		m, n int
		want string
	}{
		{1024, 1024, "wide"}, // no padding either way
		{64, 196, "tall"},    // a convolution: 72×224 against 64×208
		{32, 128, "tall"},    // an RNN step: 36×128 against 32×128
		{120, 512, "wide"},   // tall saves nothing
		{130, 64, "wide"},    // 132×64 against 144×64
	} {
		assert.Equal(t, c.want, cpuPickKernel(c.m, c.n).name, "%d×%d", c.m, c.n)
	}
}

// TestCPUSharedPackFits checks that a 2048×2048 A is packed once for all
// panels (see packShared) under every blocking that tuning may choose,
// its last block of rows padded: at 16 MiB it did not fit and each panel
// packed it again.
func TestCPUSharedPackFits(t *testing.T) {
	const n = 2048
	a := make([]float32, n*n)
	kern := cpuMicro{mr: 12, nr: 32, name: "wide"}
	for _, kc := range []int{256, 512, 1024} {
		for _, mc := range []int{48, 96, 144, 192} {
			g := &cpuGemm{batch: 1, m: n, n: n, k: n, a: cpuMatrix{a, 0, n, 1}, kern: kern}
			g.chooseBlocks(cpuBlocking{kern: kern, kc: kc, mc: mc, nc: 512}, 2)
			shared := g.packShared(2)
			if assert.NotNil(t, shared, "kc %d mc %d", kc, mc) {
				cpuSharedFree.put(shared)
			}
		}
	}
}
