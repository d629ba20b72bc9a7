package data

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// seqMemory returns n examples whose input [2] is (10i, 10i+1) and whose
// target is the class i%3.
func seqMemory(t testing.TB, n int) *Memory {
	t.Helper()
	in := make([]float32, 0, 2*n)
	tg := make([]float32, 0, n)
	for i := range n {
		in = append(in, float32(10*i), float32(10*i+1))
		tg = append(tg, float32(i%3))
	}
	m, err := NewMemory(in, tg, []int{2}, []int{})
	require.NoError(t, err)
	return m
}

func TestNewMemory(t *testing.T) {
	cases := []struct {
		name            string
		inputs, targets []float32
		inDims, tgDims  []int
		wantLen         int
		wantErr         string
	}{
		{"labels", make([]float32, 12), make([]float32, 3), []int{2, 2}, []int{}, 3, ""},
		{"sequences", make([]float32, 6), make([]float32, 12), []int{3}, []int{6}, 2, ""},
		{"empty", nil, nil, []int{1, 28, 28}, []int{}, 0, ""},
		{"ragged inputs", make([]float32, 7), make([]float32, 3), []int{2}, []int{}, 0,
			"data: NewMemory: 7 input values are not a whole number of inputs of shape [2] (2 values each)"},
		{"ragged targets", make([]float32, 4), make([]float32, 3), []int{2}, []int{2}, 0,
			"data: NewMemory: 3 target values are not a whole number of targets of shape [2] (2 values each)"},
		{"count mismatch", make([]float32, 4), make([]float32, 3), []int{2}, []int{}, 0,
			"data: NewMemory: 2 inputs of shape [2] but 3 targets of shape []"},
		{"negative dim", nil, nil, []int{-1}, []int{}, 0, "data: NewMemory: negative dimension in shape [-1]"},
		{"zero-size input", make([]float32, 2), make([]float32, 2), []int{0}, []int{}, 0,
			"data: NewMemory: an input of shape [0] and a target of shape [] hold no elements, but 2 inputs and 2 targets were given"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m, err := NewMemory(c.inputs, c.targets, c.inDims, c.tgDims)
			if c.wantErr != "" {
				assert.EqualError(t, err, c.wantErr)
				assert.Nil(t, m)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, c.wantLen, m.Len())
			assert.Equal(t, c.inDims, m.InputShape())
			assert.Equal(t, c.tgDims, m.TargetShape())
		})
	}
}

func TestMemorySample(t *testing.T) {
	m := seqMemory(t, 5)
	in, tg := make([]float32, 2), make([]float32, 1)
	m.Sample(3, in, tg)
	assert.Equal(t, []float32{30, 31}, in)
	assert.Equal(t, []float32{0}, tg)

	// The shapes returned are copies.
	m.InputShape()[0] = 99
	assert.Equal(t, []int{2}, m.InputDims)

	assert.PanicsWithValue(t, "data: Memory.Sample: index 5 out of range [0, 5)", func() { m.Sample(5, in, tg) })
	assert.PanicsWithValue(t, "data: Memory.Sample: index -1 out of range [0, 5)", func() { m.Sample(-1, in, tg) })
	assert.PanicsWithValue(t, "data: Memory.Sample: got slices of 3 and 1 values for an input of shape [2] and a target of shape []",
		func() { m.Sample(0, make([]float32, 3), tg) })
}

func TestMemorySubset(t *testing.T) {
	m := seqMemory(t, 6)
	cases := []struct {
		name    string
		indices []int
		inputs  []float32
		targets []float32
	}{
		{"some", []int{4, 1}, []float32{40, 41, 10, 11}, []float32{1, 1}},
		{"repeat", []int{2, 2}, []float32{20, 21, 20, 21}, []float32{2, 2}},
		{"none", []int{}, []float32{}, []float32{}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := m.Subset(c.indices)
			assert.Equal(t, len(c.indices), s.Len())
			assert.Equal(t, c.inputs, s.Inputs)
			assert.Equal(t, c.targets, s.Targets)
			assert.Equal(t, []int{2}, s.InputDims)
			assert.Equal(t, []int{}, s.TargetDims)
		})
	}
	// A subset is a copy.
	s := m.Subset([]int{0})
	s.Inputs[0] = -1
	assert.Equal(t, float32(0), m.Inputs[0])

	assert.PanicsWithValue(t, "data: Memory.Subset: index 6 out of range [0, 6)", func() { m.Subset([]int{0, 6}) })
}

func TestMemoryFilter(t *testing.T) {
	m := seqMemory(t, 7) // targets 0 1 2 0 1 2 0
	cases := []struct {
		name    string
		keep    func([]float32) bool
		inputs  []float32
		targets []float32
	}{
		{"zeros and ones", func(tg []float32) bool { return tg[0] < 2 }, []float32{0, 1, 10, 11, 30, 31, 40, 41, 60, 61}, []float32{0, 1, 0, 1, 0}},
		{"twos", func(tg []float32) bool { return tg[0] == 2 }, []float32{20, 21, 50, 51}, []float32{2, 2}},
		{"nothing", func([]float32) bool { return false }, []float32{}, []float32{}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := m.Filter(c.keep)
			assert.Equal(t, len(c.targets), f.Len())
			assert.Equal(t, c.inputs, f.Inputs)
			assert.Equal(t, c.targets, f.Targets)
		})
	}
}
