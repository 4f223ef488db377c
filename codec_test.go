package fluxmap

import (
	"bytes"
	"encoding/hex"
	"math"
	"testing"

	"github.com/stretchr/testify/require"
)

// Interesting float bit patterns: signalling and quiet NaNs of both signs with
// payloads, which a lossy codec would canonicalise.
var (
	nan64Pos      = math.Float64frombits(0x7ff8000000000001)
	nan64Neg      = math.Float64frombits(0xfff8000000000001)
	nan64Signal   = math.Float64frombits(0x7ff0000000000001)
	nan64MaxNeg   = math.Float64frombits(0xffffffffffffffff)
	nan32Pos      = math.Float32frombits(0x7fc00001)
	nan32Neg      = math.Float32frombits(0xffc00001)
	nan32Signal   = math.Float32frombits(0x7f800001)
	nan32MaxNeg   = math.Float32frombits(0xffffffff)
	negZero64     = math.Copysign(0, -1)
	negZero32     = float32(math.Copysign(0, -1))
	smallest64    = math.SmallestNonzeroFloat64
	smallest32    = float32(math.SmallestNonzeroFloat32)
	inf32, ninf32 = float32(math.Inf(1)), float32(math.Inf(-1))
)

func mustKeyCodec[K any](t testing.TB) KeyCodec[K] {
	t.Helper()
	c := builtinKeyCodec[K]()
	require.NotNil(t, c, "no built-in key codec for %T", *new(K))
	return c
}

func mustValueCodec[V any](t testing.TB) ValueCodec[V] {
	t.Helper()
	c := builtinValueCodec[V]()
	require.NotNil(t, c, "no built-in value codec for %T", *new(V))
	return c
}

// checkKeyOrder encodes ascending (which must be strictly increasing in K's
// intended order), checks each round trip with same, checks every encoding is
// width bytes (when width > 0), appends to a non-empty dst without touching
// it, and checks that every pair of encodings compares as its keys do.
func checkKeyOrder[K any](t *testing.T, width int, same func(a, b K) bool, ascending ...K) {
	t.Helper()
	c := mustKeyCodec[K](t)
	encs := make([][]byte, len(ascending))
	for i, k := range ascending {
		prefix := []byte("pre")
		enc := c.AppendKey(prefix, k)
		require.Equal(t, "pre", string(enc[:3]), "AppendKey overwrote dst for %v", k)
		enc = enc[3:]
		if width > 0 {
			require.Len(t, enc, width, "encoding of %v", k)
		}
		got, err := c.DecodeKey(enc)
		require.NoError(t, err, "decode %v", k)
		require.True(t, same(k, got), "round trip %v: got %v", k, got)
		encs[i] = enc
	}
	for i := range encs {
		for j := range encs {
			want := 0
			switch {
			case i < j:
				want = -1
			case i > j:
				want = 1
			}
			require.Equal(t, want, bytes.Compare(encs[i], encs[j]),
				"order of %v (%x) vs %v (%x)", ascending[i], encs[i], ascending[j], encs[j])
		}
	}
}

func eq[T comparable](a, b T) bool { return a == b }
func sameBits64(a, b float64) bool { return math.Float64bits(a) == math.Float64bits(b) }
func sameBits32(a, b float32) bool { return math.Float32bits(a) == math.Float32bits(b) }
func sameBytes(a, b []byte) bool   { return bytes.Equal(a, b) }

func TestBuiltinKeyCodecOrder(t *testing.T) {
	t.Run("string", func(t *testing.T) {
		checkKeyOrder(t, 0, eq[string], "", "\x00", "\x00\x00", "A", "a", "a\x00", "ab", "b", "\xff", "\xff\xff")
	})
	t.Run("bytes", func(t *testing.T) {
		checkKeyOrder(t, 0, sameBytes, []byte{}, []byte{0}, []byte{0, 0}, []byte{1}, []byte{1, 0}, []byte{0xff})
	})
	t.Run("int", func(t *testing.T) {
		checkKeyOrder(t, 8, eq[int], math.MinInt, math.MinInt+1, -1<<30, -2, -1, 0, 1, 2, 1<<30, math.MaxInt-1, math.MaxInt)
	})
	t.Run("int8", func(t *testing.T) {
		checkKeyOrder(t, 1, eq[int8], math.MinInt8, math.MinInt8+1, -2, -1, 0, 1, 2, math.MaxInt8-1, math.MaxInt8)
	})
	t.Run("int16", func(t *testing.T) {
		checkKeyOrder(t, 2, eq[int16], math.MinInt16, -256, -255, -1, 0, 1, 255, 256, math.MaxInt16)
	})
	t.Run("int32", func(t *testing.T) {
		checkKeyOrder(t, 4, eq[int32], math.MinInt32, -1<<16, -1, 0, 1, 1<<16, math.MaxInt32)
	})
	t.Run("int64", func(t *testing.T) {
		checkKeyOrder(t, 8, eq[int64], math.MinInt64, math.MinInt32-1, -1, 0, 1, math.MaxInt32+1, math.MaxInt64)
	})
	t.Run("uint", func(t *testing.T) {
		checkKeyOrder(t, 8, eq[uint], 0, 1, 255, 256, 1<<31, math.MaxUint)
	})
	t.Run("uint8", func(t *testing.T) {
		checkKeyOrder(t, 1, eq[uint8], 0, 1, 0x7f, 0x80, math.MaxUint8)
	})
	t.Run("uint16", func(t *testing.T) {
		checkKeyOrder(t, 2, eq[uint16], 0, 1, 255, 256, math.MaxUint16)
	})
	t.Run("uint32", func(t *testing.T) {
		checkKeyOrder(t, 4, eq[uint32], 0, 1, 1<<24-1, 1<<24, math.MaxUint32)
	})
	t.Run("uint64", func(t *testing.T) {
		checkKeyOrder(t, 8, eq[uint64], 0, 1, 1<<63-1, 1<<63, math.MaxUint64)
	})
	t.Run("uintptr", func(t *testing.T) {
		checkKeyOrder(t, 8, eq[uintptr], 0, 1, 1<<16, ^uintptr(0))
	})
	t.Run("float64", func(t *testing.T) {
		checkKeyOrder(t, 8, sameBits64,
			nan64MaxNeg, nan64Neg, math.Inf(-1), -math.MaxFloat64, -1e300, -1.5, -1, -smallest64, negZero64,
			0, smallest64, 1, 1.5, 1e300, math.MaxFloat64, math.Inf(1), nan64Signal, nan64Pos)
	})
	t.Run("float32", func(t *testing.T) {
		checkKeyOrder(t, 4, sameBits32,
			nan32MaxNeg, nan32Neg, ninf32, -math.MaxFloat32, -1.5, -1, -smallest32, negZero32,
			0, smallest32, 1, 1.5, math.MaxFloat32, inf32, nan32Signal, nan32Pos)
	})
}

// TestBuiltinKeyCodecGolden pins the exact bytes: keys are persisted, so an
// encoding change is a format change.
func TestBuiltinKeyCodecGolden(t *testing.T) {
	cases := []struct {
		name string
		got  []byte
		want string
	}{
		{"string", mustKeyCodec[string](t).AppendKey(nil, "ab"), "6162"},
		{"int8 min", mustKeyCodec[int8](t).AppendKey(nil, math.MinInt8), "00"},
		{"int8 0", mustKeyCodec[int8](t).AppendKey(nil, 0), "80"},
		{"int16 -1", mustKeyCodec[int16](t).AppendKey(nil, -1), "7fff"},
		{"int32 1", mustKeyCodec[int32](t).AppendKey(nil, 1), "80000001"},
		{"int -1", mustKeyCodec[int](t).AppendKey(nil, -1), "7fffffffffffffff"},
		{"int64 max", mustKeyCodec[int64](t).AppendKey(nil, math.MaxInt64), "ffffffffffffffff"},
		{"uint 1", mustKeyCodec[uint](t).AppendKey(nil, 1), "0000000000000001"},
		{"uint16 0x1234", mustKeyCodec[uint16](t).AppendKey(nil, 0x1234), "1234"},
		{"uintptr 1", mustKeyCodec[uintptr](t).AppendKey(nil, 1), "0000000000000001"},
		{"float64 1", mustKeyCodec[float64](t).AppendKey(nil, 1), "bff0000000000000"},
		{"float64 -1", mustKeyCodec[float64](t).AppendKey(nil, -1), "400fffffffffffff"},
		{"float64 +0", mustKeyCodec[float64](t).AppendKey(nil, 0), "8000000000000000"},
		{"float64 -0", mustKeyCodec[float64](t).AppendKey(nil, negZero64), "7fffffffffffffff"},
		{"float32 1", mustKeyCodec[float32](t).AppendKey(nil, 1), "bf800000"},
		{"float32 -Inf", mustKeyCodec[float32](t).AppendKey(nil, ninf32), "007fffff"},
	}
	for _, tc := range cases {
		require.Equal(t, tc.want, hex.EncodeToString(tc.got), tc.name)
	}
}

func TestBuiltinKeyCodecDecodeWrongLength(t *testing.T) {
	check := func(name string, width int, decode func([]byte) error) {
		t.Helper()
		for _, n := range []int{0, width - 1, width + 1, 16} {
			if n < 0 || n == width {
				continue
			}
			err := decode(make([]byte, n))
			require.ErrorIs(t, err, ErrCorrupt, "%s with %d bytes", name, n)
		}
	}
	check("int", 8, func(b []byte) error { _, err := mustKeyCodec[int](t).DecodeKey(b); return err })
	check("int8", 1, func(b []byte) error { _, err := mustKeyCodec[int8](t).DecodeKey(b); return err })
	check("int16", 2, func(b []byte) error { _, err := mustKeyCodec[int16](t).DecodeKey(b); return err })
	check("int32", 4, func(b []byte) error { _, err := mustKeyCodec[int32](t).DecodeKey(b); return err })
	check("int64", 8, func(b []byte) error { _, err := mustKeyCodec[int64](t).DecodeKey(b); return err })
	check("uint", 8, func(b []byte) error { _, err := mustKeyCodec[uint](t).DecodeKey(b); return err })
	check("uint8", 1, func(b []byte) error { _, err := mustKeyCodec[uint8](t).DecodeKey(b); return err })
	check("uint16", 2, func(b []byte) error { _, err := mustKeyCodec[uint16](t).DecodeKey(b); return err })
	check("uint32", 4, func(b []byte) error { _, err := mustKeyCodec[uint32](t).DecodeKey(b); return err })
	check("uint64", 8, func(b []byte) error { _, err := mustKeyCodec[uint64](t).DecodeKey(b); return err })
	check("uintptr", 8, func(b []byte) error { _, err := mustKeyCodec[uintptr](t).DecodeKey(b); return err })
	check("float32", 4, func(b []byte) error { _, err := mustKeyCodec[float32](t).DecodeKey(b); return err })
	check("float64", 8, func(b []byte) error { _, err := mustKeyCodec[float64](t).DecodeKey(b); return err })
}

func TestBuiltinKeyCodecBytesDecodeCopies(t *testing.T) {
	c := mustKeyCodec[[]byte](t)
	enc := []byte("key")
	got, err := c.DecodeKey(enc)
	require.NoError(t, err)
	enc[0] = 'X'
	require.Equal(t, []byte("key"), got, "DecodeKey retained its input")

	got, err = c.DecodeKey(nil)
	require.NoError(t, err)
	require.NotNil(t, got)
	require.Empty(t, got)
}

// allocsAppendKey measures allocations of one AppendKey into a dst with
// room to spare; the codec and key are prepared outside the measurement.
func allocsAppendKey[K any](t *testing.T, key K) float64 {
	c := mustKeyCodec[K](t)
	dst := make([]byte, 0, 64)
	return testing.AllocsPerRun(100, func() { dst = c.AppendKey(dst[:0], key) })
}

func TestBuiltinKeyCodecAppendDoesNotAllocate(t *testing.T) {
	allocs := map[string]float64{
		"string":  allocsAppendKey(t, "some key"),
		"bytes":   allocsAppendKey(t, []byte("some key")),
		"int":     allocsAppendKey(t, -7),
		"int8":    allocsAppendKey(t, int8(-7)),
		"int16":   allocsAppendKey(t, int16(-7)),
		"int32":   allocsAppendKey(t, int32(-7)),
		"int64":   allocsAppendKey(t, int64(-7)),
		"uint":    allocsAppendKey(t, uint(7)),
		"uint8":   allocsAppendKey(t, uint8(7)),
		"uint16":  allocsAppendKey(t, uint16(7)),
		"uint32":  allocsAppendKey(t, uint32(7)),
		"uint64":  allocsAppendKey(t, uint64(7)),
		"uintptr": allocsAppendKey(t, uintptr(7)),
		"float32": allocsAppendKey(t, float32(-1.5)),
		"float64": allocsAppendKey(t, -1.5),
	}
	for name, n := range allocs {
		require.Zero(t, n, "%s AppendKey allocated", name)
	}
}

type codecTestUserID int64

func TestBuiltinCodecNoneForOtherTypes(t *testing.T) {
	require.Nil(t, builtinKeyCodec[struct{}]())
	require.Nil(t, builtinKeyCodec[*int]())
	require.Nil(t, builtinKeyCodec[bool]())
	require.Nil(t, builtinKeyCodec[[]int]())
	require.Nil(t, builtinKeyCodec[[4]byte]())
	require.Nil(t, builtinKeyCodec[any]())
	require.Nil(t, builtinKeyCodec[codecTestUserID](), "named types need their own codec")

	require.Nil(t, builtinValueCodec[struct{}]())
	require.Nil(t, builtinValueCodec[*int]())
	require.Nil(t, builtinValueCodec[map[string]int]())
	require.Nil(t, builtinValueCodec[any]())
	require.Nil(t, builtinValueCodec[codecTestUserID]())

	// rune and byte are aliases, so they do have built-ins.
	require.NotNil(t, builtinKeyCodec[rune]())
	require.NotNil(t, builtinValueCodec[byte]())
}

// checkValueRoundTrip encodes each value after a non-empty prefix, decodes
// it back and compares with same; width > 0 also pins the encoded size.
func checkValueRoundTrip[V any](t *testing.T, width int, same func(a, b V) bool, vals ...V) {
	t.Helper()
	c := mustValueCodec[V](t)
	for _, v := range vals {
		enc, err := c.AppendValue([]byte("pre"), v)
		require.NoError(t, err, "encode %v", v)
		require.Equal(t, "pre", string(enc[:3]), "AppendValue overwrote dst for %v", v)
		enc = enc[3:]
		if width > 0 {
			require.Len(t, enc, width, "encoding of %v", v)
		}
		got, err := c.DecodeValue(enc)
		require.NoError(t, err, "decode %v", v)
		require.True(t, same(v, got), "round trip %v: got %v", v, got)
	}
	if width > 0 {
		for _, n := range []int{0, width - 1, width + 1} {
			if n < 0 {
				continue
			}
			_, err := c.DecodeValue(make([]byte, n))
			require.ErrorIs(t, err, ErrCorrupt, "%T value of %d bytes", *new(V), n)
		}
	}
}

func TestBuiltinValueCodecRoundTrip(t *testing.T) {
	checkValueRoundTrip(t, 0, eq[string], "", "x", "hello, world", "\x00\xff")
	checkValueRoundTrip(t, 0, sameBytes, nil, []byte{}, []byte{0}, []byte("value"))
	checkValueRoundTrip(t, 1, eq[bool], false, true)
	checkValueRoundTrip(t, 8, eq[int], math.MinInt, -1, 0, 1, math.MaxInt)
	checkValueRoundTrip(t, 1, eq[int8], math.MinInt8, -1, 0, 1, math.MaxInt8)
	checkValueRoundTrip(t, 2, eq[int16], math.MinInt16, -1, 0, 1, math.MaxInt16)
	checkValueRoundTrip(t, 4, eq[int32], math.MinInt32, -1, 0, 1, math.MaxInt32)
	checkValueRoundTrip(t, 8, eq[int64], math.MinInt64, -1, 0, 1, math.MaxInt64)
	checkValueRoundTrip(t, 8, eq[uint], 0, 1, math.MaxUint)
	checkValueRoundTrip(t, 1, eq[uint8], 0, 1, math.MaxUint8)
	checkValueRoundTrip(t, 2, eq[uint16], 0, 1, math.MaxUint16)
	checkValueRoundTrip(t, 4, eq[uint32], 0, 1, math.MaxUint32)
	checkValueRoundTrip(t, 8, eq[uint64], 0, 1, math.MaxUint64)
	checkValueRoundTrip(t, 8, eq[uintptr], 0, 1, ^uintptr(0))
	checkValueRoundTrip(t, 8, sameBits64, 0, negZero64, 1.5, -1.5, smallest64, math.MaxFloat64,
		math.Inf(1), math.Inf(-1), nan64Pos, nan64Neg, nan64Signal, nan64MaxNeg)
	checkValueRoundTrip(t, 4, sameBits32, 0, negZero32, 1.5, -1.5, smallest32, math.MaxFloat32,
		inf32, ninf32, nan32Pos, nan32Neg, nan32Signal, nan32MaxNeg)
}

func TestBuiltinValueCodecBoolRejectsOtherBytes(t *testing.T) {
	c := mustValueCodec[bool](t)
	for _, b := range []byte{2, 0x80, 0xff} {
		_, err := c.DecodeValue([]byte{b})
		require.ErrorIs(t, err, ErrCorrupt, "byte %#x", b)
	}
}

func TestBuiltinValueCodecBytesDecodeCopies(t *testing.T) {
	c := mustValueCodec[[]byte](t)
	enc := []byte("value")
	got, err := c.DecodeValue(enc)
	require.NoError(t, err)
	enc[0] = 'X'
	require.Equal(t, []byte("value"), got, "DecodeValue retained its input")
}

type codecTestRecord struct {
	Name  string
	Age   int
	Tags  []string
	Score float64
	Blob  []byte
	Inner *codecTestInner
}

type codecTestInner struct{ OK bool }

func TestJSONAndGobCodecRoundTrip(t *testing.T) {
	recs := []codecTestRecord{
		{},
		{Name: "ada", Age: 36, Tags: []string{"a", "b"}, Score: -2.5, Blob: []byte{0, 1, 2}, Inner: &codecTestInner{OK: true}},
	}
	for name, c := range map[string]ValueCodec[codecTestRecord]{
		"json": JSONCodec[codecTestRecord](),
		"gob":  GobCodec[codecTestRecord](),
	} {
		for _, r := range recs {
			enc, err := c.AppendValue([]byte("pre"), r)
			require.NoError(t, err, name)
			require.Equal(t, "pre", string(enc[:3]), "%s AppendValue overwrote dst", name)
			got, err := c.DecodeValue(enc[3:])
			require.NoError(t, err, name)
			require.Equal(t, r, got, name)
		}
	}

	// Non-struct types go through the same path.
	enc, err := GobCodec[int]().AppendValue(nil, -42)
	require.NoError(t, err)
	n, err := GobCodec[int]().DecodeValue(enc)
	require.NoError(t, err)
	require.Equal(t, -42, n)

	enc, err = JSONCodec[map[string]int]().AppendValue(nil, map[string]int{"a": 1})
	require.NoError(t, err)
	m, err := JSONCodec[map[string]int]().DecodeValue(enc)
	require.NoError(t, err)
	require.Equal(t, map[string]int{"a": 1}, m)
}

func TestJSONAndGobCodecDecodeErrorsAreCorrupt(t *testing.T) {
	good, err := GobCodec[codecTestRecord]().AppendValue(nil, codecTestRecord{Name: "x"})
	require.NoError(t, err)
	for name, enc := range map[string][]byte{
		"empty":     nil,
		"garbage":   []byte("\xff\xfe\xfd not gob"),
		"truncated": good[:len(good)-1],
		"trailing":  append(append([]byte{}, good...), 0),
	} {
		_, err := GobCodec[codecTestRecord]().DecodeValue(enc)
		require.ErrorIs(t, err, ErrCorrupt, "gob %s", name)
	}

	for name, enc := range map[string]string{
		"empty":      "",
		"garbage":    "{not json",
		"wrong type": `{"Name": 5}`,
		"trailing":   `{"Name": "x"} {}`,
	} {
		_, err := JSONCodec[codecTestRecord]().DecodeValue([]byte(enc))
		require.ErrorIs(t, err, ErrCorrupt, "json %s", name)
	}
}

func TestJSONCodecEncodeErrorIsNotCorrupt(t *testing.T) {
	dst := []byte("pre")
	out, err := JSONCodec[float64]().AppendValue(dst, math.NaN())
	require.Error(t, err)
	require.NotErrorIs(t, err, ErrCorrupt, "an unencodable value is the caller's error, not corruption")
	require.Equal(t, dst, out, "dst must come back unchanged on error")
}
