package cpuinfo

import (
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"golang.org/x/sys/cpu"
)

func TestGet(t *testing.T) {
	i := Get()
	t.Log(i)
	assert.GreaterOrEqual(t, i.L1D, 8<<10, "L1D")
	assert.GreaterOrEqual(t, i.L2, i.L1D, "L2 below L1D")
	if runtime.GOARCH != "amd64" || !hasCPUID {
		assert.Empty(t, i.Vendor)
		return
	}
	assert.Contains(t, []string{"GenuineIntel", "AuthenticAMD"}, i.Vendor)
	// CPUID's feature bits agree with the runtime's.
	assert.Equal(t, cpu.X86.HasAVX2, i.Has("avx2"), "avx2")
	assert.Equal(t, cpu.X86.HasFMA, i.Has("fma"), "fma")
	if cpu.X86.HasAVX512F { // CPUID's bit alone does not say the OS saves the registers
		assert.True(t, i.Has("avx512f"), "avx512f")
	}
}

func TestArch(t *testing.T) {
	for _, c := range []struct {
		vendor        string
		family, model int
		want          string
	}{
		{"AuthenticAMD", 0x1a, 0x02, "Zen 5"},
		{"AuthenticAMD", 0x19, 0x11, "Zen 4"},
		{"AuthenticAMD", 0x19, 0x01, "Zen 3"},
		{"AuthenticAMD", 0x17, 0x31, "Zen 2"},
		{"GenuineIntel", 6, 0x8f, "Sapphire Rapids"},
		{"GenuineIntel", 6, 0x55, "Skylake-SP/Cascade Lake"},
		{"GenuineIntel", 6, 0x01, ""},
		{"", 0, 0, ""},
	} {
		assert.Equal(t, c.want, arch(c.vendor, c.family, c.model), "%s %#x %#x", c.vendor, c.family, c.model)
	}
}

func TestPeakGFLOPS(t *testing.T) {
	p := PeakGFLOPS(1, 20*time.Millisecond)
	if _, flops := fmaLoop(); flops == 0 {
		assert.Zero(t, p)
		return
	}
	t.Logf("one core: %.0f GFLOP/s", p)
	// Any core with FMA does at least 8 float32 multiply-adds a ns at 1 GHz.
	assert.Greater(t, p, 16.0)
}
