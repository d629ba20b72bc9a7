package onnx_test

import (
	"encoding/binary"
	"math"
	"math/rand/v2"
)

func float32frombytes(b []byte) float32 { return math.Float32frombits(binary.LittleEndian.Uint32(b)) }

// normals returns n values of rng's normal distribution moved to mean.
func normals(rng *rand.Rand, n int, mean float64) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(mean + rng.NormFloat64())
	}
	return v
}
