// Package cpuinfo describes the CPU the process runs on: its vendor, family
// and model, the microarchitecture they name where it is known, the sizes
// of its caches as CPUID reports them, and the vector features the CPU
// kernels choose between. It also measures the cores' peak rate of fused
// multiply-adds, the ceiling the GEMM kernels are judged against.
package cpuinfo

import (
	"fmt"
	"runtime"
	"strings"
	"sync"
	"time"
)

// Info describes the CPU.
type Info struct {
	Vendor string // CPUID's vendor string: "GenuineIntel", "AuthenticAMD", or "" off x86
	Brand  string // the brand string, e.g. "AMD EPYC 9555 64-Core Processor"
	Family int    // the display family (base plus extended)
	Model  int    // the display model (base plus extended)
	Arch   string // the microarchitecture, e.g. "Zen 5" or "Sapphire Rapids"; "" when not known

	// The data cache sizes in bytes: L1D and L2 per core, L3 the whole
	// cache one core shares with the others (0 when there is none).
	L1D, L2, L3 int
	// CachesKnown is false when CPUID did not report the caches and the
	// sizes above are defaults (32 KiB, 1 MiB, 8 MiB).
	CachesKnown bool

	// Features lists the vector extensions the kernels care about that the
	// CPU has, in the order avx2, fma, avx512f, avx512_bf16, avx512_fp16,
	// amx_tile, amx_bf16.
	Features []string
}

// Has reports whether the CPU has the feature named as in Features.
func (i Info) Has(feature string) bool {
	for _, f := range i.Features {
		if f == feature {
			return true
		}
	}
	return false
}

// String gives the CPU in one line: brand, microarchitecture, caches and
// features.
func (i Info) String() string {
	name := i.Brand
	if name == "" {
		name = runtime.GOARCH
	}
	arch := i.Arch
	if arch == "" {
		arch = "unknown microarchitecture"
	}
	caches := "caches assumed"
	if i.CachesKnown {
		caches = "caches from CPUID"
	}
	return fmt.Sprintf("%s (%s, family %d model %d) | L1d %d KiB, L2 %d KiB, L3 %d KiB (%s) | %s",
		name, arch, i.Family, i.Model, i.L1D>>10, i.L2>>10, i.L3>>10, caches, strings.Join(i.Features, " "))
}

var (
	once sync.Once
	info Info
)

// Get returns the description of this CPU, read once.
func Get() Info {
	once.Do(func() { info = read() })
	return info
}

// Default cache sizes, for CPUs that do not report theirs.
const (
	defaultL1D = 32 << 10
	defaultL2  = 1 << 20
	defaultL3  = 8 << 20
)

func read() Info {
	i := Info{L1D: defaultL1D, L2: defaultL2, L3: defaultL3}
	if !hasCPUID {
		return i
	}
	maxLeaf, b, c, d := cpuid(0, 0)
	i.Vendor = string(le32(b)) + string(le32(d)) + string(le32(c))
	if maxLeaf >= 1 {
		a, _, _, _ := cpuid(1, 0)
		i.Family = int(a>>8) & 0xf
		i.Model = int(a>>4) & 0xf
		if i.Family == 0xf {
			i.Family += int(a>>20) & 0xff
		}
		if i.Family == 6 || i.Family >= 0xf {
			i.Model |= int(a>>16) & 0xf << 4
		}
	}
	maxExt, _, _, _ := cpuid(0x80000000, 0)
	if maxExt >= 0x80000004 {
		var s []byte
		for leaf := uint32(0x80000002); leaf <= 0x80000004; leaf++ {
			a, b, c, d := cpuid(leaf, 0)
			for _, r := range []uint32{a, b, c, d} {
				s = append(s, le32(r)...)
			}
		}
		i.Brand = strings.TrimSpace(strings.TrimRight(string(s), "\x00"))
	}
	i.Arch = arch(i.Vendor, i.Family, i.Model)
	i.Features = features(maxLeaf)
	switch {
	case i.Vendor == "GenuineIntel" && maxLeaf >= 4:
		i.readCaches(4)
	case i.Vendor == "AuthenticAMD" && maxExt >= 0x8000001d:
		i.readCaches(0x8000001d)
	}
	if !i.CachesKnown && i.Vendor == "AuthenticAMD" && maxExt >= 0x80000006 {
		// The legacy leaves, which virtual machines fill in more often:
		// L1D in KiB in ECX[31:24] of 0x80000005, L2 in KiB in ECX[31:16]
		// and L3 in 512 KiB units in EDX[31:18] of 0x80000006.
		_, _, c5, _ := cpuid(0x80000005, 0)
		_, _, c6, d6 := cpuid(0x80000006, 0)
		if l1, l2 := int(c5>>24)<<10, int(c6>>16)<<10; l1 > 0 && l2 > 0 {
			i.L1D, i.L2, i.L3, i.CachesKnown = l1, l2, int(d6>>18)<<19, true
		}
	}
	return i
}

// readCaches reads the deterministic cache parameters of leaf 4 (Intel)
// or 0x8000001d (AMD), which share one layout.
func (i *Info) readCaches(leaf uint32) {
	for sub := uint32(0); sub < 16; sub++ {
		a, b, c, _ := cpuid(leaf, sub)
		kind := a & 0x1f
		if kind == 0 {
			break
		}
		if kind != 1 && kind != 3 { // data or unified
			continue
		}
		ways := int(b>>22) + 1
		parts := int(b>>12)&0x3ff + 1
		line := int(b)&0xfff + 1
		size := ways * parts * line * (int(c) + 1)
		switch a >> 5 & 7 {
		case 1:
			i.L1D = size
		case 2:
			i.L2 = size
		case 3:
			i.L3 = size
		}
		i.CachesKnown = true
	}
}

// features lists the vector extensions of leaf 7 and the AVX bits of leaf
// 1 that the kernels use (see Info.Features).
func features(maxLeaf uint32) []string {
	var fs []string
	if maxLeaf < 7 {
		return fs
	}
	_, _, c1, _ := cpuid(1, 0)
	_, b7, _, d7 := cpuid(7, 0)
	a71, _, _, _ := cpuid(7, 1)
	for _, f := range []struct {
		name string
		on   bool
	}{
		{"avx2", b7&(1<<5) != 0},
		{"fma", c1&(1<<12) != 0},
		{"avx512f", b7&(1<<16) != 0},
		{"avx512_bf16", a71&(1<<5) != 0},
		{"avx512_fp16", d7&(1<<23) != 0},
		{"amx_tile", d7&(1<<24) != 0},
		{"amx_bf16", d7&(1<<22) != 0},
	} {
		if f.on {
			fs = append(fs, f.name)
		}
	}
	return fs
}

// arch names the microarchitecture of the x86 CPUs the kernels have been
// measured on or are likely to meet in a cloud.
func arch(vendor string, family, model int) string {
	switch vendor {
	case "AuthenticAMD":
		switch {
		case family == 0x17 && model < 0x30:
			return "Zen"
		case family == 0x17:
			return "Zen 2"
		case family == 0x19 && (model >= 0x10 && model < 0x20 || model >= 0x60 && model < 0x80 || model >= 0xa0 && model < 0xb0):
			return "Zen 4"
		case family == 0x19:
			return "Zen 3"
		case family == 0x1a:
			return "Zen 5"
		}
	case "GenuineIntel":
		if family != 6 {
			return ""
		}
		switch model {
		case 0x3f:
			return "Haswell"
		case 0x4f, 0x56:
			return "Broadwell"
		case 0x55:
			return "Skylake-SP/Cascade Lake"
		case 0x6a, 0x6c:
			return "Ice Lake-SP"
		case 0x8f:
			return "Sapphire Rapids"
		case 0xcf:
			return "Emerald Rapids"
		case 0xad, 0xae:
			return "Granite Rapids"
		case 0x8c, 0x8d:
			return "Tiger Lake"
		case 0x97, 0x9a, 0xb7, 0xba, 0xbf:
			return "Alder/Raptor Lake"
		}
	}
	return ""
}

// le32 gives the four bytes of r, low first.
func le32(r uint32) []byte { return []byte{byte(r), byte(r >> 8), byte(r >> 16), byte(r >> 24)} }

// PeakGFLOPS measures the rate of float32 fused multiply-adds that threads
// goroutines reach together with the widest vectors the CPU has, in GFLOP/s
// (two operations per multiply-add), over about d. It is 0 where there is
// no vector FMA (or no assembly).
func PeakGFLOPS(threads int, d time.Duration) float64 {
	loop, flops := fmaLoop()
	if loop == nil || threads < 1 {
		return 0
	}
	// Calibrate the iterations of one run on one thread: about d/5.
	n := 1 << 14
	for {
		t := time.Now()
		loop(n)
		if el := time.Since(t); el > d/50 {
			n = int(float64(n) * float64(d/5) / float64(el))
			break
		}
		n *= 4
	}
	best := 0.0
	for range 5 {
		var wg sync.WaitGroup
		start := make(chan struct{})
		for range threads {
			wg.Add(1)
			go func() {
				defer wg.Done()
				runtime.LockOSThread()
				defer runtime.UnlockOSThread()
				<-start
				loop(n)
			}()
		}
		t := time.Now()
		close(start)
		wg.Wait()
		best = max(best, float64(threads)*float64(n)*float64(flops)/time.Since(t).Seconds()/1e9)
	}
	return best
}
