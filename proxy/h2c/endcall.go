package h2c

// The header blocks of an ended call. They use only HPACK's static table
// and literals without indexing, so the client's dynamic table, which the
// server's encoder owns, is never touched.
var (
	// :status 200 (static entry 8), content-type (static name 31) with
	// application/grpc.
	responseHeaders = []byte("\x88\x0f\x10\x10application/grpc")
	// grpc-status 0, a literal name.
	okTrailers = []byte("\x00\x0bgrpc-status\x010")
	// An empty gRPC message: not compressed, length 0. It decodes as any
	// protobuf message with every field at its default (google.protobuf.Empty,
	// the answer of Pinpoint's client streams).
	emptyMessage = []byte{0, 0, 0, 0, 0}
)

// EndCall is the frames that end a gRPC call toward its client with
// status OK: when the server has not answered yet, headers, an empty
// message and trailers, as a server that took every message; after its
// headers, the trailers alone. The client sees the call finished, opens its
// next one (on a new connection, after a GOAWAY), and ignores what the
// server sends on the stream later, as HTTP/2 lets it for a closed stream.
func EndCall(stream uint32, answered bool) []byte {
	var b []byte
	if !answered {
		b = appendFrame(b, frameHeaders, flagEndHeaders, stream, responseHeaders)
		b = appendFrame(b, frameData, 0, stream, emptyMessage)
	}
	return appendFrame(b, frameHeaders, flagEndHeaders|flagEndStream, stream, okTrailers)
}

func appendFrame(b []byte, typ, flags byte, stream uint32, payload []byte) []byte {
	var h [headerLen]byte
	putHeader(h[:], len(payload), typ, flags, stream)
	return append(append(b, h[:]...), payload...)
}
