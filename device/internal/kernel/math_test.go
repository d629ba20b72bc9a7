package kernel

import (
	"math"
	"math/rand/v2"
	"testing"
)

// inputs covers the interesting ranges: near zero, moderate, the clamps,
// beyond the overflow points, infinities and NaN, in an order that puts
// every kind into both the vector blocks and the scalar tail.
func inputs() []float32 {
	v := []float32{0, float32(math.Copysign(0, -1)), 1e-8, -1e-8, 3e-4, 5e-4, 0.1, -0.1, 1, -1, 5, -5, 7.9, 8, -8, 20, -20,
		87, -87, 88.5, -88.5, 88.8, 89, -90, 100, -104, 1e4, -1e4,
		float32(math.Inf(1)), float32(math.Inf(-1)), float32(math.NaN())}
	r := rand.New(rand.NewPCG(1, 2))
	for range 2000 {
		v = append(v, float32(r.NormFloat64()*10))
	}
	return append(v, 0.5, -0.5, 2) // a tail that is not a multiple of 8
}

func check(t *testing.T, name string, f func(dst, src []float32), scalar func(float32) float32, ref func(float64) float64, rel, abs float64) {
	t.Helper()
	in := inputs()
	out := make([]float32, len(in))
	f(out, in)
	for i, x := range in {
		want := ref(float64(x))
		for _, got := range []float32{out[i], scalar(x)} {
			g := float64(got)
			switch {
			case math.IsNaN(want):
				if !math.IsNaN(g) {
					t.Fatalf("%s(%v) = %v, want NaN", name, x, g)
				}
			case math.IsInf(want, 0) || math.Abs(want) > math.MaxFloat32:
				if !math.IsInf(g, int(math.Copysign(1, want))) {
					t.Fatalf("%s(%v) = %v, want %v", name, x, g, want)
				}
			case math.Abs(g-want) > abs+rel*math.Abs(want):
				t.Fatalf("%s(%v) = %v, want %v (error %.3g)", name, x, g, want, math.Abs(g-want)/math.Max(math.Abs(want), 1e-300))
			}
		}
	}
}

func TestExp(t *testing.T) {
	check(t, "Exp", Exp, ExpF, math.Exp, 4e-7, 1e-37)
}

func TestTanh(t *testing.T) {
	check(t, "Tanh", Tanh, TanhF, math.Tanh, 1e-6, 1e-7)
}

func TestErf(t *testing.T) {
	check(t, "Erf", Erf, ErfF, math.Erf, 1e-6, 5e-7)
}

func TestSigmoid(t *testing.T) {
	sigmoid := func(x float64) float64 { return 1 / (1 + math.Exp(-x)) }
	check(t, "Sigmoid", Sigmoid, SigmoidF, sigmoid, 1e-6, 1e-37)
}

// TestSqrt checks that the vector square root matches the float64 one
// rounded to float32 bit for bit, denormals, negatives, zeros of both signs,
// infinities and NaN included.
func TestSqrt(t *testing.T) {
	in := append(inputs(), 1e-40, 3e-45, -2, float32(math.MaxFloat32), math.SmallestNonzeroFloat32)
	r := rand.New(rand.NewPCG(3, 4))
	for range 5000 {
		in = append(in, math.Float32frombits(r.Uint32()&0x7fffffff))
	}
	out := make([]float32, len(in))
	Sqrt(out, in)
	for i, x := range in {
		want := float32(math.Sqrt(float64(x)))
		if math.Float32bits(out[i]) != math.Float32bits(want) && !(want != want && out[i] != out[i]) {
			t.Fatalf("Sqrt(%v) = %v, want %v", x, out[i], want)
		}
	}
}

// TestReLU checks the vector ReLU against ReLUF bit for bit, and ReLUF
// against its definition: NaN stays NaN, -0 and negatives become 0.
func TestReLU(t *testing.T) {
	in := inputs()
	out := make([]float32, len(in))
	ReLU(out, in)
	for i, x := range in {
		want := x
		if x <= 0 {
			want = 0
		}
		if math.Float32bits(out[i]) != math.Float32bits(want) || math.Float32bits(ReLUF(x)) != math.Float32bits(want) {
			t.Fatalf("ReLU(%v) = %v (scalar %v), want %v", x, out[i], ReLUF(x), want)
		}
	}
}

// TestTanhSaturation checks that tanh is exactly ±1 from the first float32
// whose tanh rounds to 1 (9.010914, 0x41102cb4) on, on the vector path as
// on the scalar one, and close to tanh (never beyond ±1) just under it;
// and that sigmoid reaches exactly 1 and, for very negative x, float32's
// tiny values and then 0.
func TestTanhSaturation(t *testing.T) {
	sat := math.Float32frombits(0x41102cb4)
	var in []float32
	for x := sat; x < 12; x = math.Nextafter32(x, 100) {
		in = append(in, x, -x)
	}
	in = append(in, 20, -20, 1e4, -1e4, math.MaxFloat32, -math.MaxFloat32, float32(math.Inf(1)), float32(math.Inf(-1)))
	in = in[:len(in)&^7]
	out := make([]float32, len(in))
	Tanh(out, in)
	for i, x := range in {
		want := float32(math.Copysign(1, float64(x)))
		if out[i] != want || TanhF(x) != want {
			t.Fatalf("tanh(%v) = %v (scalar %v), want %v", x, out[i], TanhF(x), want)
		}
	}
	below := math.Nextafter32(sat, 0)
	in = []float32{below, -below, 8, -8, 7.9, 7.95, 9, -9}
	Tanh(out[:8], in)
	for i, x := range in {
		for _, got := range []float32{out[i], TanhF(x)} {
			if want := math.Tanh(float64(x)); math.Abs(float64(got)) > 1 || math.Abs(float64(got)-want) > 3e-7 {
				t.Fatalf("tanh(%v) = %v, want %v", x, got, want)
			}
		}
	}
	in = []float32{17, 20, 88, 1e4, -20, -87, -88, -1e4}
	want := []float32{1, 1, 1, 1, float32(1 / (1 + math.Exp(20))), float32(1 / (1 + math.Exp(87))), float32(1 / (1 + math.Exp(88))), 0}
	Sigmoid(out[:8], in)
	for i, x := range in {
		for _, got := range []float32{out[i], SigmoidF(x)} {
			if math.Abs(float64(got-want[i])) > 1e-6*float64(want[i]) {
				t.Fatalf("sigmoid(%v) = %v, want %v", x, got, want[i])
			}
		}
	}
}

func BenchmarkTanh(b *testing.B) {
	x := make([]float32, 1<<20)
	for i := range x {
		x[i] = float32(i%2000-1000) / 100
	}
	for b.Loop() {
		Tanh(x[:len(x):len(x)], x)
	}
}

func TestSoftmax(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for _, n := range []int{1, 7, 8, 9, 33, 1000} {
		for _, scale := range []float64{1, 30, 1e4} {
			x := make([]float32, n)
			for i := range x {
				x[i] = float32(scale * r.NormFloat64())
			}
			for _, log := range []bool{false, true} {
				got := make([]float32, n)
				Softmax(got, x, log)
				m := math.Inf(-1)
				for _, v := range x {
					m = math.Max(m, float64(v))
				}
				sum := 0.0
				for _, v := range x {
					sum += math.Exp(float64(v) - m)
				}
				for i, v := range x {
					want := math.Exp(float64(v)-m) / sum
					if log {
						want = (float64(v) - m) - math.Log(sum)
					}
					if math.Abs(float64(got[i])-want) > 1e-6+2e-6*math.Abs(want) {
						t.Fatalf("n=%d scale=%v log=%v: element %d = %v, want %v", n, scale, log, i, got[i], want)
					}
				}
			}
		}
	}
	// A NaN makes the whole row NaN.
	x := []float32{1, 2, float32(math.NaN()), 4, 5, 6, 7, 8, 9}
	got := make([]float32, len(x))
	Softmax(got, x, false)
	for i, v := range got {
		if !math.IsNaN(float64(v)) {
			t.Fatalf("element %d = %v, want NaN", i, v)
		}
	}
}

// TestExpSum checks each vector kernel of the softmax's exponentials
// against math.Exp, element by element and in the sum.
func TestExpSum(t *testing.T) {
	in := inputs()
	kernels := map[string]func(dst, x *float32, n int, m float32) float32{}
	if HasAVX2 {
		kernels["avx2"] = expSumAVX2
	}
	if HasAVX512 {
		kernels["avx512"] = expSumAVX512
	}
	for name, f := range kernels {
		for _, m := range []float32{0, 5, -90} {
			n := len(in) &^ 15
			out := make([]float32, n)
			sum := f(&out[0], &in[0], n, m)
			wantSum := 0.0
			for i, x := range in[:n] {
				want := math.Exp(float64(x - m)) // the kernels subtract in float32
				g := float64(out[i])
				switch {
				case math.IsNaN(want):
					if !math.IsNaN(g) {
						t.Fatalf("%s: e^(%v-%v) = %v, want NaN", name, x, m, g)
					}
					continue
				case want > math.MaxFloat32:
					if !math.IsInf(g, 1) {
						t.Fatalf("%s: e^(%v-%v) = %v, want +Inf", name, x, m, g)
					}
				case math.IsNaN(g) || math.Abs(g-want) > 1e-37+4e-7*want:
					t.Fatalf("%s: e^(%v-%v) = %v, want %v", name, x, m, g, want)
				}
				wantSum += float64(g)
			}
			if !math.IsNaN(float64(sum)) {
				t.Fatalf("%s: the sum over a NaN input is %v", name, sum)
			}
			clean := in[:30] // no NaN: the sum is finite or +Inf
			sum = f(&out[0], &clean[0], 16, m)
			wantSum = 0
			for _, x := range clean[:16] {
				wantSum += math.Exp(float64(x - m))
			}
			if wantSum > math.MaxFloat32 {
				wantSum = math.Inf(1)
			}
			if float64(sum) != wantSum && math.Abs(float64(sum)-wantSum) > 1e-6*wantSum {
				t.Fatalf("%s: sum %v, want %v", name, sum, wantSum)
			}
		}
	}
}
