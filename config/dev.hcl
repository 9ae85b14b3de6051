# The built-in configuration of `pinlb agent -dev`: every Pinpoint collector
# port on loopback, forwarding to the healthy instances of the Consul service
# "pinpoint-collector". Each instance carries its ports in Service.Meta under
# the keys below (`pinlb register` writes them).

shutdown_timeout = "5s"

# gRPC (Pinpoint 2.x and 3.x): all TCP, long-lived HTTP/2 connections, placed
# by load (least_conn), so that a new or reconnecting stream goes to the
# collector with the fewest, a freshly scaled-out one first. Agents
# ping every 30 s and collectors send GOAWAY after 360 s without a call, so
# the default 10m idle timeout never cuts a live agent.
#
# The agent channel is not rebalanced: closing it makes the collector record
# an AGENT_SHUTDOWN event that operators see in pinpoint-web. It spreads as
# agents come and go.
# A collector that leaves the pool (maintenance, failing checks, gone from
# Consul) keeps its connections for drain_timeout, then they are closed and
# their agents reconnect to the others: Pinpoint's connections never end by
# themselves, so without it a drain would never finish.
listener "grpc-agent" {
  address       = "127.0.0.1:9991"
  balance       = "least_conn"
  drain_timeout = "1m"
  upstream {
    service   = "pinpoint-collector"
    port_meta = "port_grpc_agent"
  }
}
# Stat and span streams reconnect by themselves, so after a scale-out they
# are moved to the new collector: quiet ones (no byte for 1 s, so no message
# is cut) at most 10 a second, and one that is never quiet after 5 minutes.
listener "grpc-stat" {
  address       = "127.0.0.1:9992"
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
  address       = "127.0.0.1:9993"
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

# Thrift (Pinpoint 1.x and 2.x): the agent channel pings every 5 minutes, so
# the idle timeout stays above that.
listener "thrift-agent" {
  address       = "127.0.0.1:9994"
  balance       = "least_conn"
  drain_timeout = "1m"
  idle_timeout  = "10m"
  upstream {
    service   = "pinpoint-collector"
    port_meta = "port_thrift_agent"
  }
}

# Thrift stat and span: one-way UDP from one fixed source port per agent, so
# every datagram is balanced.
listener "thrift-stat" {
  protocol = "udp"
  address  = "127.0.0.1:9995"
  udp { mode = "packet" }
  upstream {
    service   = "pinpoint-collector"
    port_meta = "port_thrift_stat"
  }
}
listener "thrift-span" {
  protocol = "udp"
  address  = "127.0.0.1:9996"
  udp { mode = "packet" }
  upstream {
    service   = "pinpoint-collector"
    port_meta = "port_thrift_span"
  }
}
