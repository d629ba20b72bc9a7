package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wgtensor/wgtensor/examples/internal/programtest"
)

// bin is the program, built once by TestMain.
var bin string

func TestMain(m *testing.M) { programtest.Main(m, "attention", &bin) }

// runProgram runs the program with args and returns its output and exit
// status.
func runProgram(t *testing.T, args ...string) (stdout, stderr string, status int) {
	t.Helper()
	return programtest.Run(t, bin, args...)
}

// tiny are the flags of a run that takes a fraction of a second: a small
// model and two steps.
func tiny(extra ...string) []string {
	return append([]string{"-device=cpu", "-epochs=1", "-steps=2", "-len=4", "-dmodel=8", "-heads=2", "-ff=8", "-layers=1", "-batch=4"}, extra...)
}

func checkSummary(t *testing.T, stdout, stderr string, status int) {
	t.Helper()
	programtest.CheckSummary(t, stdout, stderr, status)
}

func TestQuick(t *testing.T) {
	if testing.Short() {
		t.Skip("-quick trains for several seconds")
	}
	start := time.Now()
	stdout, stderr, status := runProgram(t, "-quick", "-device=cpu")
	checkSummary(t, stdout, stderr, status)
	if !strings.Contains(stdout, "quick check passed") {
		t.Errorf("no quick check in the output:\n%s", stdout)
	}
	t.Logf("in %s: %s", time.Since(start).Round(100*time.Millisecond), lastLines(stdout, 2))
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], " | ")
}

func TestBadInput(t *testing.T) {
	dir := t.TempDir()
	garbage := filepath.Join(dir, "garbage.safetensors")
	if err := os.WriteFile(garbage, []byte("not a checkpoint"), 0o644); err != nil {
		t.Fatal(err)
	}
	// A checkpoint for sequences of 4 digits, to load into a model of 5.
	short := filepath.Join(dir, "len4.safetensors")
	stdout, stderr, status := runProgram(t, tiny("-save="+short)...)
	checkSummary(t, stdout, stderr, status)

	for _, c := range []struct {
		name string
		args []string
		want []string // in the one line on stderr
	}{
		{"unknown device", tiny("-device=tpu"), []string{`unknown -device "tpu"`}},
		{"unknown flag", tiny("-colour=red"), []string{"-colour"}},
		{"zero length", tiny("-len=0"), []string{"-len must be positive"}},
		{"heads not dividing", tiny("-heads=3"), []string{"-heads 3 does not divide -dmodel 8"}},
		{"data given", tiny("-data=" + filepath.Join(dir, "nowhere")), []string{"-data", "reads no data"}},
		{"missing checkpoint", tiny("-load=" + filepath.Join(dir, "none.safetensors")), []string{"-load", "none.safetensors"}},
		{"garbage checkpoint", tiny("-load=" + garbage), []string{"-load", "garbage.safetensors"}},
		{"checkpoint of another length", tiny("-len=5", "-load="+short), []string{"-load", "-len 5", "pos.weight", "shape"}},
		{"checkpoint of another depth", tiny("-layers=2", "-load="+short), []string{"-load", "layers.1"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			stdout, stderr, status := runProgram(t, c.args...)
			programtest.CheckUsageError(t, "attention", stdout, stderr, status, c.want...)
		})
	}
}

func TestSaveLoad(t *testing.T) {
	programtest.SaveLoad(t, bin, tiny()...)
}

func TestInterrupt(t *testing.T) {
	ck := filepath.Join(t.TempDir(), "interrupted.safetensors")
	programtest.Interrupt(t, bin, "parameters;", ck, append(tiny("-steps=1000000"), "-save="+ck)...)
}
