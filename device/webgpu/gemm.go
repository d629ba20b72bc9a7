//go:build cgo && ((linux && amd64) || darwin || (windows && amd64))

package webgpu

import (
	"math"
	"runtime"
	"strings"
)

// gemmTile is the shape of the output tile of one matmul workgroup: wx×wy
// threads, each accumulating an rm×rn block (multiples of 4), over panels
// tk deep.
type gemmTile struct{ wx, wy, rm, rn, tk int }

func (t gemmTile) rows() int { return t.wy * t.rm }
func (t gemmTile) cols() int { return t.wx * t.rn }

// mac is one vector multiply-add of the unrolled inner loop: accumulator
// acc += lane of a's vector aVec times b's vector bVec.
type mac struct {
	Acc, AVec, BVec int
	Lane            string
}

// aBroadcast is vector Vec of a thread's A values at a K step under
// gemm_mac's SgA: lanes Lane … Lane+3 of the subgroup's read Read.
type aBroadcast struct{ Vec, Read, Lane int }

// blockRow is one row of a thread's block: its accumulators, each with the
// vector of columns it holds.
type blockRow struct {
	Row  int
	Accs []blockAcc
}

type blockAcc struct{ Acc, BVec int }

// spec returns the specialisation of matmul.wgsl for the tile.
func (t gemmTile) spec(vecA, vecB bool) kernelSpec {
	rm4, rn4 := t.rm/4, t.rn/4
	var accs, avecs, bvecs []int
	var macs []mac
	var rows []blockRow
	for i := range t.rm {
		row := blockRow{Row: i}
		for j := range rn4 {
			acc := i*rn4 + j
			accs = append(accs, acc)
			macs = append(macs, mac{Acc: acc, AVec: i / 4, Lane: "xyzw"[i%4 : i%4+1], BVec: j})
			row.Accs = append(row.Accs, blockAcc{Acc: acc, BVec: j})
		}
		rows = append(rows, row)
	}
	var areads []int
	var abcast []aBroadcast
	for i := range rm4 {
		avecs = append(avecs, i)
		abcast = append(abcast, aBroadcast{Vec: i, Read: i / 2, Lane: i % 2 * 4})
		if i%2 == 0 {
			areads = append(areads, i/2)
		}
	}
	for j := range rn4 {
		bvecs = append(bvecs, j)
	}
	return kernelSpec{
		"WX": t.wx, "WY": t.wy, "RM": t.rm, "RN": t.rn, "RM4": rm4, "RN4": rn4,
		"TM": t.rows(), "TN": t.cols(), "TK": t.tk, "Threads": t.wx * t.wy,
		"ASize": t.rows() * t.tk / 4, "BSize": t.cols() * t.tk / 4,
		"Acc": accs, "AVecs": avecs, "BVecs": bvecs, "Mac": macs, "Rows": rows,
		"VecA": vecA, "VecB": vecB, "SgA": false, "AReads": areads, "ABcast": abcast,
	}
}

// fits reports whether the adapter can run the tile: its threads, its
// workgroup sizes and its panels in workgroup memory.
func (t gemmTile) fits(g *gpuDevice) bool {
	l := g.limits
	return t.wx*t.wy <= int(l.MaxComputeInvocationsPerWorkgroup) && t.wx <= int(l.MaxComputeWorkgroupSizeX) &&
		t.wy <= int(l.MaxComputeWorkgroupSizeY) && (t.rows()+t.cols())*t.tk*4 <= int(l.MaxComputeWorkgroupStorageSize)
}

// Tiles for matmul. On a software adapter (llvmpipe) the larger the
// register block, the fewer of its costly workgroup-memory reads per
// multiply-add (each lane reads one at a time, where the accumulators a
// block spills stay whole vectors): with A's values broadcast within
// subgroups (broadcastsA), 32×16 blocks run 1024² at 1.7 times the speed
// of 8×16 ones, and the tiles of several sizes let softwareTile balance
// the workgroups over the cores. A GPU keeps its register blocks at 8×8
// at most, so that enough threads stay resident.
var (
	matmulTilesSoftware = []softTile{
		{gemmTile{16, 4, 32, 16, 16}, 35.0}, {gemmTile{8, 4, 32, 16, 16}, 31.9}, {gemmTile{16, 2, 32, 16, 16}, 27.5},
		{gemmTile{16, 4, 16, 16, 16}, 26.0}, {gemmTile{8, 4, 16, 16, 16}, 25.3}, {gemmTile{8, 4, 16, 8, 16}, 17.9},
		{gemmTile{8, 2, 16, 16, 16}, 17.2}, {gemmTile{8, 2, 16, 8, 16}, 12.4}, {gemmTile{8, 8, 4, 4, 16}, 6.2},
	}
	// matmulTilesSoftwareScalar are a software adapter's tiles for
	// operands read element by element (strided, 16-bit, or not a
	// multiple of 4 long): llvmpipe takes 4–12 s to compile the large
	// blocks' scalar loaders, against about one for these (speeds
	// measured before the broadcasts, rescaled to the list above).
	matmulTilesSoftwareScalar = []softTile{
		{gemmTile{16, 16, 8, 16, 16}, 21.0}, {gemmTile{8, 16, 8, 16, 16}, 19.5}, {gemmTile{16, 8, 8, 16, 16}, 19.1},
		{gemmTile{8, 8, 8, 16, 16}, 17.6}, {gemmTile{16, 16, 8, 8, 16}, 15.5}, {gemmTile{8, 8, 8, 8, 16}, 12.7},
		{gemmTile{8, 8, 4, 4, 16}, 6.2},
	}
	matmulTilesGPU = []gemmTile{{16, 16, 8, 8, 16}, {16, 16, 4, 4, 16}, {8, 8, 4, 4, 16}}
)

// softTile is a tile of a software adapter with its speed in GFLOP/s on a
// 1024² product (llvmpipe with subgroups of 8, 2 cores of an AMD EPYC
// Zen 5, the best of 5 interleaved rounds): only the ratios between tiles
// matter.
type softTile struct {
	gemmTile
	speed float64
}

// minWorkgroups is how many workgroups a GPU's dispatch should have to
// keep it busy: a few per compute unit (which WebGPU does not report). A
// software adapter's tiles are chosen by softwareTile instead.
const minWorkgroups = 256

// matmulTile picks the tile of a batch of m×n products. On a software
// adapter, whose cores each run one workgroup at a time, it is the tile
// that minimises the estimated time: the waves of workgroups the cores run
// (padding included) times a tile's arithmetic over its measured speed.
// On a GPU it is, among the tiles that pad the product by at most a
// quarter (all tiles when none does), the largest that still gives the
// adapter enough workgroups, or else the smallest: a 128×128 tile over
// the 64×64 products of attention heads would compute four times their
// arithmetic.
func (g *gpuDevice) matmulTile(batch, m, n int, vec bool) gemmTile {
	if g.software {
		tiles := matmulTilesSoftwareScalar
		if vec {
			tiles = matmulTilesSoftware
		}
		return softwareTile(tiles, batch, m, n, runtime.NumCPU(), g.tileFits)
	}
	var fit, snug []gemmTile
	for _, t := range matmulTilesGPU {
		if !t.fits(g) {
			continue
		}
		fit = append(fit, t)
		if padded := ceilDiv(m, t.rows()) * t.rows() * ceilDiv(n, t.cols()) * t.cols(); padded*4 <= m*n*5 {
			snug = append(snug, t)
		}
	}
	if len(snug) == 0 {
		snug = fit
	}
	for _, t := range snug {
		if batch*ceilDiv(m, t.rows())*ceilDiv(n, t.cols()) >= minWorkgroups {
			return t
		}
	}
	return snug[len(snug)-1]
}

// broadcastsA reports whether tile t's multiply-adds take A's values from
// the subgroup instead of workgroup memory (gemm_mac's SgA): each lane
// reads one of the 8 values its block's 8 rows need at a K step and
// broadcasts it to the other 7, instead of all 8 lanes reading all 8, a
// third of the workgroup-memory reads of an 8×16 block. It needs the 8
// lanes that share a block row in one subgroup of 8, consecutive
// invocations as llvmpipe runs them (lanes of 256 bits), which is where it
// was measured (1024² products 118–144 → 102–108 ms, identical results)
// and the only adapter it is taken on; GPUs, whose workgroup memory
// broadcasts, keep their reads.
func (g *gpuDevice) broadcastsA(t gemmTile) bool {
	return g.llvmpipe() && g.subgroupSize == 8 && t.rm%8 == 0 && t.wx%8 == 0
}

// llvmpipe reports whether the adapter is Mesa's llvmpipe (lavapipe),
// whose subgroups are consecutive invocations.
func (g *gpuDevice) llvmpipe() bool {
	return g.software && strings.Contains(g.name, "llvmpipe")
}

// tileFits reports whether g can run tile t.
func (g *gpuDevice) tileFits(t gemmTile) bool { return t.fits(g) }

// softwareTile returns the tile among tiles (which fits accepts) with the
// least estimated time for a batch of m×n products on cores cores.
func softwareTile(tiles []softTile, batch, m, n, cores int, fits func(gemmTile) bool) gemmTile {
	best, bestCost := tiles[len(tiles)-1].gemmTile, math.Inf(1)
	for _, t := range tiles {
		if !fits(t.gemmTile) {
			continue
		}
		workgroups := batch * ceilDiv(m, t.rows()) * ceilDiv(n, t.cols())
		waves := ceilDiv(workgroups, cores)
		if cost := float64(waves*t.rows()*t.cols()) / t.speed; cost < bestCost {
			best, bestCost = t.gemmTile, cost
		}
	}
	return best
}

// vec4 returns a bound as an array of vec4s: the binding is rounded up to
// whole vectors, which the buffer's size class holds unless it is an
// adapter limit that is not a multiple of 16.
func (a gpuArg) vec4() gpuArg {
	a.size = min((a.size+15)/16*16, a.gb.size-a.offset)
	return a
}
