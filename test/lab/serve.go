// This file holds the lab's test servers: an HTTP server that names the
// node that answered (and streams deterministic bulk data for long
// downloads) and a UDP echo server, both listening inside a node's
// namespace and stopped by Close at the latest.

package lab

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// ServedByHeader is the response header in which ServeHTTP names its node.
const ServedByHeader = "X-Served-By"

// ServeHTTP starts a Go net/http server listening on addr (e.g. ":80")
// inside node's namespace. Every response carries the header
// "X-Served-By: <node>". GET /bytes?n=N answers N bytes of DataReader's
// stream (with Content-Length), at most rate bytes per second when the
// optional rate=R parameter is given; every other request is answered with
// "<node>\n". stop closes the server and its connections; it is idempotent
// and Close calls it too.
func (l *Lab) ServeHTTP(node, addr string) (stop func(), err error) {
	if err := l.check(node, false); err != nil {
		return nil, err
	}
	ln, err := l.Listen(node, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("serve http: %w", err)
	}
	srv := &http.Server{Handler: Handler(node), ReadHeaderTimeout: 10 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(ln) // returns http.ErrServerClosed when stop closes it
	}()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			_ = srv.Close()
			<-done
		})
	}
	if err := l.track(stop); err != nil {
		stop()
		return nil, err
	}
	return stop, nil
}

// Handler is the HTTP handler ServeHTTP runs for node.
func Handler(node string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set(ServedByHeader, node)
		if r.URL.Path == "/bytes" {
			serveBytes(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = io.WriteString(w, node+"\n") // a client that hung up gets nothing more
	})
}

func serveBytes(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	n, err := strconv.ParseInt(q.Get("n"), 10, 64)
	if err != nil || n < 0 {
		http.Error(w, "want n=<bytes>", http.StatusBadRequest)
		return
	}
	var rate int64
	if s := q.Get("rate"); s != "" {
		rate, err = strconv.ParseInt(s, 10, 64)
		if err != nil || rate <= 0 {
			http.Error(w, "want rate=<bytes per second>", http.StatusBadRequest)
			return
		}
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Length", strconv.FormatInt(n, 10))
	if r.Method == http.MethodHead {
		return
	}
	chunk := int64(32 << 10)
	if rate > 0 {
		// About 20 writes a second, so the pace is smooth.
		chunk = min(chunk, max(rate/20, 1))
	}
	flusher, _ := w.(http.Flusher)
	src := DataReader()
	buf := make([]byte, chunk)
	start := time.Now()
	var sent int64
	for sent < n {
		m := min(chunk, n-sent)
		_, _ = src.Read(buf[:m]) // fills buf and never fails
		if _, err := w.Write(buf[:m]); err != nil {
			return
		}
		sent += m
		if rate > 0 {
			if flusher != nil {
				flusher.Flush()
			}
			due := start.Add(time.Duration(float64(sent) / float64(rate) * float64(time.Second)))
			if d := time.Until(due); d > 0 {
				select {
				case <-time.After(d):
				case <-r.Context().Done():
					return
				}
			}
		}
	}
}

// DataReader returns a reader of the endless deterministic byte stream
// whose first N bytes GET /bytes?n=N answers. Its reads never fail. The
// stream is pseudo-random (splitmix64 of the 8-byte word index), so
// misplaced or repeated segments change its checksum.
func DataReader() io.Reader { return &dataReader{} }

type dataReader struct {
	off uint64
}

func (d *dataReader) Read(p []byte) (int, error) {
	n := len(p)
	var word [8]byte
	for len(p) > 0 {
		binary.LittleEndian.PutUint64(word[:], splitmix64(d.off/8))
		c := copy(p, word[d.off%8:])
		p = p[c:]
		d.off += uint64(c)
	}
	return n, nil
}

func splitmix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// ServeUDPEcho starts a UDP server on addr (e.g. ":5353") inside node's
// namespace that answers each datagram with "<node>:" followed by the
// datagram. stop closes it; it is idempotent and Close calls it too.
func (l *Lab) ServeUDPEcho(node, addr string) (stop func(), err error) {
	if err := l.check(node, false); err != nil {
		return nil, err
	}
	pc, err := l.ListenPacket(node, "udp", addr)
	if err != nil {
		return nil, fmt.Errorf("serve udp echo: %w", err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 64<<10)
		prefix := []byte(node + ":")
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				if errors.Is(err, net.ErrClosed) {
					return
				}
				continue
			}
			// A lost echo is the client's to notice, as with any UDP.
			_, _ = pc.WriteTo(append(prefix[:len(prefix):len(prefix)], buf[:n]...), from)
		}
	}()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			_ = pc.Close()
			<-done
		})
	}
	if err := l.track(stop); err != nil {
		stop()
		return nil, err
	}
	return stop, nil
}
