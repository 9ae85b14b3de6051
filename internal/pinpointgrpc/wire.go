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
	for len(batch) > 0 {
		num, typ, n := protowire.ConsumeTag(batch)
		if n < 0 {
			return
		}
		batch = batch[n:]
		if num == fieldBatchSpan && typ == protowire.BytesType {
			msg, m := protowire.ConsumeBytes(batch)
			if m < 0 {
				return
			}
			each(msg)
		}
		if n = protowire.ConsumeFieldValue(num, typ, batch); n < 0 {
			return
		}
		batch = batch[n:]
	}
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
