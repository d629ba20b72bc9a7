//go:build !purego

package cpuinfo

import "golang.org/x/sys/cpu"

// cpuid executes CPUID for leaf and sub-leaf.
//
//go:noescape
func cpuid(leaf, sub uint32) (a, b, c, d uint32)

//go:noescape
func fmaLoop512(n int)

//go:noescape
func fmaLoop256(n int)

const hasCPUID = true

// fmaLoop returns the loop that measures the widest fused multiply-add the
// CPU has, and the floating-point operations of one iteration (0 when it
// has none).
func fmaLoop() (func(n int), int) {
	switch {
	case cpu.X86.HasAVX512F:
		return fmaLoop512, 24 * 16 * 2
	case cpu.X86.HasAVX2 && cpu.X86.HasFMA:
		return fmaLoop256, 12 * 8 * 2
	}
	return nil, 0
}
