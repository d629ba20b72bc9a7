package run

import (
	"github.com/wgtensor/wgtensor/autograd"
	"github.com/wgtensor/wgtensor/data"
	"github.com/wgtensor/wgtensor/tensor"
)

// Accuracy runs hits, which counts the correct predictions of one batch as
// a one-element tensor, over every batch of the loader without recording
// gradients, and returns the fraction correct. The counts are summed on the
// device and read back once.
func Accuracy(loader *data.Loader, hits func(b data.Batch) *tensor.Tensor) (float64, error) {
	var correct *tensor.Tensor
	n := 0
	autograd.NoGrad(func() {
		for b := range loader.Batches(0) {
			correct = accumulate(correct, hits(b).Reshape())
			n += len(b.Indices)
		}
	})
	if n == 0 {
		return 0, nil
	}
	c, err := correct.Item()
	if err != nil {
		return 0, err
	}
	return float64(c) / float64(n), nil
}
