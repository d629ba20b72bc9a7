package tensor_test

import (
	"fmt"
	"slices"
	"testing"

	"github.com/wgtensor/wgtensor/device"
	"github.com/wgtensor/wgtensor/tensor"
)

// The fuzz targets check shape arithmetic against small reference models:
// every call either succeeds with the reference's shape and values or
// fails with a *tensor.Error exactly when the reference says the input is
// invalid; nothing else may panic. `go test` runs the seeds; `make fuzz`
// fuzzes each target for a minute.

// fuzzShape decodes up to four axes of length 0 to 4 from b.
func fuzzShape(b []byte) []int {
	shape := []int{}
	for _, v := range b[:min(len(b), 4)] {
		shape = append(shape, int(v%5))
	}
	return shape
}

// refBroadcast is NumPy's broadcasting rule.
func refBroadcast(a, b []int) ([]int, bool) {
	n := max(len(a), len(b))
	out := make([]int, n)
	for i := range n {
		da, db := 1, 1
		if j := i - n + len(a); j >= 0 {
			da = a[j]
		}
		if j := i - n + len(b); j >= 0 {
			db = b[j]
		}
		switch {
		case da == db || db == 1:
			out[i] = da
		case da == 1:
			out[i] = db
		default:
			return nil, false
		}
	}
	return out, true
}

// refIndex is the flat index in a dense tensor of shape of the element
// that position idx of a broadcast result reads.
func refIndex(shape, idx []int) int {
	flat, lead := 0, len(idx)-len(shape)
	for i, d := range shape {
		v := idx[lead+i]
		if d == 1 {
			v = 0
		}
		flat = flat*d + v
	}
	return flat
}

// eachIndex calls fn with every multi-index of shape in row-major order.
func eachIndex(shape []int, fn func(idx []int)) {
	if device.Numel(shape) == 0 {
		return
	}
	idx := make([]int, len(shape))
	for {
		fn(idx)
		i := len(shape) - 1
		for ; i >= 0; i-- {
			if idx[i]++; idx[i] < shape[i] {
				break
			}
			idx[i] = 0
		}
		if i < 0 {
			return
		}
	}
}

// arange returns 0, 1, ... in the given shape on the CPU, scaled.
func arange(shape []int, scale float32) (*tensor.Tensor, []float32) {
	vals := make([]float32, device.Numel(shape))
	for i := range vals {
		vals[i] = float32(i) * scale
	}
	return tensor.New(device.CPU(), vals, shape...), vals
}

func FuzzBroadcast(f *testing.F) {
	f.Add([]byte{3, 1}, []byte{4})
	f.Add([]byte{2, 3}, []byte{3, 2})
	f.Add([]byte{0, 1}, []byte{1, 4})
	f.Add([]byte{}, []byte{2, 2, 2})
	f.Add([]byte{1, 4, 1, 2}, []byte{3, 1, 1})
	f.Fuzz(func(t *testing.T, ab, bb []byte) {
		a, b := fuzzShape(ab), fuzzShape(bb)
		want, ok := refBroadcast(a, b)
		var got []int
		err := tensor.Maybe(func() { got = tensor.BroadcastShapes("Fuzz", a, b) })
		if ok != (err == nil) {
			t.Fatalf("BroadcastShapes(%v, %v): error %v, want ok=%v", a, b, err, ok)
		}
		if !ok {
			return
		}
		if !slices.Equal(got, want) {
			t.Fatalf("BroadcastShapes(%v, %v) = %v, want %v", a, b, got, want)
		}
		x, xv := arange(a, 1)
		y, yv := arange(b, 1000)
		sum, err := x.Add(y).Data()
		if err != nil {
			t.Fatalf("%v + %v: %v", a, b, err)
		}
		i := 0
		eachIndex(want, func(idx []int) {
			if w := xv[refIndex(a, idx)] + yv[refIndex(b, idx)]; sum[i] != w {
				t.Fatalf("%v + %v: element %v = %v, want %v", a, b, idx, sum[i], w)
			}
			i++
		})
	})
}

// refTensor is a dense row-major model of a tensor's shape and values.
type refTensor struct {
	shape []int
	vals  []float32
}

// gather returns the dense tensor of the given shape whose element idx is
// element from(idx) of r.
func (r refTensor) gather(shape []int, from func(idx []int) []int) refTensor {
	out := refTensor{shape: shape, vals: make([]float32, 0, device.Numel(shape))}
	strides := make([]int, len(r.shape))
	for i, s := len(r.shape)-1, 1; i >= 0; i-- {
		strides[i], s = s, s*r.shape[i]
	}
	eachIndex(shape, func(idx []int) {
		flat := 0
		for i, v := range from(idx) {
			flat += v * strides[i]
		}
		out.vals = append(out.vals, r.vals[flat])
	})
	return out
}

// axisOK normalises axis a of rank dimensions.
func axisOK(a, rank int) (int, bool) {
	if a < -rank || a >= rank {
		return 0, false
	}
	if a < 0 {
		a += rank
	}
	return a, true
}

// viewOp is one fuzzed view operation: its name, the tensor call, and the
// reference result (ok false when the arguments are invalid).
type viewOp struct {
	name  string
	apply func(t *tensor.Tensor) *tensor.Tensor
	ref   func(r refTensor) (refTensor, bool)
}

// decodeViewOp turns four bytes into a view operation on a tensor of the
// given shape.
func decodeViewOp(b [4]byte, shape []int) viewOp {
	rank := len(shape)
	s1, s2, s3 := int(int8(b[1]))%7, int(int8(b[2]))%7, int(int8(b[3]))%7
	switch b[0] % 9 {
	case 0: // Reshape, to a random shape or to [-1, d]
		var to []int
		if b[1]%2 == 0 {
			to = []int{-1, int(b[2]%4) + 1}
		} else {
			to = fuzzShape(b[2:])
		}
		return viewOp{fmt.Sprintf("Reshape%v", to), func(t *tensor.Tensor) *tensor.Tensor { return t.Reshape(to...) },
			func(r refTensor) (refTensor, bool) {
				n, shape := len(r.vals), slices.Clone(to)
				if shape[0] == -1 {
					if n%shape[1] != 0 {
						return r, false
					}
					shape[0] = n / shape[1]
				}
				if device.Numel(shape) != n {
					return r, false
				}
				return refTensor{shape, r.vals}, true
			}}
	case 1: // Transpose
		return viewOp{fmt.Sprintf("Transpose(%d, %d)", s1, s2), func(t *tensor.Tensor) *tensor.Tensor { return t.Transpose(s1, s2) },
			func(r refTensor) (refTensor, bool) {
				a, okA := axisOK(s1, rank)
				c, okC := axisOK(s2, rank)
				if !okA || !okC {
					return r, false
				}
				shape := slices.Clone(r.shape)
				shape[a], shape[c] = shape[c], shape[a]
				return r.gather(shape, func(idx []int) []int {
					src := slices.Clone(idx)
					src[a], src[c] = src[c], src[a]
					return src
				}), true
			}}
	case 2: // Narrow
		start, length := int(b[2]%6)-1, int(b[3]%6)-1
		return viewOp{fmt.Sprintf("Narrow(%d, %d, %d)", s1, start, length), func(t *tensor.Tensor) *tensor.Tensor { return t.Narrow(s1, start, length) },
			func(r refTensor) (refTensor, bool) {
				a, ok := axisOK(s1, rank)
				if !ok || start < 0 || length < 0 || start+length > r.shape[a] {
					return r, false
				}
				shape := slices.Clone(r.shape)
				shape[a] = length
				return r.gather(shape, func(idx []int) []int {
					src := slices.Clone(idx)
					src[a] += start
					return src
				}), true
			}}
	case 3: // Slice, with Python's clipping
		return viewOp{fmt.Sprintf("Slice(%d, %d, %d)", s1, s2, s3), func(t *tensor.Tensor) *tensor.Tensor { return t.Slice(s1, s2, s3) },
			func(r refTensor) (refTensor, bool) {
				a, ok := axisOK(s1, rank)
				if !ok {
					return r, false
				}
				n := r.shape[a]
				clip := func(i int) int {
					if i < 0 {
						i += n
					}
					return min(max(i, 0), n)
				}
				lo, hi := clip(s2), clip(s3)
				shape := slices.Clone(r.shape)
				shape[a] = max(hi-lo, 0)
				return r.gather(shape, func(idx []int) []int {
					src := slices.Clone(idx)
					src[a] += lo
					return src
				}), true
			}}
	case 4: // Select
		return viewOp{fmt.Sprintf("Select(%d, %d)", s1, s2), func(t *tensor.Tensor) *tensor.Tensor { return t.Select(s1, s2) },
			func(r refTensor) (refTensor, bool) {
				a, ok := axisOK(s1, rank)
				if !ok || s2 < -r.shape[a] || s2 >= r.shape[a] {
					return r, false
				}
				i := s2
				if i < 0 {
					i += r.shape[a]
				}
				return r.gather(slices.Delete(slices.Clone(r.shape), a, a+1), func(idx []int) []int {
					return slices.Insert(slices.Clone(idx), a, i)
				}), true
			}}
	case 5: // Unsqueeze
		return viewOp{fmt.Sprintf("Unsqueeze(%d)", s1), func(t *tensor.Tensor) *tensor.Tensor { return t.Unsqueeze(s1) },
			func(r refTensor) (refTensor, bool) {
				a, ok := axisOK(s1, rank+1)
				if !ok {
					return r, false
				}
				return refTensor{slices.Insert(slices.Clone(r.shape), a, 1), r.vals}, true
			}}
	case 6: // Squeeze one axis, or all of length 1
		if b[2]%2 == 0 {
			return viewOp{"Squeeze()", func(t *tensor.Tensor) *tensor.Tensor { return t.Squeeze() },
				func(r refTensor) (refTensor, bool) {
					return refTensor{slices.DeleteFunc(slices.Clone(r.shape), func(d int) bool { return d == 1 }), r.vals}, true
				}}
		}
		return viewOp{fmt.Sprintf("Squeeze(%d)", s1), func(t *tensor.Tensor) *tensor.Tensor { return t.Squeeze(s1) },
			func(r refTensor) (refTensor, bool) {
				a, ok := axisOK(s1, rank)
				if !ok || r.shape[a] != 1 {
					return r, false
				}
				return refTensor{slices.Delete(slices.Clone(r.shape), a, a+1), r.vals}, true
			}}
	case 7: // Expand: grow axes of length 1, maybe add a leading axis, maybe break the rules
		to := slices.Clone(shape)
		for i, d := range to {
			if d == 1 {
				to[i] = int(b[1]>>uint(i%8)&1) + int(b[2]%3)
			}
		}
		if b[3]%3 == 0 {
			to = append([]int{int(b[3]%4) + 1}, to...)
		}
		if b[3]%5 == 1 && len(to) > 0 {
			to[len(to)-1] = -1 // keep the last axis
		}
		if b[3]%7 == 2 && len(to) > 0 {
			to[0] += 2 // usually invalid
		}
		return viewOp{fmt.Sprintf("Expand%v", to), func(t *tensor.Tensor) *tensor.Tensor { return t.Expand(to...) },
			func(r refTensor) (refTensor, bool) {
				lead := len(to) - rank
				out := slices.Clone(to)
				for i := range to {
					if i < lead {
						if to[i] < 0 {
							return r, false
						}
						continue
					}
					d := r.shape[i-lead]
					switch {
					case to[i] == -1 || to[i] == d:
						out[i] = d
					case d == 1 && to[i] >= 0:
					default:
						return r, false
					}
				}
				return r.gather(out, func(idx []int) []int {
					src := slices.Clone(idx[lead:])
					for i, d := range r.shape {
						if d == 1 {
							src[i] = 0
						}
					}
					return src
				}), true
			}}
	default: // Permute, possibly with a repeated axis
		perm := make([]int, rank)
		for i := range perm {
			perm[i] = i
		}
		for i := rank - 1; i > 0; i-- {
			j := int(b[1]+b[2]*byte(i)) % (i + 1)
			perm[i], perm[j] = perm[j], perm[i]
		}
		if rank > 1 && b[3]%4 == 0 {
			perm[0] = perm[1]
		}
		return viewOp{fmt.Sprintf("Permute%v", perm), func(t *tensor.Tensor) *tensor.Tensor { return t.Permute(perm...) },
			func(r refTensor) (refTensor, bool) {
				seen := map[int]bool{}
				shape := make([]int, rank)
				for i, p := range perm {
					if seen[p] {
						return r, false
					}
					seen[p] = true
					shape[i] = r.shape[p]
				}
				return r.gather(shape, func(idx []int) []int {
					src := make([]int, rank)
					for i, p := range perm {
						src[p] = idx[i]
					}
					return src
				}), true
			}}
	}
}

func FuzzViews(f *testing.F) {
	f.Add([]byte{2, 3, 4}, []byte{1, 0, 2, 0, 2, 1, 1, 2, 4, 0, 1, 0})
	f.Add([]byte{1, 3}, []byte{7, 255, 3, 0, 0, 0, 2, 0, 8, 1, 2, 0})
	f.Add([]byte{4, 1, 2}, []byte{6, 0, 0, 0, 5, 0, 0, 0, 3, 2, 255, 254, 0, 1, 1, 0})
	f.Add([]byte{0, 3}, []byte{0, 0, 3, 0, 7, 1, 1, 3, 4, 1, 2, 0})
	f.Fuzz(func(t *testing.T, shapeBytes, ops []byte) {
		shape := fuzzShape(shapeBytes)
		x, vals := arange(shape, 1)
		ref := refTensor{shape, vals}
		var trail []string
		for len(ops) >= 4 {
			op := decodeViewOp([4]byte(ops[:4]), ref.shape)
			ops = ops[4:]
			want, ok := op.ref(ref)
			if ok && (len(want.vals) > 4096 || len(want.shape) > 6) {
				continue // keep the cases small
			}
			trail = append(trail, op.name)
			var got *tensor.Tensor
			err := tensor.Maybe(func() { got = op.apply(x) })
			if ok != (err == nil) {
				t.Fatalf("%v on %v: error %v, want ok=%v", trail, shape, err, ok)
			}
			if !ok {
				trail = trail[:len(trail)-1]
				continue
			}
			if !slices.Equal(got.Shape(), want.shape) {
				t.Fatalf("%v on %v: shape %v, want %v", trail, shape, got.Shape(), want.shape)
			}
			data, err := got.Contiguous().Data()
			if err != nil {
				t.Fatalf("%v on %v: %v", trail, shape, err)
			}
			if !slices.Equal(data, want.vals) {
				t.Fatalf("%v on %v: values %v, want %v", trail, shape, data, want.vals)
			}
			x, ref = got, want
		}
	})
}
