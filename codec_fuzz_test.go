package fluxmap

import (
	"bytes"
	"cmp"
	"math"
	"testing"

	"github.com/stretchr/testify/require"
)

// checkKeyPair is the property every built-in key codec must have: each key
// round-trips exactly (same), and bytes.Compare of the two encodings has the
// sign that order gives; order returns ok=false where no order is promised.
func checkKeyPair[K any](t *testing.T, a, b K, same func(a, b K) bool, order func(a, b K) (int, bool)) {
	t.Helper()
	c := mustKeyCodec[K](t)
	encA := c.AppendKey(nil, a)
	encB := c.AppendKey(nil, b)
	for _, p := range []struct {
		k   K
		enc []byte
	}{{a, encA}, {b, encB}} {
		got, err := c.DecodeKey(p.enc)
		require.NoError(t, err, "decode %v (%x)", p.k, p.enc)
		require.True(t, same(p.k, got), "round trip %v (%x): got %v", p.k, p.enc, got)
	}
	if want, ok := order(a, b); ok {
		require.Equal(t, want, bytes.Compare(encA, encB), "order of %v (%x) vs %v (%x)", a, encA, b, encB)
	}
}

func naturalOrder[K cmp.Ordered](a, b K) (int, bool) { return cmp.Compare(a, b), true }

// floatOrder is the order float keys promise: numeric, with -0 just before
// +0 and nothing promised about NaNs beyond their round trip.
func floatOrder[F float32 | float64](a, b F) (int, bool) {
	if a != a || b != b {
		return 0, false
	}
	if a == b {
		sa, sb := math.Signbit(float64(a)), math.Signbit(float64(b))
		switch {
		case sa == sb:
			return 0, true
		case sa:
			return -1, true
		default:
			return 1, true
		}
	}
	return cmp.Compare(a, b), true
}

func bytesOrder(a, b []byte) (int, bool) { return bytes.Compare(a, b), true }

func FuzzKeyString(f *testing.F) {
	f.Add("", "")
	f.Add("a", "")
	f.Add("a", "a\x00")
	f.Add("\xff", "\x00\xff")
	f.Add("ab", "b")
	f.Fuzz(func(t *testing.T, a, b string) {
		checkKeyPair(t, a, b, eq[string], naturalOrder[string])
	})
}

func FuzzKeyBytes(f *testing.F) {
	f.Add([]byte{}, []byte{})
	f.Add([]byte{0}, []byte{})
	f.Add([]byte("a"), []byte("a\x00"))
	f.Add([]byte{0xff}, []byte{0, 0xff})
	f.Fuzz(func(t *testing.T, a, b []byte) {
		checkKeyPair(t, a, b, sameBytes, bytesOrder)
	})
}

func FuzzKeyInt(f *testing.F) {
	f.Add(0, -1)
	f.Add(math.MinInt, math.MaxInt)
	f.Add(-1<<31, 1<<30)
	f.Fuzz(func(t *testing.T, a, b int) {
		checkKeyPair(t, a, b, eq[int], naturalOrder[int])
	})
}

func FuzzKeyInt8(f *testing.F) {
	f.Add(int8(0), int8(-1))
	f.Add(int8(math.MinInt8), int8(math.MaxInt8))
	f.Fuzz(func(t *testing.T, a, b int8) {
		checkKeyPair(t, a, b, eq[int8], naturalOrder[int8])
	})
}

func FuzzKeyInt16(f *testing.F) {
	f.Add(int16(0), int16(-1))
	f.Add(int16(math.MinInt16), int16(math.MaxInt16))
	f.Add(int16(-256), int16(255))
	f.Fuzz(func(t *testing.T, a, b int16) {
		checkKeyPair(t, a, b, eq[int16], naturalOrder[int16])
	})
}

func FuzzKeyInt32(f *testing.F) {
	f.Add(int32(0), int32(-1))
	f.Add(int32(math.MinInt32), int32(math.MaxInt32))
	f.Add(int32(-1<<16), int32(1<<16))
	f.Fuzz(func(t *testing.T, a, b int32) {
		checkKeyPair(t, a, b, eq[int32], naturalOrder[int32])
	})
}

func FuzzKeyInt64(f *testing.F) {
	f.Add(int64(0), int64(-1))
	f.Add(int64(math.MinInt64), int64(math.MaxInt64))
	f.Add(int64(math.MinInt32-1), int64(math.MaxInt32+1))
	f.Fuzz(func(t *testing.T, a, b int64) {
		checkKeyPair(t, a, b, eq[int64], naturalOrder[int64])
	})
}

func FuzzKeyUint(f *testing.F) {
	f.Add(uint(0), uint(1))
	f.Add(uint(1<<31), uint(math.MaxUint))
	f.Fuzz(func(t *testing.T, a, b uint) {
		checkKeyPair(t, a, b, eq[uint], naturalOrder[uint])
	})
}

func FuzzKeyUint8(f *testing.F) {
	f.Add(uint8(0), uint8(0x80))
	f.Add(uint8(0x7f), uint8(math.MaxUint8))
	f.Fuzz(func(t *testing.T, a, b uint8) {
		checkKeyPair(t, a, b, eq[uint8], naturalOrder[uint8])
	})
}

func FuzzKeyUint16(f *testing.F) {
	f.Add(uint16(255), uint16(256))
	f.Add(uint16(0), uint16(math.MaxUint16))
	f.Fuzz(func(t *testing.T, a, b uint16) {
		checkKeyPair(t, a, b, eq[uint16], naturalOrder[uint16])
	})
}

func FuzzKeyUint32(f *testing.F) {
	f.Add(uint32(1<<24-1), uint32(1<<24))
	f.Add(uint32(0), uint32(math.MaxUint32))
	f.Fuzz(func(t *testing.T, a, b uint32) {
		checkKeyPair(t, a, b, eq[uint32], naturalOrder[uint32])
	})
}

func FuzzKeyUint64(f *testing.F) {
	f.Add(uint64(0), uint64(1))
	f.Add(uint64(1<<63-1), uint64(1<<63))
	f.Add(uint64(0), uint64(math.MaxUint64))
	f.Fuzz(func(t *testing.T, a, b uint64) {
		checkKeyPair(t, a, b, eq[uint64], naturalOrder[uint64])
		// The fuzzer has no uintptr arguments; uintptr shares the code
		// path, so drive it from the same inputs where they fit.
		if uint64(uintptr(a)) == a && uint64(uintptr(b)) == b {
			checkKeyPair(t, uintptr(a), uintptr(b), eq[uintptr], naturalOrder[uintptr])
		}
	})
}

func FuzzKeyFloat64(f *testing.F) {
	f.Add(0.0, negZero64)
	f.Add(-1.5, 1.5)
	f.Add(math.Inf(-1), -math.MaxFloat64)
	f.Add(math.MaxFloat64, math.Inf(1))
	f.Add(smallest64, -smallest64)
	f.Add(nan64Pos, nan64Neg)
	f.Add(nan64Signal, nan64MaxNeg)
	f.Fuzz(func(t *testing.T, a, b float64) {
		checkKeyPair(t, a, b, sameBits64, floatOrder[float64])
	})
}

func FuzzKeyFloat32(f *testing.F) {
	f.Add(float32(0), negZero32)
	f.Add(float32(-1.5), float32(1.5))
	f.Add(ninf32, float32(-math.MaxFloat32))
	f.Add(float32(math.MaxFloat32), inf32)
	f.Add(smallest32, -smallest32)
	f.Add(nan32Pos, nan32Neg)
	f.Add(nan32Signal, nan32MaxNeg)
	f.Fuzz(func(t *testing.T, a, b float32) {
		checkKeyPair(t, a, b, sameBits32, floatOrder[float32])
	})
}

// checkDecodeKey feeds arbitrary bytes to DecodeKey. Beyond not panicking,
// a failure must be ErrCorrupt, and a success must re-encode to exactly the
// input: the built-in key encodings are canonical, so two different byte
// strings never stand for the same key.
func checkDecodeKey[K any](t *testing.T, enc []byte) {
	t.Helper()
	c := mustKeyCodec[K](t)
	k, err := c.DecodeKey(enc)
	if err != nil {
		require.ErrorIs(t, err, ErrCorrupt, "%T from %x", k, enc)
		return
	}
	require.True(t, bytes.Equal(enc, c.AppendKey(nil, k)), "%T from %x re-encodes differently", k, enc)
}

func FuzzDecodeKey(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{0x80})
	f.Add([]byte{0x7f, 0xff})
	f.Add([]byte{0x80, 0, 0, 0})
	f.Add([]byte{0x80, 0, 0, 0, 0, 0, 0, 0})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
	f.Add([]byte{0, 0, 0, 0, 0, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, enc []byte) {
		checkDecodeKey[string](t, enc)
		checkDecodeKey[[]byte](t, enc)
		checkDecodeKey[int](t, enc)
		checkDecodeKey[int8](t, enc)
		checkDecodeKey[int16](t, enc)
		checkDecodeKey[int32](t, enc)
		checkDecodeKey[int64](t, enc)
		checkDecodeKey[uint](t, enc)
		checkDecodeKey[uint8](t, enc)
		checkDecodeKey[uint16](t, enc)
		checkDecodeKey[uint32](t, enc)
		checkDecodeKey[uint64](t, enc)
		checkDecodeKey[uintptr](t, enc)
		checkDecodeKey[float32](t, enc)
		checkDecodeKey[float64](t, enc)
	})
}

// checkDecodeValue is checkDecodeKey for value codecs; the built-in value
// encodings are canonical too.
func checkDecodeValue[V any](t *testing.T, enc []byte) {
	t.Helper()
	c := mustValueCodec[V](t)
	v, err := c.DecodeValue(enc)
	if err != nil {
		require.ErrorIs(t, err, ErrCorrupt, "%T from %x", v, enc)
		return
	}
	again, err := c.AppendValue(nil, v)
	require.NoError(t, err)
	require.True(t, bytes.Equal(enc, again), "%T from %x re-encodes differently", v, enc)
}

func FuzzDecodeValue(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{1})
	f.Add([]byte{2})
	f.Add([]byte{0xff, 0xff})
	f.Add([]byte{0, 0, 0x80, 0x7f})
	f.Add([]byte{1, 0, 0, 0, 0, 0, 0xf8, 0x7f})
	f.Fuzz(func(t *testing.T, enc []byte) {
		checkDecodeValue[string](t, enc)
		checkDecodeValue[[]byte](t, enc)
		checkDecodeValue[bool](t, enc)
		checkDecodeValue[int](t, enc)
		checkDecodeValue[int8](t, enc)
		checkDecodeValue[int16](t, enc)
		checkDecodeValue[int32](t, enc)
		checkDecodeValue[int64](t, enc)
		checkDecodeValue[uint](t, enc)
		checkDecodeValue[uint8](t, enc)
		checkDecodeValue[uint16](t, enc)
		checkDecodeValue[uint32](t, enc)
		checkDecodeValue[uint64](t, enc)
		checkDecodeValue[uintptr](t, enc)
		checkDecodeValue[float32](t, enc)
		checkDecodeValue[float64](t, enc)
	})
}

// FuzzDecodeValueJSON and FuzzDecodeValueGob check only that arbitrary bytes
// never panic and fail as ErrCorrupt; neither format is canonical.
func FuzzDecodeValueJSON(f *testing.F) {
	good, err := JSONCodec[codecTestRecord]().AppendValue(nil, codecTestRecord{Name: "a", Tags: []string{"x"}, Inner: &codecTestInner{}})
	require.NoError(f, err)
	f.Add(good)
	f.Add([]byte(`{}`))
	f.Add([]byte(`null`))
	f.Add([]byte(`{"Name":1}`))
	f.Fuzz(func(t *testing.T, enc []byte) {
		_, err := JSONCodec[codecTestRecord]().DecodeValue(enc)
		if err != nil {
			require.ErrorIs(t, err, ErrCorrupt)
		}
	})
}

func FuzzDecodeValueGob(f *testing.F) {
	good, err := GobCodec[codecTestRecord]().AppendValue(nil, codecTestRecord{Name: "a", Tags: []string{"x"}, Inner: &codecTestInner{}})
	require.NoError(f, err)
	f.Add(good)
	f.Add(good[:len(good)/2])
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, enc []byte) {
		_, err := GobCodec[codecTestRecord]().DecodeValue(enc)
		if err != nil {
			require.ErrorIs(t, err, ErrCorrupt)
		}
	})
}
