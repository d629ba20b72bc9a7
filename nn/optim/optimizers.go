package optim

import (
	"math"

	"github.com/wgtensor/wgtensor/autograd"
	"github.com/wgtensor/wgtensor/tensor"
)

// Option sets a hyperparameter of an optimizer; each optimizer documents the
// ones it reads.
type Option func(*config)

type config struct {
	momentum, dampening, weightDecay float64
	nesterov, amsgrad, centered      bool
	beta1, beta2, eps                float64
	alpha, lrDecay, initialAcc       float64
}

// Momentum sets SGD's or RMSprop's momentum factor.
func Momentum(m float64) Option { return func(c *config) { c.momentum = m } }

// Dampening sets SGD's dampening of the momentum.
func Dampening(d float64) Option { return func(c *config) { c.dampening = d } }

// Nesterov makes SGD use Nesterov momentum.
func Nesterov() Option { return func(c *config) { c.nesterov = true } }

// WeightDecay sets the L2 penalty (decoupled, for AdamW).
func WeightDecay(wd float64) Option { return func(c *config) { c.weightDecay = wd } }

// Betas sets Adam's moment decay rates (0.9 and 0.999 by default).
func Betas(b1, b2 float64) Option { return func(c *config) { c.beta1, c.beta2 = b1, b2 } }

// Eps sets the term added to denominators for stability.
func Eps(eps float64) Option { return func(c *config) { c.eps = eps } }

// AMSGrad makes Adam keep the maximum of its second moment estimates.
func AMSGrad() Option { return func(c *config) { c.amsgrad = true } }

// Alpha sets RMSprop's smoothing constant (0.99 by default).
func Alpha(a float64) Option { return func(c *config) { c.alpha = a } }

// Centered makes RMSprop normalise by the estimated variance.
func Centered() Option { return func(c *config) { c.centered = true } }

// LRDecay sets Adagrad's learning-rate decay.
func LRDecay(d float64) Option { return func(c *config) { c.lrDecay = d } }

// InitialAccumulator sets Adagrad's starting sum of squares.
func InitialAccumulator(v float64) Option { return func(c *config) { c.initialAcc = v } }

func newConfig(c config, opts []Option) config {
	for _, o := range opts {
		o(&c)
	}
	return c
}

// withDecay adds the L2 term weightDecay·p to the gradient g.
func withDecay(g, p *tensor.Tensor, wd float64) *tensor.Tensor {
	if wd == 0 {
		return g
	}
	return g.Add(p.MulScalar(wd))
}

// SGD is stochastic gradient descent with optional momentum, dampening,
// Nesterov momentum and weight decay, as torch.optim.SGD.
type SGD struct {
	base
	c config
}

// NewSGD returns SGD over params with learning rate lr; it reads Momentum,
// Dampening, Nesterov and WeightDecay.
func NewSGD(params []*autograd.Var, lr float64, opts ...Option) *SGD {
	return &SGD{base: newBase(params, lr), c: newConfig(config{}, opts)}
}

// Step applies one update.
func (o *SGD) Step() {
	defer o.realize()
	o.steps++
	for i := range o.params {
		g := o.grad(i)
		if g == nil {
			continue
		}
		d := withDecay(g, o.value(i), o.c.weightDecay)
		if o.c.momentum != 0 {
			buf, ok := o.slots[i]["momentum_buffer"]
			if !ok {
				buf = d
			} else {
				buf = buf.MulScalar(o.c.momentum).Add(d.MulScalar(1 - o.c.dampening))
			}
			o.slots[i]["momentum_buffer"] = buf
			if o.c.nesterov {
				d = d.Add(buf.MulScalar(o.c.momentum))
			} else {
				d = buf
			}
		}
		o.update(i, o.value(i).Sub(d.MulScalar(o.lr)))
	}
}

// Adam is the Adam optimizer, as torch.optim.Adam (with L2 weight decay
// added to the gradient) or, made by NewAdamW, torch.optim.AdamW (with
// decoupled weight decay).
type Adam struct {
	base
	c         config
	decoupled bool
}

// NewAdam returns Adam over params with learning rate lr; it reads Betas,
// Eps, WeightDecay and AMSGrad.
func NewAdam(params []*autograd.Var, lr float64, opts ...Option) *Adam {
	return &Adam{base: newBase(params, lr), c: newConfig(config{beta1: 0.9, beta2: 0.999, eps: 1e-8}, opts)}
}

// NewAdamW returns AdamW: Adam with weight decay (0.01 by default)
// subtracted from the parameters rather than added to the gradient.
func NewAdamW(params []*autograd.Var, lr float64, opts ...Option) *Adam {
	a := &Adam{base: newBase(params, lr), decoupled: true,
		c: newConfig(config{beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.01}, opts)}
	return a
}

// Step applies one update.
func (o *Adam) Step() {
	defer o.realize()
	o.steps++
	c := o.c
	bc1 := 1 - math.Pow(c.beta1, float64(o.steps))
	bc2 := math.Sqrt(1 - math.Pow(c.beta2, float64(o.steps)))
	for i := range o.params {
		g := o.grad(i)
		if g == nil {
			continue
		}
		v := o.value(i)
		if o.decoupled {
			v = v.MulScalar(1 - o.lr*c.weightDecay)
		} else {
			g = withDecay(g, v, c.weightDecay)
		}
		m := o.slot(i, "exp_avg").MulScalar(c.beta1).Add(g.MulScalar(1 - c.beta1))
		s := o.slot(i, "exp_avg_sq").MulScalar(c.beta2).Add(g.Square().MulScalar(1 - c.beta2))
		o.slots[i]["exp_avg"], o.slots[i]["exp_avg_sq"] = m, s
		if c.amsgrad {
			s = o.slot(i, "max_exp_avg_sq").Maximum(s)
			o.slots[i]["max_exp_avg_sq"] = s
		}
		denom := s.Sqrt().DivScalar(bc2).AddScalar(c.eps)
		o.update(i, v.Sub(m.Div(denom).MulScalar(o.lr/bc1)))
	}
}

// RMSprop divides the gradient by a running root mean square, as
// torch.optim.RMSprop.
type RMSprop struct {
	base
	c config
}

// NewRMSprop returns RMSprop over params with learning rate lr; it reads
// Alpha, Eps, WeightDecay, Momentum and Centered.
func NewRMSprop(params []*autograd.Var, lr float64, opts ...Option) *RMSprop {
	return &RMSprop{base: newBase(params, lr), c: newConfig(config{alpha: 0.99, eps: 1e-8}, opts)}
}

// Step applies one update.
func (o *RMSprop) Step() {
	defer o.realize()
	o.steps++
	c := o.c
	for i := range o.params {
		g := o.grad(i)
		if g == nil {
			continue
		}
		g = withDecay(g, o.value(i), c.weightDecay)
		sq := o.slot(i, "square_avg").MulScalar(c.alpha).Add(g.Square().MulScalar(1 - c.alpha))
		o.slots[i]["square_avg"] = sq
		var avg *tensor.Tensor
		if c.centered {
			ga := o.slot(i, "grad_avg").MulScalar(c.alpha).Add(g.MulScalar(1 - c.alpha))
			o.slots[i]["grad_avg"] = ga
			avg = sq.Sub(ga.Square()).Sqrt().AddScalar(c.eps)
		} else {
			avg = sq.Sqrt().AddScalar(c.eps)
		}
		step := g.Div(avg)
		if c.momentum > 0 {
			step = o.slot(i, "momentum_buffer").MulScalar(c.momentum).Add(step)
			o.slots[i]["momentum_buffer"] = step
		}
		o.update(i, o.value(i).Sub(step.MulScalar(o.lr)))
	}
}

// Adagrad scales each parameter's step by its accumulated squared
// gradients, as torch.optim.Adagrad.
type Adagrad struct {
	base
	c config
}

// NewAdagrad returns Adagrad over params with learning rate lr; it reads
// LRDecay, WeightDecay, InitialAccumulator and Eps (1e-10 by default).
func NewAdagrad(params []*autograd.Var, lr float64, opts ...Option) *Adagrad {
	return &Adagrad{base: newBase(params, lr), c: newConfig(config{eps: 1e-10}, opts)}
}

// Step applies one update.
func (o *Adagrad) Step() {
	defer o.realize()
	o.steps++
	c := o.c
	clr := o.lr / (1 + float64(o.steps-1)*c.lrDecay)
	for i := range o.params {
		g := o.grad(i)
		if g == nil {
			continue
		}
		g = withDecay(g, o.value(i), c.weightDecay)
		sum, ok := o.slots[i]["sum"]
		if !ok {
			sum = tensor.FullLike(o.value(i), c.initialAcc)
		}
		sum = sum.Add(g.Square())
		o.slots[i]["sum"] = sum
		o.update(i, o.value(i).Sub(g.Div(sum.Sqrt().AddScalar(c.eps)).MulScalar(clr)))
	}
}
