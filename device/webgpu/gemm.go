//go:build cgo && ((linux && amd64) || darwin || (windows && amd64))

package webgpu

import (
	"math"
	"runtime"
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
	for i := range rm4 {
		avecs = append(avecs, i)
	}
	for j := range rn4 {
		bvecs = append(bvecs, j)
	}
	return kernelSpec{
		"WX": t.wx, "WY": t.wy, "RM": t.rm, "RN": t.rn, "RM4": rm4, "RN4": rn4,
		"TM": t.rows(), "TN": t.cols(), "TK": t.tk, "Threads": t.wx * t.wy,
		"ASize": t.rows() * t.tk / 4, "BSize": t.cols() * t.tk / 4,
		"Acc": accs, "AVecs": avecs, "BVecs": bvecs, "Mac": macs, "Rows": rows,
		"VecA": vecA, "VecB": vecB, "SgA": false,
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
// register block, the fewer of its costly workgroup-memory gathers per
// multiply-add: 8×16 blocks run 1024² at about 3 times the speed of 4×4
// ones, and the tiles of several sizes with 8×16 blocks let softwareTile
// balance the workgroups over the cores. A GPU keeps its register blocks
// at 8×8 at most, so that enough threads stay resident.
var (
	matmulTilesSoftware = []softTile{
		{gemmTile{16, 16, 8, 16, 16}, 16.9}, {gemmTile{8, 16, 8, 16, 16}, 15.7}, {gemmTile{16, 8, 8, 16, 16}, 15.4},
		{gemmTile{8, 8, 8, 16, 16}, 14.2}, {gemmTile{16, 16, 8, 8, 16}, 12.5}, {gemmTile{8, 8, 8, 8, 16}, 10.2},
		{gemmTile{8, 8, 4, 4, 16}, 5.0},
	}
	matmulTilesGPU = []gemmTile{{16, 16, 8, 8, 16}, {16, 16, 4, 4, 16}, {8, 8, 4, 4, 16}}
)

// softTile is a tile of a software adapter with its speed in GFLOP/s on a
// 1024² product (llvmpipe, 2 cores of an AMD EPYC Zen 5): only the ratios
// between tiles matter.
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
func (g *gpuDevice) matmulTile(batch, m, n int) gemmTile {
	if g.software {
		return softwareTile(matmulTilesSoftware, batch, m, n, runtime.NumCPU(), g.tileFits)
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
// was measured (1024² products 118–144 → 102–108 ms, identical results);
// GPUs, whose workgroup memory broadcasts, keep their reads.
func (g *gpuDevice) broadcastsA(t gemmTile) bool {
	return g.software && g.subgroupSize == 8 && t.rm == 8 && t.wx%8 == 0
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
