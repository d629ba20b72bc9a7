package nn_test

import (
	"encoding/json"
	"math"
	"os"
	"slices"
	"sort"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/wgtensor/wgtensor/autograd"
	"github.com/wgtensor/wgtensor/device"
	"github.com/wgtensor/wgtensor/device/devicetest"
	"github.com/wgtensor/wgtensor/nn"
	"github.com/wgtensor/wgtensor/nn/optim"
	"github.com/wgtensor/wgtensor/tensor"
)

// The references come from testdata/gen_nn_reference.py, which runs each
// layer, loss and optimizer in PyTorch (float64) on fixed inputs.

type refTensor struct {
	Shape []int     `json:"shape"`
	DType string    `json:"dtype"`
	Data  []float64 `json:"data"`
	Grad  bool      `json:"grad"`
}

func (r refTensor) on(dev device.Device) *tensor.Tensor {
	shape := r.Shape
	if shape == nil {
		shape = []int{}
	}
	if r.DType == "int32" || r.DType == "int64" {
		v := make([]int32, len(r.Data))
		for i, x := range r.Data {
			v[i] = int32(x)
		}
		return tensor.New(dev, v, shape...)
	}
	return tensor.New(dev, r.floats(), shape...)
}

func (r refTensor) floats() []float32 {
	v := make([]float32, len(r.Data))
	for i, x := range r.Data {
		v[i] = float32(x)
	}
	return v
}

type refLayer struct {
	Name        string               `json:"name"`
	Layer       string               `json:"layer"`
	Config      refConfig            `json:"config"`
	Mode        string               `json:"mode"`
	State       map[string]refTensor `json:"state"`
	Inputs      []refTensor          `json:"inputs"`
	Outputs     []refTensor          `json:"outputs"`
	GradOutputs []*refTensor         `json:"grad_outputs"`
	InputGrads  []*refTensor         `json:"input_grads"`
	ParamGrads  map[string]refTensor `json:"param_grads"`
	StateAfter  map[string]refTensor `json:"state_after"`
}

// refConfig holds every configuration key the references use.
type refConfig struct {
	In, Out, Kernel2                  int
	Kernel, Stride, Padding, Dilation []int
	Groups                            int
	Bias                              bool
	CountIncludePad                   bool `json:"count_include_pad"`
	Start, End                        int
	P                                 float64
	Features                          int
	Eps, Momentum                     float64
	Shape                             []int
	Num, Dim                          int
	Input, Hidden, Layers             int
	Embed, Heads                      int
	Mask                              string
	DModel                            int     `json:"d_model"`
	NHead                             int     `json:"nhead"`
	DimFeedforward                    int     `json:"dim_feedforward"`
	Dropout                           float64 `json:"dropout"`
	Activation                        string
	NormFirst                         bool `json:"norm_first"`
	Axis                              int
	Reduction                         string
	IgnoreIndex                       int     `json:"ignore_index"`
	LabelSmoothing                    float64 `json:"label_smoothing"`
	LR                                float64
	Betas                             []float64
	WeightDecay                       float64 `json:"weight_decay"`
	Nesterov, AMSGrad, Centered       bool
	Dampening, Alpha                  float64
	LRDecay                           float64 `json:"lr_decay"`
	InitialAccumulatorValue           float64 `json:"initial_accumulator_value"`
	StepSize                          int     `json:"step_size"`
	Gamma                             float64
	TMax                              int     `json:"t_max"`
	EtaMin                            float64 `json:"eta_min"`
	StartFactor                       float64 `json:"start_factor"`
	EndFactor                         float64 `json:"end_factor"`
	TotalIters                        int     `json:"total_iters"`
}

type refFile struct {
	Layers []refLayer `json:"layers"`
	Losses []struct {
		Name       string       `json:"name"`
		Loss       string       `json:"loss"`
		Config     refConfig    `json:"config"`
		Inputs     []refTensor  `json:"inputs"`
		Output     refTensor    `json:"output"`
		GradOutput refTensor    `json:"grad_output"`
		InputGrads []*refTensor `json:"input_grads"`
	} `json:"losses"`
	Optimizers []struct {
		Name      string               `json:"name"`
		Optimizer string               `json:"optimizer"`
		Config    refConfig            `json:"config"`
		Params    map[string]refTensor `json:"params"`
		Data      map[string]refTensor `json:"data"`
		Steps     []struct {
			Loss   float64              `json:"loss"`
			Params map[string]refTensor `json:"params"`
		} `json:"steps"`
	} `json:"optimizers"`
	Schedulers []struct {
		Name      string    `json:"name"`
		Scheduler string    `json:"scheduler"`
		Config    refConfig `json:"config"`
		BaseLR    float64   `json:"base_lr"`
		LRs       []float64 `json:"lrs"`
	} `json:"schedulers"`
	Clip []struct {
		Name      string               `json:"name"`
		MaxNorm   float64              `json:"max_norm"`
		Grads     map[string]refTensor `json:"grads"`
		TotalNorm float64              `json:"total_norm"`
		Clipped   map[string]refTensor `json:"clipped"`
	} `json:"clip"`
}

func loadNNReference(t *testing.T) refFile {
	t.Helper()
	raw, err := os.ReadFile("testdata/nn_reference.json")
	require.NoError(t, err)
	var f refFile
	require.NoError(t, json.Unmarshal(raw, &f))
	require.NotEmpty(t, f.Layers)
	return f
}

// layerTol is the tolerance of layers and losses against the float64
// PyTorch references: float32 arithmetic through several ops.
var layerTol = devicetest.Tol{Abs: 2e-5, Rel: 2e-4}

// relativeToMax is the optimizer trajectories' tolerance: a relative error
// of 1e-5, measured against the largest element of the parameter so that
// elements passing near zero are not held to an absolute precision float32
// sums cannot give.
func relativeToMax(want refTensor) devicetest.Tol {
	m := 0.0
	for _, v := range want.Data {
		m = max(m, math.Abs(v))
	}
	return devicetest.Tol{Abs: 1e-5 * m, Rel: 1e-5}
}

// installState sets the module's parameters and buffers from the
// reference's state_dict, requiring the same names: this checks the names
// against PyTorch's too.
func installState(t *testing.T, m any, state map[string]refTensor, dev device.Device) {
	t.Helper()
	var have []string
	for _, p := range nn.NamedParameters(m) {
		have = append(have, p.Name)
		s, ok := state[p.Name]
		require.True(t, ok, "parameter %q is not in PyTorch's state_dict", p.Name)
		require.Equal(t, s.Shape, p.Param.Shape(), "shape of %q", p.Name)
		p.Param.SetValue(s.on(dev))
	}
	for _, b := range nn.NamedBuffers(m) {
		have = append(have, b.Name)
		s, ok := state[b.Name]
		require.True(t, ok, "buffer %q is not in PyTorch's state_dict", b.Name)
		b.Buffer.T = s.on(dev)
	}
	var want []string
	for name := range state {
		want = append(want, name)
	}
	sort.Strings(have)
	sort.Strings(want)
	require.Equal(t, want, have, "state_dict names")
}

// buildLayer makes the module of a reference case and a function that runs
// it on the case's inputs.
func buildLayer(t *testing.T, c refLayer, dev device.Device) (any, func(in []*autograd.Var) []*autograd.Var) {
	cfg := c.Config
	one := func(f func(x *autograd.Var) *autograd.Var) func(in []*autograd.Var) []*autograd.Var {
		return func(in []*autograd.Var) []*autograd.Var { return []*autograd.Var{f(in[0])} }
	}
	pair := func(k []int) [2]int { return [2]int{k[0], k[1]} }
	switch c.Layer {
	case "linear":
		l := nn.NewLinear(dev, cfg.In, cfg.Out)
		if !cfg.Bias {
			l.Bias = nil
		}
		return l, one(l.Forward)
	case "conv2d":
		l := nn.NewConv2d(dev, cfg.In, cfg.Out, cfg.Kernel[0], cfg.Kernel[1], tensor.Conv2DOptions{
			Stride: pair(cfg.Stride), Padding: pair(cfg.Padding), Dilation: pair(cfg.Dilation), Groups: cfg.Groups})
		if !cfg.Bias {
			l.Bias = nil
		}
		return l, one(l.Forward)
	case "maxpool2d":
		l := &nn.MaxPool2d{Options: tensor.Pool2DOptions{Kernel: pair(cfg.Kernel), Stride: pair(cfg.Stride), Padding: pair(cfg.Padding)}}
		return l, one(l.Forward)
	case "avgpool2d":
		l := &nn.AvgPool2d{Options: tensor.Pool2DOptions{Kernel: pair(cfg.Kernel), Stride: pair(cfg.Stride), Padding: pair(cfg.Padding),
			ExcludePadding: !cfg.CountIncludePad}}
		return l, one(l.Forward)
	case "flatten":
		l := &nn.Flatten{Start: cfg.Start, End: cfg.End}
		return l, one(l.Forward)
	case "dropout":
		l := nn.NewDropout(cfg.P)
		return l, one(l.Forward)
	case "batchnorm1d", "batchnorm2d":
		l := nn.NewBatchNorm1d(dev, cfg.Features)
		if c.Layer == "batchnorm2d" {
			l = nn.NewBatchNorm2d(dev, cfg.Features)
		}
		l.Eps, l.Momentum = cfg.Eps, cfg.Momentum
		return l, one(l.Forward)
	case "layernorm":
		l := nn.NewLayerNorm(dev, cfg.Shape...)
		l.Eps = cfg.Eps
		return l, one(l.Forward)
	case "embedding":
		l := nn.NewEmbedding(dev, cfg.Num, cfg.Dim)
		return l, func(in []*autograd.Var) []*autograd.Var { return []*autograd.Var{l.Forward(in[0].Value())} }
	case "rnn":
		l := nn.NewRNN(dev, cfg.Input, cfg.Hidden, cfg.Layers)
		return l, func(in []*autograd.Var) []*autograd.Var {
			out, h := l.Forward(in[0], in[1])
			return []*autograd.Var{out, h}
		}
	case "gru":
		l := nn.NewGRU(dev, cfg.Input, cfg.Hidden, cfg.Layers)
		return l, func(in []*autograd.Var) []*autograd.Var {
			out, h := l.Forward(in[0], in[1])
			return []*autograd.Var{out, h}
		}
	case "lstm":
		l := nn.NewLSTM(dev, cfg.Input, cfg.Hidden, cfg.Layers)
		return l, func(in []*autograd.Var) []*autograd.Var {
			out, h, cs := l.Forward(in[0], in[1], in[2])
			return []*autograd.Var{out, h, cs}
		}
	case "multihead_attention":
		l := nn.NewMultiheadAttention(dev, cfg.Embed, cfg.Heads)
		return l, func(in []*autograd.Var) []*autograd.Var {
			out, w := l.Forward(in[0], in[0], in[0], attentionMask(cfg.Mask, in))
			return []*autograd.Var{out, w}
		}
	case "transformer_encoder_layer":
		l := nn.NewTransformerEncoderLayer(dev, cfg.DModel, cfg.NHead, cfg.DimFeedforward, cfg.Dropout)
		l.Activation, l.NormFirst = cfg.Activation, cfg.NormFirst
		return l, func(in []*autograd.Var) []*autograd.Var {
			return []*autograd.Var{l.Forward(in[0], attentionMask(cfg.Mask, in))}
		}
	case "relu":
		return nil, one(nn.ReLU{}.Forward)
	case "sigmoid":
		return nil, one(nn.Sigmoid{}.Forward)
	case "tanh":
		return nil, one(nn.Tanh{}.Forward)
	case "gelu":
		return nil, one(nn.GELU{}.Forward)
	case "softmax":
		return nil, one(nn.Softmax{Axis: cfg.Axis}.Forward)
	case "log_softmax":
		return nil, one(nn.LogSoftmax{Axis: cfg.Axis}.Forward)
	}
	t.Fatalf("no mapping for layer %q", c.Layer)
	return nil, nil
}

func attentionMask(kind string, in []*autograd.Var) nn.AttentionMask {
	switch kind {
	case "causal":
		return nn.AttentionMask{Causal: true}
	case "padding":
		return nn.AttentionMask{KeyPadding: in[1].Value()}
	}
	return nn.AttentionMask{}
}

func compareRef(t *testing.T, what string, got *tensor.Tensor, want refTensor, tol devicetest.Tol) {
	t.Helper()
	require.NotNil(t, got, "%s is missing", what)
	require.Equal(t, nonNilShape(want.Shape), nonNilShape(got.Shape()), "%s shape", what)
	v, err := got.Data()
	require.NoError(t, err)
	if msg := devicetest.Compare(v, want.floats(), tol); msg != "" {
		t.Errorf("%s: %s", what, msg)
	}
}

// TestLayersMatchPyTorch runs every layer of the references forward and
// backward on every device.
func TestLayersMatchPyTorch(t *testing.T) {
	ref := loadNNReference(t)
	for _, dev := range devicetest.Devices(t) {
		for _, c := range ref.Layers {
			t.Run(dev.Kind().String()+"/"+c.Name, func(t *testing.T) {
				m, run := buildLayer(t, c, dev)
				if m != nil {
					installState(t, m, c.State, dev)
					if c.Mode == "eval" {
						nn.Eval(m)
					}
				}
				in := make([]*autograd.Var, len(c.Inputs))
				for i, r := range c.Inputs {
					in[i] = autograd.New(r.on(dev), r.Grad)
				}
				outs := run(in)
				require.Len(t, outs, len(c.Outputs))
				var total *autograd.Var
				for i, o := range outs {
					compareRef(t, "output", o.Value(), c.Outputs[i], layerTol)
					if g := c.GradOutputs[i]; g != nil {
						term := o.Mul(autograd.Const(g.on(dev))).Sum()
						if total == nil {
							total = term
						} else {
							total = total.Add(term)
						}
					}
				}
				if total != nil && total.RequiresGrad() {
					total.Backward()
				}
				for i, want := range c.InputGrads {
					if want != nil {
						compareRef(t, "input gradient", in[i].Grad(), *want, layerTol)
					}
				}
				if m != nil {
					for _, p := range nn.NamedParameters(m) {
						if want, ok := c.ParamGrads[p.Name]; ok {
							compareRef(t, "gradient of "+p.Name, p.Param.Grad(), want, layerTol)
						}
					}
					for _, b := range nn.NamedBuffers(m) {
						if want, ok := c.StateAfter[b.Name]; ok {
							compareRef(t, b.Name+" after forward", b.Buffer.T, want, layerTol)
						}
					}
				}
			})
		}
	}
}

func reductionOf(s string) nn.Reduction {
	switch s {
	case "sum":
		return nn.ReduceSum
	case "none":
		return nn.ReduceNone
	}
	return nn.ReduceMean
}

func TestLossesMatchPyTorch(t *testing.T) {
	ref := loadNNReference(t)
	for _, dev := range devicetest.Devices(t) {
		for _, c := range ref.Losses {
			t.Run(dev.Kind().String()+"/"+c.Name, func(t *testing.T) {
				pred := autograd.Param(c.Inputs[0].on(dev))
				target := c.Inputs[1].on(dev)
				opts := []nn.LossOption{nn.WithReduction(reductionOf(c.Config.Reduction))}
				var loss *autograd.Var
				switch c.Loss {
				case "mse":
					loss = nn.MSELoss(pred, autograd.Const(target), opts...)
				case "l1":
					loss = nn.L1Loss(pred, autograd.Const(target), opts...)
				case "cross_entropy":
					opts = append(opts, nn.WithIgnoreIndex(c.Config.IgnoreIndex), nn.WithLabelSmoothing(c.Config.LabelSmoothing))
					loss = nn.CrossEntropyLoss(pred, target, opts...)
				case "nll_loss":
					loss = nn.NLLLoss(pred, target, append(opts, nn.WithIgnoreIndex(c.Config.IgnoreIndex))...)
				case "bce":
					loss = nn.BCELoss(pred, autograd.Const(target), opts...)
				case "bce_with_logits":
					loss = nn.BCEWithLogitsLoss(pred, autograd.Const(target), opts...)
				default:
					t.Fatalf("no mapping for loss %q", c.Loss)
				}
				compareRef(t, "loss", loss.Value(), c.Output, layerTol)
				loss.BackwardWith(c.GradOutput.on(dev))
				compareRef(t, "gradient", pred.Grad(), *c.InputGrads[0], layerTol)
			})
		}
	}
}

// TestOptimizersFollowPyTorch runs ten steps of each optimizer on the
// reference problem and compares the loss and every parameter after every
// step within 1e-5 relative error.
func TestOptimizersFollowPyTorch(t *testing.T) {
	ref := loadNNReference(t)
	for _, dev := range devicetest.Devices(t) {
		for _, c := range ref.Optimizers {
			t.Run(dev.Kind().String()+"/"+c.Name, func(t *testing.T) {
				w, b := autograd.Param(c.Params["w"].on(dev)), autograd.Param(c.Params["b"].on(dev))
				x, y := autograd.Const(c.Data["x"].on(dev)), autograd.Const(c.Data["y"].on(dev))
				opt := newOptimizer(t, c.Optimizer, c.Config, []*autograd.Var{w, b})
				for k, want := range c.Steps {
					opt.ZeroGrad()
					loss := nn.MSELoss(x.MatMul(w).Add(b), y)
					loss.Backward()
					opt.Step()
					l, err := loss.Item()
					require.NoError(t, err)
					assert.InEpsilon(t, want.Loss, float64(l), 1e-5, "loss before step %d", k+1)
					compareRef(t, "w after step", w.Value(), want.Params["w"], relativeToMax(want.Params["w"]))
					compareRef(t, "b after step", b.Value(), want.Params["b"], relativeToMax(want.Params["b"]))
				}
			})
		}
	}
}

func newOptimizer(t *testing.T, name string, c refConfig, params []*autograd.Var) optim.Optimizer {
	var opts []optim.Option
	if c.WeightDecay != 0 {
		opts = append(opts, optim.WeightDecay(c.WeightDecay))
	}
	if c.Momentum != 0 {
		opts = append(opts, optim.Momentum(c.Momentum))
	}
	if len(c.Betas) == 2 {
		opts = append(opts, optim.Betas(c.Betas[0], c.Betas[1]))
	}
	if c.Eps != 0 {
		opts = append(opts, optim.Eps(c.Eps))
	}
	switch name {
	case "sgd":
		if c.Dampening != 0 {
			opts = append(opts, optim.Dampening(c.Dampening))
		}
		if c.Nesterov {
			opts = append(opts, optim.Nesterov())
		}
		return optim.NewSGD(params, c.LR, opts...)
	case "adam":
		if c.AMSGrad {
			opts = append(opts, optim.AMSGrad())
		}
		return optim.NewAdam(params, c.LR, opts...)
	case "adamw":
		return optim.NewAdamW(params, c.LR, opts...)
	case "rmsprop":
		opts = append(opts, optim.Alpha(c.Alpha))
		if c.Centered {
			opts = append(opts, optim.Centered())
		}
		return optim.NewRMSprop(params, c.LR, opts...)
	case "adagrad":
		opts = append(opts, optim.LRDecay(c.LRDecay), optim.InitialAccumulator(c.InitialAccumulatorValue))
		return optim.NewAdagrad(params, c.LR, opts...)
	}
	t.Fatalf("no mapping for optimizer %q", name)
	return nil
}

func TestSchedulersFollowPyTorch(t *testing.T) {
	ref := loadNNReference(t)
	for _, c := range ref.Schedulers {
		t.Run(c.Name, func(t *testing.T) {
			p := autograd.Param(tensor.Zeros(device.CPU(), 1))
			opt := optim.NewSGD([]*autograd.Var{p}, c.BaseLR)
			var s optim.Scheduler
			switch c.Scheduler {
			case "steplr":
				s = optim.NewStepLR(opt, c.Config.StepSize, c.Config.Gamma)
			case "cosine":
				s = optim.NewCosineAnnealingLR(opt, c.Config.TMax, c.Config.EtaMin)
			case "linear_warmup":
				s = optim.NewLinearLR(opt, c.Config.StartFactor, c.Config.EndFactor, c.Config.TotalIters)
			default:
				t.Fatalf("no mapping for scheduler %q", c.Scheduler)
			}
			for k, want := range c.LRs {
				assert.InEpsilon(t, want, opt.LR(), 1e-12, "lr after %d steps", k)
				opt.Step()
				s.Step()
			}
		})
	}
}

func TestClipGradNormMatchesPyTorch(t *testing.T) {
	ref := loadNNReference(t)
	for _, dev := range devicetest.Devices(t) {
		for _, c := range ref.Clip {
			t.Run(dev.Kind().String()+"/"+c.Name, func(t *testing.T) {
				names := slices.Sorted(func(yield func(string) bool) {
					for n := range c.Grads {
						if !yield(n) {
							return
						}
					}
				})
				params := make([]*autograd.Var, len(names))
				for i, n := range names {
					params[i] = autograd.Param(tensor.ZerosLike(c.Grads[n].on(dev)))
					params[i].SetGrad(c.Grads[n].on(dev))
				}
				total := optim.ClipGradNorm(params, c.MaxNorm)
				v, err := total.Item()
				require.NoError(t, err)
				assert.InEpsilon(t, c.TotalNorm, float64(v), 1e-6)
				for i, n := range names {
					compareRef(t, "clipped "+n, params[i].Grad(), c.Clipped[n], layerTol)
				}
			})
		}
	}
}
