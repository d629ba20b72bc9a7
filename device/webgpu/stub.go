//go:build !(cgo && ((linux && amd64) || darwin || (windows && amd64)))

package webgpu

import (
	"errors"

	"github.com/wgtensor/wgtensor/device/backend"
)

// Open reports that this build has no WebGPU backend: it needs cgo and one of
// the platforms wgpu-native ships for (linux/amd64, darwin, windows/amd64).
func Open() (backend.Device, error) {
	return nil, errors.New("device: this build of wgtensor has no GPU backend: build with CGO_ENABLED=1 on linux/amd64, darwin or windows/amd64")
}
