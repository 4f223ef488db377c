package fluxmap

import (
	"bytes"
	"encoding/binary"
	"encoding/gob"
	"encoding/json"
	"fmt"
	"math"
	"reflect"
)

// Built-in codecs.
//
// Key codecs produce order-preserving, fixed-width encodings for numbers so
// that bytes.Compare on encodings agrees with the natural order of the keys:
//
//   - string and []byte: the bytes themselves.
//   - signed integers: big-endian two's complement with the sign bit flipped,
//     so negatives sort before non-negatives.
//   - unsigned integers: big-endian.
//   - floats: the IEEE 754 bits, all flipped when the sign bit is set and only
//     the sign bit flipped otherwise. This gives
//     -Inf < negatives < -0 < +0 < positives < +Inf. Note that -0 and +0 are
//     two distinct keys (-0 immediately before +0), and that NaNs sort at the
//     ends: a NaN with the sign bit set sorts before -Inf, one with it clear
//     after +Inf, and NaNs with different payloads are distinct keys. Round
//     trips are bit-exact.
//
// int, uint and uintptr always encode as 8 bytes, whatever the platform's word
// size, so that encodings are portable between platforms.
//
// Only these exact types have built-ins: a named type such as
// `type UserID int64` needs its own codec.
//
// All built-in codecs are stateless and safe for concurrent use.

// builtinKeyCodec returns the built-in key codec for K, or nil when K has
// none.
func builtinKeyCodec[K any]() KeyCodec[K] {
	var c any
	switch any(*new(K)).(type) {
	case string:
		c = stringKeyCodec{}
	case []byte:
		c = bytesKeyCodec{}
	case int:
		c = signedKeyCodec[int]{width: 8}
	case int8:
		c = signedKeyCodec[int8]{width: 1}
	case int16:
		c = signedKeyCodec[int16]{width: 2}
	case int32:
		c = signedKeyCodec[int32]{width: 4}
	case int64:
		c = signedKeyCodec[int64]{width: 8}
	case uint:
		c = unsignedKeyCodec[uint]{width: 8}
	case uint8:
		c = unsignedKeyCodec[uint8]{width: 1}
	case uint16:
		c = unsignedKeyCodec[uint16]{width: 2}
	case uint32:
		c = unsignedKeyCodec[uint32]{width: 4}
	case uint64:
		c = unsignedKeyCodec[uint64]{width: 8}
	case uintptr:
		c = unsignedKeyCodec[uintptr]{width: 8}
	case float32:
		c = float32KeyCodec{}
	case float64:
		c = float64KeyCodec{}
	default:
		return nil
	}
	return c.(KeyCodec[K])
}

// builtinValueCodec returns the built-in value codec for V, or nil when V has
// none.
func builtinValueCodec[V any]() ValueCodec[V] {
	var c any
	switch any(*new(V)).(type) {
	case string:
		c = stringValueCodec{}
	case []byte:
		c = bytesValueCodec{}
	case bool:
		c = boolValueCodec{}
	case int:
		c = intValueCodec[int]{width: 8}
	case int8:
		c = intValueCodec[int8]{width: 1}
	case int16:
		c = intValueCodec[int16]{width: 2}
	case int32:
		c = intValueCodec[int32]{width: 4}
	case int64:
		c = intValueCodec[int64]{width: 8}
	case uint:
		c = intValueCodec[uint]{width: 8}
	case uint8:
		c = intValueCodec[uint8]{width: 1}
	case uint16:
		c = intValueCodec[uint16]{width: 2}
	case uint32:
		c = intValueCodec[uint32]{width: 4}
	case uint64:
		c = intValueCodec[uint64]{width: 8}
	case uintptr:
		c = intValueCodec[uintptr]{width: 8}
	case float32:
		c = float32ValueCodec{}
	case float64:
		c = float64ValueCodec{}
	default:
		return nil
	}
	return c.(ValueCodec[V])
}

// codecSigned and codecUnsigned are the exact integer types with built-in
// codecs. They deliberately have no ~: named types do not get built-ins.
type codecSigned interface {
	int | int8 | int16 | int32 | int64
}

type codecUnsigned interface {
	uint | uint8 | uint16 | uint32 | uint64 | uintptr
}

type codecInteger interface {
	codecSigned | codecUnsigned
}

// errWidth reports an encoding of the wrong length for a fixed-width type.
func errWidth(what string, zero any, got, want int) error {
	return fmt.Errorf("%w: %T %s is %d bytes, want %d", ErrCorrupt, zero, what, got, want)
}

// appendUintBE appends the low width bytes of u, big-endian.
func appendUintBE(dst []byte, u uint64, width int) []byte {
	switch width {
	case 1:
		return append(dst, byte(u))
	case 2:
		return binary.BigEndian.AppendUint16(dst, uint16(u))
	case 4:
		return binary.BigEndian.AppendUint32(dst, uint32(u))
	default:
		return binary.BigEndian.AppendUint64(dst, u)
	}
}

// uintBE reads a big-endian integer of len(enc) bytes; len(enc) must be 1, 2,
// 4 or 8.
func uintBE(enc []byte) uint64 {
	switch len(enc) {
	case 1:
		return uint64(enc[0])
	case 2:
		return uint64(binary.BigEndian.Uint16(enc))
	case 4:
		return uint64(binary.BigEndian.Uint32(enc))
	default:
		return binary.BigEndian.Uint64(enc)
	}
}

// appendUintLE appends the low width bytes of u, little-endian.
func appendUintLE(dst []byte, u uint64, width int) []byte {
	switch width {
	case 1:
		return append(dst, byte(u))
	case 2:
		return binary.LittleEndian.AppendUint16(dst, uint16(u))
	case 4:
		return binary.LittleEndian.AppendUint32(dst, uint32(u))
	default:
		return binary.LittleEndian.AppendUint64(dst, u)
	}
}

// uintLE reads a little-endian integer of len(enc) bytes; len(enc) must be 1,
// 2, 4 or 8.
func uintLE(enc []byte) uint64 {
	switch len(enc) {
	case 1:
		return uint64(enc[0])
	case 2:
		return uint64(binary.LittleEndian.Uint16(enc))
	case 4:
		return uint64(binary.LittleEndian.Uint32(enc))
	default:
		return binary.LittleEndian.Uint64(enc)
	}
}

// stringKeyCodec encodes a string key as its bytes.
type stringKeyCodec struct{}

func (stringKeyCodec) AppendKey(dst []byte, key string) []byte { return append(dst, key...) }

func (stringKeyCodec) DecodeKey(enc []byte) (string, error) { return string(enc), nil }

// bytesKeyCodec encodes a []byte key as itself. DecodeKey returns a fresh,
// non-nil slice.
type bytesKeyCodec struct{}

func (bytesKeyCodec) AppendKey(dst []byte, key []byte) []byte { return append(dst, key...) }

func (bytesKeyCodec) DecodeKey(enc []byte) ([]byte, error) { return append([]byte{}, enc...), nil }

// signedKeyCodec encodes a signed integer as width big-endian bytes with the
// sign bit flipped.
type signedKeyCodec[T codecSigned] struct{ width int }

func (c signedKeyCodec[T]) AppendKey(dst []byte, key T) []byte {
	u := uint64(int64(key)) ^ 1<<(8*c.width-1)
	return appendUintBE(dst, u, c.width)
}

func (c signedKeyCodec[T]) DecodeKey(enc []byte) (T, error) {
	if len(enc) != c.width {
		return 0, errWidth("key", T(0), len(enc), c.width)
	}
	shift := 64 - 8*c.width
	u := uintBE(enc) ^ 1<<(8*c.width-1)
	v := int64(u<<shift) >> shift // sign-extend
	// An 8-byte int key read on a 32-bit platform may not fit.
	if int64(T(v)) != v {
		return 0, fmt.Errorf("%w: %T key %d out of range", ErrCorrupt, T(0), v)
	}
	return T(v), nil
}

// unsignedKeyCodec encodes an unsigned integer as width big-endian bytes.
type unsignedKeyCodec[T codecUnsigned] struct{ width int }

func (c unsignedKeyCodec[T]) AppendKey(dst []byte, key T) []byte {
	return appendUintBE(dst, uint64(key), c.width)
}

func (c unsignedKeyCodec[T]) DecodeKey(enc []byte) (T, error) {
	if len(enc) != c.width {
		return 0, errWidth("key", T(0), len(enc), c.width)
	}
	u := uintBE(enc)
	// An 8-byte uint or uintptr key read on a 32-bit platform may not fit.
	if uint64(T(u)) != u {
		return 0, fmt.Errorf("%w: %T key %d out of range", ErrCorrupt, T(0), u)
	}
	return T(u), nil
}

// float64KeyCodec encodes a float64 with the IEEE order transform; see the
// note at the top of this file for where -0 and NaNs sort.
type float64KeyCodec struct{}

func (float64KeyCodec) AppendKey(dst []byte, key float64) []byte {
	b := math.Float64bits(key)
	if b>>63 != 0 {
		b = ^b
	} else {
		b ^= 1 << 63
	}
	return binary.BigEndian.AppendUint64(dst, b)
}

func (float64KeyCodec) DecodeKey(enc []byte) (float64, error) {
	if len(enc) != 8 {
		return 0, errWidth("key", float64(0), len(enc), 8)
	}
	b := binary.BigEndian.Uint64(enc)
	if b>>63 != 0 {
		b ^= 1 << 63
	} else {
		b = ^b
	}
	return math.Float64frombits(b), nil
}

// float32KeyCodec is float64KeyCodec for float32, in 4 bytes.
type float32KeyCodec struct{}

func (float32KeyCodec) AppendKey(dst []byte, key float32) []byte {
	b := math.Float32bits(key)
	if b>>31 != 0 {
		b = ^b
	} else {
		b ^= 1 << 31
	}
	return binary.BigEndian.AppendUint32(dst, b)
}

func (float32KeyCodec) DecodeKey(enc []byte) (float32, error) {
	if len(enc) != 4 {
		return 0, errWidth("key", float32(0), len(enc), 4)
	}
	b := binary.BigEndian.Uint32(enc)
	if b>>31 != 0 {
		b ^= 1 << 31
	} else {
		b = ^b
	}
	return math.Float32frombits(b), nil
}

// stringValueCodec stores a string value as its bytes.
type stringValueCodec struct{}

func (stringValueCodec) AppendValue(dst []byte, v string) ([]byte, error) {
	return append(dst, v...), nil
}

func (stringValueCodec) DecodeValue(enc []byte) (string, error) { return string(enc), nil }

// bytesValueCodec stores a []byte value as itself. DecodeValue returns a
// fresh, non-nil slice: nil and empty values both read back as empty.
type bytesValueCodec struct{}

func (bytesValueCodec) AppendValue(dst []byte, v []byte) ([]byte, error) {
	return append(dst, v...), nil
}

func (bytesValueCodec) DecodeValue(enc []byte) ([]byte, error) {
	return append([]byte{}, enc...), nil
}

// boolValueCodec stores a bool as one byte, 0 or 1; any other byte is
// corrupt.
type boolValueCodec struct{}

func (boolValueCodec) AppendValue(dst []byte, v bool) ([]byte, error) {
	if v {
		return append(dst, 1), nil
	}
	return append(dst, 0), nil
}

func (boolValueCodec) DecodeValue(enc []byte) (bool, error) {
	if len(enc) != 1 {
		return false, errWidth("value", false, len(enc), 1)
	}
	switch enc[0] {
	case 0:
		return false, nil
	case 1:
		return true, nil
	}
	return false, fmt.Errorf("%w: bool value byte %#x", ErrCorrupt, enc[0])
}

// intValueCodec stores an integer as width little-endian bytes, two's
// complement for signed types. Values need no order, so unlike keys there is
// no sign flip.
type intValueCodec[T codecInteger] struct{ width int }

func (c intValueCodec[T]) AppendValue(dst []byte, v T) ([]byte, error) {
	// For signed T the conversion sign-extends; only the low width bytes
	// are kept.
	return appendUintLE(dst, uint64(v), c.width), nil
}

func (c intValueCodec[T]) DecodeValue(enc []byte) (T, error) {
	if len(enc) != c.width {
		return 0, errWidth("value", T(0), len(enc), c.width)
	}
	u := uintLE(enc)
	// The conversion truncates to T's size and reinterprets the bits, which
	// is exact when T is width bytes wide. Only an 8-byte int, uint or
	// uintptr on a 32-bit platform can fail to fit; narrower widths are
	// never checked because a negative T sign-extends back to a different
	// uint64.
	if c.width == 8 && uint64(T(u)) != u {
		return 0, fmt.Errorf("%w: %T value %#x out of range", ErrCorrupt, T(0), u)
	}
	return T(u), nil
}

// float64ValueCodec stores the IEEE 754 bits of a float64, little-endian.
type float64ValueCodec struct{}

func (float64ValueCodec) AppendValue(dst []byte, v float64) ([]byte, error) {
	return binary.LittleEndian.AppendUint64(dst, math.Float64bits(v)), nil
}

func (float64ValueCodec) DecodeValue(enc []byte) (float64, error) {
	if len(enc) != 8 {
		return 0, errWidth("value", float64(0), len(enc), 8)
	}
	return math.Float64frombits(binary.LittleEndian.Uint64(enc)), nil
}

// float32ValueCodec stores the IEEE 754 bits of a float32, little-endian.
type float32ValueCodec struct{}

func (float32ValueCodec) AppendValue(dst []byte, v float32) ([]byte, error) {
	return binary.LittleEndian.AppendUint32(dst, math.Float32bits(v)), nil
}

func (float32ValueCodec) DecodeValue(enc []byte) (float32, error) {
	if len(enc) != 4 {
		return 0, errWidth("value", float32(0), len(enc), 4)
	}
	return math.Float32frombits(binary.LittleEndian.Uint32(enc)), nil
}

// JSONCodec returns a ValueCodec that stores values as JSON with
// encoding/json. It suits structs with exported fields; whatever
// encoding/json cannot represent fails in AppendValue (for example NaN or
// ±Inf floats, channels, funcs) or does not round-trip (unexported fields).
// DecodeValue rejects trailing data and returns errors wrapping ErrCorrupt.
// The codec is stateless and safe for concurrent use.
func JSONCodec[V any]() ValueCodec[V] { return jsonCodec[V]{} }

type jsonCodec[V any] struct{}

func (jsonCodec[V]) AppendValue(dst []byte, v V) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return dst, errorf("json encode %v: %w", reflect.TypeFor[V](), err)
	}
	return append(dst, b...), nil
}

func (jsonCodec[V]) DecodeValue(enc []byte) (V, error) {
	var v V
	if err := json.Unmarshal(enc, &v); err != nil {
		var zero V
		return zero, fmt.Errorf("%w: json decode %v: %w", ErrCorrupt, reflect.TypeFor[V](), err)
	}
	return v, nil
}

// GobCodec returns a ValueCodec that stores values with encoding/gob. Each
// value is a self-contained gob stream carrying its own type description, so
// it is larger than a shared stream would be but can be decoded on its own.
// Interface-typed fields need gob.Register as usual. Gob does not transmit
// zero-valued fields and cannot encode nil pointers at top level.
// DecodeValue rejects trailing data and returns errors wrapping ErrCorrupt;
// like encoding/gob itself it is not hardened against adversarial input.
// The codec is stateless and safe for concurrent use.
func GobCodec[V any]() ValueCodec[V] { return gobCodec[V]{} }

type gobCodec[V any] struct{}

func (gobCodec[V]) AppendValue(dst []byte, v V) ([]byte, error) {
	buf := bytes.NewBuffer(dst)
	// Encode through a pointer so that an interface-typed V keeps its
	// static type.
	if err := gob.NewEncoder(buf).Encode(&v); err != nil {
		return dst, errorf("gob encode %v: %w", reflect.TypeFor[V](), err)
	}
	return buf.Bytes(), nil
}

func (gobCodec[V]) DecodeValue(enc []byte) (V, error) {
	var v V
	r := bytes.NewReader(enc)
	if err := gob.NewDecoder(r).Decode(&v); err != nil {
		var zero V
		return zero, fmt.Errorf("%w: gob decode %v: %w", ErrCorrupt, reflect.TypeFor[V](), err)
	}
	if r.Len() != 0 {
		var zero V
		return zero, fmt.Errorf("%w: gob decode %v: %d trailing bytes", ErrCorrupt, reflect.TypeFor[V](), r.Len())
	}
	return v, nil
}
