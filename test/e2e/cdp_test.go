package e2e

// A headless Chromium driven over the DevTools protocol through a pipe
// (--remote-debugging-pipe: commands on fd 3, answers on fd 4, each a JSON
// message ended by a NUL byte), run inside a lab node so that it reaches
// nothing but the lab. The status page test uses it to load the page once
// and watch it reload itself.

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"sync"
	"testing"
	"time"

	"github.com/director-lb/director/test/lab"
	"github.com/director-lb/director/test/labrun"
	"github.com/director-lb/director/test/testenv"
)

// browser is a running chromium with one page attached.
type browser struct {
	t       *testing.T
	cmd     *exec.Cmd
	in      *os.File // our end of chromium's fd 3
	mu      sync.Mutex
	nextID  int
	waiting map[int]chan cdpReply
	session string
	log     *labrun.Log
	done    chan struct{}
}

type cdpReply struct {
	Result json.RawMessage `json:"result"`
	Error  *struct {
		Message string `json:"message"`
	} `json:"error"`
}

// startBrowser runs chromium headless in lab node n and opens a blank page.
func startBrowser(t *testing.T, l *lab.Lab, n string) *browser {
	t.Helper()
	bin := testenv.RequireCommand(t, "chromium", "chromium")
	cmdR, cmdW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	b := &browser{t: t, in: cmdW, waiting: map[int]chan cdpReply{}, log: &labrun.Log{}, done: make(chan struct{})}
	b.cmd = l.Command(ctx, n, bin, "--headless", "--no-sandbox", "--disable-gpu", "--remote-debugging-pipe",
		"--user-data-dir="+t.TempDir(), "--no-first-run", "--no-default-browser-check",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--disable-extensions", "--disable-dev-shm-usage", "--hide-scrollbars", "--window-size=1280,900",
		"about:blank")
	b.cmd.ExtraFiles = []*os.File{cmdR, outW} // fd 3, fd 4
	b.cmd.Stdout, b.cmd.Stderr = b.log, b.log
	b.cmd.Env = append(os.Environ(), "HOME="+t.TempDir())
	if err := b.cmd.Start(); err != nil {
		cancel()
		t.Fatal(err)
	}
	_ = cmdR.Close() // chromium's ends, kept open by the child only
	_ = outW.Close()
	go b.read(outR)
	t.Cleanup(func() {
		_ = b.in.Close()
		cancel()
		if err := b.cmd.Wait(); err != nil {
			t.Logf("chromium stopped: %v", err)
		}
		<-b.done
		if t.Failed() {
			t.Logf("chromium log:\n%s", b.log.String())
		}
	})
	var target struct {
		TargetID string `json:"targetId"`
	}
	b.call("", "Target.createTarget", map[string]any{"url": "about:blank"}, &target)
	var att struct {
		SessionID string `json:"sessionId"`
	}
	b.call("", "Target.attachToTarget", map[string]any{"targetId": target.TargetID, "flatten": true}, &att)
	b.session = att.SessionID
	b.call(b.session, "Page.enable", nil, nil)
	return b
}

// read dispatches chromium's answers; events are ignored.
func (b *browser) read(r *os.File) {
	defer close(b.done)
	defer func() { _ = r.Close() }()
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 64<<20) // screenshots arrive as one message
	sc.Split(func(data []byte, atEOF bool) (int, []byte, error) {
		for i, c := range data {
			if c == 0 {
				return i + 1, data[:i], nil
			}
		}
		if atEOF && len(data) > 0 {
			return len(data), data, nil
		}
		return 0, nil, nil
	})
	for sc.Scan() {
		var m struct {
			ID int `json:"id"`
			cdpReply
		}
		if json.Unmarshal(sc.Bytes(), &m) != nil || m.ID == 0 {
			continue
		}
		b.mu.Lock()
		ch := b.waiting[m.ID]
		delete(b.waiting, m.ID)
		b.mu.Unlock()
		if ch != nil {
			ch <- m.cdpReply
		}
	}
}

// call sends a command (to the browser, or to the page's session) and
// decodes its result into out (may be nil); an error fails the test.
func (b *browser) call(session, method string, params any, out any) {
	b.t.Helper()
	b.mu.Lock()
	b.nextID++
	id := b.nextID
	ch := make(chan cdpReply, 1)
	b.waiting[id] = ch
	b.mu.Unlock()
	msg := map[string]any{"id": id, "method": method}
	if params != nil {
		msg["params"] = params
	}
	if session != "" {
		msg["sessionId"] = session
	}
	data, err := json.Marshal(msg)
	if err != nil {
		b.t.Fatal(err)
	}
	if _, err := b.in.Write(append(data, 0)); err != nil {
		b.t.Fatalf("chromium %s: %v\n%s", method, err, b.log.String())
	}
	select {
	case r := <-ch:
		if r.Error != nil {
			b.t.Fatalf("chromium %s: %s", method, r.Error.Message)
		}
		if out != nil {
			if err := json.Unmarshal(r.Result, out); err != nil {
				b.t.Fatalf("chromium %s: %v", method, err)
			}
		}
	case <-time.After(30 * time.Second):
		b.t.Fatalf("chromium %s: no answer within 30s\n%s", method, b.log.String())
	}
}

// navigate loads url in the page and waits until the document is loaded.
func (b *browser) navigate(url string) {
	b.t.Helper()
	b.call(b.session, "Page.navigate", map[string]any{"url": url}, nil)
	deadline := time.Now().Add(20 * time.Second)
	for {
		var state string
		b.eval(`document.readyState + (document.URL === "`+url+`" ? "" : " elsewhere")`, &state)
		if state == "complete" {
			return
		}
		if time.Now().After(deadline) {
			b.t.Fatalf("%s not loaded within 20s: %s", url, state)
		}
		time.Sleep(50 * time.Millisecond) // polling a condition with a deadline
	}
}

// eval evaluates a JavaScript expression in the page and decodes its
// value (returned by value) into out.
func (b *browser) eval(expr string, out any) {
	b.t.Helper()
	var r struct {
		Result struct {
			Value json.RawMessage `json:"value"`
		} `json:"result"`
		ExceptionDetails *struct {
			Text string `json:"text"`
		} `json:"exceptionDetails"`
	}
	b.call(b.session, "Runtime.evaluate", map[string]any{"expression": expr, "returnByValue": true}, &r)
	if r.ExceptionDetails != nil {
		b.t.Fatalf("evaluate %s: %s", expr, r.ExceptionDetails.Text)
	}
	if err := json.Unmarshal(r.Result.Value, out); err != nil {
		b.t.Fatalf("evaluate %s: %v (%s)", expr, err, r.Result.Value)
	}
}

// screenshot returns a PNG of the whole page.
func (b *browser) screenshot() []byte {
	b.t.Helper()
	var r struct {
		Data string `json:"data"`
	}
	b.call(b.session, "Page.captureScreenshot", map[string]any{"format": "png", "captureBeyondViewport": true}, &r)
	png, err := base64.StdEncoding.DecodeString(r.Data)
	if err != nil {
		b.t.Fatal(fmt.Errorf("screenshot: %w", err))
	}
	return png
}
