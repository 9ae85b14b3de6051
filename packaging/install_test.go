//go:build linux

package packaging

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pinlb/pinlb/internal/testsupport"
	"github.com/pinlb/pinlb/version"
	"github.com/shoenig/test/must"
)

// installed is what the package puts on the machine, with its mode and
// group (the owner is root).
var installed = []struct {
	path  string
	mode  os.FileMode
	group string
}{
	{"/usr/bin/pinlb", 0o755, "root"},
	{"/etc/pinlb.d", os.ModeDir | 0o750, "pinlb"},
	{"/etc/pinlb.d/pinlb.hcl", 0o640, "pinlb"},
	{"/usr/lib/systemd/system/pinlb.service", 0o644, "root"},
	{"/usr/lib/systemd/system/pinlb-register@.service", 0o644, "root"},
	{"/etc/logrotate.d/pinlb", 0o644, "root"},
	{"/usr/share/doc/pinlb/examples/nomad/pinlb.nomad.hcl", 0o644, "root"},
	{"/usr/share/doc/pinlb/examples/nomad/collector.nomad.hcl", 0o644, "root"},
	{"/usr/share/doc/pinlb/README.md", 0o644, "root"},
}

// TestPackage_InstallRemovePurge builds the packages with `make package`,
// as a user would, and installs the .deb on this machine: files, user,
// commands and units, then removal (the configuration stays) and purge
// (nothing stays).
func TestPackage_InstallRemovePurge(t *testing.T) {
	needInstallTools(t)
	if exec.Command("dpkg", "-s", "pinlb").Run() == nil {
		testsupport.Missing(t, "a machine without the pinlb package installed (this test purges it)")
	}
	deb, rpm := makePackages(t)
	checkRPM(t, rpm)

	run(t, "dpkg", "-i", deb)
	t.Cleanup(func() { exec.Command("dpkg", "-P", "pinlb").Run() })
	for _, f := range installed {
		checkFile(t, f.path, f.mode, f.group)
	}
	must.StrContains(t, run(t, "getent", "passwd", "pinlb"), ":/usr/sbin/nologin")
	must.StrContains(t, run(t, "/usr/bin/pinlb", "version"), "pinlb v"+version.Version)
	// As root, and as the unit's ExecStartPre runs it: as pinlb, through
	// the directory's group.
	must.StrContains(t, run(t, "/usr/bin/pinlb", "validate", "/etc/pinlb.d"), "Configuration is valid: 6 listeners")
	run(t, "runuser", "-u", "pinlb", "--", "/usr/bin/pinlb", "validate", "/etc/pinlb.d")
	verifyUnits(t)

	// Removal keeps the operator's configuration and the user.
	edited := "# the operator's\n"
	appendFile(t, "/etc/pinlb.d/pinlb.hcl", edited)
	run(t, "dpkg", "-r", "pinlb")
	must.FileNotExists(t, "/usr/bin/pinlb")
	must.FileNotExists(t, "/usr/lib/systemd/system/pinlb.service")
	conf, err := os.ReadFile("/etc/pinlb.d/pinlb.hcl")
	must.NoError(t, err)
	must.StrHasSuffix(t, edited, string(conf))
	run(t, "getent", "passwd", "pinlb")

	// Purge leaves nothing.
	run(t, "dpkg", "-P", "pinlb")
	must.FileNotExists(t, "/etc/pinlb.d")
	must.FileNotExists(t, "/etc/logrotate.d/pinlb")
	must.Error(t, exec.Command("getent", "passwd", "pinlb").Run())
	must.Error(t, exec.Command("getent", "group", "pinlb").Run())
	must.Error(t, exec.Command("dpkg", "-s", "pinlb").Run())
}

func needInstallTools(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		testsupport.Missing(t, "root, to install the package")
	}
	for _, tool := range []string{"dpkg", "rpm", "systemd-analyze", "runuser", "make"} {
		if _, err := exec.LookPath(tool); err != nil {
			testsupport.Missing(t, tool+" (make test-deps installs it)")
		}
	}
}

// makePackages runs `make package` into a directory of the test's and
// returns the .deb and the .rpm.
func makePackages(t *testing.T) (deb, rpm string) {
	t.Helper()
	dist := t.TempDir()
	run(t, "make", "-C", "..", "package", "DIST="+dist)
	debs, _ := filepath.Glob(filepath.Join(dist, "*.deb"))
	rpms, _ := filepath.Glob(filepath.Join(dist, "*.rpm"))
	must.SliceLen(t, 1, debs)
	must.SliceLen(t, 1, rpms)
	return debs[0], rpms[0]
}

// checkRPM reads the .rpm with rpm(8): the same files, and its scripts.
func checkRPM(t *testing.T, path string) {
	t.Helper()
	list := run(t, "rpm", "-qpl", path)
	for _, f := range installed {
		must.StrContains(t, list, f.path+"\n")
	}
	must.StrContains(t, run(t, "rpm", "-qp", "--scripts", path), "useradd --system")
}

func checkFile(t *testing.T, path string, mode os.FileMode, group string) {
	t.Helper()
	fi, err := os.Stat(path)
	must.NoError(t, err)
	must.Eq(t, mode, fi.Mode(), must.Sprint(path))
	must.Eq(t, "root "+group, strings.TrimSpace(run(t, "stat", "-c", "%U %G", path)), must.Sprint(path))
}

// verifyUnits runs systemd-analyze verify on both units; the register
// template's instance binds to a collector unit that the test provides.
func verifyUnits(t *testing.T) {
	t.Helper()
	run(t, "systemd-analyze", "verify", "/usr/lib/systemd/system/pinlb.service")
	units := t.TempDir()
	must.NoError(t, os.WriteFile(filepath.Join(units, "pinpoint-collector.service"),
		[]byte("[Unit]\nDescription=a collector\n[Service]\nExecStart=/bin/true\n"), 0o644))
	cmd := exec.Command("systemd-analyze", "verify", "/usr/lib/systemd/system/pinlb-register@pinpoint-collector.service")
	cmd.Env = append(os.Environ(), "SYSTEMD_UNIT_PATH="+units+":")
	out, err := cmd.CombinedOutput()
	must.NoError(t, err, must.Sprint(string(out)))
}

func appendFile(t *testing.T, path, text string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	must.NoError(t, err)
	_, err = f.WriteString(text)
	must.NoError(t, err)
	must.NoError(t, f.Close())
}

// run runs a command and returns its output; it fails the test if the
// command fails.
func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	must.NoError(t, err, must.Sprintf("%s %s:\n%s", name, strings.Join(args, " "), out))
	return string(out)
}

// TestMakeInstall stages `make install` in a directory: the same files, the
// units' paths rewritten to PREFIX, and a configuration that a second
// install keeps.
func TestMakeInstall(t *testing.T) {
	if _, err := exec.LookPath("make"); err != nil {
		testsupport.Missing(t, "make")
	}
	dest := t.TempDir()
	install := func() { run(t, "make", "-C", "..", "install", "DESTDIR="+dest, "PREFIX=/opt/pinlb", "SYSCONFDIR=/etc") }
	install()
	checkMode := func(path string, mode os.FileMode) {
		t.Helper()
		fi, err := os.Stat(filepath.Join(dest, path))
		must.NoError(t, err)
		must.Eq(t, mode, fi.Mode().Perm(), must.Sprint(path))
	}
	checkMode("/opt/pinlb/bin/pinlb", 0o755)
	checkMode("/etc/pinlb.d", 0o750)
	checkMode("/etc/pinlb.d/pinlb.hcl", 0o640)
	checkMode("/etc/logrotate.d/pinlb", 0o644)
	for _, unit := range []string{"pinlb.service", "pinlb-register@.service"} {
		checkMode("/opt/pinlb/lib/systemd/system/"+unit, 0o644)
		b, err := os.ReadFile(filepath.Join(dest, "/opt/pinlb/lib/systemd/system", unit))
		must.NoError(t, err)
		must.StrContains(t, string(b), "ExecStart=/opt/pinlb/bin/pinlb ")
		must.StrNotContains(t, string(b), "/usr/bin/pinlb")
	}
	conf := filepath.Join(dest, "/etc/pinlb.d/pinlb.hcl")
	appendFile(t, conf, "# the operator's\n")
	install()
	b, err := os.ReadFile(conf)
	must.NoError(t, err)
	must.StrHasSuffix(t, "# the operator's\n", string(b))
}
