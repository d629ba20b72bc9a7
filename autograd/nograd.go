package autograd

import (
	"bytes"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
)

// scopes tracks the goroutines inside a scope such as NoGrad. Go has no
// goroutine-local storage, so scopes are keyed by goroutine id; the common
// case, no scope open anywhere, costs one atomic load per op.
type scopes struct {
	open atomic.Int64 // scopes open in the whole process
	mu   sync.Mutex
	by   map[uint64]int // open scopes per goroutine
}

// run calls f inside a scope of the calling goroutine.
func (s *scopes) run(f func()) {
	id := goroutineID()
	s.mu.Lock()
	if s.by == nil {
		s.by = map[uint64]int{}
	}
	s.by[id]++
	s.mu.Unlock()
	s.open.Add(1)
	defer func() {
		s.open.Add(-1)
		s.mu.Lock()
		if s.by[id]--; s.by[id] == 0 {
			delete(s.by, id)
		}
		s.mu.Unlock()
	}()
	f()
}

// active reports whether the calling goroutine is inside a scope.
func (s *scopes) active() bool {
	if s.open.Load() == 0 {
		return false
	}
	id := goroutineID()
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.by[id] > 0
}

// noGrad holds the goroutines inside NoGrad.
var noGrad scopes

// NoGrad runs f without recording any op for differentiation in the calling
// goroutine (as torch.no_grad does for a thread): results of ops inside f
// never require a gradient. Other goroutines keep recording, and goroutines
// that f starts are not covered.
func NoGrad(f func()) { noGrad.run(f) }

// gradEnabled reports whether ops in the calling goroutine are recorded.
func gradEnabled() bool { return !noGrad.active() }

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
