// Command devices lists the devices wgtensor can open here and checks every
// primitive on each of them against the CPU, one line per op. It exits with
// status 1 when any check fails.
package main

import (
	"fmt"
	"os"

	"github.com/wgtensor/wgtensor/device"
	"github.com/wgtensor/wgtensor/device/cpu"
	"github.com/wgtensor/wgtensor/tensor/selfcheck"
)

func main() {
	devs, gpuErr := device.Available()
	fmt.Println("devices:")
	for _, d := range devs {
		fmt.Printf("  %s\n", d.Name())
		if d.Kind() == device.KindCPU {
			// The CPU as its kernels see it, and the GEMM kernels they chose.
			fmt.Printf("    %s\n", cpu.Describe())
		}
		if desc, ok := d.(device.Describer); ok {
			c := desc.Capabilities()
			subgroups := "no subgroup operations"
			if c.SubgroupSize > 0 {
				subgroups = fmt.Sprintf("subgroups of %d", c.SubgroupSize)
			}
			fmt.Printf("    engine %s, backend %s; %s, shader-f16 %v, timestamps %v\n", c.Engine, c.Backend, subgroups, c.ShaderF16, c.Timestamps)
			fmt.Printf("    limits: storage binding %d MiB, buffer %d MiB, %d workgroups per dimension\n",
				c.MaxStorageBufferBinding>>20, c.MaxBuffer>>20, c.MaxWorkgroupsPerDimension)
		}
	}
	if gpuErr != nil {
		fmt.Printf("  (no GPU: %v)\n", gpuErr)
	}
	failed := 0
	for _, d := range devs {
		fmt.Printf("\nself-check on %s\n", d.Name())
		for _, r := range selfcheck.Run(d) {
			status := "pass"
			detail := fmt.Sprintf("max diff %.1e", r.MaxDiff)
			if r.Err != nil {
				status, detail = "FAIL", r.Err.Error()
				failed++
			}
			fmt.Printf("  %-4s %-17s %-28s %8.1fms\n", status, r.Op, detail, float64(r.Elapsed.Microseconds())/1000)
		}
	}
	if failed > 0 {
		fmt.Printf("\n%d checks failed\n", failed)
		os.Exit(1)
	}
	fmt.Println("\nall checks passed")
}
