# A Pinpoint collector with pinlb register beside it, as a sidecar task: it
# registers the collector in Consul with its ports in the meta, checks them,
# and deregisters it when the allocation stops.
job "pinpoint-collector" {
  type = "service"

  group "collector" {
    count = 3

    network {
      mode = "host"
    }

    task "collector" {
      driver = "exec"

      config {
        command = "/opt/pinpoint/bin/pinpoint-collector"
        args    = ["--spring.config.additional-location=${NOMAD_TASK_DIR}/"]
      }

      resources {
        cpu    = 2000
        memory = 4096
      }
    }

    task "register" {
      driver = "exec"

      lifecycle {
        hook    = "poststart"
        sidecar = true
      }

      config {
        command = "/usr/bin/pinlb"
        args = [
          "register",
          "-collector-config=/opt/pinpoint/collector/pinpoint-collector-root.properties",
          "-check-interval=5s",
        ]
      }

      # SIGTERM deregisters before the collector task is stopped.
      kill_signal  = "SIGTERM"
      kill_timeout = "10s"

      resources {
        cpu    = 100
        memory = 64
      }
    }
  }
}
