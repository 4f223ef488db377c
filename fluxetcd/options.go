package fluxetcd

import (
	"fmt"

	"github.com/fluxmap/fluxmap"
)

// Defaults of Options, equal to etcd's own server defaults.
const (
	// DefaultPrefix is the etcd key prefix used when Options.Prefix is
	// empty.
	DefaultPrefix = "fluxmap/"
	// DefaultMaxTxnOps is etcd's default --max-txn-ops.
	DefaultMaxTxnOps = 128
	// DefaultMaxRequestBytes is etcd's default --max-request-bytes
	// (1.5 MiB).
	DefaultMaxRequestBytes = 1536 << 10
	// DefaultPageSize is how many entries a scan fetches per request.
	DefaultPageSize = 512
)

// Options configures Open. The zero value is valid for key and value types
// with built-in codecs (see fluxmap.DefaultKeyCodec).
type Options[K, V any] struct {
	// Prefix is prepended to every key in etcd, so that several databases
	// (or other users of the cluster) share it without meeting. Give each
	// database its own prefix, one that is not a prefix of another's.
	// Default: DefaultPrefix.
	Prefix string
	// KeyCodec encodes keys. It must be order-preserving (see
	// fluxmap.KeyCodec): ranges and prefix scans select by the encoding.
	// Default: fluxmap.DefaultKeyCodec[K]().
	KeyCodec fluxmap.KeyCodec[K]
	// ValueCodec encodes values. Default: fluxmap.DefaultValueCodec[V]();
	// required for a V without a built-in (fluxmap.JSONCodec and
	// fluxmap.GobCodec fit any type).
	ValueCodec fluxmap.ValueCodec[V]
	// MaxTxnOps must not exceed the cluster's --max-txn-ops: a commit
	// needing more operations (writes) or more comparisons (one per key
	// read, one per range scanned) fails with fluxmap.ErrTxnTooLarge
	// before anything is sent. Default: DefaultMaxTxnOps.
	MaxTxnOps int
	// MaxRequestBytes must not exceed the cluster's --max-request-bytes: a
	// commit whose request would be larger (estimated from above) fails
	// with fluxmap.ErrTxnTooLarge before anything is sent. Default:
	// DefaultMaxRequestBytes.
	MaxRequestBytes int
	// PageSize is how many entries a scan reads per request. Default:
	// DefaultPageSize.
	PageSize int
}

// resolve fills in defaults and validates, naming the bad field.
func (o Options[K, V]) resolve() (Options[K, V], error) {
	if o.Prefix == "" {
		o.Prefix = DefaultPrefix
	}
	if o.KeyCodec == nil {
		if o.KeyCodec = fluxmap.DefaultKeyCodec[K](); o.KeyCodec == nil {
			return o, fmt.Errorf("fluxetcd: %w: KeyCodec: %T has no built-in key codec", fluxmap.ErrConfig, *new(K))
		}
	}
	if o.ValueCodec == nil {
		if o.ValueCodec = fluxmap.DefaultValueCodec[V](); o.ValueCodec == nil {
			return o, fmt.Errorf("fluxetcd: %w: ValueCodec: %T has no built-in value codec (try fluxmap.JSONCodec)", fluxmap.ErrConfig, *new(V))
		}
	}
	for _, f := range []struct {
		name string
		v    *int
		def  int
	}{
		{"MaxTxnOps", &o.MaxTxnOps, DefaultMaxTxnOps},
		{"MaxRequestBytes", &o.MaxRequestBytes, DefaultMaxRequestBytes},
		{"PageSize", &o.PageSize, DefaultPageSize},
	} {
		switch {
		case *f.v == 0:
			*f.v = f.def
		case *f.v < 0:
			return o, fmt.Errorf("fluxetcd: %w: %s: %d is negative", fluxmap.ErrConfig, f.name, *f.v)
		}
	}
	return o, nil
}
