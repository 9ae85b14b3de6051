package testsupport

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
)

// repoRoot is the main module's directory, where the tests run from.
func repoRoot() string {
	_, self, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(self), "..", "..")
}

// ArtifactsDir is where tests leave files for people to look at:
// $PINLB_ARTIFACTS, else build/artifacts in the repository. It exists.
func ArtifactsDir() (string, error) {
	dir := os.Getenv("PINLB_ARTIFACTS")
	if dir == "" {
		dir = filepath.Join(repoRoot(), "build", "artifacts")
	}
	return dir, os.MkdirAll(dir, 0o755)
}

// PinlbMain is the TestMain of a package that tests the pinlb binary: it
// builds the binary into *bin, runs the tests, and has report write the
// run's table of figures. The table goes to standard output, which
// `go test -v` shows, and to NAME.txt in ArtifactsDir, which `make test`
// prints: go test shows nothing of a package that passes.
func PinlbMain(m *testing.M, name string, bin *string, report func(io.Writer)) {
	dir, err := os.MkdirTemp("", "pinlb-"+name)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	*bin = filepath.Join(dir, "pinlb")
	build := exec.Command("go", "build", "-o", *bin, repoRoot())
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build pinlb:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	var table bytes.Buffer
	report(&table)
	os.Stdout.Write(table.Bytes())
	if table.Len() > 0 {
		if err := writeArtifact(name+".txt", table.Bytes()); err != nil {
			fmt.Fprintln(os.Stderr, "the table of figures:", err)
		}
	}
	os.Exit(code)
}

func writeArtifact(name string, b []byte) error {
	dir, err := ArtifactsDir()
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, name), b, 0o644)
}
