// Package pinpointgrpc speaks Pinpoint's gRPC for tests, the demo, the fleet
// bed and the benchmark: Collector is a stand-in for a Pinpoint collector's
// three gRPC ports that counts what agents send it.
//
// It is real gRPC (grpc-go over plaintext HTTP/2), so the real Pinpoint
// agent talks to it as to a collector. It holds no generated code and no
// copy of Pinpoint's .proto files: messages stay raw bytes, and the few
// fields read or written are encoded with protowire from Pinpoint's
// published facts (service paths and field numbers), written down in
// wire.go.
package pinpointgrpc
