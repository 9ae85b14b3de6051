package pinpoint

import (
	"testing"

	"github.com/shoenig/test/must"
)

func TestParseVersion(t *testing.T) {
	for _, tc := range []struct {
		in           string
		major, minor int
		bad          bool
	}{
		{in: "1", major: 1, minor: -1},
		{in: "2.5.4", major: 2, minor: 5},
		{in: "3.1.0", major: 3, minor: 1},
		{in: "v3.0", major: 3, minor: 0},
		{in: "4.0", bad: true},
		{in: "three", bad: true},
		{in: "3.x", bad: true},
		{in: "", bad: true},
	} {
		t.Run(tc.in, func(t *testing.T) {
			v, err := ParseVersion(tc.in)
			if tc.bad {
				must.Error(t, err)
				return
			}
			must.NoError(t, err)
			must.Eq(t, tc.major, v.Major)
			must.Eq(t, tc.minor, v.Minor)
		})
	}
}

// Each generation's ports: 1.x Thrift, 2.x both, 3.x gRPC.
func TestVersion_Serves(t *testing.T) {
	count := func(v Version) (grpc, thrift int) {
		for _, p := range Ports {
			if v.Serves(p) && p.GRPC() {
				grpc++
			} else if v.Serves(p) {
				thrift++
			}
		}
		return grpc, thrift
	}
	for major, want := range map[int][2]int{1: {0, 3}, 2: {3, 3}, 3: {3, 0}} {
		g, th := count(Generation(major))
		must.Eq(t, want, [2]int{g, th}, must.Sprintf("%d.x", major))
	}
}
