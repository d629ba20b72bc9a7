package onnx

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/wgtensor/wgtensor/tensor"
)

// NodeTime is how long one node of a profiled run took.
type NodeTime struct {
	Node string // the node's name ("#i" for the i-th unnamed node)
	// Op is the node's operator, followed by those of the nodes fused
	// into it at Load: "Conv+Add+Relu".
	Op    string
	Shape []int // its first output's shape
	Time  time.Duration
}

// Profile is what each node of one run took, in the graph's order, as ONNX
// Runtime's profiler reports it: the device is synchronized after each
// node, so each time is that node's own work (on a GPU, without the
// overlap of an unprofiled run).
type Profile struct {
	Nodes []NodeTime
	Total time.Duration // the whole run, outputs included
}

// Profile runs the model on inputs as Run does and returns, besides the
// outputs, the time each node took.
func (m *Model) Profile(inputs map[string]*tensor.Tensor) (map[string]*tensor.Tensor, *Profile, error) {
	p := &Profile{Nodes: make([]NodeTime, 0, len(m.nodes))}
	start := time.Now()
	out, err := m.run(inputs, p)
	p.Total = time.Since(start)
	if err != nil {
		return nil, nil, err
	}
	return out, p, nil
}

// nodeOp is the label of n in a profile: its operator and those of the
// nodes fused into it.
func nodeOp(n *node) string {
	op := n.op
	for _, f := range n.fusedNames() {
		op += "+" + strings.Fields(f)[0]
	}
	return op
}

// ByOp sums the nodes' times per operator label, longest first.
func (p *Profile) ByOp() []NodeTime {
	var ops []NodeTime
	for _, n := range p.Nodes {
		i := slices.IndexFunc(ops, func(o NodeTime) bool { return o.Op == n.Op })
		if i < 0 {
			ops = append(ops, NodeTime{Op: n.Op})
			i = len(ops) - 1
		}
		ops[i].Time += n.Time
	}
	slices.SortStableFunc(ops, func(a, b NodeTime) int { return cmp.Compare(b.Time, a.Time) })
	return ops
}

// String formats the profile as two tables: the time per operator, then
// the slowest nodes (at most 20), each with its share of the nodes' sum.
func (p *Profile) String() string {
	var sum time.Duration
	for _, n := range p.Nodes {
		sum += n.Time
	}
	share := func(d time.Duration) float64 {
		if sum == 0 {
			return 0
		}
		return 100 * float64(d) / float64(sum)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "run %v, nodes %v in %d nodes\n", p.Total.Round(time.Microsecond), sum.Round(time.Microsecond), len(p.Nodes))
	w := tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(w, "µs\tshare\t op")
	for _, o := range p.ByOp() {
		fmt.Fprintf(w, "%.1f\t%.1f%%\t %s\n", us(o.Time), share(o.Time), o.Op)
	}
	fmt.Fprintln(w, "\t\t")
	fmt.Fprintln(w, "µs\tshare\t node\t op\t shape")
	nodes := slices.Clone(p.Nodes)
	slices.SortStableFunc(nodes, func(a, b NodeTime) int { return cmp.Compare(b.Time, a.Time) })
	for _, n := range nodes[:min(len(nodes), 20)] {
		fmt.Fprintf(w, "%.1f\t%.1f%%\t %s\t %s\t %v\n", us(n.Time), share(n.Time), n.Node, n.Op, n.Shape)
	}
	w.Flush()
	return b.String()
}

func us(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }
