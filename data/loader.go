package data

import (
	"fmt"
	"iter"
	"math"
	"math/bits"
	"math/rand/v2"
	"slices"

	"github.com/wgtensor/wgtensor/device"
	"github.com/wgtensor/wgtensor/tensor"
)

// LoaderOptions configure a Loader. The zero value, but for BatchSize, is a
// loader that yields the examples in order as float32 inputs and int32
// targets.
type LoaderOptions struct {
	// BatchSize is the number of examples per batch; it must be at least 1.
	BatchSize int
	// Shuffle visits the examples in a random order each epoch.
	Shuffle bool
	// Seed chooses the shuffled order. The order of an epoch is a function
	// of Seed and the epoch number only, the same on every machine and Go
	// release.
	Seed uint64
	// DropLast leaves out the last batch of an epoch when it is smaller than
	// BatchSize.
	DropLast bool
	// Prefetch is how many batches a background goroutine prepares ahead of
	// the consumer; 0 prepares each batch when it is asked for.
	Prefetch int
	// Mean and Std normalise the inputs: when Std is not 0, every input
	// value x becomes (x - Mean) / Std. Targets are never normalised.
	Mean, Std float64
	// TargetType is the element type of Batch.Target: tensor.Int32 (the
	// default when 0) for class labels, tensor.Float32 for regression or
	// binary cross-entropy targets. Float targets become int32 by
	// truncation toward zero.
	TargetType tensor.DType
}

// Batch is one batch of examples on the loader's device.
type Batch struct {
	Input   *tensor.Tensor // [B, InputShape...] float32
	Target  *tensor.Tensor // [B, TargetShape...] of LoaderOptions.TargetType
	Indices []int          // the dataset index of each of the B examples; the batch's own slice
}

// Loader cuts a Dataset into batches, shuffled or not, and uploads each to a
// device as tensors. Batches are assembled in host memory, in a background
// goroutine when Prefetch is set, and uploaded with tensor.New in the
// goroutine that ranges over Batches, so device work stays in the order the
// consumer issues it.
//
// A Loader is safe to use from several goroutines, but each iteration of
// Batches reads the dataset, so a Dataset that is not safe for concurrent
// reads should be iterated by one loop at a time.
type Loader struct {
	ds      Dataset
	dev     device.Device
	opt     LoaderOptions
	inShape []int // shape of one input
	tgShape []int // shape of one target
	inSize  int   // elements of one input
	tgSize  int   // elements of one target
}

// NewLoader returns a loader of ds onto dev. It panics, naming the option,
// when BatchSize is below 1, Prefetch is negative, TargetType is neither
// Int32 nor Float32, or Mean or Std is not finite.
func NewLoader(ds Dataset, dev device.Device, opt LoaderOptions) *Loader {
	if opt.TargetType == 0 {
		opt.TargetType = tensor.Int32
	}
	switch {
	case opt.BatchSize < 1:
		panic(fmt.Sprintf("data: NewLoader: BatchSize is %d; it must be at least 1", opt.BatchSize))
	case opt.Prefetch < 0:
		panic(fmt.Sprintf("data: NewLoader: Prefetch is %d; it must be 0 or more", opt.Prefetch))
	case opt.TargetType != tensor.Int32 && opt.TargetType != tensor.Float32:
		panic(fmt.Sprintf("data: NewLoader: TargetType is %v; it must be tensor.Int32 or tensor.Float32", opt.TargetType))
	case math.IsNaN(opt.Mean) || math.IsInf(opt.Mean, 0) || math.IsNaN(opt.Std) || math.IsInf(opt.Std, 0):
		panic(fmt.Sprintf("data: NewLoader: Mean %v and Std %v must be finite", opt.Mean, opt.Std))
	}
	l := &Loader{ds: ds, dev: dev, opt: opt, inShape: slices.Clone(ds.InputShape()), tgShape: slices.Clone(ds.TargetShape())}
	l.inSize, l.tgSize = numel(l.inShape), numel(l.tgShape)
	return l
}

// Len returns the number of batches in an epoch.
func (l *Loader) Len() int {
	n, b := l.ds.Len(), l.opt.BatchSize
	if l.opt.DropLast {
		return n / b
	}
	return (n + b - 1) / b
}

// Order returns the dataset indices in the order epoch visits them: 0 to
// Len()-1 without Shuffle, otherwise a permutation that depends only on
// Seed and epoch.
func (l *Loader) Order(epoch int) []int {
	n := l.ds.Len()
	order := make([]int, n)
	for i := range order {
		order[i] = i
	}
	if !l.opt.Shuffle {
		return order
	}
	// A PCG stream per (Seed, epoch), and a Fisher-Yates shuffle with
	// Lemire's bounded draws written out here, so that the order does not
	// depend on how math/rand/v2 implements Shuffle.
	rng := rand.NewPCG(l.opt.Seed, mix64(uint64(epoch)^0x6a09e667f3bcc909))
	for i := n - 1; i > 0; i-- {
		j := boundedRand(rng, uint64(i+1))
		order[i], order[j] = order[j], order[i]
	}
	return order
}

// mix64 is SplitMix64's finaliser: it spreads nearby inputs (epochs 0, 1,
// 2, ...) over unrelated 64-bit values.
func mix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// boundedRand returns a uniform value in [0, n) by Lemire's method.
func boundedRand(src *rand.PCG, n uint64) int {
	hi, lo := bits.Mul64(src.Uint64(), n)
	if lo < n {
		thresh := -n % n
		for lo < thresh {
			hi, lo = bits.Mul64(src.Uint64(), n)
		}
	}
	return int(hi)
}

// hostBatch is a batch assembled in host memory, before upload.
type hostBatch struct {
	input   []float32 // BatchSize×inSize values, the first len(indices)×inSize used
	target  []float32 // BatchSize×tgSize values
	targetI []int32   // the targets as int32, when TargetType is Int32
	indices []int
}

// newHostBatch allocates the host buffers of one batch.
func (l *Loader) newHostBatch() *hostBatch {
	b := l.opt.BatchSize
	hb := &hostBatch{input: make([]float32, b*l.inSize), target: make([]float32, b*l.tgSize)}
	if l.opt.TargetType == tensor.Int32 {
		hb.targetI = make([]int32, b*l.tgSize)
	}
	return hb
}

// fill samples the examples at indices into hb and normalises them.
func (l *Loader) fill(hb *hostBatch, indices []int) {
	hb.indices = indices
	in, tg := l.inSize, l.tgSize
	for k, i := range indices {
		l.ds.Sample(i, hb.input[k*in:(k+1)*in:(k+1)*in], hb.target[k*tg:(k+1)*tg:(k+1)*tg])
	}
	if l.opt.Std != 0 {
		mean, std := l.opt.Mean, l.opt.Std
		for j, x := range hb.input[:len(indices)*in] {
			hb.input[j] = float32((float64(x) - mean) / std)
		}
	}
	if hb.targetI != nil {
		for j, t := range hb.target[:len(indices)*tg] {
			hb.targetI[j] = float32ToInt32(t)
		}
	}
}

// float32ToInt32 truncates v toward zero, mapping NaN to 0 and clamping to
// the range of int32.
func float32ToInt32(v float32) int32 {
	switch {
	case v != v:
		return 0
	case v >= math.MaxInt32:
		return math.MaxInt32
	case v <= math.MinInt32:
		return math.MinInt32
	}
	return int32(v)
}

// upload turns hb into tensors on the loader's device.
func (l *Loader) upload(hb *hostBatch) Batch {
	b := len(hb.indices)
	inShape := append([]int{b}, l.inShape...)
	tgShape := append([]int{b}, l.tgShape...)
	out := Batch{
		Input:   tensor.New(l.dev, hb.input[:b*l.inSize], inShape...),
		Indices: hb.indices,
	}
	if hb.targetI != nil {
		out.Target = tensor.New(l.dev, hb.targetI[:b*l.tgSize], tgShape...)
	} else {
		out.Target = tensor.New(l.dev, hb.target[:b*l.tgSize], tgShape...)
	}
	return out
}

// batchIndices returns the index slices of each batch of an epoch with the
// given order; each is its own slice.
func (l *Loader) batchIndices(order []int) [][]int {
	bs := l.opt.BatchSize
	var out [][]int
	for start := 0; start < len(order); start += bs {
		end := min(start+bs, len(order))
		if end-start < bs && l.opt.DropLast {
			break
		}
		out = append(out, slices.Clip(order[start:end]))
	}
	return out
}

// Batches returns the batches of one epoch, in the order Order(epoch)
// gives, for a range loop:
//
//	for b := range loader.Batches(epoch) { ... }
//
// Each batch has BatchSize examples except perhaps the last (see
// DropLast). Its tensors are new; the loader keeps no reference to them.
// With Prefetch set, a goroutine samples batches ahead of the loop; leaving
// the loop early (break, return, a panic) stops that goroutine before the
// loop statement finishes. A panic in Dataset.Sample is raised again in the
// goroutine that ranges.
func (l *Loader) Batches(epoch int) iter.Seq[Batch] {
	return func(yield func(Batch) bool) {
		batches := l.batchIndices(l.Order(epoch))
		if l.opt.Prefetch == 0 {
			hb := l.newHostBatch()
			for _, idx := range batches {
				l.fill(hb, idx)
				if !yield(l.upload(hb)) {
					return
				}
			}
			return
		}
		l.prefetch(batches, yield)
	}
}

// prefetched is what the prefetching goroutine hands to the consumer: a
// filled batch, or the value of a panic in Dataset.Sample.
type prefetched struct {
	hb       *hostBatch
	panicked bool
	panicVal any
}

// prefetch yields batches filled by a background goroutine that keeps up
// to Prefetch of them ready. Host buffers circulate between the two
// goroutines, so an epoch allocates at most Prefetch of them.
func (l *Loader) prefetch(batches [][]int, yield func(Batch) bool) {
	ready := make(chan prefetched, l.opt.Prefetch)
	free := make(chan *hostBatch, l.opt.Prefetch)
	done := make(chan struct{})
	exited := make(chan struct{})
	go func() {
		defer close(exited)
		defer close(ready)
		allocated := 0
		for _, idx := range batches {
			var hb *hostBatch
			select {
			case hb = <-free:
			case <-done:
				return
			default:
				if allocated < l.opt.Prefetch {
					hb = l.newHostBatch()
					allocated++
				} else {
					select {
					case hb = <-free:
					case <-done:
						return
					}
				}
			}
			p := l.fillRecover(hb, idx)
			select {
			case ready <- p:
			case <-done:
				return
			}
			if p.panicked {
				return
			}
		}
	}()
	// Stop the goroutine and wait for it however the loop ends.
	defer func() {
		close(done)
		<-exited
	}()
	for p := range ready {
		if p.panicked {
			panic(p.panicVal)
		}
		b := l.upload(p.hb)
		free <- p.hb // never blocks: free holds every buffer at most once
		if !yield(b) {
			return
		}
	}
}

// fillRecover is fill that returns a panic of the dataset instead of
// crashing the background goroutine.
func (l *Loader) fillRecover(hb *hostBatch, idx []int) (p prefetched) {
	defer func() {
		if r := recover(); r != nil {
			p = prefetched{panicked: true, panicVal: r}
		}
	}()
	l.fill(hb, idx)
	return prefetched{hb: hb}
}
