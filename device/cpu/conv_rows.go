package cpu

import (
	"slices"
	"unsafe"

	"github.com/wgtensor/wgtensor/device/internal/kernel"
)

// The rows kernel (kernel.ConvRows14x32AVX512) computes an indirect
// convolution with its vectors along the output channels rather than the
// positions: a tile is 32 output channels at two runs of up to 7
// consecutive outputs of a row, the runs' inputs broadcast through the
// same offset table as the 8×32 kernel's, its results scattered into the
// output's channel planes. It wastes no lanes on small planes, where the
// 8×32 kernel's tiles of 32 wide positions do: a 7×7 output is 56 wide
// positions, two tiles of 32 (1.31 times the work), a 14×14 one 210 wide
// positions, seven tiles (1.14 times).

// cpuRowsRun is a run of the rows kernel: up to cpuRowsRunMax consecutive
// outputs of one output row, from the wide position wide (see
// cpuIndirectConv) and the plane's output out on.
type cpuRowsRun struct{ wide, out, n int }

// cpuRowsRunMax is the longest run of the rows kernel, and cpuRowsNR its
// output channels per tile.
const (
	cpuRowsRunMax = 7
	cpuRowsNR     = 32
)

// cpuRowsMinRows is the shortest column (C/G·KH·KW) that takes the rows
// kernel. In ResNet-18 (Zen 5, interleaved) columns of 2304 and 4608
// rows ran 16–21% faster on it, those of 1152 (3×3 over 128 channels at
// 28×28, and their 3×3/2 to 14×14) no faster, and of 576 (3×3/2 over 64
// channels) 24% slower: short columns do too little between scattered
// stores, and share a block's weights between too few positions.
const cpuRowsMinRows = 2048

// A 1×1 convolution, which the GEMM path computes with tiles of positions
// too, takes the rows kernel from shorter columns, when it is not small
// (cpuRowsMinDirect multiply-adds) and the tiles waste a fifth of their
// work: MobileNetV2's 1×1 layers at 7×7 ran 5–30% faster on it (160 to
// 960 channels in, 160 to 1280 out), at 14×14 (196 positions in 224) up
// to 1.7 times slower, and 96 channels to 64 at 7×7 twice as slow.
const (
	cpuRowsMinRowsDirect = 128
	cpuRowsMinDirect     = 1 << 22
)

// layoutRows sets ic.runs, the runs of the rows kernel, two per tile (a
// last run of length 0 when there is an odd number), when the kernel suits
// the convolution: one group whose output channels are whole tiles, long
// columns, and less padded work than the 8×32 kernel's tiles (or the
// GEMM's) cover.
func (ic *cpuIndirectConv) layoutRows() {
	p := ic.p
	minRows, gain := cpuRowsMinRows, 97
	if ic.direct {
		minRows, gain = cpuRowsMinRowsDirect, 80
		if p.O*ic.l*ic.rows < cpuRowsMinDirect {
			return
		}
	}
	if p.Groups != 1 || ic.og%cpuRowsNR != 0 || ic.rows < minRows || p.OW < cpuRowsRunMax {
		return
	}
	var runs []cpuRowsRun
	for oh := range p.OH {
		for ow := 0; ow < p.OW; ow += cpuRowsRunMax {
			runs = append(runs, cpuRowsRun{wide: oh*ic.wp + ow, out: oh*p.OW + ow, n: min(cpuRowsRunMax, p.OW-ow)})
		}
	}
	// Work per output channel: a run computes all its positions, a tile
	// of the 8×32 kernel all its 32.
	if 100*cpuRowsRunMax*len(runs) >= gain*cpuIndirectNR*ic.tiles {
		return
	}
	if len(runs)%2 == 1 {
		runs = append(runs, cpuRowsRun{})
	}
	ic.runs = runs
	// Each run reads all cpuRowsRunMax positions, the stores keep its n.
	last := slices.Max(ic.offs)
	for _, r := range runs {
		ic.reach = max(ic.reach, last+r.wide+cpuRowsRunMax)
	}
	for j := range ic.idx {
		ic.idx[j] = int32(j * ic.l)
	}
}

// packRows packs the weights [O, rows] into blocks of 32 output channels,
// block step k holding the 32 channels' weights of row k.
func (ic *cpuIndirectConv) packRows(dst, w []float32) {
	for o0 := 0; o0 < ic.og; o0 += cpuRowsNR {
		sl := dst[o0*ic.rows : (o0+cpuRowsNR)*ic.rows]
		src := w[o0*ic.rows:]
		if kernel.Transpose(sl, cpuRowsNR, src, ic.rows, cpuRowsNR, ic.rows) {
			continue
		}
		for i := range cpuRowsNR {
			for k, v := range src[i*ic.rows : (i+1)*ic.rows] {
				sl[k*cpuRowsNR+i] = v
			}
		}
	}
}

// rowsInPlace reports whether the rows kernel reads the images of x in
// place, with no padded copy: for a 1×1 convolution without padding, whose
// padded image is the image itself, when its last run reads no further
// than the image (a width of whole runs). MobileNetV2's 1×1 layers at 7×7
// spent a sixth of their time copying their input: alone, 160 channels to
// 960 took 81–88 µs with the copy and 69–71 without, 320 to 1280 167–182
// and 151–156; in the model the layers of 960 channels to 160 and 320
// 12–23 µs less, the whole model within its noise (Zen 5).
func (ic *cpuIndirectConv) rowsInPlace() bool {
	return ic.direct && ic.runs != nil && ic.reach <= ic.p.C*ic.plane
}

// rowTiles returns the number of tiles of the rows kernel in an image:
// blocks of output channels times pairs of runs.
func (ic *cpuIndirectConv) rowTiles() int { return ic.p.O / cpuRowsNR * len(ic.runs) / 2 }

// rowsOf computes tiles [lo, hi) of image n, tile q being block q/T of
// output channels at the runs of tile q%T (T tiles per block), from its
// padded copy pad into out.
func (ic *cpuIndirectConv) rowsOf(out, pad, packed []float32, n, lo, hi int, te *cpuTileEpilogue) {
	p := ic.p
	_ = pad[ic.reach-1]
	_ = packed[p.O*ic.rows-1]
	if len(out) < (n+1)*p.O*ic.l || te != nil && (len(te.bias) < p.O || te.res != nil && len(te.res) < len(out)) {
		panic("device: indirect convolution output out of range")
	}
	tiles := len(ic.runs) / 2
	var args *kernel.EpilogueArgs
	if te != nil {
		args = &te.args
	}
	var bias *float32
	for q := lo; q < hi; q++ {
		o0, r0, r1 := q/tiles*cpuRowsNR, ic.runs[2*(q%tiles)], ic.runs[2*(q%tiles)+1]
		c := (n*p.O + o0) * ic.l
		t := kernel.ConvRowsTile{B0: &pad[r0.wide], B1: &pad[r1.wide], C0: &out[c+r0.out], C1: &out[c+r1.out], N0: r0.n, N1: r1.n}
		if te != nil {
			bias = &te.bias[o0]
			if te.res != nil {
				t.R0, t.R1 = &te.res[c+r0.out], &te.res[c+r1.out]
			}
		}
		// The first two tiles of a block ask for the next block's weights
		// (a line a step, half the block each), so that its tiles find
		// them in L2 rather than in memory (a 7×7 plane's 3×3 over 512
		// channels ran at 282 rather than 409 GFLOP/s from cold weights,
		// 4 tiles sharing each block's 590 KB).
		a := &packed[o0*ic.rows]
		ahead := a
		if part := q % tiles; part < 2 && (q/tiles+1)*tiles < hi {
			ahead = &packed[(o0+cpuRowsNR)*ic.rows+part*ic.rows*16]
		}
		kernel.ConvRows14x32AVX512(ic.rows, a, unsafe.SliceData(ic.offs), &t, &ic.idx[0], ic.l, bias, args, ahead)
	}
}
