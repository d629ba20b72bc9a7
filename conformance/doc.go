// Package conformance holds wgtensor's randomized differential test against
// PyTorch; it has no code of its own, only the test.
//
// testdata/gen_programs.py (run with Debian's /usr/bin/python3 and its
// python3-torch) draws short random op programs with fixed seeds: one to
// four steps over one to three inputs, covering elementwise ops with
// broadcasting and scalars, comparisons, where, clamp, reductions, softmax,
// matrix products, views that make inputs non-contiguous, concatenation,
// indexing, losses, layer normalisation, convolution and pooling. Input
// values include NaN, infinities, zeros of both signs, ties and large
// magnitudes. The script runs every program in PyTorch in float64 and
// writes the outputs and the gradients of sum(output * g) for a random g,
// rounded to float32, into testdata/programs.json. Programs that PyTorch
// refuses (shapes that do not fit, axes or indices out of range, kernels
// larger than the padded input) are kept as cases that must fail.
//
// TestDifferential replays every program through the tensor, autograd and
// nn packages on every device devicetest.Devices finds and compares the
// outputs, dtypes, shapes and gradients with the references, within
// tolerances stated per op class in the test. It needs no Python.
//
// To regenerate the programs after changing the generator:
//
//	OPENBLAS_CORETYPE=Haswell /usr/bin/python3 conformance/testdata/gen_programs.py
//
// The test can be made to fail on purpose, to check the harness itself:
// WGTENSOR_CONFORMANCE_BREAK=op perturbs the Go result of every step named
// op (for example tanh or matmul), and op.grad (tanh.grad) negates the
// gradient that flows back through it, leaving the forward value alone.
package conformance
