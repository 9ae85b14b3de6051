# pinlb: the Pinpoint collector ports, on every interface of this host,
# forwarding to the healthy instances of the Consul service
# "pinpoint-collector". Each instance carries its ports in Service.Meta
# (`pinlb register` beside each collector writes them).
#
# Every *.hcl and *.json file in /etc/pinlb.d merges, in lexical order.
# Check a change with `pinlb validate /etc/pinlb.d`, apply it with
# `systemctl reload pinlb` (a broken file is refused, the running
# configuration stays). Reference: https://github.com/pinlb/pinlb, the
# website's Configuration page.

# consul {
#   address    = "127.0.0.1:8500"       # the local Consul agent
#   token_file = "/etc/pinlb.d/consul.token"
# }

# The HTTP API and the dashboard (http://127.0.0.1:9700/ui/), loopback only.
# api {
#   address = "127.0.0.1:9700"
# }

# One line per connection; /var/log/pinlb is the directory the systemd unit
# lets pinlb write, and the package's logrotate rotates it.
# access_log {
#   path = "/var/log/pinlb/access.log"
# }

# gRPC (Pinpoint 2.x and 3.x): long-lived HTTP/2 connections, placed by load.
# The agent channel is not rebalanced: closing it records an AGENT_SHUTDOWN
# event in pinpoint-web.
# A collector that leaves the pool (maintenance, failing checks, gone from
# Consul) keeps its connections for drain_timeout, then they are closed and
# their agents reconnect to the others: Pinpoint's connections never end by
# themselves, so without it a drain would never finish.
listener "grpc-agent" {
  address       = "0.0.0.0:9991"
  balance       = "least_conn"
  drain_timeout = "1m"
  upstream {
    service   = "pinpoint-collector"
    port_meta = "port_grpc_agent"
  }
}
# Stat and span streams reconnect by themselves, so after a scale-out the
# quiet ones move to the new collector.
listener "grpc-stat" {
  address       = "0.0.0.0:9992"
  balance       = "least_conn"
  drain_timeout = "1m"
  rebalance {
    min_idle = "1s"
    max_wait = "5m"
  }
  upstream {
    service   = "pinpoint-collector"
    port_meta = "port_grpc_stat"
  }
}
listener "grpc-span" {
  address       = "0.0.0.0:9993"
  balance       = "least_conn"
  drain_timeout = "1m"
  rebalance {
    min_idle = "1s"
    max_wait = "5m"
  }
  upstream {
    service   = "pinpoint-collector"
    port_meta = "port_grpc_span"
  }
}

# Thrift (Pinpoint 1.x and 2.x): the agent channel pings every 5 minutes,
# under the 10m default idle timeout.
listener "thrift-agent" {
  address       = "0.0.0.0:9994"
  balance       = "least_conn"
  drain_timeout = "1m"
  upstream {
    service   = "pinpoint-collector"
    port_meta = "port_thrift_agent"
  }
}
# Thrift stat and span: one-way UDP from one fixed source port per agent, so
# every datagram is balanced.
listener "thrift-stat" {
  protocol = "udp"
  address  = "0.0.0.0:9995"
  udp { mode = "packet" }
  upstream {
    service   = "pinpoint-collector"
    port_meta = "port_thrift_stat"
  }
}
listener "thrift-span" {
  protocol = "udp"
  address  = "0.0.0.0:9996"
  udp { mode = "packet" }
  upstream {
    service   = "pinpoint-collector"
    port_meta = "port_thrift_span"
  }
}
