package tensor_test

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/wgtensor/wgtensor/device"
	"github.com/wgtensor/wgtensor/device/devicetest"
	"github.com/wgtensor/wgtensor/tensor"
)

func npyFile(name string) string { return filepath.Join("testdata", "npy", name+".npy") }

// TestReadNPY reads files NumPy wrote (testdata/npy/gen_npy.py).
func TestReadNPY(t *testing.T) {
	for _, dev := range devicetest.Devices(t) {
		for _, c := range []struct {
			name   string
			dt     tensor.DType
			shape  []int
			floats []float32
			ints   []int32
		}{
			{"f32_2x3", tensor.Float32, []int{2, 3}, []float32{0, 0.25, 0.5, 0.75, 1, 1.25}, nil},
			{"f64_3", tensor.Float32, []int{3}, []float32{1.5, -2.25, 1e-3}, nil},
			{"f16_4", tensor.Float16, []int{4}, []float32{1, -0.5, 65504, 5.960464477539063e-08}, nil},
			{"i64_2x2", tensor.Int32, []int{2, 2}, nil, []int32{1, -2, 1<<31 - 1, -1 << 31}},
			{"i32_3", tensor.Int32, []int{3}, nil, []int32{7, -7, 0}},
			{"u8_3", tensor.Int32, []int{3}, nil, []int32{0, 128, 255}},
			{"bool_3", tensor.Int32, []int{3}, nil, []int32{1, 0, 1}},
			{"scalar", tensor.Float32, nil, []float32{3.5}, nil},
			{"empty_0x4", tensor.Float32, []int{0, 4}, []float32{}, nil},
		} {
			x, err := tensor.ReadNPY(npyFile(c.name), dev)
			require.NoError(t, err, c.name)
			assert.Equal(t, c.dt, x.DType(), c.name)
			assert.Equal(t, len(c.shape), x.Dim(), c.name)
			if len(c.shape) > 0 {
				assert.Equal(t, c.shape, x.Shape(), c.name)
			}
			if c.dt.IsFloat() {
				assert.Equal(t, c.floats, data(t, x), c.name)
			} else {
				v, err := x.Ints()
				require.NoError(t, err)
				assert.Equal(t, c.ints, v, c.name)
			}
		}
	}
}

// TestReadNPYRefuses files it cannot represent, naming the file and why.
func TestReadNPYRefuses(t *testing.T) {
	dev := device.CPU()
	for name, want := range map[string]string{
		"i64_overflow": "element 1, 2147483648, does not fit in int32",
		"fortran":      "Fortran-order",
		"bigendian":    "big-endian",
		"complex":      "element type c8 is not supported",
		"missing":      "no such file",
	} {
		_, err := tensor.ReadNPY(npyFile(name), dev)
		require.Error(t, err, name)
		assert.Contains(t, err.Error(), want, name)
		if name != "missing" {
			assert.Contains(t, err.Error(), name+".npy", name)
		}
	}
	_, err := tensor.DecodeNPY(bytes.NewReader([]byte("not numpy at all")), dev)
	assert.ErrorContains(t, err, "not a .npy file")
}

// TestNPYRoundTrip: WriteNPY's files read back the same and are what NumPy
// writes byte for byte, header padding included.
func TestNPYRoundTrip(t *testing.T) {
	dir := t.TempDir()
	for _, dev := range devicetest.Devices(t) {
		for name, x := range map[string]*tensor.Tensor{
			"f32_2x3": tensor.New(dev, []float32{0, 0.25, 0.5, 0.75, 1, 1.25}, 2, 3),
			"i32_3":   tensor.New(dev, []int32{7, -7, 0}),
			"scalar":  tensor.Scalar(dev, 3.5),
		} {
			p := filepath.Join(dir, name+".npy")
			require.NoError(t, x.WriteNPY(p))
			got, err := os.ReadFile(p)
			require.NoError(t, err)
			want, err := os.ReadFile(npyFile(name))
			require.NoError(t, err)
			assert.Equal(t, want, got, "%s: the same bytes as NumPy's", name)
			back, err := tensor.ReadNPY(p, dev)
			require.NoError(t, err)
			assert.Equal(t, x.Shape(), back.Shape())
		}
	}
}

// FuzzDecodeNPY: no input makes the reader panic or claim more memory
// than the data holds.
func FuzzDecodeNPY(f *testing.F) {
	for _, name := range []string{"f32_2x3", "f16_4", "i64_2x2", "scalar", "fortran", "bool_3"} {
		b, err := os.ReadFile(npyFile(name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	dev := device.CPU()
	f.Fuzz(func(t *testing.T, b []byte) {
		x, err := tensor.DecodeNPY(bytes.NewReader(b), dev)
		if err == nil {
			require.NoError(t, x.Err())
		}
	})
}
