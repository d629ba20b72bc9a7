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
// with loss, accuracy, samples per second and time left; otherwise a plain
// line every few seconds. Losses are tensors read back only when a line is
// printed, so a GPU is not made to wait at every step.
type Progress struct {
	out      io.Writer
	tty      bool
	label    string
	total    int // samples in the epoch
	done     int
	start    time.Time
	last     time.Time
	every    time.Duration
	loss     float64 // the most recently read loss
	correct  float64
	seen     float64 // samples counted in correct
	lossSum  float64
	lossRead int
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

// Step records a batch of n samples with its loss (a one-element tensor)
// and, optionally, the number of correct predictions in it (a one-element
// tensor, or nil).
func (p *Progress) Step(n int, loss, correct *tensor.Tensor) {
	p.done += n
	if time.Since(p.last) < p.every && p.done < p.total {
		return
	}
	p.last = time.Now()
	if v, err := loss.Item(); err == nil {
		p.loss = float64(v)
		p.lossSum += p.loss
		p.lossRead++
	}
	if correct != nil {
		if v, err := correct.Item(); err == nil {
			p.correct += float64(v)
			p.seen += float64(n)
		}
	}
	p.print(false)
}

// MeanLoss is the mean of the losses read during the epoch.
func (p *Progress) MeanLoss() float64 {
	if p.lossRead == 0 {
		return p.loss
	}
	return p.lossSum / float64(p.lossRead)
}

// Finish ends the epoch's report with extra (for example test metrics).
func (p *Progress) Finish(extra string) {
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
	if p.seen > 0 {
		acc = fmt.Sprintf(" acc %5.2f%%", 100*p.correct/p.seen)
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
