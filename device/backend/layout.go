package backend

// MaxRank is the largest number of dimensions a View may have after its
// dimensions have been coalesced (see Coalesce). Tensors may have more
// dimensions, as long as they coalesce to at most MaxRank.
const MaxRank = 8

// View is a strided window onto a buffer: element (i0, i1, ...) lives at
// Offset + i0*Strides[0] + i1*Strides[1] + ... Strides are in elements and
// never negative; a stride of 0 repeats (broadcasts) a dimension.
type View struct {
	Buf     Buffer
	Shape   []int
	Strides []int
	Offset  int
}

// Dense returns the view of a whole buffer as a row-major array of the given
// shape.
func Dense(b Buffer, shape ...int) View {
	return View{Buf: b, Shape: shape, Strides: ContiguousStrides(shape)}
}

// Numel returns the number of elements the view covers.
func (v View) Numel() int { return Numel(v.Shape) }

// IsContiguous reports whether the view's elements are laid out densely in
// row-major order (its offset may be non-zero).
func (v View) IsContiguous() bool {
	want := 1
	for d := len(v.Shape) - 1; d >= 0; d-- {
		if v.Shape[d] != 1 && v.Strides[d] != want {
			return false
		}
		want *= v.Shape[d]
	}
	return true
}

// Numel returns the product of the dimensions of shape (1 for a scalar).
func Numel(shape []int) int {
	n := 1
	for _, d := range shape {
		n *= d
	}
	return n
}

// ContiguousStrides returns the row-major strides of shape.
func ContiguousStrides(shape []int) []int {
	s := make([]int, len(shape))
	acc := 1
	for d := len(shape) - 1; d >= 0; d-- {
		s[d] = acc
		acc *= shape[d]
	}
	return s
}

// Coalesce merges adjacent dimensions that every view traverses as one: it
// drops dimensions of size 1 and joins dimension d with d+1 when, for every
// view, stride[d] == stride[d+1]*shape[d+1]. All views must have the same
// shape. It returns the merged shape and one stride list per view; the
// element order is unchanged, so a dense output of the original shape is a
// dense output of the merged shape.
func Coalesce(shape []int, strides ...[]int) ([]int, [][]int) {
	outShape := make([]int, 0, len(shape))
	outStrides := make([][]int, len(strides))
	for i := range strides {
		outStrides[i] = make([]int, 0, len(shape))
	}
	for d, n := range shape {
		if n == 1 {
			continue
		}
		last := len(outShape) - 1
		merge := last >= 0
		for i := range strides {
			if merge && outStrides[i][last] != strides[i][d]*n {
				merge = false
			}
		}
		if merge {
			outShape[last] *= n
			for i := range strides {
				outStrides[i][last] = strides[i][d]
			}
			continue
		}
		outShape = append(outShape, n)
		for i := range strides {
			outStrides[i] = append(outStrides[i], strides[i][d])
		}
	}
	return outShape, outStrides
}
