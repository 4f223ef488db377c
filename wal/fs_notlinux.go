//go:build !linux

package wal

import "os"

// preallocate has no portable fallocate outside Linux: extend the file with
// Truncate, which gives the size (and zeros) but not allocated blocks.
func preallocate(f *os.File, _, size int64) error { return f.Truncate(size) }

func datasync(f *os.File) error { return f.Sync() }
