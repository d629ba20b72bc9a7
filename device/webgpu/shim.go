//go:build cgo && ((linux && amd64) || darwin || (windows && amd64))

package webgpu

/*
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

// wgpu-native treats an error that no callback captures as fatal and aborts
// the process, and the WebGPU binding creates devices without an
// uncaptured-error callback (wgpu-native 29 takes it only in the device
// descriptor). So this file requests the device itself, with that callback
// and the device-lost one, and hands the device to the binding. The types
// below mirror wgpu-native 29's webgpu.h (WGPUStringView,
// WGPUDeviceDescriptor and the callback infos) field for field; the symbols
// live in the static wgpu-native library that the binding links and are
// declared weak because cgo links this package's objects once on their
// own, before that library is present.
typedef struct { char const *data; size_t length; } wgt_string;
typedef struct { void *next_in_chain; uint32_t mode; void *callback; void *userdata1; void *userdata2; } wgt_callback_info;
typedef struct { void *next_in_chain; void *callback; void *userdata1; void *userdata2; } wgt_error_callback_info;
typedef struct { void *next_in_chain; wgt_string label; } wgt_queue_descriptor;
typedef struct {
	void *next_in_chain;
	wgt_string label;
	size_t required_feature_count;
	uint32_t const *required_features;
	void const *required_limits;
	wgt_queue_descriptor default_queue;
	wgt_callback_info device_lost;
	wgt_error_callback_info uncaptured_error;
} wgt_device_descriptor;
typedef struct { uint64_t id; } wgt_future;

extern wgt_future wgpuAdapterRequestDevice(void *adapter, wgt_device_descriptor const *descriptor, wgt_callback_info callback) __attribute__((weak));
extern uint32_t wgpuAdapterGetLimits(void *adapter, void *limits) __attribute__((weak));

// wgpuBufferUnmap on a buffer that is not mapped is a validation error
// outside any error scope; tests use it to check the uncaptured-error
// callback.
extern void wgpuBufferUnmap(void *buffer) __attribute__((weak));

static int wgt_unmap(void *buffer) {
	if (wgpuBufferUnmap == NULL) {
		return 0;
	}
	wgpuBufferUnmap(buffer);
	return 1;
}

extern void wgtensorUncapturedError(uint32_t type, char *message, size_t length);
extern void wgtensorDeviceLost(uint32_t reason, char *message, size_t length);

enum { wgt_allow_spontaneous = 3, wgt_request_success = 1, wgt_limits_bytes = 4096 };

static void wgt_on_error(void const *device, uint32_t type, wgt_string message, void *u1, void *u2) {
	wgtensorUncapturedError(type, (char *)message.data, message.length);
}

static void wgt_on_lost(void const *device, uint32_t reason, wgt_string message, void *u1, void *u2) {
	wgtensorDeviceLost(reason, (char *)message.data, message.length);
}

typedef struct { uint32_t status; void *device; } wgt_requested;

static void wgt_on_device(uint32_t status, void *device, wgt_string message, void *u1, void *u2) {
	wgt_requested *r = u1;
	r->status = status;
	r->device = device;
}

// wgt_request_device requests a device of adapter with the adapter's own
// limits, the given features and both callbacks. It returns NULL, with the
// request's status (0 if the callback did not fire, -1 without the
// library's symbols), when no device came.
static void *wgt_request_device(void *adapter, uint32_t const *features, size_t nfeatures, int *status) {
	if (wgpuAdapterRequestDevice == NULL || wgpuAdapterGetLimits == NULL) {
		*status = -1;
		return NULL;
	}
	// WGPULimits is opaque here: zeroed memory larger than it, whose first
	// field (nextInChain) is then NULL, filled by the library.
	void *limits = calloc(1, wgt_limits_bytes);
	if (limits == NULL) {
		*status = -1;
		return NULL;
	}
	wgpuAdapterGetLimits(adapter, limits);
	wgt_device_descriptor d;
	memset(&d, 0, sizeof d);
	d.label.data = "wgtensor";
	d.label.length = 8;
	d.required_feature_count = nfeatures;
	d.required_features = features;
	d.required_limits = limits;
	d.device_lost.mode = wgt_allow_spontaneous;
	d.device_lost.callback = (void *)wgt_on_lost;
	d.uncaptured_error.callback = (void *)wgt_on_error;
	wgt_requested r = {0, NULL};
	wgt_callback_info cb;
	memset(&cb, 0, sizeof cb);
	cb.mode = wgt_allow_spontaneous;
	cb.callback = (void *)wgt_on_device;
	cb.userdata1 = &r;
	wgpuAdapterRequestDevice(adapter, &d, cb); // wgpu-native answers before it returns
	free(limits);
	*status = (int)r.status;
	return r.status == wgt_request_success ? r.device : NULL;
}
*/
import "C"

import (
	"fmt"
	"sync"
	"unsafe"

	"github.com/oliverbestmann/webgpu/wgpu"
)

// deviceEvents receives what wgpu-native reports outside any call: errors
// no error scope captured and the loss of the device. There is one WebGPU
// device per process, so a package variable is enough.
var deviceEvents struct {
	sync.Mutex
	uncaptured func(typ wgpu.ErrorType, message string)
	lost       func(reason wgpu.DeviceLostReason, message string)
}

//export wgtensorUncapturedError
func wgtensorUncapturedError(typ C.uint32_t, message *C.char, length C.size_t) {
	deviceEvents.Lock()
	h := deviceEvents.uncaptured
	deviceEvents.Unlock()
	if h != nil {
		h(wgpu.ErrorType(typ), C.GoStringN(message, C.int(length)))
	}
}

//export wgtensorDeviceLost
func wgtensorDeviceLost(reason C.uint32_t, message *C.char, length C.size_t) {
	deviceEvents.Lock()
	h := deviceEvents.lost
	deviceEvents.Unlock()
	if h != nil {
		h(wgpu.DeviceLostReason(reason), C.GoStringN(message, C.int(length)))
	}
}

// requestDevice opens a device of adapter with the adapter's limits, the
// given features, and the callbacks uncaptured and lost installed, and
// wraps it as the binding's Device.
func requestDevice(adapter *wgpu.Adapter, features []wgpu.FeatureName,
	uncaptured func(wgpu.ErrorType, string), lost func(wgpu.DeviceLostReason, string)) (*wgpu.Device, error) {
	deviceEvents.Lock()
	deviceEvents.uncaptured, deviceEvents.lost = uncaptured, lost
	deviceEvents.Unlock()
	var feats *C.uint32_t
	if len(features) > 0 {
		f := (*C.uint32_t)(C.malloc(C.size_t(len(features)) * 4))
		defer C.free(unsafe.Pointer(f))
		for i, name := range features {
			unsafe.Slice(f, len(features))[i] = C.uint32_t(name)
		}
		feats = f
	}
	var status C.int
	// The binding's Adapter and Device are structs whose first field is
	// the C handle.
	handle := C.wgt_request_device(*(*unsafe.Pointer)(unsafe.Pointer(adapter)), feats, C.size_t(len(features)), &status)
	switch {
	case status == -1:
		return nil, fmt.Errorf("the linked wgpu-native library lacks wgpuAdapterRequestDevice")
	case handle == nil:
		return nil, fmt.Errorf("the adapter refused the device (status %d)", int(status))
	}
	dev := new(wgpu.Device)
	*(*unsafe.Pointer)(unsafe.Pointer(dev)) = handle
	return dev, nil
}

// provokeUncapturedError makes wgpu report a validation error outside any
// error scope (unmapping buf, which is not mapped): how tests check that
// such errors reach the uncaptured-error callback instead of aborting.
func provokeUncapturedError(buf *wgpu.Buffer) bool {
	return C.wgt_unmap(*(*unsafe.Pointer)(unsafe.Pointer(buf))) == 1
}
