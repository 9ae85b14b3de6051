package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os/exec"
	"path/filepath"
)

// pkg is what the checks need of `go list -json`: production files and
// imports only, test files aside.
type pkg struct {
	ImportPath string
	Dir        string
	GoFiles    []string
	Imports    []string // direct
	Deps       []string // direct and indirect
}

// listPackages lists the packages of the module in dir, for every
// platform's files alike: a file tagged for one OS is still code to read.
func listPackages(dir string) ([]pkg, error) {
	cmd := exec.Command("go", "list", "-e", "-json=ImportPath,Dir,GoFiles,IgnoredGoFiles,Imports,Deps", "./...")
	cmd.Dir = dir
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("go list: %v: %s", err, errb.Bytes())
	}
	var pkgs []pkg
	dec := json.NewDecoder(&out)
	for {
		var p struct {
			pkg
			IgnoredGoFiles []string
		}
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			return nil, err
		}
		for _, f := range p.IgnoredGoFiles {
			if filepath.Ext(f) == ".go" && !isTestFile(f) {
				p.GoFiles = append(p.GoFiles, f)
			}
		}
		pkgs = append(pkgs, p.pkg)
	}
	return pkgs, nil
}

func isTestFile(name string) bool {
	return len(name) > 8 && name[len(name)-8:] == "_test.go"
}
