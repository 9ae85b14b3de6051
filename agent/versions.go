package agent

import (
	"fmt"
	"slices"
	"strings"

	"github.com/pinlb/pinlb/discovery"
	"github.com/pinlb/pinlb/internal/pinpoint"
)

// spanListSplit says, of the collectors a listener uses, which are known to
// take Pinpoint 3.1's batched span call and which are known not to, by the
// version pinlb register put in their meta. Pinpoint 3.1 agents send spans
// only that way: those that land on a collector without it are lost, so a
// pool that mixes the two is worth a warning (Pinpoint's compatibility
// table: 3.1 agents need 3.1 collectors).
func spanListSplit(insts []discovery.Instance) (with, without []string) {
	for _, inst := range insts {
		v, err := pinpoint.ParseVersion(inst.Meta[pinpoint.MetaVersion])
		if err != nil {
			continue // not said: nothing known
		}
		switch takes, known := v.SpanList(); {
		case known && takes:
			with = append(with, inst.ID+" ("+v.Text+")")
		case known:
			without = append(without, inst.ID+" ("+v.Text+")")
		}
	}
	slices.Sort(with)
	slices.Sort(without)
	return with, without
}

// mixedVersionsWarning is the API's and the log's text for a mixed pool;
// "" when the pool is not mixed.
func mixedVersionsWarning(insts []discovery.Instance) string {
	with, without := spanListSplit(insts)
	if len(with) == 0 || len(without) == 0 {
		return ""
	}
	return fmt.Sprintf("the pool mixes Pinpoint collectors that take 3.1's batched span call (%s) and collectors that do not (%s): "+
		"spans of Pinpoint 3.1 agents that land on the second are lost; upgrade them, or give 3.1 agents a listener of their own",
		strings.Join(with, ", "), strings.Join(without, ", "))
}

// checkVersions logs when the listener's pool turns mixed, and when it no
// longer is; l.mu is held.
func (l *listener) checkVersions(used []discovery.Instance) {
	w := mixedVersionsWarning(used)
	switch {
	case w != "" && l.versionWarning == "":
		l.logger.Warn("mixed Pinpoint versions in the pool", "warning", w)
	case w == "" && l.versionWarning != "":
		l.logger.Info("the pool no longer mixes Pinpoint versions")
	}
	l.versionWarning = w
}
