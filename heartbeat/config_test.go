package heartbeat

// Config.Validate: defaults filled in, every problem reported.

import (
	"fmt"
	"strings"
	"testing"
)

func TestConfigValidate(t *testing.T) {
	cases := []struct {
		name string
		cfg  Config
		err  string // "" if valid
		want Config // the defaults filled, if valid
	}{
		{name: "defaults", cfg: Config{Node: "lb1", Nodes: []string{"lb1", "lb2"}, Owner: "lb1"},
			want: Config{Node: "lb1", Nodes: []string{"lb1", "lb2"}, Owner: "lb1", Keepalive: sec, Deadtime: 5 * sec, Warntime: 2500 * ms, Initdead: 10 * sec}},
		{name: "sub-second", cfg: Config{Node: "lb2", Nodes: []string{"lb1", "lb2"}, Owner: "lb1", Keepalive: 100 * ms, Deadtime: 500 * ms},
			want: Config{Node: "lb2", Nodes: []string{"lb1", "lb2"}, Owner: "lb1", Keepalive: 100 * ms, Deadtime: 500 * ms, Warntime: 250 * ms, Initdead: sec}},
		{name: "one node", cfg: Config{Node: "lb1", Nodes: []string{"lb1"}, Owner: "lb1"}, err: "want exactly 2 names (the pair), got 1"},
		{name: "three nodes", cfg: Config{Node: "lb1", Nodes: []string{"lb1", "lb2", "lb3"}, Owner: "lb1"}, err: "got 3"},
		{name: "twice the same", cfg: Config{Node: "lb1", Nodes: []string{"lb1", "lb1"}, Owner: "lb1"}, err: "two distinct names"},
		{name: "node not in nodes", cfg: Config{Node: "lb3", Nodes: []string{"lb1", "lb2"}, Owner: "lb1"}, err: `node: "lb3" is not one of nodes`},
		{name: "owner missing", cfg: Config{Node: "lb1", Nodes: []string{"lb1", "lb2"}}, err: "owner: missing"},
		{name: "bad name", cfg: Config{Node: "lb 1", Nodes: []string{"lb 1", "lb2"}, Owner: "lb2"}, err: "want 1-64 letters, digits, '-' or '_', not starting with '_'"},
		{name: "keepalive not below deadtime", cfg: Config{Node: "lb1", Nodes: []string{"lb1", "lb2"}, Owner: "lb1", Keepalive: 5 * sec}, err: "keepalive 5s must be below deadtime 5s"},
		{name: "warntime not below deadtime", cfg: Config{Node: "lb1", Nodes: []string{"lb1", "lb2"}, Owner: "lb1", Warntime: 6 * sec}, err: "warntime 6s must be below deadtime 5s"},
		{name: "initdead below deadtime", cfg: Config{Node: "lb1", Nodes: []string{"lb1", "lb2"}, Owner: "lb1", Initdead: 2 * sec}, err: "initdead 2s must be at least deadtime 5s"},
		{name: "negative", cfg: Config{Node: "lb1", Nodes: []string{"lb1", "lb2"}, Owner: "lb1", Keepalive: -sec}, err: "keepalive: -1s is outside 10ms..1h0m0s"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := c.cfg
			err := cfg.Validate()
			if c.err == "" {
				if err != nil {
					t.Fatal(err)
				}
				if fmt.Sprint(cfg) != fmt.Sprint(c.want) {
					t.Fatalf("got %+v, want %+v", cfg, c.want)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Fatalf("error %v, want one containing %q", err, c.err)
			}
		})
	}
}

// The pair simulation: two machines on one fake clock, exchanging messages
// over a link that can be cut, with fake resources.

func TestValidNodeName(t *testing.T) {
	for name, want := range map[string]bool{
		"lb1": true, "lb-2": true, "lb_2": true, "-lb": true, strings.Repeat("n", MaxNameLen): true,
		"": false, "_lb1": false, "lb.1": false, "lb 1": false, "lb/1": false, strings.Repeat("n", MaxNameLen+1): false,
	} {
		if got := ValidNodeName(name); got != want {
			t.Errorf("ValidNodeName(%q) = %v, want %v", name, got, want)
		}
	}
	if !strings.Contains(NodeNameRule, fmt.Sprintf("1-%d ", MaxNameLen)) {
		t.Errorf("NodeNameRule %q does not say 1-%d", NodeNameRule, MaxNameLen)
	}
}
