package vfs

import "errors"

// ENOSPC is the "no space left on device" error, for injection. Plan 9 has
// no errno, so it is a plain error there.
var ENOSPC = errors.New("no space left on device")
