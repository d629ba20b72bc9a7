package onnx

import (
	"slices"

	"github.com/wgtensor/wgtensor/tensor"
)

// A run releases each intermediate value's tensor once the last node that
// reads it has run, as ONNX Runtime's allocation planner reuses memory:
// its buffer goes straight back to the device's pool for the nodes after,
// so a steady run takes every buffer from the pool and needs no garbage
// collection to get them back (MobileNetV2 on the CPU collected once a
// run, about 1 ms of 8).
//
// Values may view one another's memory (Reshape, Flatten and Transpose
// return views, Identity and Cast to the same type their input): memory is
// released when no value still to be read views it, and never when a
// constant, a model input or a model output does.

// lifetimes tracks a run's values for release. A model makes its plan
// once the graph is final (see prepareRuns); each run clears the counts.
type lifetimes struct {
	// pinnedIn says of each input of node i whether it is a constant or
	// a model input, and drops lists the values to stop counting after
	// node i: those it reads for the last time and those it makes that
	// nothing reads, model outputs aside (outputs).
	pinnedIn [][]bool
	drops    [][]string
	outputs  []string
	// held lists the values counted in users, with their memory; pinned
	// is the memory of constants and model inputs.
	held   map[string]tensor.MemoryID
	users  map[tensor.MemoryID]int
	pinned map[tensor.MemoryID]bool
}

// newLifetimes plans the release of the values of a run of m.
func (m *Model) newLifetimes() *lifetimes {
	lt := &lifetimes{held: map[string]tensor.MemoryID{}, users: map[tensor.MemoryID]int{}, pinned: map[tensor.MemoryID]bool{}}
	last := map[string]int{} // the index of the last node that reads each value
	for i, n := range m.nodes {
		for _, name := range n.inputs {
			last[name] = i
		}
	}
	inputs, outputs := map[string]bool{}, map[string]bool{}
	for _, in := range m.inputs {
		inputs[in.Name] = true
	}
	for _, out := range m.outputs {
		outputs[out.Name] = true
		lt.outputs = append(lt.outputs, out.Name)
	}
	for i, n := range m.nodes {
		pinned := make([]bool, len(n.inputs))
		for j, name := range n.inputs {
			_, constant := m.consts[name]
			pinned[j] = constant || inputs[name]
		}
		var drops []string
		for _, names := range [][]string{n.inputs, n.outputs} {
			for _, name := range names {
				if l, ok := last[name]; name == "" || ok && l > i || outputs[name] || slices.Contains(drops, name) {
					continue
				}
				drops = append(drops, name)
			}
		}
		lt.pinnedIn = append(lt.pinnedIn, pinned)
		lt.drops = append(lt.drops, drops)
	}
	return lt
}

// reset clears the counts of the run before.
func (lt *lifetimes) reset() {
	clear(lt.held)
	clear(lt.users)
	clear(lt.pinned)
}

// after runs once node i, n, has run and its outputs are in env: it counts
// the memory n's values view, and releases what no value still to be read
// views.
func (lt *lifetimes) after(i int, n *node, env map[string]*value) {
	// The node's inputs: constants' and model inputs' memory (including a
	// device form the node just made of a host constant) is pinned, and an
	// intermediate's device form made during the node is counted from now.
	for j, name := range n.inputs {
		v := env[name]
		if v == nil || v.t == nil {
			continue
		}
		if lt.pinnedIn[i][j] {
			lt.pinned[v.t.MemoryID()] = true
			continue
		}
		lt.hold(name, v)
	}
	for _, name := range n.outputs {
		if v := env[name]; name != "" && v != nil && v.t != nil {
			lt.hold(name, v)
		}
	}
	for _, name := range lt.drops[i] {
		lt.drop(name, env)
	}
}

// done runs once the model's outputs have been copied for the caller: it
// releases the memory they view, unless it is pinned.
func (lt *lifetimes) done(env map[string]*value) {
	for _, name := range lt.outputs {
		lt.drop(name, env)
	}
}

// drop stops counting the value name as a user of its memory, and
// releases the memory when it was the last and the memory is not pinned.
func (lt *lifetimes) drop(name string, env map[string]*value) {
	id, ok := lt.held[name]
	if !ok {
		return
	}
	delete(lt.held, name)
	if lt.users[id]--; lt.users[id] == 0 {
		delete(lt.users, id)
		if !lt.pinned[id] {
			env[name].t.Release()
		}
	}
}

// hold counts the value name, v, as a user of its memory, once.
func (lt *lifetimes) hold(name string, v *value) {
	if _, ok := lt.held[name]; ok {
		return
	}
	id := v.t.MemoryID()
	if id == (tensor.MemoryID{}) {
		return
	}
	lt.held[name] = id
	lt.users[id]++
}
