package nn_test

import (
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/wgtensor/wgtensor/autograd"
	"github.com/wgtensor/wgtensor/device"
	"github.com/wgtensor/wgtensor/nn"
	"github.com/wgtensor/wgtensor/tensor"
)

// roundTripNet mirrors RoundTripNet of testdata/roundtrip.py.
type roundTripNet struct {
	Conv *nn.Conv2d
	BN   *nn.BatchNorm
	FC1  *nn.Linear
	LN   *nn.LayerNorm
	FC2  *nn.Linear
}

func newRoundTripNet(dev device.Device) *roundTripNet {
	return &roundTripNet{
		Conv: nn.NewConv2d(dev, 1, 4, 3, 3, tensor.Conv2DOptions{Padding: [2]int{1, 1}}),
		BN:   nn.NewBatchNorm2d(dev, 4),
		FC1:  nn.NewLinear(dev, 4*4*4, 16),
		LN:   nn.NewLayerNorm(dev, 16),
		FC2:  nn.NewLinear(dev, 16, 3),
	}
}

func (n *roundTripNet) Forward(x *autograd.Var) *autograd.Var {
	x = autograd.MaxPool2D(n.BN.Forward(n.Conv.Forward(x)).ReLU(), tensor.Pool2DOptions{Kernel: [2]int{2, 2}})
	x = x.Flatten(1, -1)
	return n.FC2.Forward(n.LN.Forward(n.FC1.Forward(x).ReLU()))
}

func names(ps []nn.NamedParam) []string {
	var out []string
	for _, p := range ps {
		out = append(out, p.Name)
	}
	return out
}

func TestNamesFollowPyTorch(t *testing.T) {
	dev := device.CPU()
	net := newRoundTripNet(dev)
	assert.Equal(t, []string{"conv.weight", "conv.bias", "bn.weight", "bn.bias", "fc1.weight", "fc1.bias",
		"ln.weight", "ln.bias", "fc2.weight", "fc2.bias"}, names(nn.NamedParameters(net)))
	var bufs []string
	for _, b := range nn.NamedBuffers(net) {
		bufs = append(bufs, b.Name)
	}
	assert.Equal(t, []string{"bn.running_mean", "bn.running_var", "bn.num_batches_tracked"}, bufs)

	seq := nn.NewSequential(nn.NewLinear(dev, 3, 4), nn.ReLU{}, nn.NewLinear(dev, 4, 2))
	assert.Equal(t, []string{"0.weight", "0.bias", "2.weight", "2.bias"}, names(nn.NamedParameters(seq)))

	rnn := nn.NewLSTM(dev, 3, 4, 2)
	assert.Equal(t, []string{"weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0",
		"weight_ih_l1", "weight_hh_l1", "bias_ih_l1", "bias_hh_l1"}, names(nn.NamedParameters(rnn)))

	enc := nn.NewTransformerEncoderLayer(dev, 8, 2, 16, 0)
	assert.Equal(t, []string{"self_attn.in_proj_weight", "self_attn.in_proj_bias", "self_attn.out_proj.weight",
		"self_attn.out_proj.bias", "linear1.weight", "linear1.bias", "linear2.weight", "linear2.bias",
		"norm1.weight", "norm1.bias", "norm2.weight", "norm2.bias"}, names(nn.NamedParameters(enc)))

	// Tags rename and hide fields; user modules nest.
	type custom struct {
		Encoder *nn.Linear `nn:"enc"`
		Hidden  *nn.Linear `nn:"-"`
		Blocks  []*nn.Linear
		note    *nn.Linear
	}
	c := custom{Encoder: nn.NewLinear(dev, 2, 2), Hidden: nn.NewLinear(dev, 2, 2),
		Blocks: []*nn.Linear{nn.NewLinear(dev, 2, 2)}, note: nn.NewLinear(dev, 2, 2)}
	assert.Equal(t, []string{"enc.weight", "enc.bias", "blocks.0.weight", "blocks.0.bias"}, names(nn.NamedParameters(&c)))
	assert.Equal(t, 2*(4+2), nn.NumParameters(&c))
}

func TestTrainEvalModes(t *testing.T) {
	dev := device.CPU()
	nn.Seed(1)
	drop := nn.NewDropout(0.5)
	net := struct {
		D  *nn.Dropout
		BN *nn.BatchNorm
	}{drop, nn.NewBatchNorm1d(dev, 3)}
	x := autograd.Const(tensor.Ones(dev, 1000))
	y, err := drop.Forward(x).Data()
	require.NoError(t, err)
	zeros, twos := 0, 0
	for _, v := range y {
		switch v {
		case 0:
			zeros++
		case 2:
			twos++
		}
	}
	assert.Equal(t, 1000, zeros+twos, "kept elements are scaled by 1/(1-p)")
	assert.InDelta(t, 500, zeros, 60)

	nn.Eval(&net)
	assert.False(t, drop.Training())
	assert.False(t, net.BN.Training())
	y, err = drop.Forward(x).Data()
	require.NoError(t, err)
	assert.Equal(t, float32(1), y[0])
	nn.Train(&net)
	assert.True(t, net.BN.Training())
}

func TestDefaultInitialisation(t *testing.T) {
	dev := device.CPU()
	nn.Seed(2)
	l := nn.NewLinear(dev, 400, 300)
	w, err := l.Weight.Data()
	require.NoError(t, err)
	bound := 1 / math.Sqrt(400)
	var sum, sq float64
	for _, v := range w {
		require.LessOrEqual(t, math.Abs(float64(v)), bound)
		sum += float64(v)
		sq += float64(v) * float64(v)
	}
	n := float64(len(w))
	assert.InDelta(t, 0, sum/n, 1e-3)
	assert.InDelta(t, bound*bound/3, sq/n, bound*bound/3*0.02, "variance of U(-b, b) is b²/3")

	check := func(name string, x *tensor.Tensor, wantStd float64) {
		v, err := x.Data()
		require.NoError(t, err)
		var s, q float64
		for _, e := range v {
			s += float64(e)
			q += float64(e) * float64(e)
		}
		mean := s / float64(len(v))
		std := math.Sqrt(q/float64(len(v)) - mean*mean)
		assert.InDelta(t, 0, mean, wantStd*0.05, name)
		assert.InEpsilon(t, wantStd, std, 0.03, name)
	}
	check("XavierUniform", nn.XavierUniform(dev, 1, 200, 300), math.Sqrt(2.0/500))
	check("XavierNormal", nn.XavierNormal(dev, 2, 200, 300), 2*math.Sqrt(2.0/500))
	check("KaimingUniform", nn.KaimingUniform(dev, nn.FanIn, nn.Gain("relu", 0), 200, 300), math.Sqrt(2.0/300))
	check("KaimingNormal/fan-out", nn.KaimingNormal(dev, nn.FanOut, nn.Gain("relu", 0), 200, 30, 3, 3), math.Sqrt(2.0/(200*9)))
	assert.InDelta(t, 5.0/3, nn.Gain("tanh", 0), 1e-12)
	in, out := nn.Fans([]int{8, 4, 3, 3})
	assert.Equal(t, [2]int{36, 72}, [2]int{in, out})
}
