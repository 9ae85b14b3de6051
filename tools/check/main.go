// Command check enforces the shape of the code that `make check` promises
// (website/content/docs/architecture.md): the package boundaries, Consul's
// API only in the discovery room, and files and functions short enough to
// read at once. It prints every violation and exits 1 if there is one.
//
//	go run ./tools/check [-max-file-lines 400] [-max-func-lines 80] [module dir...]
//
// With no directory it checks the module of the current directory.
package main

import (
	"flag"
	"fmt"
	"os"
)

func main() {
	maxFile := flag.Int("max-file-lines", 400, "longest production .go file, in lines")
	maxFunc := flag.Int("max-func-lines", 80, "longest production function, in lines")
	flag.Parse()
	dirs := flag.Args()
	if len(dirs) == 0 {
		dirs = []string{"."}
	}
	var pkgs []pkg
	for _, dir := range dirs {
		p, err := listPackages(dir)
		if err != nil {
			fmt.Fprintln(os.Stderr, "check:", err)
			os.Exit(2)
		}
		pkgs = append(pkgs, p...)
	}
	problems := boundaryViolations(pkgs)
	sizes, err := sizeViolations(pkgs, *maxFile, *maxFunc)
	if err != nil {
		fmt.Fprintln(os.Stderr, "check:", err)
		os.Exit(2)
	}
	problems = append(problems, sizes...)
	for _, p := range problems {
		fmt.Println(p)
	}
	if len(problems) > 0 {
		os.Exit(1)
	}
	fmt.Printf("package boundaries, file and function sizes: ok (%d packages)\n", len(pkgs))
}
