package main

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
)

// sizeViolations reports production files over maxFile lines and
// functions over maxFunc lines (a function's lines run from its signature
// to its closing brace).
func sizeViolations(pkgs []pkg, maxFile, maxFunc int) ([]string, error) {
	var out []string
	wd, _ := os.Getwd()
	for _, p := range pkgs {
		for _, name := range p.GoFiles {
			path := filepath.Join(p.Dir, name)
			shown, _ := filepath.Rel(wd, path)
			v, err := fileViolations(path, shown, maxFile, maxFunc)
			if err != nil {
				return nil, err
			}
			out = append(out, v...)
		}
	}
	return out, nil
}

func fileViolations(path, shown string, maxFile, maxFunc int) ([]string, error) {
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
	if err != nil {
		return nil, err
	}
	var out []string
	if n := fset.File(f.Pos()).LineCount(); n > maxFile {
		out = append(out, fmt.Sprintf("size: %s has %d lines (at most %d): split it by concern", shown, n, maxFile))
	}
	ast.Inspect(f, func(n ast.Node) bool {
		var name string
		switch fn := n.(type) {
		case *ast.FuncDecl:
			name = fn.Name.Name
		case *ast.FuncLit:
			name = "a function literal"
		default:
			return true
		}
		start, end := fset.Position(n.Pos()), fset.Position(n.End())
		if lines := end.Line - start.Line + 1; lines > maxFunc {
			out = append(out, fmt.Sprintf("size: %s:%d: %s has %d lines (at most %d)", shown, start.Line, name, lines, maxFunc))
		}
		return true
	})
	return out, nil
}
