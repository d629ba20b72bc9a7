package main

import (
	"bytes"
	"compress/gzip"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/wgtensor/wgtensor/device"
	"github.com/wgtensor/wgtensor/examples/internal/programtest"
	"github.com/wgtensor/wgtensor/nn"
)

var binary string

// TestMain builds the program once; the tests run it as a user would.
func TestMain(m *testing.M) { programtest.Main(m, "mnist", &binary) }

// runProgram runs the program and returns its output and exit status.
func runProgram(t *testing.T, args ...string) (stdout, stderr string, status int) {
	t.Helper()
	return programtest.Run(t, binary, args...)
}

// TestBadInput: each mistake gives exit status 2 and one line on stderr that
// names it, with no stack trace.
func TestBadInput(t *testing.T) {
	dir := t.TempDir()
	corrupt := filepath.Join(dir, "corrupt")
	require.NoError(t, os.Mkdir(corrupt, 0o755))
	for _, name := range []string{"train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"} {
		var b bytes.Buffer
		zw := gzip.NewWriter(&b)
		zw.Write([]byte{0, 0, 8, 3, 0, 0, 0, 9}) // promises data it does not have
		zw.Close()
		require.NoError(t, os.WriteFile(filepath.Join(corrupt, name), b.Bytes(), 0o644))
	}
	mlpCheckpoint := filepath.Join(dir, "mlp.safetensors")
	require.NoError(t, nn.Save(mlpCheckpoint, newMLP(device.CPU())))

	cases := []struct {
		name string
		args []string
		want string
	}{
		{"unknown device", []string{"-device=tpu"}, `unknown -device "tpu": want cpu, gpu or auto`},
		{"unknown model", []string{"-model=resnet"}, `unknown -model "resnet": want mlp or cnn`},
		{"unknown dataset", []string{"-dataset=cifar"}, `unknown -dataset "cifar": want mnist or fashion`},
		{"unknown autocast type", []string{"-autocast=int8"}, `unknown -autocast "int8": want float32, float16 or bfloat16`},
		{"unknown flag", []string{"-bogus"}, "flag provided but not defined: -bogus"},
		{"missing data", []string{"-data", filepath.Join(dir, "nowhere")}, "nowhere"},
		{"corrupt data", []string{"-data", corrupt}, "truncated"},
		{"checkpoint of another model", []string{"-device=cpu", "-model=cnn", "-epochs=0", "-load", mlpCheckpoint}, "is not a checkpoint of the cnn model"},
		{"missing checkpoint", []string{"-device=cpu", "-epochs=0", "-load", filepath.Join(dir, "absent.safetensors")}, "cannot read"},
		{"profile on the CPU", []string{"-device=cpu", "-profile=3"}, "cannot time its kernels; use -device=gpu"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			stdout, stderr, status := runProgram(t, c.args...)
			programtest.CheckUsageError(t, "mnist", stdout, stderr, status, c.want)
		})
	}
}

// TestSaveLoadSameAccuracy: a checkpoint saved by -save loads with -load and
// gives the same test accuracy.
func TestSaveLoadSameAccuracy(t *testing.T) {
	if testing.Short() {
		t.Skip("trains for a few seconds")
	}
	path := filepath.Join(t.TempDir(), "mlp.safetensors")
	out, stderr, status := runProgram(t, "-quick", "-model=mlp", "-device=cpu", "-save", path)
	require.Equal(t, 0, status, "stderr: %s\nstdout: %s", stderr, out)
	accuracy := regexp.MustCompile(`test_accuracy=([0-9.]+)%`)
	trained := accuracy.FindStringSubmatch(out)
	require.NotNil(t, trained, out)

	out, stderr, status = runProgram(t, "-model=mlp", "-device=cpu", "-epochs=0", "-load", path)
	require.Equal(t, 0, status, "stderr: %s", stderr)
	loaded := accuracy.FindStringSubmatch(out)
	require.NotNil(t, loaded, out)
	assert.Equal(t, trained[1], loaded[1])
}

// TestProfileTable: -profile on the GPU prints the table of kernel times
// of the steps it timed.
func TestProfileTable(t *testing.T) {
	if _, err := device.GPU(); err != nil {
		if os.Getenv("WGTENSOR_REQUIRE_GPU") != "" {
			t.Fatalf("WGTENSOR_REQUIRE_GPU is set but no GPU opened: %v", err)
		}
		t.Skipf("no GPU: %v", err)
	}
	out, stderr, status := runProgram(t, "-quick", "-model=mlp", "-device=gpu", "-epochs=1", "-profile=2")
	require.Zero(t, status, stderr)
	assert.Contains(t, out, "2 training steps (batch 64):")
	assert.Contains(t, out, "mean µs")
	assert.Regexp(t, `MatMul: matmul\.main`, out)
}

// TestAutocastAccuracy: the quick CNN run trained and evaluated under
// -autocast=bfloat16 and -autocast=float16 (with loss scaling) reaches its
// float32 accuracy within 0.3 points, on the CPU and, with
// WGTENSOR_LONG_TESTS set (two minutes a run on lavapipe), on the GPU.
func TestAutocastAccuracy(t *testing.T) {
	if testing.Short() {
		t.Skip("trains three times")
	}
	devices := []string{"cpu"}
	if os.Getenv("WGTENSOR_LONG_TESTS") != "" {
		devices = append(devices, "gpu")
	}
	accuracy := regexp.MustCompile(`test_accuracy=([0-9.]+)%`)
	for _, dev := range devices {
		acc := map[string]float64{}
		for _, cast := range []string{"float32", "bfloat16", "float16"} {
			out, stderr, status := runProgram(t, "-quick", "-model=cnn", "-device="+dev, "-autocast="+cast)
			require.Equal(t, 0, status, "stderr: %s\nstdout: %s", stderr, out)
			require.Contains(t, out, "autocast="+cast)
			m := accuracy.FindStringSubmatch(out)
			require.NotNil(t, m, out)
			v, err := strconv.ParseFloat(m[1], 64)
			require.NoError(t, err)
			acc[cast] = v
		}
		t.Logf("%s: test accuracy %v", dev, acc)
		assert.InDelta(t, acc["float32"], acc["bfloat16"], 0.3, "%s: bfloat16 autocast", dev)
		assert.InDelta(t, acc["float32"], acc["float16"], 0.3, "%s: float16 autocast", dev)
	}
}
