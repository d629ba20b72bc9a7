package device_test

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/wgtensor/wgtensor/device"
)

// TestProfileCPU: the CPU cannot profile its kernels (the GPU's profiles
// are tested in package device/webgpu).
func TestProfileCPU(t *testing.T) {
	assert.ErrorContains(t, device.StartProfile(device.CPU()), "cannot profile")
}
