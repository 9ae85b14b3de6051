# pinlb on every Nomad client of the "edge" node pool: one agent per host,
# on the host's network, reading its configuration from Consul's KV store
# through a template. Run with `nomad job run pinlb.nomad.hcl`.
#
# pinlb registers itself in the local Consul agent when its configuration
# has a register_self block, with one TTL check per listener, so Consul DNS
# (pinlb.service.consul) returns only the hosts that serve: no Nomad
# service block is needed.
job "pinlb" {
  type      = "system"
  node_pool = "edge"

  update {
    max_parallel = 1
    stagger      = "30s"
  }

  group "pinlb" {
    network {
      mode = "host"
    }

    task "pinlb" {
      driver = "exec"

      config {
        command = "/usr/bin/pinlb"
        args    = ["agent", "-config-dir=${NOMAD_TASK_DIR}/pinlb.d"]
      }

      # The configuration, from Consul KV: a change is a SIGHUP, which
      # pinlb refuses (and logs) if the new file is invalid.
      template {
        data          = "{{ key \"pinlb/config.hcl\" }}"
        destination   = "local/pinlb.d/pinlb.hcl"
        change_mode   = "signal"
        change_signal = "SIGHUP"
      }

      # On SIGTERM pinlb leaves Consul, serves on for register_self's
      # leave_wait (5s), then drains open connections for shutdown_timeout
      # (30s): kill_timeout covers both.
      kill_signal  = "SIGTERM"
      kill_timeout = "45s"

      resources {
        cpu    = 1000
        memory = 256
      }
    }
  }
}
