package device

import "github.com/wgtensor/wgtensor/device/backend"

// The unexported names that the WebGPU backend, still in this package, uses
// for what moved to package backend; they go when it moves out as the CPU
// backend did.

// memoryCap is the limit of SetMemoryLimit, embedded in each device.
type memoryCap struct{ backend.MemoryCap }

// admit returns nil when size more bytes fit under the cap (see
// backend.MemoryCap.Admit).
func (c *memoryCap) admit(size int64, live func() int64) error { return c.Admit(size, live) }

// reclaimBeforeCreate calls the installed reclaim function, if any.
func reclaimBeforeCreate() { backend.Reclaim(false) }
