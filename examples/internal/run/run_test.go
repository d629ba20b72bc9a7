package run

import (
	"bytes"
	"errors"
	"flag"
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/wgtensor/wgtensor/device"
	"github.com/wgtensor/wgtensor/tensor"
)

func TestMainStatus(t *testing.T) {
	cases := []struct {
		name   string
		args   []string
		body   func() error
		status int
		stderr string
	}{
		{"ok", nil, func() error { return nil }, 0, ""},
		{"usage error", nil, func() error { return Usagef("unknown -model %q", "x") }, 2, "prog: unknown -model \"x\"\n"},
		{"other error", nil, func() error { return errors.New("quick check failed") }, 1, "prog: quick check failed\n"},
		{"bad flag", []string{"-nope"}, func() error { return nil }, 2, "prog: flag provided but not defined: -nope (run with -h for the flags)\n"},
		{"stray argument", []string{"extra"}, func() error { return nil }, 2, "prog: unexpected argument \"extra\" (run with -h for the flags)\n"},
		{"library misuse", nil, func() error {
			tensor.Zeros(device.CPU(), 2, 3).MatMul(tensor.Zeros(device.CPU(), 4, 5))
			return nil
		}, 1, "prog: tensor: MatMul: shapes [2 3] and [4 5] do not fit\n"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			fs := flag.NewFlagSet("prog", flag.ContinueOnError)
			Register(fs, 1)
			var stderr bytes.Buffer
			status := mainStatus("prog", fs, c.args, &stderr, c.body)
			assert.Equal(t, c.status, status)
			assert.Equal(t, c.stderr, stderr.String())
		})
	}
}

func TestOpenDevice(t *testing.T) {
	var out bytes.Buffer
	dev, err := OpenDevice("cpu", &out)
	require.NoError(t, err)
	assert.Equal(t, device.KindCPU, dev.Kind())
	assert.Contains(t, out.String(), "device: cpu")
	_, err = OpenDevice("tpu", &out)
	var ue *UsageError
	require.ErrorAs(t, err, &ue)
	assert.EqualError(t, err, `unknown -device "tpu": want cpu, gpu or auto`)
}

func TestProgressPlainLines(t *testing.T) {
	var out bytes.Buffer
	p := NewProgress(&out, "epoch 1/1", 10)
	p.every = 0 // print at every step
	loss := tensor.Scalar(device.CPU(), 0.5)
	p.Step(4, loss, tensor.Scalar(device.CPU(), 3))
	p.Step(6, tensor.Scalar(device.CPU(), 1), tensor.Scalar(device.CPU(), 2))
	p.Finish("test accuracy 90.00%")
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	require.Len(t, lines, 2)
	assert.Contains(t, lines[0], "epoch 1/1 4/10 loss 0.5000 acc 75.00%")
	assert.Contains(t, lines[0], "left")
	// The final line has the epoch's means: (4·0.5 + 6·1)/10 and 5/10.
	assert.Contains(t, lines[1], "epoch 1/1 10/10 loss 0.8000 acc 50.00%")
	assert.Contains(t, lines[1], "test accuracy 90.00%")
	assert.InDelta(t, 0.8, p.MeanLoss(), 1e-6)
	assert.InDelta(t, 0.5, p.Accuracy(), 1e-6)
}

func TestThresholds(t *testing.T) {
	assert.NoError(t, AtLeast("accuracy", 0.99, 0.98))
	assert.ErrorContains(t, AtLeast("accuracy", 0.97, 0.98), "below the threshold")
	assert.Error(t, AtLeast("accuracy", math.NaN(), 0.98), "NaN fails")
	assert.Error(t, AtMost("loss", math.NaN(), 3), "NaN fails")
	assert.NoError(t, AtMost("error", 0.001, 0.01))
	assert.ErrorContains(t, AtMost("error", 0.1, 0.01), "above the limit")
}

func TestPlotWritesPNG(t *testing.T) {
	path := filepath.Join(t.TempDir(), "curves.png")
	require.NoError(t, Plot(path, "test", []Curve{{Name: "loss", Values: []float64{1, 0.5, 0.2}}},
		[]Curve{{Name: "acc", Values: []float64{0.5, 0.8, 0.9}}}))
	assert.FileExists(t, path)
}
