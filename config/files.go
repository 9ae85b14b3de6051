package config

import (
	"io"
	"os"
	"strings"

	"github.com/hashicorp/hcl/v2"
)

// readFile reads a configuration file of at most MaxFileSize bytes, and no
// more of a larger one than it takes to tell.
func readFile(name string) ([]byte, *hcl.Diagnostic) {
	data, err := readLimited(name, MaxFileSize)
	if err != nil {
		return nil, unreadable(err)
	}
	if len(data) > MaxFileSize {
		size := int64(len(data))
		if fi, err := os.Stat(name); err == nil && fi.Size() > size {
			size = fi.Size()
		}
		return nil, fileTooLarge(name, size)
	}
	return data, nil
}

// readLimited reads at most limit+1 bytes of a file: enough to tell that it
// is over the limit, never a whole /dev/zero.
func readLimited(name string, limit int64) ([]byte, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, limit+1))
}

func unreadable(err error) *hcl.Diagnostic {
	return &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Unreadable configuration file", Detail: err.Error()}
}

// maxTokenFile bounds what is read of a token file: a token is a line.
const maxTokenFile = 64 << 10

// tokenFile reads a token from path, which must hold one.
func (v *validator) tokenFile(path string, at hcl.Range, what string) string {
	b, err := readLimited(path, maxTokenFile)
	token := strings.TrimSpace(string(b))
	switch {
	case err != nil:
		v.errorf(at, "Unreadable "+what+" token file", "%v", err)
	case len(b) > maxTokenFile:
		v.errorf(at, "Invalid "+what+" token file", "%s is over %s: not a token", path, sizeString(maxTokenFile))
	case token == "":
		v.errorf(at, "Empty "+what+" token file", "%s holds no token", path)
	}
	return token
}
