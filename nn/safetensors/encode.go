package safetensors

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"unicode/utf8"
)

// Encode writes f to w in the safetensors format.
//
// The output is deterministic: "__metadata__" comes first (written when
// f.Metadata is non-nil, even if empty) with its keys sorted, then the
// tensors ordered, as the reference writer orders them, by element size
// (largest first) and then by name, so that every tensor's data starts at a
// multiple of its element size; the data section lays the tensors out in
// that same order with no gaps. The JSON has no insignificant whitespace and
// is padded with spaces so that 8+N is a multiple of 8, as the reference
// writer does. Encode checks f before writing anything: names and metadata
// must be valid UTF-8, no tensor may be named "__metadata__", and every
// tensor must have a known dtype, a valid shape and len(Data) matching them.
// Errors from w are returned wrapped.
func Encode(w io.Writer, f *File) error {
	header, names, err := prepare(f)
	if err != nil {
		return err
	}
	if _, err := w.Write(header); err != nil {
		return fmt.Errorf("safetensors: writing header: %w", err)
	}
	for _, name := range names {
		if _, err := w.Write(f.Tensors[name].Data); err != nil {
			return fmt.Errorf("safetensors: writing tensor %q: %w", name, err)
		}
	}
	return nil
}

// prepare validates f and returns the 8-byte length and padded JSON header,
// followed by the tensor names in the order their data must be written.
func prepare(f *File) ([]byte, []string, error) {
	if f == nil {
		return nil, nil, errors.New("safetensors: Encode of a nil *File")
	}
	names := f.Names()
	slices.SortStableFunc(names, func(a, b string) int {
		sa, _ := f.Tensors[a].DType.Size()
		sb, _ := f.Tensors[b].DType.Size()
		return sb - sa
	})
	for _, name := range names {
		if name == metadataKey {
			return nil, nil, errorf(ErrInvalidTensor, "tensor name %q is reserved for metadata", metadataKey)
		}
		if !utf8.ValidString(name) {
			return nil, nil, errorf(ErrInvalidTensor, "tensor name %q is not valid UTF-8", name)
		}
		if err := f.Tensors[name].check(name); err != nil {
			return nil, nil, err
		}
	}

	buf := make([]byte, 8, 8+64+128*len(names))
	buf = append(buf, '{')
	if f.Metadata != nil {
		buf = appendQuoted(buf, metadataKey)
		buf = append(buf, ':', '{')
		keys := make([]string, 0, len(f.Metadata))
		for k := range f.Metadata {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for i, k := range keys {
			v := f.Metadata[k]
			if !utf8.ValidString(k) || !utf8.ValidString(v) {
				return nil, nil, errorf(ErrInvalidHeader, "metadata entry %q: %q is not valid UTF-8", k, v)
			}
			if i > 0 {
				buf = append(buf, ',')
			}
			buf = appendQuoted(buf, k)
			buf = append(buf, ':')
			buf = appendQuoted(buf, v)
		}
		buf = append(buf, '}')
	}
	offset := 0
	for i, name := range names {
		t := f.Tensors[name]
		if i > 0 || f.Metadata != nil {
			buf = append(buf, ',')
		}
		buf = appendQuoted(buf, name)
		buf = append(buf, `:{"dtype":`...)
		buf = appendQuoted(buf, string(t.DType))
		buf = append(buf, `,"shape":[`...)
		for j, d := range t.Shape {
			if j > 0 {
				buf = append(buf, ',')
			}
			buf = strconv.AppendInt(buf, int64(d), 10)
		}
		buf = append(buf, `],"data_offsets":[`...)
		buf = strconv.AppendInt(buf, int64(offset), 10)
		buf = append(buf, ',')
		offset += len(t.Data)
		buf = strconv.AppendInt(buf, int64(offset), 10)
		buf = append(buf, ']', '}')
	}
	buf = append(buf, '}')
	for len(buf)%8 != 0 {
		buf = append(buf, ' ')
	}
	n := len(buf) - 8
	if n > MaxHeaderSize {
		return nil, nil, errorf(ErrHeaderTooLarge, "header would be %d bytes, over the %d-byte limit", n, MaxHeaderSize)
	}
	binary.LittleEndian.PutUint64(buf, uint64(n))
	return buf, names, nil
}

// appendQuoted appends s as a JSON string, escaping only what JSON requires
// (quote, backslash, control characters), as serde_json does.
func appendQuoted(buf []byte, s string) []byte {
	const hex = "0123456789abcdef"
	buf = append(buf, '"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			buf = append(buf, '\\', c)
		case c == '\n':
			buf = append(buf, '\\', 'n')
		case c == '\r':
			buf = append(buf, '\\', 'r')
		case c == '\t':
			buf = append(buf, '\\', 't')
		case c == '\b':
			buf = append(buf, '\\', 'b')
		case c == '\f':
			buf = append(buf, '\\', 'f')
		case c < 0x20:
			buf = append(buf, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		default:
			buf = append(buf, c)
		}
	}
	return append(buf, '"')
}

// Hooks replaced by tests to make WriteFile fail at chosen points.
var (
	// createTemp creates the temporary file WriteFile writes to.
	createTemp = os.CreateTemp
	// wrapTempWriter wraps the temporary file's writer.
	wrapTempWriter = func(w io.Writer) io.Writer { return w }
)

// WriteFile writes f to path atomically: it encodes f into a temporary file
// in the same directory, syncs and closes it, renames it over path and syncs
// the directory. Readers see either the old file or the complete new one.
// If anything fails up to and including the rename, the temporary file is
// removed and a file already at path is left untouched. A new file gets
// mode 0644; a replaced file keeps its permission bits. A failure to sync the
// directory after the rename is still reported, although path then holds the
// new file. Errors name path.
func WriteFile(path string, f *File) error {
	header, names, err := prepare(f)
	if err != nil {
		return wrapPath(path, err)
	}
	perm := os.FileMode(0o644)
	if fi, err := os.Stat(path); err == nil && fi.Mode().IsRegular() {
		perm = fi.Mode().Perm()
	}
	dir := filepath.Dir(path)
	tmp, err := createTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return wrapPath(path, fmt.Errorf("creating temporary file: %w", err))
	}
	if err := writeTemp(tmp, header, names, f, perm); err != nil {
		_ = os.Remove(tmp.Name())
		return wrapPath(path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		_ = os.Remove(tmp.Name())
		return wrapPath(path, err)
	}
	if err := syncDir(dir); err != nil {
		return wrapPath(path, fmt.Errorf("file replaced, but syncing directory %s failed: %w", dir, err))
	}
	return nil
}

// writeTemp writes the encoded file to tmp, syncs and closes it. It closes
// tmp on every path.
func writeTemp(tmp *os.File, header []byte, names []string, f *File, perm os.FileMode) error {
	bw := bufio.NewWriterSize(wrapTempWriter(tmp), 1<<20)
	err := func() error {
		if _, err := bw.Write(header); err != nil {
			return fmt.Errorf("writing header: %w", err)
		}
		for _, name := range names {
			if _, err := bw.Write(f.Tensors[name].Data); err != nil {
				return fmt.Errorf("writing tensor %q: %w", name, err)
			}
		}
		if err := bw.Flush(); err != nil {
			return fmt.Errorf("writing: %w", err)
		}
		if err := tmp.Chmod(perm); err != nil && runtime.GOOS != "windows" {
			return err
		}
		return tmp.Sync()
	}()
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	return err
}

// syncDir makes a rename in dir durable. Windows cannot sync directories.
func syncDir(dir string) error {
	if runtime.GOOS == "windows" {
		return nil
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}
