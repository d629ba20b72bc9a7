package tensor

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"regexp"
	"strconv"
	"strings"

	"github.com/wgtensor/wgtensor/device"
)

// ReadNPY reads a NumPy .npy file (format 1.0, 2.0 or 3.0, C order) into a
// tensor on dev: float32 and float64 become float32, float16 stays
// float16, int32 stays int32, int64, int16, int8, uint8 and bool become int32, with an
// error naming the file and the element when an int64 value does not fit.
func ReadNPY(path string, dev device.Device) (*Tensor, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("tensor: ReadNPY: %w", err)
	}
	defer f.Close()
	t, err := DecodeNPY(bufio.NewReader(f), dev)
	if err != nil {
		return nil, fmt.Errorf("tensor: ReadNPY %s: %w", path, err)
	}
	return t, nil
}

var (
	npyMagic = []byte("\x93NUMPY")
	npyDescr = regexp.MustCompile(`'descr'\s*:\s*'([<>|=]?)([a-z])(\d+)'`)
	npyOrder = regexp.MustCompile(`'fortran_order'\s*:\s*(True|False)`)
	npyShape = regexp.MustCompile(`'shape'\s*:\s*\(([^)]*)\)`)
)

// maxNPYElements bounds the size a header may claim.
const maxNPYElements = 1 << 32

// DecodeNPY reads one .npy array from r (see ReadNPY).
func DecodeNPY(r io.Reader, dev device.Device) (*Tensor, error) {
	var pre [8]byte
	if _, err := io.ReadFull(r, pre[:]); err != nil {
		return nil, fmt.Errorf("not a .npy file: %w", err)
	}
	if !bytes.Equal(pre[:6], npyMagic) {
		return nil, errors.New("not a .npy file (no \\x93NUMPY magic)")
	}
	var hlen int
	switch pre[6] {
	case 1:
		var b [2]byte
		if _, err := io.ReadFull(r, b[:]); err != nil {
			return nil, fmt.Errorf("header length: %w", err)
		}
		hlen = int(binary.LittleEndian.Uint16(b[:]))
	case 2, 3:
		var b [4]byte
		if _, err := io.ReadFull(r, b[:]); err != nil {
			return nil, fmt.Errorf("header length: %w", err)
		}
		hlen = int(binary.LittleEndian.Uint32(b[:]))
	default:
		return nil, fmt.Errorf("format version %d.%d is not supported", pre[6], pre[7])
	}
	if hlen > 1<<20 {
		return nil, fmt.Errorf("header of %d bytes", hlen)
	}
	hb := make([]byte, hlen)
	if _, err := io.ReadFull(r, hb); err != nil {
		return nil, fmt.Errorf("header: %w", err)
	}
	h := string(hb)
	d := npyDescr.FindStringSubmatch(h)
	o := npyOrder.FindStringSubmatch(h)
	s := npyShape.FindStringSubmatch(h)
	if d == nil || o == nil || s == nil {
		return nil, fmt.Errorf("header %q lacks descr, fortran_order or shape", strings.TrimSpace(h))
	}
	if o[1] == "True" {
		return nil, errors.New("Fortran-order arrays are not supported")
	}
	if d[1] == ">" {
		return nil, fmt.Errorf("big-endian data (%s%s%s) is not supported", d[1], d[2], d[3])
	}
	var shape []int
	n := 1
	for _, part := range strings.Split(s[1], ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		v, err := strconv.Atoi(part)
		if err != nil || v < 0 {
			return nil, fmt.Errorf("shape (%s) is not a list of sizes", s[1])
		}
		shape = append(shape, v)
		if n *= v; n > maxNPYElements {
			return nil, fmt.Errorf("shape (%s) is too large", s[1])
		}
	}
	if shape == nil {
		shape = []int{}
	}
	kind, size := d[2], d[3]
	width, _ := strconv.Atoi(size)
	switch kind + size {
	case "f4", "f8", "f2", "i4", "i8", "i2", "i1", "u1", "b1":
	default:
		return nil, fmt.Errorf("element type %s%s is not supported (float16/32/64, int8/16/32/64, uint8, bool are)", kind, size)
	}
	raw := make([]byte, n*width)
	if _, err := io.ReadFull(r, raw); err != nil {
		return nil, fmt.Errorf("data: %d elements of %d bytes expected: %w", n, width, err)
	}
	if kind+size == "f2" {
		out := make([]uint16, n)
		for i := range out {
			out[i] = binary.LittleEndian.Uint16(raw[2*i:])
		}
		return FromBits(dev, Float16, out, shape...), nil
	}
	if kind == "f" {
		out := make([]float32, n)
		for i := range out {
			b := raw[i*width:]
			switch width {
			case 4:
				out[i] = math.Float32frombits(binary.LittleEndian.Uint32(b))
			case 8:
				out[i] = float32(math.Float64frombits(binary.LittleEndian.Uint64(b)))
			}
		}
		return New(dev, out, shape...), nil
	}
	out := make([]int32, n)
	for i := range out {
		b := raw[i*width:]
		var v int64
		switch {
		case width == 8:
			v = int64(binary.LittleEndian.Uint64(b))
		case width == 4:
			v = int64(int32(binary.LittleEndian.Uint32(b)))
		case width == 2:
			v = int64(int16(binary.LittleEndian.Uint16(b)))
		case kind == "i":
			v = int64(int8(b[0]))
		default:
			v = int64(b[0])
		}
		if v < math.MinInt32 || v > math.MaxInt32 {
			return nil, fmt.Errorf("element %d, %d, does not fit in int32", i, v)
		}
		out[i] = int32(v)
	}
	return New(dev, out, shape...), nil
}

// WriteNPY writes the tensor to path as a NumPy .npy file (format 1.0,
// little-endian float32, int32 or float16; bfloat16, which NumPy lacks, is
// written as float32), reading it back from the device.
func (t *Tensor) WriteNPY(path string) error {
	var buf bytes.Buffer
	if err := t.EncodeNPY(&buf); err != nil {
		return fmt.Errorf("tensor: WriteNPY %s: %w", path, err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		return fmt.Errorf("tensor: WriteNPY: %w", err)
	}
	return nil
}

// EncodeNPY writes the tensor to w in the .npy format (see WriteNPY).
func (t *Tensor) EncodeNPY(w io.Writer) error {
	descr := "<f4"
	var body []byte
	switch t.dtype {
	case Float16:
		descr = "<f2"
		v, err := t.Bits()
		if err != nil {
			return err
		}
		body = make([]byte, 2*len(v))
		for i, x := range v {
			binary.LittleEndian.PutUint16(body[2*i:], x)
		}
	case Int32:
		descr = "<i4"
		v, err := t.Ints()
		if err != nil {
			return err
		}
		body = make([]byte, 4*len(v))
		for i, x := range v {
			binary.LittleEndian.PutUint32(body[4*i:], uint32(x))
		}
	default: // float32, and bfloat16 (NumPy has no such type) widened
		v, err := t.Data()
		if err != nil {
			return err
		}
		body = make([]byte, 4*len(v))
		for i, x := range v {
			binary.LittleEndian.PutUint32(body[4*i:], math.Float32bits(x))
		}
	}
	dims := make([]string, len(t.shape))
	for i, d := range t.shape {
		dims[i] = strconv.Itoa(d)
	}
	shape := strings.Join(dims, ", ")
	if len(dims) == 1 {
		shape += ","
	}
	header := fmt.Sprintf("{'descr': '%s', 'fortran_order': False, 'shape': (%s), }", descr, shape)
	// Pad with spaces and a newline so that the data starts on a multiple
	// of 64 bytes, as NumPy writes it.
	total := len(npyMagic) + 2 + 2 + len(header) + 1
	header += strings.Repeat(" ", (64-total%64)%64) + "\n"
	var pre bytes.Buffer
	pre.Write(npyMagic)
	pre.Write([]byte{1, 0})
	binary.Write(&pre, binary.LittleEndian, uint16(len(header)))
	pre.WriteString(header)
	if _, err := w.Write(pre.Bytes()); err != nil {
		return err
	}
	_, err := w.Write(body)
	return err
}
