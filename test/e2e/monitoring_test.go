package e2e

// The monitoring kit against real servers (make test-monitoring): Debian's
// Prometheus, in the lab's client namespace, scrapes the pair's metrics
// listeners with the shipped deploy/prometheus/prometheus.yml (its targets
// are the seed's lb1 and lb2) and evaluates the shipped alerts.yml. Every
// query of the shipped Grafana dashboard and every alert expression is
// evaluated through Prometheus's HTTP API and printed with what it
// returned; each panel must return data. Then web1 fails (its links go
// down) and DirectorRealServerDown must fire for it, and lb1 crashes and
// DirectorPeerDead must fire on lb2, then resolve when lb1 is back.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/director-lb/director/test/lab"
	"github.com/director-lb/director/test/labrun"
	"github.com/director-lb/director/test/testenv"
)

// Scrape and rule evaluation intervals of the lab's Prometheus: the
// shipped file's 5s, shortened so that the test takes seconds.
const promInterval = "1s"

// promServer is Prometheus running in a lab node.
type promServer struct {
	t      *testing.T
	base   string
	client *http.Client
	log    *labrun.Log
}

// startPrometheus runs prometheus in lab node n on the shipped
// configuration and rules (intervals shortened), and waits until it is
// ready.
func startPrometheus(t *testing.T, l *lab.Lab, n string) *promServer {
	t.Helper()
	bin := testenv.RequireCommand(t, "prometheus", "prometheus")
	dir := t.TempDir()
	cfg, err := os.ReadFile("../../deploy/prometheus/prometheus.yml")
	if err != nil {
		t.Fatal(err)
	}
	short := regexp.MustCompile(`(?m)^(\s*(scrape|evaluation)_interval:) \S+`).ReplaceAll(cfg, []byte("${1} "+promInterval))
	if bytes.Equal(short, cfg) {
		t.Fatal("prometheus.yml: no intervals to shorten")
	}
	rules, err := os.ReadFile("../../deploy/prometheus/alerts.yml")
	if err != nil {
		t.Fatal(err)
	}
	for name, b := range map[string][]byte{"prometheus.yml": short, "alerts.yml": rules} {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	p := &promServer{t: t, base: "http://127.0.0.1:9090", client: l.HTTPClient(n, true), log: &labrun.Log{}}
	p.client.Timeout = 10 * time.Second
	cmd := l.Command(ctx, n, bin, "--config.file="+filepath.Join(dir, "prometheus.yml"),
		"--storage.tsdb.path="+filepath.Join(dir, "data"), "--web.listen-address=127.0.0.1:9090",
		"--log.level=warn")
	cmd.Stdout, cmd.Stderr = p.log, p.log
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Logf("prometheus stopped: %v", err) // killed by cancel
		}
		if t.Failed() {
			t.Logf("prometheus log:\n%s", p.log.String())
		}
	})
	p.poll("prometheus ready", 30*time.Second, func() (bool, string) {
		select {
		case err := <-done:
			done <- err
			t.Fatalf("prometheus exited: %v\n%s", err, p.log.String())
		default:
		}
		resp, err := p.client.Get(p.base + "/-/ready")
		if err != nil {
			return false, err.Error()
		}
		_ = resp.Body.Close()
		return resp.StatusCode == http.StatusOK, resp.Status
	})
	return p
}

// poll calls cond until it holds or within passes (then the test fails
// with cond's last word).
func (p *promServer) poll(what string, within time.Duration, cond func() (bool, string)) time.Duration {
	p.t.Helper()
	start := time.Now()
	for {
		ok, last := cond()
		if ok {
			return time.Since(start)
		}
		if time.Since(start) > within {
			p.t.Fatalf("%s: not within %v (last: %s)", what, within, last)
		}
		time.Sleep(200 * time.Millisecond) // polling a condition with a deadline
	}
}

// sample is one series of an instant query's answer.
type sample struct {
	Metric map[string]string `json:"metric"`
	Value  [2]any            `json:"value"`
}

func (s sample) String() string {
	var labels []string
	for k, v := range s.Metric {
		if k != "job" && k != "__name__" {
			labels = append(labels, k+"="+v)
		}
	}
	sort.Strings(labels)
	return fmt.Sprintf("{%s} %v", strings.Join(labels, ","), s.Value[1])
}

// query evaluates expr now.
func (p *promServer) query(expr string) ([]sample, error) {
	var r struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Data   struct {
			ResultType string   `json:"resultType"`
			Result     []sample `json:"result"`
		} `json:"data"`
	}
	if err := p.get("/api/v1/query?query="+url.QueryEscape(expr), &r); err != nil {
		return nil, err
	}
	if r.Status != "success" {
		return nil, fmt.Errorf("%s: %s", expr, r.Error)
	}
	return r.Data.Result, nil
}

// alert is one alert of /api/v1/alerts.
type alert struct {
	Labels map[string]string `json:"labels"`
	State  string            `json:"state"`
	Value  string            `json:"value"`
}

// alerts lists the pending and firing alerts.
func (p *promServer) alerts() ([]alert, error) {
	var r struct {
		Data struct {
			Alerts []alert `json:"alerts"`
		} `json:"data"`
	}
	err := p.get("/api/v1/alerts", &r)
	return r.Data.Alerts, err
}

// firing returns the firing alerts named name whose labels include want.
func (p *promServer) firing(name string, want map[string]string) ([]alert, string) {
	all, err := p.alerts()
	if err != nil {
		return nil, err.Error()
	}
	var out []alert
	var seen []string
	for _, a := range all {
		seen = append(seen, a.Labels["alertname"]+"/"+a.State)
		if a.Labels["alertname"] != name || a.State != "firing" {
			continue
		}
		match := true
		for k, v := range want {
			match = match && a.Labels[k] == v
		}
		if match {
			out = append(out, a)
		}
	}
	return out, fmt.Sprint(seen)
}

func (p *promServer) get(path string, v any) error {
	resp, err := p.client.Get(p.base + path)
	if err != nil {
		return err
	}
	defer func() { _ = resp.Body.Close() }()
	return json.NewDecoder(resp.Body).Decode(v)
}

// threshold splits an alert expression into the quantity and its final
// comparison with a number.
var threshold = regexp.MustCompile(`^(.*?)\s*(?:==|!=|>=|<=|>|<)\s*[0-9.]+$`)

// panelQuery is one query of the dashboard.
type panelQuery struct{ panel, expr string }

// dashboardQueries reads every panel's queries from the shipped
// dashboard, with the template variables set to All and the rate
// interval to a few scrapes.
func dashboardQueries(t *testing.T) []panelQuery {
	t.Helper()
	b, err := os.ReadFile("../../deploy/grafana/director.json")
	if err != nil {
		t.Fatal(err)
	}
	type panel struct {
		Title   string `json:"title"`
		Targets []struct {
			Expr string `json:"expr"`
		} `json:"targets"`
		Panels []json.RawMessage `json:"panels"`
	}
	var d struct {
		Panels []panel `json:"panels"`
	}
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatal(err)
	}
	vars := strings.NewReplacer(`"$instance"`, `".*"`, `"$service"`, `".*"`, `"$real"`, `".*"`, `"$group"`, `".*"`, "$__rate_interval", "10s")
	var out []panelQuery
	for _, p := range d.Panels {
		for _, tg := range p.Targets {
			expr := vars.Replace(tg.Expr)
			if strings.Contains(expr, "$") {
				t.Fatalf("panel %q: unknown variable in %s", p.Title, expr)
			}
			out = append(out, panelQuery{p.Title, expr})
		}
	}
	return out
}

// alertRules reads the shipped alert rules.
func alertRules(t *testing.T) []panelQuery {
	t.Helper()
	b, err := os.ReadFile("../../deploy/prometheus/alerts.yml")
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Groups []struct {
			Rules []struct {
				Alert string `yaml:"alert"`
				Expr  string `yaml:"expr"`
			} `yaml:"rules"`
		} `yaml:"groups"`
	}
	if err := yaml.Unmarshal(b, &f); err != nil {
		t.Fatal(err)
	}
	var out []panelQuery
	for _, g := range f.Groups {
		for _, r := range g.Rules {
			out = append(out, panelQuery{r.Alert, r.Expr})
		}
	}
	return out
}

func TestMonitoringAgainstLabPair(t *testing.T) {
	testenv.RequirePrivileged(t)
	testenv.RequireCommand(t, "prometheus", "prometheus")
	start := time.Now()
	p := startWatchedPair(t)

	prom := startPrometheus(t, p.l, lab.Client)
	lb1, lb2 := lab.LB1PubAddr+":9917", lab.LB2PubAddr+":9917"
	took := prom.poll("both directors scraped", 30*time.Second, func() (bool, string) {
		s, err := prom.query(`up{job="director"} == 1`)
		return err == nil && len(s) == 2, fmt.Sprint(s, err)
	})
	t.Logf("both directors up in Prometheus after %v", took.Round(time.Millisecond))
	// A rate over 10s needs several scrapes of each.
	prom.poll("8 scrapes of each director in 10s", 30*time.Second, func() (bool, string) {
		s, err := prom.query(`count_over_time(up{job="director"}[10s]) >= 8`)
		return err == nil && len(s) == 2, fmt.Sprint(s, err)
	})

	// Every panel returns data once a few scrapes are in (rates need two).
	queries := dashboardQueries(t)
	prom.poll("every panel returns data", 30*time.Second, func() (bool, string) {
		byPanel := map[string]bool{}
		for _, q := range queries {
			s, err := prom.query(q.expr)
			if err != nil {
				t.Fatalf("panel %q: %v", q.panel, err)
			}
			byPanel[q.panel] = byPanel[q.panel] || len(s) > 0
		}
		for panel, ok := range byPanel {
			if !ok {
				return false, "no data for panel " + panel
			}
		}
		return true, ""
	})
	panels := map[string]bool{}
	for _, q := range queries {
		s, _ := prom.query(q.expr)
		panels[q.panel] = true
		t.Logf("panel %q: %s\n    = %s", q.panel, q.expr, summary(s))
	}
	t.Logf("%d panels, %d queries, each panel with data", len(panels), len(queries))

	rules := alertRules(t)
	for _, r := range rules {
		s, err := prom.query(r.expr)
		if err != nil {
			t.Fatalf("alert %s: %v", r.panel, err)
		}
		t.Logf("alert %s (healthy pair): %s\n    = %s", r.panel, r.expr, summary(s))
		if m := threshold.FindStringSubmatch(r.expr); m != nil {
			s, err := prom.query(m[1])
			if err != nil {
				t.Fatalf("alert %s without its threshold: %v", r.panel, err)
			}
			t.Logf("    without its threshold (%s): %s", strings.TrimSpace(r.expr[len(m[1]):]), summary(s))
		}
	}
	for _, a := range mustAlerts(t, prom) {
		if a.State == "firing" {
			t.Errorf("alert firing for a healthy pair: %+v", a)
		} else {
			t.Logf("pending for a healthy pair (pair and Prometheus just started): %+v", a)
		}
	}

	// web1 fails: its links go down and its health checks time out.
	failed := time.Now()
	if err := p.l.SetLinks(lab.Web1, false); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"remote_address": lab.Web1Addr, "instance": lb1}
	took = prom.poll("DirectorRealServerDown fires for web1 on lb1", 60*time.Second, func() (bool, string) {
		a, seen := prom.firing("DirectorRealServerDown", want)
		return len(a) > 0, seen
	})
	a, _ := prom.firing("DirectorRealServerDown", map[string]string{})
	t.Logf("web1 down: DirectorRealServerDown firing %v after the failure (%v after polling began): %v",
		time.Since(failed).Round(time.Millisecond), took.Round(time.Millisecond), a)
	if a, _ := prom.firing("DirectorServiceDown", nil); len(a) > 0 {
		t.Errorf("DirectorServiceDown fired with web2 up: %v", a)
	}
	for _, r := range rules {
		s, _ := prom.query(r.expr)
		t.Logf("alert %s (web1 down): %s", r.panel, summary(s))
	}
	if err := p.l.SetLinks(lab.Web1, true); err != nil {
		t.Fatal(err)
	}

	// lb1 crashes: lb2 stops hearing it.
	crashed := time.Now()
	p.crash(lab.LB1)
	peer := map[string]string{"instance": lb2, "peer": p.names[lab.LB1]}
	prom.poll("DirectorPeerDead fires on lb2", 30*time.Second, func() (bool, string) {
		a, seen := prom.firing("DirectorPeerDead", peer)
		return len(a) > 0, seen
	})
	a, _ = prom.firing("DirectorPeerDead", nil)
	t.Logf("lb1 crashed: DirectorPeerDead firing %v after the crash: %v", time.Since(crashed).Round(time.Millisecond), a)
	for _, r := range rules {
		s, _ := prom.query(r.expr)
		t.Logf("alert %s (lb1 crashed): %s", r.panel, summary(s))
	}

	// lb1 comes back: lb2 hears it again and the alert resolves.
	back := time.Now()
	if err := p.l.SetLinks(lab.LB1, true); err != nil {
		t.Fatal(err)
	}
	p.start(lab.LB1)
	prom.poll("DirectorPeerDead resolves", 30*time.Second, func() (bool, string) {
		all, err := prom.alerts()
		if err != nil {
			return false, err.Error()
		}
		for _, a := range all {
			if a.Labels["alertname"] == "DirectorPeerDead" {
				return false, fmt.Sprint(a)
			}
		}
		return true, ""
	})
	t.Logf("lb1 back: DirectorPeerDead resolved %v after lb1 restarted", time.Since(back).Round(time.Millisecond))
	t.Logf("monitoring test took %v", time.Since(start).Round(time.Second))
}

func mustAlerts(t *testing.T, p *promServer) []alert {
	t.Helper()
	a, err := p.alerts()
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// startWatchedPair starts the pair with fast timers and metrics on every
// address (for Prometheus and the browser in the client namespace), waits
// until lb1 is active and lb2 standby, and runs a client loop through the
// VIP until the test ends.
func startWatchedPair(t *testing.T) *haPair {
	t.Helper()
	p := startPairWith(t, &haPair{timers: haTimers{200 * time.Millisecond, time.Second}, failback: true,
		metrics: "0.0.0.0:9917"})
	p.waitHolders([]string{lab.LB1}, 15*time.Second)
	p.waitState(lab.LB1, "active", 10*time.Second)
	p.waitState(lab.LB2, "standby", 10*time.Second)
	loop := p.l.StartClientLoop()
	t.Cleanup(loop.Stop)
	return p
}

// summary prints a query's answer: its series, at most 6.
func summary(s []sample) string {
	if len(s) == 0 {
		return "(no series)"
	}
	var parts []string
	for i, x := range s {
		if i == 6 {
			parts = append(parts, fmt.Sprintf("... %d series in all", len(s)))
			break
		}
		parts = append(parts, x.String())
	}
	return strings.Join(parts, "; ")
}
