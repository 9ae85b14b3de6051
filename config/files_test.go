//go:build unix

package config

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/shoenig/test/must"
)

// A configuration directory as Kubernetes mounts a ConfigMap: every file a
// symbolic link through ..data to a timestamped directory. Its files load,
// as Consul's -config-dir reads them.
func TestLoad_SymlinkedConfigDirectory(t *testing.T) {
	dir := t.TempDir()
	stamp := filepath.Join(dir, "..2026_12_07_18_00_00.1")
	must.NoError(t, os.Mkdir(stamp, 0o755))
	must.NoError(t, os.WriteFile(filepath.Join(stamp, "pinlb.hcl"), []byte(minimal), 0o644))
	must.NoError(t, os.Symlink(filepath.Base(stamp), filepath.Join(dir, "..data")))
	must.NoError(t, os.Symlink("..data/pinlb.hcl", filepath.Join(dir, "pinlb.hcl")))
	cfg, diags := Load([]string{dir})
	must.False(t, diags.HasErrors(), must.Sprint(FormatDiagnostics(diags)))
	must.SliceLen(t, 1, cfg.Listeners)
}

// What stands where a configuration file is expected and is none is an
// error with its path, never a silent skip (which would drop that file's
// listeners on a reload).
func TestLoad_ConfigDirectoryOddEntries(t *testing.T) {
	for _, tc := range []struct {
		name  string
		make  func(dir string) error
		wants string
	}{
		{"a symlink loop", func(dir string) error {
			return os.Symlink("b.hcl", filepath.Join(dir, "b.hcl"))
		}, "too many levels of symbolic links"},
		{"a dangling symlink", func(dir string) error {
			return os.Symlink("gone.hcl", filepath.Join(dir, "b.hcl"))
		}, "no such file or directory"},
		{"a directory named *.hcl", func(dir string) error {
			return os.Mkdir(filepath.Join(dir, "b.hcl"), 0o755)
		}, "b.hcl is a directory, not a regular file"},
		{"a named pipe", func(dir string) error {
			return syscall.Mkfifo(filepath.Join(dir, "b.hcl"), 0o644)
		}, "b.hcl is a named pipe, not a regular file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := write(t, map[string]string{"a.hcl": minimal})
			must.NoError(t, tc.make(dir))
			_, diags := Load([]string{dir})
			out := FormatDiagnostics(diags)
			must.StrContains(t, out, tc.wants)
			must.StrContains(t, out, filepath.Join(dir, "b.hcl"))
		})
	}
}

// A named pipe as a token file is refused at once: opening it to read
// would wait for a writer, and validate (or a reload, and the signals and
// the API behind it) with it.
func TestLoad_TokenFileThatWouldBlock(t *testing.T) {
	dir := t.TempDir()
	pipe := filepath.Join(dir, "token")
	must.NoError(t, syscall.Mkfifo(pipe, 0o600))
	must.NoError(t, os.WriteFile(filepath.Join(dir, "a.hcl"), []byte(`api { token_file = "`+pipe+`" }`+minimal), 0o644))
	done := make(chan string, 1)
	go func() {
		_, diags := Load([]string{filepath.Join(dir, "a.hcl")})
		done <- FormatDiagnostics(diags)
	}()
	select {
	case out := <-done:
		must.StrContains(t, out, "Unreadable API token file")
		must.StrContains(t, out, "is a named pipe, not a regular file")
	case <-time.After(10 * time.Second):
		t.Fatal("the load blocks on a named pipe")
	}
}

// A regular token file is read no further than a token can be long.
func TestLoad_TokenFileTooLong(t *testing.T) {
	dir := t.TempDir()
	token := filepath.Join(dir, "token")
	must.NoError(t, os.WriteFile(token, make([]byte, maxTokenFile+1), 0o600))
	must.NoError(t, os.WriteFile(filepath.Join(dir, "a.hcl"), []byte(`api { token_file = "`+token+`" }`+minimal), 0o644))
	_, diags := Load([]string{filepath.Join(dir, "a.hcl")})
	must.StrContains(t, FormatDiagnostics(diags), "is over 64.0 KiB: not a token")
}

// validate says what is wrong with an access log path at its line: a
// directory or a socket is an error, a missing directory a warning (a
// package may create it before pinlb starts), a named pipe (a log
// shipper's) or a character device fine.
func TestLoad_AccessLogPath(t *testing.T) {
	dir := t.TempDir()
	pipe := filepath.Join(dir, "access.pipe")
	must.NoError(t, syscall.Mkfifo(pipe, 0o600))
	sock := filepath.Join(dir, "access.sock")
	ln, err := net.Listen("unix", sock)
	must.NoError(t, err)
	defer ln.Close()
	for path, want := range map[string]string{
		dir:                               "error: Unusable access log path; " + dir + " is a directory",
		sock:                              "error: Unusable access log path; " + sock + " is a socket",
		"/dev/null":                       "",
		filepath.Join(dir, "no", "a.log"): "warning: Access log directory missing",
		pipe:                              "",
		filepath.Join(dir, "access.log"):  "",
	} {
		cfgDir := write(t, map[string]string{"a.hcl": minimal + fmt.Sprintf("access_log {\n  path = %q\n}\n", path)})
		_, diags := Load([]string{cfgDir})
		got := ""
		for _, d := range diags {
			got = map[bool]string{true: "error", false: "warning"}[d.Severity == hcl.DiagError] + ": " + d.Summary + "; " + d.Detail
			must.Eq(t, 7, d.Subject.Start.Line, must.Sprint(got)) // the path's line
		}
		must.StrContains(t, got, want, must.Sprint(path))
		if want == "" {
			must.Eq(t, "", got, must.Sprint(path))
		}
	}
}
