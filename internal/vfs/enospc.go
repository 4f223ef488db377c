//go:build !plan9

package vfs

import "syscall"

// ENOSPC is the "no space left on device" error (syscall.ENOSPC), for
// injection.
var ENOSPC error = syscall.ENOSPC
