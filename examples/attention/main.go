// Command attention trains a small transformer encoder to reverse sequences
// of digits: given 3 1 4 1 5 it must output 5 1 4 1 3. Every output position
// has to find the right input position by attention alone, guided by learned
// positional embeddings, which makes the task a compact test of
// MultiheadAttention, LayerNorm and the encoder layer. Training batches are
// sampled afresh at every step; accuracy is measured on a held-out set drawn
// with a different seed.
//
//	go run ./examples/attention                # 10 digits, 4 epochs of 250 steps
//	go run ./examples/attention -len=20 -layers=3 -save=reverser.safetensors
//	go run ./examples/attention -quick         # a short run that checks its accuracy
package main

import (
	"errors"
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"strings"
	"time"

	"github.com/wgtensor/wgtensor/autograd"
	"github.com/wgtensor/wgtensor/device"
	"github.com/wgtensor/wgtensor/examples/internal/run"
	"github.com/wgtensor/wgtensor/nn"
	"github.com/wgtensor/wgtensor/nn/optim"
	"github.com/wgtensor/wgtensor/tensor"
)

const (
	digits   = 10   // tokens 0..9
	heldOut  = 2000 // held-out sequences
	evalSize = 500  // sequences per evaluation batch
	// heldOutSeed is mixed into -seed for the held-out set, so that it is
	// drawn from a different stream than the training batches.
	heldOutSeed = 0x5eed0f
)

func main() {
	fs := flag.NewFlagSet("attention", flag.ContinueOnError)
	f := run.Register(fs, 4)
	cfg := config{Flags: f}
	fs.IntVar(&cfg.length, "len", 10, "sequence length")
	fs.IntVar(&cfg.dmodel, "dmodel", 64, "model width")
	fs.IntVar(&cfg.heads, "heads", 4, "attention heads (must divide -dmodel)")
	fs.IntVar(&cfg.layers, "layers", 2, "encoder layers")
	fs.IntVar(&cfg.ff, "ff", 128, "width of the feed-forward networks")
	fs.IntVar(&cfg.batch, "batch", 64, "sequences per training step")
	fs.IntVar(&cfg.steps, "steps", 250, "training steps per epoch")
	fs.IntVar(&cfg.warmup, "warmup", 100, "steps of linear learning-rate warm-up")
	fs.Float64Var(&cfg.lr, "lr", 1e-3, "Adam learning rate")
	fs.Lookup("data").Usage = "unused: the sequences are generated"
	run.Main("attention", fs, func() error {
		cfg.set = map[string]bool{}
		fs.Visit(func(fl *flag.Flag) { cfg.set[fl.Name] = true })
		return train(cfg)
	})
}

type config struct {
	*run.Flags
	length, dmodel, heads, layers, ff int
	batch, steps, warmup              int
	lr                                float64
	set                               map[string]bool // flags given on the command line
}

// quickSettings shrinks the run for -quick to one epoch of 200 steps on
// sequences of 6 digits (about 5 s on two CPU cores), leaving alone what
// the command line set explicitly.
func (c *config) quickSettings() {
	if !c.set["len"] {
		c.length = 6
	}
	if !c.set["epochs"] {
		c.Epochs = 1
	}
	if !c.set["steps"] {
		c.steps = 200
	}
}

func (c *config) check() error {
	for _, v := range []struct {
		name string
		val  int
	}{{"len", c.length}, {"dmodel", c.dmodel}, {"heads", c.heads}, {"layers", c.layers}, {"ff", c.ff}, {"batch", c.batch}, {"steps", c.steps}, {"epochs", c.Epochs}} {
		if v.val <= 0 {
			return run.Usagef("-%s must be positive, got %d", v.name, v.val)
		}
	}
	if c.warmup < 0 {
		return run.Usagef("-warmup must not be negative, got %d", c.warmup)
	}
	if c.dmodel%c.heads != 0 {
		return run.Usagef("-heads %d does not divide -dmodel %d", c.heads, c.dmodel)
	}
	if c.Load != "" {
		if _, err := os.Stat(c.Load); err != nil {
			return run.Usagef("-load %s: %v", c.Load, errors.Unwrap(err))
		}
	}
	if !(c.lr > 0) {
		return run.Usagef("-lr must be positive, got %v", c.lr)
	}
	if c.Data != "" {
		return run.Usagef("-data %s: this example generates its sequences and reads no data", c.Data)
	}
	return nil
}

// Reverser embeds tokens and their positions, encodes them with a stack of
// transformer encoder layers and predicts a token at every position.
type Reverser struct {
	Tok    *nn.Embedding
	Pos    *nn.Embedding
	Layers []*nn.TransformerEncoderLayer
	Head   *nn.Linear
}

func newReverser(dev device.Device, cfg config) *Reverser {
	m := &Reverser{
		Tok:  nn.NewEmbedding(dev, digits, cfg.dmodel),
		Pos:  nn.NewEmbedding(dev, cfg.length, cfg.dmodel),
		Head: nn.NewLinear(dev, cfg.dmodel, digits),
	}
	for range cfg.layers {
		m.Layers = append(m.Layers, nn.NewTransformerEncoderLayer(dev, cfg.dmodel, cfg.heads, cfg.ff, 0))
	}
	return m
}

// Forward maps tokens [batch, len] to logits [batch, len, digits].
func (m *Reverser) Forward(ids *tensor.Tensor) *autograd.Var {
	n := ids.Size(1)
	pos := m.Pos.Forward(tensor.Arange(ids.Device(), tensor.Int32, 0, float64(n), 1))
	x := m.Tok.Forward(ids).Add(pos) // [batch, len, d] + [len, d]
	for _, l := range m.Layers {
		x = l.Forward(x, nn.AttentionMask{})
	}
	return m.Head.Forward(x)
}

// sequences draws n random digit sequences of the given length and their
// reversals, on the host.
func sequences(n, length int, rng *rand.Rand) (in, out []int32) {
	in = make([]int32, n*length)
	out = make([]int32, n*length)
	for i := range n {
		for j := range length {
			in[i*length+j] = int32(rng.IntN(digits))
		}
		for j := range length {
			out[i*length+j] = in[i*length+length-1-j]
		}
	}
	return in, out
}

// loss is the cross-entropy over every position: logits [batch, len, 10]
// flattened to [batch·len, 10].
func loss(logits *autograd.Var, y *tensor.Tensor) *autograd.Var {
	return nn.CrossEntropyLoss(logits.Reshape(-1, digits), y.Reshape(-1))
}

// heldOutSet is the held-out sequences as device tensors in evaluation
// batches, with the host copies for printing examples.
type heldOutSet struct {
	in, out []int32
	x, y    []*tensor.Tensor
}

func newHeldOut(dev device.Device, length int, seed uint64) *heldOutSet {
	in, out := sequences(heldOut, length, tensor.NewRNG(seed^heldOutSeed))
	h := &heldOutSet{in: in, out: out}
	for s := 0; s < heldOut; s += evalSize {
		b := min(evalSize, heldOut-s)
		h.x = append(h.x, tensor.New(dev, in[s*length:(s+b)*length], b, length))
		h.y = append(h.y, tensor.New(dev, out[s*length:(s+b)*length], b, length))
	}
	return h
}

// evaluate returns the held-out token accuracy (the fraction of positions
// predicted correctly) and sequence accuracy (the fraction of sequences
// reversed without a mistake), reading back two numbers.
func evaluate(m *Reverser, h *heldOutSet) (tok, seq float64, err error) {
	nn.Eval(m)
	defer nn.Train(m)
	var tokHits, seqHits *tensor.Tensor
	autograd.NoGrad(func() {
		for i, x := range h.x {
			hit := m.Forward(x).ArgMax(-1).Eq(h.y[i]) // [batch, len] of 0/1
			t, s := hit.Sum(), hit.Min(1).Sum()
			if tokHits == nil {
				tokHits, seqHits = t, s
			} else {
				tokHits, seqHits = tokHits.Add(t), seqHits.Add(s)
			}
		}
	})
	t, err := tokHits.Item()
	if err != nil {
		return 0, 0, err
	}
	s, err := seqHits.Item()
	if err != nil {
		return 0, 0, err
	}
	return float64(t) / float64(len(h.out)), float64(s) / float64(heldOut), nil
}

// examples prints the first n held-out sequences with the model's output.
func examples(m *Reverser, dev device.Device, h *heldOutSet, length, n int) error {
	nn.Eval(m)
	defer nn.Train(m)
	var pred []int32
	var err error
	autograd.NoGrad(func() {
		pred, err = m.Forward(tensor.New(dev, h.in[:n*length], n, length)).ArgMax(-1).Ints()
	})
	if err != nil {
		return err
	}
	show := func(v []int32) string {
		s := make([]string, len(v))
		for i, d := range v {
			s[i] = fmt.Sprint(d)
		}
		return strings.Join(s, " ")
	}
	fmt.Println("held-out examples (input → output):")
	for i := range n {
		in := h.in[i*length : (i+1)*length]
		want := h.out[i*length : (i+1)*length]
		got := pred[i*length : (i+1)*length]
		mark := "ok"
		for j := range got {
			if got[j] != want[j] {
				mark = fmt.Sprintf("wrong, want %s", show(want))
				break
			}
		}
		fmt.Printf("  %s → %s  %s\n", show(in), show(got), mark)
	}
	return nil
}

func train(cfg config) error {
	if cfg.Quick {
		cfg.quickSettings()
	}
	if err := cfg.check(); err != nil {
		return err
	}
	dev, err := run.OpenDevice(cfg.Device, os.Stdout)
	if err != nil {
		return err
	}
	nn.Seed(cfg.Seed)
	model := newReverser(dev, cfg)
	if cfg.Load != "" {
		if err := nn.Load(cfg.Load, model); err != nil {
			return run.Usagef("-load %s does not hold a model with -len %d -dmodel %d -layers %d -ff %d: %v",
				cfg.Load, cfg.length, cfg.dmodel, cfg.layers, cfg.ff, err)
		}
		fmt.Println("loaded", cfg.Load)
	}
	held := newHeldOut(dev, cfg.length, cfg.Seed)
	opt := optim.NewAdam(nn.Parameters(model), cfg.lr)
	var warm *optim.LinearLR
	if cfg.warmup > 0 {
		warm = optim.NewLinearLR(opt, 0.1, 1, cfg.warmup)
	}
	rng := tensor.NewRNG(cfg.Seed)
	stop := run.Interrupt()
	fmt.Printf("reversing %d digits: %d encoder layers of width %d with %d heads, %d parameters; %d steps of %d sequences per epoch\n",
		cfg.length, cfg.layers, cfg.dmodel, cfg.heads, nn.NumParameters(model), cfg.steps, cfg.batch)

	var losses, tokAccs, seqAccs []float64
	start := time.Now()
	done := 0
	for epoch := 1; epoch <= cfg.Epochs && !stop.Load(); epoch++ {
		nn.Train(model)
		p := run.NewProgress(os.Stdout, fmt.Sprintf("epoch %d/%d", epoch, cfg.Epochs), cfg.steps*cfg.batch)
		sum := tensor.Zeros(dev)
		steps := 0
		for range cfg.steps {
			in, out := sequences(cfg.batch, cfg.length, rng)
			x, y := tensor.New(dev, in, cfg.batch, cfg.length), tensor.New(dev, out, cfg.batch, cfg.length)
			opt.ZeroGrad()
			logits := model.Forward(x)
			l := loss(logits, y)
			l.Backward()
			opt.Step()
			if warm != nil {
				warm.Step()
			}
			sum = sum.Add(l.Value())
			steps++
			// correct counts sequences: the progress bar divides by them.
			correct := logits.Value().ArgMax(-1).Eq(y).Sum().DivScalar(float64(cfg.length))
			p.Step(cfg.batch, l.Value(), correct)
			if stop.Load() {
				break
			}
		}
		mean, err := sum.Item()
		if err != nil {
			return err
		}
		tok, seq, err := evaluate(model, held)
		if err != nil {
			return err
		}
		p.Finish(fmt.Sprintf("held-out token accuracy %.2f%%, sequence accuracy %.2f%%", 100*tok, 100*seq))
		losses = append(losses, float64(mean)/float64(steps))
		tokAccs = append(tokAccs, tok)
		seqAccs = append(seqAccs, seq)
		done = epoch
	}
	wall := time.Since(start)
	tok, seq := math.NaN(), math.NaN()
	if done > 0 {
		tok, seq = tokAccs[done-1], seqAccs[done-1]
	} else if tok, seq, err = evaluate(model, held); err != nil {
		return err
	}
	if err := examples(model, dev, held, cfg.length, 5); err != nil {
		return err
	}
	if cfg.Save != "" {
		if err := nn.Save(cfg.Save, model); err != nil {
			return err
		}
		fmt.Println("saved", cfg.Save)
	}
	if cfg.Plot != "" && len(losses) > 0 {
		if err := run.Plot(cfg.Plot, fmt.Sprintf("reversing %d digits", cfg.length),
			[]run.Curve{{Name: "train loss", Values: losses}},
			[]run.Curve{{Name: "held-out token accuracy", Values: tokAccs}, {Name: "held-out sequence accuracy", Values: seqAccs}}); err != nil {
			return err
		}
		fmt.Println("plotted", cfg.Plot)
	}
	run.Summary(os.Stdout, dev, done, wall, fmt.Sprintf("len=%d token_accuracy=%.2f%% sequence_accuracy=%.2f%%", cfg.length, 100*tok, 100*seq))
	if cfg.Quick {
		return run.AtLeast("held-out token accuracy", tok, quickThreshold)
	}
	return nil
}

// quickThreshold is the held-out token accuracy a -quick run must reach.
const quickThreshold = 0.95
