package e2e

// The status page in a real browser: headless Chromium in the lab's
// client namespace loads lb1's page (GET / on its metrics listener) while
// a client loop runs through the VIP; the DOM shows the node, data plane,
// flow table, HA group and peer, sync and both real servers up with their
// weights, sparklines and no external resource. Then web1 fails, and the
// page, left alone, shows it down within one refresh of the director
// knowing it. A screenshot is written (DIRECTOR_STATUS_SCREENSHOT names
// the file; docs/status-page.png is one).

import (
	"bytes"
	"image/png"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/director-lb/director/control/metrics"
	"github.com/director-lb/director/test/lab"
	"github.com/director-lb/director/test/testenv"
)

// pageDOM is what the test reads from the page.
type pageDOM struct {
	Node, Mode, Fill, HA string
	Peers                [][2]string
	SyncReady            string
	Reals                []struct{ Name, Health, Weight, Active, Rate string }
	Sparks, Resources    int
	Scripts              int
	Mark                 bool
}

const readDOM = `(() => {
  const t = id => { const e = document.getElementById(id); return e ? e.textContent.trim() : null; };
  const sync = document.getElementById('sync');
  return {
    Node: t('node'), Mode: t('dataplane-mode'), Fill: t('flowtable-fill'), HA: t('ha-state'),
    Peers: [...document.querySelectorAll('.peer')].map(e => [e.dataset.peer, e.dataset.alive]),
    SyncReady: sync ? (sync.dataset.ready || '') : null,
    Reals: [...document.querySelectorAll('tr.real')].map(r => ({Name: r.dataset.real, Health: r.dataset.health,
      Weight: r.querySelector('.weight').textContent.trim(), Active: r.querySelector('.active').textContent.trim(),
      Rate: r.querySelector('.rate').textContent.trim()})),
    Sparks: document.querySelectorAll('svg.spark polyline').length,
    Resources: performance.getEntriesByType('resource').length,
    Scripts: document.scripts.length,
    Mark: window.testMark === true,
  };
})()`

func TestStatusPageInChromium(t *testing.T) {
	testenv.RequirePrivileged(t)
	testenv.RequireCommand(t, "chromium", "chromium")
	p := startWatchedPair(t)

	b := startBrowser(t, p.l, lab.Client)
	url := "http://" + lab.LB1PubAddr + ":9917/"
	b.navigate(url)

	// Let the history fill: the page reloads itself and draws sparklines.
	var dom pageDOM
	deadline := time.Now().Add(30 * time.Second)
	for {
		b.eval(readDOM, &dom)
		if dom.Sparks >= 3 && len(dom.Reals) == 2 && dom.Reals[0].Rate != "0" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no sparklines with traffic within 30s: %+v", dom)
		}
		time.Sleep(200 * time.Millisecond) // polling a condition with a deadline
	}
	t.Logf("page of a healthy pair: %+v", dom)
	check := func(what string, ok bool) {
		t.Helper()
		if !ok {
			t.Errorf("%s: page %+v", what, dom)
		}
	}
	check("node", dom.Node == "director "+p.names[lab.LB1])
	// auto takes TC on the lab's veths (docs/dataplane-selection.md).
	check("data plane", dom.Mode == "tc (tcx)" || dom.Mode == "tc (clsact)")
	check("flow table fill", dom.Fill != "" && dom.Fill != "0.0 %")
	check("HA state", dom.HA == "active")
	check("peer", len(dom.Peers) == 1 && dom.Peers[0] == [2]string{p.names[lab.LB2], "true"})
	check("sync", dom.SyncReady == "true")
	check("real servers", len(dom.Reals) == 2 &&
		dom.Reals[0].Name == lab.Web1Addr+":80" && dom.Reals[0].Health == "up" && dom.Reals[0].Weight == "3" &&
		dom.Reals[1].Name == lab.Web2Addr+":80" && dom.Reals[1].Health == "up" && dom.Reals[1].Weight == "1")
	check("no external resources", dom.Resources == 0)
	check("no scripts", dom.Scripts == 0)

	// web1 fails; the page is left alone (a mark set now disappears when
	// it reloads itself).
	b.eval(`window.testMark = true`, new(bool))
	if err := p.l.SetLinks(lab.Web1, false); err != nil {
		t.Fatal(err)
	}
	failed := time.Now()
	var known time.Time
	for known.IsZero() {
		st, err := p.dirs[lab.LB1].Status()
		if err == nil && reals(st, 80)[lab.Web1Addr].Health == "down" {
			known = time.Now()
		}
		if time.Since(failed) > 60*time.Second {
			t.Fatal("lb1 does not report web1 down within 60s")
		}
		time.Sleep(50 * time.Millisecond) // polling a condition with a deadline
	}
	t.Logf("lb1 reports web1 down %v after its links went down", known.Sub(failed).Round(time.Millisecond))
	within := metrics.StatusRefresh + 2*time.Second // a refresh, plus loading the page
	for {
		b.eval(readDOM, &dom)
		if len(dom.Reals) == 2 && dom.Reals[0].Health == "down" {
			break
		}
		if time.Since(known) > within {
			t.Fatalf("page does not show web1 down %v after lb1 knew: %+v", within, dom)
		}
		time.Sleep(100 * time.Millisecond) // polling a condition with a deadline
	}
	t.Logf("page shows web1 down %v after lb1 knew (refresh every %v)", time.Since(known).Round(time.Millisecond), metrics.StatusRefresh)
	check("page reloaded itself", !dom.Mark)
	check("web1 down, weight 0 of 3", dom.Reals[0].Weight == "0 (of 3)")
	check("web2 still up", dom.Reals[1].Health == "up")

	// The screenshot, full page.
	shot := b.screenshot()
	img, err := png.Decode(bytes.NewReader(shot))
	if err != nil {
		t.Fatalf("screenshot is no PNG: %v", err)
	}
	if w := img.Bounds().Dx(); w != 1280 {
		t.Errorf("screenshot %d pixels wide, want the window's 1280", w)
	}
	out := os.Getenv("DIRECTOR_STATUS_SCREENSHOT")
	if out == "" {
		out = filepath.Join(t.TempDir(), "status-page.png")
	}
	if err := os.WriteFile(out, shot, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot %s: %dx%d, %d bytes", out, img.Bounds().Dx(), img.Bounds().Dy(), len(shot))
}

// TestMetricsListenHostName: metrics.listen with a host name
// (localhost:9917) serves the metrics and the status page, as a user's
// `director run` in a node resolves it.
func TestMetricsListenHostName(t *testing.T) {
	l := seedLabWith(t, lab.Options{})
	cfg := runConfig{Node: "mh-" + l.Prefix(), W1: 3, W2: 1, Socket: filepath.Join(t.TempDir(), "director.sock")}
	text := strings.Replace(cfg.yaml(), "listen: 127.0.0.1:9917", "listen: localhost:9917", 1)
	if !strings.Contains(text, "listen: localhost:9917") {
		t.Fatal("config has no metrics listener to change")
	}
	d := startDirectorIn(t, l, lab.LB1, text, cfg.Socket)
	if m := d.metrics(); !strings.Contains(m, "director_backend_weight{") {
		t.Fatalf("http://127.0.0.1:9917/metrics of a director listening on localhost:9917:\n%.500s", m)
	}
	c := l.HTTPClient(lab.LB1, false)
	resp, err := c.Get("http://127.0.0.1:9917/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), `data-real="192.168.200.11:80"`) {
		t.Fatalf("status page: %s\n%.500s", resp.Status, body)
	}
}
