package coordinator

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"path"
	"slices"
	"strconv"
	"strings"

	"github.com/fluxmap/fluxmap/internal/errs"
	"github.com/fluxmap/fluxmap/wal"
)

// Directory layout:
//
//	Dir/LOCK                      held while open
//	Dir/MANIFEST                  what the directory holds, replaced atomically
//	Dir/gen-G/shard-NNNN/         one shard's WAL segments and checkpoints
//
// A generation is a complete set of shard directories for one shard count.
// The MANIFEST is the only record of which generations are the database's:
// recovery reads the current one, removes only generations the MANIFEST
// names as pending or obsolete, and touches nothing else in Dir.
//
// MANIFEST (text, one "key value" per line, then a CRC-32C line over the
// lines before it):
//
//	fluxmap-manifest 2
//	generation G        the current generation; 0 while the first is built
//	shards N            its shard count (for G = 0, that of the first)
//	key-codec "ID"      the key and value codecs' identities (Go-quoted)
//	value-codec "ID"
//	pending P M         a generation of M shards being built; not yet valid
//	obsolete O M        a replaced generation of M shards, to be removed
//	crc XXXXXXXX
//
// pending and obsolete are optional. A generation change is three MANIFEST
// writes: pending P (then P is built and made durable), generation P with
// obsolete G (the switch), and, once G is removed, generation P alone. A
// crash at any point leaves a MANIFEST that names one complete generation.

const (
	manifestName    = "MANIFEST"
	manifestVersion = 2
)

func genDir(dir string, gen uint64) string { return path.Join(dir, genName(gen)) }

func genName(gen uint64) string { return fmt.Sprintf("gen-%d", gen) }

func shardDir(dir string, gen uint64, i int) string {
	return path.Join(genDir(dir, gen), fmt.Sprintf("shard-%04d", i))
}

// parseGenName reports whether name is exactly a generation directory's
// name as genName writes it (decimal, no sign, no leading zeros).
func parseGenName(name string) (uint64, bool) {
	s, ok := strings.CutPrefix(name, "gen-")
	if !ok || s == "" || (len(s) > 1 && s[0] == '0') {
		return 0, false
	}
	for _, c := range []byte(s) {
		if c < '0' || c > '9' {
			return 0, false
		}
	}
	g, err := strconv.ParseUint(s, 10, 64)
	return g, err == nil && g > 0
}

// genRef names a generation and its shard count; the zero value is none.
type genRef struct {
	gen    uint64
	shards int
}

type manifest struct {
	gen        uint64
	shards     int
	keyCodec   string
	valueCodec string
	pending    genRef
	obsolete   genRef
}

func (m manifest) body() string {
	var b strings.Builder
	fmt.Fprintf(&b, "fluxmap-manifest %d\ngeneration %d\nshards %d\n", manifestVersion, m.gen, m.shards)
	fmt.Fprintf(&b, "key-codec %s\nvalue-codec %s\n", strconv.Quote(m.keyCodec), strconv.Quote(m.valueCodec))
	if m.pending.gen != 0 {
		fmt.Fprintf(&b, "pending %d %d\n", m.pending.gen, m.pending.shards)
	}
	if m.obsolete.gen != 0 {
		fmt.Fprintf(&b, "obsolete %d %d\n", m.obsolete.gen, m.obsolete.shards)
	}
	return b.String()
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// readManifest reads Dir/MANIFEST; found is false if there is none.
func readManifest(fs wal.FS, dir string) (m manifest, found bool, err error) {
	names, err := fs.List(dir)
	if err != nil {
		return manifest{}, false, err
	}
	if !slices.Contains(names, manifestName) {
		return manifest{}, false, nil
	}
	name := path.Join(dir, manifestName)
	f, err := fs.Open(name)
	if err != nil {
		return manifest{}, false, err
	}
	defer f.Close() // read-only use
	size, err := f.Size()
	if err != nil {
		return manifest{}, false, err
	}
	if size > 4096 {
		return manifest{}, false, errs.Errorf("%s is %d bytes: %w", name, size, errs.ErrCorrupt)
	}
	buf := make([]byte, size)
	if _, err := f.ReadAt(buf, 0); err != nil && !errors.Is(err, io.EOF) {
		return manifest{}, false, err
	}
	m, err = parseManifest(buf)
	if err != nil {
		return manifest{}, false, fmt.Errorf("%s: %w", name, err)
	}
	return m, true, nil
}

func parseManifest(buf []byte) (manifest, error) {
	body, sum, ok := bytes.Cut(buf, []byte("crc "))
	if !ok || string(sum) != fmt.Sprintf("%08x\n", crc32.Checksum(body, castagnoli)) {
		return manifest{}, errs.Errorf("checksum mismatch: %w", errs.ErrCorrupt)
	}
	var m manifest
	seen := map[string]bool{}
	sc := bufio.NewScanner(bytes.NewReader(body))
	for line := 0; sc.Scan(); line++ {
		k, v, _ := strings.Cut(sc.Text(), " ")
		if line == 0 {
			if k != "fluxmap-manifest" {
				return manifest{}, errs.Errorf("not a FluxMap MANIFEST: %w", errs.ErrCorrupt)
			}
			if v != strconv.Itoa(manifestVersion) {
				return manifest{}, errs.Errorf("format %s, but this version of FluxMap reads format %d only: %w",
					v, manifestVersion, errs.ErrCorrupt)
			}
			continue
		}
		if seen[k] {
			return manifest{}, errs.Errorf("%q twice: %w", k, errs.ErrCorrupt)
		}
		seen[k] = true
		var err error
		switch k {
		case "generation":
			m.gen, err = strconv.ParseUint(v, 10, 64)
		case "shards":
			m.shards, err = strconv.Atoi(v)
		case "key-codec":
			m.keyCodec, err = strconv.Unquote(v)
		case "value-codec":
			m.valueCodec, err = strconv.Unquote(v)
		case "pending":
			m.pending, err = parseGenRef(v)
		case "obsolete":
			m.obsolete, err = parseGenRef(v)
		default:
			err = errors.New("unknown key")
		}
		if err != nil {
			return manifest{}, errs.Errorf("line %q: %v: %w", sc.Text(), err, errs.ErrCorrupt)
		}
	}
	if !seen["generation"] || !seen["shards"] || !seen["key-codec"] || !seen["value-codec"] || m.shards < 1 ||
		(m.gen == 0 && m.pending.gen == 0) {
		return manifest{}, errs.Errorf("incomplete contents: %w", errs.ErrCorrupt)
	}
	for _, g := range []uint64{m.pending.gen, m.obsolete.gen} {
		if g != 0 && g == m.gen {
			return manifest{}, errs.Errorf("generation %d is both current and pending or obsolete: %w", g, errs.ErrCorrupt)
		}
	}
	return m, nil
}

func parseGenRef(v string) (genRef, error) {
	g, n, ok := strings.Cut(v, " ")
	if !ok {
		return genRef{}, errors.New("want generation and shard count")
	}
	var r genRef
	var err error
	if r.gen, err = strconv.ParseUint(g, 10, 64); err != nil {
		return genRef{}, err
	}
	if r.shards, err = strconv.Atoi(n); err != nil {
		return genRef{}, err
	}
	if r.gen == 0 || r.shards < 1 {
		return genRef{}, errors.New("out of range")
	}
	return r, nil
}

// writeManifest replaces Dir/MANIFEST durably: a temporary file, fsynced,
// renamed over it, and the directory fsynced.
func writeManifest(fs wal.FS, dir string, m manifest) error {
	body := m.body()
	data := fmt.Sprintf("%scrc %08x\n", body, crc32.Checksum([]byte(body), castagnoli))
	tmp := path.Join(dir, manifestName+".tmp")
	if err := removeNonRegular(fs, tmp); err != nil {
		return err
	}
	f, err := fs.Create(tmp)
	if err != nil {
		return err
	}
	if _, err := f.WriteAt([]byte(data), 0); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := fs.Rename(tmp, path.Join(dir, manifestName)); err != nil {
		return err
	}
	return fs.SyncDir(dir)
}

// removeNonRegular removes name if it exists and is not a regular file (a
// symbolic link, say), so that creating it cannot write through a link to a
// file outside the directory. Removing a link leaves its target alone.
func removeNonRegular(fs wal.FS, name string) error {
	mode, err := fs.Lstat(name)
	if err != nil || mode.IsRegular() {
		return nil // absent, or Create will say what is wrong
	}
	return fs.Remove(name)
}
