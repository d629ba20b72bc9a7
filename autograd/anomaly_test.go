package autograd_test

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/wgtensor/wgtensor/autograd"
	"github.com/wgtensor/wgtensor/device/devicetest"
	"github.com/wgtensor/wgtensor/tensor"
)

// TestDetectAnomaly: inside DetectAnomaly the first op whose result or
// gradient holds NaN or Inf is named, forward and backward; clean code
// and code outside the scope run as usual.
func TestDetectAnomaly(t *testing.T) {
	for _, dev := range devicetest.Devices(t) {
		t.Run(dev.Kind().String(), func(t *testing.T) {
			param := func(vs ...float32) *autograd.Var { return autograd.Param(tensor.New(dev, vs, len(vs))) }
			cases := []struct {
				name     string
				run      func()
				op       string
				backward bool
				nan, inf int
			}{
				{"forward log of a negative and of zero", func() {
					x := param(1, 0, -1)
					x.MulScalar(2).Log().Sum().Backward()
				}, "Log", false, 1, 1},
				{"forward division by zero", func() {
					x, y := param(1, 2), param(1, 0)
					x.Exp().Div(y).Sum().Backward()
				}, "Div", false, 0, 1},
				{"backward of sqrt at zero", func() {
					x := param(0, 4)
					x.Sqrt().Sum().Backward() // d sqrt(x)/dx = 1/(2 sqrt(x)): +Inf at 0
				}, "Sqrt", true, 0, 1},
			}
			for _, c := range cases {
				t.Run(c.name, func(t *testing.T) {
					err := autograd.DetectAnomaly(c.run)
					var a *autograd.AnomalyError
					require.True(t, errors.As(err, &a), "want an AnomalyError, got %v", err)
					assert.Equal(t, c.op, a.Op)
					assert.Equal(t, c.backward, a.Backward)
					assert.Equal(t, c.nan, a.NaN)
					assert.Equal(t, c.inf, a.Inf)
					assert.Contains(t, err.Error(), c.op)
				})
			}

			// A clean step passes, and the gradients are those of a run
			// without detection.
			x := param(1, 2, 3)
			require.NoError(t, autograd.DetectAnomaly(func() { x.Square().Sum().Backward() }))
			g, err := x.Grad().Data()
			require.NoError(t, err)
			assert.Equal(t, []float32{2, 4, 6}, g)

			// Outside the scope NaN flows through without complaint.
			y := param(-1)
			assert.NotPanics(t, func() { y.Log().Sum().Backward() })
		})
	}
}
