// Package h2c follows a plaintext HTTP/2 connection from the middle of its
// byte stream, so that a layer-4 proxy can ask the client to move (a
// GOAWAY of its own) and end its calls that would never end, without ever
// corrupting the connection: Preface tells an HTTP/2 client by its first
// 24 bytes, a Tracker follows one side's frames header by header, skipping
// their payloads, and says where a frame may be put in the server's;
// Calls keeps the open calls from both sides' frames; GoAway and EndCall
// are pinlb's frames.
//
// The rules of an injected frame (RFC 9113):
//   - only at a frame boundary of the server's stream, never inside a
//     frame;
//   - only once the server's connection preface (its first SETTINGS) has
//     passed: the client must see that first;
//   - never inside a header block (HEADERS or PUSH_PROMISE without
//     END_HEADERS, until the CONTINUATION that ends it): nothing may
//     come between its frames;
//   - never after the server's own GOAWAY: the last-stream-id of a
//     connection's GOAWAYs may never increase, and ours says 2^31-1;
//   - never once the server's stream stopped looking like HTTP/2.
//
// It knows bytes only, never sockets: the proxy feeds it what it relays.
package h2c
