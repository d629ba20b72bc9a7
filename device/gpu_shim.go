//go:build cgo && ((linux && amd64) || darwin || (windows && amd64))

package device

/*
#include <stddef.h>

// wgpu-native treats an error nobody captures as fatal and aborts the
// process. go-webgpu captures the errors of the calls it wraps in error
// scopes, but not those of Queue.Submit or of an out-of-memory allocation,
// and it does not expose the uncaptured-error callback, so this file
// installs one. The symbol lives in the static wgpu-native library that
// go-webgpu links; it is declared weak here because cgo links this package's
// objects once on their own, before that library is present.
typedef void (*wgt_error_callback)(int type, char const *message, void *userdata);
extern void wgpuDeviceSetUncapturedErrorCallback(void *device, wgt_error_callback callback, void *userdata) __attribute__((weak));

extern void wgtensorUncapturedError(int type, char *message);

static void wgt_uncaptured(int type, char const *message, void *userdata) {
	wgtensorUncapturedError(type, (char *)message);
}

// wgpuBufferDestroy frees a buffer's memory while handles to it remain;
// tests use it to provoke a driver-reported fault.
extern void wgpuBufferDestroy(void *buffer) __attribute__((weak));

static int wgt_destroy_buffer(void *buffer) {
	if (wgpuBufferDestroy == NULL) {
		return 0;
	}
	wgpuBufferDestroy(buffer);
	return 1;
}

static int wgt_install_error_callback(void *device) {
	if (wgpuDeviceSetUncapturedErrorCallback == NULL) {
		return 0;
	}
	wgpuDeviceSetUncapturedErrorCallback(device, wgt_uncaptured, NULL);
	return 1;
}
*/
import "C"

import (
	"sync"
	"unsafe"

	"github.com/rajveermalviya/go-webgpu/wgpu"
)

// uncaptured receives the errors wgpu-native reports outside any error scope.
// There is one WebGPU device per process, so a package variable is enough.
var uncaptured struct {
	sync.Mutex
	handler func(typ wgpu.ErrorType, message string)
}

//export wgtensorUncapturedError
func wgtensorUncapturedError(typ C.int, message *C.char) {
	uncaptured.Lock()
	h := uncaptured.handler
	uncaptured.Unlock()
	if h != nil {
		h(wgpu.ErrorType(typ), C.GoString(message))
	}
}

// installErrorCallback routes dev's uncaptured errors to h. It reports false
// when the callback could not be installed.
func installErrorCallback(dev *wgpu.Device, h func(wgpu.ErrorType, string)) bool {
	uncaptured.Lock()
	uncaptured.handler = h
	uncaptured.Unlock()
	// go-webgpu's Device is a struct whose only field is the C handle.
	ref := *(*unsafe.Pointer)(unsafe.Pointer(dev))
	return C.wgt_install_error_callback(ref) == 1
}

// destroyBuffer destroys buf's memory while handles to it remain, so that
// work using it fails validation: how tests provoke a device fault.
func destroyBuffer(buf *wgpu.Buffer) bool {
	ref := *(*unsafe.Pointer)(unsafe.Pointer(buf))
	return C.wgt_destroy_buffer(ref) == 1
}
