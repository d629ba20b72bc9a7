package cpu

import (
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// cpuGrain is the number of elementary operations below which a loop
// stays on the calling goroutine: smaller loops don't pay for the goroutines.
const cpuGrain = 32 << 10

// cpuChunks returns how many chunks a loop of n items costing about
// cost operations each should be split into: 1 for small loops, at most
// runtime.GOMAXPROCS(0).
func cpuChunks(n, cost int) int {
	work := n * max(cost, 1)
	if n < 2 || work < 2*cpuGrain {
		return 1
	}
	return min(cpuMaxProcs(), n, work/cpuGrain)
}

// cpuMaxProcs returns runtime.GOMAXPROCS(0), asked again every 128th
// call: asking takes the scheduler's lock, which small parallel loops
// contended for.
func cpuMaxProcs() int {
	if cpuProcs.calls.Add(1)%128 != 1 {
		if n := cpuProcs.n.Load(); n > 0 {
			return int(n)
		}
	}
	n := runtime.GOMAXPROCS(0)
	cpuProcs.n.Store(int64(n))
	return n
}

// cpuProcs caches cpuMaxProcs' answer.
var cpuProcs struct{ n, calls atomic.Int64 }

// cpuParallel calls body on consecutive ranges [lo, hi) that cover [0, n),
// concurrently when the n items, costing about cost operations each, are
// worth splitting. It returns when every call has returned.
func cpuParallel(n, cost int, body func(lo, hi int)) {
	cpuParallelChunks(n, cpuChunks(n, cost), func(_, lo, hi int) { body(lo, hi) })
}

// cpuRange is cpuParallel that calls body directly, without allocating,
// when the loop is too small to split.
func cpuRange(n, cost int, body func(lo, hi int)) {
	if cpuChunks(n, cost) == 1 {
		body(0, n)
		return
	}
	cpuParallel(n, cost, body)
}

// cpuParallelChunks splits [0, n) into the given number of consecutive
// ranges and calls body(c, lo, hi) for chunk c, chunk 0 on the calling
// goroutine and the others on the CPU workers. Chunk boundaries depend only
// on n and chunks, so per-chunk partial results can be combined
// deterministically.
func cpuParallelChunks(n, chunks int, body func(c, lo, hi int)) {
	if n <= 0 {
		return
	}
	chunks = max(min(chunks, n), 1)
	if chunks == 1 {
		body(0, 0, n)
		return
	}
	cpuFork(chunks-1, func(i int) { c := i + 1; body(c, n*c/chunks, n*(c+1)/chunks) }, func() { body(0, 0, n/chunks) })
}

// cpuTasks runs task(worker, i) for every i in [0, n) on min(workers, n)
// goroutines. Worker w takes the tasks of its share, the w-th of workers
// consecutive ranges, in order, and then helps with what is left of the
// others' (from their ends), which suits tasks of uneven cost. worker is
// in [0, workers).
//
// Consecutive shares keep each core on the same part of its data from one
// op to the next: the first half of an image's columns, say, which the
// first core wrote and still holds in its caches, where handing tasks out
// one at a time interleaved the cores' parts and made every op read half
// its input from the other core's (MobileNetV2's depthwise layer after its
// expansion took twice as long as after a copy made by halves).
func cpuTasks(n, workers int, task func(worker, i int)) {
	workers = min(workers, n)
	if workers <= 1 {
		for i := range n {
			task(0, i)
		}
		return
	}
	// Share w is [lo, hi): its owner takes from lo up, helpers from hi
	// down, until they meet; both ends are one word, so that a take is one
	// compare-and-swap.
	shares := make([]cpuShare, workers)
	for w := range shares {
		shares[w].rest.Store(cpuPackRange(n*w/workers, n*(w+1)/workers))
	}
	run := func(w int) {
		// Its own share first, then the others' from their ends.
		for d := range workers {
			share := &shares[(w+d)%workers]
			for {
				i, ok := share.take(d > 0)
				if !ok {
					break
				}
				task(w, i)
			}
		}
	}
	cpuFork(workers-1, func(i int) { run(i + 1) }, func() { run(0) })
}

// cpuShare is one worker's share of cpuTasks: the range of tasks not yet
// taken, packed by cpuPackRange.
type cpuShare struct {
	rest atomic.Uint64
	_    [56]byte // a cache line of its own
}

// cpuPackRange packs [lo, hi) into one word.
func cpuPackRange(lo, hi int) uint64 { return uint64(lo)<<32 | uint64(hi) }

// take takes the first task of the share, or with last its last one.
func (s *cpuShare) take(last bool) (int, bool) {
	for {
		r := s.rest.Load()
		lo, hi := int(r>>32), int(uint32(r))
		if lo >= hi {
			return 0, false
		}
		i, next := lo, cpuPackRange(lo+1, hi)
		if last {
			i, next = hi-1, cpuPackRange(lo, hi-1)
		}
		if s.rest.CompareAndSwap(r, next) {
			return i, true
		}
	}
}

// cpuFork runs f(0) ... f(k-1) on the CPU workers and main on the calling
// goroutine, and returns when all have returned. A call that finds no idle
// worker (all are busy, for example with the loop that made this call)
// runs on the calling goroutine after main.
func cpuFork(k int, f func(i int), main func()) {
	var pending atomic.Int64
	pending.Store(int64(k))
	done := make(chan struct{})
	finish := func() {
		if pending.Add(-1) == 0 {
			close(done)
		}
	}
	var inline []int
	for i := range k {
		if !cpuWorkers.try(func() { f(i); finish() }) {
			inline = append(inline, i)
		}
	}
	main()
	for _, i := range inline {
		f(i)
		finish()
	}
	// The workers usually finish within microseconds of main: wait for
	// them by polling before parking, which would add a wake-up.
	if !cpuPoll(func() bool { return pending.Load() == 0 }) {
		<-done
	}
}

// cpuPoll polls ready, yielding the processor only now and then, until it
// reports true or cpuPollTime has passed, and reports whether it did.
// Waking a parked goroutine takes tens of microseconds in a virtual
// machine, as long as a whole softmax of 256 rows: a worker that polls is
// there for the next op of a training step, or the next node of a model
// whose previous one ended with work on one core. Yielding at every poll,
// as this did, took the scheduler's lock each time: a tenth of an RNN
// step's time went to that lock.
func cpuPoll(ready func() bool) bool {
	var start time.Time
	for i := 1; ; i++ {
		if ready() {
			return true
		}
		if i%cpuPollYield != 0 {
			continue
		}
		if start.IsZero() {
			start = time.Now()
		} else if time.Since(start) > cpuPollTime {
			return false
		}
		runtime.Gosched()
	}
}

const (
	// cpuPollTime is how long an idle goroutine polls before it parks:
	// 300 µs rather than 50 made ResNet-18 and MobileNetV2 5–15% faster
	// (ONNX Runtime's and OpenMP's threads spin too before they sleep).
	cpuPollTime = 300 * time.Microsecond
	// cpuPollYield is how many polls go between two yields.
	cpuPollYield = 64
)

// cpuWorker is a goroutine that runs the chunks of parallel loops.
type cpuWorker struct {
	busy  atomic.Bool
	tasks chan func()
}

// cpuWorkerPool is one worker per core beyond the first.
type cpuWorkerPool struct {
	once    sync.Once
	workers []*cpuWorker
}

// cpuWorkers runs the chunks of every parallel loop of the CPU device.
var cpuWorkers cpuWorkerPool

// try hands f to an idle worker, reporting false when none is idle.
func (p *cpuWorkerPool) try(f func()) bool {
	p.once.Do(func() {
		for range runtime.GOMAXPROCS(0) - 1 {
			w := &cpuWorker{tasks: make(chan func(), 1)}
			p.workers = append(p.workers, w)
			go w.loop()
		}
	})
	for _, w := range p.workers {
		if w.busy.CompareAndSwap(false, true) {
			w.tasks <- f
			return true
		}
	}
	return false
}

// loop runs the tasks handed to w, polling for the next one for a while
// before it parks.
func (w *cpuWorker) loop() {
	for {
		// len is a hint read without the channel's lock; the receive
		// below takes the task.
		cpuPoll(func() bool { return len(w.tasks) > 0 })
		f := <-w.tasks
		f()
		w.busy.Store(false)
	}
}
