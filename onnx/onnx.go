// Package onnx loads ONNX models (as PyTorch's torch.onnx.export and other
// frameworks write them) and runs them on a wgtensor device, the GPU or the
// CPU, for inference.
//
//	m, err := onnx.Load("resnet18.onnx", dev)
//	out, err := m.Run(map[string]*tensor.Tensor{"input": x})
//	logits := out["logits"]
//
// Weights become device tensors once, at Load, and are frozen (the CPU keeps
// their packed forms). Operators that compute on shapes (Shape, Gather,
// Concat, Unsqueeze... over small integer tensors) run on the host, and
// every node whose inputs are all constants is evaluated at Load; with the
// input shapes fixed (WithInputShape) Load also infers which values' shapes
// follow from them and folds the Shape nodes, so Run dispatches only the
// model's real compute. Load then fuses what inference runtimes fuse: a
// BatchNormalization or an affine step by constants after a Conv into its
// weights, and the residual Add, the activation and a scalar affine step
// after it into the convolution's epilogue (see Stats).
//
// ONNX's int64 tensors are int32 tensors here (wgtensor has no int64):
// model inputs and outputs of type int64 are passed and returned as int32,
// and values that do not fit are an error. bool tensors are float32 masks
// of 0 and 1, as wgtensor's comparisons give.
//
// An operator, attribute or opset this package does not support is an
// error at Load that names the node, the operator and the opset; input
// shapes that do not fit are an error from Run that names the node.
package onnx

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/wgtensor/wgtensor/device"
	"github.com/wgtensor/wgtensor/onnx/internal/onnxpb"
	"github.com/wgtensor/wgtensor/tensor"
)

// The opsets of the default domain that Load accepts.
const (
	MinOpset = 7
	MaxOpset = 18
)

// Model is a loaded ONNX model, ready to run on its device. A Model is safe
// for use by several goroutines; their runs take turns.
type Model struct {
	dev      device.Device
	opset    int
	producer string
	inputs   []ValueInfo
	outputs  []ValueInfo
	consts   map[string]*value // initializers and values folded at Load
	nodes    []*node           // the nodes left to run
	mu       sync.Mutex        // held by a run, which uses env and life
	// env holds the constants between runs; a run adds its inputs and
	// values and takes out again the written ones (see prepareRuns).
	env     map[string]*value
	written []string
	life    *lifetimes

	fusedBatchNorms int // BatchNormalizations folded into convolutions
	fusedEpilogues  int // Add, Relu and Clip nodes fused into convolutions
	foldedShapes    int // Shape and Size nodes made constants by specialize
	foldedAffines   int // Mul, Div, Add and Sub nodes folded into convolutions' weights
	hardSwishes     int // spelt-out hard swishes made HardSwish nodes
	layerNorms      int // spelt-out layer normalizations made LayerNormalization nodes
	convChains      int // depthwise Convs made one node with the Conv before them or the 1×1 Conv after them
	convPools       int // MaxPools made one node with the Conv before them
	convPairs       int // Convs made one node with the Conv before them
}

// Stats says what Load made of the graph.
type Stats struct {
	Nodes           int // nodes that a run evaluates
	Constants       int // initializers and values computed at Load
	FusedBatchNorms int // BatchNormalizations folded into the preceding Conv
	FusedEpilogues  int // Add (residual), Relu and Clip nodes fused into the preceding Conv
	FoldedShapes    int // Shape and Size nodes evaluated at Load for fixed input shapes
	FoldedAffines   int // Mul, Div, Add and Sub by constants folded into the preceding Conv's weights
	HardSwishes     int // y·clip(y+3, 0, 6)/6 patterns run as one HardSwish
	LayerNorms      int // layer normalizations spelt out in nine nodes run as one LayerNormalization
	ConvChains      int // depthwise Convs run as one node with the Conv before them (or the 1×1 Conv after, without one before)
	ConvPools       int // MaxPools run as one node with the Conv before them
	ConvPairs       int // Convs run as one node with the Conv before them, whose output only they read
}

// Stats reports what Load made of the graph.
func (m *Model) Stats() Stats {
	return Stats{Nodes: len(m.nodes), Constants: len(m.consts), FusedBatchNorms: m.fusedBatchNorms, FusedEpilogues: m.fusedEpilogues, FoldedShapes: m.foldedShapes,
		FoldedAffines: m.foldedAffines, HardSwishes: m.hardSwishes, LayerNorms: m.layerNorms, ConvChains: m.convChains,
		ConvPools: m.convPools, ConvPairs: m.convPairs}
}

// ValueInfo describes a model input or output.
type ValueInfo struct {
	Name  string
	DType string // the ONNX element type: "float32", "int64", "bool", ...
	Shape []Dim  // nil when the model does not say
}

// Dim is one dimension of a ValueInfo's shape: a fixed size, or a symbol
// such as "batch" (Size -1) that each run fixes.
type Dim struct {
	Size   int
	Symbol string
}

// String returns the size, or the symbol (or "?") of a free dimension.
func (d Dim) String() string {
	switch {
	case d.Size >= 0:
		return fmt.Sprint(d.Size)
	case d.Symbol != "":
		return d.Symbol
	}
	return "?"
}

// Load reads the ONNX model at path for dev. Weights stored in external
// data files are read from the model's directory.
func Load(path string, dev device.Device, opts ...Option) (*Model, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("onnx: %w", err)
	}
	m, err := LoadBytes(b, filepath.Dir(path), dev, opts...)
	if err != nil {
		return nil, fmt.Errorf("%w (model %s)", err, path)
	}
	return m, nil
}

// LoadReader reads a model from r; external data files are looked up in
// dir.
func LoadReader(r io.Reader, dir string, dev device.Device, opts ...Option) (*Model, error) {
	b, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("onnx: reading the model: %w", err)
	}
	return LoadBytes(b, dir, dev, opts...)
}

// LoadBytes reads a model from its serialized bytes; external data files are
// looked up in dir.
func LoadBytes(b []byte, dir string, dev device.Device, opts ...Option) (*Model, error) {
	var mp onnxpb.ModelProto
	if err := proto.Unmarshal(b, &mp); err != nil {
		return nil, fmt.Errorf("onnx: not an ONNX model: %w", err)
	}
	var c loadConfig
	for _, o := range opts {
		o(&c)
	}
	m, err := build(&mp, dir, dev, c)
	if err != nil {
		return nil, err
	}
	return m, nil
}

// build turns a parsed model into a Model: it checks every node against the
// supported operators, converts the initializers and folds constants.
func build(mp *onnxpb.ModelProto, dir string, dev device.Device, c loadConfig) (m *Model, err error) {
	g := mp.GetGraph()
	if g == nil {
		return nil, errors.New("onnx: the model has no graph")
	}
	m = &Model{dev: dev, producer: strings.TrimSpace(mp.GetProducerName() + " " + mp.GetProducerVersion()), consts: map[string]*value{}}
	for _, o := range mp.GetOpsetImport() {
		switch o.GetDomain() {
		case "", "ai.onnx":
			m.opset = int(o.GetVersion())
		}
	}
	if m.opset == 0 && len(mp.GetOpsetImport()) == 0 {
		m.opset = 1 // IR version 2 models have no opset_import: opset 1
	}
	if m.opset < MinOpset || m.opset > MaxOpset {
		return nil, fmt.Errorf("onnx: opset %d of the default domain is not supported (%d to %d are)", m.opset, MinOpset, MaxOpset)
	}

	// Tensors live on the device; if anything below fails, what was made
	// is released.
	consts := m.consts
	defer func() {
		if err != nil {
			for _, v := range consts {
				v.release()
			}
		}
	}()
	for i, tp := range g.GetInitializer() {
		name := tp.GetName()
		if name == "" {
			return nil, fmt.Errorf("onnx: initializer %d has no name", i)
		}
		v, err := fromProto(tp, dir, dev)
		if err != nil {
			return nil, fmt.Errorf("onnx: initializer %q: %w", name, err)
		}
		m.consts[name] = v
	}
	for _, vi := range g.GetInput() {
		if _, ok := m.consts[vi.GetName()]; ok {
			continue // an initializer that is also an input: its value is the default
		}
		info, err := valueInfo(vi)
		if err != nil {
			return nil, fmt.Errorf("onnx: input %q: %w", vi.GetName(), err)
		}
		m.inputs = append(m.inputs, info)
	}
	for _, vi := range g.GetOutput() {
		if vi.GetName() == "" {
			return nil, errors.New("onnx: a graph output has no name")
		}
		info, err := valueInfo(vi)
		if err != nil {
			return nil, fmt.Errorf("onnx: output %q: %w", vi.GetName(), err)
		}
		m.outputs = append(m.outputs, info)
	}

	known := map[string]bool{"": true}
	for name := range m.consts {
		known[name] = true
	}
	for _, in := range m.inputs {
		known[in.Name] = true
	}
	for i, np := range g.GetNode() {
		n, err := newNode(np, i, m.opset, dir)
		if err != nil {
			return nil, err
		}
		for _, in := range n.inputs {
			if !known[in] {
				return nil, n.errorf("input %q is not produced by an earlier node, an initializer or a graph input", in)
			}
		}
		for _, out := range n.outputs {
			known[out] = true
		}
		m.nodes = append(m.nodes, n)
	}
	for _, out := range m.outputs {
		if !known[out.Name] {
			return nil, fmt.Errorf("onnx: output %q is produced by no node", out.Name)
		}
	}
	if err := m.fold(); err != nil {
		return nil, err
	}
	if err := m.specialize(c); err != nil {
		return nil, err
	}
	if err := m.fuseBatchNorm(); err != nil {
		return nil, err
	}
	m.rewriteHardSwish()
	m.fuseLayerNorms()
	if err := m.foldConvAffine(); err != nil {
		return nil, err
	}
	m.fuseConvEpilogues()
	m.fuseConvChains()
	m.fuseConvPools()
	m.fuseConvPairs()
	for _, v := range m.consts {
		if v.t != nil {
			v.t.Freeze() // the weights: the CPU keeps their packed forms
		}
	}
	m.prepareRuns()
	return m, nil
}

// prepareRuns makes, once the graph is final, what every run reuses
// rather than rebuilds: the environment holding the constants, the names
// a run writes into it, and the plan of its values' lifetimes. Building
// them at each run took 120 µs of MobileNetV2's 4.7 ms.
func (m *Model) prepareRuns() {
	m.env = m.constEnv(len(m.inputs) + len(m.nodes))
	for _, in := range m.inputs {
		m.written = append(m.written, in.Name)
	}
	for _, n := range m.nodes {
		for _, out := range n.outputs {
			if out != "" {
				m.written = append(m.written, out)
			}
		}
	}
	m.life = m.newLifetimes()
}

// constEnv returns a new environment holding the constants, with room for
// extra more values.
func (m *Model) constEnv(extra int) map[string]*value {
	env := make(map[string]*value, len(m.consts)+extra)
	maps.Copy(env, m.consts)
	return env
}

// restoreEnv takes out of m.env the values a run wrote, putting back a
// constant that a model input of the same name overrode.
func (m *Model) restoreEnv() {
	for _, name := range m.written {
		if c, ok := m.consts[name]; ok {
			m.env[name] = c
		} else {
			delete(m.env, name)
		}
	}
}

// fold evaluates, once, the nodes whose inputs are all constants, and
// keeps their outputs as constants.
func (m *Model) fold() error {
	var rest []*node
	for _, n := range m.nodes {
		constant := n.spec.foldable
		for _, in := range n.inputs {
			if _, ok := m.consts[in]; in != "" && !ok {
				constant = false
			}
		}
		if !constant {
			rest = append(rest, n)
			continue
		}
		outs, err := n.run(m.dev, m.consts)
		if err != nil {
			return err
		}
		for i, name := range n.outputs {
			if name != "" && i < len(outs) {
				m.consts[name] = outs[i]
			}
		}
	}
	m.nodes = rest
	return nil
}

// Inputs describes the inputs a run needs, in the model's order.
func (m *Model) Inputs() []ValueInfo { return slices.Clone(m.inputs) }

// Outputs describes the outputs a run returns, in the model's order.
func (m *Model) Outputs() []ValueInfo { return slices.Clone(m.outputs) }

// Opset is the version of the default operator set the model uses.
func (m *Model) Opset() int { return m.opset }

// Producer names the tool that wrote the model, as the model says.
func (m *Model) Producer() string { return m.producer }

// Device returns the device the model runs on.
func (m *Model) Device() device.Device { return m.dev }

// Run computes the model's outputs from inputs, one tensor on the model's
// device per input name (int32 for int64 inputs, float32 masks for bool
// ones, float16 or float32 for float16 ones, likewise bfloat16). Float16
// and bfloat16 outputs are tensors of those types. The outputs are new tensors on the device, the caller's to keep or
// Release. Errors name the input, or the node and the shapes.
func (m *Model) Run(inputs map[string]*tensor.Tensor) (map[string]*tensor.Tensor, error) {
	return m.run(inputs, nil)
}

// run is Run, adding each node's time to prof when it is not nil.
func (m *Model) run(inputs map[string]*tensor.Tensor, prof *Profile) (map[string]*tensor.Tensor, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	defer m.restoreEnv()
	env, lt := m.env, m.life
	lt.reset()
	if err := m.evaluate(env, inputs, lt, prof); err != nil {
		return nil, err
	}
	defer lt.done(env)
	result := make(map[string]*tensor.Tensor, len(m.outputs))
	for _, out := range m.outputs {
		v := env[out.Name]
		if v == nil {
			return nil, fmt.Errorf("onnx: Run: output %q was not computed", out.Name)
		}
		t, err := v.device(m.dev)
		if err != nil {
			return nil, fmt.Errorf("onnx: Run: output %q: %w", out.Name, err)
		}
		// A copy: an output may be a view of a weight or of another
		// output, and the caller may Release it; float16 and bfloat16
		// outputs are returned in their type.
		if half := elemTypeNamed(out.DType).halfType(); half != 0 {
			result[out.Name] = t.AsType(half)
		} else {
			result[out.Name] = t.Clone()
		}
	}
	return result, nil
}

// evaluate checks the inputs and runs every node, adding the inputs and
// all values to env, which holds the constants; with lt not nil, the
// intermediate values' tensors are released as soon as no node is left to
// read them (see lifetimes), and only the outputs, the inputs and the
// constants can be read afterwards. With prof not nil, the device is
// synchronized after each node and its time added to prof.
func (m *Model) evaluate(env map[string]*value, inputs map[string]*tensor.Tensor, lt *lifetimes, prof *Profile) error {
	for _, in := range m.inputs {
		t, ok := inputs[in.Name]
		if !ok {
			return fmt.Errorf("onnx: Run: input %q (%s %s) is missing", in.Name, in.DType, shapeString(in.Shape))
		}
		v, err := inputValue(in, t, m.dev)
		if err != nil {
			return fmt.Errorf("onnx: Run: input %q: %w", in.Name, err)
		}
		env[in.Name] = v
	}
	for name := range inputs {
		if !slices.ContainsFunc(m.inputs, func(vi ValueInfo) bool { return vi.Name == name }) {
			return fmt.Errorf("onnx: Run: the model has no input %q (its inputs: %s)", name, inputNames(m.inputs))
		}
	}
	if prof != nil {
		if err := m.dev.Sync(); err != nil {
			return fmt.Errorf("onnx: Profile: %w", err)
		}
	}
	for i, n := range m.nodes {
		start := time.Now()
		outs, err := n.run(m.dev, env)
		if err != nil {
			return err
		}
		if prof != nil {
			if err := m.dev.Sync(); err != nil {
				return fmt.Errorf("onnx: node %q (%s): %w", n.name, n.op, err)
			}
			t := NodeTime{Node: n.name, Op: nodeOp(n), Time: time.Since(start)}
			if len(outs) > 0 && outs[0] != nil {
				t.Shape = slices.Clone(outs[0].shape)
			}
			prof.Nodes = append(prof.Nodes, t)
		}
		for j, name := range n.outputs {
			if name != "" && j < len(outs) {
				env[name] = outs[j]
			}
		}
		if lt != nil {
			lt.after(i, n, env)
		}
	}
	return nil
}

func inputNames(vs []ValueInfo) string {
	names := make([]string, len(vs))
	for i, v := range vs {
		names[i] = fmt.Sprintf("%q", v.Name)
	}
	return strings.Join(names, ", ")
}

func shapeString(s []Dim) string {
	if s == nil {
		return "of any shape"
	}
	var b bytes.Buffer
	b.WriteByte('[')
	for i, d := range s {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(d.String())
	}
	b.WriteByte(']')
	return b.String()
}

// valueInfo converts a graph input or output description.
func valueInfo(vi *onnxpb.ValueInfoProto) (ValueInfo, error) {
	info := ValueInfo{Name: vi.GetName()}
	tt := vi.GetType().GetTensorType()
	if tt == nil {
		return info, errors.New("only tensor inputs and outputs are supported")
	}
	info.DType = elemType(tt.GetElemType()).String()
	if sh := tt.GetShape(); sh != nil {
		info.Shape = make([]Dim, len(sh.GetDim()))
		for i, d := range sh.GetDim() {
			if _, ok := d.GetValue().(*onnxpb.TensorShapeProto_Dimension_DimValue); ok {
				info.Shape[i] = Dim{Size: int(d.GetDimValue())}
			} else {
				info.Shape[i] = Dim{Size: -1, Symbol: d.GetDimParam()}
			}
		}
	}
	return info, nil
}

// inputValue checks a run's input tensor against the model's description.
func inputValue(in ValueInfo, t *tensor.Tensor, dev device.Device) (*value, error) {
	if t == nil {
		return nil, errors.New("nil tensor")
	}
	if err := t.Err(); err != nil {
		return nil, err
	}
	if t.Device() != dev {
		return nil, fmt.Errorf("tensor on %s, the model runs on %s", t.Device().Name(), dev.Name())
	}
	typ := elemTypeNamed(in.DType)
	want := typ.deviceType()
	if half := typ.halfType(); half != 0 && t.DType() == half {
		t = t.AsType(want) // exact: float16 and bfloat16 values are float32s
	}
	if t.DType() != want {
		if half := typ.halfType(); half != 0 {
			return nil, fmt.Errorf("%v tensor for a %s input (pass %v or %v)", t.DType(), in.DType, half, want)
		}
		return nil, fmt.Errorf("%v tensor for a %s input (pass %v)", t.DType(), in.DType, want)
	}
	if in.Shape != nil {
		shape := t.Shape()
		ok := len(shape) == len(in.Shape)
		for i := 0; ok && i < len(shape); i++ {
			ok = in.Shape[i].Size < 0 || in.Shape[i].Size == shape[i]
		}
		if !ok {
			return nil, fmt.Errorf("shape %v does not fit %s", shape, shapeString(in.Shape))
		}
	}
	return deviceValue(typ, t), nil
}
