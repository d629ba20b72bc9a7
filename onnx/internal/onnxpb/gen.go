// Package onnxpb holds the protobuf types of the ONNX model format that the
// onnx package reads, generated from onnx.proto.
package onnxpb

// protoc comes from Debian's protobuf-compiler; protoc-gen-go from
// `go install google.golang.org/protobuf/cmd/protoc-gen-go@v1.36.6`.
//go:generate protoc --go_out=. --go_opt=paths=source_relative onnx.proto
