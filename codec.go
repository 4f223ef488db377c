package fluxmap

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
