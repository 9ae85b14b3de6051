package packaging

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/hashicorp/cli"
	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/gohcl"
	"github.com/hashicorp/hcl/v2/hclparse"
	"github.com/pinlb/pinlb/command"
	"github.com/shoenig/test/must"
	"github.com/zclconf/go-cty/cty"
)

// The part of Nomad's job specification the examples use. No Nomad binary
// can be had here (Nomad is not open source from 1.7 on), so the examples
// are decoded with hcl/v2 against it: an unknown block or attribute, a
// missing label or a wrong type fails, as `nomad job validate` would.
type nomadFile struct {
	Job nomadJob `hcl:"job,block"`
}

type nomadJob struct {
	Name     string       `hcl:"name,label"`
	Type     string       `hcl:"type"`
	NodePool string       `hcl:"node_pool,optional"`
	Update   *nomadUpdate `hcl:"update,block"`
	Groups   []nomadGroup `hcl:"group,block"`
}

type nomadUpdate struct {
	MaxParallel int    `hcl:"max_parallel,optional"`
	Stagger     string `hcl:"stagger,optional"`
}

type nomadGroup struct {
	Name    string `hcl:"name,label"`
	Count   int    `hcl:"count,optional"`
	Network *struct {
		Mode string `hcl:"mode"`
	} `hcl:"network,block"`
	Tasks []nomadTask `hcl:"task,block"`
}

type nomadTask struct {
	Name   string `hcl:"name,label"`
	Driver string `hcl:"driver"`
	Config struct {
		Command string   `hcl:"command"`
		Args    []string `hcl:"args,optional"`
	} `hcl:"config,block"`
	Lifecycle *struct {
		Hook    string `hcl:"hook"`
		Sidecar bool   `hcl:"sidecar,optional"`
	} `hcl:"lifecycle,block"`
	Templates []struct {
		Data         string `hcl:"data"`
		Destination  string `hcl:"destination"`
		ChangeMode   string `hcl:"change_mode,optional"`
		ChangeSignal string `hcl:"change_signal,optional"`
	} `hcl:"template,block"`
	KillSignal  string `hcl:"kill_signal,optional"`
	KillTimeout string `hcl:"kill_timeout,optional"`
	Resources   struct {
		CPU    int `hcl:"cpu"`
		Memory int `hcl:"memory"`
	} `hcl:"resources,block"`
}

// nomadContext holds the runtime variables the examples interpolate, as
// Nomad fills them.
var nomadContext = &hcl.EvalContext{Variables: map[string]cty.Value{
	"NOMAD_TASK_DIR": cty.StringVal("/local"),
}}

func TestNomadExamples(t *testing.T) {
	for name, want := range map[string]string{"pinlb.nomad.hcl": "system", "collector.nomad.hcl": "service"} {
		t.Run(name, func(t *testing.T) {
			f, diags := hclparse.NewParser().ParseHCLFile(filepath.Join("nomad", name))
			must.False(t, diags.HasErrors(), must.Sprint(diags.Error()))
			var job nomadFile
			diags = gohcl.DecodeBody(f.Body, nomadContext, &job)
			must.False(t, diags.HasErrors(), must.Sprint(diags.Error()))
			must.Eq(t, want, job.Job.Type)
			ran := 0
			for _, g := range job.Job.Groups {
				for _, task := range g.Tasks {
					if task.Config.Command == "/usr/bin/pinlb" {
						checkPinlbArgs(t, task.Config.Args)
						ran++
					}
				}
			}
			must.Eq(t, 1, ran, must.Sprint("tasks that run pinlb"))
		})
	}
}

// checkPinlbArgs checks that a task runs a pinlb command with options its
// help documents.
func checkPinlbArgs(t *testing.T, args []string) {
	t.Helper()
	must.SliceNotEmpty(t, args)
	factory, ok := command.Commands(cli.NewMockUi())[args[0]]
	must.True(t, ok, must.Sprintf("pinlb has no command %q", args[0]))
	cmd, err := factory()
	must.NoError(t, err)
	help := cmd.Help()
	for _, a := range args[1:] {
		name, _, _ := strings.Cut(strings.TrimLeft(a, "-"), "=")
		must.True(t, strings.HasPrefix(a, "-"), must.Sprintf("%q is not an option", a))
		must.True(t, slices.ContainsFunc([]string{"\n  -" + name + "=", "\n  -" + name + "\n"}, func(s string) bool {
			return strings.Contains(help, s)
		}), must.Sprintf("pinlb %s -help documents no -%s", args[0], name))
	}
}
