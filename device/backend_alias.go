package device

import "github.com/wgtensor/wgtensor/device/backend"

// The unexported names that the backends still in this package use for
// what moved to package backend; they go when the backends move out.

// memoryCap is the limit of SetMemoryLimit, embedded in each device.
type memoryCap struct{ backend.MemoryCap }

// admit returns nil when size more bytes fit under the cap (see
// backend.MemoryCap.Admit).
func (c *memoryCap) admit(size int64, live func() int64) error { return c.Admit(size, live) }

// reclaimBeforeCreate calls the installed reclaim function, if any.
func reclaimBeforeCreate() { backend.Reclaim(false) }
