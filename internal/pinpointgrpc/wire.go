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
	// PSpanMessageBatch, of v1.Span/SendSpanBatch (Pinpoint 3.1's unary
	// span call, which its release notes name SendSpanList; its agents'
	// stubs name the method SendSpanBatch): repeated PSpanMessage.
	fieldBatchSpan protowire.Number = 1
	// PResult answers the agent-info and metadata calls.
	fieldResultSuccess protowire.Number = 1
	// PStatMessage: a oneof whose first field is one PAgentStat.
	fieldAgentStat protowire.Number = 1
	// PSpan's version; the stand-in's agent sends 1, as Pinpoint's do.
	fieldSpanVersion protowire.Number = 1
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

// batchSpans calls each for every PSpanMessage of a PSpanMessageBatch.
func batchSpans(batch []byte, each func(msg []byte)) {
	bytesFields(batch, func(num protowire.Number, msg []byte) bool {
		if num == fieldBatchSpan {
			each(msg)
		}
		return true
	})
}

// spanMessage is a PSpanMessage holding a span of about size bytes.
func spanMessage(size int) []byte {
	span := protowire.AppendVarint(protowire.AppendTag(nil, fieldSpanVersion, protowire.VarintType), 1)
	// The rest is an unknown field, which every reader skips.
	span = protowire.AppendBytes(protowire.AppendTag(span, 1000, protowire.BytesType), make([]byte, max(size-8, 0)))
	return protowire.AppendBytes(protowire.AppendTag(nil, fieldSpan, protowire.BytesType), span)
}

// spanBatch is a PSpanMessageBatch of msgs.
func spanBatch(msgs [][]byte) []byte {
	var b []byte
	for _, m := range msgs {
		b = protowire.AppendBytes(protowire.AppendTag(b, fieldBatchSpan, protowire.BytesType), m)
	}
	return b
}

// statMessage is a PStatMessage holding one small PAgentStat.
var statMessage = protowire.AppendBytes(protowire.AppendTag(nil, fieldAgentStat, protowire.BytesType), []byte{0x10, 0x01})

// spanKind tells a PSpanMessage's payload: fieldSpan, fieldSpanChunk, or 0
// for anything else (a malformed message included).
func spanKind(msg []byte) (kind protowire.Number) {
	bytesFields(msg, func(num protowire.Number, _ []byte) bool {
		if num == fieldSpan || num == fieldSpanChunk {
			kind = num
		}
		return kind == 0
	})
	return kind
}

// bytesFields calls each with the number and value of every
// length-delimited field of msg, in order, until each returns false or msg
// ends; a malformed field ends it too.
func bytesFields(msg []byte, each func(num protowire.Number, val []byte) bool) {
	for len(msg) > 0 {
		num, typ, n := protowire.ConsumeTag(msg)
		if n < 0 {
			return
		}
		msg = msg[n:]
		if n = protowire.ConsumeFieldValue(num, typ, msg); n < 0 {
			return
		}
		if typ == protowire.BytesType {
			val, _ := protowire.ConsumeBytes(msg[:n])
			if !each(num, val) {
				return
			}
		}
		msg = msg[n:]
	}
}
