package autograd

import (
	"sync"
	"sync/atomic"

	"github.com/wgtensor/wgtensor/tensor"
)

// autocasts tracks the goroutines inside Autocast and the type of each
// one's innermost scope, as scopes does for NoGrad.
type autocasts struct {
	open atomic.Int64
	mu   sync.Mutex
	by   map[uint64][]tensor.DType
}

var autocast autocasts

// Autocast runs f with the calling goroutine's matrix products and
// convolutions computed in dt (Float16 or BFloat16), as torch.autocast
// does for a thread: their float operands are converted to dt (a
// conversion that gradients flow back through, so float32 parameters get
// float32 gradients), while softmax, log-softmax, sums and means (and so
// the losses and normalisations built on them) convert 16-bit operands to
// float32. Other ops run in their operands' type, which PyTorch's type
// promotion makes float32 where a 16-bit product meets a float32 tensor.
// Autocast(Float32, f) turns autocasting off inside f. Other goroutines,
// and goroutines that f starts, are not covered. Scale the loss with a
// GradScaler when dt is Float16, whose small range loses gradients.
func Autocast(dt tensor.DType, f func()) {
	if !dt.IsFloat() {
		panicf("Autocast", "%v is not a float type", dt)
	}
	id := goroutineID()
	autocast.mu.Lock()
	if autocast.by == nil {
		autocast.by = map[uint64][]tensor.DType{}
	}
	autocast.by[id] = append(autocast.by[id], dt)
	autocast.mu.Unlock()
	autocast.open.Add(1)
	defer func() {
		autocast.open.Add(-1)
		autocast.mu.Lock()
		if s := autocast.by[id]; len(s) > 1 {
			autocast.by[id] = s[:len(s)-1]
		} else {
			delete(autocast.by, id)
		}
		autocast.mu.Unlock()
	}()
	f()
}

// autocastType returns the type of the calling goroutine's innermost
// Autocast scope, or Float32 outside any.
func autocastType() tensor.DType {
	if autocast.open.Load() == 0 {
		return tensor.Float32
	}
	id := goroutineID()
	autocast.mu.Lock()
	defer autocast.mu.Unlock()
	if s := autocast.by[id]; len(s) > 0 {
		return s[len(s)-1]
	}
	return tensor.Float32
}

// lowered returns vs converted to the Autocast type for a product or a
// convolution: float operands of another type are converted.
func lowered(vs ...*Var) []*Var {
	dt := autocastType()
	if dt == tensor.Float32 {
		return vs
	}
	out := make([]*Var, len(vs))
	for i, v := range vs {
		out[i] = v
		if v != nil && v.val.DType().IsFloat() {
			out[i] = v.AsType(dt)
		}
	}
	return out
}

// widened returns v as float32 inside Autocast when it is a 16-bit float,
// for the ops that Autocast runs in float32.
func widened(v *Var) *Var {
	if !v.val.DType().IsHalf() || autocastType() == tensor.Float32 {
		return v
	}
	return v.AsType(tensor.Float32)
}
