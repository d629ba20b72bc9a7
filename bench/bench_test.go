package bench

import (
	"fmt"
	"os"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/wgtensor/wgtensor/device"
	"github.com/wgtensor/wgtensor/device/cpu"
	"github.com/wgtensor/wgtensor/tensor"
)

// onDevices runs f as the sub-benchmarks "cpu" and "gpu"; the latter skips
// when no GPU opens or WGTENSOR_BENCH_DEVICES is "cpu".
func onDevices(b *testing.B, f func(b *testing.B, dev device.Device)) {
	only := os.Getenv("WGTENSOR_BENCH_DEVICES") // "cpu" or "gpu" runs that device alone
	b.Run("cpu", func(b *testing.B) {
		if only == "gpu" {
			b.Skip("WGTENSOR_BENCH_DEVICES=gpu")
		}
		f(b, device.CPU())
	})
	b.Run("gpu", func(b *testing.B) {
		if only == "cpu" {
			b.Skip("WGTENSOR_BENCH_DEVICES=cpu")
		}
		g, err := device.GPU()
		if err != nil {
			b.Skipf("no GPU: %v", err)
		}
		f(b, g)
	})
}

// run times op, waiting for the device after each call, after one untimed
// call that compiles kernels and fills buffer pools.
func run(b *testing.B, dev device.Device, op func() *tensor.Tensor) {
	b.Helper()
	if err := op().Err(); err != nil {
		b.Fatal(err)
	}
	if err := dev.Sync(); err != nil {
		b.Fatal(err)
	}
	before := dev.Stats()
	var times iterationTimes
	b.ResetTimer()
	for b.Loop() {
		times.start()
		op()
		if err := dev.Sync(); err != nil {
			b.Fatal(err)
		}
		times.stop()
	}
	reportStats(b, before, dev.Stats())
	times.report(b)
}

// iterationTimes records how long each iteration of a benchmark took, for
// its median: ns/op is the mean, which a few iterations slowed by the
// machine (a virtual machine's neighbours, a garbage collection) pull up,
// where the references of bench/compare.py and compare_onnx.py report the
// median of their runs.
type iterationTimes struct {
	t0    time.Time
	times []time.Duration
}

func (it *iterationTimes) start() { it.t0 = time.Now() }
func (it *iterationTimes) stop()  { it.times = append(it.times, time.Since(it.t0)) }

// report reports the median iteration as median-ns/op.
func (it *iterationTimes) report(b *testing.B) {
	if len(it.times) == 0 {
		return
	}
	slices.Sort(it.times)
	b.ReportMetric(float64(it.times[len(it.times)/2].Nanoseconds()), "median-ns/op")
}

// reportStats reports the device's work per iteration between two Stats:
// kernels dispatched, command buffers submitted, reads of device memory,
// buffers created (pool misses) and bind groups created (none in a captured
// step).
func reportStats(b *testing.B, before, after device.Stats) {
	per := func(n int64) float64 { return float64(n) / float64(b.N) }
	b.ReportMetric(per(after.Dispatches-before.Dispatches), "dispatches/op")
	b.ReportMetric(per(after.Submits-before.Submits), "submits/op")
	b.ReportMetric(per(after.Readbacks-before.Readbacks), "readbacks/op")
	b.ReportMetric(per(after.Created-before.Created), "buffers/op")
	b.ReportMetric(per(after.BindGroups-before.BindGroups), "bindgroups/op")
}

func BenchmarkMatMul(b *testing.B) {
	sizes := []int{128, 256, 512, 1024, 2048}
	if os.Getenv("WGTENSOR_BENCH_LARGE") != "" { // bench/gpu-check.sh on a real GPU
		sizes = append(sizes, 4096, 8192)
	}
	for _, n := range sizes {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			onDevices(b, func(b *testing.B, dev device.Device) {
				rng := tensor.NewRNG(1)
				x, y := tensor.Randn(dev, rng, n, n), tensor.Randn(dev, rng, n, n)
				run(b, dev, func() *tensor.Tensor { return x.MatMul(y) })
				gflops := 2 * float64(n*n*n) * float64(b.N) / b.Elapsed().Seconds() / 1e9
				b.ReportMetric(gflops, "GFLOP/s")
				if dev.Kind() == device.KindCPU {
					// The share of the cores' measured FMA peak.
					if peak := cpu.PeakGFLOPS(runtime.GOMAXPROCS(0)); peak > 0 {
						b.ReportMetric(100*gflops/peak, "%peak")
					}
				}
			})
		})
	}
}

// BenchmarkMatMulHalf is BenchmarkMatMul on Float16 and BFloat16 operands
// (float32 accumulation, a 16-bit result), beside float32 at the same
// sizes.
func BenchmarkMatMulHalf(b *testing.B) {
	for _, dt := range []tensor.DType{tensor.Float32, tensor.Float16, tensor.BFloat16} {
		for _, n := range []int{1024, 2048} {
			b.Run(fmt.Sprintf("%v/%d", dt, n), func(b *testing.B) {
				onDevices(b, func(b *testing.B, dev device.Device) {
					rng := tensor.NewRNG(1)
					x, y := tensor.Randn(dev, rng, n, n).AsType(dt), tensor.Randn(dev, rng, n, n).AsType(dt)
					run(b, dev, func() *tensor.Tensor { return x.MatMul(y) })
					b.ReportMetric(2*float64(n*n*n)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
				})
			})
		}
	}
}

// BenchmarkConv2D is the second convolution of a small MNIST CNN: batch 64,
// 32 to 64 channels, 14×14, 3×3 kernel, padding 1.
func BenchmarkConv2D(b *testing.B) {
	onDevices(b, func(b *testing.B, dev device.Device) {
		rng := tensor.NewRNG(2)
		x, w := tensor.Randn(dev, rng, 64, 32, 14, 14), tensor.Randn(dev, rng, 64, 32, 3, 3)
		opt := tensor.Conv2DOptions{Padding: [2]int{1, 1}}
		run(b, dev, func() *tensor.Tensor { return tensor.Conv2D(x, w, opt) })
		flops := 2.0 * 64 * 64 * 14 * 14 * 32 * 9
		b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
	})
}

func BenchmarkSoftmax(b *testing.B) {
	onDevices(b, func(b *testing.B, dev device.Device) {
		x := tensor.Randn(dev, tensor.NewRNG(3), 256, 1000)
		run(b, dev, func() *tensor.Tensor { return x.Softmax(-1) })
	})
}

func BenchmarkTanh(b *testing.B) {
	onDevices(b, func(b *testing.B, dev device.Device) {
		x := tensor.Randn(dev, tensor.NewRNG(4), 1<<20)
		run(b, dev, func() *tensor.Tensor { return x.Tanh() })
	})
}

// BenchmarkSmallOps measures the fixed cost of an op: 100 chained adds of
// 1,000 elements, then one wait for the device.
func BenchmarkSmallOps(b *testing.B) {
	onDevices(b, func(b *testing.B, dev device.Device) {
		rng := tensor.NewRNG(5)
		x, y := tensor.Randn(dev, rng, 1000), tensor.Randn(dev, rng, 1000)
		run(b, dev, func() *tensor.Tensor {
			z := x
			for range 100 {
				z = z.Add(y)
			}
			return z
		})
		b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N)/100, "µs/op")
	})
}
