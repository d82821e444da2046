package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/grafana/grafana-foundation-sdk/go/cog/plugins"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/grafana/grafana-foundation-sdk/go/prometheus"
)

const committed = "../director.json"

// TestCommittedDashboardIsCurrent: deploy/grafana/director.json is what
// gen writes (after changing a panel: go run ./deploy/grafana/gen -o
// deploy/grafana/director.json).
func TestCommittedDashboardIsCurrent(t *testing.T) {
	want, err := Dashboard()
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(committed)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s is stale: run go run ./deploy/grafana/gen -o deploy/grafana/director.json", committed)
	}
}

// TestDashboardLoads: the SDK reads the committed dashboard back; every
// panel has Prometheus queries on the templated data source, and every
// metric they name is one the director exports.
func TestDashboardLoads(t *testing.T) {
	plugins.RegisterDefaultPlugins()
	b, err := os.ReadFile(committed)
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard.Dashboard //nolint:staticcheck // the v1 schema gen writes on purpose
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatal(err)
	}
	var vars []string
	for _, v := range d.Templating.List {
		vars = append(vars, v.Name)
	}
	if strings.Join(vars, ",") != "datasource,instance,service,real,group" {
		t.Errorf("template variables %v, want datasource, instance, service, real, group", vars)
	}
	exported := exportedMetrics(t)
	metric := regexp.MustCompile(`director_[a-z_]+`)
	panels := 0
	for _, p := range d.Panels {
		if p.Panel == nil {
			continue // a row
		}
		panels++
		if len(p.Panel.Targets) == 0 {
			t.Errorf("panel %q has no query", deref(p.Panel.Title))
		}
		for _, tgt := range p.Panel.Targets {
			q, ok := tgt.(*prometheus.Dataquery)
			if !ok {
				t.Fatalf("panel %q: target %T, want a Prometheus query", deref(p.Panel.Title), tgt)
			}
			if q.Datasource == nil || deref(q.Datasource.Uid) != "${datasource}" {
				t.Errorf("panel %q: query not on ${datasource}", deref(p.Panel.Title))
			}
			names := metric.FindAllString(q.Expr, -1)
			if len(names) == 0 {
				t.Errorf("panel %q: %s reads no director metric", deref(p.Panel.Title), q.Expr)
			}
			for _, n := range names {
				if !exported[n] {
					t.Errorf("panel %q: %s is not a metric of control/metrics", deref(p.Panel.Title), n)
				}
			}
		}
	}
	if panels < 30 {
		t.Errorf("%d panels, want the 30 or more of the issue's list", panels)
	}
}

// exportedMetrics lists the metric names written in control/metrics.
func exportedMetrics(t *testing.T) map[string]bool {
	files, err := filepath.Glob("../../../control/metrics/*.go")
	if err != nil || len(files) == 0 {
		t.Fatalf("control/metrics: %v", err)
	}
	out := map[string]bool{}
	re := regexp.MustCompile(`"(director_[a-z_]+)"`)
	prefix := regexp.MustCompile(`"director_(backend|service)_"\+name`)
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range re.FindAllStringSubmatch(string(b), -1) {
			out[m[1]] = true
		}
		if prefix.Match(b) { // backend("weight", ...) and service("...", ...)
			for _, m := range regexp.MustCompile(`(backend|service)\("([a-z_]+)",`).FindAllStringSubmatch(string(b), -1) {
				out["director_"+m[1]+"_"+m[2]] = true
			}
		}
	}
	return out
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
