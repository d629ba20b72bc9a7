package nn

import (
	"math"

	"github.com/wgtensor/wgtensor/autograd"
	"github.com/wgtensor/wgtensor/device"
	"github.com/wgtensor/wgtensor/tensor"
)

// MultiheadAttention is scaled dot-product attention over NumHeads heads, as
// torch.nn.MultiheadAttention with batch_first=True: the query, key and
// value projections are stacked in InProjWeight.
type MultiheadAttention struct {
	InProjWeight *autograd.Var // [3*embed, embed]
	InProjBias   *autograd.Var // [3*embed]
	OutProj      *Linear
	NumHeads     int
}

// NewMultiheadAttention returns attention over embed features split into
// heads, initialised as PyTorch does (Xavier-uniform input projection, zero
// biases).
func NewMultiheadAttention(dev device.Device, embed, heads int) *MultiheadAttention {
	if heads <= 0 || embed%heads != 0 {
		panicf("NewMultiheadAttention", "%d heads do not divide embedding size %d", heads, embed)
	}
	out := NewLinear(dev, embed, embed)
	out.Bias = autograd.Param(tensor.Zeros(dev, embed))
	return &MultiheadAttention{
		InProjWeight: autograd.Param(XavierUniform(dev, 1, 3*embed, embed)),
		InProjBias:   autograd.Param(tensor.Zeros(dev, 3*embed)),
		OutProj:      out,
		NumHeads:     heads,
	}
}

// AttentionMask says which scores attention ignores. Masks hold non-zero
// where attention is NOT allowed, as PyTorch's boolean masks.
type AttentionMask struct {
	Causal     bool           // position t attends only to positions <= t
	Mask       *tensor.Tensor // [query, key]: a mask shared by the batch
	KeyPadding *tensor.Tensor // [batch, key]: keys to ignore per sequence
}

// Forward attends from query [batch, tq, embed] to key and value [batch, tk,
// embed] and returns the output [batch, tq, embed] and the attention weights
// averaged over heads [batch, tq, tk]. For self-attention pass the same Var
// three times.
func (m *MultiheadAttention) Forward(query, key, value *autograd.Var, mask AttentionMask) (out, weights *autograd.Var) {
	e := m.InProjWeight.Size(1)
	for _, x := range []*autograd.Var{query, key, value} {
		if x.Dim() != 3 || x.Size(2) != e {
			panicf("MultiheadAttention", "input of shape %v, want [batch, time, %d]", x.Shape(), e)
		}
	}
	h := m.NumHeads
	dh := e / h
	project := func(x *autograd.Var, i int) *autograd.Var {
		w := m.InProjWeight.Narrow(0, i*e, e)
		b := m.InProjBias.Narrow(0, i*e, e)
		y := x.MatMul(w.T()).Add(b)
		// [batch, t, embed] → [batch, heads, t, dh]
		return y.Reshape(x.Size(0), x.Size(1), h, dh).Permute(0, 2, 1, 3)
	}
	q, k, v := project(query, 0), project(key, 1), project(value, 2)
	scores := q.MatMul(k.Transpose(-1, -2)).DivScalar(math.Sqrt(float64(dh)))
	if blocked := m.blocked(query, key, mask); blocked != nil {
		scores = autograd.Where(blocked, autograd.Const(tensor.Scalar(query.Device(), float32(math.Inf(-1)))), scores)
	}
	attn := scores.Softmax(-1)
	y := attn.MatMul(v).Permute(0, 2, 1, 3).Reshape(query.Size(0), query.Size(1), e)
	return m.OutProj.Forward(y), attn.Mean(1)
}

// blocked combines the masks into one that broadcasts over [batch, heads,
// tq, tk], or returns nil when nothing is masked.
func (m *MultiheadAttention) blocked(query, key *autograd.Var, mask AttentionMask) *tensor.Tensor {
	tq, tk := query.Size(1), key.Size(1)
	dev := query.Device()
	var b *tensor.Tensor
	add := func(t *tensor.Tensor) {
		t = t.NeScalar(0)
		if b == nil {
			b = t
		} else {
			b = b.Add(t).GtScalar(0)
		}
	}
	if mask.Causal {
		rows := tensor.Arange(dev, tensor.Int32, 0, float64(tq), 1).Reshape(tq, 1)
		cols := tensor.Arange(dev, tensor.Int32, 0, float64(tk), 1).Reshape(1, tk)
		add(cols.Gt(rows))
	}
	if mask.Mask != nil {
		if s := mask.Mask.Shape(); len(s) != 2 || s[0] != tq || s[1] != tk {
			panicf("MultiheadAttention", "mask of shape %v, want [%d %d]", s, tq, tk)
		}
		add(mask.Mask)
	}
	if mask.KeyPadding != nil {
		if s := mask.KeyPadding.Shape(); len(s) != 2 || s[0] != query.Size(0) || s[1] != tk {
			panicf("MultiheadAttention", "key padding mask of shape %v, want [%d %d]", s, query.Size(0), tk)
		}
		add(mask.KeyPadding.Reshape(query.Size(0), 1, 1, tk))
	}
	return b
}

// TransformerEncoderLayer is self-attention followed by a feed-forward
// network, each with a residual connection and layer normalisation, as
// torch.nn.TransformerEncoderLayer with batch_first=True.
type TransformerEncoderLayer struct {
	SelfAttn *MultiheadAttention
	Linear1  *Linear
	Linear2  *Linear
	Norm1    *LayerNorm
	Norm2    *LayerNorm
	Dropout  *Dropout
	Dropout1 *Dropout
	Dropout2 *Dropout
	// NormFirst normalises before each block instead of after it.
	NormFirst bool
	// Activation of the feed-forward network: "relu" (the default) or "gelu".
	Activation string
}

// NewTransformerEncoderLayer returns an encoder layer of width dModel with
// nhead heads, a feed-forward network of width ff and the given dropout.
func NewTransformerEncoderLayer(dev device.Device, dModel, nhead, ff int, dropout float64) *TransformerEncoderLayer {
	return &TransformerEncoderLayer{
		SelfAttn:   NewMultiheadAttention(dev, dModel, nhead),
		Linear1:    NewLinear(dev, dModel, ff),
		Linear2:    NewLinear(dev, ff, dModel),
		Norm1:      NewLayerNorm(dev, dModel),
		Norm2:      NewLayerNorm(dev, dModel),
		Dropout:    NewDropout(dropout),
		Dropout1:   NewDropout(dropout),
		Dropout2:   NewDropout(dropout),
		Activation: "relu",
	}
}

// Forward encodes x [batch, time, dModel].
func (l *TransformerEncoderLayer) Forward(x *autograd.Var, mask AttentionMask) *autograd.Var {
	attend := func(x *autograd.Var) *autograd.Var {
		y, _ := l.SelfAttn.Forward(x, x, x, mask)
		return l.Dropout1.Forward(y)
	}
	feed := func(x *autograd.Var) *autograd.Var {
		h := l.Linear1.Forward(x)
		switch l.Activation {
		case "gelu":
			h = h.GELU()
		case "relu", "":
			h = h.ReLU()
		default:
			panicf("TransformerEncoderLayer", "unknown activation %q", l.Activation)
		}
		return l.Dropout2.Forward(l.Linear2.Forward(l.Dropout.Forward(h)))
	}
	if l.NormFirst {
		x = x.Add(attend(l.Norm1.Forward(x)))
		return x.Add(feed(l.Norm2.Forward(x)))
	}
	x = l.Norm1.Forward(x.Add(attend(x)))
	return l.Norm2.Forward(x.Add(feed(x)))
}
