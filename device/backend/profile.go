package backend

import (
	"fmt"
	"strings"
	"text/tabwriter"
	"time"
)

// Profiler is a Device that can time its work kernel by kernel: the GPU
// backend, from timestamp queries where the adapter has the timestamp-query
// feature.
type Profiler interface {
	// StartProfile begins gathering times; work recorded before it is
	// submitted first and not counted.
	StartProfile() error
	// StopProfile waits for the work recorded since StartProfile and
	// returns what it took.
	StopProfile() (*Profile, error)
}

// Profile is what a device's work took over a region of code: the GPU time
// of each kernel, from the device's timestamps, grouped by kernel family,
// op and grid, and the host's time spent recording work, submitting it and
// waiting for it.
type Profile struct {
	Device  string
	Kernels []KernelTime  // by total time, longest first
	Wall    time.Duration // from StartProfile to StopProfile
	Record  time.Duration // host time inside the device's ops, recording work
	Submit  time.Duration // host time in queue submissions
	Wait    time.Duration // host time waiting for the device
}

// KernelTime is the GPU time of one kind of dispatch: Kernel names the op,
// the kernel family and entry point, and the grid of workgroups.
type KernelTime struct {
	Kernel string
	Count  int
	Total  time.Duration
}

// GPU returns the sum of the kernels' times.
func (p *Profile) GPU() time.Duration {
	var t time.Duration
	for _, k := range p.Kernels {
		t += k.Total
	}
	return t
}

// String formats the profile as a table: per kernel the count, total and
// mean µs and share of the GPU time, then the host times.
func (p *Profile) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "profile of %s over %v\n", p.Device, p.Wall.Round(time.Microsecond))
	w := tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(w, "count\ttotal µs\tmean µs\tshare\t kernel")
	gpu := p.GPU()
	for _, k := range p.Kernels {
		share := 0.0
		if gpu > 0 {
			share = 100 * float64(k.Total) / float64(gpu)
		}
		fmt.Fprintf(w, "%d\t%.1f\t%.2f\t%.1f%%\t %s\n", k.Count, us(k.Total), us(k.Total)/float64(k.Count), share, k.Kernel)
	}
	w.Flush()
	fmt.Fprintf(&b, "GPU %.1f µs in %d kernels; host: recording %.1f µs, submitting %.1f µs, waiting %.1f µs\n",
		us(gpu), p.dispatches(), us(p.Record), us(p.Submit), us(p.Wait))
	return b.String()
}

func (p *Profile) dispatches() int {
	n := 0
	for _, k := range p.Kernels {
		n += k.Count
	}
	return n
}

func us(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }
