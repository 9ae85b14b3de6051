// Command pinlb is an L4 load balancer for Pinpoint APM collectors.
package main

import (
	"os"

	"github.com/pinlb/pinlb/command"
)

func main() {
	os.Exit(command.Run(os.Args[1:]))
}
