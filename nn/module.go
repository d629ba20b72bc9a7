// Package nn provides neural-network layers, losses and initialisers on top
// of autograd, in the shape a PyTorch user expects: layers are built from a
// configuration on a device (nn.NewLinear(dev, 784, 128)), their parameters
// have PyTorch's state_dict names (fc1.weight, 0.bias), and checkpoints are
// safetensors files that load into PyTorch and back.
//
// A module is any Go struct: its exported fields that are parameters
// (*autograd.Var), buffers (*nn.Buffer), other modules, or slices and arrays
// of them are found by reflection and named after the field (converted to
// snake_case, or as given by an `nn:"name"` tag; `nn:"-"` hides a field and
// `nn:",inline"` adds its contents without a name of its own). A module can
// also name its state itself by implementing StateLister.
// Users write their own modules as plain structs with a Forward method:
//
//	type MLP struct {
//		FC1 *nn.Linear
//		FC2 *nn.Linear
//	}
//
//	func (m *MLP) Forward(x *autograd.Var) *autograd.Var {
//		return m.FC2.Forward(m.FC1.Forward(x).ReLU())
//	}
//
// nn.Parameters(m), nn.NamedParameters(m), nn.Train(m), nn.Eval(m) and
// nn.Save/nn.Load then work on it, with names fc1.weight, fc2.bias, ...
package nn

import (
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"unicode"

	"github.com/wgtensor/wgtensor/autograd"
	"github.com/wgtensor/wgtensor/tensor"
)

// Layer is a module with one input and one output, as Sequential chains.
type Layer interface {
	Forward(x *autograd.Var) *autograd.Var
}

// Buffer is a tensor a module keeps in its state but does not train, such as
// BatchNorm's running statistics. It is saved in checkpoints.
type Buffer struct {
	T *tensor.Tensor
	// Int64 marks a counter that PyTorch stores as int64 (BatchNorm's
	// num_batches_tracked); it is held as int32 and saved as int64.
	Int64 bool
}

// NamedParam is a parameter with its state_dict name.
type NamedParam struct {
	Name  string
	Param *autograd.Var
}

// NamedBuffer is a buffer with its state_dict name.
type NamedBuffer struct {
	Name   string
	Buffer *Buffer
}

var (
	varType    = reflect.TypeFor[*autograd.Var]()
	bufferType = reflect.TypeFor[*Buffer]()
)

// visitor receives what walk finds.
type visitor struct {
	param  func(name string, p *autograd.Var)
	buffer func(name string, b *Buffer)
	module func(m any)
}

// StateLister is implemented by modules that name their parameters and
// buffers themselves rather than by their fields, such as the recurrent
// layers, whose PyTorch names (weight_ih_l0, ...) carry the layer number.
type StateLister interface {
	State() ([]NamedParam, []NamedBuffer)
}

// walk visits the parameters, buffers and sub-modules of m in field order.
func walk(m any, v visitor) {
	walkValue(reflect.ValueOf(m), "", v, map[uintptr]bool{})
}

func walkValue(val reflect.Value, prefix string, v visitor, seen map[uintptr]bool) {
	if !val.IsValid() {
		return
	}
	switch val.Type() {
	case varType:
		if !val.IsNil() && v.param != nil {
			v.param(prefix, val.Interface().(*autograd.Var))
		}
		return
	case bufferType:
		if !val.IsNil() && v.buffer != nil {
			v.buffer(prefix, val.Interface().(*Buffer))
		}
		return
	}
	switch val.Kind() {
	case reflect.Pointer, reflect.Interface:
		if val.IsNil() {
			return
		}
		if val.Kind() == reflect.Pointer {
			if seen[val.Pointer()] {
				return
			}
			seen[val.Pointer()] = true
		}
		walkValue(val.Elem(), prefix, v, seen)
	case reflect.Struct:
		if val.CanAddr() {
			if v.module != nil {
				v.module(val.Addr().Interface())
			}
			if sl, ok := val.Addr().Interface().(StateLister); ok {
				params, buffers := sl.State()
				for _, p := range params {
					if v.param != nil {
						v.param(join(prefix, p.Name), p.Param)
					}
				}
				for _, b := range buffers {
					if v.buffer != nil {
						v.buffer(join(prefix, b.Name), b.Buffer)
					}
				}
				return
			}
		}
		t := val.Type()
		for i := range t.NumField() {
			f := t.Field(i)
			name, ok := fieldName(f)
			if !ok {
				continue
			}
			walkValue(val.Field(i), join(prefix, name), v, seen)
		}
	case reflect.Slice, reflect.Array:
		for i := range val.Len() {
			walkValue(val.Index(i), join(prefix, strconv.Itoa(i)), v, seen)
		}
	}
}

// fieldName gives the state_dict name of a struct field, or false when the
// field is unexported or tagged `nn:"-"`.
func fieldName(f reflect.StructField) (string, bool) {
	if !f.IsExported() {
		return "", false
	}
	tag := f.Tag.Get("nn")
	switch {
	case tag == "-":
		return "", false
	case tag == ",inline":
		return "", true
	case tag != "":
		return tag, true
	case f.Anonymous:
		return "", true
	}
	return snakeCase(f.Name), true
}

func join(prefix, name string) string {
	switch {
	case prefix == "":
		return name
	case name == "":
		return prefix
	}
	return prefix + "." + name
}

// snakeCase turns a Go field name into PyTorch style: Weight → weight,
// RunningMean → running_mean, FC1 → fc1, InProj → in_proj.
func snakeCase(s string) string {
	rs := []rune(s)
	var b strings.Builder
	for i, r := range rs {
		if unicode.IsUpper(r) {
			prevLower := i > 0 && (unicode.IsLower(rs[i-1]) || unicode.IsDigit(rs[i-1]))
			nextLower := i+1 < len(rs) && unicode.IsLower(rs[i+1])
			if i > 0 && (prevLower || (nextLower && unicode.IsUpper(rs[i-1]))) {
				b.WriteByte('_')
			}
			r = unicode.ToLower(r)
		}
		b.WriteRune(r)
	}
	return b.String()
}

// NamedParameters lists the parameters of module m with their state_dict
// names, in field order.
func NamedParameters(m any) []NamedParam {
	var ps []NamedParam
	walk(m, visitor{param: func(name string, p *autograd.Var) { ps = append(ps, NamedParam{name, p}) }})
	return ps
}

// Parameters lists the parameters of module m, for an optimizer.
func Parameters(m any) []*autograd.Var {
	var ps []*autograd.Var
	walk(m, visitor{param: func(_ string, p *autograd.Var) { ps = append(ps, p) }})
	return ps
}

// NamedBuffers lists the buffers of module m with their state_dict names.
func NamedBuffers(m any) []NamedBuffer {
	var bs []NamedBuffer
	walk(m, visitor{buffer: func(name string, b *Buffer) { bs = append(bs, NamedBuffer{name, b}) }})
	return bs
}

// NumParameters returns the number of trainable elements of module m.
func NumParameters(m any) int {
	n := 0
	for _, p := range Parameters(m) {
		n += p.Value().Numel()
	}
	return n
}

// trainer is implemented by modules whose behaviour depends on the mode.
type trainer interface{ SetTraining(training bool) }

// Train puts module m and all its sub-modules in training mode (dropout
// active, batch statistics in BatchNorm).
func Train(m any) { setTraining(m, true) }

// Eval puts module m and all its sub-modules in evaluation mode.
func Eval(m any) { setTraining(m, false) }

func setTraining(m any, training bool) {
	walk(m, visitor{module: func(sub any) {
		if t, ok := sub.(trainer); ok {
			t.SetTraining(training)
		}
	}})
}

// ZeroGrad clears the gradients of every parameter of module m.
func ZeroGrad(m any) {
	for _, p := range Parameters(m) {
		p.ZeroGrad()
	}
}

// mode is embedded by layers that behave differently in training and
// evaluation; layers start in training mode, as in PyTorch.
type mode struct{ eval bool }

// SetTraining switches between training and evaluation behaviour.
func (m *mode) SetTraining(training bool) { m.eval = !training }

// Training reports whether the layer is in training mode.
func (m *mode) Training() bool { return !m.eval }

func panicf(op, format string, args ...any) {
	panic(&tensor.Error{Op: op, Msg: fmt.Sprintf(format, args...)})
}

// ToDType converts every float parameter and float buffer of module m to
// dt (Float32, Float16 or BFloat16), as module.to(dtype) in PyTorch;
// int32 buffers (counters) stay, and gradients are cleared. An optimizer
// made before the conversion still holds the old parameters' state: make
// it afterwards.
func ToDType(m any, dt tensor.DType) {
	if !dt.IsFloat() {
		panicf("ToDType", "%v is not a float type", dt)
	}
	for _, p := range Parameters(m) {
		if v := p.Value(); v.DType().IsFloat() && v.DType() != dt {
			setLeaf(p, v.AsType(dt))
		}
	}
	for _, b := range NamedBuffers(m) {
		if b.Buffer.T.DType().IsFloat() {
			b.Buffer.T = b.Buffer.T.AsType(dt)
		}
	}
}
