package metrics

// The status page: GET / on the metrics listener, the director at a
// glance for someone without a Prometheus and a Grafana of their own
// (what HAProxy's stats page is to HAProxy). One self-contained HTML
// page (inline CSS and SVG, no script, no external asset) that reloads
// itself every StatusRefresh; read-only (any other method is refused);
// every name goes through html/template's escaping.

import (
	_ "embed"
	"fmt"
	"html/template"
	"math"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/director-lb/director/control/model"
)

// StatusRefresh is how often the page reloads itself.
const StatusRefresh = 2 * time.Second

//go:embed statuspage.html
var statusHTML string

var statusTmpl = template.Must(template.New("status").Funcs(template.FuncMap{
	"rate":  fmtRate,
	"bytes": fmtBytes,
	"pct":   func(f float64) string { return fmt.Sprintf("%.1f %%", 100*f) },
	"ago":   func(d time.Duration) string { return d.Round(time.Millisecond).String() },
	"since": func(t time.Time) string { return time.Since(t).Round(time.Second).String() },
}).Parse(statusHTML))

// pageData is what the template shows.
type pageData struct {
	St        model.Status
	Refresh   int // seconds
	Generated string
	Fill      float64 // flow table use, 0..1
	FillWidth string  // the bar's width, CSS percent
	Services  []pageService
}

type pageService struct {
	model.ServiceStatus
	Name     string
	Up, All  int
	ConnRate float64
	Spark    template.HTML
	Reals    []pageReal
}

type pageReal struct {
	model.RealStatus
	Name                                         string
	ConnRate, PktsIn, PktsOut, BytesIn, BytesOut float64
	Spark                                        template.HTML
}

// StatusPage serves the page of status(), with rates and sparklines from
// hist (nil: none).
func StatusPage(status func() model.Status, hist *History) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/" {
			http.NotFound(w, r)
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "the status page is read-only", http.StatusMethodNotAllowed)
			return
		}
		d := newPageData(status(), hist)
		var b strings.Builder
		if err := statusTmpl.Execute(&b, d); err != nil {
			http.Error(w, "status page: "+err.Error(), http.StatusInternalServerError)
			return
		}
		h := w.Header()
		h.Set("Content-Type", "text/html; charset=utf-8")
		h.Set("Cache-Control", "no-store")
		// Nothing but this page's own inline style may load or run.
		h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; img-src data:")
		h.Set("X-Content-Type-Options", "nosniff")
		_, _ = fmt.Fprint(w, b.String()) // a client gone away is not our error
	})
}

func newPageData(st model.Status, hist *History) pageData {
	d := pageData{St: st, Refresh: int(StatusRefresh / time.Second), Generated: time.Now().UTC().Format(time.RFC3339)}
	if c := st.Stats.FlowCapacity; c > 0 {
		d.Fill = float64(st.Stats.FlowEntries) / float64(c)
	}
	d.FillWidth = fmt.Sprintf("%.1f%%", 100*math.Min(d.Fill, 1))
	for _, s := range st.Services {
		ps := pageService{ServiceStatus: s, Name: s.Proto.Upper() + " " + netip.AddrPortFrom(s.VIP, s.Port).String()}
		var rates Rates
		if hist != nil {
			rates = hist.Service(s.ServiceKey)
		}
		ps.ConnRate, _, _, _, _ = rates.Last()
		ps.Spark = sparkline(rates.Conns)
		for _, r := range s.Reals {
			pr := pageReal{RealStatus: r, Name: r.Key().String()}
			var rr Rates
			if hist != nil {
				rr = hist.Real(s.ServiceKey, r.Key())
			}
			pr.ConnRate, pr.PktsIn, pr.PktsOut, pr.BytesIn, pr.BytesOut = rr.Last()
			pr.Spark = sparkline(rr.Conns)
			ps.All++
			if r.Health != "down" {
				ps.Up++
			}
			ps.Reals = append(ps.Reals, pr)
		}
		d.Services = append(d.Services, ps)
	}
	return d
}

// sparkline draws v as an inline SVG polyline, 120x24, scaled to its
// maximum; only numbers go into it.
func sparkline(v []float64) template.HTML {
	const w, h = 120.0, 24.0
	if len(v) < 2 {
		return template.HTML(`<svg class="spark" width="120" height="24" viewBox="0 0 120 24" aria-label="no samples yet"></svg>`)
	}
	peak := 0.0
	for _, x := range v {
		peak = math.Max(peak, x)
	}
	var pts strings.Builder
	for i, x := range v {
		y := h - 1
		if peak > 0 {
			y = h - 1 - (h-2)*x/peak
		}
		fmt.Fprintf(&pts, "%.1f,%.1f ", w*float64(i)/float64(len(v)-1), y)
	}
	return template.HTML(fmt.Sprintf(`<svg class="spark" width="120" height="24" viewBox="0 0 120 24" aria-label="new connections per second, peak %.1f"><polyline points="%s"/></svg>`,
		peak, strings.TrimSpace(pts.String())))
}

func fmtRate(f float64) string {
	switch {
	case f >= 1e6:
		return fmt.Sprintf("%.1fM", f/1e6)
	case f >= 1e3:
		return fmt.Sprintf("%.1fk", f/1e3)
	case f >= 10 || f == 0:
		return fmt.Sprintf("%.0f", f)
	}
	return fmt.Sprintf("%.1f", f)
}

func fmtBytes(f float64) string {
	switch {
	case f >= 1<<30:
		return fmt.Sprintf("%.1f GiB", f/(1<<30))
	case f >= 1<<20:
		return fmt.Sprintf("%.1f MiB", f/(1<<20))
	case f >= 1<<10:
		return fmt.Sprintf("%.1f KiB", f/(1<<10))
	}
	return fmt.Sprintf("%.0f B", f)
}
