package pinpoint

// This file reads a collector's own configuration for the ports it really
// listens on, so that `pinlb register` registers and checks those, and no
// port the collector does not open. The keys are those of Pinpoint's
// sources, by generation:
//
//   - 1.x, pinpoint-collector.properties: collector.tcpListenPort,
//     collector.udpStatListenPort, collector.udpSpanListenPort; no gRPC.
//   - 2.x and 3.x, pinpoint-collector-root.properties,
//     pinpoint-collector-grpc-root.properties or Spring's application.yml:
//     collector.receiver.grpc.{agent,stat,span}.bindaddress.port (2.3.1 and
//     later; .port before), each with its .enable flag; the Thrift
//     collector.receiver.base.port and collector.receiver.{stat,span}.udp.port,
//     with the collector.receiver.{stat,span}.udp flags.
//   - everywhere: cluster.listen.port, empty or -1 when the collector does
//     not listen for pinpoint-web (the stock 2.x and 3.x setting).
//
// A key a file leaves out has Pinpoint's default, as the collector's own
// bundled properties would give it.

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"github.com/magiconair/properties"
	"go.yaml.in/yaml/v3"
)

// maxConfigFile bounds what is read of a collector's configuration file.
const maxConfigFile = 4 << 20

// CollectorConfig is a collector's configuration: its keys, the later
// files' winning, as Spring's profiles do.
type CollectorConfig struct {
	keys map[string]string
	from map[string]string // the file each key came from, for errors
}

// ReadCollectorConfig reads .properties and .yml/.yaml files, in order.
func ReadCollectorConfig(paths ...string) (*CollectorConfig, error) {
	c := &CollectorConfig{keys: map[string]string{}, from: map[string]string{}}
	for _, path := range paths {
		kv, err := readConfigFile(path)
		if err != nil {
			return nil, fmt.Errorf("collector configuration %s: %w", path, err)
		}
		for k, v := range kv {
			c.keys[k], c.from[k] = v, path
		}
	}
	return c, nil
}

func readConfigFile(path string) (map[string]string, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if fi.Size() > maxConfigFile {
		return nil, fmt.Errorf("%d bytes, over %d: not a collector configuration", fi.Size(), maxConfigFile)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	switch strings.ToLower(filepath.Ext(path)) {
	case ".yml", ".yaml":
		return flattenYAML(b)
	case ".properties":
		p, err := properties.Load(b, properties.UTF8)
		if err != nil {
			return nil, err
		}
		// No expansion: ${VAR:default} is Spring's, resolved by value().
		p.DisableExpansion = true
		return p.Map(), nil
	}
	return nil, fmt.Errorf("not a .properties, .yml or .yaml file")
}

// flattenYAML turns Spring's nested YAML into dotted keys; every document
// of the file applies, in order.
func flattenYAML(b []byte) (map[string]string, error) {
	out := map[string]string{}
	dec := yaml.NewDecoder(strings.NewReader(string(b)))
	for {
		var doc map[string]any
		err := dec.Decode(&doc)
		if err != nil {
			if errors.Is(err, io.EOF) {
				return out, nil
			}
			return nil, err
		}
		flatten("", doc, out)
	}
}

func flatten(prefix string, v any, out map[string]string) {
	switch v := v.(type) {
	case map[string]any:
		for k, sub := range v {
			key := k
			if prefix != "" {
				key = prefix + "." + k
			}
			flatten(key, sub, out)
		}
	case nil:
		out[prefix] = ""
	default:
		out[prefix] = fmt.Sprint(v)
	}
}

// placeholder is Spring's ${NAME} or ${NAME:default}.
var placeholder = regexp.MustCompile(`^\$\{([^:}]+)(?::([^}]*))?\}$`)

// value is key's value, a ${NAME:default} placeholder resolved from
// another key or the environment, as Spring resolves it.
func (c *CollectorConfig) value(key string) (string, bool) {
	v, ok := c.keys[key]
	if !ok {
		return "", false
	}
	v = strings.TrimSpace(v)
	if m := placeholder.FindStringSubmatch(v); m != nil {
		if other, ok := c.keys[m[1]]; ok {
			return strings.TrimSpace(other), true
		}
		if env, ok := os.LookupEnv(m[1]); ok {
			return env, true
		}
		return m[2], true
	}
	return v, true
}

func (c *CollectorConfig) has(prefix string) bool {
	for k := range c.keys {
		if strings.HasPrefix(k, prefix) {
			return true
		}
	}
	return false
}

// enabled is a flag key's value; true when it is absent.
func (c *CollectorConfig) enabled(key string) (bool, error) {
	v, ok := c.value(key)
	if !ok || v == "" {
		return true, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, fmt.Errorf("%s: %s=%q is not true or false", c.from[key], key, v)
	}
	return b, nil
}

// port is the first of keys that is set, else def; 0 for a port the
// collector does not open (empty, or negative as cluster.listen.port=-1).
func (c *CollectorConfig) port(def int, keys ...string) (int, error) {
	for _, key := range keys {
		v, ok := c.value(key)
		if !ok {
			continue
		}
		if v == "" {
			return 0, nil
		}
		n, err := strconv.Atoi(v)
		if err != nil || n > 65535 {
			return 0, fmt.Errorf("%s: %s=%q is not a port", c.from[key], key, v)
		}
		return max(n, 0), nil
	}
	return def, nil
}
