// Package deploy holds what users deploy next to the director: the
// Prometheus configuration and alert rules (prometheus/), the Grafana
// dashboard (grafana/). Its tests check them with the real tools.
package deploy

import (
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/director-lb/director/test/testenv"
)

// promtool runs promtool with args in dir and returns its output; a
// failure fails the test with the output.
func promtool(t *testing.T, dir string, args ...string) string {
	t.Helper()
	bin := testenv.RequireCommand(t, "promtool", "prometheus")
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// TestPrometheusConfig: promtool accepts the configuration and the rules.
func TestPrometheusConfig(t *testing.T) {
	promtool(t, "prometheus", "check", "config", "prometheus.yml")
	out := promtool(t, "prometheus", "check", "rules", "alerts.yml")
	t.Log(out)
}

// TestAlertRules runs the rules' unit tests (prometheus/alerts_test.yml)
// and checks that every alert of alerts.yml has one.
func TestAlertRules(t *testing.T) {
	out := promtool(t, "prometheus", "test", "rules", "alerts_test.yml")
	if !strings.Contains(out, "SUCCESS") {
		t.Fatalf("promtool test rules: no SUCCESS in\n%s", out)
	}
	t.Log(out)
	names := alertNames(t)
	if len(names) == 0 {
		t.Fatal("no alerts in alerts.yml")
	}
	var tests struct {
		Tests []struct {
			AlertRuleTest []struct {
				Alertname string           `yaml:"alertname"`
				ExpAlerts []map[string]any `yaml:"exp_alerts"`
			} `yaml:"alert_rule_test"`
		} `yaml:"tests"`
	}
	readYAML(t, "prometheus/alerts_test.yml", &tests)
	fires := map[string]bool{}
	for _, tc := range tests.Tests {
		for _, a := range tc.AlertRuleTest {
			if len(a.ExpAlerts) > 0 {
				fires[a.Alertname] = true
			}
		}
	}
	for _, n := range names {
		if !fires[n] {
			t.Errorf("alert %s has no test in alerts_test.yml where it fires", n)
		}
	}
}

// rule is one alert of alerts.yml.
type rule struct {
	Alert string `yaml:"alert"`
	Expr  string `yaml:"expr"`
}

// alertRules reads prometheus/alerts.yml.
func alertRules(t testing.TB) []rule {
	var f struct {
		Groups []struct {
			Rules []rule `yaml:"rules"`
		} `yaml:"groups"`
	}
	readYAML(t, "prometheus/alerts.yml", &f)
	var out []rule
	for _, g := range f.Groups {
		out = append(out, g.Rules...)
	}
	return out
}

// alertNames lists the alerts of alerts.yml.
func alertNames(t testing.TB) []string {
	var names []string
	for _, r := range alertRules(t) {
		if !slices.Contains(names, r.Alert) {
			names = append(names, r.Alert)
		}
	}
	return names
}

func readYAML(t testing.TB, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}
