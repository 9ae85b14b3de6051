package h2c

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"testing"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// An ended call's frames, read by golang.org/x/net's framer and HPACK
// decoder: a response, an empty message and status OK, on the call's
// stream, leaving the decoder's dynamic table empty.
func TestEndCall(t *testing.T) {
	for _, answered := range []bool{false, true} {
		dec := hpack.NewDecoder(4096, nil)
		fr := http2.NewFramer(io.Discard, bytes.NewReader(EndCall(7, answered)))
		fr.ReadMetaHeaders = dec
		var got []string
		for {
			f, err := fr.ReadFrame()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			if f.Header().StreamID != 7 {
				t.Fatalf("a frame on stream %d", f.Header().StreamID)
			}
			switch f := f.(type) {
			case *http2.MetaHeadersFrame:
				for _, h := range f.Fields {
					got = append(got, h.Name+": "+h.Value)
				}
				got = append(got, "end_stream="+map[bool]string{true: "1", false: "0"}[f.StreamEnded()])
			case *http2.DataFrame:
				got = append(got, fmt.Sprintf("data %d", len(f.Data())))
			}
		}
		want := "grpc-status: 0|end_stream=1"
		if !answered {
			want = ":status: 200|content-type: application/grpc|end_stream=0|data 5|" + want
		}
		if s := strings.Join(got, "|"); s != want {
			t.Errorf("answered %v: %s, want %s", answered, s, want)
		}
		if _, err := dec.DecodeFull([]byte{0x80 | 62}); err == nil { // the dynamic table's first entry
			t.Error("the blocks added to the client's dynamic table")
		}
	}
}
