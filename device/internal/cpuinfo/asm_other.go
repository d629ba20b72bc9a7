//go:build !amd64 || purego

package cpuinfo

const hasCPUID = false

func cpuid(leaf, sub uint32) (a, b, c, d uint32) { return 0, 0, 0, 0 }

func fmaLoop() (func(n int), int) { return nil, 0 }
