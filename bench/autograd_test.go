package bench

import (
	"testing"

	"github.com/wgtensor/wgtensor/autograd"
	"github.com/wgtensor/wgtensor/device"
	"github.com/wgtensor/wgtensor/tensor"
)

// BenchmarkAutograd measures autograd's bookkeeping on the CPU with tensors
// of 16 elements, where the arithmetic itself costs little: a chain of 100
// ops computed with plain tensors, the same chain recorded for
// differentiation, and recorded then differentiated. The ns/op metric is
// per op of the chain.
func BenchmarkAutograd(b *testing.B) {
	dev := device.CPU()
	rng := tensor.NewRNG(6)
	x, y := tensor.Randn(dev, rng, 16), tensor.Randn(dev, rng, 16)
	const ops = 100
	perOp := func(b *testing.B) {
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/ops, "ns/recorded-op")
	}
	// chain alternates Mul and Add with c, starting from z.
	chain := func(z, c *autograd.Var) *autograd.Var {
		for i := range ops {
			if i%2 == 0 {
				z = z.Mul(c)
			} else {
				z = z.Add(c)
			}
		}
		return z
	}
	b.Run("forward", func(b *testing.B) {
		// Consts record nothing: this is the plain tensor arithmetic.
		z, c := autograd.Const(x), autograd.Const(y)
		for b.Loop() {
			chain(z, c)
		}
		perOp(b)
	})
	b.Run("recorded", func(b *testing.B) {
		w, c := autograd.Param(x), autograd.Const(y)
		for b.Loop() {
			chain(w, c)
		}
		perOp(b)
	})
	b.Run("recorded+backward", func(b *testing.B) {
		w, c := autograd.Param(x), autograd.Const(y)
		for b.Loop() {
			chain(w, c).Sum().Backward()
			w.ZeroGrad()
		}
		perOp(b)
	})
}
