package pinpointgrpc

import (
	"context"
	"errors"
	"io"

	"google.golang.org/grpc"
)

// services are what each gRPC port of a Pinpoint collector serves: the
// agent channel (9991) takes agent info, pings, metadata and the command
// stream; the stat (9992) and span (9993) channels one client stream each.
// A call to a service on the wrong port is refused as Unimplemented, as
// the collector refuses it.
var services = map[string][]grpc.ServiceDesc{
	"grpc-agent": {
		{ServiceName: "v1.Agent", HandlerType: (*any)(nil),
			Methods: []grpc.MethodDesc{{MethodName: "RequestAgentInfo", Handler: unary(resultOK, func(n *Counts) { n.AgentInfos++ })}},
			Streams: []grpc.StreamDesc{{StreamName: "PingSession", Handler: pingSession, ServerStreams: true, ClientStreams: true}}},
		{ServiceName: "v1.Metadata", HandlerType: (*any)(nil), Methods: []grpc.MethodDesc{
			metadataMethod("RequestSqlMetaData"), metadataMethod("RequestSqlUidMetaData"), metadataMethod("RequestApiMetaData"),
			metadataMethod("RequestStringMetaData"), metadataMethod("RequestExceptionMetaData"),
		}},
		{ServiceName: "v1.ProfilerCommandService", HandlerType: (*any)(nil),
			Methods: []grpc.MethodDesc{
				{MethodName: "CommandEcho", Handler: unary(empty, nil)},
				{MethodName: "CommandActiveThreadDump", Handler: unary(empty, nil)},
				{MethodName: "CommandActiveThreadLightDump", Handler: unary(empty, nil)},
			},
			Streams: []grpc.StreamDesc{
				{StreamName: "HandleCommand", Handler: holdCommands, ServerStreams: true, ClientStreams: true},
				{StreamName: "HandleCommandV2", Handler: holdCommands, ServerStreams: true, ClientStreams: true},
				{StreamName: "CommandStreamActiveThreadCount", Handler: clientStream(nil), ClientStreams: true},
			}},
	},
	"grpc-stat": {{ServiceName: "v1.Stat", HandlerType: (*any)(nil), Streams: []grpc.StreamDesc{
		{StreamName: "SendAgentStat", Handler: clientStream(func(n *Counts, _ []byte) { n.Stats++ }), ClientStreams: true},
	}}},
	"grpc-span": {{ServiceName: "v1.Span", HandlerType: (*any)(nil), Streams: []grpc.StreamDesc{
		{StreamName: "SendSpan", Handler: clientStream(countSpan), ClientStreams: true},
	}, Methods: []grpc.MethodDesc{{MethodName: "SendSpanBatch", Handler: sendSpanBatch}}}},
}

func metadataMethod(name string) grpc.MethodDesc {
	return grpc.MethodDesc{MethodName: name, Handler: unary(resultOK, func(n *Counts) { n.Metadata++ })}
}

func countSpan(n *Counts, msg []byte) {
	switch spanKind(msg) {
	case fieldSpan:
		n.Spans++
	case fieldSpanChunk:
		n.SpanChunks++
	}
}

// sendSpanBatch counts a batch's spans and answers a PSpanResultBatch with
// no partial failure.
func sendSpanBatch(srv any, ctx context.Context, dec func(any) error, _ grpc.UnaryServerInterceptor) (any, error) {
	var batch []byte
	if err := dec(&batch); err != nil {
		return nil, err
	}
	srv.(*Collector).add(ctx, func(n *Counts) {
		n.Batches++
		batchSpans(batch, func(msg []byte) { countSpan(n, msg) })
	})
	out := empty
	return &out, nil
}

// unary answers a call with reply, after counting it with count (nil counts
// nothing).
func unary(reply []byte, count func(n *Counts)) func(any, context.Context, func(any) error, grpc.UnaryServerInterceptor) (any, error) {
	return func(srv any, ctx context.Context, dec func(any) error, _ grpc.UnaryServerInterceptor) (any, error) {
		var in []byte
		if err := dec(&in); err != nil {
			return nil, err
		}
		if count != nil {
			srv.(*Collector).add(ctx, count)
		}
		out := reply
		return &out, nil
	}
}

// clientStream counts each message of a client stream with count (nil
// counts nothing) and answers Empty when the agent ends the stream.
func clientStream(count func(n *Counts, msg []byte)) grpc.StreamHandler {
	return func(srv any, s grpc.ServerStream) error {
		c := srv.(*Collector)
		defer c.open(s)()
		var msg []byte
		for {
			err := s.RecvMsg(&msg)
			if errors.Is(err, io.EOF) {
				out := empty
				return s.SendMsg(&out)
			}
			if err != nil {
				return err
			}
			if count != nil {
				c.add(s.Context(), func(n *Counts) { count(n, msg) })
			}
		}
	}
}

// pingSession answers each ping with the same ping, as the collector does.
func pingSession(srv any, s grpc.ServerStream) error {
	c := srv.(*Collector)
	defer c.open(s)()
	var ping []byte
	for {
		if err := s.RecvMsg(&ping); err != nil {
			return endOfStream(err)
		}
		c.add(s.Context(), func(n *Counts) { n.Pings++ })
		if err := s.SendMsg(&ping); err != nil {
			return err
		}
	}
}

// holdCommands holds the agent's command stream open; the stand-in sends
// no command.
func holdCommands(srv any, s grpc.ServerStream) error {
	defer srv.(*Collector).open(s)()
	var msg []byte
	for {
		if err := s.RecvMsg(&msg); err != nil {
			return endOfStream(err)
		}
	}
}

// endOfStream is a bidi stream's end: the agent's half-close is a clean
// one.
func endOfStream(err error) error {
	if errors.Is(err, io.EOF) {
		return nil
	}
	return err
}
