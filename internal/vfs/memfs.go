package vfs

import (
	"errors"
	"fmt"
	"io"
	iofs "io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"sync"

	"github.com/fluxmap/fluxmap/wal"
)

// ErrCrashed is returned by every method of a File opened before the last
// Crash.
var ErrCrashed = errors.New("vfs: file handle invalidated by a simulated crash")

// MemFS is an in-memory wal.FS with a durability model and fault
// injection (see the package doc). The zero value is an empty file system
// with the directories "." and "/". It is safe for concurrent use, except
// that Inject must be set before the MemFS is shared or through SetInject.
type MemFS struct {
	// Inject, if set, is called before each operation (outside MemFS's
	// lock, so it may call back into the MemFS). A non-nil result fails
	// the operation, which then has no effect. name is the file or
	// directory operated on: for Rename the old name, for a File method
	// the name the file was opened with.
	Inject func(op Op, name string) error

	mu    sync.Mutex // guards everything below and Inject's reads
	dirs  map[string]*dir
	nodes map[*node]struct{} // every file, reachable or open
	locks map[string]*memLock
	gen   uint64 // bumped by Crash; handles of older generations are dead
}

// node is a file's content (an inode: renames move it, handles keep it).
type node struct {
	data    []byte    // current content
	synced  []byte    // durable content as of the last Sync
	pending []pending // changes since the last Sync, in order
}

// pending is one unsynced change: a write of data at off, or a resize.
type pending struct {
	off    int64
	data   []byte
	resize bool
}

type dir struct {
	cur     map[string]*node // entries now
	durable map[string]*node // entries as of the last SyncDir
}

// New returns an empty MemFS.
func New() *MemFS {
	m := &MemFS{}
	m.init()
	return m
}

// init must run with mu held.
func (m *MemFS) init() {
	if m.dirs != nil {
		return
	}
	m.dirs = map[string]*dir{}
	m.nodes = map[*node]struct{}{}
	m.locks = map[string]*memLock{}
	m.dirs["."] = newDir()
	m.dirs[string(filepath.Separator)] = newDir()
}

func newDir() *dir { return &dir{cur: map[string]*node{}, durable: map[string]*node{}} }

// SetInject sets Inject under the MemFS's lock, for use while other
// goroutines use the MemFS.
func (m *MemFS) SetInject(fn func(op Op, name string) error) {
	m.mu.Lock()
	m.Inject = fn
	m.mu.Unlock()
}

func (m *MemFS) inject(op Op, name string) error {
	m.mu.Lock()
	fn := m.Inject
	m.mu.Unlock()
	if fn == nil {
		return nil
	}
	return fn(op, name)
}

// lock takes mu and makes sure the maps exist.
func (m *MemFS) lock() {
	m.mu.Lock()
	m.init()
}

func pathErr(op, name string, err error) error { return &iofs.PathError{Op: op, Path: name, Err: err} }

// lookupLocked splits name into its directory and base name.
func (m *MemFS) lookupLocked(name string) (*dir, string, bool) {
	name = filepath.Clean(name)
	d, ok := m.dirs[filepath.Dir(name)]
	return d, filepath.Base(name), ok
}

var _ wal.FS = (*MemFS)(nil)

// Create creates or truncates name.
func (m *MemFS) Create(name string) (wal.File, error) {
	if err := m.inject(OpCreate, name); err != nil {
		return nil, pathErr("create", name, err)
	}
	m.lock()
	defer m.mu.Unlock()
	d, base, ok := m.lookupLocked(name)
	if !ok {
		return nil, pathErr("create", name, iofs.ErrNotExist)
	}
	if _, isDir := m.dirs[filepath.Clean(name)]; isDir {
		return nil, pathErr("create", name, errors.New("is a directory"))
	}
	n := d.cur[base]
	if n == nil {
		n = &node{}
		m.nodes[n] = struct{}{}
		d.cur[base] = n
	} else {
		n.resize(0)
	}
	return &memFile{fs: m, n: n, name: name, gen: m.gen}, nil
}

// Open opens an existing file.
func (m *MemFS) Open(name string) (wal.File, error) {
	if err := m.inject(OpOpen, name); err != nil {
		return nil, pathErr("open", name, err)
	}
	m.lock()
	defer m.mu.Unlock()
	d, base, ok := m.lookupLocked(name)
	if !ok || d.cur[base] == nil {
		return nil, pathErr("open", name, iofs.ErrNotExist)
	}
	return &memFile{fs: m, n: d.cur[base], name: name, gen: m.gen}, nil
}

// Remove removes a file or an empty directory, as os.Remove does. Open
// handles of a removed file keep working. Like their creation, the removal
// of a directory is durable at once.
func (m *MemFS) Remove(name string) error {
	if err := m.inject(OpRemove, name); err != nil {
		return pathErr("remove", name, err)
	}
	m.lock()
	defer m.mu.Unlock()
	clean := filepath.Clean(name)
	if sub, isDir := m.dirs[clean]; isDir {
		if clean == "." || clean == string(filepath.Separator) {
			return pathErr("remove", name, errors.New("cannot remove the root"))
		}
		if len(sub.cur) > 0 || m.hasSubdirLocked(clean) {
			return pathErr("remove", name, errors.New("directory not empty"))
		}
		delete(m.dirs, clean)
		return nil
	}
	d, base, ok := m.lookupLocked(name)
	if !ok || d.cur[base] == nil {
		return pathErr("remove", name, iofs.ErrNotExist)
	}
	delete(d.cur, base)
	return nil
}

func (m *MemFS) hasSubdirLocked(dir string) bool {
	for p := range m.dirs {
		if p != dir && filepath.Dir(p) == dir {
			return true
		}
	}
	return false
}

// Rename moves a file, replacing newname if it exists.
func (m *MemFS) Rename(oldname, newname string) error {
	if err := m.inject(OpRename, oldname); err != nil {
		return &os.LinkError{Op: "rename", Old: oldname, New: newname, Err: err}
	}
	m.lock()
	defer m.mu.Unlock()
	od, obase, ok := m.lookupLocked(oldname)
	if !ok || od.cur[obase] == nil {
		return &os.LinkError{Op: "rename", Old: oldname, New: newname, Err: iofs.ErrNotExist}
	}
	nd, nbase, ok := m.lookupLocked(newname)
	if !ok {
		return &os.LinkError{Op: "rename", Old: oldname, New: newname, Err: iofs.ErrNotExist}
	}
	n := od.cur[obase]
	delete(od.cur, obase)
	nd.cur[nbase] = n
	return nil
}

// List returns the sorted names of the files and directories in dir.
func (m *MemFS) List(dirName string) ([]string, error) {
	if err := m.inject(OpList, dirName); err != nil {
		return nil, pathErr("list", dirName, err)
	}
	m.lock()
	defer m.mu.Unlock()
	clean := filepath.Clean(dirName)
	d, ok := m.dirs[clean]
	if !ok {
		return nil, pathErr("list", dirName, iofs.ErrNotExist)
	}
	names := make([]string, 0, len(d.cur))
	for name := range d.cur {
		names = append(names, name)
	}
	for p := range m.dirs {
		if p != clean && filepath.Dir(p) == clean {
			names = append(names, filepath.Base(p))
		}
	}
	sort.Strings(names)
	return names, nil
}

// Lstat returns fs.ModeDir|0o700 for a directory and 0o600 for a file:
// MemFS has no symbolic links and no permissions.
func (m *MemFS) Lstat(name string) (iofs.FileMode, error) {
	m.lock()
	defer m.mu.Unlock()
	clean := filepath.Clean(name)
	if _, ok := m.dirs[clean]; ok {
		return iofs.ModeDir | 0o700, nil
	}
	if d, base, ok := m.lookupLocked(clean); ok && d.cur[base] != nil {
		return 0o600, nil
	}
	return 0, pathErr("lstat", name, iofs.ErrNotExist)
}

// MkdirAll creates dir and its parents; they are durable at once.
func (m *MemFS) MkdirAll(dirName string) error {
	if err := m.inject(OpMkdirAll, dirName); err != nil {
		return pathErr("mkdir", dirName, err)
	}
	m.lock()
	defer m.mu.Unlock()
	for p := filepath.Clean(dirName); ; p = filepath.Dir(p) {
		if _, ok := m.dirs[p]; ok {
			return nil
		}
		if d, base, ok := m.lookupLocked(p); ok && d.cur[base] != nil {
			return pathErr("mkdir", p, errors.New("not a directory"))
		}
		m.dirs[p] = newDir()
	}
}

// SyncDir makes dir's current entries durable.
func (m *MemFS) SyncDir(dirName string) error {
	if err := m.inject(OpSyncDir, dirName); err != nil {
		return pathErr("syncdir", dirName, err)
	}
	m.lock()
	defer m.mu.Unlock()
	d, ok := m.dirs[filepath.Clean(dirName)]
	if !ok {
		return pathErr("syncdir", dirName, iofs.ErrNotExist)
	}
	d.durable = cloneEntries(d.cur)
	return nil
}

func cloneEntries(e map[string]*node) map[string]*node {
	out := make(map[string]*node, len(e))
	for k, v := range e {
		out[k] = v
	}
	return out
}

// Lock takes an in-process exclusive lock on name; a second Lock of the
// same name fails with an error wrapping wal.ErrLocked until the first is
// closed or the MemFS crashes (the process holding it died).
func (m *MemFS) Lock(name string) (io.Closer, error) {
	if err := m.inject(OpLock, name); err != nil {
		return nil, pathErr("lock", name, err)
	}
	m.lock()
	defer m.mu.Unlock()
	name = filepath.Clean(name)
	if m.locks[name] != nil {
		return nil, fmt.Errorf("vfs: lock %s: %w", name, wal.ErrLocked)
	}
	l := &memLock{fs: m, name: name}
	m.locks[name] = l
	return l, nil
}

type memLock struct {
	fs   *MemFS
	name string
}

func (l *memLock) Close() error {
	l.fs.mu.Lock()
	defer l.fs.mu.Unlock()
	if l.fs.locks[l.name] == l {
		delete(l.fs.locks, l.name)
	}
	return nil
}

// Crash simulates a power loss: every file goes back to its content as of
// its last Sync, every directory to its entries as of its last SyncDir,
// locks are released, and files opened before return ErrCrashed.
func (m *MemFS) Crash() { m.crash(nil) }

// CrashRandom is Crash where each file also keeps a random prefix (drawn
// from rng) of its unsynced writes and resizes, in the order they were
// made; the first change not kept may land partly (a torn write).
// Directories revert as in Crash.
func (m *MemFS) CrashRandom(rng *rand.Rand) { m.crash(rng) }

func (m *MemFS) crash(rng *rand.Rand) {
	m.lock()
	defer m.mu.Unlock()
	for n := range m.nodes {
		data := slices.Clone(n.synced)
		if rng != nil && len(n.pending) > 0 {
			keep := rng.IntN(len(n.pending) + 1)
			for _, p := range n.pending[:keep] {
				data = p.apply(data)
			}
			if keep < len(n.pending) && !n.pending[keep].resize && rng.IntN(2) == 0 {
				p := n.pending[keep]
				p.data = p.data[:rng.IntN(len(p.data)+1)]
				data = p.apply(data)
			}
		}
		n.data, n.synced, n.pending = data, slices.Clone(data), nil
	}
	reachable := map[*node]struct{}{}
	for _, d := range m.dirs {
		d.cur = cloneEntries(d.durable)
		for _, n := range d.cur {
			reachable[n] = struct{}{}
		}
	}
	m.nodes = reachable
	m.locks = map[string]*memLock{}
	m.gen++
}

// ReadFile returns a copy of name's current content, bypassing Inject.
func (m *MemFS) ReadFile(name string) ([]byte, error) {
	m.lock()
	defer m.mu.Unlock()
	d, base, ok := m.lookupLocked(name)
	if !ok || d.cur[base] == nil {
		return nil, pathErr("readfile", name, iofs.ErrNotExist)
	}
	return slices.Clone(d.cur[base].data), nil
}

// WriteFile creates or replaces name with data, durably (as if written,
// synced and the directory synced), bypassing Inject. The directory must
// exist. It is for setting up test images.
func (m *MemFS) WriteFile(name string, data []byte) error {
	m.lock()
	defer m.mu.Unlock()
	d, base, ok := m.lookupLocked(name)
	if !ok {
		return pathErr("writefile", name, iofs.ErrNotExist)
	}
	n := &node{data: slices.Clone(data), synced: slices.Clone(data)}
	m.nodes[n] = struct{}{}
	d.cur[base] = n
	d.durable[base] = n
	return nil
}

// resize sets the current length, zero-filling growth, as a pending change.
func (n *node) resize(size int64) {
	p := pending{off: size, resize: true}
	n.data = p.apply(n.data)
	n.pending = append(n.pending, p)
}

func (n *node) write(b []byte, off int64) {
	p := pending{off: off, data: slices.Clone(b)}
	n.data = p.apply(n.data)
	n.pending = append(n.pending, p)
}

func (n *node) sync() {
	for _, p := range n.pending {
		n.synced = p.apply(n.synced)
	}
	n.pending = nil
}

// apply performs the change on buf and returns the result.
func (p pending) apply(buf []byte) []byte {
	if p.resize {
		return resize(buf, p.off)
	}
	end := p.off + int64(len(p.data))
	if end > int64(len(buf)) {
		buf = resize(buf, end)
	}
	copy(buf[p.off:], p.data)
	return buf
}

func resize(buf []byte, size int64) []byte {
	if size <= int64(len(buf)) {
		return buf[:size]
	}
	old := len(buf)
	buf = slices.Grow(buf, int(size)-old)[:size]
	clear(buf[old:])
	return buf
}
