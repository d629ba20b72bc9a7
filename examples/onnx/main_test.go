package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/wgtensor/wgtensor/device"
	"github.com/wgtensor/wgtensor/examples/internal/programtest"
	"github.com/wgtensor/wgtensor/tensor"
)

var binary string

func TestMain(m *testing.M) { programtest.Main(m, "onnx", &binary) }

const models = "../../onnx/testdata/gen/models/"

func modelFile(t *testing.T, name string) string {
	t.Helper()
	p := models + name
	if _, err := os.Stat(p); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%v: run `make onnx-models`", err)
		}
		t.Skipf("%v: run `make onnx-models`", err)
	}
	return p
}

// TestRunWritesOutputs runs the zoo MNIST model as a user would and checks
// the written output against ONNX Runtime's, and the -bench summary line.
func TestRunWritesOutputs(t *testing.T) {
	model := modelFile(t, "mnist_zoo.onnx")
	out := t.TempDir()
	stdout, stderr, status := programtest.Run(t, binary, "-model", model, "-device", "cpu",
		"-input", "Input3="+models+"mnist_zoo.input_0.npy", "-output", out, "-bench", "3")
	require.Equal(t, 0, status, stderr)
	assert.Contains(t, stdout, "output Plus214_Output_0: float32 [1 10]")
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	assert.Regexp(t, regexp.MustCompile(`^summary: model=mnist_zoo.onnx device=cpu median_ms=[0-9.]+$`), lines[len(lines)-1])
	got, err := tensor.ReadNPY(filepath.Join(out, "Plus214_Output_0.npy"), device.CPU())
	require.NoError(t, err)
	want, err := tensor.ReadNPY(models+"mnist_zoo.input_0.ort.Plus214_Output_0.npy", device.CPU())
	require.NoError(t, err)
	g, _ := got.Data()
	w, _ := want.Data()
	assert.InDeltaSlice(t, w, g, 1e-3)
}

// TestBadInput: each mistake gives exit status 2 and one line naming it.
func TestBadInput(t *testing.T) {
	model := modelFile(t, "mnist_zoo.onnx")
	dir := t.TempDir()
	junk := filepath.Join(dir, "junk")
	require.NoError(t, os.WriteFile(junk, []byte("\x08\x03garbage"), 0o644))
	wrong := filepath.Join(dir, "wrong.npy")
	require.NoError(t, tensor.Zeros(device.CPU(), 1, 1, 27, 28).WriteNPY(wrong))
	in := "Input3=" + models + "mnist_zoo.input_0.npy"
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{}, "-model is required"},
		{[]string{"-model", filepath.Join(dir, "none.onnx")}, "none.onnx"},
		{[]string{"-model", junk, "-input", in}, "not an ONNX model"},
		{[]string{"-model", model}, `input "Input3" (float32, shape [1 1 28 28]) is missing`},
		{[]string{"-model", model, "-input", "Input3=" + junk}, "not a .npy file"},
		{[]string{"-model", model, "-input", "Input3=" + wrong}, "dimension 2 of [1 1 27 28] differs from the model's [1 1 28 28]"},
		{[]string{"-model", model, "-input", in, "-input", "other=" + wrong}, `no input "other"`},
		{[]string{"-model", model, "-input", "noequals"}, "want NAME=FILE.npy"},
		{[]string{"-model", model, "-input", in, "-device", "tpu"}, "unknown -device"},
	} {
		_, errOut, status := programtest.Run(t, binary, c.args...)
		assert.Equal(t, 2, status, "%v: %s", c.args, errOut)
		assert.Contains(t, errOut, c.want, c.args)
		assert.Equal(t, 1, strings.Count(strings.TrimSpace(errOut), "\n")+1, "one line: %q", errOut)
	}
}
