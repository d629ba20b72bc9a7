package tensor_test

import (
	"math"
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/wgtensor/wgtensor/device"
	"github.com/wgtensor/wgtensor/device/devicetest"
	"github.com/wgtensor/wgtensor/internal/half"
	"github.com/wgtensor/wgtensor/tensor"
)

var halfTypes = []tensor.DType{tensor.Float16, tensor.BFloat16}

// encode rounds f to dt's bits on the host, the reference for the devices.
func encode(f float32, dt tensor.DType) uint16 { return half.Round(f, dt == tensor.BFloat16) }

// decode is the float32 of dt's bits h.
func decode(h uint16, dt tensor.DType) float32 { return half.Value(h, dt == tensor.BFloat16) }

// roundTo rounds every element to dt and back, as a 16-bit tensor holds it.
func roundTo(v []float32, dt tensor.DType) []float32 {
	out := make([]float32, len(v))
	for i, f := range v {
		out[i] = decode(encode(f, dt), dt)
	}
	return out
}

// bitsOf reads a 16-bit tensor's bits.
func bitsOf(t *testing.T, x *tensor.Tensor) []uint16 {
	t.Helper()
	b, err := x.Bits()
	require.NoError(t, err)
	return b
}

// halfSpecials are float32 values at the edges of the 16-bit formats:
// ties, the largest finite float16 and beyond, subnormals, zeros of both
// signs, infinities and NaN.
func halfSpecials() []float32 {
	return []float32{
		0, float32(math.Copysign(0, -1)), 1, -2.5, 1 + 1.0/2048, 1 + 3.0/4096, 65504, 65519, 65520, -1e6,
		5.960464477539063e-08, 2.9e-08, 3e-08, 6.1e-05, 1e-40, float32(math.Inf(1)), float32(math.Inf(-1)),
		float32(math.NaN()), math.Float32frombits(0x3f808000), math.Float32frombits(0x3f818000),
		math.Float32frombits(0x7f7fffff), 3.14159265, -1.0 / 3,
	}
}

// TestAsTypeHalf converts between every pair of types on every device and
// checks the bits against the host's rounding (ties to even, overflow to
// infinity, NaN kept).
func TestAsTypeHalf(t *testing.T) {
	src := halfSpecials()
	for _, dev := range devicetest.Devices(t) {
		for _, dt := range halfTypes {
			x := tensor.New(dev, src).AsType(dt)
			require.Equal(t, dt, x.DType())
			got := bitsOf(t, x)
			for i, f := range src {
				want := encode(f, dt)
				assert.Equal(t, want, got[i], "%s: %v to %v: %#04x, want %#04x", dev.Name(), f, dt, got[i], want)
			}
			back, err := x.AsType(tensor.Float32).Data()
			require.NoError(t, err)
			for i, h := range got {
				want := decode(h, dt)
				if math.IsNaN(float64(want)) {
					assert.True(t, math.IsNaN(float64(back[i])), "%s: %#04x to float32", dev.Name(), h)
					continue
				}
				assert.Equal(t, math.Float32bits(want), math.Float32bits(back[i]), "%s: %v %#04x to float32", dev.Name(), dt, h)
			}
			data, err := x.Data()
			require.NoError(t, err)
			assert.Equal(t, len(src), len(data))

			ints, err := tensor.New(dev, []float32{2.75, -2.75, 100, 0.4}).AsType(dt).AsType(tensor.Int32).Ints()
			require.NoError(t, err)
			assert.Equal(t, []int32{2, -2, 100, 0}, ints, "%s: %v to int32 truncates", dev.Name(), dt)
			fromInt := bitsOf(t, tensor.New(dev, []int32{3, -7, 70000, 257}).AsType(dt))
			for i, v := range []int32{3, -7, 70000, 257} {
				assert.Equal(t, encode(float32(v), dt), fromInt[i], "%s: int32 %d to %v", dev.Name(), v, dt)
			}
			other := tensor.Float16
			if dt == tensor.Float16 {
				other = tensor.BFloat16
			}
			cross := bitsOf(t, x.AsType(other))
			for i, h := range got {
				assert.Equal(t, encode(decode(h, dt), other), cross[i], "%s: %v %#04x to %v", dev.Name(), dt, h, other)
			}
		}
	}
}

// TestHalfEveryValue takes all 65,536 bit patterns of each 16-bit type
// through float32 and back on every device: every value but NaN returns
// unchanged, and a copy of the same type keeps even NaN payloads.
func TestHalfEveryValue(t *testing.T) {
	bits := make([]uint16, 1<<16)
	for i := range bits {
		bits[i] = uint16(i)
	}
	for _, dev := range devicetest.Devices(t) {
		for _, dt := range halfTypes {
			x := tensor.FromBits(dev, dt, bits)
			wide, err := x.AsType(tensor.Float32).Data()
			require.NoError(t, err)
			back := bitsOf(t, x.AsType(tensor.Float32).AsType(dt))
			bad := 0
			for i, h := range bits {
				want := decode(h, dt)
				nan := math.IsNaN(float64(want))
				if nan && !math.IsNaN(float64(wide[i])) || !nan && math.Float32bits(wide[i]) != math.Float32bits(want) || !nan && back[i] != h {
					if bad++; bad < 5 {
						t.Errorf("%s: %v %#04x: float32 %v (want %v), back %#04x", dev.Name(), dt, h, wide[i], want, back[i])
					}
				}
			}
			assert.Zero(t, bad, "%s: %v values that did not survive", dev.Name(), dt)
			assert.Equal(t, bits, bitsOf(t, x.Reshape(256, 256).T().Contiguous().T().Contiguous()), "%s: %v copies keep every bit", dev.Name(), dt)
		}
	}
}

// TestHalfViews: strided and offset views of 16-bit tensors read, copy
// and concatenate as their float32 counterparts, with odd lengths whose
// last word is half used.
func TestHalfViews(t *testing.T) {
	for _, dev := range devicetest.Devices(t) {
		for _, dt := range halfTypes {
			rng := tensor.NewRNG(3)
			a32 := tensor.Randn(dev, rng, 5, 7)
			b32 := tensor.Randn(dev, rng, 5, 3)
			a, b := a32.AsType(dt), b32.AsType(dt)
			for name, pair := range map[string][2]*tensor.Tensor{
				"transpose":   {a.T().Contiguous(), a32.T().Contiguous()},
				"narrow":      {a.Narrow(1, 3, 3), a32.Narrow(1, 3, 3)},
				"slice-step":  {a.Slice(1, 1, 7, 2), a32.Slice(1, 1, 7, 2)},
				"concat-1":    {tensor.Concat([]*tensor.Tensor{a, b}, 1), tensor.Concat([]*tensor.Tensor{a32, b32}, 1)},
				"concat-0":    {tensor.Concat([]*tensor.Tensor{a.Narrow(1, 0, 3), b}, 0), tensor.Concat([]*tensor.Tensor{a32.Narrow(1, 0, 3), b32}, 0)},
				"stack-odd":   {tensor.Stack([]*tensor.Tensor{b.Select(1, 0), b.Select(1, 2)}, 1), tensor.Stack([]*tensor.Tensor{b32.Select(1, 0), b32.Select(1, 2)}, 1)},
				"expand":      {b.Select(1, 1).Unsqueeze(0).Expand(3, 5).Contiguous(), b32.Select(1, 1).Unsqueeze(0).Expand(3, 5)},
				"to-cpu-back": {a.To(device.CPU()).To(dev), a32},
			} {
				got, want := pair[0], pair[1]
				assert.Equal(t, dt, got.DType(), "%s %v %s", dev.Name(), dt, name)
				g, err := got.Data()
				require.NoError(t, err, name)
				w, err := want.Data()
				require.NoError(t, err, name)
				assert.Equal(t, roundTo(w, dt), g, "%s %v %s", dev.Name(), dt, name)
			}
		}
	}
}

// TestHalfFill: Full, ZerosLike and Arange of 16-bit types, odd lengths
// included.
func TestHalfFill(t *testing.T) {
	for _, dev := range devicetest.Devices(t) {
		for _, dt := range halfTypes {
			for _, n := range []int{1, 2, 7} {
				x := tensor.FullOf(dev, dt, 1.0/3, n)
				want := make([]uint16, n)
				for i := range want {
					want[i] = encode(1.0/3, dt)
				}
				assert.Equal(t, want, bitsOf(t, x), "%s %v n=%d", dev.Name(), dt, n)
				assert.Equal(t, make([]uint16, n), bitsOf(t, tensor.ZerosLike(x)), "%s %v n=%d", dev.Name(), dt, n)
				r := tensor.Arange(dev, dt, 0, float64(n)/3, 1.0/3)
				require.Equal(t, dt, r.DType())
				got, err := r.Data()
				require.NoError(t, err)
				for i, v := range got {
					assert.Equal(t, decode(encode(float32(float64(i)/3), dt), dt), v, "%s %v Arange[%d]", dev.Name(), dt, i)
				}
			}
		}
	}
}

// TestHalfTypePromotion follows torch.result_type: two 16-bit operands of
// one type stay in it, different float types meet in float32, int32 takes
// the float type, a 0-d float operand does not widen a tensor, and
// comparisons give float32 masks.
func TestHalfTypePromotion(t *testing.T) {
	dev := device.CPU()
	h := tensor.New(dev, []float32{1, 2, 3}).AsType(tensor.Float16)
	bf := tensor.New(dev, []float32{1, 2, 3}).AsType(tensor.BFloat16)
	f := tensor.New(dev, []float32{1, 2, 3})
	i := tensor.New(dev, []int32{1, 2, 3})
	for _, c := range []struct {
		name string
		got  *tensor.Tensor
		want tensor.DType
	}{
		{"f16+f16", h.Add(h), tensor.Float16},
		{"f16+f32", h.Add(f), tensor.Float32},
		{"f16+bf16", h.Add(bf), tensor.Float32},
		{"f16+i32", h.Add(i), tensor.Float16},
		{"i32/bf16", i.Div(bf), tensor.BFloat16},
		{"f16*0-d f32", h.Mul(tensor.Scalar(dev, 2)), tensor.Float16},
		{"0-d f16*f32", tensor.Scalar(dev, 2).AsType(tensor.Float16).Mul(f), tensor.Float32},
		{"0-d f16*i32", tensor.Scalar(dev, 2).AsType(tensor.Float16).Mul(i), tensor.Float16},
		{"f16<f16", h.Lt(h), tensor.Float32},
		{"bf16>=2", bf.GeScalar(2), tensor.Float32},
		{"f16*2.5", h.MulScalar(2.5), tensor.Float16},
		{"exp", bf.Exp(), tensor.BFloat16},
		{"sum", h.Sum(), tensor.Float16},
		{"argmax", h.ArgMax(0), tensor.Int32},
		{"where", tensor.Where(f.GtScalar(1), h, h.Neg()), tensor.Float16},
		{"softmax", bf.Softmax(0), tensor.BFloat16},
		{"matmul", h.Unsqueeze(0).MatMul(h.Unsqueeze(1)), tensor.Float16},
	} {
		assert.Equal(t, c.want, c.got.DType(), c.name)
		require.NoError(t, c.got.Err(), c.name)
	}
	v, err := h.Mul(tensor.Scalar(dev, 2)).Data()
	require.NoError(t, err)
	assert.Equal(t, []float32{2, 4, 6}, v)

	err = tensor.Maybe(func() { h.MatMul(f.Unsqueeze(1)) })
	assert.ErrorContains(t, err, "MatMul: operands of one float type only, got float16 and float32")
	err = tensor.Maybe(func() {
		tensor.Conv2D(tensor.Zeros(dev, 1, 1, 3, 3).AsType(tensor.BFloat16), tensor.Zeros(dev, 1, 1, 1, 1), tensor.Conv2DOptions{})
	})
	assert.ErrorContains(t, err, "Conv2D: tensors of one float type only, got bfloat16 and float32")
	_, err = f.Bits()
	assert.ErrorContains(t, err, "Bits: a float32 tensor has no 16-bit floats")
	err = tensor.Maybe(func() { tensor.FromBits(dev, tensor.Float32, []uint16{1}) })
	assert.ErrorContains(t, err, "FromBits: float32 is not a 16-bit float type")
}

// halfTol is how far a 16-bit result may be from the float32 reference
// rounded to its type, beyond the case's own tolerance: a float32 result a
// few ULPs off (another device, another summation order) may round to the
// neighbouring 16-bit value, one ULP of 2^-11 (float16) or 2^-8 (bfloat16)
// relative, and results that cancel to near zero keep the error of their
// 16-bit terms.
var halfTol = map[tensor.DType]devicetest.Tol{
	tensor.Float16:  {Abs: 2e-3, Rel: 2e-3},
	tensor.BFloat16: {Abs: 1.6e-2, Rel: 1.6e-2},
}

// TestOpsHalf runs the op table in Float16 and BFloat16 on every device:
// each case's float operands are 16-bit, and its results must match the
// CPU's float32 results on the same (rounded) operands, rounded to the
// 16-bit type, within halfTol.
func TestOpsHalf(t *testing.T) {
	devs := devicetest.Devices(t)
	for i, c := range allCases() {
		seed := uint64(i + 1)
		t.Run(c.name, func(t *testing.T) {
			for _, dt := range halfTypes {
				rounded := func(x *tensor.Tensor) *tensor.Tensor { return x.AsType(dt).AsType(tensor.Float32) }
				var want [][]float32
				for _, r := range c.f(buildAs(t, device.CPU(), c, seed, rounded)) {
					v, err := r.Data()
					require.NoError(t, err)
					want = append(want, v)
				}
				tol := halfTol[dt]
				tol.Abs += c.tol.Abs
				tol.Rel += c.tol.Rel
				for _, dev := range devs {
					res := c.f(buildAs(t, dev, c, seed, func(x *tensor.Tensor) *tensor.Tensor { return x.AsType(dt) }))
					require.Len(t, res, len(want))
					for k, r := range res {
						got, err := r.Data()
						require.NoError(t, err, "%s %v result %d", dev.Name(), dt, k)
						w := want[k]
						if r.DType() == dt {
							w = roundTo(w, dt)
						}
						if msg := devicetest.Compare(got, w, tol); msg != "" {
							t.Errorf("%s %v, result %d (%v) of shape %v: %s", dev.Name(), dt, k, r.DType(), r.Shape(), msg)
						}
					}
				}
			}
		})
	}
}

// TestHalfMatMulNative: a device that takes 16-bit operands in MatMul
// (device.HalfKernels: the GPU both types, the CPU bfloat16 with
// AVX512-BF16) computes a 16-bit product in two primitives, the product
// and the rounding of its float32 result, without widening the operands
// first; the result is the same as through float32.
func TestHalfMatMulNative(t *testing.T) {
	for _, dev := range devicetest.Devices(t) {
		hk, ok := dev.(device.HalfKernels)
		for _, dt := range halfTypes {
			native := ok && hk.MatMulHalf(dt)
			x := tensor.Randn(dev, tensor.NewRNG(2), 40, 70).AsType(dt)
			y := tensor.Randn(dev, tensor.NewRNG(3), 70, 30).AsType(dt)
			require.NoError(t, dev.Sync())
			before := dev.Stats().Dispatches
			z := x.MatMul(y)
			require.NoError(t, z.Err())
			require.NoError(t, dev.Sync())
			want := 4 // two widenings, the product, the rounding
			if native {
				want = 2
			}
			assert.EqualValues(t, want, dev.Stats().Dispatches-before, "%s %v (native %v)", dev.Name(), dt, native)
			got, err := z.Data()
			require.NoError(t, err)
			ref, err := x.AsType(tensor.Float32).MatMul(y.AsType(tensor.Float32)).AsType(dt).Data()
			require.NoError(t, err)
			if msg := devicetest.Compare(got, ref, halfTol[dt]); msg != "" {
				t.Errorf("%s %v: %s", dev.Name(), dt, msg)
			}
		}
	}
}

// TestHalfResultTypes: the ops that compute 16-bit inputs in float32
// (natively or not) return the inputs' type, on every device.
func TestHalfResultTypes(t *testing.T) {
	for _, dev := range devicetest.Devices(t) {
		for _, dt := range halfTypes {
			rng := tensor.NewRNG(4)
			x := tensor.Randn(dev, rng, 2, 3, 6, 6).AsType(dt)
			w := tensor.Randn(dev, rng, 4, 3, 3, 3).AsType(dt)
			opt := tensor.Conv2DOptions{Padding: [2]int{1, 1}}
			y := tensor.Conv2D(x, w, opt)
			pool := tensor.Pool2DOptions{Kernel: [2]int{2, 2}}
			mp, _ := tensor.MaxPool2D(x, pool)
			idx := tensor.New(dev, []int32{1, 0})
			for name, r := range map[string]*tensor.Tensor{
				"Conv2D":           y,
				"Conv2DBias":       tensor.Conv2DFused(x, w, opt, tensor.ConvEpilogue{Bias: tensor.Ones(dev, 4).AsType(dt)}),
				"Conv2DInputGrad":  tensor.Conv2DInputGrad(y, w, x.Shape(), opt),
				"Conv2DWeightGrad": tensor.Conv2DWeightGrad(x, y, w.Shape(), opt),
				"MaxPool2D":        mp,
				"AvgPool2D":        tensor.AvgPool2D(x, pool),
				"MatMul":           x.Reshape(6, 36).MatMul(x.Reshape(36, 6)),
				"Softmax":          x.Softmax(-1),
				"Sum":              x.Sum(1),
				"IndexSelect":      x.IndexSelect(1, idx),
			} {
				assert.Equal(t, dt, r.DType(), "%s %v %s", dev.Name(), dt, name)
				require.NoError(t, r.Err(), name)
			}
		}
	}
}

// TestHalfLeavesFuse: on the GPU, with fusion on, a 16-bit tensor widened
// to float32 is read by the kernel that consumes it (a reduction's
// prologue here), and a float32 value rounded to 16 bits is stored so by
// the kernel that computes it: one dispatch each, no conversion of its
// own.
func TestHalfLeavesFuse(t *testing.T) {
	dev := devicetest.GPU(t)
	if os.Getenv("WGTENSOR_GPU_FUSION") == "0" {
		t.Skip("fusion is off")
	}
	for _, dt := range halfTypes {
		v := make([]float32, 1000)
		for i := range v {
			v[i] = float32(i%7) - 3
		}
		x := tensor.New(dev, v).AsType(dt)
		require.NoError(t, dev.Sync())
		before := dev.Stats().Dispatches
		s := x.AsType(tensor.Float32).Square().Sum()
		got, err := s.Item()
		require.NoError(t, err)
		assert.EqualValues(t, 1, dev.Stats().Dispatches-before, "%v: one kernel", dt)
		var want float32
		for _, f := range v {
			want += f * f
		}
		assert.Equal(t, want, got, "%v", dt)

		// And a float32 chain rounded to 16 bits stores them itself.
		f := tensor.New(dev, v)
		require.NoError(t, dev.Sync())
		before = dev.Stats().Dispatches
		h := f.MulScalar(1.0 / 3).Neg().AsType(dt) // no add: a fused multiply-add would round once less
		bits, err := h.Bits()
		require.NoError(t, err)
		assert.EqualValues(t, 1, dev.Stats().Dispatches-before, "%v: one kernel", dt)
		for i, x := range v {
			if w := encode(-(x * float32(1.0/3)), dt); bits[i] != w {
				t.Fatalf("%v: element %d: %#04x, want %#04x", dt, i, bits[i], w)
			}
		}
	}
}
