package device

import (
	"fmt"
	"strings"
)

// Parse returns the device a -device flag names: "cpu", "gpu" or "auto".
// "auto" takes the GPU when a hardware one answers and otherwise the CPU (a
// software adapter such as lavapipe is a real Vulkan device but slower than
// the CPU backend; ask for it with "gpu"); the note it returns says which it
// took and why, for the program to print.
func Parse(name string) (dev Device, note string, err error) {
	switch strings.ToLower(strings.TrimSpace(name)) {
	case "cpu":
		return CPU(), "", nil
	case "gpu":
		g, err := GPU()
		if err != nil {
			return nil, "", err
		}
		return g, "", nil
	case "auto", "":
		g, err := GPU()
		if err != nil {
			return CPU(), fmt.Sprintf("auto: using the CPU because no GPU answered (%v)", err), nil
		}
		if s, ok := g.(interface{ Software() bool }); ok && s.Software() {
			return CPU(), fmt.Sprintf("auto: using the CPU; the only GPU, %s, is a software renderer (use -device=gpu to run on it)", g.Name()), nil
		}
		return g, "auto: using " + g.Name(), nil
	}
	return nil, "", fmt.Errorf("device: unknown device %q (want cpu, gpu or auto)", name)
}

// Available returns every device that can be opened here, the CPU first,
// and for the GPU the reason it could not be opened, if any.
func Available() (devs []Device, gpuErr error) {
	devs = []Device{CPU()}
	g, err := GPU()
	if err != nil {
		return devs, err
	}
	return append(devs, g), nil
}
