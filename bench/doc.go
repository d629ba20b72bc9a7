// Package bench holds wgtensor's benchmarks: the ops users feel, at the sizes
// they use, each as a "cpu" and a "gpu" sub-benchmark. Run them with
//
//	go test -bench . ./bench
package bench
