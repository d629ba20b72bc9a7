package nn

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"

	"github.com/wgtensor/wgtensor/autograd"
	"github.com/wgtensor/wgtensor/device"
	"github.com/wgtensor/wgtensor/nn/safetensors"
	"github.com/wgtensor/wgtensor/tensor"
)

// Stateful is implemented by what a checkpoint stores besides the model,
// such as an optimizer (see optim.Optimizer).
type Stateful interface {
	State() map[string]*tensor.Tensor
	LoadState(map[string]*tensor.Tensor) error
}

// optimizerPrefix starts the names of optimizer state in a checkpoint.
const optimizerPrefix = "optimizer."

// Save writes the parameters and buffers of module m to path in the
// safetensors format, with PyTorch's state_dict names, so that the file
// loads into the matching PyTorch module with load_state_dict. The write is
// atomic: a crash leaves the previous file intact.
func Save(path string, m any) error { return SaveCheckpoint(path, m, nil) }

// SaveCheckpoint is Save with the state of opt (may be nil) stored too, under
// names starting with "optimizer.".
func SaveCheckpoint(path string, m any, opt Stateful) error {
	f := &safetensors.File{Metadata: map[string]string{"format": "pt", "writer": "wgtensor"}, Tensors: map[string]safetensors.Tensor{}}
	add := func(name string, t *tensor.Tensor, int64OnDisk bool) error {
		st, err := toSafetensors(t, int64OnDisk)
		if err != nil {
			return fmt.Errorf("nn: save %s: tensor %q: %w", path, name, err)
		}
		f.Tensors[name] = st
		return nil
	}
	for _, p := range NamedParameters(m) {
		if err := add(p.Name, p.Param.Value(), false); err != nil {
			return err
		}
	}
	for _, b := range NamedBuffers(m) {
		if err := add(b.Name, b.Buffer.T, b.Buffer.Int64); err != nil {
			return err
		}
	}
	if opt != nil {
		for name, t := range opt.State() {
			if err := add(optimizerPrefix+name, t, false); err != nil {
				return err
			}
		}
	}
	if err := safetensors.WriteFile(path, f); err != nil {
		return fmt.Errorf("nn: save: %w", err)
	}
	return nil
}

// toSafetensors reads a tensor back to the host in the file's layout.
func toSafetensors(t *tensor.Tensor, int64OnDisk bool) (safetensors.Tensor, error) {
	shape := t.Shape()
	if t.DType() == tensor.Int32 {
		v, err := t.Ints()
		if err != nil {
			return safetensors.Tensor{}, err
		}
		if int64OnDisk {
			w := make([]int64, len(v))
			for i, x := range v {
				w[i] = int64(x)
			}
			return safetensors.FromInt64(shape, w), nil
		}
		return safetensors.FromInt32(shape, v), nil
	}
	if dt := t.DType(); dt.IsHalf() {
		v, err := t.Bits()
		if err != nil {
			return safetensors.Tensor{}, err
		}
		return safetensors.FromBits16(fileTypes[dt], shape, v), nil
	}
	v, err := t.Data()
	if err != nil {
		return safetensors.Tensor{}, err
	}
	return safetensors.FromFloat32(shape, v), nil
}

// fileTypes names the float types in safetensors files.
var fileTypes = map[tensor.DType]safetensors.DType{
	tensor.Float32: safetensors.F32, tensor.Float16: safetensors.F16, tensor.BFloat16: safetensors.BF16,
}

// Load reads a checkpoint written by Save (or by PyTorch: a safetensors
// file of the module's state_dict) into module m. The file must hold exactly
// the module's parameters and buffers (optimizer state is ignored) with
// matching shapes and types; otherwise Load returns an error naming the file
// and the tensor and leaves m untouched.
func Load(path string, m any) error { return LoadCheckpoint(path, m, nil) }

// LoadCheckpoint is Load that also restores the optimizer state saved by
// SaveCheckpoint into opt (may be nil).
func LoadCheckpoint(path string, m any, opt Stateful) error {
	f, err := safetensors.ReadFile(path)
	if err != nil {
		return fmt.Errorf("nn: load: %w", err)
	}
	fail := func(name string, format string, args ...any) error {
		return fmt.Errorf("nn: load %s: tensor %q %s", path, name, fmt.Sprintf(format, args...))
	}
	params, buffers := NamedParameters(m), NamedBuffers(m)
	var dev device.Device
	if len(params) > 0 {
		dev = params[0].Param.Device()
	} else if len(buffers) > 0 {
		dev = buffers[0].Buffer.T.Device()
	}

	// Convert every tensor before changing anything, so that a bad file
	// leaves the model as it was.
	wanted := map[string]bool{}
	newParams := make([]*tensor.Tensor, len(params))
	for i, p := range params {
		wanted[p.Name] = true
		t, err := fromFile(f, p.Name, p.Param.Value(), false, fail)
		if err != nil {
			return err
		}
		newParams[i] = t
	}
	newBuffers := make([]*tensor.Tensor, len(buffers))
	for i, b := range buffers {
		wanted[b.Name] = true
		t, err := fromFile(f, b.Name, b.Buffer.T, b.Buffer.Int64, fail)
		if err != nil {
			return err
		}
		newBuffers[i] = t
	}
	var extra []string
	optState := map[string]*tensor.Tensor{}
	for _, name := range f.Names() {
		if wanted[name] {
			continue
		}
		if rest, ok := strings.CutPrefix(name, optimizerPrefix); ok {
			if opt != nil {
				t, err := hostTensor(dev, f.Tensors[name])
				if err != nil {
					return fail(name, "cannot be read: %v", err)
				}
				optState[rest] = t
			}
			continue
		}
		extra = append(extra, name)
	}
	if len(extra) > 0 {
		sort.Strings(extra)
		return fail(extra[0], "is in the file but not in the model (%d unexpected tensors: %s)", len(extra), strings.Join(extra, ", "))
	}
	if opt != nil {
		if err := opt.LoadState(optState); err != nil {
			return fmt.Errorf("nn: load %s: %w", path, err)
		}
	}
	for i, p := range params {
		setLeaf(p.Param, newParams[i])
	}
	for i, b := range buffers {
		b.Buffer.T = newBuffers[i]
	}
	return nil
}

// fromFile converts the file's tensor name into a tensor like cur, on cur's
// device, checking presence, shape and type.
func fromFile(f *safetensors.File, name string, cur *tensor.Tensor, int64OnDisk bool, fail func(string, string, ...any) error) (*tensor.Tensor, error) {
	st, ok := f.Tensors[name]
	if !ok {
		return nil, fail(name, "is missing from the file")
	}
	if !slices.Equal(st.Shape, cur.Shape()) {
		return nil, fail(name, "has shape %v in the file, %v in the model", st.Shape, cur.Shape())
	}
	var okType bool
	want := fileTypes[cur.DType()]
	switch {
	case cur.DType() == tensor.Int32:
		want = "I32"
		if int64OnDisk {
			want = "I64"
		}
		okType = st.DType == "I32" || st.DType == "I64"
	default: // a float parameter takes any float type, converted as load_state_dict does
		okType = st.DType == safetensors.F32 || st.DType == safetensors.F16 || st.DType == safetensors.BF16 || st.DType == safetensors.F64
	}
	if !okType {
		return nil, fail(name, "has type %s in the file, want %s", st.DType, want)
	}
	t, err := hostTensor(cur.Device(), st)
	if err != nil {
		return nil, fail(name, "cannot be read: %v", err)
	}
	return t.AsType(cur.DType()), nil
}

// hostTensor makes a device tensor from a file tensor: F16 and BF16 stay
// 16-bit, the other float types become float32, integer types int32
// (checking the range).
func hostTensor(dev device.Device, st safetensors.Tensor) (*tensor.Tensor, error) {
	if dev == nil {
		return nil, errors.New("the model has no parameters or buffers to take a device from")
	}
	shape := st.Shape
	if shape == nil {
		shape = []int{}
	}
	if v, err := st.Bits16(); err == nil {
		dt := tensor.Float16
		if st.DType == safetensors.BF16 {
			dt = tensor.BFloat16
		}
		return tensor.FromBits(dev, dt, v, shape...), nil
	}
	if v, err := st.Float32s(); err == nil {
		return tensor.New(dev, v, shape...), nil
	}
	v, err := st.Int64s()
	if err != nil {
		return nil, err
	}
	w := make([]int32, len(v))
	for i, x := range v {
		if x < math.MinInt32 || x > math.MaxInt32 {
			return nil, fmt.Errorf("value %d at %d does not fit int32", x, i)
		}
		w[i] = int32(x)
	}
	return tensor.New(dev, w, shape...), nil
}

// setLeaf installs a loaded value into a parameter.
func setLeaf(p *autograd.Var, t *tensor.Tensor) {
	p.SetValue(t)
	p.ZeroGrad()
}
