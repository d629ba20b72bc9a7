package data

import (
	"bufio"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"math/bits"
	"os"
)

// The IDX element types: the third byte of an IDX file.
const (
	IDXUint8   byte = 0x08 // unsigned byte
	IDXInt8    byte = 0x09 // signed byte
	IDXInt16   byte = 0x0B // big-endian int16
	IDXInt32   byte = 0x0C // big-endian int32
	IDXFloat32 byte = 0x0D // big-endian IEEE 754 float32
	IDXFloat64 byte = 0x0E // big-endian IEEE 754 float64
)

// Limits on what ParseIDX accepts. They are checked against the header
// before anything is allocated.
const (
	MaxIDXDims     = 8       // dimensions at most
	MaxIDXElements = 1 << 31 // elements at most
	MaxIDXBytes    = 1 << 31 // bytes of data at most (2 GiB)
)

// IDX is the content of an IDX file (the format of MNIST): an n-dimensional
// array of one element type.
//
// The elements are kept as the file stores them, big-endian, in Data, so
// that 60000×28×28 bytes of MNIST images take 47 MB and not 376 MB as
// float64. Float32s, Float64s, Ints and At convert them.
type IDX struct {
	Type byte   // element type: IDXUint8, IDXInt8, IDXInt16, IDXInt32, IDXFloat32 or IDXFloat64
	Dims []int  // dimensions, outermost first; 1 to 8 of them
	Data []byte // Len()×ElemSize() bytes: the elements in row-major order, big-endian
}

// idxTypeSize returns the size of one element of IDX type t and its name,
// or 0 for an unknown type.
func idxTypeSize(t byte) (int, string) {
	switch t {
	case IDXUint8:
		return 1, "uint8"
	case IDXInt8:
		return 1, "int8"
	case IDXInt16:
		return 2, "int16"
	case IDXInt32:
		return 4, "int32"
	case IDXFloat32:
		return 4, "float32"
	case IDXFloat64:
		return 8, "float64"
	}
	return 0, ""
}

// IDXTypeName returns the name of IDX element type t ("uint8", "float32",
// ...), or a hexadecimal description of an unknown type.
func IDXTypeName(t byte) string {
	if _, name := idxTypeSize(t); name != "" {
		return name
	}
	return fmt.Sprintf("unknown type 0x%02X", t)
}

// ElemSize returns the number of bytes of one element, 0 for an unknown
// type.
func (x *IDX) ElemSize() int {
	n, _ := idxTypeSize(x.Type)
	return n
}

// Len returns the number of elements, the product of Dims.
func (x *IDX) Len() int {
	n := 1
	for _, d := range x.Dims {
		n *= d
	}
	return n
}

// At returns element i as a float64; every element type converts exactly.
// It panics when i is out of range.
func (x *IDX) At(i int) float64 {
	d := x.Data
	switch x.Type {
	case IDXUint8:
		return float64(d[i])
	case IDXInt8:
		return float64(int8(d[i]))
	case IDXInt16:
		return float64(int16(binary.BigEndian.Uint16(d[2*i:])))
	case IDXInt32:
		return float64(int32(binary.BigEndian.Uint32(d[4*i:])))
	case IDXFloat32:
		return float64(math.Float32frombits(binary.BigEndian.Uint32(d[4*i:])))
	case IDXFloat64:
		return math.Float64frombits(binary.BigEndian.Uint64(d[8*i:]))
	}
	panic(fmt.Sprintf("data: IDX.At: %s", IDXTypeName(x.Type)))
}

// Float32s returns the elements converted to float32 (int32 and float64
// values are rounded to the nearest float32). Each call allocates a new
// slice of Len() values.
func (x *IDX) Float32s() []float32 {
	n := x.Len()
	out := make([]float32, n)
	d := x.Data
	switch x.Type {
	case IDXUint8:
		for i, b := range d[:n] {
			out[i] = float32(b)
		}
	case IDXFloat32:
		for i := range out {
			out[i] = math.Float32frombits(binary.BigEndian.Uint32(d[4*i:]))
		}
	default:
		for i := range out {
			out[i] = float32(x.At(i))
		}
	}
	return out
}

// Float64s returns the elements converted to float64, exactly. Each call
// allocates a new slice of Len() values.
func (x *IDX) Float64s() []float64 {
	out := make([]float64, x.Len())
	for i := range out {
		out[i] = x.At(i)
	}
	return out
}

// Ints returns the elements converted to int. Float elements are truncated
// toward zero; NaN becomes 0 and values beyond the range of int are clamped
// to it. Each call allocates a new slice of Len() values.
func (x *IDX) Ints() []int {
	out := make([]int, x.Len())
	d := x.Data
	switch x.Type {
	case IDXUint8:
		for i := range out {
			out[i] = int(d[i])
		}
	case IDXFloat32, IDXFloat64:
		for i := range out {
			out[i] = floatToInt(x.At(i))
		}
	default:
		for i := range out {
			out[i] = int(x.At(i))
		}
	}
	return out
}

// floatToInt truncates v toward zero, mapping NaN to 0 and clamping to the
// range of int.
func floatToInt(v float64) int {
	switch {
	case math.IsNaN(v):
		return 0
	case v >= math.MaxInt:
		return math.MaxInt
	case v <= math.MinInt:
		return math.MinInt
	}
	return int(v)
}

// ReadIDX reads the IDX file at path, gzip-compressed (recognised by its
// magic bytes 0x1f 0x8b, whatever the file is called) or raw. Errors name
// the file and say what was wrong, as ParseIDX's do.
func ReadIDX(path string) (*IDX, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("data: reading IDX file: %w", err)
	}
	defer f.Close()
	x, err := parseIDX(f)
	if err != nil {
		return nil, fmt.Errorf("data: %s: %w", path, err)
	}
	return x, nil
}

// ParseIDX reads one IDX file from r, gzip-compressed (recognised by its
// magic bytes 0x1f 0x8b) or raw, and checks that r holds nothing after it.
//
// It validates the header before allocating: the two zero bytes of the
// magic number, a known element type, 1 to MaxIDXDims dimensions, at most
// MaxIDXElements elements and MaxIDXBytes bytes of data. Memory grows with
// the data actually read, so a short input that promises 2 GiB costs little.
// Truncated data, bytes after the data and corrupt gzip streams are errors
// that say what the header promised and what was found. ParseIDX never
// panics, whatever r holds.
func ParseIDX(r io.Reader) (*IDX, error) {
	x, err := parseIDX(r)
	if err != nil {
		return nil, fmt.Errorf("data: IDX: %w", err)
	}
	return x, nil
}

// parseIDX is ParseIDX with errors that do not yet say which input they
// are about.
func parseIDX(r io.Reader) (*IDX, error) {
	br := bufio.NewReader(r)
	var src io.Reader = br
	compressed := false
	if isGzip(br) {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("corrupt gzip stream: %w", err)
		}
		defer zr.Close()
		zr.Multistream(false)
		src, compressed = &gzipMembers{br: br, zr: zr}, true
	}
	x, err := decodeIDX(src)
	if err != nil {
		return nil, err
	}
	if err := expectEOF(src, len(x.Data), compressed); err != nil {
		return nil, err
	}
	return x, nil
}

// isGzip reports whether br starts with the gzip magic bytes 0x1f 0x8b.
func isGzip(br *bufio.Reader) bool {
	magic, _ := br.Peek(2)
	return len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b
}

// gzipMembers decompresses a gzip file of one or more concatenated members,
// and reports bytes after the last member that do not start another one as
// a *gzipTrailer error, instead of gzip's "invalid header".
type gzipMembers struct {
	br  *bufio.Reader
	zr  *gzip.Reader // with Multistream(false)
	err error        // a *gzipTrailer, returned by every later Read
}

// Read reads decompressed bytes, moving on to the next member at the end of
// each.
func (g *gzipMembers) Read(p []byte) (int, error) {
	if g.err != nil {
		return 0, g.err
	}
	for {
		n, err := g.zr.Read(p)
		if err != io.EOF {
			return n, err
		}
		if _, perr := g.br.Peek(1); perr != nil {
			return n, io.EOF // the file ends with the member
		}
		if !isGzip(g.br) {
			extra, _ := io.Copy(io.Discard, io.LimitReader(g.br, maxTrailingCount+1))
			g.err = &gzipTrailer{extra}
			return n, g.err
		}
		if err := g.zr.Reset(g.br); err != nil {
			return n, err
		}
		g.zr.Multistream(false)
		if n > 0 {
			return n, nil
		}
	}
}

// gzipTrailer reports bytes after a gzip stream that are not another gzip
// member.
type gzipTrailer struct {
	n int64 // how many, up to maxTrailingCount+1
}

// Error describes the trailing bytes.
func (e *gzipTrailer) Error() string {
	if e.n > maxTrailingCount {
		return fmt.Sprintf("more than %d bytes after the gzip stream that are not another gzip stream", maxTrailingCount)
	}
	return fmt.Sprintf("%d bytes after the gzip stream that are not another gzip stream", e.n)
}

// decodeIDX reads the header and the data of an IDX file from r.
func decodeIDX(r io.Reader) (*IDX, error) {
	var head [4]byte
	if n, err := io.ReadFull(r, head[:]); err != nil {
		return nil, readErr(err, "truncated header: an IDX file starts with 4 bytes (2 zero bytes, the type, the number of dimensions), found %d", n)
	}
	if head[0] != 0 || head[1] != 0 {
		return nil, fmt.Errorf("bad magic 0x%02X%02X: an IDX file starts with two zero bytes (or is gzip-compressed, starting with 0x1F8B)", head[0], head[1])
	}
	size, _ := idxTypeSize(head[2])
	if size == 0 {
		return nil, fmt.Errorf("unknown element type 0x%02X: expected 0x08 (uint8), 0x09 (int8), 0x0B (int16), 0x0C (int32), 0x0D (float32) or 0x0E (float64)", head[2])
	}
	ndims := int(head[3])
	if ndims == 0 || ndims > MaxIDXDims {
		return nil, fmt.Errorf("%d dimensions: expected 1 to %d", ndims, MaxIDXDims)
	}
	raw := make([]byte, 4*ndims)
	if n, err := io.ReadFull(r, raw); err != nil {
		return nil, readErr(err, "truncated header: %d dimensions need %d bytes, found %d", ndims, len(raw), n)
	}
	dims := make([]int, ndims)
	var count uint64 = 1
	overflow := false
	for i := range dims {
		d := binary.BigEndian.Uint32(raw[4*i:])
		if uint64(d) > math.MaxInt {
			return nil, fmt.Errorf("dimension %d is %d, which does not fit in an int on this platform", i, d)
		}
		dims[i] = int(d)
		hi, lo := bits.Mul64(count, uint64(d))
		overflow = overflow || hi != 0
		count = lo
	}
	if overflow {
		return nil, fmt.Errorf("dimensions %v: the element count overflows 64 bits (at most %d elements are accepted)", dims, uint64(MaxIDXElements))
	}
	if count > MaxIDXElements {
		return nil, fmt.Errorf("dimensions %v: %d elements, more than the %d accepted", dims, count, uint64(MaxIDXElements))
	}
	nbytes := count * uint64(size)
	if nbytes > MaxIDXBytes {
		return nil, fmt.Errorf("dimensions %v of %s: %d bytes of data, more than the %d accepted (2 GiB)", dims, IDXTypeName(head[2]), nbytes, uint64(MaxIDXBytes))
	}
	if nbytes > math.MaxInt {
		return nil, fmt.Errorf("dimensions %v of %s: %d bytes of data do not fit in an int on this platform", dims, IDXTypeName(head[2]), nbytes)
	}
	data, err := readData(r, int(nbytes))
	if err != nil {
		return nil, err
	}
	return &IDX{Type: head[2], Dims: dims, Data: data}, nil
}

// readChunk is the first allocation for the data of an IDX file; the buffer
// doubles as data arrives, so memory follows the input's real length and
// not the length its header claims.
const readChunk = 64 << 10

// readData reads exactly n bytes from r.
func readData(r io.Reader, n int) ([]byte, error) {
	buf := make([]byte, min(n, readChunk))
	filled := 0
	for {
		m, err := io.ReadFull(r, buf[filled:])
		filled += m
		if err != nil {
			return nil, readErr(err, "truncated: header promises %d bytes of data, found %d", n, filled)
		}
		if filled == n {
			return buf, nil
		}
		grown := make([]byte, min(n, 2*len(buf)))
		copy(grown, buf)
		buf = grown
	}
}

// readErr describes a failed read: msg (formatted with args) when the input
// ended early, the underlying error otherwise (a corrupt gzip stream, a
// failing disk).
func readErr(err error, msg string, args ...any) error {
	var trailer *gzipTrailer
	if errors.As(err, &trailer) {
		return fmt.Errorf("%s, then %w", fmt.Sprintf(msg, args...), err)
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf(msg, args...)
	}
	if errors.Is(err, gzip.ErrChecksum) || errors.Is(err, gzip.ErrHeader) {
		return fmt.Errorf("corrupt gzip stream: %w", err)
	}
	return fmt.Errorf("read failed: %w", err)
}

// maxTrailingCount bounds how many trailing bytes expectEOF counts before it
// gives up counting.
const maxTrailingCount = 1 << 20

// expectEOF checks that r ends after the n bytes of data already read. For a
// gzip stream, reading to the end also verifies its checksum.
func expectEOF(r io.Reader, n int, compressed bool) error {
	extra, err := io.Copy(io.Discard, io.LimitReader(r, maxTrailingCount+1))
	if err != nil {
		if compressed && (errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF)) {
			return fmt.Errorf("corrupt gzip stream: it ends early after the %d bytes of data", n)
		}
		var trailer *gzipTrailer
		if errors.As(err, &trailer) {
			return fmt.Errorf("trailing data: %w", err)
		}
		return readErr(err, "truncated input")
	}
	switch {
	case extra > maxTrailingCount:
		return fmt.Errorf("trailing data: more than %d bytes after the %d bytes of data the header promises", maxTrailingCount, n)
	case extra > 0:
		return fmt.Errorf("trailing data: %d bytes after the %d bytes of data the header promises", extra, n)
	}
	return nil
}
