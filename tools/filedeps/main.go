// Command filedeps counts the dependencies between the files of one
// package, and how many of them point upward: a file A depends on a file
// B when A uses a name (type, function, method, field, constant or
// variable) that B declares. The files are laid out in the order that
// leaves the fewest dependencies pointing back up (the Eades–Lin–Smyth
// heuristic for a minimum feedback arc set, ties broken by name); those
// that still do are the package's upward dependencies, the ones a reader
// meets before what they depend on, whatever the order.
//
//	go run ./tools/filedeps [-v] ./proxy
package main

import (
	"flag"
	"fmt"
	"go/ast"
	"os"
	"path/filepath"
	"slices"

	"golang.org/x/tools/go/packages"
)

func main() {
	verbose := flag.Bool("v", false, "list the order and every upward dependency")
	flag.Parse()
	if flag.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: filedeps [-v] <package>")
		os.Exit(2)
	}
	edges, err := fileEdges(flag.Arg(0))
	if err != nil {
		fmt.Fprintln(os.Stderr, "filedeps:", err)
		os.Exit(1)
	}
	order := layout(edges)
	up := upward(edges, order)
	fmt.Printf("%d files, %d file-to-file dependencies, %d upward\n", len(order), countEdges(edges), len(up))
	if *verbose {
		fmt.Println("order:", order)
		for _, e := range up {
			fmt.Printf("  %s -> %s: %v\n", e[0], e[1], sorted(edges[e[0]][e[1]]))
		}
	}
}

// graph is file → the files it depends on → the names it uses of each.
type graph map[string]map[string]map[string]bool

// fileEdges loads the package (its Linux build, without tests) and finds
// which file uses what another declares.
func fileEdges(pattern string) (graph, error) {
	cfg := &packages.Config{Mode: packages.NeedName | packages.NeedFiles | packages.NeedSyntax |
		packages.NeedTypes | packages.NeedTypesInfo, Env: append(os.Environ(), "GOOS=linux")}
	pkgs, err := packages.Load(cfg, pattern)
	if err != nil {
		return nil, err
	}
	if len(pkgs) != 1 {
		return nil, fmt.Errorf("%s: %d packages, want one", pattern, len(pkgs))
	}
	if errs := pkgs[0].Errors; len(errs) > 0 {
		return nil, fmt.Errorf("%s: %v", pattern, errs[0])
	}
	p := pkgs[0]
	g := graph{}
	for _, file := range p.Syntax {
		from := filepath.Base(p.Fset.Position(file.Pos()).Filename)
		g[from] = map[string]map[string]bool{}
		ast.Inspect(file, func(n ast.Node) bool {
			id, ok := n.(*ast.Ident)
			if !ok {
				return true
			}
			obj := p.TypesInfo.Uses[id]
			if obj == nil || obj.Pkg() != p.Types || (obj.Parent() != nil && obj.Parent() != p.Types.Scope()) {
				return true // another package's, or a local name
			}
			if to := filepath.Base(p.Fset.Position(obj.Pos()).Filename); to != from {
				if g[from][to] == nil {
					g[from][to] = map[string]bool{}
				}
				g[from][to][obj.Name()] = true
			}
			return true
		})
	}
	return g, nil
}

// layout orders the files, dependents first, so that few dependencies
// point back up: sinks go last and sources first as they appear, and
// otherwise the file with the most more dependencies than dependents goes
// next.
func layout(g graph) []string {
	left := map[string]bool{}
	for f := range g {
		left[f] = true
	}
	var head, tail []string
	for len(left) > 0 {
		if f, ok := find(left, func(f string) bool { return outDegree(g, left, f) == 0 }); ok {
			tail = append([]string{f}, tail...)
			delete(left, f)
			continue
		}
		if f, ok := find(left, func(f string) bool { return inDegree(g, left, f) == 0 }); ok {
			head = append(head, f)
			delete(left, f)
			continue
		}
		best, score := "", 0
		for _, f := range sorted(left) {
			if s := outDegree(g, left, f) - inDegree(g, left, f); best == "" || s > score {
				best, score = f, s
			}
		}
		head = append(head, best)
		delete(left, best)
	}
	return append(head, tail...)
}

func find(left map[string]bool, ok func(string) bool) (string, bool) {
	for _, f := range sorted(left) {
		if ok(f) {
			return f, true
		}
	}
	return "", false
}

func sorted(set map[string]bool) []string {
	out := make([]string, 0, len(set))
	for f := range set {
		out = append(out, f)
	}
	slices.Sort(out)
	return out
}

func outDegree(g graph, left map[string]bool, f string) int {
	n := 0
	for to := range g[f] {
		if left[to] {
			n++
		}
	}
	return n
}

func inDegree(g graph, left map[string]bool, f string) int {
	n := 0
	for from := range left {
		if g[from][f] != nil {
			n++
		}
	}
	return n
}

// upward are the dependencies on a file laid out before the dependent.
func upward(g graph, order []string) [][2]string {
	at := map[string]int{}
	for i, f := range order {
		at[f] = i
	}
	var up [][2]string
	for _, from := range order {
		var tos []string
		for to := range g[from] {
			tos = append(tos, to)
		}
		slices.Sort(tos)
		for _, to := range tos {
			if at[to] < at[from] {
				up = append(up, [2]string{from, to})
			}
		}
	}
	return up
}

func countEdges(g graph) int {
	n := 0
	for _, tos := range g {
		n += len(tos)
	}
	return n
}
