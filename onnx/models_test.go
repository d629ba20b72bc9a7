package onnx_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/wgtensor/wgtensor/device"
	"github.com/wgtensor/wgtensor/device/devicetest"
	"github.com/wgtensor/wgtensor/onnx"
	"github.com/wgtensor/wgtensor/tensor"
)

// genDir holds the models and ONNX Runtime references that `make
// onnx-models` generates (onnx/testdata/README.md).
var genDir = filepath.Join("testdata", "gen")

// generated returns a file under genDir, or skips the test (fails it in
// CI) with the command that makes it.
func generated(t *testing.T, rel string) string {
	t.Helper()
	p := filepath.Join(genDir, rel)
	if _, err := os.Stat(p); err != nil {
		msg := fmt.Sprintf("%s is missing: run `make onnx-models` (see onnx/testdata/README.md)", p)
		if os.Getenv("CI") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return p
}

// tolerance is the largest difference from ONNX Runtime allowed, relative
// to the output's largest magnitude: 1e-4 on the CPU, 1e-3 on the GPU.
func tolerance(dev device.Device) float64 {
	if dev.Kind() == device.KindGPU {
		return 1e-3
	}
	return 1e-4
}

// checkAgainstORT runs model on every input file that pattern matches,
// IN.npy, and compares each output with ONNX Runtime's IN.ort.NAME.npy.
func checkAgainstORT(t *testing.T, dev device.Device, m *onnx.Model, pattern string, classes bool) {
	t.Helper()
	inputs, err := filepath.Glob(pattern)
	require.NoError(t, err)
	n := 0
	for _, in := range inputs {
		if base := filepath.Base(in); strings.Contains(base, ".ort.") || strings.Contains(base, ".torch.") || strings.Contains(base, ".official.") {
			continue // a reference output, not an input
		}
		x, err := tensor.ReadNPY(in, dev)
		require.NoError(t, err)
		start := time.Now()
		out, err := m.Run(map[string]*tensor.Tensor{m.Inputs()[0].Name: x})
		require.NoError(t, err, in)
		for _, o := range m.Outputs() {
			ref := strings.TrimSuffix(in, ".npy") + ".ort." + o.Name + ".npy"
			want, err := tensor.ReadNPY(ref, device.CPU())
			require.NoError(t, err)
			got := out[o.Name]
			require.Equal(t, want.Shape(), got.Shape(), "%s: output %s", in, o.Name)
			w, err := want.Data()
			require.NoError(t, err)
			g, err := got.Data()
			require.NoError(t, err)
			assertCloseToMax(t, w, g, tolerance(dev), fmt.Sprintf("%s: output %s", filepath.Base(in), o.Name))
			if classes {
				rows := want.Shape()[0]
				for r := range rows {
					k := len(w) / rows
					require.Equal(t, argmax(w[r*k:(r+1)*k]), argmax(g[r*k:(r+1)*k]), "%s: predicted class of row %d", in, r)
				}
			}
		}
		t.Logf("%s on %s: %v", filepath.Base(in), dev.Name(), time.Since(start).Round(time.Millisecond))
		n++
	}
	require.Positive(t, n, "no inputs match %s", pattern)
}

// TestModelsMatchORT runs the model zoo's MNIST CNN, the models
// export_models.py writes (torchvision's ResNet-18 and MobileNetV2, a
// BERT-style encoder, a GPT-2-style decoder) and the PP-OCRv4 text
// recognizer on every device against ONNX Runtime 1.30's outputs.
func TestModelsMatchORT(t *testing.T) {
	for _, c := range []struct {
		name, model, inputs string
		classes             bool
	}{
		{"mnist_zoo", "models/mnist_zoo.onnx", "models/mnist_zoo.input_*.npy", true},
		{"resnet18", "models/resnet18.onnx", "models/resnet18.input_*.npy", true},
		{"mobilenet_v2", "models/mobilenet_v2.onnx", "models/mobilenet_v2.input_*.npy", true},
		{"bert_encoder", "models/bert_encoder.onnx", "models/bert_encoder.input_*.npy", false},
		{"gpt2_decoder", "models/gpt2_decoder.onnx", "models/gpt2_decoder.input_*.npy", false},
		{"ppocrv4_rec", "ocr/assets/ch_PP-OCRv4_rec_infer.onnx", "ocr/line_*.npy", false},
	} {
		t.Run(c.name, func(t *testing.T) {
			path := generated(t, filepath.FromSlash(c.model))
			for _, dev := range devicetest.Devices(t) {
				t.Run(dev.Kind().String(), func(t *testing.T) {
					if testing.Short() && dev.Kind() == device.KindGPU && c.name != "mnist_zoo" {
						t.Skip("-short: the large models on the GPU")
					}
					m, err := onnx.Load(path, dev)
					require.NoError(t, err)
					checkAgainstORT(t, dev, m, filepath.Join(genDir, filepath.FromSlash(c.inputs)), c.classes)
				})
			}
		})
	}
}

// TestBatchNormFolds: the recognizer's BatchNormalizations that follow a
// Conv are folded into it at Load (its outputs are checked above).
func TestBatchNormFolds(t *testing.T) {
	m, err := onnx.Load(generated(t, filepath.FromSlash("ocr/assets/ch_PP-OCRv4_rec_infer.onnx")), device.CPU())
	require.NoError(t, err)
	st := m.Stats()
	t.Logf("%+v", st)
	require.Positive(t, st.FusedBatchNorms)
}

// TestResNetEpiloguesFuse: every Relu of ResNet-18 and each of its eight
// residual Adds are fused into the Conv before them (17 Relus, 8 Adds),
// the MaxPool after the stem runs with it as one node, and each basic
// block's two 3×3 Convs as one, so that what is left to run is the
// convolutions, the global pool, Flatten and Gemm.
func TestResNetEpiloguesFuse(t *testing.T) {
	m, err := onnx.Load(generated(t, filepath.FromSlash("models/resnet18.onnx")), device.CPU())
	require.NoError(t, err)
	st := m.Stats()
	t.Logf("%+v", st)
	require.Equal(t, 25, st.FusedEpilogues)
	require.Equal(t, 1, st.ConvPools)
	require.Equal(t, 8, st.ConvPairs)
	require.Equal(t, 20-8+3, st.Nodes, "20 Convs (the stem with the MaxPool, 8 pairs), GlobalAveragePool, Flatten, Gemm")
}

// TestMobileNetChainsFuse: each of MobileNetV2's 17 depthwise Convs runs
// as one node with the Conv before it (16 1×1 expansions, and the first
// layer before the first block), their Clips fused into them, and the
// outputs still match ONNX Runtime's (TestModels).
func TestMobileNetChainsFuse(t *testing.T) {
	m, err := onnx.Load(generated(t, filepath.FromSlash("models/mobilenet_v2.onnx")), device.CPU())
	require.NoError(t, err)
	st := m.Stats()
	t.Logf("%+v", st)
	require.Equal(t, 17, st.ConvChains)
	require.Zero(t, st.ConvPairs, "1×1 Convs after the chains: no padded copy to spare")
	require.Equal(t, 52-17+3, st.Nodes, "52 Convs (17 pairs of them), GlobalAveragePool, Flatten, Gemm")
}

// TestInputShapesFold: with the input shapes fixed at Load, the shape
// arithmetic of the transformer exports (Shape → Gather → Unsqueeze →
// Concat → Reshape) is folded into constants, far fewer nodes are left to
// run, and the outputs still match ONNX Runtime's on every device; a run
// with another shape is refused, naming the input.
func TestInputShapesFold(t *testing.T) {
	for _, c := range []struct {
		name, model, inputs string
		input               string
		dims                []int
	}{
		{"bert_encoder", "models/bert_encoder.onnx", "models/bert_encoder.input_*.npy", "x", []int{1, 128, 256}},
		{"gpt2_decoder", "models/gpt2_decoder.onnx", "models/gpt2_decoder.input_*.npy", "ids", []int{1, 64}},
	} {
		t.Run(c.name, func(t *testing.T) {
			path := generated(t, filepath.FromSlash(c.model))
			for _, dev := range devicetest.Devices(t) {
				t.Run(dev.Kind().String(), func(t *testing.T) {
					if testing.Short() && dev.Kind() == device.KindGPU {
						t.Skip("-short: the large models on the GPU")
					}
					free, err := onnx.Load(path, dev)
					require.NoError(t, err)
					m, err := onnx.Load(path, dev, onnx.WithInputShape(c.input, c.dims...))
					require.NoError(t, err)
					st, before := m.Stats(), free.Stats()
					t.Logf("free: %+v; fixed: %+v", before, st)
					require.Zero(t, before.FoldedShapes)
					require.Positive(t, st.FoldedShapes)
					require.Less(t, st.Nodes, before.Nodes*2/3, "nodes left to run")
					checkAgainstORT(t, dev, m, filepath.Join(genDir, filepath.FromSlash(c.inputs)), false)

					x := tensor.Zeros(dev, append([]int{2}, c.dims[1:]...)...)
					if m.Inputs()[0].DType == "int64" {
						x = x.AsType(tensor.Int32)
					}
					_, err = m.Run(map[string]*tensor.Tensor{c.input: x})
					require.ErrorContains(t, err, fmt.Sprintf("input %q", c.input))
				})
			}
		})
	}
}
