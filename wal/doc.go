// Package wal is the durability layer of one FluxMap shard: a segmented
// write-ahead log of commit records and the shard's checkpoint files.
//
// This package is internal to FluxMap's design and carries no compatibility
// promise: neither its API nor its file formats.
//
// # Segments
//
// A shard's log is a sequence of segment files named Dir/<seq>.wal with seq
// as 16 lower-case hex digits and no gaps. Order is always the seq parsed
// from the name, never a file time. Segments are preallocated to
// Options.SegmentSize; a record that does not fit in the current segment
// seals it and goes to the next one (a record larger than a whole segment
// gets a segment of its own, which grows past the size).
//
// Every segment begins with a RecordSegmentStart frame holding the newest
// commit timestamp appended to the log before it. A roll writes and fsyncs
// the next segment with that frame, fsyncs the directory, and only then
// seals the current segment (a RecordSegmentEnd frame, fsynced). So on disk
// every segment but the last ends with that frame and the last never does,
// and what is missing can be told from what a crash leaves:
//
//   - a gap in the numbers: a segment was removed;
//   - a sealed last segment: the newest segment was removed;
//   - a first segment whose start frame names commits that no checkpoint
//     covers: older segments that were still needed were removed (the
//     caller compares Replayed.Base with its checkpoint).
//
// A new segment's blocks are allocated but unwritten; Flush writes zeros a
// 256 KiB chunk ahead of the data, so only one fdatasync per chunk commits
// the file system's conversion of unwritten blocks (see Log.zeroAhead for
// the measured cost). Recycled files are overwritten in place.
//
// # Framing
//
//	crc32c uint32 LE | length uint32 LE | type uint8 | segSeq uint64 LE | payload
//
// The CRC (Castagnoli) covers length, type, segSeq and payload. segSeq is
// the number of the segment the frame was written to. A header of 17 zero
// bytes marks the end of written data (preallocated space is zeros). The
// commit payload is described at DecodePayload; its layout is versioned by
// the frame type. Readers check a length against MaxRecordSize and against
// the bytes that remain before they allocate anything for it. Golden bytes
// in testdata/ pin the format.
//
// # Torn tail versus corruption
//
// Reading a segment stops at the first frame that is not valid: a zero or
// short header, a length that is too large or runs past the file, a CRC
// mismatch, or a segSeq that is not the file's. Whether that stop is the
// end of the log or corruption depends only on what follows it:
//
//   - Nothing valid after it, in the last segment: a torn tail, the normal
//     result of a crash during a write that was never acknowledged as
//     durable. Resume zeroes the segment from there and appends resume at
//     that offset.
//   - A valid frame of the same segment at any later offset (found by a
//     byte-by-byte scan that matches the 8-byte segSeq first), or, for a
//     stop in a segment that is not the last, anything but one later
//     segment holding no record: data was lost in the middle of the log.
//     Replay fails with an error wrapping errs.ErrCorrupt that names the
//     file and offset. There is no silent salvage.
//   - A stop in the segment before the last, when the last holds its start
//     frame alone (or nothing valid): a roll was interrupted by a crash
//     before it sealed the segment; Resume removes the last one and the log
//     ends in the unsealed one.
//
// Replay reads and verifies without writing anything, so a caller that
// finds another shard's log damaged can refuse to open and leave every
// file as it was; Resume then does the writes (zeroing the tail, removing
// the interrupted roll's segment). Open is the two together.
//
// The rule is exact for ordered write-back: a crash keeps a prefix of the
// unsynced writes, possibly torn. If the OS wrote unsynced pages out of
// order and lost one before a surviving later record, that later record is
// "valid data after a stop" and Open reports corruption rather than guess;
// fsynced (acknowledged-in-Full-mode) data is never in that position.
//
// # Recycling
//
// Recycle(upTo), called after a checkpoint at upTo is durable, retires the
// oldest segments whose records all have commit timestamps <= upTo. Their
// files are renamed to Dir/free-<n> and kept, up to Options.PoolSize, for
// the next rolls, which rename them back instead of creating and
// preallocating new files. A recycled file still holds its old frames, but
// with an older segSeq than any segment it can become (seq only grows), so
// they can never be replayed. Reset retires everything before a new
// segment regardless of timestamps.
//
// # Checkpoints
//
// A checkpoint (checkpoint.go) is written to Dir/ckpt-<ts>.tmp, fsynced,
// closed, renamed to Dir/ckpt-<ts>.ckpt and the directory fsynced; older
// checkpoints are removed afterwards. ReadCheckpoint takes the newest by the
// ts in its name. Because it was fsynced before the rename, any damage in a
// checkpoint is corruption. A checkpoint names its owner (shard i of n) in
// its header and again in its checksummed end frame.
//
// # Sticky errors
//
// Once a write, fsync, rename, remove or directory sync fails, the Log does
// no further I/O: every later Append, Flush, Sync, Recycle and Reset returns
// an error wrapping the first failure, and Close only closes. After a failed
// fsync the kernel may have dropped the dirty pages and marked them clean,
// so a retried fsync could report success for data that is gone. Reopening
// recovers the durable prefix.
//
// # Ownership
//
// A Log, and a CheckpointWriter, belongs to one goroutine (the shard's WAL
// writer) and has no internal locking. The caller keeps the database
// directory locked (FS.Lock) so no two processes open one log. FS
// implementations are shared by all shards and must be safe for concurrent
// use.
package wal
