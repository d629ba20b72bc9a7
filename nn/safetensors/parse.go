package safetensors

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// metadataKey is the header key reserved for the file's string metadata.
const metadataKey = "__metadata__"

// Parse decodes and validates a complete safetensors file held in data.
//
// It checks that the header length fits the file and MaxHeaderSize; that the
// header is UTF-8 JSON holding one object (followed by nothing but
// whitespace) without duplicate keys; that "__metadata__", if present and
// not null, maps strings to strings; that every tensor entry has exactly the
// keys dtype, shape and data_offsets, a known dtype, non-negative integer
// dimensions whose product does not overflow, and data_offsets [begin, end]
// with 0 <= begin <= end <= len(data section) and end-begin equal to the
// tensor's size in bytes; and that the tensors' byte ranges neither overlap
// nor leave any byte of the data section uncovered. Parse never panics, and
// its allocations are bounded by a small multiple of len(data).
//
// The Data of each returned tensor is a sub-slice of data (capacity clipped
// to the tensor, so appending to it cannot overwrite a neighbour): no tensor
// bytes are copied, and the caller must not modify data while it uses the
// File, or must copy what it keeps.
func Parse(data []byte) (*File, error) {
	if len(data) < 8 {
		return nil, errorf(ErrTruncated, "file is %d bytes, shorter than the 8-byte header length", len(data))
	}
	n := binary.LittleEndian.Uint64(data)
	if n > MaxHeaderSize {
		return nil, errorf(ErrHeaderTooLarge, "not a safetensors file: header length %d exceeds the %d-byte limit", n, MaxHeaderSize)
	}
	if n > uint64(len(data)-8) {
		return nil, errorf(ErrTruncated, "header length %d exceeds the %d bytes after the length field", n, len(data)-8)
	}
	header := data[8 : 8+n]
	body := data[8+n:]

	p := headerParser{dataLen: len(body)}
	if err := p.parse(header); err != nil {
		return nil, err
	}
	if err := checkLayout(p.entries, len(body)); err != nil {
		return nil, err
	}

	f := &File{Metadata: p.metadata, Tensors: make(map[string]Tensor, len(p.entries))}
	for _, e := range p.entries {
		f.Tensors[e.name] = Tensor{
			DType: e.dtype,
			Shape: e.shape,
			Data:  body[e.begin:e.end:e.end],
		}
	}
	return f, nil
}

// ReadFile reads and parses the safetensors file at path. Errors name the
// file: "safetensors: model.safetensors: ...". The returned tensors' Data
// share one buffer holding the whole file, which no one else references.
func ReadFile(path string) (*File, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, wrapPath(path, err)
	}
	f, err := Parse(data)
	if err != nil {
		return nil, wrapPath(path, err)
	}
	return f, nil
}

// pathError prefixes an error with the file it concerns.
type pathError struct {
	path string
	err  error
}

// Error returns "safetensors: PATH: " and the wrapped message without its
// own "safetensors: " prefix (or, for an *fs.PathError on the same path,
// without the repeated path).
func (e *pathError) Error() string {
	msg := e.err.Error()
	var pe *fs.PathError
	if errors.As(e.err, &pe) && pe.Path == e.path {
		msg = pe.Op + ": " + pe.Err.Error() // the path is already in front
	}
	return "safetensors: " + e.path + ": " + strings.TrimPrefix(msg, "safetensors: ")
}

// Unwrap returns the wrapped error.
func (e *pathError) Unwrap() error { return e.err }

// wrapPath returns err prefixed with path.
func wrapPath(path string, err error) error {
	return &pathError{path: path, err: err}
}

// entry is one tensor of the header as parsed, before its data is attached.
type entry struct {
	name       string
	dtype      DType
	shape      []int
	begin, end int
}

// headerParser walks the header JSON token by token, so that it can reject
// duplicate keys (encoding/json would silently keep the last one) and stop at
// the first unexpected value without decoding it.
type headerParser struct {
	dec      *json.Decoder
	dataLen  int
	metadata map[string]string
	entries  []entry
}

// parse reads the whole header, filling p.metadata and p.entries.
func (p *headerParser) parse(header []byte) error {
	if !utf8.Valid(header) {
		return errorf(ErrInvalidHeader, "header is not valid UTF-8")
	}
	p.dec = json.NewDecoder(bytes.NewReader(header))
	p.dec.UseNumber()
	if err := p.expectDelim('{', "header"); err != nil {
		return err
	}
	seen := make(map[string]struct{})
	for p.dec.More() {
		key, err := p.key("header")
		if err != nil {
			return err
		}
		if _, dup := seen[key]; dup {
			return errorf(ErrInvalidHeader, "duplicate key %q in header", key)
		}
		seen[key] = struct{}{}
		if key == metadataKey {
			if err := p.parseMetadata(); err != nil {
				return err
			}
			continue
		}
		e, err := p.parseEntry(key)
		if err != nil {
			return err
		}
		p.entries = append(p.entries, e)
	}
	if err := p.expectDelim('}', "header"); err != nil {
		return err
	}
	// Only whitespace (the writer's padding) may follow the object.
	if tok, err := p.dec.Token(); err != io.EOF {
		if err != nil {
			return p.jsonError(err)
		}
		return errorf(ErrInvalidHeader, "unexpected data (%s) after the header object", describe(tok))
	}
	return nil
}

// token returns the next JSON token, turning syntax errors into header errors.
func (p *headerParser) token() (json.Token, error) {
	tok, err := p.dec.Token()
	if err != nil {
		return nil, p.jsonError(err)
	}
	return tok, nil
}

// jsonError turns a decoder error into a header error.
func (p *headerParser) jsonError(err error) error {
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		return errorf(ErrInvalidHeader, "header JSON ends unexpectedly")
	}
	return errorf(ErrInvalidHeader, "header is not valid JSON: %v", err)
}

// expectDelim reads the next token and requires it to be d.
func (p *headerParser) expectDelim(d json.Delim, what string) error {
	tok, err := p.token()
	if err != nil {
		return err
	}
	if tok != d {
		return errorf(ErrInvalidHeader, "%s: expected %q, got %s", what, string(d), describe(tok))
	}
	return nil
}

// key reads an object key; the decoder guarantees it is a string.
func (p *headerParser) key(what string) (string, error) {
	tok, err := p.token()
	if err != nil {
		return "", err
	}
	s, ok := tok.(string)
	if !ok {
		return "", errorf(ErrInvalidHeader, "%s: expected a key, got %s", what, describe(tok))
	}
	return s, nil
}

// parseMetadata reads the value of "__metadata__": null or an object of
// strings.
func (p *headerParser) parseMetadata() error {
	tok, err := p.token()
	if err != nil {
		return err
	}
	if tok == nil { // "__metadata__": null, as the reference accepts
		return nil
	}
	if tok != json.Delim('{') {
		return errorf(ErrInvalidHeader, "%q must be an object of strings, got %s", metadataKey, describe(tok))
	}
	p.metadata = make(map[string]string)
	for p.dec.More() {
		k, err := p.key(metadataKey)
		if err != nil {
			return err
		}
		if _, dup := p.metadata[k]; dup {
			return errorf(ErrInvalidHeader, "duplicate key %q in %q", k, metadataKey)
		}
		tok, err := p.token()
		if err != nil {
			return err
		}
		v, ok := tok.(string)
		if !ok {
			return errorf(ErrInvalidHeader, "%q: value of %q must be a string, got %s", metadataKey, k, describe(tok))
		}
		p.metadata[k] = v
	}
	return p.expectDelim('}', metadataKey)
}

// parseEntry reads and validates one tensor's header entry.
func (p *headerParser) parseEntry(name string) (entry, error) {
	e := entry{name: name}
	bad := func(format string, args ...any) error {
		return errorf(ErrInvalidTensor, "tensor %q: %s", name, fmt.Sprintf(format, args...))
	}
	tok, err := p.token()
	if err != nil {
		return e, err
	}
	if tok != json.Delim('{') {
		return e, bad("entry must be an object, got %s", describe(tok))
	}
	var haveDType, haveShape, haveOffsets bool
	var offsets []int
	for p.dec.More() {
		k, err := p.key(fmt.Sprintf("tensor %q", name))
		if err != nil {
			return e, err
		}
		var dup bool
		switch k {
		case "dtype":
			dup, haveDType = haveDType, true
			if !dup {
				tok, err := p.token()
				if err != nil {
					return e, err
				}
				s, ok := tok.(string)
				if !ok {
					return e, bad("dtype must be a string, got %s", describe(tok))
				}
				e.dtype = DType(s)
			}
		case "shape":
			dup, haveShape = haveShape, true
			if !dup {
				if e.shape, err = p.intArray(name, "shape", "dimension"); err != nil {
					return e, err
				}
			}
		case "data_offsets":
			dup, haveOffsets = haveOffsets, true
			if !dup {
				if offsets, err = p.intArray(name, "data_offsets", "offset"); err != nil {
					return e, err
				}
			}
		default:
			return e, bad("unknown key %q (want dtype, shape, data_offsets)", k)
		}
		if dup {
			return e, bad("duplicate key %q", k)
		}
	}
	if err := p.expectDelim('}', fmt.Sprintf("tensor %q", name)); err != nil {
		return e, err
	}
	switch {
	case !haveDType:
		return e, bad(`missing "dtype"`)
	case !haveShape:
		return e, bad(`missing "shape"`)
	case !haveOffsets:
		return e, bad(`missing "data_offsets"`)
	}

	size, ok := e.dtype.Size()
	if !ok {
		return e, bad("unknown dtype %q", string(e.dtype))
	}
	if len(offsets) != 2 {
		return e, bad("data_offsets must hold 2 integers [begin, end], got %d", len(offsets))
	}
	e.begin, e.end = offsets[0], offsets[1]
	if e.begin > e.end {
		return e, bad("data_offsets %v: begin is after end", offsets)
	}
	if e.end > p.dataLen {
		return e, bad("data_offsets %v exceed the data section (%d bytes)", offsets, p.dataLen)
	}
	n, ok := numel(e.shape)
	if !ok || n > math.MaxInt/size {
		return e, bad("shape %v of %s: size overflows", e.shape, e.dtype)
	}
	if have, need := e.end-e.begin, n*size; have != need {
		return e, bad("data_offsets %v hold %d bytes, shape %v of %s needs %d", offsets, have, e.shape, e.dtype, need)
	}
	return e, nil
}

// intArray reads a JSON array of non-negative integers that fit in an int.
func (p *headerParser) intArray(name, field, elem string) ([]int, error) {
	bad := func(format string, args ...any) error {
		return errorf(ErrInvalidTensor, "tensor %q: %s", name, fmt.Sprintf(format, args...))
	}
	tok, err := p.token()
	if err != nil {
		return nil, err
	}
	if tok != json.Delim('[') {
		return nil, bad("%s must be an array of integers, got %s", field, describe(tok))
	}
	out := []int{}
	for p.dec.More() {
		tok, err := p.token()
		if err != nil {
			return nil, err
		}
		num, ok := tok.(json.Number)
		if !ok {
			return nil, bad("%s must be an array of integers, got %s", field, describe(tok))
		}
		v, err := strconv.ParseInt(string(num), 10, strconv.IntSize)
		switch {
		case err != nil && errors.Is(err, strconv.ErrRange):
			return nil, bad("%s %s %s is out of range", field, elem, num)
		case err != nil:
			return nil, bad("%s %s %s is not an integer", field, elem, num)
		case v < 0:
			return nil, bad("%s %s %d is negative", field, elem, v)
		}
		out = append(out, int(v))
	}
	if err := p.expectDelim(']', fmt.Sprintf("tensor %q: %s", name, field)); err != nil {
		return nil, err
	}
	return out, nil
}

// describe renders a JSON token for an error message.
func describe(tok json.Token) string {
	switch v := tok.(type) {
	case nil:
		return "null"
	case json.Delim:
		switch v {
		case '{':
			return "an object"
		case '[':
			return "an array"
		}
		return fmt.Sprintf("%q", string(v))
	case string:
		if len(v) > 40 {
			v = v[:40] + "..."
		}
		return fmt.Sprintf("string %q", v)
	case json.Number:
		return "number " + string(v)
	case bool:
		return strconv.FormatBool(v)
	}
	return fmt.Sprintf("%v", tok)
}

// checkLayout verifies that the tensors' byte ranges tile [0, dataLen)
// exactly: sorted by offset, each begins where the previous one ended.
func checkLayout(entries []entry, dataLen int) error {
	if len(entries) == 0 {
		if dataLen != 0 {
			return errorf(ErrInvalidLayout, "data section has %d bytes but the header lists no tensors", dataLen)
		}
		return nil
	}
	sorted := make([]*entry, len(entries))
	for i := range entries {
		sorted[i] = &entries[i]
	}
	slices.SortFunc(sorted, func(a, b *entry) int {
		if c := a.begin - b.begin; c != 0 {
			return c
		}
		if c := a.end - b.end; c != 0 {
			return c
		}
		return strings.Compare(a.name, b.name)
	})
	pos := 0
	var prev *entry
	for _, e := range sorted {
		switch {
		case e.begin < pos:
			return errorf(ErrInvalidLayout, "tensors %q data_offsets [%d %d] and %q data_offsets [%d %d] overlap",
				prev.name, prev.begin, prev.end, e.name, e.begin, e.end)
		case e.begin > pos && prev == nil:
			return errorf(ErrInvalidLayout, "data section bytes [%d %d] before tensor %q are not covered by any tensor",
				pos, e.begin, e.name)
		case e.begin > pos:
			return errorf(ErrInvalidLayout, "data section bytes [%d %d] between tensors %q and %q are not covered by any tensor",
				pos, e.begin, prev.name, e.name)
		}
		// A zero-length tensor inside another's range is caught above; one at
		// the end of the previous tensor leaves pos and prev's extent intact.
		if e.end > pos || prev == nil {
			prev = e
		}
		pos = e.end
	}
	if pos != dataLen {
		return errorf(ErrInvalidLayout, "data section bytes [%d %d] after tensor %q are not covered by any tensor",
			pos, dataLen, prev.name)
	}
	return nil
}
