package autograd

import (
	"bytes"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
)

// noGrad tracks the goroutines inside NoGrad. Go has no goroutine-local
// storage, so scopes are keyed by goroutine id; the common case, no scope
// open anywhere, costs one atomic load per op.
var noGrad struct {
	open atomic.Int64 // scopes open in the whole process
	mu   sync.Mutex
	by   map[uint64]int // open scopes per goroutine
}

// NoGrad runs f without recording any op for differentiation in the calling
// goroutine (as torch.no_grad does for a thread): results of ops inside f
// never require a gradient. Other goroutines keep recording, and goroutines
// that f starts are not covered.
func NoGrad(f func()) {
	id := goroutineID()
	noGrad.mu.Lock()
	if noGrad.by == nil {
		noGrad.by = map[uint64]int{}
	}
	noGrad.by[id]++
	noGrad.mu.Unlock()
	noGrad.open.Add(1)
	defer func() {
		noGrad.open.Add(-1)
		noGrad.mu.Lock()
		if noGrad.by[id]--; noGrad.by[id] == 0 {
			delete(noGrad.by, id)
		}
		noGrad.mu.Unlock()
	}()
	f()
}

// gradEnabled reports whether ops in the calling goroutine are recorded.
func gradEnabled() bool {
	if noGrad.open.Load() == 0 {
		return true
	}
	id := goroutineID()
	noGrad.mu.Lock()
	defer noGrad.mu.Unlock()
	return noGrad.by[id] == 0
}

// goroutineID parses the calling goroutine's id from its stack header,
// "goroutine 123 [running]:".
func goroutineID() uint64 {
	var buf [64]byte
	b := buf[:runtime.Stack(buf[:], false)]
	b = bytes.TrimPrefix(b, []byte("goroutine "))
	if i := bytes.IndexByte(b, ' '); i > 0 {
		b = b[:i]
	}
	id, _ := strconv.ParseUint(string(b), 10, 64)
	return id
}
