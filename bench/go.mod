module github.com/pinlb/pinlb/bench

go 1.26.0

require (
	github.com/shoenig/test v1.13.2
	golang.org/x/image v0.47.0
	golang.org/x/net v0.62.0
)

require (
	github.com/google/go-cmp v0.7.0 // indirect
	golang.org/x/sys v0.50.0 // indirect
)
