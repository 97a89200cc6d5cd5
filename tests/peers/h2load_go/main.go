// A Go RPM load client for the interop tests and bench/: it loads a netpulse
// server the way goresponsiveness's load-generating connections do, through
// golang.org/x/net/http2's own Transport (x/net 0.7.0 returns flow-control
// credit after every 8 KiB read, for the stream and for the connection:
// about four WINDOW_UPDATE frames per 16 KiB DATA frame), and prints one
// JSON summary line on stdout. Written for netpulse; no code taken from
// goresponsiveness.
//
// Usage: np_goh2 -config URL [-conns 4] [-seconds 10] [-probe-ms 10]
//
//	[-mode sequential|parallel|download|upload] [-insecure] [-no-result] [-close-probes]
//
// Foreign probe connections are left open, as goresponsiveness leaves
// them (a Transport per probe, never closed): the server has to close them.
// An https:// config URL means h2 over TLS (ALPN h2, certificate not
// checked with -insecure); http:// means h2c with prior knowledge.
package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/net/http2"
)

type nqConfig struct {
	Version int               `json:"version"`
	URLs    map[string]string `json:"urls"`
	// goresponsiveness dials this host with the URL's port (its
	// ConnectToAddr), so a bracketed IPv6 literal here breaks every dial.
	TestEndpoint string `json:"test_endpoint"`
}

// run holds what every connection of a measurement reports into.
type run struct {
	tlsOn    bool
	endpoint string // test_endpoint, "" to dial the URL's host
	insecure bool

	mu       sync.Mutex
	goaways  map[string]int // "CODE debug" -> count, from the frames read
	resets   map[string]int // RST_STREAM codes the server sent
	errs     map[string]int // request and body errors, by text
	statuses map[int]int    // non-200 answers

	dataIn, wuOut, dataOut, dials int64
	// A load flow's Transport that dials again has lost its connection
	// (e.g. to a GOAWAY): its later "self" probes ran elsewhere.
	redials int64
	// goresponsiveness makes a Transport per foreign probe and never
	// closes it: the connection stays open until the server closes it or
	// the process exits. keepProbes does the same (-close-probes: not).
	keepProbes bool
	kept       []*http2.Transport
	// Set once the summary is posted: the server then closes idle
	// connections with GOAWAY NO_ERROR, which is not a cut-off.
	afterResult int32
}

func (r *run) count(m *map[string]int, k string) {
	r.mu.Lock()
	if *m == nil {
		*m = map[string]int{}
	}
	(*m)[k]++
	r.mu.Unlock()
}

func (r *run) status(code int) {
	r.mu.Lock()
	if r.statuses == nil {
		r.statuses = map[int]int{}
	}
	r.statuses[code]++
	r.mu.Unlock()
}

// errText keeps error keys short and free of per-connection details
// (ports, stream IDs) so that identical failures are counted together.
func errText(err error) string {
	var ga http2.GoAwayError
	if errors.As(err, &ga) {
		return "goaway " + ga.ErrCode.String()
	}
	s := err.Error()
	if i := strings.Index(s, "dial tcp"); i >= 0 {
		s = s[i:]
	}
	if len(s) > 120 {
		s = s[:120]
	}
	return s
}

// frameScan follows the HTTP/2 frame boundaries of one direction of a
// connection without copying payload, so the peer can report the frames
// it sent and received (WINDOW_UPDATE per DATA, GOAWAY codes) even when the
// Transport turns them into a generic error.
type frameScan struct {
	skip   int // connection preface bytes still to pass (client side)
	hdr    [9]byte
	hn     int
	left   uint32
	typ    byte
	keep   []byte // GOAWAY / RST_STREAM payload, capped
	onDone func(typ byte, payload []byte)
}

func (f *frameScan) feed(b []byte) {
	for len(b) > 0 {
		if f.skip > 0 {
			n := min(f.skip, len(b))
			f.skip -= n
			b = b[n:]
			continue
		}
		if f.hn < 9 {
			n := copy(f.hdr[f.hn:], b)
			f.hn += n
			b = b[n:]
			if f.hn < 9 {
				return
			}
			f.left = uint32(f.hdr[0])<<16 | uint32(f.hdr[1])<<8 | uint32(f.hdr[2])
			f.typ = f.hdr[3]
			f.keep = f.keep[:0]
		}
		n := min(int(f.left), len(b))
		if (f.typ == 3 || f.typ == 7) && len(f.keep) < 256 {
			f.keep = append(f.keep, b[:min(n, 256-len(f.keep))]...)
		}
		f.left -= uint32(n)
		b = b[n:]
		if f.left == 0 {
			f.onDone(f.typ, f.keep)
			f.hn = 0
		}
	}
}

func min(a, b int) int {
	if a < b {
		return a
	}
	return b
}

type scanConn struct {
	net.Conn
	in, out frameScan
}

func (c *scanConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.in.feed(p[:n])
	return n, err
}

func (c *scanConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	c.out.feed(p[:n])
	return n, err
}

// ConnectionState lets the Transport see the TLS state through the wrapper.
func (c *scanConn) ConnectionState() tls.ConnectionState {
	if t, ok := c.Conn.(*tls.Conn); ok {
		return t.ConnectionState()
	}
	return tls.ConnectionState{}
}

func (r *run) wrap(c net.Conn, kind string) net.Conn {
	atomic.AddInt64(&r.dials, 1)
	s := &scanConn{Conn: c}
	s.out.skip = len(http2.ClientPreface)
	s.in.onDone = func(typ byte, p []byte) {
		switch typ {
		case 0:
			atomic.AddInt64(&r.dataIn, 1)
		case 3:
			if len(p) >= 4 {
				r.count(&r.resets, http2.ErrCode(be32(p)).String())
			}
		case 7:
			if len(p) >= 8 {
				// "KIND CODE debug": the server closes idle probe connections
				// (and, after the summary, all idle ones) with NO_ERROR.
				k := strings.TrimSpace(kind + " " + http2.ErrCode(be32(p[4:])).String() + " " +
					string(p[8:]))
				if atomic.LoadInt32(&r.afterResult) != 0 {
					k = "after result: " + k
				}
				r.count(&r.goaways, k)
			}
		}
	}
	s.out.onDone = func(typ byte, _ []byte) {
		switch typ {
		case 0:
			atomic.AddInt64(&r.dataOut, 1)
		case 8:
			atomic.AddInt64(&r.wuOut, 1)
		}
	}
	return s
}

func be32(p []byte) uint32 {
	return uint32(p[0])<<24 | uint32(p[1])<<16 | uint32(p[2])<<8 | uint32(p[3])
}

// transport is one x/net http2.Transport: with one per load flow, each flow
// and its self probes share exactly one connection, as in goresponsiveness.
// kind (load, probe, control) labels the GOAWAYs its connections get.
func (r *run) transport(kind string) *http2.Transport {
	var mine int64
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		if atomic.AddInt64(&mine, 1) > 1 {
			atomic.AddInt64(&r.redials, 1)
		}
		if r.endpoint != "" {
			_, port, err := net.SplitHostPort(addr)
			if err != nil {
				return nil, err
			}
			addr = net.JoinHostPort(r.endpoint, port)
		}
		d := net.Dialer{Timeout: 5 * time.Second}
		return d.DialContext(ctx, network, addr)
	}
	t := &http2.Transport{StrictMaxConcurrentStreams: true}
	if !r.tlsOn {
		t.AllowHTTP = true
		t.DialTLSContext = func(ctx context.Context, n, a string, _ *tls.Config) (net.Conn, error) {
			c, err := dial(ctx, n, a)
			if err != nil {
				return nil, err
			}
			return r.wrap(c, kind), nil
		}
		return t
	}
	t.DialTLSContext = func(ctx context.Context, n, a string, cfg *tls.Config) (net.Conn, error) {
		c, err := dial(ctx, n, a)
		if err != nil {
			return nil, err
		}
		cfg = cfg.Clone()
		cfg.InsecureSkipVerify = r.insecure
		cfg.NextProtos = []string{"h2"}
		tc := tls.Client(c, cfg)
		if err := tc.HandshakeContext(ctx); err != nil {
			c.Close()
			return nil, err
		}
		if p := tc.ConnectionState().NegotiatedProtocol; p != "h2" {
			tc.Close()
			return nil, fmt.Errorf("ALPN %q, not h2", p)
		}
		return r.wrap(tc, kind), nil
	}
	return t
}

func (r *run) probeDone(t *http2.Transport) {
	if !r.keepProbes {
		t.CloseIdleConnections()
		return
	}
	r.mu.Lock()
	r.kept = append(r.kept, t)
	r.mu.Unlock()
}

// get fetches a small object; it returns the time the whole exchange took.
func (r *run) get(ctx context.Context, t *http2.Transport, u string) (time.Duration, bool) {
	t0 := time.Now()
	req, _ := http.NewRequestWithContext(ctx, "GET", u, nil)
	req.Header.Set("Accept-Encoding", "identity")
	resp, err := t.RoundTrip(req)
	if err != nil {
		r.count(&r.errs, "probe: "+errText(err))
		return 0, false
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		r.status(resp.StatusCode)
		return 0, false
	}
	if err != nil {
		r.count(&r.errs, "probe body: "+errText(err))
		return 0, false
	}
	return time.Since(t0), true
}

// endless is goresponsiveness's kind of upload body: as many bytes as the
// Transport asks for until the phase ends, then EOF (the stream ends
// normally and the server answers).
type endless struct {
	ctx context.Context
	n   *int64
}

func (e endless) Read(p []byte) (int, error) {
	if e.ctx.Err() != nil {
		return 0, io.EOF
	}
	atomic.AddInt64(e.n, int64(len(p)))
	return len(p), nil
}

type probeStats struct {
	Attempted int64   `json:"attempted"`
	OK        int64   `json:"ok"`
	Failed    int64   `json:"failed"`
	MedianMs  float64 `json:"median_ms"`
	mu        sync.Mutex
	ms        []float64 // kept for the median
}

func (p *probeStats) add(d time.Duration, ok bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if ok {
		p.OK++
		p.ms = append(p.ms, float64(d.Microseconds())/1000)
	} else {
		p.Failed++
	}
}

func (p *probeStats) finish() {
	if len(p.ms) > 0 {
		sort.Float64s(p.ms)
		p.MedianMs = p.ms[len(p.ms)/2]
	}
}

type phase struct {
	Direction string     `json:"direction"`
	Flows     int        `json:"flows"`
	Bytes     int64      `json:"bytes"`
	Seconds   float64    `json:"seconds"`
	Mbps      float64    `json:"mbps"`
	FlowsOK   int        `json:"flows_ok"` // load flows that ran to the end
	Foreign   probeStats `json:"foreign_probes"`
	Self      probeStats `json:"self_probes"`
	// Frames of the phase, all connections: x/net's credit per read.
	DataIn    int64   `json:"data_frames_in"`
	WUOut     int64   `json:"window_updates_out"`
	WUPerData float64 `json:"window_updates_per_data_frame"`
}

// load runs one direction's flows for d, with a foreign probe on a new
// connection and a self probe on a load connection every interval.
func (r *run) load(cfg nqConfig, dir string, flows int, d, interval time.Duration) *phase {
	ph := &phase{Direction: dir, Flows: flows}
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	// The upload's requests outlive its body by a little, to see the answer.
	reqCtx, reqCancel := context.WithTimeout(context.Background(), d+5*time.Second)
	defer reqCancel()
	var wg sync.WaitGroup
	var okFlows int64
	ts := make([]*http2.Transport, flows)
	t0 := time.Now()
	data0, wu0 := atomic.LoadInt64(&r.dataIn), atomic.LoadInt64(&r.wuOut)
	for i := range ts {
		ts[i] = r.transport("load")
		wg.Add(1)
		go func(t *http2.Transport) {
			defer wg.Done()
			if r.flow(ctx, reqCtx, t, cfg, dir, &ph.Bytes) {
				atomic.AddInt64(&okFlows, 1)
			}
		}(ts[i])
	}
	tick := time.NewTicker(interval)
	var pwg sync.WaitGroup
	for i := 0; ctx.Err() == nil; i++ {
		select {
		case <-ctx.Done():
		case <-tick.C:
			pwg.Add(2)
			ph.Foreign.Attempted++
			ph.Self.Attempted++
			go func() {
				defer pwg.Done()
				t := r.transport("probe")
				pctx, c := context.WithTimeout(context.Background(), 5*time.Second)
				ph.Foreign.add(r.get(pctx, t, cfg.URLs["small_download_url"]))
				c()
				r.probeDone(t)
			}()
			go func(t *http2.Transport) {
				defer pwg.Done()
				pctx, c := context.WithTimeout(context.Background(), 5*time.Second)
				ph.Self.add(r.get(pctx, t, cfg.URLs["small_download_url"]))
				c()
			}(ts[i%flows])
		}
	}
	tick.Stop()
	wg.Wait()
	ph.Seconds = time.Since(t0).Seconds()
	pwg.Wait()
	for _, t := range ts {
		t.CloseIdleConnections()
	}
	ph.FlowsOK = int(okFlows)
	ph.DataIn = atomic.LoadInt64(&r.dataIn) - data0
	ph.WUOut = atomic.LoadInt64(&r.wuOut) - wu0
	if ph.DataIn > 0 {
		ph.WUPerData = float64(ph.WUOut) / float64(ph.DataIn)
	}
	ph.Mbps = float64(ph.Bytes) * 8 / ph.Seconds / 1e6
	ph.Foreign.finish()
	ph.Self.finish()
	return ph
}

// flow is one load-generating connection; true when it lasted the phase.
func (r *run) flow(ctx, reqCtx context.Context, t *http2.Transport, cfg nqConfig, dir string,
	n *int64) bool {
	var req *http.Request
	if dir == "download" {
		req, _ = http.NewRequestWithContext(ctx, "GET", cfg.URLs["large_download_url"], nil)
	} else {
		req, _ = http.NewRequestWithContext(reqCtx, "POST", cfg.URLs["upload_url"],
			endless{ctx, n})
	}
	req.Header.Set("Accept-Encoding", "identity")
	resp, err := t.RoundTrip(req)
	if err != nil {
		r.count(&r.errs, dir+": "+errText(err))
		return false
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		r.status(resp.StatusCode)
		return false
	}
	if dir == "download" {
		// io.Copy to io.Discard reads in 8 KiB pieces: the read size that
		// makes x/net return credit four times per 16 KiB DATA frame.
		got, err := io.Copy(io.Discard, resp.Body)
		atomic.AddInt64(n, got)
		if err != nil && ctx.Err() == nil {
			r.count(&r.errs, dir+" body: "+errText(err))
			return false
		}
		return ctx.Err() != nil
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	return ctx.Err() != nil
}

func fetchConfig(r *run, t *http2.Transport, u string) (nqConfig, error) {
	var cfg nqConfig
	req, _ := http.NewRequest("GET", u, nil)
	resp, err := t.RoundTrip(req)
	if err != nil {
		return cfg, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		r.status(resp.StatusCode)
		return cfg, fmt.Errorf("config: status %d", resp.StatusCode)
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<16)).Decode(&cfg); err != nil {
		return cfg, err
	}
	for _, k := range []string{"small_download_url", "large_download_url", "upload_url"} {
		if _, err := url.Parse(cfg.URLs[k]); err != nil || cfg.URLs[k] == "" {
			return cfg, fmt.Errorf("config: bad %s", k)
		}
	}
	return cfg, nil
}

// postResult sends a short summary (netpulse's result endpoint); the RPM
// here is a rough figure from medians, this peer tests the server.
func postResult(r *run, t *http2.Transport, u string, phases []*phase) int {
	sum := map[string]interface{}{"SchemaVersion": 1}
	var lat []float64
	for _, p := range phases {
		g := map[string]interface{}{"ThroughputMbps": p.Mbps, "Flows": p.Flows,
			"ProbesForeign": p.Foreign.OK, "ProbesSelf": p.Self.OK}
		if p.Foreign.MedianMs > 0 && p.Self.MedianMs > 0 {
			l := (p.Foreign.MedianMs + p.Self.MedianMs) / 2
			lat = append(lat, l)
			g["RPM"] = 60000 / l
		}
		name := map[string]string{"download": "Download", "upload": "Upload",
			"parallel": "Parallel"}[p.Direction]
		sum[name] = g
	}
	if len(lat) > 0 {
		m := 0.0
		for _, l := range lat {
			m += l
		}
		sum["RPM"] = 60000 / (m / float64(len(lat)))
	}
	body, _ := json.Marshal(sum)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "POST", u, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	resp, err := t.RoundTrip(req)
	if err != nil {
		r.count(&r.errs, "result: "+errText(err))
		return 0
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

func main() {
	cfgURL := flag.String("config", "", "the server's config URL (https:// h2, http:// h2c)")
	conns := flag.Int("conns", 4, "load-generating connections per direction")
	secs := flag.Float64("seconds", 10, "seconds per direction")
	probeMs := flag.Int("probe-ms", 10, "interval between probes (foreign and self), ms")
	mode := flag.String("mode", "sequential", "sequential, parallel, download or upload")
	insecure := flag.Bool("insecure", false, "do not verify the server certificate")
	noResult := flag.Bool("no-result", false, "do not post a summary to result_url")
	closeProbes := flag.Bool("close-probes", false,
		"close each foreign probe's connection after its answer (goresponsiveness leaves it open)")
	flag.Parse()
	u, err := url.Parse(*cfgURL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || *conns < 1 || *secs <= 0 {
		fmt.Fprintln(os.Stderr, "usage: np_goh2 -config https://HOST:PORT/.well-known/nq [flags]")
		os.Exit(2)
	}
	r := &run{tlsOn: u.Scheme == "https", insecure: *insecure, keepProbes: !*closeProbes}
	out := map[string]interface{}{"proto": map[bool]string{true: "h2", false: "h2c"}[r.tlsOn]}
	ctl := r.transport("control")
	cfg, err := fetchConfig(r, ctl, *cfgURL)
	var phases []*phase
	if err != nil {
		r.count(&r.errs, "config: "+errText(err))
	} else {
		r.endpoint = cfg.TestEndpoint
		out["test_endpoint"] = cfg.TestEndpoint
		d := time.Duration(*secs * float64(time.Second))
		iv := time.Duration(*probeMs) * time.Millisecond
		switch *mode {
		case "parallel":
			var wg sync.WaitGroup
			var dn, up *phase
			wg.Add(2)
			go func() { defer wg.Done(); dn = r.load(cfg, "download", *conns, d, iv) }()
			go func() { defer wg.Done(); up = r.load(cfg, "upload", *conns, d, 1<<40) }()
			wg.Wait()
			phases = []*phase{dn, up}
		case "download", "upload":
			phases = []*phase{r.load(cfg, *mode, *conns, d, iv)}
		default:
			phases = []*phase{r.load(cfg, "download", *conns, d, iv),
				r.load(cfg, "upload", *conns, d, iv)}
		}
		if !*noResult && cfg.URLs["result_url"] != "" {
			atomic.StoreInt32(&r.afterResult, 1)
			out["result_status"] = postResult(r, ctl, cfg.URLs["result_url"], phases)
		}
	}
	ctl.CloseIdleConnections()
	r.mu.Lock()
	out["probe_transports_kept"] = len(r.kept)
	r.mu.Unlock()
	for _, p := range phases {
		out[p.Direction] = p
	}
	r.mu.Lock()
	out["goaways"], out["rst_streams"], out["errors"] = r.goaways, r.resets, r.errs
	out["statuses"] = r.statuses
	r.mu.Unlock()
	out["dials"] = atomic.LoadInt64(&r.dials)
	out["redials"] = atomic.LoadInt64(&r.redials)
	out["data_frames_in"] = atomic.LoadInt64(&r.dataIn)
	out["data_frames_out"] = atomic.LoadInt64(&r.dataOut)
	out["window_updates_out"] = atomic.LoadInt64(&r.wuOut)
	if n := atomic.LoadInt64(&r.dataIn); n > 0 {
		out["window_updates_per_data_frame"] = float64(atomic.LoadInt64(&r.wuOut)) / float64(n)
	}
	b, _ := json.Marshal(out)
	fmt.Println(string(b))
}
