package onnx

import "testing"

// TestValueShapedOpsExist: every operator that valueShaped lists is one
// the package registers, and its listed inputs are within what it takes,
// so that a misspelt name cannot leave a value-shaped op treated as one
// whose shapes follow from its inputs' shapes.
func TestValueShapedOpsExist(t *testing.T) {
	for op, inputs := range valueShaped {
		if _, ok := ops[op]; !ok {
			t.Errorf("valueShaped lists %q, which is not registered", op)
		}
		for _, i := range inputs {
			if i < 0 || i > 4 {
				t.Errorf("valueShaped: %s input %d", op, i)
			}
		}
	}
}
