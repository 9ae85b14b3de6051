# The built-in configuration of `pinlb agent -dev`: every Pinpoint collector
# port on loopback, forwarding to the healthy instances of the Consul service
# "pinpoint-collector". Each instance carries its ports in Service.Meta under
# the keys below (`pinlb register` writes them).

shutdown_timeout = "5s"

# gRPC (Pinpoint 2.x and 3.x): all TCP, long-lived HTTP/2 connections.
listener "grpc-agent" {
  address = "127.0.0.1:9991"
  upstream {
    service   = "pinpoint-collector"
    port_meta = "port_grpc_agent"
  }
}
listener "grpc-stat" {
  address = "127.0.0.1:9992"
  upstream {
    service   = "pinpoint-collector"
    port_meta = "port_grpc_stat"
  }
}
listener "grpc-span" {
  address = "127.0.0.1:9993"
  upstream {
    service   = "pinpoint-collector"
    port_meta = "port_grpc_span"
  }
}

# Thrift (Pinpoint 1.x and 2.x): the agent channel pings every 5 minutes, so
# the idle timeout stays above that.
listener "thrift-agent" {
  address      = "127.0.0.1:9994"
  idle_timeout = "10m"
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
