//go:build cgo && ((linux && amd64) || darwin || (windows && amd64))

package webgpu

import (
	"github.com/wgtensor/wgtensor/device/backend"
)

// halfKind names a type in half.wgsl's specialisations.
func halfKind(dt backend.DType) string {
	switch dt {
	case backend.Float16:
		return "f16"
	case backend.BFloat16:
		return "bf16"
	}
	return wgslType(dt)
}

// halfCopyLocked records dst = src where either is a 16-bit float (see
// half.wgsl): into a whole 16-bit buffer a thread writes a word of two
// elements; into part of one (Concat, a slice), each thread sets its
// element's half of a word atomically.
func (g *gpuDevice) halfCopyLocked(dst, src backend.View) error {
	args := []gpuArg{gpuIn(1, src.Buf).of(0), gpuOut(2, dst.Buf).of(1)}
	if g.oversized(args) {
		return refuse("a copy between %v and %v of %d elements: buffers of 16-bit floats larger than one binding (%d bytes) are not supported",
			src.Buf.DType(), dst.Buf.DType(), src.Numel(), g.bindLimit)
	}
	n := dst.Numel()
	return eachCopyPart(dst, src, func(d, s backend.View) error {
		spec := kernelSpec{"S": halfKind(src.Buf.DType()), "D": halfKind(dst.Buf.DType()), "Mode": "unpack"}
		whole := d.Offset == 0 && d.IsContiguous() && n == d.Buf.Len()
		if dst.Buf.DType().IsHalf() {
			spec["Mode"] = "strided"
			if whole {
				spec["Mode"] = "dense"
			}
		}
		p, err := g.pipelineLocked("half", "main", spec)
		if err != nil {
			return err
		}
		cshape, cstrides := backend.Coalesce(s.Shape, s.Strides, d.Strides)
		part := ewPart{shape: cshape, strides: cstrides, offs: []int{s.Offset, d.Offset}}
		threads := backend.Numel(cshape)
		if spec["Mode"] == "dense" { // a thread a word
			threads = (threads + 1) / 2
		}
		return g.launchLocked(p, part.params(threads, 0, uint32(n), nil), g.threads(threads), args...)
	})
}
