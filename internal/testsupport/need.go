package testsupport

import (
	"os"
	"os/exec"
	"regexp"
	"testing"
)

// isolatedEnv marks the test process Isolate started.
const isolatedEnv = "PINLB_TEST_NETNS"

// Isolate runs the calling test in a network namespace of its own, where the
// fixed ports it binds (a fixture's, Pinpoint's) cannot be held by tests
// running in parallel: as root, it re-runs this one test under
// `unshare --net` with loopback up, reports that run's output and outcome,
// and returns false, so the caller returns at once. In that run it returns
// true: run the test here. Without root or unshare the test is Missing:
// its fixed ports would collide with the machine's.
func Isolate(t *testing.T) bool {
	t.Helper()
	if os.Getenv(isolatedEnv) != "" {
		return true
	}
	unshare, err := exec.LookPath("unshare")
	if err != nil || os.Geteuid() != 0 {
		Missing(t, "root and unshare(1), to run in a network namespace of its own")
		return false
	}
	cmd := exec.Command(unshare, "--net", "sh", "-c", `ip link set lo up && exec "$@"`, "sh",
		os.Args[0], "-test.run=^"+regexp.QuoteMeta(t.Name())+"$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), isolatedEnv+"=1")
	out, err := cmd.CombinedOutput()
	t.Logf("in a network namespace of its own:\n%s", out)
	if err != nil {
		t.Fatalf("the isolated run failed: %v", err)
	}
	return false
}

// RequireAllEnv, set by `make test` (and so by CI), turns every skip for a
// missing part into a failure: there, nothing may be left out.
const RequireAllEnv = "PINLB_TEST_REQUIRE_ALL"

// Missing skips the test, saying in one line what it needs; with
// RequireAllEnv set it fails the test instead.
func Missing(t testing.TB, what string) {
	t.Helper()
	if os.Getenv(RequireAllEnv) != "" {
		t.Fatalf("missing %s (%s is set: every test must run)", what, RequireAllEnv)
	}
	t.Skipf("skipped: needs %s", what)
}
