package device_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/wgtensor/wgtensor/device"
)

func TestParse(t *testing.T) {
	cpu, note, err := device.Parse("cpu")
	require.NoError(t, err)
	assert.Equal(t, device.KindCPU, cpu.Kind())
	assert.Empty(t, note)

	_, _, err = device.Parse("tpu")
	assert.EqualError(t, err, `device: unknown device "tpu" (want cpu, gpu or auto)`)

	auto, note, err := device.Parse("auto")
	require.NoError(t, err)
	assert.Contains(t, note, "auto: using")
	gpu, gpuErr := device.GPU()
	switch {
	case gpuErr != nil:
		assert.Equal(t, device.KindCPU, auto.Kind())
		assert.Contains(t, note, "no GPU answered")
	case gpu.(interface{ Software() bool }).Software():
		assert.Equal(t, device.KindCPU, auto.Kind(), "a software GPU is slower than the CPU backend")
		assert.Contains(t, note, "software renderer")
	default:
		assert.Equal(t, gpu, auto)
	}
}
