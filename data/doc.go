// Package data loads training data and feeds it to models in batches.
//
// It has three parts:
//
//   - ReadIDX and ParseIDX read the IDX format of MNIST and Fashion-MNIST,
//     gzip-compressed or raw, validating every header field and refusing
//     hostile input with an error instead of a panic or a huge allocation.
//   - Dataset is the interface a Loader reads from; Memory is a dataset held
//     in host memory as float32, and MNIST and FashionMNIST build one from
//     the standard files. FindMNIST and FindFashionMNIST locate those files
//     where `go mod download` and Debian's dataset-fashion-mnist package put
//     them.
//   - Loader assembles shuffled batches in host memory, optionally in a
//     background goroutine, normalises them and uploads them to a device as
//     tensors, through a range-over-func iterator.
//
// A training loop:
//
//	dir, err := data.FindMNIST() // or a -data DIR flag
//	if err != nil {
//		log.Fatal(err) // says what to install
//	}
//	train, err := data.MNIST(dir, true)
//	if err != nil {
//		log.Fatal(err)
//	}
//	loader := data.NewLoader(train, dev, data.LoaderOptions{
//		BatchSize: 64, Shuffle: true, Seed: 1, Prefetch: 2,
//		Mean: 0.1307, Std: 0.3081,
//	})
//	for epoch := range 10 {
//		for b := range loader.Batches(epoch) {
//			// b.Input is [64 1 28 28] float32, b.Target [64] int32
//		}
//	}
package data
