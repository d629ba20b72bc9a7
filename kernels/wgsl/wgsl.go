// Package wgsl holds the WGSL compute shaders of wgtensor's WebGPU backend,
// one file per op family, embedded into the binary.
//
// Each family's source is a Go text/template: the backend prepends
// common.wgsl (shared helpers and template definitions), fills in the
// specialisation (element types, the op's expression) and compiles one
// pipeline per specialisation, caching it.
package wgsl

import (
	"embed"
	"fmt"
)

//go:embed *.wgsl
var files embed.FS

// Common is the source of the helpers every family uses.
var Common = mustRead("common.wgsl")

// Source returns the template source of one op family, such as "binary" for
// binary.wgsl.
func Source(family string) (string, error) {
	b, err := files.ReadFile(family + ".wgsl")
	if err != nil {
		return "", fmt.Errorf("wgsl: no kernel family %q: %w", family, err)
	}
	return string(b), nil
}

// Families lists the op families, for tools that compile them all.
func Families() []string {
	entries, _ := files.ReadDir(".")
	var names []string
	for _, e := range entries {
		if name := e.Name(); name != "common.wgsl" {
			names = append(names, name[:len(name)-len(".wgsl")])
		}
	}
	return names
}

func mustRead(name string) string {
	b, err := files.ReadFile(name)
	if err != nil {
		panic(err)
	}
	return string(b)
}
