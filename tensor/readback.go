package tensor

import (
	"fmt"

	"github.com/wgtensor/wgtensor/device"
)

// Data waits for the tensor to be computed and returns its elements in
// row-major order as float32 (int32 and 16-bit float tensors are
// converted).
func (t *Tensor) Data() ([]float32, error) {
	if t.dtype.IsHalf() {
		return t.halfData()
	}
	if t.dtype == Int32 {
		ints, err := t.Ints()
		if err != nil {
			return nil, err
		}
		out := make([]float32, len(ints))
		for i, v := range ints {
			out[i] = float32(v)
		}
		return out, nil
	}
	out := make([]float32, t.Numel())
	return out, t.read("Data", out)
}

// Ints waits for the tensor to be computed and returns its elements in
// row-major order as int32 (float tensors are truncated toward zero).
func (t *Tensor) Ints() ([]int32, error) {
	if t.dtype != Int32 {
		return t.AsType(Int32).Ints()
	}
	out := make([]int32, t.Numel())
	return out, t.read("Ints", out)
}

// Item returns the value of a tensor of one element.
func (t *Tensor) Item() (float32, error) {
	if n := t.Numel(); n != 1 {
		return 0, fmt.Errorf("tensor: Item: tensor of shape %v has %d elements, not 1", t.shape, n)
	}
	v, err := t.Data()
	if err != nil {
		return 0, err
	}
	return v[0], nil
}

// read copies the tensor's elements into dst, a slice of its element type
// and length.
func (t *Tensor) read(op string, dst any) error {
	if err := t.Err(); err != nil {
		return err
	}
	n := t.Numel()
	if n == 0 {
		return t.dev.Sync()
	}
	src := t
	if !t.IsContiguous() || t.offset != 0 || t.st.buf.Len() != n {
		src = t.copyContiguous()
		if err := src.Err(); err != nil {
			return err
		}
	}
	err := t.dev.Read(src.st.buf, dst)
	keepAlive(src)
	if err != nil {
		return fmt.Errorf("tensor: %s: %w", op, err)
	}
	return nil
}

// To returns the tensor on dev: t itself when it is already there,
// otherwise a copy made through host memory.
func (t *Tensor) To(dev device.Device) *Tensor {
	if dev == t.dev {
		return t
	}
	if err := t.Err(); err != nil {
		return failed(dev, t.dtype, t.shape, err)
	}
	host := makeHost(t.dtype, t.Numel())
	if err := t.read("To", host); err != nil {
		return failed(dev, t.dtype, t.shape, err)
	}
	out := empty(dev, t.dtype, t.shape)
	if out.err == nil && t.Numel() > 0 {
		if err := dev.Write(out.st.buf, host); err != nil {
			return failed(dev, t.dtype, t.shape, err)
		}
	}
	return out
}

// makeHost returns host memory for n elements of dt, as Read and Write
// take them.
func makeHost(dt DType, n int) any {
	switch {
	case dt == Int32:
		return make([]int32, n)
	case dt.IsHalf():
		return make([]uint16, n)
	}
	return make([]float32, n)
}

// Realize asks the devices of ts to compute their values now, together:
// the GPU defers elementwise ops and computes each chain when its value is
// needed; values realized together share a kernel where their shapes
// match, so an optimizer realizes a parameter's new value and its moments
// in one pass instead of three. It does not wait for the work, and a
// device that defers nothing ignores it. Tensors with an error are
// skipped.
func Realize(ts ...*Tensor) {
	byDevice := map[device.Device][]device.Buffer{}
	var order []device.Device
	for _, t := range ts {
		if t == nil || t.st == nil {
			continue
		}
		if _, ok := byDevice[t.dev]; !ok {
			order = append(order, t.dev)
		}
		byDevice[t.dev] = append(byDevice[t.dev], t.st.buf)
	}
	for _, d := range order {
		device.Realize(d, byDevice[d]...)
	}
	keepAlive(ts...)
}
