// Command onnx runs an ONNX model on .npy inputs and writes its outputs as
// .npy files:
//
//	go run ./examples/onnx -model m.onnx -input x=x.npy -output out/ -device auto
//
// Each output is written as DIR/NAME.npy and its shape printed. With
// -bench N the model runs N more times after a warm-up and the last line
// is "summary: model=... device=... median_ms=X". Bad files, missing
// inputs and wrong shapes print one line on stderr with exit status 2.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/wgtensor/wgtensor/examples/internal/run"
	"github.com/wgtensor/wgtensor/onnx"
	"github.com/wgtensor/wgtensor/tensor"
)

// inputFlags collects repeated -input NAME=FILE flags.
type inputFlags map[string]string

func (f inputFlags) String() string { return fmt.Sprint(map[string]string(f)) }

func (f inputFlags) Set(s string) error {
	name, file, ok := strings.Cut(s, "=")
	if !ok || name == "" || file == "" {
		return fmt.Errorf("want NAME=FILE.npy, got %q", s)
	}
	if _, dup := f[name]; dup {
		return fmt.Errorf("input %q given twice", name)
	}
	f[name] = file
	return nil
}

type config struct {
	model, output, device string
	inputs                inputFlags
	bench                 int
}

func main() {
	fs := flag.NewFlagSet("onnx", flag.ContinueOnError)
	cfg := config{inputs: inputFlags{}}
	fs.StringVar(&cfg.model, "model", "", "the ONNX model file")
	fs.Var(cfg.inputs, "input", "an input as NAME=FILE.npy (repeat for each input)")
	fs.StringVar(&cfg.output, "output", "", "a folder for the outputs, written as NAME.npy (none: print shapes only)")
	fs.StringVar(&cfg.device, "device", "auto", "cpu, gpu or auto")
	fs.IntVar(&cfg.bench, "bench", 0, "time this many runs after a warm-up and print the median")
	run.Main("onnx", fs, func() error { return infer(cfg) })
}

func infer(cfg config) error {
	if cfg.model == "" {
		return run.Usagef("-model is required")
	}
	if cfg.bench < 0 {
		return run.Usagef("-bench %d: want a count of runs", cfg.bench)
	}
	dev, err := run.OpenDevice(cfg.device, os.Stdout)
	if err != nil {
		return err
	}
	// The inputs' shapes are fixed at Load, which then folds the model's
	// shape arithmetic away.
	inputs := map[string]*tensor.Tensor{}
	var opts []onnx.Option
	for name, file := range cfg.inputs {
		t, err := tensor.ReadNPY(file, dev)
		if err != nil {
			return &run.UsageError{Err: err}
		}
		inputs[name] = t
		opts = append(opts, onnx.WithInputShape(name, t.Shape()...))
	}
	m, err := onnx.Load(cfg.model, dev, opts...)
	if err != nil {
		return &run.UsageError{Err: err}
	}
	for _, in := range m.Inputs() {
		if _, ok := inputs[in.Name]; !ok {
			return run.Usagef("input %q (%s, shape %v) is missing: pass -input %s=FILE.npy", in.Name, in.DType, in.Shape, in.Name)
		}
	}
	out, err := m.Run(inputs)
	if err != nil {
		return &run.UsageError{Err: err}
	}
	if cfg.output != "" {
		if err := os.MkdirAll(cfg.output, 0o755); err != nil {
			return &run.UsageError{Err: err}
		}
	}
	names := make([]string, 0, len(out))
	for name := range out {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		t := out[name]
		if err := t.Err(); err != nil {
			return fmt.Errorf("output %q: %w", name, err)
		}
		fmt.Printf("output %s: %v %v\n", name, t.DType(), t.Shape())
		if cfg.output != "" {
			path := filepath.Join(cfg.output, safeName(name)+".npy")
			if err := t.WriteNPY(path); err != nil {
				return err
			}
		}
	}
	if cfg.bench == 0 {
		return nil
	}
	times := make([]time.Duration, cfg.bench)
	for i := range times {
		start := time.Now()
		out, err := m.Run(inputs)
		if err != nil {
			return err
		}
		for _, t := range out {
			if err := dev.Sync(); err != nil {
				return err
			}
			t.Release()
		}
		times[i] = time.Since(start)
	}
	slices.Sort(times)
	median := times[len(times)/2]
	fmt.Printf("summary: model=%s device=%s median_ms=%.2f\n", filepath.Base(cfg.model), dev.Kind(), float64(median.Microseconds())/1000)
	return nil
}

// safeName makes an output name usable as a file name.
func safeName(name string) string {
	return strings.Map(func(r rune) rune {
		if r == '/' || r == '\\' || r == 0 {
			return '_'
		}
		return r
	}, name)
}
