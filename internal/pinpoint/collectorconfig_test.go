package pinpoint

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/shoenig/test/must"
)

// readTestdata reads a collector configuration of testdata/.
func readTestdata(t *testing.T, files ...string) *CollectorConfig {
	t.Helper()
	var paths []string
	for _, f := range files {
		paths = append(paths, filepath.Join("testdata", f))
	}
	c, err := ReadCollectorConfig(paths...)
	must.NoError(t, err)
	return c
}

// Each generation's layout, written from the Pinpoint sources' defaults
// with a port or a receiver changed, gives the ports the collector opens.
func TestCollectorConfig_Ports(t *testing.T) {
	t.Setenv("PINLB_TEST_GRPC_STAT_PORT", "19992")
	for _, tc := range []struct {
		name  string
		files []string
		want  map[string]int
	}{
		{"1.x", []string{"v1/pinpoint-collector.properties"}, map[string]int{
			"thrift-agent": 19994, "thrift-stat": 9995, "thrift-span": 9996}},
		{"2.0-2.3.0", []string{"v2.2/pinpoint-collector.properties"}, map[string]int{
			"grpc-agent": 9991, "grpc-stat": 9992, "grpc-span": 19993,
			"thrift-agent": 9994, "thrift-stat": 9995, "thrift-span": 9996, "cluster": 9997}},
		{"2.3.1+, two files", []string{"v2.5/pinpoint-collector-root.properties", "v2.5/pinpoint-collector-grpc-root.properties"}, map[string]int{
			"grpc-agent": 9991, "grpc-stat": 19992, "grpc-span": 9993, "thrift-agent": 9994, "thrift-span": 9996}},
		{"3.x YAML", []string{"v3/application.yml"}, map[string]int{"grpc-agent": 9991, "grpc-span": 29993}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := readTestdata(t, tc.files...)
			got, err := c.Ports()
			must.NoError(t, err)
			for _, p := range append(Ports, Cluster) {
				must.Eq(t, tc.want[p.Name], got[p.Name], must.Sprint(p.Name))
			}
		})
	}
}

func TestCollectorConfig_Errors(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		path := filepath.Join(dir, name)
		must.NoError(t, os.WriteFile(path, []byte(body), 0o600))
		return path
	}
	for _, tc := range []struct{ name, path, want string }{
		{"missing", filepath.Join(dir, "none.properties"), "no such file"},
		{"unknown kind", write("collector.conf", "x=1"), "not a .properties, .yml or .yaml file"},
		{"bad port", write("bad.properties", "collector.receiver.grpc.span.bindaddress.port=99999\n"),
			"bad.properties: collector.receiver.grpc.span.bindaddress.port=\"99999\" is not a port"},
		{"bad flag", write("flag.properties", "collector.receiver.grpc.agent.enable=yes please\n"),
			"is not true or false"},
		{"bad YAML", write("bad.yml", "collector: [unclosed\n"), "bad.yml"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := ReadCollectorConfig(tc.path)
			if err == nil {
				_, err = c.Ports()
			}
			must.ErrorContains(t, err, tc.want)
		})
	}
}

// What each layout says of the collector's line: 1.x's keys are 1.x's, a
// Thrift receiver named with 2.x's keys is 2.x's, and a file that names
// only gRPC could be 2.x's or 3.x's.
func TestCollectorConfig_Generation(t *testing.T) {
	for _, tc := range []struct {
		name  string
		files []string
		want  int
	}{
		{"1.x", []string{"v1/pinpoint-collector.properties"}, 1},
		{"2.0-2.3.0", []string{"v2.2/pinpoint-collector.properties"}, 2},
		{"2.3.1+, both files", []string{"v2.5/pinpoint-collector-root.properties", "v2.5/pinpoint-collector-grpc-root.properties"}, 2},
		{"2.3.1+, only the gRPC file", []string{"v2.5/pinpoint-collector-grpc-root.properties"}, 0},
		{"3.x YAML", []string{"v3/application.yml"}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := readTestdata(t, tc.files...)
			must.Eq(t, tc.want, c.Generation())
		})
	}
}
