package tensor

import (
	"testing"
	"unsafe"
)

// TestStorageSize: the padding gives a storage the size its comment
// promises, whatever the sizes of its fields.
func TestStorageSize(t *testing.T) {
	if got := unsafe.Sizeof(storage{}); got != 256 {
		t.Fatalf("storage is %d bytes, want 256: adjust storagePad", got)
	}
}
