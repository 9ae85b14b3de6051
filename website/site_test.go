// Package website holds the docs website's sources and its browser test;
// `make website` builds it with VitePress.
package website

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/pinlb/pinlb/internal/testsupport"
	"github.com/shoenig/test/must"
)

// The website as `make website` builds it, in headless Chromium: every
// page reachable from the landing page loads with no console error, every
// internal link (and its #anchor) resolves, the search finds port_meta, and
// screenshots of the landing page and of a docs page are left in
// build/artifacts.
func TestWebsite_InChromium(t *testing.T) {
	if _, err := exec.LookPath("npm"); err != nil {
		testsupport.Missing(t, "Node.js and npm, to build the website")
	}
	out, err := exec.Command("make", "-C", "..", "website").CombinedOutput()
	must.NoError(t, err, must.Sprintf("make website:\n%s", out))
	srv := httptest.NewServer(http.FileServer(http.Dir("public")))
	defer srv.Close()
	browser := testsupport.Chromium(t)
	var errs consoleErrors
	chromedp.ListenTarget(browser, errs.listen)

	pages := crawl(t, browser, srv.URL, &errs)
	must.Greater(t, 10, len(pages), must.Sprint("pages reached from the landing page"))
	for page, info := range pages {
		for _, link := range info.links {
			path, anchor, _ := strings.Cut(link, "#")
			target, ok := pages[path]
			must.True(t, ok, must.Sprintf("%s links to %s, which is not a page", page, link))
			if anchor != "" && !slices.Contains(target.ids, anchor) {
				t.Errorf("%s links to %s: no such anchor", page, link)
			}
		}
	}
	searchFinds(t, browser, srv.URL+"/docs/", "port_meta", "Configuration reference")
	must.SliceEmpty(t, errs.get())
	screenshot(t, browser, srv.URL+"/", "website-landing.png", true)
	screenshot(t, browser, srv.URL+"/docs/configuration.html", "website-docs.png", false)
}

// pageInfo is one page of the site: its internal links (path#anchor) and
// the ids an anchor can name.
type pageInfo struct{ links, ids []string }

// crawl visits every page reachable from the landing page, in the browser.
func crawl(t *testing.T, browser context.Context, base string, errs *consoleErrors) map[string]pageInfo {
	pages := map[string]pageInfo{}
	queue := []string{"/"}
	for len(queue) > 0 {
		path := queue[0]
		queue = queue[1:]
		if _, seen := pages[path]; seen {
			continue
		}
		var hrefs, ids []string
		run(t, browser, "load "+path,
			chromedp.Navigate(base+path),
			chromedp.WaitReady("#app"),
			chromedp.Evaluate(`[...document.querySelectorAll('a[href]')].map(a => a.href)`, &hrefs),
			chromedp.Evaluate(`[...document.querySelectorAll('[id]')].map(e => e.id)`, &ids),
		)
		for _, e := range errs.get() {
			t.Errorf("%s: console error: %s", path, e)
		}
		errs.reset()
		info := pageInfo{ids: ids}
		for _, h := range hrefs {
			u, err := url.Parse(h)
			if err != nil || !strings.HasPrefix(h, base) {
				continue // another site's
			}
			link := u.Path
			if u.Fragment != "" {
				link += "#" + u.Fragment
			}
			info.links = append(info.links, link)
			queue = append(queue, u.Path)
		}
		pages[path] = info
	}
	return pages
}

// searchFinds opens the search on page, types query, and wants a result in
// the page titled want.
func searchFinds(t *testing.T, browser context.Context, page, query, want string) {
	var results []string
	run(t, browser, "search for "+query,
		chromedp.Navigate(page),
		chromedp.WaitVisible(".VPNavBarSearch button"),
		chromedp.Click(".VPNavBarSearch button"),
		chromedp.WaitVisible(".VPLocalSearchBox input"),
		chromedp.SendKeys(".VPLocalSearchBox input", query),
		chromedp.WaitVisible(".VPLocalSearchBox .result"),
		chromedp.Evaluate(`[...document.querySelectorAll('.VPLocalSearchBox .result')].map(r => r.innerText)`, &results),
	)
	must.True(t, slices.ContainsFunc(results, func(r string) bool {
		return strings.Contains(r, want) && strings.Contains(r, query)
	}), must.Sprintf("no result for %q in %q: %q", query, want, results))
}

// screenshot saves page as name in the artifacts: the whole page, or the
// window's view of it.
func screenshot(t *testing.T, browser context.Context, page, name string, whole bool) {
	var png []byte
	shot := chromedp.CaptureScreenshot(&png)
	if whole {
		shot = chromedp.FullScreenshot(&png, 100) // 100: PNG, not JPEG
	}
	run(t, browser, "screenshot "+page,
		chromedp.Navigate(page),
		chromedp.WaitReady("#app"),
		chromedp.Sleep(300*time.Millisecond), // fonts and the hydrated theme
		shot,
	)
	dir, err := testsupport.ArtifactsDir()
	must.NoError(t, err)
	path := filepath.Join(dir, name)
	must.NoError(t, os.WriteFile(path, png, 0o644))
	t.Logf("screenshot: %s", path)
}

func run(t *testing.T, browser context.Context, what string, actions ...chromedp.Action) {
	t.Helper()
	ctx, cancel := context.WithTimeout(browser, 30*time.Second)
	defer cancel()
	must.NoError(t, chromedp.Run(ctx, actions...), must.Sprint(what))
}

// consoleErrors collects what pages log as errors and throw.
type consoleErrors struct {
	mu   sync.Mutex
	errs []string
}

func (c *consoleErrors) listen(ev any) {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch ev := ev.(type) {
	case *runtime.EventConsoleAPICalled:
		if ev.Type == runtime.APITypeError {
			var args []string
			for _, a := range ev.Args {
				args = append(args, string(a.Value))
			}
			c.errs = append(c.errs, strings.Join(args, " "))
		}
	case *runtime.EventExceptionThrown:
		c.errs = append(c.errs, ev.ExceptionDetails.Error())
	}
}

func (c *consoleErrors) get() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.errs)
}

func (c *consoleErrors) reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.errs = nil
}
