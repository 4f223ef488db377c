package fluxmap

import (
	"context"
	"fmt"
	"runtime"
	"unsafe"

	"github.com/fluxmap/fluxmap/coordinator"
)

// IsolationLevel selects how transactions are validated at commit.
type IsolationLevel int

const (
	// Serializable (the default) makes every committed transaction appear
	// to run alone, in commit order: stale reads (including reads of absent
	// keys), phantoms in scanned ranges, lost updates and write skew are
	// refused with ErrConflict.
	Serializable IsolationLevel = iota
	// Snapshot skips read validation: transactions read a consistent
	// snapshot and concurrent writers of the same key still conflict (first
	// committer wins), but write skew is allowed.
	Snapshot
)

// String returns the level's name.
func (l IsolationLevel) String() string {
	switch l {
	case Serializable:
		return "Serializable"
	case Snapshot:
		return "Snapshot"
	}
	return fmt.Sprintf("IsolationLevel(%d)", int(l))
}

// Default limits; see the Builder setters.
const (
	DefaultMaxKeySize   = 64 << 10
	DefaultMaxValueSize = 64 << 20
	DefaultMaxTxnWrites = 1_000_000
	maxShards           = 1024
)

// Builder configures and opens a DB. Create one with New, chain setters,
// then call Build. A Builder is not safe for concurrent use; Build may be
// called more than once to open independent databases.
type Builder[K, V any] struct {
	shards       int
	isolation    IsolationLevel
	skiplistP    float64
	keyCodec     KeyCodec[K]
	valueCodec   ValueCodec[V]
	maxKeySize   int
	maxValueSize int
	maxTxnWrites int
}

// New returns a Builder with the defaults documented at each setter.
func New[K, V any]() *Builder[K, V] {
	return &Builder[K, V]{
		shards:       runtime.GOMAXPROCS(0),
		isolation:    Serializable,
		skiplistP:    0.25,
		maxKeySize:   DefaultMaxKeySize,
		maxValueSize: DefaultMaxValueSize,
		maxTxnWrites: DefaultMaxTxnWrites,
	}
}

// Shards sets the number of shard goroutines, 1 to 1024. Default:
// runtime.GOMAXPROCS(0) at the time New is called.
func (b *Builder[K, V]) Shards(n int) *Builder[K, V] { b.shards = n; return b }

// Isolation sets the isolation level. Default: Serializable.
func (b *Builder[K, V]) Isolation(l IsolationLevel) *Builder[K, V] { b.isolation = l; return b }

// SkiplistP sets the probability that a skiplist tower grows one more level,
// in (0, 1). Default: 0.25.
func (b *Builder[K, V]) SkiplistP(p float64) *Builder[K, V] { b.skiplistP = p; return b }

// KeyCodec sets the key codec. Default: the built-in codec for K (string,
// []byte, integer and float types); other key types must set one.
func (b *Builder[K, V]) KeyCodec(c KeyCodec[K]) *Builder[K, V] { b.keyCodec = c; return b }

// ValueCodec sets the value codec, used only by durable databases. Default:
// the built-in codec for V, if any.
func (b *Builder[K, V]) ValueCodec(c ValueCodec[V]) *Builder[K, V] { b.valueCodec = c; return b }

// MaxKeySize sets the largest encoded key accepted, in bytes; larger keys
// fail with ErrKeyTooLarge. Default: 64 KiB.
func (b *Builder[K, V]) MaxKeySize(n int) *Builder[K, V] { b.maxKeySize = n; return b }

// MaxValueSize sets the largest string or []byte value accepted, in bytes;
// larger values fail with ErrValueTooLarge. Default: 64 MiB.
func (b *Builder[K, V]) MaxValueSize(n int) *Builder[K, V] { b.maxValueSize = n; return b }

// MaxTxnWrites sets how many distinct keys one transaction may write; the
// write past it fails with ErrTxnTooLarge. Default: 1,000,000.
func (b *Builder[K, V]) MaxTxnWrites(n int) *Builder[K, V] { b.maxTxnWrites = n; return b }

func configErr(field string, format string, args ...any) error {
	return fmt.Errorf("%w: %s: %s", ErrConfig, field, fmt.Sprintf(format, args...))
}

func (b *Builder[K, V]) validate() error {
	switch {
	case b.shards < 1 || b.shards > maxShards:
		return configErr("Shards", "%d is outside [1, %d]", b.shards, maxShards)
	case b.isolation != Serializable && b.isolation != Snapshot:
		return configErr("Isolation", "unknown level %d", int(b.isolation))
	case !(b.skiplistP > 0 && b.skiplistP < 1):
		return configErr("SkiplistP", "%v is outside (0, 1)", b.skiplistP)
	case b.maxKeySize < 1:
		return configErr("MaxKeySize", "%d is not positive", b.maxKeySize)
	case b.maxValueSize < 1:
		return configErr("MaxValueSize", "%d is not positive", b.maxValueSize)
	case b.maxTxnWrites < 1:
		return configErr("MaxTxnWrites", "%d is not positive", b.maxTxnWrites)
	}
	return nil
}

// Build validates the configuration and opens the database. It fails with
// an error wrapping ErrConfig that names the bad setting, or ctx's error.
func (b *Builder[K, V]) Build(ctx context.Context) (*DB[K, V], error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("fluxmap: build: %w", err)
	}
	if err := b.validate(); err != nil {
		return nil, err
	}
	kc := b.keyCodec
	if kc == nil {
		kc = builtinKeyCodec[K]()
	}
	if kc == nil {
		return nil, configErr("KeyCodec", "key type %T has no built-in codec; set one with Builder.KeyCodec", *new(K))
	}
	vc := b.valueCodec
	if vc == nil {
		vc = builtinValueCodec[V]()
	}
	db := &DB[K, V]{
		keys:         newKeyEncoder(kc, b.keyCodec == nil, b.maxKeySize),
		values:       newValueRules[V](b.maxValueSize),
		valueCodec:   vc,
		maxTxnWrites: b.maxTxnWrites,
		isolation:    b.isolation,
	}
	db.coord = coordinator.New[V](coordinator.Config{
		Shards:       b.shards,
		SkiplistP:    b.skiplistP,
		Serializable: b.isolation == Serializable,
	})
	return db, nil
}

// keyEncoder turns K into the internal string form. For string keys with the
// built-in codec the key is its own encoding and nothing is copied.
type keyEncoder[K any] struct {
	codec    KeyCodec[K]
	isString bool // K is string and the built-in identity codec is in use
	maxSize  int
}

func newKeyEncoder[K any](c KeyCodec[K], builtin bool, maxSize int) keyEncoder[K] {
	_, isString := any(*new(K)).(string)
	return keyEncoder[K]{codec: c, isString: isString && builtin, maxSize: maxSize}
}

func (e *keyEncoder[K]) tooLarge(n int) error {
	return fmt.Errorf("%w: encoded key is %d bytes, limit %d", ErrKeyTooLarge, n, e.maxSize)
}

// encode returns an owned string encoding of k, safe to keep.
func (e *keyEncoder[K]) encode(k K) (string, error) {
	if e.isString {
		s := *(*string)(unsafe.Pointer(&k))
		if len(s) > e.maxSize {
			return "", e.tooLarge(len(s))
		}
		return s, nil
	}
	b := e.codec.AppendKey(nil, k)
	if len(b) > e.maxSize {
		return "", e.tooLarge(len(b))
	}
	return string(b), nil
}

// encodeTemp encodes k into *buf and returns a string that aliases it: valid
// only until *buf is reused, and never to be stored.
func (e *keyEncoder[K]) encodeTemp(buf *[]byte, k K) (string, error) {
	if e.isString {
		return e.encode(k)
	}
	*buf = e.codec.AppendKey((*buf)[:0], k)
	if len(*buf) > e.maxSize {
		return "", e.tooLarge(len(*buf))
	}
	return unsafe.String(unsafe.SliceData(*buf), len(*buf)), nil
}

func (e *keyEncoder[K]) decode(s string) (K, error) {
	if e.isString {
		return *(*K)(unsafe.Pointer(&s)), nil
	}
	return e.codec.DecodeKey(unsafe.Slice(unsafe.StringData(s), len(s)))
}

// valueRules checks and copies values on the way in.
type valueRules[V any] struct {
	kind    int // 0 other, 1 string, 2 []byte
	maxSize int
}

func newValueRules[V any](maxSize int) valueRules[V] {
	r := valueRules[V]{maxSize: maxSize}
	switch any(*new(V)).(type) {
	case string:
		r.kind = 1
	case []byte:
		r.kind = 2
	}
	return r
}

// admit checks v's size and returns the value to store: a private copy for
// []byte values, v itself otherwise.
func (r *valueRules[V]) admit(v V) (V, error) {
	n := 0
	switch r.kind {
	case 1:
		n = len(*(*string)(unsafe.Pointer(&v)))
	case 2:
		b := *(*[]byte)(unsafe.Pointer(&v))
		n = len(b)
		if n <= r.maxSize && b != nil {
			c := append([]byte(nil), b...)
			if c == nil {
				c = []byte{}
			}
			v = *(*V)(unsafe.Pointer(&c))
		}
	}
	if n > r.maxSize {
		return v, fmt.Errorf("%w: value is %d bytes, limit %d", ErrValueTooLarge, n, r.maxSize)
	}
	return v, nil
}
