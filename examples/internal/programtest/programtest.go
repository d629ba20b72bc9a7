// Package programtest runs an example program as its user would, for the
// examples' tests: it builds the program once and checks the exit status
// and error line of a run.
package programtest

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// Main builds the program in the current directory, sets *bin to its path
// and runs the tests; call it from TestMain.
func Main(m *testing.M, name string, bin *string) {
	dir, err := os.MkdirTemp("", name+"-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	*bin = filepath.Join(dir, name)
	if out, err := exec.Command("go", "build", "-o", *bin, ".").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "go build: %v\n%s", err, out)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// Run runs bin with args and returns what it printed and its exit status.
func Run(t testing.TB, bin string, args ...string) (stdout, stderr string, status int) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		return out.String(), errOut.String(), ee.ExitCode()
	} else if err != nil {
		t.Fatalf("running %s %v: %v", bin, args, err)
	}
	return out.String(), errOut.String(), 0
}

// CheckUsageError checks that a run failed as bad input must: exit status
// 2 and one line on stderr, starting with the program's name, mentioning
// every string of want, with no stack trace.
func CheckUsageError(t testing.TB, name, stdout, stderr string, status int, want ...string) {
	t.Helper()
	if status != 2 {
		t.Errorf("exit status %d, want 2\nstdout:\n%s\nstderr:\n%s", status, stdout, stderr)
	}
	if strings.Count(stderr, "\n") != 1 || !strings.HasSuffix(stderr, "\n") {
		t.Errorf("stderr is not one line:\n%s", stderr)
	}
	if !strings.HasPrefix(stderr, name+": ") || strings.Contains(stderr, "goroutine") || strings.Contains(stderr, "panic") {
		t.Errorf("stderr does not look like a one-line error:\n%s", stderr)
	}
	for _, w := range want {
		if !strings.Contains(stderr, w) {
			t.Errorf("stderr does not mention %q:\n%s", w, stderr)
		}
	}
}

// CheckSummary checks that a run succeeded and printed its summary line.
func CheckSummary(t testing.TB, stdout, stderr string, status int) {
	t.Helper()
	if status != 0 {
		t.Fatalf("exit status %d, want 0\nstdout:\n%s\nstderr:\n%s", status, stdout, stderr)
	}
	if !strings.Contains(stdout, "summary: device=") {
		t.Fatalf("no summary line in the output:\n%s", stdout)
	}
}

// Interrupt starts bin with args, sends it SIGINT once a line of its output
// contains ready, and checks that it then stops cleanly: exit status 0, a
// summary line, a note of the interruption on stderr, and the checkpoint
// file saved (args must include -save=checkpoint).
func Interrupt(t *testing.T, bin, ready, checkpoint string, args ...string) {
	t.Helper()
	if testing.Short() || runtime.GOOS == "windows" {
		t.Skip("sends SIGINT to a training run")
	}
	cmd := exec.Command(bin, args...)
	var errOut bytes.Buffer
	cmd.Stderr = &errOut
	pipe, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	started := make(chan bool, 1)
	var out strings.Builder
	done := make(chan bool)
	go func() {
		sc := bufio.NewScanner(pipe)
		for sc.Scan() {
			out.WriteString(sc.Text() + "\n")
			if strings.Contains(sc.Text(), ready) {
				started <- true
			}
		}
		close(done)
	}()
	select {
	case <-started:
	case <-time.After(time.Minute):
		cmd.Process.Kill()
		t.Fatal("training did not start within a minute")
	}
	time.Sleep(500 * time.Millisecond)
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	<-done
	if err := cmd.Wait(); err != nil {
		t.Fatalf("interrupted run: %v\nstdout:\n%s\nstderr:\n%s", err, out.String(), errOut.String())
	}
	CheckSummary(t, out.String(), errOut.String(), 0)
	if !strings.Contains(errOut.String(), "interrupted") {
		t.Errorf("no word of the interruption on stderr:\n%s", errOut.String())
	}
	if _, err := os.Stat(checkpoint); err != nil {
		t.Errorf("the checkpoint was not saved on Ctrl-C: %v", err)
	}
}

// SaveLoad runs bin with args plus -save and -plot into a temporary
// folder, checks that both files were written, then runs it again with
// args plus -load of that checkpoint and checks that the run says it
// loaded it.
func SaveLoad(t *testing.T, bin string, args ...string) {
	t.Helper()
	dir := t.TempDir()
	ck := filepath.Join(dir, "model.safetensors")
	plot := filepath.Join(dir, "loss.png")
	stdout, stderr, status := Run(t, bin, append(args[:len(args):len(args)], "-save="+ck, "-plot="+plot)...)
	CheckSummary(t, stdout, stderr, status)
	for _, f := range []string{ck, plot} {
		if info, err := os.Stat(f); err != nil || info.Size() == 0 {
			t.Errorf("%s was not written: %v", f, err)
		}
	}
	stdout, stderr, status = Run(t, bin, append(args[:len(args):len(args)], "-load="+ck)...)
	CheckSummary(t, stdout, stderr, status)
	if !strings.Contains(stdout, "loaded "+ck) {
		t.Errorf("no word of the checkpoint loaded:\n%s", stdout)
	}
}
