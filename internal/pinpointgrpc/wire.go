package pinpointgrpc

import (
	"fmt"

	"google.golang.org/protobuf/encoding/protowire"
)

// The facts of Pinpoint's gRPC IDL (package v1) that the stand-in builds on,
// as NAVER's agents send them.
const (
	// Messages of v1.Span/SendSpan: PSpanMessage is a oneof of a span or a
	// span chunk.
	fieldSpan      protowire.Number = 1
	fieldSpanChunk protowire.Number = 2
	// PResult answers the agent-info and metadata calls.
	fieldResultSuccess protowire.Number = 1
)

// rawCodec carries messages as the bytes on the wire: the stand-in decodes
// only what it counts. Its name is proto's, so the content-type the agents
// send and expect (application/grpc, +proto) is unchanged.
type rawCodec struct{}

func (rawCodec) Name() string { return "proto" }

func (rawCodec) Marshal(v any) ([]byte, error) {
	b, ok := v.(*[]byte)
	if !ok {
		return nil, fmt.Errorf("pinpointgrpc: cannot marshal %T", v)
	}
	return *b, nil
}

func (rawCodec) Unmarshal(data []byte, v any) error {
	b, ok := v.(*[]byte)
	if !ok {
		return fmt.Errorf("pinpointgrpc: cannot unmarshal into %T", v)
	}
	*b = append((*b)[:0], data...)
	return nil
}

// resultOK is a PResult{success: true}.
var resultOK = protowire.AppendVarint(protowire.AppendTag(nil, fieldResultSuccess, protowire.VarintType), 1)

// empty is google.protobuf.Empty.
var empty = []byte{}

// spanKind tells a PSpanMessage's payload: fieldSpan, fieldSpanChunk, or 0
// for anything else (a malformed message included).
func spanKind(msg []byte) protowire.Number {
	for len(msg) > 0 {
		num, typ, n := protowire.ConsumeTag(msg)
		if n < 0 {
			return 0
		}
		msg = msg[n:]
		if typ == protowire.BytesType && (num == fieldSpan || num == fieldSpanChunk) {
			return num
		}
		if n = protowire.ConsumeFieldValue(num, typ, msg); n < 0 {
			return 0
		}
		msg = msg[n:]
	}
	return 0
}
