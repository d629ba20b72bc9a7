package data

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// encodeIDX returns the raw IDX encoding of values (converted to typ) with
// the given dimensions.
func encodeIDX(t testing.TB, typ byte, dims []int, values []float64) []byte {
	t.Helper()
	var b bytes.Buffer
	b.Write([]byte{0, 0, typ, byte(len(dims))})
	for _, d := range dims {
		require.NoError(t, binary.Write(&b, binary.BigEndian, uint32(d)))
	}
	for _, v := range values {
		var err error
		switch typ {
		case IDXUint8:
			err = b.WriteByte(uint8(v))
		case IDXInt8:
			err = b.WriteByte(byte(int8(v)))
		case IDXInt16:
			err = binary.Write(&b, binary.BigEndian, int16(v))
		case IDXInt32:
			err = binary.Write(&b, binary.BigEndian, int32(v))
		case IDXFloat32:
			err = binary.Write(&b, binary.BigEndian, float32(v))
		case IDXFloat64:
			err = binary.Write(&b, binary.BigEndian, v)
		default:
			t.Fatalf("encodeIDX: unknown type 0x%02X", typ)
		}
		require.NoError(t, err)
	}
	return b.Bytes()
}

// gzipBytes compresses b.
func gzipBytes(t testing.TB, b []byte) []byte {
	t.Helper()
	var out bytes.Buffer
	zw := gzip.NewWriter(&out)
	_, err := zw.Write(b)
	require.NoError(t, err)
	require.NoError(t, zw.Close())
	return out.Bytes()
}

// writeFile writes b to name in dir and returns its path.
func writeFile(t testing.TB, dir, name string, b []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	require.NoError(t, os.WriteFile(p, b, 0o644))
	return p
}

func TestIDXRoundTrip(t *testing.T) {
	cases := []struct {
		name   string
		typ    byte
		dims   []int
		values []float64
	}{
		{"uint8", IDXUint8, []int{2, 3}, []float64{0, 1, 2, 127, 128, 255}},
		{"int8", IDXInt8, []int{4}, []float64{-128, -1, 0, 127}},
		{"int16", IDXInt16, []int{2, 2}, []float64{-32768, -1, 300, 32767}},
		{"int32", IDXInt32, []int{3}, []float64{math.MinInt32, 0, math.MaxInt32}},
		{"float32", IDXFloat32, []int{1, 2, 2}, []float64{-1.5, 0, 0.25, 3e10}},
		{"float64", IDXFloat64, []int{2}, []float64{math.Pi, -1e300}},
		{"empty", IDXUint8, []int{0, 28, 28}, nil},
		{"eight dims", IDXInt8, []int{1, 1, 1, 1, 1, 1, 1, 2}, []float64{-3, 5}},
	}
	for _, c := range cases {
		raw := encodeIDX(t, c.typ, c.dims, c.values)
		for _, form := range []struct {
			name string
			data []byte
		}{{"raw", raw}, {"gzip", gzipBytes(t, raw)}} {
			t.Run(c.name+"/"+form.name, func(t *testing.T) {
				check := func(x *IDX) {
					assert.Equal(t, c.typ, x.Type)
					assert.Equal(t, c.dims, x.Dims)
					assert.Equal(t, raw[4+4*len(c.dims):], x.Data)
					require.Equal(t, len(c.values), x.Len())
					f64 := x.Float64s()
					f32 := x.Float32s()
					ints := x.Ints()
					for i, v := range c.values {
						want := v
						if c.typ == IDXFloat32 {
							want = float64(float32(v))
						}
						assert.Equal(t, want, x.At(i), "At(%d)", i)
						assert.Equal(t, want, f64[i], "Float64s()[%d]", i)
						assert.Equal(t, float32(want), f32[i], "Float32s()[%d]", i)
						assert.Equal(t, floatToInt(want), ints[i], "Ints()[%d]", i)
					}
				}
				x, err := ParseIDX(bytes.NewReader(form.data))
				require.NoError(t, err)
				check(x)
				// ReadIDX recognises gzip by content, not by name.
				x, err = ReadIDX(writeFile(t, t.TempDir(), "file.idx", form.data))
				require.NoError(t, err)
				check(x)
			})
		}
	}
}

func TestIDXGzipMembers(t *testing.T) {
	raw := encodeIDX(t, IDXInt16, []int{2, 2}, []float64{1, -2, 3, -4})
	// Three members that split the file in the middle of the header and of
	// an element, as concatenated .gz files do.
	var two []byte
	for _, part := range [][]byte{raw[:3], raw[3:15], raw[15:]} {
		two = append(two, gzipBytes(t, part)...)
	}
	x, err := ParseIDX(bytes.NewReader(two))
	require.NoError(t, err)
	assert.Equal(t, []int{2, 2}, x.Dims)
	assert.Equal(t, []float64{1, -2, 3, -4}, x.Float64s())
}

func TestIDXAccessorsClamp(t *testing.T) {
	x, err := ParseIDX(bytes.NewReader(encodeIDX(t, IDXFloat64, []int{5}, []float64{math.NaN(), math.Inf(1), math.Inf(-1), -2.7, 1e300})))
	require.NoError(t, err)
	assert.Equal(t, []int{0, math.MaxInt, math.MinInt, -2, math.MaxInt}, x.Ints())
	assert.Equal(t, 8, x.ElemSize())
	assert.Equal(t, "float64", IDXTypeName(x.Type))
	assert.Equal(t, "unknown type 0x07", IDXTypeName(7))
}

// header returns an IDX header with raw dimension words.
func header(typ byte, dims ...uint32) []byte {
	b := []byte{0, 0, typ, byte(len(dims))}
	for _, d := range dims {
		b = binary.BigEndian.AppendUint32(b, d)
	}
	return b
}

func TestIDXErrors(t *testing.T) {
	valid := encodeIDX(t, IDXUint8, []int{2, 3}, []float64{1, 2, 3, 4, 5, 6})
	validGz := gzipBytes(t, valid)
	badCRC := bytes.Clone(validGz)
	badCRC[len(badCRC)-6] ^= 0xff // CRC-32 in the gzip trailer
	cases := []struct {
		name  string
		input []byte
		want  string
	}{
		{"empty", nil, "truncated header: an IDX file starts with 4 bytes (2 zero bytes, the type, the number of dimensions), found 0"},
		{"short header", []byte{0, 0, 8}, "truncated header: an IDX file starts with 4 bytes (2 zero bytes, the type, the number of dimensions), found 3"},
		{"bad magic", append([]byte{0, 1}, valid[2:]...), "bad magic 0x0001: an IDX file starts with two zero bytes"},
		{"text", []byte("hello, world"), "bad magic 0x6865"},
		{"unknown type", header(0x07, 1), "unknown element type 0x07: expected 0x08 (uint8), 0x09 (int8), 0x0B (int16), 0x0C (int32), 0x0D (float32) or 0x0E (float64)"},
		{"zero dims", header(IDXUint8), "0 dimensions: expected 1 to 8"},
		{"nine dims", header(IDXUint8, 1, 1, 1, 1, 1, 1, 1, 1, 1), "9 dimensions: expected 1 to 8"},
		{"truncated dims", header(IDXUint8, 1, 2, 3)[:13], "truncated header: 3 dimensions need 12 bytes, found 9"},
		{"count overflow", header(IDXUint8, 0xffffffff, 0xffffffff, 0xffffffff), "dimensions [4294967295 4294967295 4294967295]: the element count overflows 64 bits"},
		{"too many elements", header(IDXUint8, 1<<16, 1<<15+1), "dimensions [65536 32769]: 2147549184 elements, more than the 2147483648 accepted"},
		{"too many bytes", header(IDXFloat64, 1<<28+1), "dimensions [268435457] of float64: 2147483656 bytes of data, more than the 2147483648 accepted (2 GiB)"},
		{"truncated data", valid[:len(valid)-2], "truncated: header promises 6 bytes of data, found 4"},
		{"promises 2 GiB", header(IDXUint8, 1<<31), "truncated: header promises 2147483648 bytes of data, found 0"},
		{"trailing bytes", append(bytes.Clone(valid), 9, 9, 9), "trailing data: 3 bytes after the 6 bytes of data the header promises"},
		{"gzip truncated data", gzipBytes(t, valid[:len(valid)-1]), "truncated: header promises 6 bytes of data, found 5"},
		{"gzip trailing bytes", gzipBytes(t, append(bytes.Clone(valid), 0)), "trailing data: 1 bytes after the 6 bytes of data the header promises"},
		{"gzip cut short", validGz[:len(validGz)-4], "corrupt gzip stream: it ends early after the 6 bytes of data"},
		{"gzip bad checksum", badCRC, "corrupt gzip stream: gzip: invalid checksum"},
		{"gzip garbage after", append(bytes.Clone(validGz), 1, 2, 3), "trailing data: 3 bytes after the gzip stream that are not another gzip stream"},
		{"gzip truncated then garbage", append(gzipBytes(t, valid[:13]), 7, 7), "truncated: header promises 6 bytes of data, found 1, then 2 bytes after the gzip stream that are not another gzip stream"},
		{"gzip bad second member", append(bytes.Clone(validGz), 0x1f, 0x8b, 0), "corrupt gzip stream: it ends early after the 6 bytes of data"},
		{"gzip header only", validGz[:5], "corrupt gzip stream: unexpected EOF"},
		{"gzip bad magic inside", gzipBytes(t, []byte{1, 0, 8, 1}), "bad magic 0x0100"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			x, err := ParseIDX(bytes.NewReader(c.input))
			require.Error(t, err)
			assert.Nil(t, x)
			assert.Equal(t, "data: IDX: "+c.want, err.Error()[:min(len(err.Error()), len("data: IDX: "+c.want))])

			p := writeFile(t, t.TempDir(), "t10k-images-idx3-ubyte.gz", c.input)
			_, err = ReadIDX(p)
			require.Error(t, err)
			assert.Contains(t, err.Error(), "data: "+p+": "+c.want)
		})
	}
	_, err := ReadIDX(filepath.Join(t.TempDir(), "missing.idx"))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "data: reading IDX file: open ")
	assert.Contains(t, err.Error(), "missing.idx: no such file or directory")
}

// TestIDXHostileMemory checks that a header promising the maximum does not
// allocate it: the data buffer grows with what is actually read.
func TestIDXHostileMemory(t *testing.T) {
	input := append(header(IDXUint8, 1<<31), make([]byte, 100)...)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for range 20 {
		_, err := ParseIDX(bytes.NewReader(input))
		require.Error(t, err)
	}
	runtime.ReadMemStats(&after)
	assert.Less(t, after.TotalAlloc-before.TotalAlloc, uint64(20<<20), "20 parses of a 108-byte hostile file allocated too much")
}

func FuzzParseIDX(f *testing.F) {
	valid := encodeIDX(f, IDXUint8, []int{2, 3}, []float64{1, 2, 3, 4, 5, 6})
	f.Add(valid)
	f.Add(gzipBytes(f, valid))
	f.Add(encodeIDX(f, IDXFloat32, []int{2, 1}, []float64{1.5, -2}))
	f.Add(gzipBytes(f, encodeIDX(f, IDXInt16, []int{1, 1, 3}, []float64{-1, 2, 300})))
	f.Add(encodeIDX(f, IDXFloat64, []int{1}, []float64{math.NaN()}))
	f.Add(encodeIDX(f, IDXInt32, []int{0}, nil))
	f.Add(valid[:len(valid)-1])              // truncated
	f.Add(append(bytes.Clone(valid), 0))     // trailing byte
	f.Add(header(0x07, 1))                   // unknown type
	f.Add(header(IDXUint8, 1<<31))           // promises 2 GiB
	f.Add(header(IDXFloat64, 0xffffffff, 2)) // too large
	f.Add(header(IDXUint8))                  // no dimensions
	f.Add([]byte{0x1f, 0x8b})                // gzip magic only
	f.Add(gzipBytes(f, valid)[:20])          // cut gzip stream
	f.Fuzz(func(t *testing.T, b []byte) {
		x, err := ParseIDX(bytes.NewReader(b))
		if err != nil {
			if x != nil {
				t.Fatalf("error %v with a result", err)
			}
			return
		}
		if len(x.Dims) < 1 || len(x.Dims) > MaxIDXDims {
			t.Fatalf("accepted %d dimensions", len(x.Dims))
		}
		if uint64(x.Len()) > MaxIDXElements || len(x.Data) != x.Len()*x.ElemSize() {
			t.Fatalf("dims %v of %s with %d data bytes", x.Dims, IDXTypeName(x.Type), len(x.Data))
		}
		_ = x.Float32s()
		_ = x.Ints()
		_ = x.Float64s()
		if len(b) >= 2 && b[0] == 0 {
			// A raw file must be exactly the re-encoded header and data.
			enc := header(x.Type)
			enc[3] = byte(len(x.Dims))
			for _, d := range x.Dims {
				enc = binary.BigEndian.AppendUint32(enc, uint32(d))
			}
			if !bytes.Equal(append(enc, x.Data...), b) {
				t.Fatalf("re-encoding differs from the input")
			}
		}
	})
}
