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

func TestMain(m *testing.M) { programtest.Main(m, "rnn", &bin) }

// runProgram runs the program with args and returns its output and exit
// status.
func runProgram(t *testing.T, args ...string) (stdout, stderr string, status int) {
	t.Helper()
	return programtest.Run(t, bin, args...)
}

// tiny are the flags of a run that takes a fraction of a second: this
// file as the corpus, a small model and two steps.
func tiny(extra ...string) []string {
	return append([]string{"-device=cpu", "-data=main.go", "-epochs=1", "-steps=2", "-hidden=16", "-seq=16", "-batch=4"}, extra...)
}

func checkSummary(t *testing.T, stdout, stderr string, status int) {
	t.Helper()
	programtest.CheckSummary(t, stdout, stderr, status)
}

func TestQuick(t *testing.T) {
	if testing.Short() {
		t.Skip("-quick trains for several seconds per cell")
	}
	for _, cell := range []string{"lstm", "rnn", "gru"} {
		t.Run(cell, func(t *testing.T) {
			start := time.Now()
			stdout, stderr, status := runProgram(t, "-quick", "-device=cpu", "-cell="+cell)
			checkSummary(t, stdout, stderr, status)
			if !strings.Contains(stdout, "quick check passed") {
				t.Errorf("no quick check in the output:\n%s", stdout)
			}
			t.Logf("%s in %s: %s", cell, time.Since(start).Round(100*time.Millisecond), lastLines(stdout, 2))
		})
	}
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
	empty := filepath.Join(dir, "empty")
	if err := os.Mkdir(empty, 0o755); err != nil {
		t.Fatal(err)
	}
	// A checkpoint of a GRU, to load into an LSTM of the same size.
	gru := filepath.Join(dir, "gru.safetensors")
	stdout, stderr, status := runProgram(t, tiny("-cell=gru", "-save="+gru)...)
	checkSummary(t, stdout, stderr, status)

	for _, c := range []struct {
		name string
		args []string
		want []string // in the one line on stderr
	}{
		{"unknown device", tiny("-device=tpu"), []string{`unknown -device "tpu"`}},
		{"unknown cell", tiny("-cell=transformer"), []string{`unknown -cell "transformer"`, "rnn, lstm or gru"}},
		{"unknown flag", tiny("-colour=red"), []string{"-colour"}},
		{"zero hidden", tiny("-hidden=0"), []string{"-hidden must be positive"}},
		{"zero temperature", tiny("-temperature=0"), []string{"-temperature must be positive"}},
		{"missing data", tiny("-data=" + filepath.Join(dir, "nowhere")), []string{"nowhere does not exist", "-data"}},
		{"data without text", tiny("-data=" + empty), []string{"holds no .go, .txt or .md files"}},
		{"sequence too long", tiny("-seq=100000"), []string{"too few for -seq 100000"}},
		{"missing checkpoint", tiny("-load=" + filepath.Join(dir, "none.safetensors")), []string{"-load", "none.safetensors"}},
		{"garbage checkpoint", tiny("-load=" + garbage), []string{"-load", "garbage.safetensors"}},
		{"checkpoint of another cell", tiny("-cell=lstm", "-load="+gru), []string{"-load", "lstm", "rnn.weight_ih_l0", "shape"}},
		{"checkpoint of another size", tiny("-cell=gru", "-hidden=32", "-load="+gru), []string{"-load", "shape"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			stdout, stderr, status := runProgram(t, c.args...)
			programtest.CheckUsageError(t, "rnn", stdout, stderr, status, c.want...)
		})
	}
}

func TestSaveLoad(t *testing.T) {
	programtest.SaveLoad(t, bin, tiny()...)
}

func TestInterrupt(t *testing.T) {
	ck := filepath.Join(t.TempDir(), "interrupted.safetensors")
	programtest.Interrupt(t, bin, "parameters;", ck, "-device=cpu", "-data=main.go", "-steps=1000000", "-hidden=16", "-seq=16", "-batch=4", "-save="+ck)
}
