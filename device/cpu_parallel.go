package device

import (
	"runtime"
	"sync"
	"sync/atomic"
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
	return min(runtime.GOMAXPROCS(0), n, work/cpuGrain)
}

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
// ranges and calls body(c, lo, hi) for chunk c on its own goroutine. Chunk
// boundaries depend only on n and chunks, so per-chunk partial results can be
// combined deterministically.
func cpuParallelChunks(n, chunks int, body func(c, lo, hi int)) {
	if n <= 0 {
		return
	}
	chunks = max(min(chunks, n), 1)
	if chunks == 1 {
		body(0, 0, n)
		return
	}
	var wg sync.WaitGroup
	for c := 1; c < chunks; c++ {
		wg.Go(func() { body(c, n*c/chunks, n*(c+1)/chunks) })
	}
	body(0, 0, n/chunks)
	wg.Wait()
}

// cpuTasks runs task(worker, i) for every i in [0, n), handing tasks out
// one at a time to min(workers, n) goroutines, which suits tasks of uneven
// cost. worker is in [0, workers).
func cpuTasks(n, workers int, task func(worker, i int)) {
	workers = min(workers, n)
	if workers <= 1 {
		for i := range n {
			task(0, i)
		}
		return
	}
	var next atomic.Int64
	run := func(w int) {
		for {
			i := int(next.Add(1) - 1)
			if i >= n {
				return
			}
			task(w, i)
		}
	}
	var wg sync.WaitGroup
	for w := 1; w < workers; w++ {
		wg.Go(func() { run(w) })
	}
	run(0)
	wg.Wait()
}
