package fluxmap

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"time"
	"unsafe"

	"github.com/fluxmap/fluxmap/coordinator"
	"github.com/fluxmap/fluxmap/wal"
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
	maxSegmentSize      = 4 << 30
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

	durability      durability
	durabilitySet   [full + 1]bool // which Durability* setters were called; more than one is an error
	persist         PersistenceOptions
	flushInterval   time.Duration
	flushCommits    int
	flushBytes      int64
	checkpointBytes int64
	checkpointSet   bool   // CheckpointAfterBytes was called: 0 means off, not the default
	fs              wal.FS // nil: the real file system; tests swap in a fault-injecting one
	vacuum          VacuumOptions
	maxMemory       int64
	policy          EvictionPolicy
	sizer           func(K, V) int
	valueEqual      func(a, b V) bool
	feed            *ChangeFeedOptions // nil: no change feed
	now             func() time.Time   // TTL clock; tests inject one
}

type durability int

const (
	inMemory durability = iota
	relaxed
	full
)

// PersistenceOptions says where and how a durable database keeps its files.
type PersistenceOptions struct {
	// Dir is the database directory; it is created if missing. Only one
	// open database may use a directory at a time.
	Dir string
	// PoolSize is how many used WAL segment files each shard keeps for
	// reuse instead of deleting them. Zero means 4.
	PoolSize int
	// SegmentSize is the size of each WAL segment file, at least 4 KiB.
	// Zero means 16 MiB.
	SegmentSize int64
	// FileMode is the permission of the files the database creates (WAL
	// segments, checkpoints, the lock file); the directories it creates get
	// the same bits plus execute wherever read is set (0o640 gives 0o750).
	// It must be within 0o777 and let the owner read and write. The
	// process's umask narrows it further. Zero means 0o600: files 0o600 and
	// directories 0o700, readable by the owner alone.
	//
	// Build refuses, with ErrConfig, an existing Dir that grants group or
	// others more than these directory bits allow, if they can reach it
	// (every parent directory lets them search), as PostgreSQL refuses a
	// data directory open to others: chmod it, or widen FileMode. Files
	// already in Dir keep their permissions.
	FileMode os.FileMode
}

// filePerm returns the permission of the files a durable database creates.
func (o PersistenceOptions) filePerm() os.FileMode {
	if o.FileMode == 0 {
		return wal.DefaultFilePerm
	}
	return o.FileMode
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

// DurabilityFull makes the database durable: a commit returns only after its
// WAL records are fsynced on every shard it touched, so an acknowledged
// commit survives a process or OS crash. Concurrent commits share fsyncs.
// Default: in memory, no files. Setting both DurabilityFull and
// DurabilityRelaxed on one Builder is a configuration error.
func (b *Builder[K, V]) DurabilityFull(o PersistenceOptions) *Builder[K, V] {
	b.durability, b.persist = full, o
	b.durabilitySet[full] = true
	return b
}

// DurabilityRelaxed makes the database durable with group commit by time or
// volume: a commit returns once its WAL records are written to the OS, and
// the WAL is fsynced when the first of FlushInterval, FlushAfterCommits or
// FlushAfterBytes is reached (at least one must be set). A process crash
// loses nothing acknowledged; an OS crash or power loss may lose the most
// recent commits, never a part of a transaction and never a commit older
// than one that survived. Setting both DurabilityRelaxed and DurabilityFull
// on one Builder is a configuration error.
func (b *Builder[K, V]) DurabilityRelaxed(o PersistenceOptions) *Builder[K, V] {
	b.durability, b.persist = relaxed, o
	b.durabilitySet[relaxed] = true
	return b
}

// FlushInterval sets how often a Relaxed database fsyncs its WAL when it
// has unsynced commits. Every shard syncs its own log on this interval, so
// each record is fsynced within about d (plus the fsync's own time) of its
// commit, and a power loss loses at most the commits of about the last d:
// recovery keeps the gap-free prefix of commits, which reaches the oldest
// record still unsynced. Default: unset.
func (b *Builder[K, V]) FlushInterval(d time.Duration) *Builder[K, V] { b.flushInterval = d; return b }

// FlushAfterCommits makes a Relaxed database fsync every shard's WAL once n
// commits have been written since the last such fsync, counted across all
// shards. A power loss then loses at most about n commits, plus those
// acknowledged while the fsyncs they started run: a commit on a quiet shard
// is synced with the busy shards' (recovery keeps only the gap-free prefix
// of commits, so one unsynced record would cut off every later commit).
// Default: unset.
func (b *Builder[K, V]) FlushAfterCommits(n int) *Builder[K, V] { b.flushCommits = n; return b }

// FlushAfterBytes makes a Relaxed database fsync every shard's WAL once n
// bytes of commit records have been written since the last such fsync,
// counted across all shards; so a power loss loses at most about n bytes of
// commits, plus those acknowledged while the fsyncs they started run, as
// with FlushAfterCommits. Default: unset.
func (b *Builder[K, V]) FlushAfterBytes(n int64) *Builder[K, V] { b.flushBytes = n; return b }

// CheckpointAfterBytes makes a durable database write a checkpoint (and
// recycle the WAL segments it covers) whenever a shard has written more
// than n bytes of WAL since the last one, which bounds the WAL's size and
// the replay time on open. With a change feed, segments holding what the
// feed keeps stay past checkpoints (see ChangeFeedOptions) and are not
// counted. Zero disables automatic checkpoints. Default: 4 segments, at
// least 64 MiB.
func (b *Builder[K, V]) CheckpointAfterBytes(n int64) *Builder[K, V] {
	b.checkpointBytes, b.checkpointSet = n, true
	return b
}

// KeyCodec sets the key codec. Default: the built-in codec for K (string,
// []byte, integer and float types); other key types must set one.
func (b *Builder[K, V]) KeyCodec(c KeyCodec[K]) *Builder[K, V] { b.keyCodec = c; return b }

// ValueCodec sets the value codec, used only by durable databases. Default:
// the built-in codec for V, if any.
func (b *Builder[K, V]) ValueCodec(c ValueCodec[V]) *Builder[K, V] { b.valueCodec = c; return b }

// MaxKeySize sets the largest encoded key accepted, in bytes; larger keys
// fail with ErrKeyTooLarge. Default: 64 KiB.
func (b *Builder[K, V]) MaxKeySize(n int) *Builder[K, V] { b.maxKeySize = n; return b }

// MaxValueSize sets the largest string or []byte value accepted, in bytes
// (in a durable database, the largest encoded value of any type); larger
// values fail with ErrValueTooLarge. A durable database logs a key and its
// value in one WAL record of at most 256 MiB, so there MaxKeySize plus
// MaxValueSize must fit in it. Default: 64 MiB.
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
	case b.durability != inMemory && int64(b.maxKeySize)+int64(b.maxValueSize)+walWriteOverhead > wal.MaxRecordSize:
		return configErr("MaxValueSize", "a durable database logs a key and its value in one WAL record of at most %d bytes; MaxKeySize %d + MaxValueSize %d does not fit",
			wal.MaxRecordSize, b.maxKeySize, b.maxValueSize)
	case b.flushInterval < 0:
		return configErr("FlushInterval", "%v is negative", b.flushInterval)
	case b.flushCommits < 0:
		return configErr("FlushAfterCommits", "%d is negative", b.flushCommits)
	case b.flushBytes < 0:
		return configErr("FlushAfterBytes", "%d is negative", b.flushBytes)
	case b.maxMemory < 0:
		return configErr("MaxMemory", "%d is negative", b.maxMemory)
	case b.policy != LRU && b.policy != LFU && b.policy != Reject:
		return configErr("EvictionPolicy", "unknown policy %d", int(b.policy))
	case b.feed != nil && (b.feed.Window < 0 || b.feed.MaxRetained < b.feed.Window):
		return configErr("ChangeFeed", "window %d must be positive and MaxRetained %d at least as large", b.feed.Window, b.feed.MaxRetained)
	case b.vacuum.Interval < 0:
		return configErr("AutoVacuum", "interval %v is negative", b.vacuum.Interval)
	case b.checkpointBytes < 0:
		return configErr("CheckpointAfterBytes", "%d is negative", b.checkpointBytes)
	}
	if b.durabilitySet[full] && b.durabilitySet[relaxed] {
		// Which one was called last is no sign of what was meant.
		return configErr("DurabilityFull, DurabilityRelaxed", "both are set; a database has one durability level")
	}
	if b.durability == inMemory {
		return nil
	}
	switch {
	case b.persist.Dir == "":
		return configErr("PersistenceOptions.Dir", "empty: a durable database needs a directory")
	case b.persist.PoolSize < 0:
		return configErr("PersistenceOptions.PoolSize", "%d is negative", b.persist.PoolSize)
	case b.persist.SegmentSize != 0 && b.persist.SegmentSize < 4<<10:
		return configErr("PersistenceOptions.SegmentSize", "%d is below 4 KiB", b.persist.SegmentSize)
	case b.persist.SegmentSize > maxSegmentSize:
		return configErr("PersistenceOptions.SegmentSize", "%d is above %d (4 GiB)", b.persist.SegmentSize, int64(maxSegmentSize))
	case b.persist.FileMode&^os.ModePerm != 0:
		return configErr("PersistenceOptions.FileMode", "%#o has bits outside the permission bits 0o777", uint32(b.persist.FileMode))
	case b.persist.FileMode != 0 && b.persist.FileMode&0o600 != 0o600:
		return configErr("PersistenceOptions.FileMode", "%#o does not let the owner read and write the files", uint32(b.persist.FileMode))
	case b.durability == relaxed && b.flushInterval == 0 && b.flushCommits == 0 && b.flushBytes == 0:
		return configErr("DurabilityRelaxed", "needs FlushInterval, FlushAfterCommits or FlushAfterBytes")
	}
	return nil
}

// checkDirPerm refuses an existing database directory that grants group or
// others access beyond what PersistenceOptions.FileMode allows, when they
// can reach it: the files in it would be readable (or replaceable) by users
// the configuration keeps out. Access only counts for a class (group,
// others) that may search every ancestor directory, so a directory inside
// a private one (t.TempDir() makes 0o755 directories inside a 0o700 one)
// is fine. A missing directory is fine too: it is created with the
// configured bits. Only the real file system has permissions to check;
// Windows keeps its permissions elsewhere (ACLs).
func (b *Builder[K, V]) checkDirPerm() error {
	if b.durability == inMemory || b.fs != nil || runtime.GOOS == "windows" {
		return nil
	}
	dir := b.persist.Dir
	fi, err := os.Stat(dir)
	if err != nil || !fi.IsDir() {
		return nil // opening it reports what is wrong, if anything
	}
	allowed := wal.DirPerm(b.persist.filePerm())
	have := fi.Mode().Perm()
	extra := have &^ allowed & 0o077
	if extra == 0 {
		return nil
	}
	// Who can reach dir: the search bits every ancestor grants. A group
	// member may also search as one of "others".
	reach := os.FileMode(0o011)
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil
	}
	for p := filepath.Dir(abs); reach != 0; p = filepath.Dir(p) {
		afi, err := os.Stat(p)
		if err != nil {
			return nil
		}
		m := afi.Mode().Perm()
		if m&0o001 != 0 {
			m |= 0o010
		}
		reach &= m
		if filepath.Dir(p) == p {
			break
		}
	}
	if reach&0o010 == 0 {
		extra &^= 0o070
	}
	if reach&0o001 == 0 {
		extra &^= 0o007
	}
	if extra != 0 {
		return configErr("PersistenceOptions.FileMode",
			"database directory %s has mode %#o, which gives group or others access (%#o) that FileMode %#o does not allow; run chmod %o %s, or set PersistenceOptions.FileMode to allow it",
			dir, uint32(have), uint32(extra), uint32(b.persist.filePerm()), uint32(allowed|have&0o700), dir)
	}
	return nil
}

func (b *Builder[K, V]) durableConfig(kc KeyCodec[K], vc ValueCodec[V]) *coordinator.DurableConfig[V] {
	if b.durability == inMemory {
		return nil
	}
	fs := b.fs
	if fs == nil {
		fs = wal.OSFSWithPerm(b.persist.filePerm())
	}
	seg := b.persist.SegmentSize
	if seg == 0 {
		seg = 16 << 20
	}
	pool := b.persist.PoolSize
	if pool == 0 {
		pool = 4
	}
	ckpt := b.checkpointBytes
	if !b.checkpointSet {
		ckpt = max(4*seg, 64<<20)
	}
	return &coordinator.DurableConfig[V]{
		FS:              fs,
		Dir:             b.persist.Dir,
		Full:            b.durability == full,
		FlushInterval:   b.flushInterval,
		FlushCommits:    b.flushCommits,
		FlushBytes:      b.flushBytes,
		SegmentSize:     seg,
		PoolSize:        pool,
		CheckpointBytes: ckpt,
		Encode:          vc.AppendValue,
		Decode:          vc.DecodeValue,
		KeyCodec:        codecID(kc, reflect.TypeFor[K]()),
		ValueCodec:      codecID(vc, reflect.TypeFor[V]()),
		History:         b.feed != nil,
	}
}

// Build validates the configuration and opens the database. It fails with
// an error wrapping ErrConfig that names the bad setting, or ctx's error.
func (b *Builder[K, V]) Build(ctx context.Context) (*DB[K, V], error) {
	if err := ctx.Err(); err != nil {
		return nil, errorf("build: %w", err)
	}
	if err := b.validate(); err != nil {
		return nil, err
	}
	if err := b.checkDirPerm(); err != nil {
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
	if vc == nil && b.durability != inMemory {
		return nil, configErr("ValueCodec", "value type %T has no built-in codec; a durable database needs one (see JSONCodec, GobCodec)", *new(V))
	}
	now := b.now
	if now == nil {
		now = time.Now
	}
	db := &DB[K, V]{
		now:          now,
		maxMemory:    b.maxMemory,
		policy:       b.policy,
		keys:         newKeyEncoder(kc, b.keyCodec == nil, b.maxKeySize),
		values:       newValueRules[V](b.maxValueSize, b.durability != inMemory, vc),
		valueCodec:   vc,
		maxTxnWrites: b.maxTxnWrites,
		isolation:    b.isolation,
		equal:        b.valueEqual,
	}
	coord, err := coordinator.New[V](coordinator.Config[V]{
		Shards:         b.shards,
		SkiplistP:      b.skiplistP,
		Serializable:   b.isolation == Serializable,
		Durable:        b.durableConfig(kc, vc),
		VacuumInterval: b.vacuum.Interval,
		Memory:         b.memoryConfig(&db.keys),
		Now:            func() int64 { return now().UnixNano() },
		Feed:           b.feedConfig(),
	})
	if err != nil {
		return nil, err
	}
	db.coord = coord
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
	codec   ValueCodec[V] // durable databases only
}

func newValueRules[V any](maxSize int, durable bool, c ValueCodec[V]) valueRules[V] {
	r := valueRules[V]{maxSize: maxSize}
	if durable {
		r.codec = c
	}
	switch any(*new(V)).(type) {
	case string:
		r.kind = 1
	case []byte:
		r.kind = 2
	}
	return r
}

// admit checks v's size and returns the value to store (a private copy for
// []byte values, v itself otherwise) and, in a durable database, the
// length of its encoding in the WAL.
func (r *valueRules[V]) admit(v V) (V, int, error) {
	v, err := r.admitSize(v)
	if err != nil || r.codec == nil {
		return v, 0, err
	}
	// A durable database logs v after it is installed; a value its codec
	// cannot encode must be refused now, while nothing has changed.
	enc, err := r.codec.AppendValue(nil, v)
	if err != nil {
		return v, 0, errorf("encoding value: %w: %w", ErrInvalidArgument, err)
	}
	if len(enc) > r.maxSize {
		return v, 0, fmt.Errorf("%w: encoded value is %d bytes, limit %d", ErrValueTooLarge, len(enc), r.maxSize)
	}
	return v, len(enc), nil
}

func (r *valueRules[V]) admitSize(v V) (V, error) {
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

func (b *Builder[K, V]) feedConfig() *coordinator.FeedConfig {
	if b.feed == nil {
		return nil
	}
	return &coordinator.FeedConfig{Window: b.feed.Window, MaxRetained: b.feed.MaxRetained}
}

// memLen is the length of a string or []byte value, and 0 for other types,
// whose size only a durable database's codec knows.
func (r *valueRules[V]) memLen(v V) int {
	switch r.kind {
	case 1:
		return len(*(*string)(unsafe.Pointer(&v)))
	case 2:
		return len(*(*[]byte)(unsafe.Pointer(&v)))
	}
	return 0
}
