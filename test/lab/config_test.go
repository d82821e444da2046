package lab

import (
	"testing"
	"time"

	"github.com/director-lb/director/control/config"
)

// The rendered pair configuration is valid and says what was asked.
func TestPairConfigValid(t *testing.T) {
	for _, c := range []PairConfig{
		{Node: "x-lb1", Peer: "x-lb2", Owner: "x-lb1", Socket: "/run/director/x-lb1.sock", KeyFile: "/tmp/k",
			Keepalive: time.Second, Deadtime: 5 * time.Second, AutoFailback: true},
		{Node: "x-lb2", Peer: "x-lb1", Owner: "x-lb1", Socket: "/run/director/x-lb2.sock", KeyFile: "/tmp/k",
			Keepalive: 100 * time.Millisecond, Deadtime: 500 * time.Millisecond, ARPCount: 3,
			ARPInterval: 50 * time.Millisecond, MetricsListen: "127.0.0.1:9917"},
	} {
		cfg, err := config.Parse("pair.yaml", []byte(c.YAML()))
		if err != nil {
			t.Fatalf("%s:\n%s", err, c.YAML())
		}
		h := cfg.HA
		if cfg.Node != c.Node || h == nil || len(h.Groups) != 1 || h.Groups[0].Owner != c.Owner || h.Keepalive != c.Keepalive ||
			h.Deadtime != c.Deadtime || h.AutoFailback != c.AutoFailback || len(h.Groups[0].Addresses) != 2 ||
			cfg.MetricsListen != c.MetricsListen || (c.ARPCount > 0 && h.ARPCount != c.ARPCount) {
			t.Errorf("parsed %+v / %+v from\n%s", cfg, h, c.YAML())
		}
	}
}
