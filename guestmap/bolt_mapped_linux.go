//go:build linux

package guestmap

import "syscall"

// dropMapped unmaps the resident pages of [addr, addr+size) of a shared
// file mapping (see bolt_mapped.go). Failure only leaves the pages mapped.
func dropMapped(addr uintptr, size int64) {
	if size <= 0 {
		return
	}
	_, _, _ = syscall.Syscall(syscall.SYS_MADVISE, addr, uintptr(size), syscall.MADV_DONTNEED)
}
