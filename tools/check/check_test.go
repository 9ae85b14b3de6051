package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shoenig/test/must"
)

// Each boundary, broken once, is reported; what keeps to them is not.
func TestBoundaryViolations(t *testing.T) {
	ok := []pkg{
		{ImportPath: module + "/proxy", Deps: []string{"net", "golang.org/x/sys/unix", module + "/proxy/reactor"}},
		{ImportPath: module + "/proxy/reactor", Deps: []string{"golang.org/x/sys/unix"}},
		{ImportPath: module + "/proxy/pool", Deps: []string{"net/netip", "sync"}},
		{ImportPath: module + "/discovery", Imports: []string{"github.com/hashicorp/consul/api"},
			Deps: []string{"github.com/hashicorp/consul/api"}},
		{ImportPath: module + "/agent", Imports: []string{module + "/discovery"},
			Deps: []string{module + "/discovery", "github.com/hashicorp/consul/api"}},
		{ImportPath: module + "/internal/testsupport", Imports: []string{"github.com/hashicorp/consul/api"}},
		{ImportPath: module + "/internal/pinpointgrpc", Deps: []string{"google.golang.org/grpc"}},
	}
	must.SliceEmpty(t, boundaryViolations(ok))

	bad := []pkg{
		{ImportPath: module + "/proxy", Deps: []string{module + "/config"}},
		{ImportPath: module + "/proxy/sub", Deps: []string{"github.com/hashicorp/hcl/v2"}},
		{ImportPath: module + "/discovery", Deps: []string{module + "/proxy"}},
		{ImportPath: module + "/config", Deps: []string{module + "/discovery"}},
		{ImportPath: module + "/agent", Deps: []string{module + "/command"}},
		{ImportPath: module + "/command", Imports: []string{"github.com/hashicorp/consul/api"}},
		{ImportPath: module + "/command/sub", Deps: []string{"google.golang.org/grpc/codes"}},
		{ImportPath: module + "/proxy/reactor", Deps: []string{module + "/proxy"}},
		{ImportPath: module + "/proxy/pool", Deps: []string{module + "/proxy/reactor"}},
	}
	got := boundaryViolations(bad)
	must.Len(t, len(bad), got, must.Sprint(got))
	must.StrContains(t, strings.Join(got, "\n"), "boundary: command imports github.com/hashicorp/consul/api")
	must.StrContains(t, strings.Join(got, "\n"), "boundary: proxy/sub imports github.com/hashicorp/hcl/v2")
	must.StrContains(t, strings.Join(got, "\n"), "boundary: proxy/reactor imports github.com/pinlb/pinlb/proxy")
}

// A file over the limit and a function over it are reported with where
// they are; those at the limit are not.
func TestFileViolations(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.go")
	body := "package x\n\nfunc long() {\n" + strings.Repeat("\t_ = 1\n", 6) + "}\n\nfunc short() {\n}\n"
	must.NoError(t, os.WriteFile(path, []byte(body), 0o644))
	got, err := fileViolations(path, "x.go", 12, 7)
	must.NoError(t, err)
	must.Eq(t, []string{
		"size: x.go has 13 lines (at most 12): split it by concern",
		"size: x.go:3: long has 8 lines (at most 7)",
	}, got)

	got, err = fileViolations(path, "x.go", 13, 8)
	must.NoError(t, err)
	must.SliceEmpty(t, got)
}
