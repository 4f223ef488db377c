// Command memlimit shows a memory limit evicting the least recently used
// key. The database has one shard and a 3000-byte limit: room for two
// 1000-byte values with their keys and bookkeeping, not three. Reading
// key1 makes key2 the least recently used, so inserting key3 evicts key2.
//
// An evicted key is removed as a committed delete: it reads as absent, and
// the eviction is counted in Stats. Nothing else needs configuring for a
// database used as a cache: the shard reclaims evicted keys, deleted keys
// and overwritten versions by itself once no open snapshot can read them,
// so the limit stays full of live data.
//
// Run it from the repository root:
//
//	go run ./examples/memlimit
package main
