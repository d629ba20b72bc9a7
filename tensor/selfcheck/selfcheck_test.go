package selfcheck

import (
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/wgtensor/wgtensor/device/devicetest"
)

func TestRunPassesOnEveryDevice(t *testing.T) {
	for _, dev := range devicetest.Devices(t) {
		results := Run(dev)
		require.NotEmpty(t, results)
		for _, r := range results {
			assert.NoError(t, r.Err, "%s on %s", r.Op, dev.Name())
		}
	}
}

func TestCompareFindsMismatches(t *testing.T) {
	nan := float32(math.NaN())
	_, err := compare([]float32{1, 2, 3}, []float32{1, 2, 3}, 0)
	assert.NoError(t, err)
	_, err = compare([]float32{1, nan}, []float32{1, nan}, 0)
	assert.NoError(t, err, "NaN matches NaN")
	d, err := compare([]float32{1, 2.5, 3}, []float32{1, 2, 3}, 1e-3)
	assert.ErrorContains(t, err, "element 1: got 2.5, want 2")
	assert.InDelta(t, 0.5/3, d, 1e-9)
	_, err = compare([]float32{1}, []float32{1, 2}, 0)
	assert.ErrorContains(t, err, "got 1 values, want 2")
	_, err = compare([]float32{nan}, []float32{1}, 1)
	assert.Error(t, err, "NaN against a number is a mismatch")
}
