package main

import (
	"testing"

	"github.com/shoenig/test/must"
)

// edgesOf is a graph of from→to pairs.
func edgesOf(pairs ...[2]string) graph {
	g := graph{}
	for _, p := range pairs {
		for _, f := range p {
			if g[f] == nil {
				g[f] = map[string]map[string]bool{}
			}
		}
		g[p[0]][p[1]] = map[string]bool{"name": true}
	}
	return g
}

func TestUpward(t *testing.T) {
	for _, tc := range []struct {
		name  string
		g     graph
		up    int
		first string
	}{
		{"a chain has none", edgesOf([2]string{"a", "b"}, [2]string{"b", "c"}), 0, "a"},
		{"a diamond has none", edgesOf([2]string{"top", "l"}, [2]string{"top", "r"}, [2]string{"l", "low"}, [2]string{"r", "low"}), 0, "top"},
		{"a cycle of two has one", edgesOf([2]string{"a", "b"}, [2]string{"b", "a"}), 1, ""},
		{"a callback up a chain has one", edgesOf([2]string{"a", "b"}, [2]string{"b", "c"}, [2]string{"c", "a"}, [2]string{"x", "a"}), 1, "x"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			order := layout(tc.g)
			must.SliceLen(t, len(tc.g), order)
			must.Len(t, tc.up, upward(tc.g, order))
			if tc.first != "" {
				must.Eq(t, tc.first, order[0])
			}
		})
	}
}
