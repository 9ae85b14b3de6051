package command

import (
	"strings"

	"github.com/coreos/go-systemd/v22/daemon"
	"github.com/hashicorp/go-hclog"
)

// notify tells systemd what the agent is doing, for a unit of Type=notify:
// READY=1 once every listener is bound, RELOADING=1 then READY=1 around a
// reload, STOPPING=1 at shutdown. Without $NOTIFY_SOCKET (not started by
// systemd) it does nothing.
func notify(logger hclog.Logger, states ...string) {
	if _, err := daemon.SdNotify(false, strings.Join(states, "\n")); err != nil {
		logger.Warn("cannot notify systemd", "state", strings.Join(states, " "), "error", err)
	}
}
