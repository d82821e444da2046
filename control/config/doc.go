// Package config reads the configuration file: the YAML file that
// `director run --config` reads at start and on every reload, and that
// `director validate` checks. Load and Parse turn it into a model.Config
// with every default applied, or into an *Error listing every problem of
// the file at once, each as "file:line: reason", in line order, so that
// one run of `director validate` shows everything to fix. One file per
// section: top.go (top level and small sections), services.go,
// health.go, ha.go; yaml.go reads values, syntax.go explains parser
// errors. Valid scheduler names come from model's scheduler registry, the
// ha section's defaults and limits from package heartbeat.
//
// The file is decoded into yaml.v3's node tree and walked here, rather than
// decoded into structs, so that each problem carries the line of the
// offending key or value and no problem hides another. Aliases are
// followed and merge keys ("<<") are honoured (keys written in the mapping
// win over merged ones). Only the first YAML document is the
// configuration.
//
// Rules and their reasons (exact wording; <v> is the value as written,
// Go-quoted where shown as %q, N a line number):
//
//   - syntax: one problem at the parser's line, "yaml: <the parser's
//     message>" (yaml.v3 reports parser errors one line early; that is
//     corrected here), with " (a tab: indent YAML with spaces)" added when
//     a tab indents that line. No other problem is reported with it.
//   - a second document: `more than one YAML document ("---"): the
//     configuration is the first one only`, at the second's line.
//   - the top level is not a mapping: `want a mapping at top level, got <d>`
//     where <d> is "a mapping", "a list", "nothing" (null) or the quoted
//     scalar.
//   - unknown keys: `unknown key %q <where>`, where is "at top level",
//     "in interfaces", "in ipvs", "in flow_table", "in timeouts", "in
//     metrics", "in service", "in real server", "in health_check" (a
//     service's or a real server's), "in sorry_server", "in ha", "in
//     ha.transport" (a link), "in ha.auth", "in ha.arp", "in ha.resources",
//     "in ha.resources.addresses" (an address), "in ha.sync" or "in
//     ha.sync.transport" (a sync link); a key that is not a scalar: `want a
//     key name <where>, got <d>`; a merge key whose value is not mappings:
//     `<<: want a mapping or a list of mappings, got <d>`.
//   - ha.sync: `ha.sync: want a mapping, got <d>`; enabled: `want true or
//     false`; failback_wait: a duration as the ha timers, `is outside
//     0s..1h`; transport: as ha.transport, named "ha.sync.transport" in
//     reasons, its port 695 (the heartbeat's + 1) by default.
//   - duplicate keys in one mapping: `duplicate key %q (first at line N)`;
//     the first one counts.
//   - missing required keys, at the line of the mapping that lacks them
//     (line 1 for the top level, the section's key, the list item):
//     `missing key "node"`, `missing key "interfaces"`, `interfaces:
//     missing key "public"` (and "internal"), `service: missing key "vip"`
//     (and "port"), `real server: missing key "address"`, `ha: missing key
//     "nodes"` (and "transport", "auth", "resources"), `ha.transport:
//     missing key "mode"` (and "interface"; at the transport key for one
//     link, at the list item for a list of links), `ha.transport: missing
//     key "group" (mode mcast)`, `ha.transport: missing key "peer" (mode
//     ucast)`, `ha.auth: missing key "key_file"`, `ha.resources: missing
//     key "owner"` (and "addresses"), `ha.resources.addresses: missing key
//     "address"` (and "interface", at the list item).
//   - wrong types and values, at the value's line: `<key>: want <what>, got
//     <d>`, <key> being the key as written for service and real server keys
//     ("vip", "port", "weight", ...) and section.key for the sections'
//     ("interfaces.public", "flow_table.size", "timeouts.tcp",
//     "metrics.listen") and the full path for the ha section's, a list's
//     items and its items' keys included ("ha.nodes", "ha.transport.port",
//     "ha.resources.addresses.address"), and <what>:
//     node, ha.nodes (each item), ha.resources.owner: `1-64 letters,
//     digits, '-' or '_', not starting with '_'`; interfaces.*,
//     ha.transport.interface, ha.resources.addresses.interface: `an
//     interface name (1-15 bytes, no '/', ':' or whitespace, not "." or
//     "..")`; dataplane: `auto, xdp, xdp-generic, tc or ipvs`; tc_attach:
//     `auto, tcx or clsact`;
//     control_socket: `an absolute path` and `a path of at most 107 bytes
//     (a unix socket's limit)`; flow_table.size: `an integer
//     1024-67108864`; timeouts.*: `a duration ("900s", "15m", "1h") or a
//     number of seconds`; protocol: `tcp or udp`; scheduler: `rr, wrr, lc, wlc, sh, sed, nq or mh`
//     (with dataplane ipvs: `rr, wrr, lc, wlc, sh, dh, sed, nq, lblc,
//     lblcr, mh, fo, ovf or twos`); ipvs.sync_interface: an interface
//     name; ipvs.sync_id: `an integer 0-255`; ipvs.conntrack: `true or
//     false`;
//     vip, address: `an IPv4 address`; port: `an integer 1-65535`; weight:
//     `an integer 0-65535`; metrics.listen: `host:port, IP:port or
//     :port (port 1-65535)` (a host name is checked for its form, and
//     resolved by the daemon when it listens); ha.transport: `a mapping or a list of mappings`;
//     ha.transport.mode: `bcast, mcast or ucast`; ha.transport.port: `an
//     integer 1-65535`; ha.transport.group: `an IPv4 multicast address`;
//     ha.transport.ttl: `an integer 1-255`; ha.transport.peer: `an IPv4
//     address`; ha.keepalive, ha.deadtime, ha.warntime, ha.initdead,
//     ha.arp.interval: `a duration ("100ms", "1s", "2m") or a number of
//     seconds`; ha.auth.method: `sha256, sha1 or md5`; ha.auth.key_file:
//     `an absolute path`; ha.auto_failback: `true or false`; ha.arp.count:
//     `an integer 1-100`; ha.resources.addresses.address: `an IPv4 address
//     with a prefix length ("192.168.56.10/24")`; interfaces, flow_table,
//     timeouts, metrics, a service, a real server, ha, ha.auth, ha.arp,
//     ha.resources, a link, an address: `a mapping` (as "service: ...",
//     "real server: ...", "ha.transport: ..." and "ha.resources.addresses:
//     ..." for list items); services, real_servers, ha.nodes,
//     ha.resources.addresses: `a list`. A null value of a section or a list
//     is an empty one (ha.transport: an empty link); of a scalar key it is
//     "nothing".
//   - integers out of range: `<key>: <v> is outside <lo>..<hi>` (port,
//     weight, flow_table.size); timeouts: `timeouts.tcp: <v> is outside
//     1s..576h` (an integer v is shown as "<v>s") and `timeouts.tcp: <v> is
//     not a whole number of seconds`. 576h stays below INT_MAX/HZ seconds
//     for HZ up to 1024, the most `ipvsadm --set` accepts. ha.transport.ttl
//     1..255, ha.arp.count 1..100; the ha timers: `ha.keepalive: <v> is
//     outside 10ms..1h` (sub-second values allowed), `ha.arp.interval: <v>
//     is outside 10ms..10s`; `ha.resources.addresses.address: prefix
//     length <n> is outside 1..32`.
//   - IPVS schedulers the BPF data planes lack (dh, lblc, lblcr, fo, ovf,
//     twos) on another data plane than ipvs: `scheduler %q needs
//     dataplane: ipvs (the BPF data planes implement rr, wrr, lc, wlc, sh,
//     sed, nq and mh)`; sctp:
//     `protocol "sctp" is not implemented (tcp, udp)`; an ipvs section
//     with dataplane xdp, xdp-generic or tc: `ipvs: only for dataplane ipvs or
//     auto, got dataplane <d>`, at the key.
//   - addresses (vip, address): `<key>: invalid IPv4 address %q`, `<key>:
//     IPv6 address %q is not supported yet`, `<key>: unspecified address
//     %q is not allowed` (0.0.0.0), and likewise "loopback address",
//     "multicast address", "broadcast address" (255.255.255.255); the same
//     for ha.transport.peer and ha.resources.addresses.address (whose %q
//     shows the prefix length too).
//   - duplicate services (vip, port, protocol), at the second's list item:
//     `duplicate service tcp 192.168.56.10:80 (first at line N)`; duplicate
//     real servers (address, port) in a service: `duplicate real server
//     192.168.200.11:80 in service tcp 192.168.56.10:80 (first at line
//     N)`. Entries with an invalid part are not compared.
//   - `more than 65536 real servers in all`, at the first one too many
//     (aliases could otherwise make a small file huge).
//   - ha.nodes: `ha.nodes: want 2 node names, got <n>` at the key;
//     `duplicate ha node "lb1" (first at line N)` at the second; `ha.nodes:
//     this node "lb3" is not in [lb1 lb2]` at the key when node is not one
//     of them. `ha.resources.owner: "lb3" is not in ha.nodes [lb1 lb2]`.
//   - ha.transport: `ha.transport: want at least one link` (an empty
//     list); a key of another mode: `ha.transport.<key>: only for mode
//     <mode>` (group, ttl: mcast; peer: ucast), at the key; two links of
//     the same mode, interface, port and group or peer (ttl aside):
//     `duplicate ha link <link> (first at line N)` at the second's list
//     item, <link> as "bcast enp0s3 port 694", "mcast enp0s3 239.0.0.1
//     port 694" or "ucast enp0s8 192.168.200.252 port 694". With an
//     invalid mode, the other keys' values are checked but not the mode's
//     rules.
//   - ha timers: keepalive < deadtime, warntime < deadtime, initdead >=
//     deadtime, reported at the later key's line (at the ha key's if one is
//     a default), the later key (or the one written) being the subject:
//     `ha.deadtime: 1s must be longer than ha.keepalive (2s)`,
//     `ha.keepalive: 2s must be shorter than ha.deadtime (1s)`, likewise for
//     warntime, `ha.initdead: 3s must be at least ha.deadtime (5s)`,
//     `ha.deadtime: 20s must be at most ha.initdead (10s)`; a default is
//     shown as "(5s, the default)". Values are shown as written ("<v>s" for
//     a number of seconds).
//   - ha.resources.addresses: `ha.resources.addresses: want at least one
//     address` (an empty list), at the key; an address that is not a host
//     of its prefix (/1-/30): `ha.resources.addresses.address:
//     "192.168.56.0/24" is the network address of its prefix, not a host
//     address` (and "the broadcast address"); the same address twice, with
//     any prefix length or interface: `duplicate ha address 192.168.56.10
//     (first at line N)` at the second's list item. Entries with an invalid
//     part are not compared.
//   - health_check (of a service, or of a real server, whose keys replace
//     the service's key by key), its keys named "health_check.<key>" in
//     reasons: `health_check: want a mapping, got <d>`; type: `want tcp,
//     http, https, command or none`; interval: `a duration ("100ms", "1s",
//     "2m") or a number of seconds` and `health_check.interval: <v> is
//     outside 50ms..1h`; timeout likewise, 10ms..1h; rise, fall: `an
//     integer 1-100`; port: `an integer 1-65535`; path: `a path starting
//     with "/" ("/health")` (no whitespace, a valid request URI);
//     expect_status: `an integer 100-599`; expect_body: `a string`; host:
//     `a host name or address, with an optional port ("www.example.com")`;
//     on_failure: `quiesce or remove`; command: `a list of strings (the
//     program's absolute path, then its arguments)`, `health_check.command:
//     want at least the program's path` (an empty list),
//     `health_check.command: want a string without NUL bytes, got %q` (an
//     item, at its line),
//     `health_check.command: want a string, got <d>` (an item, at its
//     line), `health_check.command: want an absolute path first, got %q`.
//     A key written for a type it does not belong to, at the key:
//     `health_check.<key>: only for type http or https` (path,
//     expect_status, expect_body, host), `only for type command`
//     (command), `only for type tcp, http, https or command` (interval,
//     timeout, rise, fall, port, on_failure: not for type none). At the
//     health_check key: `health_check: missing key "command" (type
//     command)` where type command is written without a command in the
//     check; `health_check: missing key "type" (a udp service has no
//     default check)` for keys written without a type where the check is a
//     udp service's default (none). The timeout must be at most the
//     interval, as the ha timers' order (at the later key's line, or at
//     the one written): `health_check.timeout: 3s must be at most
//     health_check.interval (2s)`, `health_check.interval: 500ms must be at
//     least health_check.timeout (1s)`, the other value shown as "(2s, the
//     default)" or, in a real server's check, "(1s, the service's)". With
//     an invalid type, the keys' values are checked but not the type's
//     rules.
//   - scheduler_flags (a service's): `scheduler_flags: want a list, got
//     <d>`; each item `scheduler_flags: want sh-fallback, sh-port,
//     mh-fallback or mh-port, got %q` and `scheduler_flags: sh-port is
//     only for scheduler sh, got scheduler wlc`, at the item; a flag
//     written twice counts once. persistence: `persistence: want a
//     mapping, got <d>`, unknown keys `unknown key %q in persistence`;
//     timeout as timeouts.* ("persistence.timeout", 300s when not
//     written); netmask `persistence.netmask: want an IPv4 netmask
//     ("255.255.255.0"), got %q` (contiguous ones, 255.255.255.255 when not
//     written). A real server's upper_threshold and lower_threshold: `an
//     integer 0-2147483647` (0: none), and `lower_threshold: <l> must be
//     below upper_threshold (<u>)` at the lower_threshold key when both
//     are set.
//   - mh_table_size (a service's): an integer 251-131071 (`mh_table_size:
//     want an integer 251-131071, got <d>`, `mh_table_size: <v> is
//     outside 251..131071`), `mh_table_size: only for scheduler mh, got
//     scheduler wlc` at the key, `mh_table_size: 4000 is not one of IPVS's
//     table sizes (251, 509, ... or 131071)` (model.MHTableSizes), and
//     with dataplane ipvs any size but 4093 `mh_table_size: 8191 needs
//     dataplane xdp, xdp-generic, tc or auto: kernel IPVS's table size is
//     its compile option CONFIG_IP_VS_MH_TAB_INDEX (4093 by default, index
//     12)`, at the value. The default size is kept as 0 in model.Service
//     (see its MHSize).
//   - sorry_server: `sorry_server: want a mapping, got <d>`,
//     `sorry_server: missing key "address"` (at the key), address and port
//     as a real server's ("sorry_server.address", "sorry_server.port");
//     `sorry_server: 192.168.200.11:80 is also a real server of the service
//     (line N)`, at the key.
//
// Integers are read as YAML reads them (0x50, 1_000 are integers; "80"
// quoted is a string, refused as a port). A timeout is a Go duration or an
// integer (or a string of decimal digits) of seconds. An ha timer, and a
// health check's interval and timeout, are a Go duration or a number of
// seconds that may have decimals ("0.5"). A health check's command list
// shared by many real servers through an alias is checked once. Booleans
// are YAML's true and false only. ha.auth.key_file is not read here (the
// daemon checks the file and its mode at start).
//
// Defaults: dataplane auto, ipvs.sync_interface the internal interface,
// ipvs.sync_id 0, ipvs.conntrack false, control_socket /run/director/<node>.sock,
// flow_table.size 262144, timeouts DefaultTimeouts, protocol tcp, scheduler
// wrr, real server port the service's, weight 1; no metrics section (or no
// listen) means no metrics endpoint; services and real_servers may be
// absent or empty (a service without real servers drops new connections,
// as IPVS does). No ha section means no HA (model.Config.HA nil); in it,
// transport port 694, mcast ttl 1, keepalive 1s, deadtime 5s, warntime
// deadtime/2, initdead 2×deadtime, auth.method sha256, auto_failback true,
// arp count 5 and interval 200ms.
//
// Health checks (model.Config.Health; package health runs them): a tcp
// service without health_check gets {type: tcp, interval: 2s, timeout:
// 1s, rise: 2, fall: 3, on_failure: quiesce} (HAProxy's defaults); a udp
// service none (a TCP connect says nothing of a UDP service): it is
// checked only when a health_check writes its type. An unwritten timeout is 1s or the interval if shorter;
// http and https default to path "/" and expect_status 200, with no
// expect_body and no host (the Host header is then address:port). A real
// server's health_check replaces its service's keys one by one; a real
// server that changes the type drops the service's keys the new type
// does not have (a command when going from command to http, say). No
// sorry_server means none; its port defaults to the service's, and it is
// not checked.
package config
