package fault

import "testing"

// TestFault runs every scenario, one after the other: each has the machine
// to itself.
func TestFault(t *testing.T) {
	for _, s := range []struct {
		name string
		run  func(*testing.T)
	}{
		{"reload storm under load", reloadStorm},
		{"bad and huge configs", badConfigs},
		{"consul killed and restarted", consulKilled},
		{"consul wiped", consulWiped},
		{"consul restored from a snapshot", snapshotRestore},
		{"acl matrix", aclMatrix},
		{"collector killed and black-holed", collectorFaults},
		{"garbage, RST and slowloris clients", hostileClients},
		{"malformed and slow PROXY headers", proxyHeaders},
		{"denied sources", deniedSources},
		{"a flood from many sources against the limits", sourceFlood},
		{"udp flood", udpFlood},
		{"fd exhaustion", fdExhaustion},
		{"connection churn", churn},
		{"stalled collectors beside unrelated traffic", stalledBackends},
		{"a catalog of 2,000 collectors, 50 changes a second", largeCatalog},
		{"a symlinked config dir (a ConfigMap)", symlinkedConfigDir},
		{"a named pipe as token_file", pipeTokenFile},
		{"a full disk under the access log", fullDisk},
		{"API abuse: long-polls, slowloris, 1 MiB queries", apiAbuse},
		{"shutdown under load", shutdownUnderLoad},
		{"real agents: reloads", realReload},
		{"real agents: scale-out 2 to 4", realScaleOut},
		{"real agents: scale-out 2 to 4, mixed", realScaleOutMixed},
		{"real agents: collector crash", realCrash},
		{"real agents: maintenance drain", realDrain},
		{"real agents: scale-in", realScaleIn},
		{"real agents: collectors' max_connection_age", realMaxAge},
		{"real agents: pinlb restart", realRestart},
	} {
		t.Run(s.name, s.run)
	}
}
