//go:build !linux

package guestmap

// dropMapped is Linux-only (see bolt_mapped.go); elsewhere the mapped
// pages stay until the kernel reclaims them.
func dropMapped(uintptr, int64) {}
