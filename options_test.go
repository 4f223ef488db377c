package fluxmap

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// CheckpointAfterBytes(0) turns automatic checkpoints off, as documented;
// only leaving it unset gives the default threshold.
func TestCheckpointAfterBytesZeroDisables(t *testing.T) {
	opts := PersistenceOptions{Dir: t.TempDir(), SegmentSize: 32 << 20}
	cfg := New[string, int64]().DurabilityFull(opts).durableConfig(builtinKeyCodec[string](), builtinValueCodec[int64]())
	require.Equal(t, int64(4*32<<20), cfg.CheckpointBytes, "unset: four segments, at least 64 MiB")
	cfg = New[string, int64]().DurabilityFull(opts).CheckpointAfterBytes(0).durableConfig(builtinKeyCodec[string](), builtinValueCodec[int64]())
	require.Zero(t, cfg.CheckpointBytes, "0 must mean off")
	cfg = New[string, int64]().DurabilityFull(opts).CheckpointAfterBytes(1<<20).durableConfig(builtinKeyCodec[string](), builtinValueCodec[int64]())
	require.Equal(t, int64(1<<20), cfg.CheckpointBytes)
}
