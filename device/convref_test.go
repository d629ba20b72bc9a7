package device

import "github.com/wgtensor/wgtensor/device/internal/convref"

// cpuConvTap calls fn(xi, wi, yi) for every multiply-add of the direct
// convolution p (see convref.Taps); gpu_conv_test.go checks the WebGPU
// kernels with it.
func cpuConvTap(p Conv2DParams, fn func(xi, wi, yi int)) { convref.Taps(p, fn) }
