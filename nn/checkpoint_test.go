package nn_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/wgtensor/wgtensor/autograd"
	"github.com/wgtensor/wgtensor/device"
	"github.com/wgtensor/wgtensor/device/devicetest"
	"github.com/wgtensor/wgtensor/nn"
	"github.com/wgtensor/wgtensor/nn/optim"
	"github.com/wgtensor/wgtensor/nn/safetensors"
	"github.com/wgtensor/wgtensor/tensor"
)

type hostTensor struct {
	Shape []int     `json:"shape"`
	Data  []float32 `json:"data"`
}

func (h hostTensor) on(dev device.Device) *tensor.Tensor { return tensor.New(dev, h.Data, h.Shape...) }

// trainedNet returns a RoundTripNet after two training-mode passes, so its
// BatchNorm statistics are not the initial ones.
func trainedNet(t *testing.T, dev device.Device) *roundTripNet {
	t.Helper()
	nn.Seed(7)
	net := newRoundTripNet(dev)
	for range 2 {
		net.Forward(autograd.Const(tensor.Randn(dev, tensor.NewRNG(3), 4, 1, 8, 8)))
	}
	nn.Eval(net)
	return net
}

func output(t *testing.T, net *roundTripNet, x *tensor.Tensor) []float32 {
	t.Helper()
	y, err := net.Forward(autograd.Const(x)).Data()
	require.NoError(t, err)
	return y
}

func TestSaveLoadRoundTrip(t *testing.T) {
	for _, dev := range devicetest.Devices(t) {
		t.Run(dev.Kind().String(), func(t *testing.T) {
			net := trainedNet(t, dev)
			x := tensor.Randn(dev, tensor.NewRNG(4), 2, 1, 8, 8)
			want := output(t, net, x)
			path := filepath.Join(t.TempDir(), "model.safetensors")
			require.NoError(t, nn.Save(path, net))

			nn.Seed(99)
			other := newRoundTripNet(dev)
			nn.Eval(other)
			assert.NotEqual(t, want, output(t, other, x))
			require.NoError(t, nn.Load(path, other))
			assert.Equal(t, want, output(t, other, x))
			n, err := other.BN.NumBatchesTracked.T.Ints()
			require.NoError(t, err)
			assert.Equal(t, []int32{2}, n)

			f, err := safetensors.ReadFile(path)
			require.NoError(t, err)
			assert.Equal(t, safetensors.DType("I64"), f.Tensors["bn.num_batches_tracked"].DType, "PyTorch stores the counter as int64")
			assert.Equal(t, []int{}, nonNilShape(f.Tensors["bn.num_batches_tracked"].Shape))
		})
	}
}

func nonNilShape(s []int) []int {
	if s == nil {
		return []int{}
	}
	return s
}

// TestLoadPyTorchCheckpoint loads the state_dict that
// testdata/roundtrip.py wrote from PyTorch and compares outputs.
func TestLoadPyTorchCheckpoint(t *testing.T) {
	raw, err := os.ReadFile("testdata/roundtrip_torch.json")
	require.NoError(t, err)
	var ref struct{ Input, Output hostTensor }
	require.NoError(t, json.Unmarshal(raw, &ref))
	for _, dev := range devicetest.Devices(t) {
		t.Run(dev.Kind().String(), func(t *testing.T) {
			net := newRoundTripNet(dev)
			require.NoError(t, nn.Load("testdata/roundtrip_torch.safetensors", net))
			nn.Eval(net)
			got := output(t, net, ref.Input.on(dev))
			if msg := devicetest.Compare(got, ref.Output.Data, devicetest.Tol{Abs: 1e-5, Rel: 1e-4}); msg != "" {
				t.Error(msg)
			}
		})
	}
}

// halfModelTol is how far the round-trip network's output computed in
// 16-bit floats may be from float32's: each of its ten ops rounds to
// 11 (float16) or 8 (bfloat16) significant bits.
var halfModelTol = map[tensor.DType]devicetest.Tol{
	tensor.Float16:  {Abs: 1e-2, Rel: 1e-2},
	tensor.BFloat16: {Abs: 6e-2, Rel: 6e-2},
}

// TestLoadPyTorchHalfCheckpoint loads the F16 and BF16 state_dicts that
// `testdata/roundtrip.py write --float` wrote from PyTorch: into a float32
// model (converted as load_state_dict converts) and into a model converted
// to the file's type, which keeps the file's bits; both give PyTorch's
// output for the widened weights.
func TestLoadPyTorchHalfCheckpoint(t *testing.T) {
	for _, c := range []struct {
		name string
		dt   tensor.DType
	}{{"f16", tensor.Float16}, {"bf16", tensor.BFloat16}} {
		file := "testdata/roundtrip_torch_" + c.name + ".safetensors"
		raw, err := os.ReadFile("testdata/roundtrip_torch_" + c.name + ".json")
		require.NoError(t, err)
		var ref struct{ Input, Output hostTensor }
		require.NoError(t, json.Unmarshal(raw, &ref))
		st, err := safetensors.ReadFile(file)
		require.NoError(t, err)
		wantBits, err := st.Tensors["fc1.weight"].Bits16()
		require.NoError(t, err)
		for _, dev := range devicetest.Devices(t) {
			t.Run(c.name+"/"+dev.Kind().String(), func(t *testing.T) {
				tol := devicetest.Tol{Abs: 1e-5, Rel: 1e-4}
				net := newRoundTripNet(dev)
				require.NoError(t, nn.Load(file, net))
				assert.Equal(t, tensor.Float32, net.FC1.Weight.Value().DType())
				nn.Eval(net)
				if msg := devicetest.Compare(output(t, net, ref.Input.on(dev)), ref.Output.Data, tol); msg != "" {
					t.Errorf("float32 model: %s", msg)
				}

				half := newRoundTripNet(dev)
				nn.ToDType(half, c.dt)
				require.NoError(t, nn.Load(file, half))
				w := half.FC1.Weight.Value()
				require.Equal(t, c.dt, w.DType())
				bits, err := w.Bits()
				require.NoError(t, err)
				assert.Equal(t, wantBits, bits, "the file's bits, unchanged")
				nn.Eval(half)
				y := half.Forward(autograd.Const(ref.Input.on(dev).AsType(c.dt))).Value()
				assert.Equal(t, c.dt, y.DType(), "a 16-bit model computes in 16 bits")
				got, err := y.Data()
				require.NoError(t, err)
				if msg := devicetest.Compare(got, ref.Output.Data, halfModelTol[c.dt]); msg != "" {
					t.Errorf("%v forward pass: %s", c.dt, msg)
				}
				nn.ToDType(half, tensor.Float32)
				nn.Eval(half)
				if msg := devicetest.Compare(output(t, half, ref.Input.on(dev)), ref.Output.Data, tol); msg != "" {
					t.Errorf("%v model: %s", c.dt, msg)
				}
			})
		}
	}
}

// TestWriteForPyTorch writes roundtrip_go.safetensors and .json into the
// directory named by WGTENSOR_ROUNDTRIP_DIR, for `roundtrip.py check DIR`
// to load into PyTorch (see the README).
func TestWriteForPyTorch(t *testing.T) {
	dir := os.Getenv("WGTENSOR_ROUNDTRIP_DIR")
	if dir == "" {
		t.Skip("set WGTENSOR_ROUNDTRIP_DIR to write files for testdata/roundtrip.py check")
	}
	dev := device.CPU()
	net := trainedNet(t, dev)
	x := tensor.Randn(dev, tensor.NewRNG(5), 2, 1, 8, 8)
	y := output(t, net, x)
	xs, err := x.Data()
	require.NoError(t, err)
	require.NoError(t, nn.Save(filepath.Join(dir, "roundtrip_go.safetensors"), net))
	raw, err := json.Marshal(map[string]hostTensor{"input": {x.Shape(), xs}, "output": {[]int{2, 3}, y}})
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "roundtrip_go.json"), raw, 0o644))
	// The same model in 16-bit floats, for `roundtrip.py check DIR --float
	// F16` (and BF16), with the output of its weights widened to float32.
	for name, dt := range map[string]tensor.DType{"f16": tensor.Float16, "bf16": tensor.BFloat16} {
		half := trainedNet(t, dev)
		nn.Eval(half)
		nn.ToDType(half, dt)
		require.NoError(t, nn.Save(filepath.Join(dir, "roundtrip_go_"+name+".safetensors"), half))
		nn.ToDType(half, tensor.Float32)
		raw, err := json.Marshal(map[string]hostTensor{"input": {x.Shape(), xs}, "output": {[]int{2, 3}, output(t, half, x)}})
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(dir, "roundtrip_go_"+name+".json"), raw, 0o644))
	}
}

func TestCheckpointWithOptimizerState(t *testing.T) {
	dev := device.CPU()
	net := trainedNet(t, dev)
	nn.Train(net)
	opt := optim.NewAdam(nn.Parameters(net), 1e-2)
	x := tensor.Randn(dev, tensor.NewRNG(6), 4, 1, 8, 8)
	labels := tensor.New(dev, []int32{0, 1, 2, 1})
	step := func(net *roundTripNet, opt optim.Optimizer) float32 {
		opt.ZeroGrad()
		loss := nn.CrossEntropyLoss(net.Forward(autograd.Const(x)), labels)
		loss.Backward()
		opt.Step()
		v, err := loss.Item()
		require.NoError(t, err)
		return v
	}
	step(net, opt)
	path := filepath.Join(t.TempDir(), "ckpt.safetensors")
	require.NoError(t, nn.SaveCheckpoint(path, net, opt))
	want := step(net, opt)

	// A fresh model and optimizer resumed from the checkpoint take the same
	// next step.
	other := newRoundTripNet(dev)
	otherOpt := optim.NewAdam(nn.Parameters(other), 1e-2)
	require.NoError(t, nn.LoadCheckpoint(path, other, otherOpt))
	assert.InDelta(t, want, step(other, otherOpt), 1e-6)
	// Load (without an optimizer) accepts the same file.
	require.NoError(t, nn.Load(path, newRoundTripNet(dev)))
}

// TestLoadRejectsBadFiles covers each bad input: the error names the file
// and the tensor, and the model is left exactly as it was.
func TestLoadRejectsBadFiles(t *testing.T) {
	dev := device.CPU()
	dir := t.TempDir()
	good := filepath.Join(dir, "good.safetensors")
	require.NoError(t, nn.Save(good, trainedNet(t, dev)))
	goodFile, err := safetensors.ReadFile(good)
	require.NoError(t, err)
	raw, err := os.ReadFile(good)
	require.NoError(t, err)

	edited := func(name string, edit func(f *safetensors.File)) string {
		f, err := safetensors.Parse(raw)
		require.NoError(t, err)
		edit(f)
		path := filepath.Join(dir, name)
		require.NoError(t, safetensors.WriteFile(path, f))
		return path
	}
	cases := []struct {
		name string
		path string
		want []string
	}{
		{"missing tensor", edited("missing.safetensors", func(f *safetensors.File) { delete(f.Tensors, "fc1.bias") }),
			[]string{"missing.safetensors", `"fc1.bias"`, "missing"}},
		{"extra tensor", edited("extra.safetensors", func(f *safetensors.File) {
			f.Tensors["fc3.weight"] = safetensors.FromFloat32([]int{1}, []float32{1})
		}), []string{"extra.safetensors", `"fc3.weight"`, "not in the model"}},
		{"wrong shape", edited("shape.safetensors", func(f *safetensors.File) {
			f.Tensors["fc2.weight"] = safetensors.FromFloat32([]int{16, 3}, make([]float32, 48))
		}), []string{"shape.safetensors", `"fc2.weight"`, "shape [16 3] in the file, [3 16] in the model"}},
		{"wrong dtype", edited("dtype.safetensors", func(f *safetensors.File) {
			f.Tensors["ln.bias"] = safetensors.FromInt32([]int{16}, make([]int32, 16))
		}), []string{"dtype.safetensors", `"ln.bias"`, "type I32 in the file, want F32"}},
		{"truncated", writeBytes(t, dir, "truncated.safetensors", raw[:len(raw)-10]), []string{"truncated.safetensors"}},
		{"corrupt header", writeBytes(t, dir, "corrupt.safetensors", corruptHeader(raw)), []string{"corrupt.safetensors"}},
		{"not a file", filepath.Join(dir, "absent.safetensors"), []string{"absent.safetensors"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			net := newRoundTripNet(dev)
			before := stateOf(t, net)
			err := nn.Load(c.path, net)
			require.Error(t, err)
			for _, w := range c.want {
				assert.Contains(t, err.Error(), w)
			}
			assert.Equal(t, before, stateOf(t, net), "a failed load must not change the model")
		})
	}
	assert.NotEmpty(t, goodFile.Tensors)
}

func writeBytes(t *testing.T, dir, name string, b []byte) string {
	t.Helper()
	path := filepath.Join(dir, name)
	require.NoError(t, os.WriteFile(path, b, 0o644))
	return path
}

// corruptHeader breaks the JSON of a safetensors file's header.
func corruptHeader(raw []byte) []byte {
	b := append([]byte(nil), raw...)
	b[8] = '['
	return b
}

func stateOf(t *testing.T, m any) map[string][]float32 {
	t.Helper()
	out := map[string][]float32{}
	for _, p := range nn.NamedParameters(m) {
		v, err := p.Param.Data()
		require.NoError(t, err)
		out[p.Name] = v
	}
	for _, b := range nn.NamedBuffers(m) {
		v, err := b.Buffer.T.Data()
		require.NoError(t, err)
		out[b.Name] = v
	}
	return out
}

// TestSaveIsAtomic: a save that cannot complete leaves the previous
// checkpoint intact and loadable.
func TestSaveIsAtomic(t *testing.T) {
	dev := device.CPU()
	dir := t.TempDir()
	path := filepath.Join(dir, "model.safetensors")
	net := trainedNet(t, dev)
	require.NoError(t, nn.Save(path, net))
	before, err := os.ReadFile(path)
	require.NoError(t, err)

	// A parameter that cannot be read back (here: released) makes the save
	// fail before anything is written.
	broken := newRoundTripNet(dev)
	broken.FC1.Bias.Value().Release()
	err = nn.Save(path, broken)
	require.Error(t, err)
	assert.Contains(t, err.Error(), `"fc1.bias"`)
	after, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, before, after)
	require.NoError(t, nn.Load(path, newRoundTripNet(dev)))
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	assert.Len(t, entries, 1, "no temporary files are left behind")
}
