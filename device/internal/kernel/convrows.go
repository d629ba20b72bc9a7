package kernel

// ConvRowsTile is a tile of ConvRows14x32AVX512: two runs of consecutive
// output positions, each with the input of its first position (in the
// padded planes), its place in the output and in the residual (nil for
// none: both runs alike), and its length, at most 7 (0 for the second run:
// none).
type ConvRowsTile struct {
	B0, B1 *float32
	C0, C1 *float32
	R0, R1 *float32
	N0, N1 int
}
