package tensor_test

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/wgtensor/wgtensor/device/devicetest"
	"github.com/wgtensor/wgtensor/tensor"
)

// TestLayerNorm compares LayerNorm on every device with a float64
// reference: rows of several lengths (beyond and within a vector step),
// with and without weight and bias, a transposed input, and rows whose
// mean is large beside their spread (a one-pass variance would lose it).
func TestLayerNorm(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	cases := []struct {
		name       string
		rows, cols int
		offset     float64
		weighted   bool
		transposed bool
	}{
		{"bert-rows", 128, 256, 0, true, false},
		{"odd-rows", 7, 37, 0, true, false},
		{"no-weight", 5, 64, 0, false, false},
		{"large-mean", 4, 300, 1000, true, false},
		{"transposed", 33, 20, 0, true, true},
		{"one-column", 3, 1, 0, true, false},
	}
	for _, c := range cases {
		xv := make([]float32, c.rows*c.cols)
		for i := range xv {
			xv[i] = float32(c.offset + rng.NormFloat64())
		}
		wv, bv := make([]float32, c.cols), make([]float32, c.cols)
		for i := range wv {
			wv[i], bv[i] = float32(1+0.5*rng.NormFloat64()), float32(rng.NormFloat64())
		}
		want := make([]float64, len(xv))
		for r := range c.rows {
			row := xv[r*c.cols : (r+1)*c.cols]
			var mean, v float64
			for _, x := range row {
				mean += float64(x)
			}
			mean /= float64(c.cols)
			for _, x := range row {
				v += (float64(x) - mean) * (float64(x) - mean)
			}
			rstd := 1 / math.Sqrt(v/float64(c.cols)+1e-5)
			for i, x := range row {
				y := (float64(x) - mean) * rstd
				if c.weighted {
					y = y*float64(wv[i]) + float64(bv[i])
				}
				want[r*c.cols+i] = y
			}
		}
		for _, dev := range devicetest.Devices(t) {
			x := tensor.New(dev, xv, c.rows, c.cols)
			if c.transposed {
				// The same rows, read through a transposed view.
				x = tensor.New(dev, xv, c.rows, c.cols).Transpose(0, 1).Contiguous().Transpose(0, 1)
			}
			var w, b *tensor.Tensor
			if c.weighted {
				w, b = tensor.New(dev, wv, c.cols), tensor.New(dev, bv, c.cols)
			}
			got, err := tensor.LayerNorm(x, w, b, 1e-5).Data()
			require.NoError(t, err, "%s on %s", c.name, dev.Name())
			tol := 2e-4
			if c.offset != 0 { // float32 sums of values near 1000
				tol = 2e-3
			}
			for i := range want {
				require.InDelta(t, want[i], got[i], tol*(1+math.Abs(want[i])), "%s on %s: element %d", c.name, dev.Name(), i)
			}
		}
	}
	dev := devicetest.Devices(t)[0]
	assert.Panics(t, func() { tensor.LayerNorm(tensor.Zeros(dev, 2, 3), tensor.Zeros(dev, 4), nil, 1e-5) })
	assert.Panics(t, func() { tensor.LayerNorm(tensor.Scalar(dev, 1), nil, nil, 1e-5) })
}
