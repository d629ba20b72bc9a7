package bench

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/wgtensor/wgtensor/device"
	"github.com/wgtensor/wgtensor/onnx"
	"github.com/wgtensor/wgtensor/tensor"
)

// onnxModels are the models of the ONNX comparison with ONNX Runtime:
// file and input under onnx/testdata/gen (made by `make onnx-models`).
var onnxModels = []struct{ name, model, input string }{
	{"ResNet18", "models/resnet18.onnx", "models/resnet18.input_0.npy"},
	{"MobileNetV2", "models/mobilenet_v2.onnx", "models/mobilenet_v2.input_0.npy"},
	{"PPOCRv4", "ocr/assets/ch_PP-OCRv4_rec_infer.onnx", "ocr/line_0.npy"},
	{"BERTEncoder", "models/bert_encoder.onnx", "models/bert_encoder.input_0.npy"},
	{"GPT2Decoder", "models/gpt2_decoder.onnx", "models/gpt2_decoder.input_0.npy"},
}

// BenchmarkONNX times one inference of each model, batch 1.
func BenchmarkONNX(b *testing.B) {
	gen := filepath.Join("..", "onnx", "testdata", "gen")
	for _, c := range onnxModels {
		b.Run(c.name, func(b *testing.B) {
			path := filepath.Join(gen, filepath.FromSlash(c.model))
			if _, err := os.Stat(path); err != nil {
				b.Skipf("%v: run `make onnx-models`", err)
			}
			onDevices(b, func(b *testing.B, dev device.Device) {
				x, err := tensor.ReadNPY(filepath.Join(gen, filepath.FromSlash(c.input)), dev)
				if err != nil {
					b.Fatal(err)
				}
				// As a user who knows the input's shape loads it (ONNX
				// Runtime's free dimension overrides).
				name := inputName(b, path)
				m, err := onnx.Load(path, dev, onnx.WithInputShape(name, x.Shape()...))
				if err != nil {
					b.Fatal(err)
				}
				in := map[string]*tensor.Tensor{name: x}
				out := m.Outputs()[0].Name
				run(b, dev, func() *tensor.Tensor {
					res, err := m.Run(in)
					if err != nil {
						b.Fatal(err)
					}
					return res[out]
				})
				if os.Getenv("WGTENSOR_BENCH_PROFILE") != "" {
					profileModel(b, m, in)
				}
			})
		})
	}
}

// inputName returns the name of the first input of the model at path.
func inputName(b *testing.B, path string) string {
	m, err := onnx.Load(path, device.CPU())
	if err != nil {
		b.Fatal(err)
	}
	return m.Inputs()[0].Name
}

// profileModel logs the node-by-node profile of m: each node's least time
// over ten runs.
func profileModel(b *testing.B, m *onnx.Model, in map[string]*tensor.Tensor) {
	var best *onnx.Profile
	for range 10 {
		_, p, err := m.Profile(in)
		if err != nil {
			b.Fatal(err)
		}
		if best == nil {
			best = p
			continue
		}
		best.Total = min(best.Total, p.Total)
		for i, n := range p.Nodes {
			best.Nodes[i].Time = min(best.Nodes[i].Time, n.Time)
		}
	}
	b.Logf("least of ten runs, per node:\n%s", best)
}
