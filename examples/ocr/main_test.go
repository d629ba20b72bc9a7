package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/wgtensor/wgtensor/device/devicetest"
	"github.com/wgtensor/wgtensor/examples/internal/programtest"
)

var binary string

func TestMain(m *testing.M) { programtest.Main(m, "ocr", &binary) }

// modelPath returns the recognizer that `make onnx-models` unpacks, or skips
// (fails in CI) with the command.
func modelPath(t *testing.T) string {
	t.Helper()
	p := "../../" + defaultModel
	if _, err := os.Stat(p); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%v: run `make onnx-models`", err)
		}
		t.Skipf("%v: run `make onnx-models`", err)
	}
	return p
}

// TestReadsRenderedLines: lines rendered with the Go font read back exactly,
// on every device.
func TestReadsRenderedLines(t *testing.T) {
	model := modelPath(t)
	for _, dev := range devicetest.Devices(t) {
		for _, line := range []string{"Hello World 2024", "Invoice No. 58317", "Total: $42.50 (paid)"} {
			out, errOut, status := programtest.Run(t, binary, "-model", model, "-device", dev.Kind().String(), "-text", line)
			require.Equal(t, 0, status, errOut)
			assert.Equal(t, line, strings.TrimSpace(out), "on %s", dev.Kind())
		}
	}
}

// TestBadInput: each mistake gives exit status 2 and one line naming it.
func TestBadInput(t *testing.T) {
	model := modelPath(t)
	dir := t.TempDir()
	junk := dir + "/junk.png"
	require.NoError(t, os.WriteFile(junk, []byte("not an image"), 0o644))
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"-model", model}, "pass -image FILE or -text STRING"},
		{[]string{"-model", dir + "/none.onnx", "-text", "x"}, "make onnx-models"},
		{[]string{"-model", model, "-image", junk}, "junk.png"},
		{[]string{"-model", model, "-image", dir + "/absent.png"}, "absent.png"},
		{[]string{"-model", model, "-keys", dir + "/nokeys.txt", "-text", "x"}, "nokeys.txt"},
		{[]string{"-model", junk, "-keys", filepath.Join(filepath.Dir(model), "ppocr_keys_v1.txt"), "-text", "x"}, "not an ONNX model"},
	} {
		_, errOut, status := programtest.Run(t, binary, c.args...)
		assert.Equal(t, 2, status, "%v: %s", c.args, errOut)
		assert.Contains(t, errOut, c.want, c.args)
		assert.Equal(t, 1, strings.Count(strings.TrimSpace(errOut), "\n")+1, "one line: %q", errOut)
	}
}
