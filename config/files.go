package config

import (
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
	"syscall"

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

// dirEntryFile vets a *.hcl or *.json entry of a configuration directory:
// a regular file, or a symbolic link to one (as Consul's -config-dir, and
// as a Kubernetes ConfigMap mounts every file). A link that leads nowhere
// or round in a loop, a directory, or anything else where a file is
// expected is an error with its path, never a silent skip: it would drop
// that file's listeners on a reload.
func dirEntryFile(name string, e fs.DirEntry) *hcl.Diagnostic {
	if e.Type().IsRegular() {
		return nil
	}
	fi, err := os.Stat(name) // follows links
	switch {
	case err != nil:
		return unreadable(err)
	case fi.Mode().IsRegular():
		return nil
	}
	return &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Not a configuration file",
		Detail: fmt.Sprintf("%s is a %s, not a regular file: rename it, or move it out of the directory", name, kindOf(fi.Mode()))}
}

// kindOf names a file mode's type for an error.
func kindOf(m fs.FileMode) string {
	switch {
	case m.IsDir():
		return "directory"
	case m&fs.ModeNamedPipe != 0:
		return "named pipe"
	case m&fs.ModeSocket != 0:
		return "socket"
	case m&fs.ModeDevice != 0:
		return "device"
	}
	return "special file"
}

// openRegular opens a file that the configuration names without ever
// blocking on it (a named pipe with no writer would hold the open, and the
// reload or validate behind it, for ever), and refuses what is not a
// regular file.
func openRegular(name string) (*os.File, error) {
	f, err := os.OpenFile(name, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err == nil && !fi.Mode().IsRegular() {
		err = fmt.Errorf("%s is a %s, not a regular file", name, kindOf(fi.Mode()))
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// readToken reads at most maxTokenFile+1 bytes of a regular file.
func readToken(name string) ([]byte, error) {
	f, err := openRegular(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, maxTokenFile+1))
}

func unreadable(err error) *hcl.Diagnostic {
	return &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Unreadable configuration file", Detail: err.Error()}
}

// maxTokenFile bounds what is read of a token file: a token is a line.
const maxTokenFile = 64 << 10

// tokenFile reads a token from path, which must hold one.
func (v *validator) tokenFile(path string, at hcl.Range, what string) string {
	b, err := readToken(path)
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
