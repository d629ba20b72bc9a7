package cpu

import (
	"fmt"
	"math"
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/wgtensor/wgtensor/device/internal/cpuinfo"
	"github.com/wgtensor/wgtensor/device/internal/kernel"
)

// TestCPUBlockings: a product is right with every blocking tuning may
// choose, on every kernel, with K split into panels or not, with A packed
// once for all panels of columns or per panel, on one worker or two; with
// 15 rows, which every kernel that can reads B in place for.
func TestCPUBlockings(t *testing.T) {
	h := newCPUHarness(t)
	defer func(on bool) { cpuReadB = on }(cpuReadB)
	for _, m := range []int{200, 15} {
		testCPUBlockings(t, h, m)
	}
}

func testCPUBlockings(t *testing.T, h *cpuHarness, m int) {
	const bs, k, n = 2, 700, 300
	ad, bd := h.randF(bs*m*k), h.randF(bs*k*n)
	want, mag := cpuMatMulRef(ad, bd, bs, m, k, n)
	for _, kern := range cpuKernels {
		for _, bl := range [][3]int{{16, 48, 32}, {256, 48, 256}, {1024, 192, 1024}, {128, 96, 64}} {
			for _, workers := range []int{1, 2} {
				// B read in place (see readB) and packed.
				cpuReadB = workers == 1
				blocking := cpuBlocking{kern: kern, kc: bl[0], mc: cpuRoundUp(bl[1], kern.mr), nc: cpuRoundUp(bl[2], kern.nr)}
				name := fmt.Sprintf("%d rows/%s/%d workers/B in place %v", m, blocking, workers, cpuReadB)
				c := make([]float32, bs*m*n)
				for i := range c {
					c[i] = float32(math.NaN()) // every element must be written
				}
				g := &cpuGemm{batch: bs, m: m, n: n, k: k, a: cpuMatrix{ad, 0, k, 1}, b: cpuMatrix{bd, 0, n, 1},
					aStep: m * k, bStep: k * n, c: c, ldc: n, cStep: m * n, fixed: &blocking}
				g.runWith(workers)
				for i := range want {
					if math.Abs(float64(c[i])-want[i]) > 1e-5*mag[i]+1e-30 {
						t.Fatalf("%s: element %d: got %v, want %v", name, i, c[i], want[i])
					}
				}
			}
		}
	}
}

// TestCPUDefaultBlocking derives the blocking from the caches.
func TestCPUDefaultBlocking(t *testing.T) {
	wide := cpuMicro{mr: 12, nr: 32, name: "wide"}
	avx2 := cpuMicro{mr: 6, nr: 16, name: "avx2"}
	for _, c := range []struct {
		l1, l2     int
		kern       cpuMicro
		kc, mc, nc int
	}{
		{48 << 10, 1 << 20, wide, 256, 144, 512}, // Zen 4/5, Sapphire Rapids: 1–2 MiB L2
		{32 << 10, 1 << 20, wide, 128, 144, 512}, // Skylake-SP
		{32 << 10, 256 << 10, avx2, 256, 48, 512},
		{32 << 10, 512 << 10, avx2, 256, 96, 512}, // Zen 2
		{8 << 10, 64 << 10, wide, 128, 48, 512},   // tiny caches still block sensibly
	} {
		got := cpuDefaultBlocking(cpuinfo.Info{L1D: c.l1, L2: c.l2}, c.kern)
		assert.Equal(t, [3]int{c.kc, c.mc, c.nc}, [3]int{got.kc, got.mc, got.nc}, "L1 %d KiB, L2 %d KiB, %s", c.l1>>10, c.l2>>10, c.kern.name)
		assert.Zero(t, got.mc%c.kern.mr, "mc is a multiple of mr")
	}
}

// TestCPUTune tunes a class on a small product, checks the choice is a
// valid blocking and is what products of the class then use, and that the
// disk cache gives it back to a fresh tuner.
func TestCPUTune(t *testing.T) {
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	t.Setenv("HOME", t.TempDir())
	tu := &cpuTuner{mode: "disk", choices: map[cpuGemmClass]GemmChoice{}, busy: map[cpuGemmClass]bool{}}
	assert.Equal(t, cpuGemmClass{128, 256, 256, 2}, cpuClassOf(200, 300, 400, 2))
	assert.Equal(t, cpuGemmClass{2048, 2048, 1024, 1}, cpuClassOf(5000, 2049, 1500, 1))
	class := cpuClassOf(600, 520, 700, 2)
	c := tu.tune(class, 600, 520, 700)
	t.Logf("%+v", c)
	assert.True(t, c.Tuned)
	assert.True(t, cpuValidChoice(c), "%+v", c)
	assert.Greater(t, c.GFLOPS, 0.0)
	assert.Greater(t, c.Default, 0.0)
	tu.choices[class] = c
	tu.save()
	path := tu.cacheFile()
	require.FileExists(t, path)

	fresh := &cpuTuner{mode: "disk", choices: map[cpuGemmClass]GemmChoice{}, busy: map[cpuGemmClass]bool{}}
	fresh.load()
	assert.Equal(t, c, fresh.choices[class])
	// A product of the class takes the choice without tuning again.
	bl := fresh.blocking(1000, 600, 800, 2, false)
	assert.Equal(t, [4]any{c.Kernel, c.KC, c.MC, c.NC}, [4]any{bl.kern.name, bl.kc, bl.mc, bl.nc})
	assert.Len(t, fresh.choices, 1)

	// A damaged or foreign cache is ignored.
	require.NoError(t, os.WriteFile(path, []byte(`[{"Class":"1x1x1/2","Kernel":"no such kernel","KC":1,"MC":1,"NC":1,"Tuned":true}, 7]`), 0o644))
	other := &cpuTuner{mode: "disk", choices: map[cpuGemmClass]GemmChoice{}, busy: map[cpuGemmClass]bool{}}
	other.load()
	assert.Empty(t, other.choices)

	// Off, nothing is tuned; frozen operands and small products keep the
	// default.
	off := &cpuTuner{mode: "off", choices: map[cpuGemmClass]GemmChoice{}, busy: map[cpuGemmClass]bool{}}
	def := cpuDefaultBlocking(cpuinfo.Get(), cpuPickKernel(1024, 1024))
	assert.True(t, off.blocking(1024, 1024, 1024, 2, false).same(def))
	assert.Empty(t, off.choices)
	on := &cpuTuner{mode: "on", choices: map[cpuGemmClass]GemmChoice{}, busy: map[cpuGemmClass]bool{}}
	assert.True(t, on.blocking(1024, 1024, 1024, 2, true).same(def))
	assert.True(t, on.blocking(64, 64, 64, 2, false).same(cpuDefaultBlocking(cpuinfo.Get(), cpuPickKernel(64, 64))))
	assert.Empty(t, on.choices)
}

// TestDescribe: the CPU and the kernels are visible.
func TestDescribe(t *testing.T) {
	s := Describe()
	t.Log(s)
	assert.Contains(t, s, cpuChoice[0].name)
	assert.Contains(t, s, "L1d")
	for _, c := range GemmChoices() {
		assert.NotEmpty(t, c.Kernel)
	}
	if kernel.HasAVX2 {
		assert.Greater(t, PeakGFLOPS(1), 16.0, "one core's FMA peak")
	}
}

// TestCPUChooseBlocks: with two workers, a product is split into column
// panels unless that leaves a worker idle for long, when its rows are
// split over full-width panels instead.
func TestCPUChooseBlocks(t *testing.T) {
	wide := cpuMicro{mr: 12, nr: 32, name: "wide"}
	bl := cpuBlocking{kern: wide, kc: 256, mc: 144, nc: 512}
	for _, c := range []struct {
		batch, m, n, k      int
		nc, nBlocks, mTasks int
	}{
		{1, 1024, 1024, 1024, 256, 4, 1}, // four even panels
		{1, 576, 196, 96, 224, 1, 4},     // 128+68 columns would leave a worker idle: split the rows, two shares a worker
		{1, 32, 128, 128, 128, 1, 2},     // an RNN step: too narrow for panels
		{8, 64, 64, 64, 64, 1, 1},        // a batch: one task per element
	} {
		g := &cpuGemm{batch: c.batch, m: c.m, n: c.n, k: c.k, kern: wide}
		g.chooseBlocks(bl, 2)
		assert.Equal(t, [3]int{c.nc, c.nBlocks, c.mTasks}, [3]int{g.nc, g.nBlocks, g.mTasks}, "%d×%d×%d×%d", c.batch, c.m, c.n, c.k)
	}
}
