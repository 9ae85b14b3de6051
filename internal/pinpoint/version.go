package pinpoint

import (
	"fmt"
	"strconv"
	"strings"
)

// MetaVersion is the Consul meta key that carries a collector's Pinpoint
// version, as pinlb register learned it: the operator's -pinpoint, or the
// generation its ports showed ("1", "2" or "3").
const MetaVersion = "pinpoint_version"

// Version is a collector's Pinpoint version, as far as it is known: its
// major line always, its minor one when said.
type Version struct {
	Text  string
	Major int
	Minor int // -1 when not known
}

// ParseVersion reads "1", "2.5", "3.1.0" and the like.
func ParseVersion(s string) (Version, error) {
	fields := strings.SplitN(strings.TrimPrefix(s, "v"), ".", 3)
	v := Version{Text: s, Minor: -1}
	var err error
	if v.Major, err = strconv.Atoi(fields[0]); err != nil || v.Major < 1 || v.Major > 3 {
		return Version{}, fmt.Errorf("%q is not a Pinpoint version: want 1, 2 or 3, or a release such as 2.5.4 or 3.1.0", s)
	}
	if len(fields) > 1 {
		if v.Minor, err = strconv.Atoi(fields[1]); err != nil || v.Minor < 0 {
			return Version{}, fmt.Errorf("%q is not a Pinpoint version: its minor part is not a number", s)
		}
	}
	return v, nil
}

// Generation is the version of a collector known only by its major line.
func Generation(major int) Version {
	return Version{Text: strconv.Itoa(major), Major: major, Minor: -1}
}

// Serves reports whether a collector of this version opens port p by
// default: 1.x serves Thrift only, 2.x gRPC and Thrift, 3.x gRPC only.
func (v Version) Serves(p Port) bool {
	switch v.Major {
	case 1:
		return !p.GRPC()
	case 2:
		return true
	}
	return p.GRPC()
}

// SpanList reports whether the collector is known to take 3.1's batched
// span call, which 3.1 agents need; known is false for a 3.x collector of
// no minor version.
func (v Version) SpanList() (takes, known bool) {
	switch {
	case v.Major < 3:
		return false, true
	case v.Minor < 0:
		return false, false
	}
	return v.Minor >= 1, true
}
