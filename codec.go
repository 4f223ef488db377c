package fluxmap

import "reflect"

// KeyCodec turns keys of type K into byte strings whose bytewise order is
// the order the user wants for scans, and back. Built-in codecs exist for
// string, []byte, the signed and unsigned integer types and the float types;
// any other key type must supply one through Builder.KeyCodec.
//
// Implementations must be safe for concurrent use and deterministic: equal
// keys encode to equal bytes, and a < b in K's order iff enc(a) < enc(b)
// bytewise.
type KeyCodec[K any] interface {
	// AppendKey appends the encoding of key to dst and returns the result.
	AppendKey(dst []byte, key K) []byte
	// DecodeKey decodes an encoding produced by AppendKey. It must not
	// retain enc.
	DecodeKey(enc []byte) (K, error)
}

// ValueCodec turns values into bytes and back. It is needed only by durable
// databases. Built-ins exist for string, []byte, the integer and float types
// and bool; JSONCodec and GobCodec cover other types.
type ValueCodec[V any] interface {
	// AppendValue appends the encoding of v to dst and returns the result.
	AppendValue(dst []byte, v V) ([]byte, error)
	// DecodeValue decodes an encoding produced by AppendValue. It must not
	// retain enc.
	DecodeValue(enc []byte) (V, error)
}

// CodecIdentifier is implemented by a codec that names its format. A
// durable database records the identities of its key and value codecs on
// first open, and a later Build with other codecs fails with ErrConfig
// before it reads or writes anything else, since bytes written by one
// codec would decode wrongly, or sort wrongly, through another.
//
// A codec without CodecID is identified by its Go type and the type it
// encodes (for example JSONCodec[Order]() by the JSON codec's type and
// Order's package path and name), so renaming either type, or moving it to
// another package, makes an existing database refuse to open. A codec that
// should survive such a refactoring implements CodecID and returns a name
// that changes only when its encoding does.
type CodecIdentifier interface {
	CodecID() string
}

// codecID returns c's identity for encoding values of type t.
func codecID(c any, t reflect.Type) string {
	if ci, ok := c.(CodecIdentifier); ok {
		return ci.CodecID()
	}
	return qualifiedName(reflect.TypeOf(c)) + "(" + qualifiedName(t) + ")"
}

// qualifiedName is t's name with its package path, or its literal form if
// it is not a named type.
func qualifiedName(t reflect.Type) string {
	if t == nil {
		return "nil"
	}
	if t.Name() != "" && t.PkgPath() != "" {
		return t.PkgPath() + "." + t.Name()
	}
	return t.String()
}

// DefaultKeyCodec returns the built-in key codec for K, the one a Builder
// uses when no KeyCodec is set, or nil if K has none. Other backends
// (fluxetcd) encode keys with it so that ranges and prefixes select the
// same keys, in the same order, as in the embedded engine.
func DefaultKeyCodec[K any]() KeyCodec[K] { return builtinKeyCodec[K]() }

// DefaultValueCodec returns the built-in value codec for V, the one a
// durable Builder uses when no ValueCodec is set, or nil if V has none.
func DefaultValueCodec[V any]() ValueCodec[V] { return builtinValueCodec[V]() }
