package nn

import (
	"math"
	"math/rand/v2"
	"sync"

	"github.com/wgtensor/wgtensor/device"
	"github.com/wgtensor/wgtensor/tensor"
)

// rng draws initial weights and dropout masks, like PyTorch's default
// generator; Seed makes runs repeatable.
var rng = struct {
	sync.Mutex
	r *rand.Rand
}{r: tensor.NewRNG(0)}

// Seed reseeds the generator that layer initialisation and dropout use.
func Seed(seed uint64) {
	rng.Lock()
	defer rng.Unlock()
	rng.r = tensor.NewRNG(seed)
}

// withRNG runs f with the package generator locked.
func withRNG[T any](f func(r *rand.Rand) T) T {
	rng.Lock()
	defer rng.Unlock()
	return f(rng.r)
}

// Fans returns the fan-in and fan-out of a weight of the given shape, as
// PyTorch computes them: [out, in] for linear layers, [out, in, k...] for
// convolutions.
func Fans(shape []int) (fanIn, fanOut int) {
	if len(shape) < 2 {
		panicf("Fans", "weight of shape %v needs at least 2 dimensions", shape)
	}
	field := device.Numel(shape[2:])
	return shape[1] * field, shape[0] * field
}

// Gain returns the recommended gain for a nonlinearity, as
// torch.nn.init.calculate_gain: "linear", "conv2d", "sigmoid" give 1, "tanh"
// 5/3, "relu" √2, "leaky_relu" √(2/(1+slope²)), "selu" 3/4.
func Gain(nonlinearity string, slope float64) float64 {
	switch nonlinearity {
	case "linear", "conv1d", "conv2d", "conv3d", "sigmoid":
		return 1
	case "tanh":
		return 5.0 / 3
	case "relu":
		return math.Sqrt2
	case "leaky_relu":
		return math.Sqrt(2 / (1 + slope*slope))
	case "selu":
		return 0.75
	}
	panicf("Gain", "unknown nonlinearity %q", nonlinearity)
	return 0
}

// FanMode chooses which fan Kaiming initialisation preserves.
type FanMode int

// The fan modes.
const (
	FanIn FanMode = iota
	FanOut
)

func fan(shape []int, mode FanMode) int {
	in, out := Fans(shape)
	if mode == FanOut {
		return out
	}
	return in
}

// UniformInit returns a tensor of values drawn from U(lo, hi).
func UniformInit(dev device.Device, lo, hi float64, shape ...int) *tensor.Tensor {
	return withRNG(func(r *rand.Rand) *tensor.Tensor { return tensor.Uniform(dev, r, lo, hi, shape...) })
}

// NormalInit returns a tensor of values drawn from N(mean, std²).
func NormalInit(dev device.Device, mean, std float64, shape ...int) *tensor.Tensor {
	t := withRNG(func(r *rand.Rand) *tensor.Tensor { return tensor.Randn(dev, r, shape...) })
	return t.MulScalar(std).AddScalar(mean)
}

// XavierUniform draws from U(-a, a) with a = gain·√(6/(fanIn+fanOut)), as
// torch.nn.init.xavier_uniform_.
func XavierUniform(dev device.Device, gain float64, shape ...int) *tensor.Tensor {
	in, out := Fans(shape)
	a := gain * math.Sqrt(6/float64(in+out))
	return UniformInit(dev, -a, a, shape...)
}

// XavierNormal draws from N(0, σ²) with σ = gain·√(2/(fanIn+fanOut)).
func XavierNormal(dev device.Device, gain float64, shape ...int) *tensor.Tensor {
	in, out := Fans(shape)
	return NormalInit(dev, 0, gain*math.Sqrt(2/float64(in+out)), shape...)
}

// KaimingUniform draws from U(-b, b) with b = gain·√(3/fan), as
// torch.nn.init.kaiming_uniform_ with gain = Gain(nonlinearity, a).
func KaimingUniform(dev device.Device, mode FanMode, gain float64, shape ...int) *tensor.Tensor {
	b := gain * math.Sqrt(3/float64(fan(shape, mode)))
	return UniformInit(dev, -b, b, shape...)
}

// KaimingNormal draws from N(0, σ²) with σ = gain/√fan.
func KaimingNormal(dev device.Device, mode FanMode, gain float64, shape ...int) *tensor.Tensor {
	return NormalInit(dev, 0, gain/math.Sqrt(float64(fan(shape, mode))), shape...)
}

// defaultWeight is PyTorch's initialisation of Linear and Conv weights:
// kaiming_uniform_ with a = √5, that is U(-1/√fanIn, 1/√fanIn).
func defaultWeight(dev device.Device, shape ...int) *tensor.Tensor {
	return KaimingUniform(dev, FanIn, Gain("leaky_relu", math.Sqrt(5)), shape...)
}

// defaultBias is PyTorch's initialisation of Linear and Conv biases:
// U(-1/√fanIn, 1/√fanIn).
func defaultBias(dev device.Device, fanIn int, n int) *tensor.Tensor {
	b := 1 / math.Sqrt(float64(max(fanIn, 1)))
	return UniformInit(dev, -b, b, n)
}
