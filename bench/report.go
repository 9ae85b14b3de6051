package main

import (
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"golang.org/x/image/font"
	"golang.org/x/image/font/basicfont"
	"golang.org/x/image/math/fixed"
)

// report gathers every run and its medians.
type report struct {
	Machine  string                         `json:"machine"`
	Build    string                         `json:"build"` // pinlb version of the binary measured
	Started  time.Time                      `json:"started"`
	Reps     int                            `json:"repetitions"`
	Smoke    bool                           `json:"smoke"`
	Lines    []line                         `json:"cases"`
	Targets  []goal                         `json:"targets"`
	Failures []string                       `json:"failures,omitempty"`
	runs     map[string]map[string][]result // case → target → runs
	failed   map[string]bool                // case/target
	byName   map[string]*line
	duration time.Duration
}

// line is one case's medians and ratios.
type line struct {
	benchCase
	Runs    map[string][]float64 `json:"runs"`
	Median  map[string]float64   `json:"median"`
	Ratios  map[string]float64   `json:"ratios"` // pinlb/nginx, pinlb/haproxy, pinlb/direct
	Targets []string             `json:"targets"`
}

// goal is one of the targets, and whether this run met it.
type goal struct {
	What string `json:"what"`
	Met  bool   `json:"met"`
	Seen string `json:"seen"`
}

func newReport(o options, machine, build string) *report {
	return &report{Machine: machine, Build: build, Started: time.Now(), Reps: o.reps, Smoke: o.smoke,
		runs: map[string]map[string][]result{}, failed: map[string]bool{}}
}

func (r *report) fail(c benchCase, target string, err error) {
	r.failed[c.Name+"/"+target] = true
	r.Failures = append(r.Failures, fmt.Sprintf("%s on %s: %v", c.Title, target, err))
}

func (r *report) add(c benchCase, target string, res result) {
	if r.runs[c.Name] == nil {
		r.runs[c.Name] = map[string][]result{}
	}
	r.runs[c.Name][target] = append(r.runs[c.Name][target], res)
}

func median(vs []float64) float64 {
	if len(vs) == 0 {
		return math.NaN()
	}
	s := slices.Sorted(slices.Values(vs))
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// finish computes medians, ratios and the targets.
func (r *report) finish(cs []benchCase) {
	r.duration = time.Since(r.Started)
	r.byName = map[string]*line{}
	for _, c := range cs {
		src, field := c.Name, ""
		if c.from != "" {
			src, field = c.from, c.extra
		}
		l := line{benchCase: c, Runs: map[string][]float64{}, Median: map[string]float64{}, Ratios: map[string]float64{}, Targets: c.targets}
		for _, t := range c.targets {
			for _, res := range r.runs[src][t] {
				v := res.Value
				if field != "" {
					var ok bool
					if v, ok = res.Extra[field]; !ok {
						continue
					}
				}
				l.Runs[t] = append(l.Runs[t], v)
			}
			if len(l.Runs[t]) > 0 {
				l.Median[t] = median(l.Runs[t])
			}
		}
		for _, peer := range []string{nginx, haproxy, direct} {
			if p, ok := l.Median[peer]; ok && p != 0 {
				if v, ok := l.Median[pinlb]; ok {
					l.Ratios["pinlb/"+peer] = v / p
				}
			}
		}
		r.Lines = append(r.Lines, l)
	}
	for i := range r.Lines {
		r.byName[r.Lines[i].Name] = &r.Lines[i]
	}
	r.Targets = r.goals()
}

// goals checks the speed issue's targets (parity with nginx, the ceiling
// on small messages) against this run's medians; a
// target whose case did not run (-cases) is left out.
func (r *report) goals() []goal {
	var gs []goal
	ratio := func(what, name, peer string, want float64, atMost bool) {
		l := r.byName[name]
		if l == nil {
			return
		}
		v, ok := l.Ratios["pinlb/"+peer]
		if !ok {
			v = math.NaN()
		}
		met := v >= want
		if atMost {
			met = v <= want
		}
		gs = append(gs, goal{What: what, Met: met, Seen: fmt.Sprintf("%.2f×", v)})
	}
	for _, n := range []string{"1", "8"} {
		ratio("TCP bulk ("+n+" streams) ≥ 1.2× nginx", "tcp_bulk_"+n, nginx, 1.2, false)
		ratio("TCP bulk ("+n+" streams) ≥ 1.0× HAProxy", "tcp_bulk_"+n, haproxy, 1.0, false)
	}
	for _, n := range []string{"8", "64"} {
		ratio("TCP req/resp ops/s ("+n+" conns) ≥ 1.0× nginx", "tcp_rr_"+n, nginx, 1.0, false)
		ratio("TCP req/resp p99 ("+n+" conns) ≤ 1.0× nginx", "tcp_rr_"+n+"_p99", nginx, 1.0, true)
		ratio("voluntary switches per message ("+n+" conns) ≤ 1.0× nginx", "tcp_rr_"+n+"_vcsw", nginx, 1.0, true)
	}
	ratio("TCP connection rate ≥ 1.0× nginx", "tcp_conn_rate", nginx, 1.0, false)
	ratio("CPU per 1k connections ≤ 1.0× nginx", "cpu_per_kconn", nginx, 1.0, true)
	ratio("voluntary switches per connection ≤ 1.0× nginx", "vcsw_per_conn", nginx, 1.0, true)
	if l := r.byName["cpu_idle"]; l != nil {
		v := l.Median[pinlb]
		gs = append(gs, goal{What: "CPU with every idle connection open < 1% of a core", Met: v < 1, Seen: fmt.Sprintf("%.2f%%", v)})
	}
	ratio("UDP 512 B delivered (64 src) ≥ 4× nginx", "udp_512_64src", nginx, 4, false)
	ratio("UDP 512 B delivered (64 src) ≥ 0.5× direct", "udp_512_64src", direct, 0.5, false)
	ratio("RSS per idle connection ≤ 0.5× nginx", "rss_idle_conn", nginx, 0.5, true)
	ratio("CPU per GB ≤ 0.5× nginx", "cpu_per_gb", nginx, 0.5, true)
	ratio("CPU per M datagrams ≤ 0.5× nginx", "cpu_per_mdgram", nginx, 0.5, true)
	for _, name := range []string{"udp_512_4src", "udp_512_64src", "udp_4096_4src", "udp_4096_64src"} {
		if l := r.byName[name+"_loss_100k"]; l != nil {
			v := l.Median[pinlb]
			gs = append(gs, goal{What: "UDP loss at 100k/s offered < 0.1% (" + strings.TrimPrefix(name, "udp_") + ")",
				Met: v < 0.1, Seen: fmt.Sprintf("%.3f%%", v)})
		}
	}
	return gs
}

func format(v float64, unit string) string {
	switch {
	case math.IsNaN(v):
		return "-"
	case unit == "%":
		return fmt.Sprintf("%.3f", v)
	case unit == "GB/s" || unit == "cpu s":
		return fmt.Sprintf("%.3f", v)
	case unit == "switches" || unit == "% core":
		return fmt.Sprintf("%.2f", v)
	case unit == "MB" || unit == "cpu ms":
		return fmt.Sprintf("%.1f", v)
	}
	return fmt.Sprintf("%.0f", v)
}

func (r *report) print(w io.Writer) {
	fmt.Fprintf(w, "\n%s\nbuild: %s\nmedians of %d run(s), targets interleaved, %s in all\n\n", r.Machine, r.Build, r.Reps, r.duration.Round(time.Second))
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "case\tunit\tdirect\tnginx\thaproxy\tpinlb\tpinlb/nginx\tpinlb/haproxy\tpinlb/direct\t")
	for _, l := range r.Lines {
		cell := func(t string) string {
			v, ok := l.Median[t]
			switch {
			case r.failed[l.Name+"/"+t] || (l.from != "" && r.failed[l.from+"/"+t]):
				return "FAIL"
			case !ok:
				return "n/a"
			}
			return format(v, l.Unit)
		}
		ratio := func(k string) string {
			v, ok := l.Ratios[k]
			if !ok || math.IsNaN(v) || math.IsInf(v, 0) {
				return "-"
			}
			return fmt.Sprintf("%.2f", v)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", l.Title, l.Unit, cell(direct), cell(nginx), cell(haproxy), cell(pinlb),
			ratio("pinlb/nginx"), ratio("pinlb/haproxy"), ratio("pinlb/direct"))
	}
	tw.Flush()
	for _, f := range r.Failures {
		fmt.Fprintln(w, "failed:", f)
	}
	if r.Smoke {
		fmt.Fprintln(w, "\nsmoke mode: every case ran, briefly; these figures measure nothing")
		return
	}
	fmt.Fprintln(w, "\ntargets:")
	for _, g := range r.Targets {
		mark := "met    "
		if !g.Met {
			mark = "NOT met"
		}
		fmt.Fprintf(w, "  %s  %-55s seen %s\n", mark, g.What, g.Seen)
	}
}

func (r *report) write(dir string) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "results.json"), b, 0o644); err != nil {
		return err
	}
	f, err := os.Create(filepath.Join(dir, "results.png"))
	if err != nil {
		return err
	}
	defer f.Close()
	return png.Encode(f, r.chart())
}

// chart draws, per case, the peers' and pinlb's medians relative to nginx
// (HAProxy for UDP-less lines has no bar): longer is better, whatever the
// unit, and the line at 1 is nginx.
func (r *report) chart() image.Image {
	const (
		rowH, barH, left, width, scaleW = 30, 8, 330, 900, 500
	)
	var rows []line
	for _, l := range r.Lines {
		if _, ok := l.Median[nginx]; ok && l.Median[nginx] != 0 {
			rows = append(rows, l)
		}
	}
	img := image.NewRGBA(image.Rect(0, 0, width, 60+rowH*len(rows)+30))
	draw.Draw(img, img.Bounds(), image.White, image.Point{}, draw.Src)
	face := basicfont.Face7x13
	text := func(x, y int, s string, c color.Color) {
		d := font.Drawer{Dst: img, Src: image.NewUniform(c), Face: face, Dot: fixed.P(x, y)}
		d.DrawString(s)
	}
	text(10, 20, r.Build+", nginx and HAProxy relative to nginx (longer is better; the line is nginx)", color.Black)
	text(10, 38, r.Machine[:min(len(r.Machine), 125)], color.Gray{100})
	colors := map[string]color.RGBA{direct: {150, 150, 150, 255}, haproxy: {230, 140, 40, 255}, pinlb: {30, 110, 220, 255}, nginx: {60, 160, 60, 255}}
	const maxRel = 5.0
	x0 := left
	for i, l := range rows {
		y := 60 + i*rowH
		text(10, y+14, l.Title, color.Black)
		for k, t := range []string{nginx, haproxy, pinlb} {
			v, ok := l.Median[t]
			if !ok {
				continue
			}
			rel := v / l.Median[nginx]
			if !l.Higher {
				rel = l.Median[nginx] / v
			}
			if math.IsNaN(rel) || math.IsInf(rel, 0) {
				rel = maxRel
			}
			w := int(math.Min(rel, maxRel) / maxRel * scaleW)
			by := y + k*barH
			draw.Draw(img, image.Rect(x0, by, x0+w, by+barH-1), image.NewUniform(colors[t]), image.Point{}, draw.Src)
			if t == pinlb {
				label := fmt.Sprintf("%.2f", rel)
				if rel >= maxRel {
					label = fmt.Sprintf(">= %.0f", maxRel) // off the scale (a loss of 0 against one above 0)
				}
				text(x0+w+4, by+barH, label, color.Black)
			}
		}
	}
	one := x0 + int(1/maxRel*scaleW)
	for y := 55; y < 60+rowH*len(rows); y++ {
		img.Set(one, y, color.Black)
	}
	ly := 60 + rowH*len(rows) + 15
	for k, t := range []string{nginx, haproxy, pinlb} {
		x := x0 + k*120
		draw.Draw(img, image.Rect(x, ly-8, x+12, ly), image.NewUniform(colors[t]), image.Point{}, draw.Src)
		text(x+16, ly, t, color.Black)
	}
	text(x0+400, ly, fmt.Sprintf("scale: 0 to %.0f× nginx", maxRel), color.Gray{100})
	return img
}
