package agent

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/hashicorp/consul/api"
	"github.com/pinlb/pinlb/config"
	"github.com/pinlb/pinlb/internal/testsupport"
	"github.com/shoenig/test/must"
)

// aclCluster is a default-deny Consul with one collector and two tokens:
// one that may read it, one that may read nothing.
type aclCluster struct {
	srv               *testsupport.Consul
	admin             *api.Client
	backend           *testsupport.TCP
	reader, powerless *api.ACLToken
}

func startACLCluster(t *testing.T) *aclCluster {
	t.Helper()
	c := &aclCluster{srv: testsupport.StartConsul(t, testsupport.ConsulOptions{ACL: true}), backend: testsupport.StartTCP(t)}
	c.admin = c.srv.Client()
	collector(t, c.admin, "a", c.backend.Addr.Port())
	policy, _, err := c.admin.ACL().PolicyCreate(&api.ACLPolicy{
		Name:  "read",
		Rules: `service "collector" { policy = "read" } node_prefix "" { policy = "read" }`,
	}, nil)
	must.NoError(t, err)
	c.reader, _, err = c.admin.ACL().TokenCreate(&api.ACLToken{Policies: []*api.ACLTokenPolicyLink{{ID: policy.ID}}}, nil)
	must.NoError(t, err)
	c.powerless, _, err = c.admin.ACL().TokenCreate(&api.ACLToken{}, nil)
	must.NoError(t, err)
	t.Setenv("CONSUL_HTTP_TOKEN", "") // nothing from the environment
	t.Setenv("CONSUL_HTTP_TOKEN_FILE", "")
	return c
}

// watchStatus is the agent's only watch's status.
func watchStatus(a *Agent) WatchStatus {
	s := a.Status()
	if len(s.Consul.Watches) == 0 {
		return WatchStatus{}
	}
	return s.Consul.Watches[0]
}

// On a default-deny Consul an anonymous request gets 200 and an empty list,
// with no header to say it was filtered: it looks exactly like a service
// with no instance. pinlb never applies it, and says why.
func TestConsul_NoTokenIsNotNoCollectors(t *testing.T) {
	c := startACLCluster(t)
	var log testsupport.LogBuffer
	l := consulListener(t, "grpc", config.Upstream{})
	ag := startWithConsulLog(t, c.srv, "", &log, l)
	testsupport.WaitFor(t, "the anonymous answer to be refused", func() bool { return watchStatus(ag).ACLFiltered })
	must.StrContains(t, watchStatus(ag).ACLProblem, "no token")
	must.StrContains(t, log.String(), "consul answered no instance to a request without a token")

	// A reload with a token that may read: the pool fills.
	cfg := ag.Config()
	next := *cfg
	next.Consul.Token = c.reader.SecretID
	must.NoError(t, ag.Reload(&next))
	waitEndpoints(t, ag, "grpc", c.backend.Addr.Port())
	must.False(t, watchStatus(ag).ACLFiltered)

	// A reload that drops the token keeps the serving pool.
	must.NoError(t, ag.Reload(cfg))
	testsupport.WaitFor(t, "the anonymous answer to be refused", func() bool { return watchStatus(ag).ACLFiltered })
	waitEndpoints(t, ag, "grpc", c.backend.Addr.Port())
	roundTrip(t, dial(t, ag.Addrs()["grpc"]))
}

// consul { token_file } is read again at every reload: a rotated token
// takes effect without a restart.
func TestConsul_TokenFileReadOnReload(t *testing.T) {
	c := startACLCluster(t)
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "token")
	must.NoError(t, os.WriteFile(tokenFile, []byte(c.powerless.SecretID+"\n"), 0o600))
	cfgFile := filepath.Join(dir, "pinlb.hcl")
	must.NoError(t, os.WriteFile(cfgFile, []byte(fmt.Sprintf(`
api { enabled = false }
consul {
  address    = %q
  token_file = %q
}
listener "grpc" {
  address = %q
  upstream { service = "collector" }
}
`, c.srv.HTTP, tokenFile, testsupport.FreePort(t))), 0o600))
	load := func() *config.Config {
		cfg, diags := config.Load([]string{cfgFile})
		must.False(t, diags.HasErrors(), must.Sprint(config.FormatDiagnostics(diags)))
		return cfg
	}
	ag := startConfig(t, load(), testWriter{t})
	testsupport.WaitFor(t, "the filtered answer", func() bool { return watchStatus(ag).ACLFiltered })
	must.SliceEmpty(t, ag.Endpoints("grpc"))

	must.NoError(t, os.WriteFile(tokenFile, []byte(c.reader.SecretID+"\n"), 0o600))
	must.NoError(t, ag.Reload(load()))
	waitEndpoints(t, ag, "grpc", c.backend.Addr.Port())
}

// A token deleted while pinlb runs: Consul refuses every request with 403,
// and the pool keeps what it had.
func TestConsul_RevokedTokenKeepsThePool(t *testing.T) {
	c := startACLCluster(t)
	ag := startWithConsul(t, c.srv, c.reader.SecretID, consulListener(t, "grpc", config.Upstream{}))
	waitEndpoints(t, ag, "grpc", c.backend.Addr.Port())

	_, err := c.admin.ACL().TokenDelete(c.reader.AccessorID, nil)
	must.NoError(t, err)
	collector(t, c.admin, "b", 9) // wakes the blocking query
	testsupport.WaitFor(t, "the 403 to be seen", func() bool { return !watchStatus(ag).Reachable })
	must.StrContains(t, watchStatus(ag).LastError, "ACL not found")
	waitEndpoints(t, ag, "grpc", c.backend.Addr.Port())
	roundTrip(t, dial(t, ag.Addrs()["grpc"]))
}
