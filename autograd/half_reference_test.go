package autograd_test

import (
	"encoding/json"
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/wgtensor/wgtensor/autograd"
	"github.com/wgtensor/wgtensor/device/devicetest"
	"github.com/wgtensor/wgtensor/tensor"
)

// halfRefCase is one case of testdata/reference_half.json: a case of
// reference.json run by PyTorch in float16 or bfloat16 on its inputs
// rounded to that type (testdata/gen_half_reference.py).
type halfRefCase struct {
	Name   string       `json:"name"`
	DType  string       `json:"dtype"`
	Native bool         `json:"native"`
	Output []float64    `json:"output"`
	Grads  [][]float64  `json:"grads"`
	ref    refCase      // the case's inputs, from reference.json
	dt     tensor.DType // DType as a tensor type
}

// halfRefTol is how far wgtensor's 16-bit results may be from PyTorch's:
// two units in the last place of the 16-bit type (2^-11 relative for
// float16, 2^-8 for bfloat16), since wgtensor rounds the result of every
// primitive op to the 16-bit type while PyTorch's CPU kernels keep some
// ops (softmax, layer norm, the losses, matmul's sums) in float32 inside
// one kernel and round once. The absolute terms cover results that cancel
// to near zero.
var halfRefTol = map[tensor.DType]devicetest.Tol{
	tensor.Float16:  {Abs: 2e-3, Rel: 2e-3},
	tensor.BFloat16: {Abs: 1.6e-2, Rel: 1.6e-2},
}

// compositeTol is halfRefTol for the composite cases (a two-layer network
// with its loss, a convolution block, attention, three RNN steps): dozens
// of ops, each rounding, between input and gradient. Their bfloat16
// gradients differ from PyTorch's by up to 3% of their largest value.
var compositeTol = map[tensor.DType]devicetest.Tol{
	tensor.Float16:  {Abs: 1e-2, Rel: 1e-2},
	tensor.BFloat16: {Abs: 6e-2, Rel: 6e-2},
}

var composites = map[string]bool{"mlp_ce": true, "conv_pool": true, "attention": true, "rnn3": true}

func loadHalfReference(t *testing.T) []halfRefCase {
	t.Helper()
	byName := map[string]refCase{}
	for _, c := range loadReference(t) {
		byName[c.Name] = c
	}
	raw, err := os.ReadFile("testdata/reference_half.json")
	require.NoError(t, err)
	var doc struct{ Cases []halfRefCase }
	require.NoError(t, json.Unmarshal(raw, &doc))
	for i := range doc.Cases {
		c := &doc.Cases[i]
		ref, ok := byName[c.Name]
		require.True(t, ok, "reference_half.json case %q is not in reference.json", c.Name)
		c.ref = ref
		c.dt = map[string]tensor.DType{"float16": tensor.Float16, "bfloat16": tensor.BFloat16}[c.DType]
		require.NotZero(t, c.dt, "case %q: dtype %q", c.Name, c.DType)
	}
	return doc.Cases
}

// TestPyTorchHalfReference runs every op of the reference table forward
// and backward in Float16 and BFloat16 on every device and compares output
// and gradients with PyTorch's, within halfRefTol.
func TestPyTorchHalfReference(t *testing.T) {
	cases := loadHalfReference(t)
	require.Len(t, cases, 2*len(loadReference(t)), "every case in both types")
	for _, dev := range devicetest.Devices(t) {
		for _, c := range cases {
			t.Run(dev.Kind().String()+"/"+c.DType+"/"+c.Name, func(t *testing.T) {
				var p refParams
				require.NoError(t, json.Unmarshal(c.ref.Params, &p))
				vars := make([]*autograd.Var, len(c.ref.Inputs))
				for i, in := range c.ref.Inputs {
					x := in.tensor(dev)
					if x.DType() == tensor.Float32 {
						x = x.AsType(c.dt)
					}
					vars[i] = autograd.New(x, in.Grad)
				}
				out := refOps[c.ref.Op](vars, p)
				assert.Equal(t, c.dt, out.Value().DType(), "the output keeps the inputs' type")
				got, err := out.Data()
				require.NoError(t, err)
				tol := halfRefTol[c.dt]
				if composites[c.ref.Op] {
					tol = compositeTol[c.dt]
				}
				if msg := devicetest.Compare(got, toFloat32(c.Output), tol); msg != "" {
					t.Errorf("output (PyTorch native %v): %s", c.Native, msg)
				}
				out.BackwardWith(c.ref.GradOutput.tensor(dev).AsType(c.dt))
				for i, want := range c.Grads {
					if want == nil {
						continue
					}
					g := vars[i].Grad()
					require.NotNil(t, g, "no gradient for input %d", i)
					assert.Equal(t, c.dt, g.DType(), "gradient %d type", i)
					gv, err := g.Data()
					require.NoError(t, err)
					if msg := devicetest.Compare(gv, toFloat32(want), tol); msg != "" {
						t.Errorf("gradient of input %d (PyTorch native %v): %s", i, c.Native, msg)
					}
				}
			})
		}
	}
}

func toFloat32(v []float64) []float32 {
	out := make([]float32, len(v))
	for i, x := range v {
		out[i] = float32(x)
	}
	return out
}
