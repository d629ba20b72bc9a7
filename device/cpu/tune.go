package cpu

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"math/bits"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/wgtensor/wgtensor/device/internal/cpuinfo"
)

// The matrix product's kernel and cache blocking are chosen per machine.
// Every product starts from cpuDefaultBlocking, derived from the cache
// sizes CPUID reports; a product large enough to be worth it (see
// cpuTuneMin) has its shape class tuned the first time one is met: the
// candidate kernels and blockings are timed on a product of the class's
// shape, interleaved, and the fastest is kept for the rest of the process
// (and, with WGTENSOR_CPU_TUNE=disk, in a file under the user cache
// directory, keyed by the CPU and thread count). WGTENSOR_CPU_TUNE=off
// keeps the defaults; WGTENSOR_DEBUG=cpu prints each choice as it is made.
// GemmChoices lists the choices made so far.

// cpuBlocking is the blocking of a matrix product: the micro-kernel, K in
// panels of kc, and tasks of at most mc rows by nc columns of C.
type cpuBlocking struct {
	kern       cpuMicro
	kc, mc, nc int
}

// same reports whether b and o block alike.
func (b cpuBlocking) same(o cpuBlocking) bool {
	return b.kern.name == o.kern.name && b.kc == o.kc && b.mc == o.mc && b.nc == o.nc
}

func (b cpuBlocking) String() string {
	return fmt.Sprintf("%s, kc %d mc %d nc %d", b.kern.name, b.kc, b.mc, b.nc)
}

// cpuMaxKC, cpuMaxMC and cpuMaxNC bound the blockings that tuning tries
// and that a tuning cache may name.
const (
	cpuMaxKC = 1024
	cpuMaxMC = 192
	cpuMaxNC = 1024
)

// cpuDefaultBlocking returns the blocking of products that are not tuned,
// from the caches: a packed kc×nr sliver of B takes about two thirds of
// L1 (a 12×32 kernel on a 48 KiB L1 reads 256 steps of 32 floats), an
// mc×256 block of A about a fifth of L2, with nc 512 columns.
func cpuDefaultBlocking(info cpuinfo.Info, kern cpuMicro) cpuBlocking {
	kc := cpuPow2Floor(info.L1D * 2 / 3 / (4 * kern.nr))
	kc = min(max(kc, 128), 512)
	mc := cpuRoundDown(info.L2/5/(4*256), 48)
	mc = min(max(mc, 48), 144)
	return cpuBlocking{kern: kern, kc: kc, mc: mc, nc: 512}
}

// cpuTuneMin is the number of multiply-adds of the smallest product whose
// class is tuned (a 512³ product, about a millisecond): tuning costs about
// 40 products of the class's size, and smaller products time too noisily.
const cpuTuneMin = 1 << 27

// cpuGemmClass is a shape class of products: each dimension rounded down
// to a power of two, capped at 2048, with the number of workers.
type cpuGemmClass struct{ M, N, K, Workers int }

func (c cpuGemmClass) String() string {
	return fmt.Sprintf("%dx%dx%d/%d", c.M, c.N, c.K, c.Workers)
}

// cpuClassOf returns the class of an m×n×k product run by workers
// goroutines.
func cpuClassOf(m, n, k, workers int) cpuGemmClass {
	r := func(x int) int { return min(cpuPow2Floor(x), 2048) }
	return cpuGemmClass{r(m), r(n), r(k), workers}
}

// GemmChoice is the kernel and blocking chosen for a class of matrix
// products (see GemmChoices).
type GemmChoice struct {
	Class      string  // M×N×K rounded down to powers of two, and the workers: "1024x1024x1024/2"
	Kernel     string  // the micro-kernel, e.g. "avx512 12x32"
	KC, MC, NC int     // the cache blocking
	Tuned      bool    // measured on this machine (or read from the tuning cache) rather than the default
	GFLOPS     float64 // the rate measured for it when tuned, in GFLOP/s
	Default    float64 // the rate of the default blocking in the same measurement
}

// cpuTuner holds the tuned choices.
type cpuTuner struct {
	mu      sync.Mutex
	mode    string // "off", "on" or "disk"
	choices map[cpuGemmClass]GemmChoice
	busy    map[cpuGemmClass]bool
	loaded  bool
}

var cpuTune = &cpuTuner{mode: cpuTuneMode(), choices: map[cpuGemmClass]GemmChoice{}, busy: map[cpuGemmClass]bool{}}

// cpuTuneMode reads WGTENSOR_CPU_TUNE: "off", "disk", or "on" for
// anything else.
func cpuTuneMode() string {
	switch v := os.Getenv("WGTENSOR_CPU_TUNE"); v {
	case "off", "disk":
		return v
	}
	return "on"
}

// cpuDebug reports whether WGTENSOR_DEBUG names the CPU backend ("cpu" or
// "all" in its comma-separated list).
var cpuDebug = func() bool {
	for _, w := range strings.Split(os.Getenv("WGTENSOR_DEBUG"), ",") {
		if w = strings.TrimSpace(w); w == "cpu" || w == "all" || w == "1" {
			return true
		}
	}
	return false
}()

// GemmChoices returns the kernel and blocking of every class of matrix
// products tuned so far or read from the tuning cache, sorted by class;
// other products take the default that Describe shows.
func GemmChoices() []GemmChoice {
	cpuTune.mu.Lock()
	defer cpuTune.mu.Unlock()
	var out []GemmChoice
	for _, c := range cpuTune.choices {
		out = append(out, c)
	}
	slices.SortFunc(out, func(a, b GemmChoice) int { return strings.Compare(a.Class, b.Class) })
	return out
}

// Describe returns the CPU as the backend sees it (model,
// microarchitecture, caches, features) and its matrix product's kernels.
func Describe() string {
	names := make([]string, len(cpuChoice))
	for i, k := range cpuChoice {
		names[i] = k.name
	}
	return fmt.Sprintf("%s | gemm kernels %s, default %s, tuning %s", cpuinfo.Get(), strings.Join(names, ", "),
		cpuDefaultBlocking(cpuinfo.Get(), cpuChoice[0]), cpuTune.mode)
}

// blocking returns the blocking for an m×n×k product run by workers
// goroutines: the tuned one for its class when there is one, after tuning
// the class now (on a product of this shape) when the product is large
// enough and tuning is on, else the default with the kernel that pads the
// product least. Products of frozen operands keep the default: their
// packed panels are kept per blocking, and tuning times fresh operands.
func (t *cpuTuner) blocking(m, n, k, workers int, frozen bool) cpuBlocking {
	def := cpuDefaultBlocking(cpuinfo.Get(), cpuPickKernel(m, n))
	if t.mode == "off" || frozen || m*n*k < cpuTuneMin || len(cpuChoice) == 0 {
		return def
	}
	class := cpuClassOf(m, n, k, workers)
	t.mu.Lock()
	t.load()
	c, ok := t.choices[class]
	if !ok && !t.busy[class] {
		t.busy[class] = true
		t.mu.Unlock()
		c = t.tune(class, min(m, 2048), min(n, 2048), min(k, 2048))
		t.mu.Lock()
		delete(t.busy, class)
		t.choices[class] = c
		t.save()
		ok = true
	}
	t.mu.Unlock()
	if !ok { // another goroutine is tuning the class
		return def
	}
	for _, kern := range cpuChoice {
		if kern.name == c.Kernel {
			return cpuBlocking{kern: kern, kc: c.KC, mc: c.MC, nc: c.NC}
		}
	}
	return def
}

// tune times candidate blockings for class on an m×n×k product and
// returns the fastest: first the kernels with the default blocking, then
// kc, then mc, then nc around the best so far (coordinate descent).
func (t *cpuTuner) tune(class cpuGemmClass, m, n, k int) GemmChoice {
	a, b, c := make([]float32, m*k), make([]float32, k*n), make([]float32, m*n)
	for i := range a {
		a[i] = float32(i%7) * 0.25
	}
	for i := range b {
		b[i] = float32(i%5) * 0.5
	}
	g := &cpuGemm{batch: 1, m: m, n: n, k: k,
		a: cpuMatrix{a, 0, k, 1}, b: cpuMatrix{b, 0, n, 1}, c: c, ldc: n}
	reps := 1
	timeOf := func(bl cpuBlocking) time.Duration {
		g.fixed = &bl
		start := time.Now()
		for range reps {
			g.runWith(class.Workers)
		}
		return time.Since(start) / time.Duration(reps)
	}
	start := time.Now()
	def := cpuDefaultBlocking(cpuinfo.Get(), cpuPickKernel(m, n))
	timeOf(def) // warm the caches and the packing space
	// Each timing runs for at least a millisecond, so that a goroutine's
	// late wake-up does not decide.
	reps = min(max(1, int(time.Millisecond/max(timeOf(def), 1))), 64)
	best := def
	// step times the candidates in three interleaved rounds, keeping each
	// one's best time, and makes the fastest the best.
	step := func(cands []cpuBlocking) {
		times := make([]time.Duration, len(cands))
		for range 3 {
			for i, bl := range cands {
				if d := timeOf(bl); times[i] == 0 || d < times[i] {
					times[i] = d
				}
			}
		}
		best = cands[slices.Index(times, slices.Min(times))]
	}
	var kerns []cpuBlocking
	kerns = append(kerns, best)
	for _, kern := range cpuChoice {
		if kern.name != best.kern.name {
			kerns = append(kerns, cpuBlocking{kern: kern, kc: best.kc, mc: best.mc, nc: best.nc})
		}
	}
	step(kerns)
	vary := func(set func(bl *cpuBlocking, v int), vals ...int) {
		cands := []cpuBlocking{best}
		for _, v := range vals {
			bl := best
			set(&bl, v)
			if !slices.ContainsFunc(cands, bl.same) {
				cands = append(cands, bl)
			}
		}
		if len(cands) > 1 {
			step(cands)
		}
	}
	kFull := min(cpuRoundUp(k, 64), cpuMaxKC)
	vary(func(bl *cpuBlocking, v int) { bl.kc = min(v, kFull) }, 256, 512, 1024)
	vary(func(bl *cpuBlocking, v int) { bl.mc = v }, 48, 96, 144, 192)
	vary(func(bl *cpuBlocking, v int) { bl.nc = v }, 256, 512, 1024)
	// The winner must beat the default in a final interleaved match by
	// 2%, or the default stays: noise must not pick a blocking.
	var bestTime, defTime time.Duration
	for range 3 {
		if d := timeOf(def); defTime == 0 || d < defTime {
			defTime = d
		}
		if d := timeOf(best); bestTime == 0 || d < bestTime {
			bestTime = d
		}
	}
	if 50*bestTime > 49*defTime {
		best, bestTime = def, defTime
	}
	flops := 2 * float64(m) * float64(n) * float64(k)
	choice := GemmChoice{Class: class.String(), Kernel: best.kern.name, KC: best.kc, MC: best.mc, NC: best.nc, Tuned: true,
		GFLOPS: flops / bestTime.Seconds() / 1e9, Default: flops / defTime.Seconds() / 1e9}
	if cpuDebug {
		fmt.Fprintf(os.Stderr, "wgtensor: cpu gemm %s: %s, kc %d mc %d nc %d: %.0f GFLOP/s (default %.0f), tuned in %v\n",
			choice.Class, choice.Kernel, choice.KC, choice.MC, choice.NC, choice.GFLOPS, choice.Default, time.Since(start).Round(time.Millisecond))
	}
	return choice
}

// cacheFile is the tuning cache of this CPU and thread count, under the
// user cache directory.
func (t *cpuTuner) cacheFile() string {
	dir, err := os.UserCacheDir()
	if err != nil {
		return ""
	}
	sum := sha256.Sum256([]byte(fmt.Sprintf("%s|%d|%s", cpuinfo.Get(), runtime.GOMAXPROCS(0), runtime.Version())))
	return filepath.Join(dir, "wgtensor", fmt.Sprintf("cpu-gemm-%x.json", sum[:8]))
}

// load reads the tuning cache once, with t.mu held, when tuning uses the
// disk. An unreadable cache is ignored: it is only a cache.
func (t *cpuTuner) load() {
	if t.loaded || t.mode != "disk" {
		return
	}
	t.loaded = true
	data, err := os.ReadFile(t.cacheFile())
	if err != nil {
		return
	}
	var saved []GemmChoice
	if json.Unmarshal(data, &saved) != nil {
		return
	}
	for _, c := range saved {
		var cl cpuGemmClass
		if _, err := fmt.Sscanf(c.Class, "%dx%dx%d/%d", &cl.M, &cl.N, &cl.K, &cl.Workers); err == nil && c.Tuned && cpuValidChoice(c) {
			t.choices[cl] = c
		}
	}
}

// cpuValidChoice reports whether a choice read from the cache names one
// of this CPU's kernels and a blocking within the limits.
func cpuValidChoice(c GemmChoice) bool {
	for _, k := range cpuChoice {
		if k.name == c.Kernel {
			return c.KC >= 16 && c.KC <= cpuMaxKC && c.MC >= k.mr && c.MC <= cpuMaxMC && c.MC%k.mr == 0 &&
				c.NC >= k.nr && c.NC <= cpuMaxNC && c.NC%k.nr == 0
		}
	}
	return false
}

// save writes the tuned choices to the cache, with t.mu held, through a
// temporary file so that a reader never sees half a file. Failures are
// ignored: the choices stay in memory.
func (t *cpuTuner) save() {
	if t.mode != "disk" {
		return
	}
	path := t.cacheFile()
	if path == "" || os.MkdirAll(filepath.Dir(path), 0o755) != nil {
		return
	}
	var out []GemmChoice
	for _, c := range t.choices {
		out = append(out, c)
	}
	data, err := json.MarshalIndent(out, "", " ")
	if err != nil {
		return
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".cpu-gemm-*")
	if err != nil {
		return
	}
	_, err = tmp.Write(data)
	if cerr := tmp.Close(); err == nil && cerr == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		os.Remove(tmp.Name())
	}
}

// cpuPow2Floor returns the largest power of two not above x (1 for x < 1).
func cpuPow2Floor(x int) int {
	if x < 1 {
		return 1
	}
	return 1 << (bits.Len(uint(x)) - 1)
}

// cpuRoundDown rounds x down to a multiple of m.
func cpuRoundDown(x, m int) int { return x / m * m }

// PeakGFLOPS returns the float32 rate, in GFLOP/s, of fused multiply-adds
// on the widest vectors the CPU has, run on threads goroutines at once,
// measured once per thread count (about 0.1 s) and remembered: the ceiling
// of the matrix product (0 without vector FMA or assembly).
func PeakGFLOPS(threads int) float64 {
	cpuPeaks.Lock()
	defer cpuPeaks.Unlock()
	if p, ok := cpuPeaks.m[threads]; ok {
		return p
	}
	p := cpuinfo.PeakGFLOPS(threads, 100*time.Millisecond)
	cpuPeaks.m[threads] = p
	return p
}

var cpuPeaks = struct {
	sync.Mutex
	m map[int]float64
}{m: map[int]float64{}}
