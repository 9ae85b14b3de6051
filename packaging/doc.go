// Package packaging holds what the .deb and the .rpm install besides the
// binary (systemd units, the example configuration, logrotate, Nomad job
// examples) and the tests that install them. It has no code of its own:
// `make package` builds the packages from these files with nfpm.
package packaging
