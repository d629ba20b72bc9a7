package data

import (
	"fmt"
	"slices"
)

// Dataset is a fixed, indexable collection of examples, each an input and a
// target of fixed shapes, as a Loader reads it.
//
// A Loader calls Sample from one goroutine at a time, but with Prefetch set
// not from the goroutine that ranges over its batches; a Dataset must not
// change while a Loader reads it.
type Dataset interface {
	// Len is the number of examples.
	Len() int
	// InputShape is the shape of one example's input, e.g. [1 28 28].
	InputShape() []int
	// TargetShape is the shape of one example's target: [] for a class
	// label or a scalar, [T] for a sequence.
	TargetShape() []int
	// Sample writes example i, 0 <= i < Len(), into input and target,
	// which hold exactly the elements of InputShape and TargetShape.
	Sample(i int, input, target []float32)
}

// numel returns the number of elements of shape, 1 for [].
func numel(shape []int) int {
	n := 1
	for _, d := range shape {
		n *= d
	}
	return n
}

// Memory is a Dataset held in host memory: example i's input is
// Inputs[i*k : (i+1)*k] with k the number of elements of InputDims, and its
// target likewise in Targets. Class labels are stored as float32 values
// (a Loader turns them into int32 tensors).
//
// Build one with NewMemory, which checks that the pieces fit, or fill the
// fields directly.
type Memory struct {
	Inputs     []float32 // the inputs, one example after another
	Targets    []float32 // the targets, one example after another
	InputDims  []int     // shape of one input, e.g. [1 28 28]
	TargetDims []int     // shape of one target: [] for a class label
}

// NewMemory returns a Memory over inputs and targets (not copied), or an
// error when they do not hold the same number of examples of the given
// shapes.
func NewMemory(inputs, targets []float32, inputDims, targetDims []int) (*Memory, error) {
	for _, s := range [][]int{inputDims, targetDims} {
		for _, d := range s {
			if d < 0 {
				return nil, fmt.Errorf("data: NewMemory: negative dimension in shape %v", s)
			}
		}
	}
	in, tg := numel(inputDims), numel(targetDims)
	switch {
	case in == 0 || tg == 0:
		if len(inputs) != 0 || len(targets) != 0 {
			return nil, fmt.Errorf("data: NewMemory: an input of shape %v and a target of shape %v hold no elements, but %d inputs and %d targets were given", inputDims, targetDims, len(inputs), len(targets))
		}
	case len(inputs)%in != 0:
		return nil, fmt.Errorf("data: NewMemory: %d input values are not a whole number of inputs of shape %v (%d values each)", len(inputs), inputDims, in)
	case len(targets)%tg != 0:
		return nil, fmt.Errorf("data: NewMemory: %d target values are not a whole number of targets of shape %v (%d values each)", len(targets), targetDims, tg)
	case len(inputs)/in != len(targets)/tg:
		return nil, fmt.Errorf("data: NewMemory: %d inputs of shape %v but %d targets of shape %v", len(inputs)/in, inputDims, len(targets)/tg, targetDims)
	}
	return &Memory{Inputs: inputs, Targets: targets, InputDims: slices.Clone(inputDims), TargetDims: slices.Clone(targetDims)}, nil
}

// Len returns the number of examples.
func (m *Memory) Len() int {
	if in := numel(m.InputDims); in > 0 {
		return len(m.Inputs) / in
	}
	return 0
}

// InputShape returns a copy of InputDims.
func (m *Memory) InputShape() []int { return slices.Clone(m.InputDims) }

// TargetShape returns a copy of TargetDims.
func (m *Memory) TargetShape() []int { return slices.Clone(m.TargetDims) }

// Sample copies example i into input and target. It panics when i is out of
// range or a slice has the wrong length.
func (m *Memory) Sample(i int, input, target []float32) {
	in, tg := numel(m.InputDims), numel(m.TargetDims)
	if n := m.Len(); i < 0 || i >= n {
		panic(fmt.Sprintf("data: Memory.Sample: index %d out of range [0, %d)", i, n))
	}
	if len(input) != in || len(target) != tg {
		panic(fmt.Sprintf("data: Memory.Sample: got slices of %d and %d values for an input of shape %v and a target of shape %v",
			len(input), len(target), m.InputDims, m.TargetDims))
	}
	copy(input, m.Inputs[i*in:(i+1)*in])
	copy(target, m.Targets[i*tg:(i+1)*tg])
}

// Subset returns a new Memory holding copies of the examples at indices, in
// that order (an index may repeat). It panics when an index is out of range.
func (m *Memory) Subset(indices []int) *Memory {
	in, tg := numel(m.InputDims), numel(m.TargetDims)
	n := m.Len()
	out := &Memory{
		Inputs:     make([]float32, 0, len(indices)*in),
		Targets:    make([]float32, 0, len(indices)*tg),
		InputDims:  slices.Clone(m.InputDims),
		TargetDims: slices.Clone(m.TargetDims),
	}
	for _, i := range indices {
		if i < 0 || i >= n {
			panic(fmt.Sprintf("data: Memory.Subset: index %d out of range [0, %d)", i, n))
		}
		out.Inputs = append(out.Inputs, m.Inputs[i*in:(i+1)*in]...)
		out.Targets = append(out.Targets, m.Targets[i*tg:(i+1)*tg]...)
	}
	return out
}

// Filter returns a new Memory holding copies of the examples whose target
// keep accepts, in their original order; for MNIST, keeping targets 0 and 1
// gives a binary task. keep must not retain or modify its argument.
func (m *Memory) Filter(keep func(target []float32) bool) *Memory {
	tg := numel(m.TargetDims)
	var indices []int
	for i := range m.Len() {
		if keep(m.Targets[i*tg : (i+1)*tg : (i+1)*tg]) {
			indices = append(indices, i)
		}
	}
	return m.Subset(indices)
}
