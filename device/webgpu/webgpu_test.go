package webgpu_test

import (
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/wgtensor/wgtensor/device"
	"github.com/wgtensor/wgtensor/device/devicetest"
)

func alloc(t *testing.T, d device.Device, dt device.DType, n int) device.Buffer {
	t.Helper()
	b, err := d.Alloc(dt, n)
	require.NoError(t, err)
	return b
}

func upload(t *testing.T, d device.Device, data []float32) device.Buffer {
	t.Helper()
	b := alloc(t, d, device.Float32, len(data))
	require.NoError(t, d.Write(b, data))
	return b
}

func read(t *testing.T, d device.Device, b device.Buffer) []float32 {
	t.Helper()
	out := make([]float32, b.Len())
	require.NoError(t, d.Read(b, out))
	return out
}

func TestGPUName(t *testing.T) {
	g := devicetest.GPU(t)
	assert.Regexp(t, `^gpu: .+ on (Vulkan|Metal|D3D12)$`, g.Name())
	assert.Equal(t, device.KindGPU, g.Kind())
}

// TestGPUWithoutDriver runs this test binary again with the Vulkan loader
// pointed at a driver that does not exist: GPU must return an error that
// says what to install, and the process must not crash.
func TestGPUWithoutDriver(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the Vulkan loader variables are tested on Linux")
	}
	if os.Getenv("WGTENSOR_CHILD") == "nodriver" {
		_, err := device.GPU()
		if err == nil {
			os.Exit(3)
		}
		os.Stdout.WriteString(err.Error())
		os.Exit(0)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestGPUWithoutDriver$")
	cmd.Env = append(os.Environ(), "WGTENSOR_CHILD=nodriver",
		"VK_ICD_FILENAMES=/nonexistent/icd.json", "VK_DRIVER_FILES=/nonexistent/icd.json")
	out, err := cmd.Output()
	require.NoError(t, err, "child output: %s", out)
	if strings.Contains(string(out), "has no GPU backend") {
		t.Skip("this build has no GPU backend (built without cgo): nothing to install")
	}
	assert.Contains(t, string(out), "no WebGPU adapter found")
	assert.Contains(t, string(out), "mesa-vulkan-drivers libvulkan1")
}

func TestGPUAllocBeyondLimit(t *testing.T) {
	g := devicetest.GPU(t)
	limit := g.(device.Limiter).MaxBufferBytes()
	_, err := g.Alloc(device.Float32, int(limit/4)+1)
	require.Error(t, err)
	assert.ErrorContains(t, err, "maxBufferSize")
	_, err = g.Alloc(device.Float32, -1)
	assert.ErrorContains(t, err, "negative")
	// The device is unharmed.
	b := upload(t, g, []float32{1, 2})
	assert.Equal(t, []float32{1, 2}, read(t, g, b))
}

func TestGPUBatchesDispatches(t *testing.T) {
	g := devicetest.GPU(t)
	require.NoError(t, g.Sync())
	x := upload(t, g, []float32{1, 2, 3})
	before := g.Stats()
	bufs := []device.Buffer{x}
	for range 50 { // copies into part of a buffer, which are not deferred as whole results are
		y := alloc(t, g, device.Float32, 4)
		g.Copy(device.Dense(y, 3), device.Dense(bufs[len(bufs)-1], 3))
		bufs = append(bufs, y)
	}
	mid := g.Stats()
	assert.Equal(t, before.Submits, mid.Submits, "recording must not submit")
	assert.Equal(t, before.Dispatches+50, mid.Dispatches)
	assert.Equal(t, []float32{1, 2, 3}, read(t, g, bufs[len(bufs)-1])[:3])
	after := g.Stats()
	assert.Equal(t, mid.Submits+1, after.Submits, "one submit for 50 dispatches and a read")
	assert.Equal(t, mid.Readbacks+1, after.Readbacks)
	for _, b := range bufs {
		g.Free(b)
	}
}

func TestGPUPoolReusesBuffers(t *testing.T) {
	g := devicetest.GPU(t)
	b := alloc(t, g, device.Float32, 1000)
	g.Free(b)
	g.Free(b) // a second free is ignored
	created := g.Stats().Created
	c := alloc(t, g, device.Int32, 1000)
	assert.Equal(t, created, g.Stats().Created, "a freed buffer of the same size class is reused")
	g.Free(c)
}

func TestGPUInPlaceUpdate(t *testing.T) {
	g := devicetest.GPU(t)
	p := upload(t, g, []float32{1, 2, 3, 4})
	d := upload(t, g, []float32{10, 20, 30, 40})
	// p = p - 0.5*d, written into p itself, as an optimizer does.
	h := alloc(t, g, device.Float32, 4)
	g.BinaryScalar(device.Mul, h, device.Dense(d, 4), 0.5, false)
	g.Binary(device.Sub, p, device.Dense(p, 4), device.Dense(h, 4))
	assert.Equal(t, []float32{-4, -8, -12, -16}, read(t, g, p))
	// An accumulating primitive whose source is its destination.
	idx := alloc(t, g, device.Int32, 2)
	require.NoError(t, g.Write(idx, []int32{0, 0}))
	g.IndexAdd(p, idx, p, device.GatherShape{Outer: 1, N: 4, M: 2, Inner: 1})
	assert.Equal(t, []float32{-16, -8, -12, -16}, read(t, g, p))
}

func TestGPUManyWorkgroups(t *testing.T) {
	g := devicetest.GPU(t)
	// More than 65535 workgroups of 256 threads, so the grid folds into a
	// second dimension.
	n := 65536*256 + 1000
	x := alloc(t, g, device.Float32, n)
	g.Fill(x, 1)
	y := alloc(t, g, device.Float32, n)
	g.BinaryScalar(device.Mul, y, device.Dense(x, n), 3, false)
	s := alloc(t, g, device.Float32, 1)
	g.Reduce(device.ReduceSum, s, device.Dense(y, n), 1)
	assert.InEpsilon(t, 3*float64(n), float64(read(t, g, s)[0]), 1e-6)

	rows := 70000
	sm := alloc(t, g, device.Float32, rows*2)
	g.Softmax(sm, x, rows, 2, false)
	out := read(t, g, sm)
	assert.Equal(t, float32(0.5), out[0])
	assert.Equal(t, float32(0.5), out[len(out)-1])
	for _, b := range []device.Buffer{x, y, s, sm} {
		g.Free(b)
	}
}

func TestGPUConcurrentUse(t *testing.T) {
	g := devicetest.GPU(t)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			x, err := g.Alloc(device.Float32, 257)
			if err != nil {
				errs <- err
				return
			}
			g.Fill(x, float64(w))
			s, err := g.Alloc(device.Float32, 1)
			if err != nil {
				errs <- err
				return
			}
			g.Reduce(device.ReduceSum, s, device.Dense(x, 257), 1)
			out := make([]float32, 1)
			if err := g.Read(s, out); err != nil {
				errs <- err
				return
			}
			if out[0] != float32(257*w) {
				errs <- assert.AnError
			}
			g.Free(x)
			g.Free(s)
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
