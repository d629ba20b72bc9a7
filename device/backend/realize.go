package backend

// Realizer is implemented by devices that defer work (the GPU defers
// elementwise ops and fuses them when their values are needed).
type Realizer interface {
	// Realize computes the deferred values of bufs now, together where
	// it can: values of one shape share one kernel. Where a program
	// knows that several values will be needed (an optimizer's new
	// parameters and moments), this costs one pass instead of one each.
	Realize(bufs ...Buffer)
}
