package optim

import (
	"github.com/wgtensor/wgtensor/autograd"
	"github.com/wgtensor/wgtensor/tensor"
)

// ClipGradNorm scales the gradients of params so that their global L2 norm
// is at most maxNorm, as torch.nn.utils.clip_grad_norm_, and returns the
// norm before clipping as a 0-dim tensor. Everything stays on the device:
// the norm is not read back unless the caller reads it.
func ClipGradNorm(params []*autograd.Var, maxNorm float64) *tensor.Tensor {
	var squares []*tensor.Tensor
	for _, p := range params {
		if g := p.Grad(); g != nil {
			squares = append(squares, g.Square().Sum().Reshape(1))
		}
	}
	if len(squares) == 0 {
		return nil
	}
	total := tensor.Concat(squares, 0).Sum().Sqrt()
	// coef = min(maxNorm / (total + 1e-6), 1)
	coef := total.AddScalar(1e-6).RDivScalar(maxNorm).MinimumScalar(1)
	for _, p := range params {
		if g := p.Grad(); g != nil {
			p.SetGrad(g.Mul(coef))
		}
	}
	return total
}
