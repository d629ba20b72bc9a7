package safetensors

import (
	"github.com/wgtensor/wgtensor/internal/half"

	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// build assembles a file from a header (not padded) and a data section.
func build(header string, data ...byte) []byte {
	out := binary.LittleEndian.AppendUint64(nil, uint64(len(header)))
	out = append(out, header...)
	return append(out, data...)
}

func encode(t testing.TB, f *File) []byte {
	t.Helper()
	var buf bytes.Buffer
	require.NoError(t, Encode(&buf, f))
	return buf.Bytes()
}

// requireSameFile compares two Files, treating nil and empty slices alike.
func requireSameFile(t testing.TB, want, got *File) {
	t.Helper()
	require.Equal(t, want.Metadata == nil, got.Metadata == nil, "metadata presence")
	require.Equal(t, len(want.Metadata), len(got.Metadata), "metadata size")
	for k, v := range want.Metadata {
		g, ok := got.Metadata[k]
		require.True(t, ok, "metadata key %q missing", k)
		require.Equal(t, v, g, "metadata %q", k)
	}
	require.Equal(t, want.Names(), got.Names())
	for name, w := range want.Tensors {
		g := got.Tensors[name]
		require.Equal(t, w.DType, g.DType, "tensor %q dtype", name)
		require.True(t, slices.Equal(w.Shape, g.Shape), "tensor %q shape %v != %v", name, w.Shape, g.Shape)
		require.True(t, bytes.Equal(w.Data, g.Data), "tensor %q data", name)
	}
}

// referenceCheck independently applies the layout rules the reference
// implementation enforces on a file written by Encode, plus the properties
// of its writer: 8-aligned header starting with '{', tensors in sorted name
// order laid out back to back from 0 to the end of the file.
func referenceCheck(t testing.TB, b []byte) {
	t.Helper()
	require.GreaterOrEqual(t, len(b), 8)
	n := binary.LittleEndian.Uint64(b)
	require.LessOrEqual(t, n, uint64(len(b)-8))
	require.Zero(t, (8+n)%8, "8+N must be a multiple of 8")
	header := b[8 : 8+n]
	require.Equal(t, byte('{'), header[0])
	trimmed := bytes.TrimRight(header, " ")
	require.Equal(t, byte('}'), trimmed[len(trimmed)-1], "only spaces may pad the header")

	// Key order as written.
	dec := json.NewDecoder(bytes.NewReader(header))
	_, err := dec.Token()
	require.NoError(t, err)
	var keys []string
	dtypes := map[string]string{}
	var infos []struct {
		DType       string `json:"dtype"`
		Shape       []int  `json:"shape"`
		DataOffsets [2]int `json:"data_offsets"`
	}
	for dec.More() {
		tok, err := dec.Token()
		require.NoError(t, err)
		key := tok.(string)
		if key == "__metadata__" {
			require.Empty(t, keys, "__metadata__ comes first")
			var m map[string]string
			require.NoError(t, dec.Decode(&m))
			continue
		}
		keys = append(keys, key)
		var info struct {
			DType       string `json:"dtype"`
			Shape       []int  `json:"shape"`
			DataOffsets [2]int `json:"data_offsets"`
		}
		require.NoError(t, dec.Decode(&info))
		infos = append(infos, info)
		dtypes[key] = info.DType
	}
	require.True(t, slices.IsSortedFunc(keys, func(a, b string) int {
		sa, _ := DType(dtypes[a]).Size()
		sb, _ := DType(dtypes[b]).Size()
		if sa != sb {
			return sb - sa
		}
		return strings.Compare(a, b)
	}), "tensors ordered by element size, then name: %q", keys)
	pos := 0
	for i, info := range infos {
		require.Equal(t, pos, info.DataOffsets[0], "tensor %q begins where the previous ended", keys[i])
		size, ok := DType(info.DType).Size()
		require.True(t, ok)
		n := 1
		for _, d := range info.Shape {
			n *= d
		}
		require.Equal(t, n*size, info.DataOffsets[1]-info.DataOffsets[0], "tensor %q size", keys[i])
		pos = info.DataOffsets[1]
	}
	require.Equal(t, len(b)-8-int(n), pos, "tensors cover the data section")
}

func sampleFile() *File {
	return &File{
		Metadata: map[string]string{"format": "pt", "note": "quote \" backslash \\ newline \n tab \t cr \r bs \b ff \f ctl \x01\x1f del \x7f <&> ü \u2028"},
		Tensors: map[string]Tensor{
			"fc1.weight": FromFloat32([]int{2, 3}, []float32{1, -2.5, 3.25, float32(math.Inf(1)), 0, -0.125}),
			"fc1.bias":   FromFloat32([]int{3}, []float32{0.5, 1.5, 2.5}),
			"step":       FromInt64(nil, []int64{-42}),
			"labels":     FromInt32([]int{4}, []int32{1, -1, math.MaxInt32, math.MinInt32}),
			"empty":      FromFloat32([]int{0, 5}, nil),
			"empty2":     {DType: I16, Shape: []int{3, 0}, Data: []byte{}},
			"mask":       {DType: BOOL, Shape: []int{3}, Data: []byte{1, 0, 1}},
			"bytes":      {DType: U8, Shape: []int{1, 1, 3}, Data: []byte{0, 127, 255}},
			"i8":         {DType: I8, Shape: []int{2}, Data: []byte{0x80, 0x7f}},
			"half":       {DType: F16, Shape: []int{2}, Data: []byte{0x00, 0x3c, 0x00, 0xc1}},
			"brain":      {DType: BF16, Shape: []int{1}, Data: []byte{0x80, 0x3f}},
			"u16":        {DType: U16, Shape: []int{1}, Data: []byte{0xff, 0xff}},
			"u32":        {DType: U32, Shape: []int{1}, Data: []byte{1, 2, 3, 4}},
			"u64":        {DType: U64, Shape: []int{1}, Data: []byte{1, 2, 3, 4, 5, 6, 7, 8}},
			"f64":        {DType: F64, Shape: []int{}, Data: []byte{0, 0, 0, 0, 0, 0, 0xf0, 0x3f}},
			"名前/ü":       FromFloat32([]int{1}, []float32{7}),
			"":           FromInt32([]int{}, []int32{3}),
		},
	}
}

func TestRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		file *File
	}{
		{"empty file", &File{}},
		{"empty with metadata", &File{Metadata: map[string]string{"framework": "pt"}}},
		{"empty metadata kept", &File{Metadata: map[string]string{}, Tensors: map[string]Tensor{"a": FromInt32([]int{1}, []int32{1})}}},
		{"scalar only", &File{Tensors: map[string]Tensor{"s": FromFloat32(nil, []float32{3.5})}}},
		{"zero-element only", &File{Tensors: map[string]Tensor{"z": FromFloat32([]int{0}, nil)}}},
		{"many dtypes", sampleFile()},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := encode(t, tc.file)
			referenceCheck(t, b)
			got, err := Parse(b)
			require.NoError(t, err)
			requireSameFile(t, tc.file, got)

			// Deterministic, and canonical: re-encoding the parsed file gives
			// the same bytes.
			assert.Equal(t, b, encode(t, tc.file))
			assert.Equal(t, b, encode(t, got))
		})
	}
}

func TestEncodeDeterministicAcrossMapOrder(t *testing.T) {
	want := encode(t, sampleFile())
	for range 20 {
		f := sampleFile()
		// Rebuild the maps with a different insertion order.
		tensors := make(map[string]Tensor)
		names := f.Names()
		for i := len(names) - 1; i >= 0; i-- {
			tensors[names[i]] = f.Tensors[names[i]]
		}
		f.Tensors = tensors
		require.Equal(t, want, encode(t, f))
	}
}

func TestGolden(t *testing.T) {
	// Hand-built per the spec: 8-byte little-endian N = 208 = 0xd0, a 204-byte
	// JSON header with tensors ordered by element size and then name, padded
	// with 4 spaces, then step (I64 scalar: 7), bias (F32 [2]: 1.0, -2.5) and
	// empty (U8 [0 3]).
	golden := []byte{0xd0, 0, 0, 0, 0, 0, 0, 0}
	golden = append(golden, `{"__metadata__":{"format":"pt"},`+
		`"step":{"dtype":"I64","shape":[],"data_offsets":[0,8]},`+
		`"bias":{"dtype":"F32","shape":[2],"data_offsets":[8,16]},`+
		`"empty":{"dtype":"U8","shape":[0,3],"data_offsets":[16,16]}}`+
		`    `...)
	golden = append(golden,
		0x07, 0, 0, 0, 0, 0, 0, 0, // 7
		0x00, 0x00, 0x80, 0x3f, 0x00, 0x00, 0x20, 0xc0) // 1.0, -2.5
	require.Len(t, golden, 8+208+16)

	f, err := Parse(golden)
	require.NoError(t, err)
	assert.Equal(t, map[string]string{"format": "pt"}, f.Metadata)
	assert.Equal(t, []string{"bias", "empty", "step"}, f.Names())
	bias, err := f.Tensors["bias"].Float32s()
	require.NoError(t, err)
	assert.Equal(t, []float32{1, -2.5}, bias)
	assert.Equal(t, []int{2}, f.Tensors["bias"].Shape)
	assert.Equal(t, []int{0, 3}, f.Tensors["empty"].Shape)
	assert.Equal(t, 0, f.Tensors["empty"].Numel())
	assert.Empty(t, f.Tensors["empty"].Data)
	step, err := f.Tensors["step"].Int64s()
	require.NoError(t, err)
	assert.Equal(t, []int64{7}, step)
	assert.Equal(t, []int{}, f.Tensors["step"].Shape)
	assert.Equal(t, 1, f.Tensors["step"].Numel())

	// Encoding the same content reproduces the hand-built bytes exactly.
	same := &File{
		Metadata: map[string]string{"format": "pt"},
		Tensors: map[string]Tensor{
			"step":  FromInt64(nil, []int64{7}),
			"bias":  FromFloat32([]int{2}, []float32{1, -2.5}),
			"empty": {DType: U8, Shape: []int{0, 3}},
		},
	}
	out := encode(t, same)
	assert.Equal(t, golden, out)
	referenceCheck(t, out)
}

// The reference implementation's own serialization tests fix these bytes;
// for content without mixed dtypes Encode must produce exactly the same.
func TestEncodeMatchesReferenceWriter(t *testing.T) {
	tests := []struct {
		name   string
		file   *File
		header string
	}{
		{
			"one tensor, no padding needed",
			&File{Tensors: map[string]Tensor{"attn.0": FromFloat32([]int{1, 2, 3}, []float32{0, 1, 2, 3, 4, 5})}},
			`{"attn.0":{"dtype":"F32","shape":[1,2,3],"data_offsets":[0,24]}}`,
		},
		{
			"one tensor, padded",
			&File{Tensors: map[string]Tensor{"attn0": FromFloat32([]int{1, 1, 2, 3}, []float32{0, 1, 2, 3, 4, 5})}},
			`{"attn0":{"dtype":"F32","shape":[1,1,2,3],"data_offsets":[0,24]}}       `,
		},
		{"empty", &File{}, `{}      `},
		{"metadata only", &File{Metadata: map[string]string{"framework": "pt"}}, `{"__metadata__":{"framework":"pt"}}     `},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var data []byte
			for _, name := range tc.file.Names() {
				data = append(data, tc.file.Tensors[name].Data...)
			}
			assert.Equal(t, build(tc.header, data...), encode(t, tc.file))
		})
	}
}

func TestParseAccepts(t *testing.T) {
	f32 := []byte{0, 0, 0x80, 0x3f}
	tests := []struct {
		name   string
		file   []byte
		names  []string
		meta   map[string]string
		checks func(t *testing.T, f *File)
	}{
		{"empty object, no padding", build(`{}`), []string{}, nil, nil},
		{"whitespace around", build(" \n\t{ \"a\" : {\"dtype\":\"F32\",\"shape\":[ 1 ],\"data_offsets\":[0,4]} }\r\n  ", f32...), []string{"a"}, nil, nil},
		{"null metadata", build(`{"__metadata__":null}`), []string{}, nil, nil},
		{"empty metadata", build(`{"__metadata__":{}}`), []string{}, map[string]string{}, nil},
		{"metadata after tensors", build(`{"a":{"dtype":"F32","shape":[],"data_offsets":[0,4]},"__metadata__":{"k":"v"}}`, f32...), []string{"a"}, map[string]string{"k": "v"}, nil},
		{"keys in any order, offsets out of name order",
			build(`{"b":{"data_offsets":[0,4],"shape":[1],"dtype":"F32"},"a":{"shape":[2],"dtype":"U8","data_offsets":[4,6]}}`, 0, 0, 0x80, 0x3f, 9, 8),
			[]string{"a", "b"}, nil,
			func(t *testing.T, f *File) {
				assert.Equal(t, []byte{9, 8}, f.Tensors["a"].Data)
				assert.Equal(t, f32, f.Tensors["b"].Data)
			}},
		{"zero-element tensors at start, middle and end",
			build(`{"z0":{"dtype":"F32","shape":[0],"data_offsets":[0,0]},"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},`+
				`"z1":{"dtype":"I64","shape":[3,0,2],"data_offsets":[4,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]},`+
				`"z2":{"dtype":"U8","shape":[0],"data_offsets":[8,8]}}`, append(f32, f32...)...),
			[]string{"a", "b", "z0", "z1", "z2"}, nil, nil},
		{"zero-element tensors only", build(`{"z":{"dtype":"F32","shape":[0],"data_offsets":[0,0]}}`), []string{"z"}, nil, nil},
		{"huge dimension times zero", build(`{"z":{"dtype":"F64","shape":[9223372036854775807,0],"data_offsets":[0,0]}}`), []string{"z"}, nil, nil},
		{"escaped names", build(`{"a\u00fc\"\\\n":{"dtype":"U8","shape":[],"data_offsets":[0,1]}}`, 5), []string{"a\u00fc\"\\\n"}, nil, nil},
		{"empty name", build(`{"":{"dtype":"U8","shape":[],"data_offsets":[0,1]}}`, 5), []string{""}, nil, nil},
		{"-0 is zero", build(`{"a":{"dtype":"U8","shape":[-0],"data_offsets":[0,-0]}}`), []string{"a"}, nil, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f, err := Parse(tc.file)
			require.NoError(t, err)
			assert.Equal(t, tc.names, f.Names())
			assert.Equal(t, tc.meta, f.Metadata)
			for _, name := range f.Names() {
				assert.NoError(t, f.Tensors[name].check(name))
			}
			if tc.checks != nil {
				tc.checks(t, f)
			}
			// What Parse accepts, Encode writes in the reference's shape.
			b := encode(t, f)
			referenceCheck(t, b)
			g, err := Parse(b)
			require.NoError(t, err)
			requireSameFile(t, f, g)
		})
	}
}

func TestParseDataAliasesInput(t *testing.T) {
	b := build(`{"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]},"b":{"dtype":"U8","shape":[2],"data_offsets":[2,4]}}`, 1, 2, 3, 4)
	f, err := Parse(b)
	require.NoError(t, err)
	a := f.Tensors["a"].Data
	assert.Equal(t, 2, cap(a), "capacity is clipped to the tensor")
	_ = append(a, 99) // must not clobber b
	assert.Equal(t, []byte{3, 4}, f.Tensors["b"].Data)
	b[len(b)-1] = 42 // documented: tensors share the input
	assert.Equal(t, []byte{3, 42}, f.Tensors["b"].Data)
}

func TestParseRejects(t *testing.T) {
	longHeader := binary.LittleEndian.AppendUint64(nil, MaxHeaderSize+1)
	longHeader = append(longHeader, "{}"...)
	tests := []struct {
		name string
		file []byte
		kind error
		want []string // substrings of the message
	}{
		{"nil", nil, ErrTruncated, []string{"file is 0 bytes", "shorter than the 8-byte header length"}},
		{"seven bytes", []byte{2, 0, 0, 0, 0, 0, 0}, ErrTruncated, []string{"file is 7 bytes"}},
		{"header longer than file", append(binary.LittleEndian.AppendUint64(nil, 100), "{}"...), ErrTruncated, []string{"header length 100 exceeds the 2 bytes"}},
		{"header over limit", longHeader, ErrHeaderTooLarge, []string{"header length 104857601 exceeds the 104857600-byte limit"}},
		{"header length 2^64-1", binary.LittleEndian.AppendUint64(nil, math.MaxUint64), ErrHeaderTooLarge, []string{"header length 18446744073709551615"}},
		{"not UTF-8", build("{\"\xff\":1}"), ErrInvalidHeader, []string{"not valid UTF-8"}},
		{"empty header", build(""), ErrInvalidHeader, []string{"ends unexpectedly"}},
		{"not JSON", build("hello"), ErrInvalidHeader, []string{"not valid JSON", "invalid character 'h'"}},
		{"array", build("[]"), ErrInvalidHeader, []string{`header: expected "{", got an array`}},
		{"string", build(`"x"`), ErrInvalidHeader, []string{`expected "{", got string "x"`}},
		{"unterminated", build(`{"a":`), ErrInvalidHeader, []string{"ends unexpectedly"}},
		{"missing colon", build(`{"a" 1}`), ErrInvalidHeader, []string{"not valid JSON"}},
		{"trailing comma", build(`{"__metadata__":{},}`), ErrInvalidHeader, []string{"not valid JSON"}},
		{"second object", build(`{}{}`), ErrInvalidHeader, []string{"unexpected data (an object) after the header object"}},
		{"trailing number", build(`{} 1`), ErrInvalidHeader, []string{"unexpected data (number 1) after the header object"}},
		{"trailing NUL padding", build("{}\x00\x00"), ErrInvalidHeader, []string{"not valid JSON"}},
		{"duplicate tensor", build(`{"a":{"dtype":"U8","shape":[],"data_offsets":[0,1]},"a":{"dtype":"U8","shape":[],"data_offsets":[1,2]}}`, 1, 2),
			ErrInvalidHeader, []string{`duplicate key "a" in header`}},
		{"duplicate via escape", build(`{"a":{"dtype":"U8","shape":[],"data_offsets":[0,1]},"\u0061":{"dtype":"U8","shape":[],"data_offsets":[1,2]}}`, 1, 2),
			ErrInvalidHeader, []string{`duplicate key "a" in header`}},
		{"duplicate metadata", build(`{"__metadata__":{},"__metadata__":{}}`), ErrInvalidHeader, []string{`duplicate key "__metadata__" in header`}},
		{"duplicate metadata key", build(`{"__metadata__":{"k":"1","k":"2"}}`), ErrInvalidHeader, []string{`duplicate key "k" in "__metadata__"`}},
		{"metadata not an object", build(`{"__metadata__":["a"]}`), ErrInvalidHeader, []string{`"__metadata__" must be an object of strings, got an array`}},
		{"metadata number value", build(`{"__metadata__":{"epoch":3}}`), ErrInvalidHeader, []string{`"__metadata__": value of "epoch" must be a string, got number 3`}},
		{"metadata nested value", build(`{"__metadata__":{"cfg":{"a":"b"}}}`), ErrInvalidHeader, []string{`value of "cfg" must be a string, got an object`}},
		{"metadata null value", build(`{"__metadata__":{"k":null}}`), ErrInvalidHeader, []string{`value of "k" must be a string, got null`}},
		{"entry not an object", build(`{"fc1.weight":[1,2]}`), ErrInvalidTensor, []string{`tensor "fc1.weight": entry must be an object, got an array`}},
		{"entry null", build(`{"fc1.weight":null}`), ErrInvalidTensor, []string{`tensor "fc1.weight": entry must be an object, got null`}},
		{"unknown dtype", build(`{"fc1.weight":{"dtype":"F8_E4M3","shape":[1],"data_offsets":[0,1]}}`, 0), ErrInvalidTensor, []string{`tensor "fc1.weight": unknown dtype "F8_E4M3"`}},
		{"lower-case dtype", build(`{"w":{"dtype":"f32","shape":[1],"data_offsets":[0,4]}}`, 0, 0, 0, 0), ErrInvalidTensor, []string{`tensor "w": unknown dtype "f32"`}},
		{"dtype not a string", build(`{"w":{"dtype":4,"shape":[1],"data_offsets":[0,4]}}`, 0, 0, 0, 0), ErrInvalidTensor, []string{`tensor "w": dtype must be a string, got number 4`}},
		{"missing dtype", build(`{"w":{"shape":[1],"data_offsets":[0,4]}}`, 0, 0, 0, 0), ErrInvalidTensor, []string{`tensor "w": missing "dtype"`}},
		{"missing shape", build(`{"w":{"dtype":"F32","data_offsets":[0,4]}}`, 0, 0, 0, 0), ErrInvalidTensor, []string{`tensor "w": missing "shape"`}},
		{"missing data_offsets", build(`{"w":{"dtype":"F32","shape":[1]}}`, 0, 0, 0, 0), ErrInvalidTensor, []string{`tensor "w": missing "data_offsets"`}},
		{"duplicate key in entry", build(`{"w":{"dtype":"F32","dtype":"F32","shape":[1],"data_offsets":[0,4]}}`, 0, 0, 0, 0), ErrInvalidTensor, []string{`tensor "w": duplicate key "dtype"`}},
		{"duplicate shape in entry", build(`{"w":{"dtype":"F32","shape":[1],"shape":[1],"data_offsets":[0,4]}}`, 0, 0, 0, 0), ErrInvalidTensor, []string{`tensor "w": duplicate key "shape"`}},
		{"unknown key in entry", build(`{"w":{"dtype":"F32","shape":[1],"offsets":[0,4]}}`, 0, 0, 0, 0), ErrInvalidTensor, []string{`tensor "w": unknown key "offsets"`}},
		{"shape not an array", build(`{"w":{"dtype":"F32","shape":4,"data_offsets":[0,4]}}`, 0, 0, 0, 0), ErrInvalidTensor, []string{`tensor "w": shape must be an array of integers, got number 4`}},
		{"shape nested", build(`{"w":{"dtype":"F32","shape":[[1]],"data_offsets":[0,4]}}`, 0, 0, 0, 0), ErrInvalidTensor, []string{`tensor "w": shape must be an array of integers, got an array`}},
		{"shape string element", build(`{"w":{"dtype":"F32","shape":["1"],"data_offsets":[0,4]}}`, 0, 0, 0, 0), ErrInvalidTensor, []string{`got string "1"`}},
		{"negative dimension", build(`{"w":{"dtype":"F32","shape":[2,-1],"data_offsets":[0,0]}}`), ErrInvalidTensor, []string{`tensor "w": shape dimension -1 is negative`}},
		{"fractional dimension", build(`{"w":{"dtype":"F32","shape":[1.5],"data_offsets":[0,4]}}`, 0, 0, 0, 0), ErrInvalidTensor, []string{`tensor "w": shape dimension 1.5 is not an integer`}},
		{"exponent dimension", build(`{"w":{"dtype":"F32","shape":[1e0],"data_offsets":[0,4]}}`, 0, 0, 0, 0), ErrInvalidTensor, []string{`tensor "w": shape dimension 1e0 is not an integer`}},
		{"dimension out of range", build(`{"w":{"dtype":"F32","shape":[100000000000000000000],"data_offsets":[0,4]}}`, 0, 0, 0, 0), ErrInvalidTensor, []string{`tensor "w": shape dimension 100000000000000000000 is out of range`}},
		{"element count overflows", build(`{"w":{"dtype":"U8","shape":[4294967296,4294967296],"data_offsets":[0,0]}}`), ErrInvalidTensor, []string{`tensor "w": shape [4294967296 4294967296] of U8: size overflows`}},
		{"element count overflows before a zero", build(`{"w":{"dtype":"U8","shape":[4294967296,4294967296,0],"data_offsets":[0,0]}}`), ErrInvalidTensor, []string{`tensor "w": shape [4294967296 4294967296 0] of U8: size overflows`}},
		{"byte size overflows", build(`{"w":{"dtype":"I64","shape":[2305843009213693952],"data_offsets":[0,0]}}`), ErrInvalidTensor, []string{`tensor "w": shape [2305843009213693952] of I64: size overflows`}},
		{"shape larger than the data section", build(`{"w":{"dtype":"F32","shape":[1000000,1000000],"data_offsets":[0,4]}}`, 0, 0, 0, 0), ErrInvalidTensor, []string{`tensor "w": data_offsets [0 4] hold 4 bytes, shape [1000000 1000000] of F32 needs 4000000000000`}},
		{"offsets not an array", build(`{"w":{"dtype":"F32","shape":[1],"data_offsets":"0,4"}}`, 0, 0, 0, 0), ErrInvalidTensor, []string{`tensor "w": data_offsets must be an array of integers, got string "0,4"`}},
		{"one offset", build(`{"w":{"dtype":"F32","shape":[1],"data_offsets":[4]}}`, 0, 0, 0, 0), ErrInvalidTensor, []string{`tensor "w": data_offsets must hold 2 integers [begin, end], got 1`}},
		{"three offsets", build(`{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4,4]}}`, 0, 0, 0, 0), ErrInvalidTensor, []string{`got 3`}},
		{"negative offset", build(`{"w":{"dtype":"F32","shape":[1],"data_offsets":[-4,0]}}`, 0, 0, 0, 0), ErrInvalidTensor, []string{`tensor "w": data_offsets offset -4 is negative`}},
		{"begin after end", build(`{"w":{"dtype":"F32","shape":[1],"data_offsets":[4,0]}}`, 0, 0, 0, 0), ErrInvalidTensor, []string{`tensor "w": data_offsets [4 0]: begin is after end`}},
		{"end past data", build(`{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,8]}}`, 0, 0, 0, 0), ErrInvalidTensor, []string{`tensor "w": data_offsets [0 8] exceed the data section (4 bytes)`}},
		{"offsets out of range", build(`{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,18446744073709551620]}}`, 0, 0, 0, 0), ErrInvalidTensor, []string{`tensor "w": data_offsets offset 18446744073709551620 is out of range`}},
		{"size mismatch", build(`{"fc1.weight":{"dtype":"F32","shape":[2,3],"data_offsets":[0,20]}}`, make([]byte, 20)...), ErrInvalidTensor,
			[]string{`safetensors: tensor "fc1.weight": data_offsets [0 20] hold 20 bytes, shape [2 3] of F32 needs 24`}},
		{"zero-element with bytes", build(`{"z":{"dtype":"F32","shape":[0],"data_offsets":[0,4]}}`, 0, 0, 0, 0), ErrInvalidTensor, []string{`tensor "z": data_offsets [0 4] hold 4 bytes, shape [0] of F32 needs 0`}},
		{"overlap", build(`{"a":{"dtype":"U8","shape":[8],"data_offsets":[0,8]},"b":{"dtype":"U8","shape":[8],"data_offsets":[4,12]}}`, make([]byte, 12)...), ErrInvalidLayout,
			[]string{`tensors "a" data_offsets [0 8] and "b" data_offsets [4 12] overlap`}},
		{"same range twice", build(`{"a":{"dtype":"U8","shape":[4],"data_offsets":[0,4]},"b":{"dtype":"I32","shape":[],"data_offsets":[0,4]}}`, make([]byte, 4)...), ErrInvalidLayout,
			[]string{`tensors "a" data_offsets [0 4] and "b" data_offsets [0 4] overlap`}},
		{"zero-element inside another", build(`{"a":{"dtype":"U8","shape":[8],"data_offsets":[0,8]},"z":{"dtype":"U8","shape":[0],"data_offsets":[3,3]}}`, make([]byte, 8)...), ErrInvalidLayout,
			[]string{`tensors "a" data_offsets [0 8] and "z" data_offsets [3 3] overlap`}},
		{"hole between", build(`{"a":{"dtype":"U8","shape":[4],"data_offsets":[0,4]},"b":{"dtype":"U8","shape":[4],"data_offsets":[8,12]}}`, make([]byte, 12)...), ErrInvalidLayout,
			[]string{`data section bytes [4 8] between tensors "a" and "b" are not covered by any tensor`}},
		{"hole at start", build(`{"b":{"dtype":"U8","shape":[4],"data_offsets":[4,8]}}`, make([]byte, 8)...), ErrInvalidLayout,
			[]string{`data section bytes [0 4] before tensor "b" are not covered by any tensor`}},
		{"trailing bytes", build(`{"a":{"dtype":"U8","shape":[4],"data_offsets":[0,4]}}`, make([]byte, 6)...), ErrInvalidLayout,
			[]string{`data section bytes [4 6] after tensor "a" are not covered by any tensor`}},
		{"trailing bytes after zero-element", build(`{"a":{"dtype":"U8","shape":[4],"data_offsets":[0,4]},"z":{"dtype":"U8","shape":[0],"data_offsets":[4,4]}}`, make([]byte, 6)...), ErrInvalidLayout,
			[]string{`data section bytes [4 6] after tensor "a"`}},
		{"data without tensors", build(`{"__metadata__":{}}`, 1, 2, 3), ErrInvalidLayout, []string{`data section has 3 bytes but the header lists no tensors`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f, err := Parse(tc.file)
			require.Error(t, err)
			assert.Nil(t, f)
			assert.ErrorIs(t, err, tc.kind)
			msg := err.Error()
			assert.True(t, strings.HasPrefix(msg, "safetensors: "), msg)
			assert.Equal(t, 1, strings.Count(msg, "safetensors:"), msg)
			for _, w := range tc.want {
				assert.Contains(t, msg, w)
			}
		})
	}
}

func TestParseLargeHeaderWithinLimit(t *testing.T) {
	// A header of exactly MaxHeaderSize bytes (mostly padding) is accepted.
	header := `{}` + strings.Repeat(" ", MaxHeaderSize-2)
	f, err := Parse(build(header))
	require.NoError(t, err)
	assert.Empty(t, f.Tensors)
}

func TestReadFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "model.safetensors")
	want := sampleFile()
	require.NoError(t, os.WriteFile(path, encode(t, want), 0o644))
	got, err := ReadFile(path)
	require.NoError(t, err)
	requireSameFile(t, want, got)

	missing := filepath.Join(dir, "missing.safetensors")
	_, err = ReadFile(missing)
	require.Error(t, err)
	assert.ErrorIs(t, err, fs.ErrNotExist)
	assert.Equal(t, "safetensors: "+missing+": open: no such file or directory", err.Error())

	bad := filepath.Join(dir, "bad.safetensors")
	require.NoError(t, os.WriteFile(bad, build(`{"fc1.weight":{"dtype":"F32","shape":[2,3],"data_offsets":[0,20]}}`, make([]byte, 20)...), 0o644))
	_, err = ReadFile(bad)
	require.Error(t, err)
	assert.ErrorIs(t, err, ErrInvalidTensor)
	assert.Equal(t, "safetensors: "+bad+`: tensor "fc1.weight": data_offsets [0 20] hold 20 bytes, shape [2 3] of F32 needs 24`, err.Error())

	short := filepath.Join(dir, "short.safetensors")
	require.NoError(t, os.WriteFile(short, []byte{1, 2}, 0o644))
	_, err = ReadFile(short)
	assert.ErrorIs(t, err, ErrTruncated)
	assert.Contains(t, err.Error(), short+": file is 2 bytes")
}

func TestEncodeRejects(t *testing.T) {
	tests := []struct {
		name string
		file *File
		kind error
		want string
	}{
		{"nil file", nil, nil, "nil *File"},
		{"reserved name", &File{Tensors: map[string]Tensor{"__metadata__": FromInt32(nil, []int32{1})}}, ErrInvalidTensor, `tensor name "__metadata__" is reserved`},
		{"invalid UTF-8 name", &File{Tensors: map[string]Tensor{"a\xff": FromInt32(nil, []int32{1})}}, ErrInvalidTensor, `tensor name "a\xff" is not valid UTF-8`},
		{"unknown dtype", &File{Tensors: map[string]Tensor{"w": {DType: "F8", Shape: []int{1}, Data: []byte{0}}}}, ErrInvalidTensor, `tensor "w": unknown dtype "F8"`},
		{"empty dtype", &File{Tensors: map[string]Tensor{"w": {Shape: []int{1}, Data: []byte{0}}}}, ErrInvalidTensor, `tensor "w": unknown dtype ""`},
		{"negative dimension", &File{Tensors: map[string]Tensor{"w": {DType: U8, Shape: []int{-1}}}}, ErrInvalidTensor, `tensor "w": shape [-1] is invalid`},
		{"overflowing shape", &File{Tensors: map[string]Tensor{"w": {DType: F64, Shape: []int{math.MaxInt / 4}}}}, ErrInvalidTensor, `tensor "w": shape [2305843009213693951] is invalid`},
		{"short data", &File{Tensors: map[string]Tensor{"fc1.weight": {DType: F32, Shape: []int{2, 3}, Data: make([]byte, 20)}}}, ErrInvalidTensor,
			`safetensors: tensor "fc1.weight": data holds 20 bytes, shape [2 3] of F32 needs 24`},
		{"invalid UTF-8 metadata", &File{Metadata: map[string]string{"k": "\xfe"}}, ErrInvalidHeader, `metadata entry "k"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			err := Encode(&buf, tc.file)
			require.Error(t, err)
			if tc.kind != nil {
				assert.ErrorIs(t, err, tc.kind)
			}
			assert.Contains(t, err.Error(), tc.want)
			assert.Zero(t, buf.Len(), "nothing is written for an invalid file")
		})
	}
}

func TestEncodeWriteErrors(t *testing.T) {
	hdr := len(encode(t, bigFile())) - 2_800_000 - 16 // length field and JSON
	for _, tc := range []struct {
		limit int
		want  string
	}{
		{0, "safetensors: writing header: disk full (injected)"},
		{hdr - 1, "safetensors: writing header: disk full (injected)"},
		{hdr + 10, `safetensors: writing tensor "b.small": disk full (injected)`},
		{hdr + 100, `safetensors: writing tensor "a.big": disk full (injected)`},
	} {
		err := Encode(&failingWriter{w: io.Discard, limit: tc.limit}, bigFile())
		require.Error(t, err)
		assert.ErrorIs(t, err, errDiskFull)
		assert.Equal(t, tc.want, err.Error())
	}
}

// failingWriter passes through limit bytes, then fails.
type failingWriter struct {
	w     io.Writer
	limit int
}

var errDiskFull = errors.New("disk full (injected)")

func (fw *failingWriter) Write(p []byte) (int, error) {
	if len(p) <= fw.limit {
		fw.limit -= len(p)
		return fw.w.Write(p)
	}
	n, _ := fw.w.Write(p[:fw.limit])
	fw.limit = 0
	return n, errDiskFull
}

func dirEntries(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

func bigFile() *File {
	v := make([]float32, 700_000) // 2.8 MB: several buffer flushes
	for i := range v {
		v[i] = float32(i)
	}
	return &File{Tensors: map[string]Tensor{
		"a.big":   FromFloat32([]int{700, 1000}, v),
		"b.small": FromInt64([]int{2}, []int64{1, 2}),
	}}
}

func TestWriteFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "model.safetensors")

	// New file.
	first := sampleFile()
	require.NoError(t, WriteFile(path, first))
	got, err := ReadFile(path)
	require.NoError(t, err)
	requireSameFile(t, first, got)
	fi, err := os.Stat(path)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o644), fi.Mode().Perm())
	assert.Equal(t, []string{"model.safetensors"}, dirEntries(t, dir))
	onDisk, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, encode(t, first), onDisk, "WriteFile writes what Encode writes")

	// Replacing keeps the permission bits and leaves no temp files.
	require.NoError(t, os.Chmod(path, 0o600))
	second := bigFile()
	require.NoError(t, WriteFile(path, second))
	got, err = ReadFile(path)
	require.NoError(t, err)
	requireSameFile(t, second, got)
	fi, err = os.Stat(path)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
	assert.Equal(t, []string{"model.safetensors"}, dirEntries(t, dir))

	// Relative path in the current directory.
	t.Chdir(dir)
	require.NoError(t, WriteFile("rel.safetensors", first))
	_, err = ReadFile("rel.safetensors")
	require.NoError(t, err)
}

func TestWriteFileFailureLeavesOldFile(t *testing.T) {
	tests := []struct {
		name  string
		setup func(t *testing.T)
		file  *File
		want  string
	}{
		{
			name: "write fails after the header",
			setup: func(t *testing.T) {
				wrapTempWriter = func(w io.Writer) io.Writer { return &failingWriter{w: w, limit: 100} }
			},
			file: bigFile(),
			want: "disk full (injected)",
		},
		{
			name: "write fails midway through the data",
			setup: func(t *testing.T) {
				wrapTempWriter = func(w io.Writer) io.Writer { return &failingWriter{w: w, limit: 1_500_000} }
			},
			file: bigFile(),
			want: "disk full (injected)",
		},
		{
			name: "write fails at the final flush",
			setup: func(t *testing.T) {
				wrapTempWriter = func(w io.Writer) io.Writer { return &failingWriter{w: w, limit: 50} }
			},
			file: sampleFile(),
			want: "writing: disk full (injected)",
		},
		{
			name: "temp file cannot be created",
			setup: func(t *testing.T) {
				createTemp = func(string, string) (*os.File, error) { return nil, errDiskFull }
			},
			file: sampleFile(),
			want: "creating temporary file: disk full (injected)",
		},
		{
			name:  "invalid file",
			setup: func(t *testing.T) {},
			file:  &File{Tensors: map[string]Tensor{"w": {DType: F32, Shape: []int{2}, Data: []byte{1}}}},
			want:  `tensor "w": data holds 1 bytes, shape [2] of F32 needs 8`,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			origCreate, origWrap := createTemp, wrapTempWriter
			t.Cleanup(func() { createTemp, wrapTempWriter = origCreate, origWrap })

			dir := t.TempDir()
			path := filepath.Join(dir, "model.safetensors")
			require.NoError(t, WriteFile(path, sampleFile()))
			before, err := os.ReadFile(path)
			require.NoError(t, err)

			var created []string
			tc.setup(t)
			inner := createTemp
			createTemp = func(dir, pattern string) (*os.File, error) {
				f, err := inner(dir, pattern)
				if err == nil {
					created = append(created, f.Name())
				}
				return f, err
			}

			err = WriteFile(path, tc.file)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
			assert.True(t, strings.HasPrefix(err.Error(), "safetensors: "+path+": "), err.Error())
			if strings.Contains(tc.want, "injected") {
				assert.ErrorIs(t, err, errDiskFull)
			}

			after, err := os.ReadFile(path)
			require.NoError(t, err)
			assert.True(t, bytes.Equal(before, after), "the old file is byte-identical")
			assert.Equal(t, []string{"model.safetensors"}, dirEntries(t, dir), "no temp files left")
			for _, name := range created {
				assert.Equal(t, dir, filepath.Dir(name), "temp file in the target's directory")
			}
		})
	}
}

func TestWriteFileRenameFails(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "model.safetensors")
	// A non-empty directory at path cannot be replaced by a rename.
	require.NoError(t, os.MkdirAll(filepath.Join(path, "keep"), 0o755))
	err := WriteFile(path, sampleFile())
	require.Error(t, err)
	assert.True(t, strings.HasPrefix(err.Error(), "safetensors: "+path+": "), err.Error())
	assert.Equal(t, []string{"model.safetensors"}, dirEntries(t, dir), "no temp files left")
	assert.Equal(t, []string{"keep"}, dirEntries(t, path))

	// A missing directory fails before anything is created.
	err = WriteFile(filepath.Join(dir, "nope", "m.safetensors"), sampleFile())
	require.Error(t, err)
	assert.ErrorIs(t, err, fs.ErrNotExist)
}

func TestDTypeSize(t *testing.T) {
	want := map[DType]int{BOOL: 1, U8: 1, I8: 1, I16: 2, U16: 2, F16: 2, BF16: 2, I32: 4, U32: 4, F32: 4, F64: 8, I64: 8, U64: 8}
	for d, size := range want {
		got, ok := d.Size()
		assert.True(t, ok, d)
		assert.Equal(t, size, got, d)
	}
	for _, d := range []DType{"", "f32", "F8_E4M3", "C64", "F32 "} {
		_, ok := d.Size()
		assert.False(t, ok, d)
	}
}

func TestConstructorsAndNumel(t *testing.T) {
	shape := []int{2, 2}
	x := FromFloat32(shape, []float32{1, 2, 3, 4})
	shape[0] = 9
	assert.Equal(t, []int{2, 2}, x.Shape, "shape is copied")
	assert.Equal(t, F32, x.DType)
	assert.Equal(t, 4, x.Numel())
	assert.Equal(t, []byte{0, 0, 0x80, 0x3f}, x.Data[:4])

	s := FromInt64(nil, []int64{-1})
	assert.Equal(t, []int{}, s.Shape)
	assert.Equal(t, 1, s.Numel())
	assert.Equal(t, bytes.Repeat([]byte{0xff}, 8), s.Data)

	i := FromInt32([]int{3}, []int32{1, -2, 3})
	assert.Equal(t, []byte{1, 0, 0, 0, 0xfe, 0xff, 0xff, 0xff, 3, 0, 0, 0}, i.Data)

	assert.Equal(t, 0, Tensor{Shape: []int{5, 0, 7}}.Numel())
	assert.Equal(t, -1, Tensor{Shape: []int{-1}}.Numel())
	assert.Equal(t, -1, Tensor{Shape: []int{math.MaxInt, 2}}.Numel())

	assert.PanicsWithValue(t, "safetensors.FromFloat32: shape [2 3] holds 6 elements, got 5 values", func() {
		FromFloat32([]int{2, 3}, make([]float32, 5))
	})
	assert.Panics(t, func() { FromInt32([]int{-1}, nil) })
	assert.Panics(t, func() { FromInt64([]int{2}, []int64{1}) })
}

func TestNames(t *testing.T) {
	var nilFile *File
	assert.Nil(t, nilFile.Names())
	assert.Equal(t, []string{}, (&File{}).Names())
	f := &File{Tensors: map[string]Tensor{"b": {}, "a.2": {}, "a.10": {}, "B": {}}}
	assert.Equal(t, []string{"B", "a.10", "a.2", "b"}, f.Names())
}

func le16(vs ...uint16) []byte {
	var b []byte
	for _, v := range vs {
		b = binary.LittleEndian.AppendUint16(b, v)
	}
	return b
}

func TestFloat32s(t *testing.T) {
	f64 := func(vs ...float64) []byte {
		var b []byte
		for _, v := range vs {
			b = binary.LittleEndian.AppendUint64(b, math.Float64bits(v))
		}
		return b
	}
	inf := float32(math.Inf(1))
	tests := []struct {
		name string
		t    Tensor
		want []float32
	}{
		{"F32", FromFloat32([]int{3}, []float32{1, -2.5, 65504}), []float32{1, -2.5, 65504}},
		{"F16 normals", Tensor{DType: F16, Shape: []int{5}, Data: le16(0x3c00, 0xc100, 0x7bff, 0x3555, 0x0400)},
			[]float32{1, -2.5, 65504, 0.333251953125, 1.0 / 16384}},
		{"F16 subnormals", Tensor{DType: F16, Shape: []int{4}, Data: le16(0x0001, 0x8001, 0x03ff, 0x0200)},
			[]float32{1.0 / (1 << 24), -1.0 / (1 << 24), 1023.0 / (1 << 24), 0.5 / (1 << 14)}},
		{"F16 zeros and infinities", Tensor{DType: F16, Shape: []int{4}, Data: le16(0x0000, 0x8000, 0x7c00, 0xfc00)},
			[]float32{0, float32(math.Copysign(0, -1)), inf, -inf}},
		{"BF16", Tensor{DType: BF16, Shape: []int{6}, Data: le16(0x3f80, 0xc020, 0x4780, 0x7f80, 0x0001, 0x8000)},
			[]float32{1, -2.5, 65536, inf, math.Float32frombits(0x00010000), float32(math.Copysign(0, -1))}},
		{"F64 rounds", Tensor{DType: F64, Shape: []int{2, 2}, Data: f64(1, -2.5, 0.1, 1e300)},
			[]float32{1, -2.5, float32(0.1), inf}},
		{"F32 scalar", FromFloat32(nil, []float32{7}), []float32{7}},
		{"empty", Tensor{DType: F16, Shape: []int{0}}, []float32{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.t.Float32s()
			require.NoError(t, err)
			require.Len(t, got, len(tc.want))
			for i := range got {
				// Compare bits so that -0 and +0 differ.
				assert.Equal(t, math.Float32bits(tc.want[i]), math.Float32bits(got[i]), "element %d: want %g got %g", i, tc.want[i], got[i])
			}
		})
	}

	nan, err := Tensor{DType: F16, Shape: []int{2}, Data: le16(0x7e00, 0xfc01)}.Float32s()
	require.NoError(t, err)
	assert.True(t, math.IsNaN(float64(nan[0])))
	assert.True(t, math.IsNaN(float64(nan[1])))

	// Every finite F16 value widens exactly: compare with a slow reference.
	for h := range 1 << 16 {
		exp := h >> 10 & 0x1f
		if exp == 0x1f {
			continue
		}
		mant := float64(h & 0x3ff)
		var want float64
		if exp == 0 {
			want = math.Ldexp(mant, -24)
		} else {
			want = math.Ldexp(1+mant/1024, exp-15)
		}
		if h>>15 == 1 {
			want = math.Copysign(want, -1)
		}
		if got := half.ToFloat32(uint16(h)); math.Float32bits(got) != math.Float32bits(float32(want)) {
			t.Fatalf("F16 0x%04x: got %g, want %g", h, got, want)
		}
	}
}

func TestInt64s(t *testing.T) {
	tests := []struct {
		name string
		t    Tensor
		want []int64
	}{
		{"I64", FromInt64([]int{3}, []int64{math.MinInt64, -1, math.MaxInt64}), []int64{math.MinInt64, -1, math.MaxInt64}},
		{"I32", FromInt32([]int{3}, []int32{math.MinInt32, -1, math.MaxInt32}), []int64{math.MinInt32, -1, math.MaxInt32}},
		{"I16", Tensor{DType: I16, Shape: []int{3}, Data: le16(0x8000, 0xffff, 0x7fff)}, []int64{-32768, -1, 32767}},
		{"U16", Tensor{DType: U16, Shape: []int{2}, Data: le16(0xffff, 1)}, []int64{65535, 1}},
		{"I8", Tensor{DType: I8, Shape: []int{3}, Data: []byte{0x80, 0xff, 0x7f}}, []int64{-128, -1, 127}},
		{"U8", Tensor{DType: U8, Shape: []int{2}, Data: []byte{0xff, 0}}, []int64{255, 0}},
		{"U32", Tensor{DType: U32, Shape: []int{1}, Data: []byte{0xff, 0xff, 0xff, 0xff}}, []int64{math.MaxUint32}},
		{"U64 in range", Tensor{DType: U64, Shape: []int{1}, Data: binary.LittleEndian.AppendUint64(nil, math.MaxInt64)}, []int64{math.MaxInt64}},
		{"BOOL", Tensor{DType: BOOL, Shape: []int{3}, Data: []byte{1, 0, 1}}, []int64{1, 0, 1}},
		{"scalar", FromInt32(nil, []int32{5}), []int64{5}},
		{"empty", Tensor{DType: I32, Shape: []int{2, 0}}, []int64{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.t.Int64s()
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
		})
	}
}

func TestConversionErrors(t *testing.T) {
	tests := []struct {
		name  string
		conv  func() error
		kind  error
		wants string
	}{
		{"U64 above MaxInt64", func() error {
			_, err := Tensor{DType: U64, Shape: []int{2}, Data: binary.LittleEndian.AppendUint64(make([]byte, 8), math.MaxInt64+1)}.Int64s()
			return err
		}, ErrOutOfRange, "element 1: U64 value 9223372036854775808 overflows int64"},
		{"BOOL not 0/1", func() error {
			_, err := Tensor{DType: BOOL, Shape: []int{3}, Data: []byte{0, 1, 2}}.Int64s()
			return err
		}, ErrOutOfRange, "element 2: BOOL byte 0x02 is neither 0 nor 1"},
		{"F32 to int", func() error { _, err := FromFloat32(nil, []float32{1}).Int64s(); return err }, ErrUnsupportedDType, "cannot convert F32 tensor to int64"},
		{"BF16 to int", func() error { _, err := Tensor{DType: BF16, Shape: []int{}, Data: []byte{0, 0}}.Int64s(); return err }, ErrUnsupportedDType, "cannot convert BF16 tensor to int64"},
		{"I64 to float", func() error { _, err := FromInt64(nil, []int64{1}).Float32s(); return err }, ErrUnsupportedDType, "cannot convert I64 tensor to float32"},
		{"BOOL to float", func() error { _, err := Tensor{DType: BOOL, Shape: []int{}, Data: []byte{1}}.Float32s(); return err }, ErrUnsupportedDType, "cannot convert BOOL tensor to float32"},
		{"unknown dtype", func() error { _, err := Tensor{DType: "C64"}.Float32s(); return err }, ErrUnsupportedDType, "cannot convert C64 tensor"},
		{"short data", func() error {
			_, err := Tensor{DType: F32, Shape: []int{2}, Data: make([]byte, 7)}.Float32s()
			return err
		}, ErrInvalidTensor, "data holds 7 bytes, shape [2] of F32 needs 8"},
		{"bad shape", func() error { _, err := Tensor{DType: I32, Shape: []int{-2}}.Int64s(); return err }, ErrInvalidTensor, "shape [-2] is invalid"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.conv()
			require.Error(t, err)
			assert.ErrorIs(t, err, tc.kind)
			assert.Contains(t, err.Error(), tc.wants)
		})
	}
}

func FuzzParse(f *testing.F) {
	for _, file := range []*File{
		{},
		{Metadata: map[string]string{"format": "pt"}},
		sampleFile(),
		{Tensors: map[string]Tensor{"a": FromFloat32([]int{2}, []float32{1, 2}), "z": FromInt32([]int{0}, nil)}},
	} {
		f.Add(encode(f, file))
	}
	f.Add(build(`{}`))
	f.Add(build(`{"__metadata__":null}`))
	f.Add(build(` {"b":{"data_offsets":[0,4],"shape":[1],"dtype":"F32"},"a":{"shape":[2],"dtype":"U8","data_offsets":[4,6]}} `, 0, 0, 0x80, 0x3f, 9, 8))
	f.Add(build(`{"z":{"dtype":"F64","shape":[9223372036854775807,0],"data_offsets":[0,0]}}`))
	// Broken ones.
	f.Add([]byte{})
	f.Add([]byte{8, 0, 0, 0, 0, 0, 0})
	f.Add(build(`{"a":{"dtype":"U8","shape":[8],"data_offsets":[0,8]},"b":{"dtype":"U8","shape":[8],"data_offsets":[4,12]}}`, make([]byte, 12)...))
	f.Add(build(`{"fc1.weight":{"dtype":"F32","shape":[2,3],"data_offsets":[0,20]}}`, make([]byte, 20)...))
	f.Add(build(`{"w":{"dtype":"U8","shape":[4294967296,4294967296],"data_offsets":[0,0]}}`))
	f.Add(build(`{"a":1,"a":2}`))
	f.Add(build(`{"__metadata__":{"k":3}}`))
	f.Add(binary.LittleEndian.AppendUint64(nil, math.MaxUint64))

	f.Fuzz(func(t *testing.T, data []byte) {
		file, err := Parse(data)
		if err != nil {
			require.Nil(t, file)
			require.True(t, strings.HasPrefix(err.Error(), "safetensors: "), err.Error())
			return
		}
		n := 0
		for _, name := range file.Names() {
			tensor := file.Tensors[name]
			require.NoError(t, tensor.check(name))
			n += len(tensor.Data)
		}
		require.Equal(t, len(data)-8-int(binary.LittleEndian.Uint64(data)), n, "tensors cover the data section")

		var buf bytes.Buffer
		if err := Encode(&buf, file); err != nil {
			require.ErrorIs(t, err, ErrHeaderTooLarge) // re-numbered offsets may lengthen a maximal header
			return
		}
		encoded := buf.Bytes()
		again, err := Parse(encoded)
		require.NoError(t, err)
		requireSameFile(t, file, again)
		buf.Reset()
		require.NoError(t, Encode(&buf, again))
		require.Equal(t, encoded, buf.Bytes(), "encoding is canonical")
	})
}
