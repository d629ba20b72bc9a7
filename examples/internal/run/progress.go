package run

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/wgtensor/wgtensor/tensor"
)

// Progress reports a training epoch: on a terminal a bar redrawn in place
// with the epoch's mean loss and accuracy so far, samples per second and
// time left; otherwise a plain line every few seconds. The sums behind the
// means stay on the device and are read back only when a line is printed,
// so a GPU is not made to wait at every step.
type Progress struct {
	out        io.Writer
	tty        bool
	label      string
	total      int // samples in the epoch
	done       int
	start      time.Time
	last       time.Time
	every      time.Duration
	lossSum    *tensor.Tensor // Σ loss·n over the epoch, on the device
	correctSum *tensor.Tensor // Σ correct, or nil when not reported
	loss, acc  float64        // the means at the last print
}

// IsTerminal reports whether f is a terminal.
func IsTerminal(f *os.File) bool {
	info, err := f.Stat()
	return err == nil && info.Mode()&os.ModeCharDevice != 0
}

// NewProgress starts reporting an epoch of total samples.
func NewProgress(out io.Writer, label string, total int) *Progress {
	tty := false
	if f, ok := out.(*os.File); ok {
		tty = IsTerminal(f)
	}
	every := 10 * time.Second
	if tty {
		every = 200 * time.Millisecond
	}
	now := time.Now()
	return &Progress{out: out, tty: tty, label: label, total: total, start: now, last: now, every: every}
}

// Step records a batch of n samples with its mean loss (a one-element
// tensor) and, optionally, the number of correct predictions among them (a
// one-element tensor, or nil).
func (p *Progress) Step(n int, loss, correct *tensor.Tensor) {
	p.done += n
	p.lossSum = accumulate(p.lossSum, loss.Reshape().MulScalar(float64(n)))
	if correct != nil {
		p.correctSum = accumulate(p.correctSum, correct.Reshape())
	}
	if time.Since(p.last) >= p.every && p.done < p.total {
		p.last = time.Now()
		p.read()
		p.print(false)
	}
}

func accumulate(sum, v *tensor.Tensor) *tensor.Tensor {
	if sum == nil {
		return v
	}
	return sum.Add(v)
}

// read brings the running means back from the device.
func (p *Progress) read() {
	if p.done == 0 {
		return
	}
	if v, err := p.lossSum.Item(); err == nil {
		p.loss = float64(v) / float64(p.done)
	}
	if p.correctSum != nil {
		if v, err := p.correctSum.Item(); err == nil {
			p.acc = float64(v) / float64(p.done)
		}
	}
}

// MeanLoss is the mean loss per sample over the steps recorded so far.
func (p *Progress) MeanLoss() float64 {
	p.read()
	return p.loss
}

// Accuracy is the fraction of correct predictions over the steps recorded
// so far (0 when Step was never given a count).
func (p *Progress) Accuracy() float64 {
	p.read()
	return p.acc
}

// Finish ends the epoch's report with extra (for example test metrics).
func (p *Progress) Finish(extra string) {
	p.read()
	p.print(true)
	if extra != "" {
		fmt.Fprintf(p.out, "  %s", extra)
	}
	fmt.Fprintln(p.out)
}

func (p *Progress) print(final bool) {
	elapsed := time.Since(p.start).Seconds()
	rate := float64(p.done) / max(elapsed, 1e-9)
	left := time.Duration(float64(p.total-p.done)/max(rate, 1e-9)) * time.Second
	acc := ""
	if p.correctSum != nil {
		acc = fmt.Sprintf(" acc %5.2f%%", 100*p.acc)
	}
	stats := fmt.Sprintf("loss %.4f%s  %6.0f samples/s", p.loss, acc, rate)
	if !final {
		stats += fmt.Sprintf("  %s left", left.Round(time.Second))
	} else {
		stats += fmt.Sprintf("  %s", time.Duration(elapsed*float64(time.Second)).Round(100*time.Millisecond))
	}
	if !p.tty {
		if !final {
			fmt.Fprintf(p.out, "%s %d/%d %s\n", p.label, p.done, p.total, stats)
		} else {
			fmt.Fprintf(p.out, "%s %d/%d %s", p.label, p.done, p.total, stats)
		}
		return
	}
	const width = 24
	filled := width * p.done / max(p.total, 1)
	bar := strings.Repeat("=", filled) + strings.Repeat(" ", width-filled)
	fmt.Fprintf(p.out, "\r%s [%s] %3d%% %s\x1b[K", p.label, bar, 100*p.done/max(p.total, 1), stats)
}
