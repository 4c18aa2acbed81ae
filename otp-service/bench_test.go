package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/magefleet/platform/internal/config"
	"github.com/magefleet/platform/otp-service/internal/otp"
	"github.com/magefleet/platform/otp-service/internal/tokens"
)

// BenchmarkLogin measures whole logins (start, read the sandbox message,
// verify) through HTTP against the service with real MySQL and Redis and the
// sandbox Magento, all in this process with the load generator:
//
//	go test -run '^$' -bench Login -benchtime 20000x ./otp-service/
//
// returning: identities that logged in before; first_time: each login
// creates the Magento customer and the identity; returning_half_rate and
// first_time_half_rate: paced at half the rate measured by returning and
// first_time, reporting verify latency below saturation.
// OTP_BENCH_CONCURRENCY sets the number of client goroutines (default 48),
// each with its own kept-alive connection (see wire).
// Limits stay on but are set far above the load (one client IP, few phones).
func BenchmarkLogin(b *testing.B) {
	conc := 48
	if v, err := strconv.Atoi(os.Getenv("OTP_BENCH_CONCURRENCY")); err == nil && v > 0 {
		conc = v
	}
	e := newBenchEnv(b)
	const pool = 1000
	phones := make([]string, pool)
	for i := range phones {
		phones[i] = fmt.Sprintf("+9197%08d", i)
	}
	// Register the pool once so later logins are returning identities.
	runLogins(b, e, pool, conc, func(i int) string { return phones[i] })

	var returningRate float64
	b.Run("returning", func(b *testing.B) {
		var n atomic.Int64
		rate, lat := runLoginsTimed(b, e, b.N, conc, func(int) string { return phones[int(n.Add(1))%pool] })
		returningRate = rate
		report(b, rate, lat)
	})
	// New phones for every first-time login, from one counter shared by
	// first_time and first_time_half_rate.
	var fresh atomic.Int64
	fresh.Store(time.Now().UnixNano() % 1e7 * 10)
	newPhone := func(int) string { return fmt.Sprintf("+9198%08d", fresh.Add(1)%1e8) }
	var firstRate float64
	b.Run("first_time", func(b *testing.B) {
		rate, lat := runLoginsTimed(b, e, b.N, conc, newPhone)
		firstRate = rate
		report(b, rate, lat)
	})
	b.Run("returning_half_rate", func(b *testing.B) {
		if returningRate == 0 {
			var n atomic.Int64
			returningRate, _ = runLoginsTimed(b, e, 2000, conc, func(int) string { return phones[int(n.Add(1))%pool] })
		}
		target := returningRate / 2
		var n atomic.Int64
		rate, lat := runPaced(b, e, b.N, target, func(int) string { return phones[int(n.Add(1))%pool] })
		b.ReportMetric(target, "target_logins/s")
		report(b, rate, lat)
	})
	b.Run("first_time_half_rate", func(b *testing.B) {
		if firstRate == 0 {
			firstRate, _ = runLoginsTimed(b, e, 1000, conc, newPhone)
		}
		target := firstRate / 2
		rate, lat := runPaced(b, e, b.N, target, newPhone)
		b.ReportMetric(target, "target_logins/s")
		report(b, rate, lat)
	})
}

func newBenchEnv(b *testing.B) *env {
	e := newEnv(b, func(c *Config) {
		c.Log.Level = "error"
		c.OTP.ResendAfter = 0
		c.OTP.Breaker.MinSent = 1 << 30
		big := otp.Rate{Count: 1 << 30, Window: time.Hour}
		c.OTP.Limits = otp.Limits{SendsPerDestination: big, SendsPerIP: big, SendsPerDevice: big, SendsPerCountry: big,
			SendsGlobal: big, VerifiesPerDest: big, VerifiesPerIP: big, DailyBudget: 1 << 30}
		c.Magento.MaxConcurrent = 64
		c.MySQL.MaxOpenConns, c.MySQL.MaxIdleConns = 32, 32
		// Sign as production is advised to: EdDSA costs half of ES256.
		key, err := tokens.GenerateEd25519KeyPEM()
		if err != nil {
			b.Fatal(err)
		}
		c.Tokens.SigningKeys = map[string]config.Secret{"b1": config.Secret(key)}
		c.Tokens.ActiveKey = "b1"
	})
	return e
}

func report(b *testing.B, rate float64, verify []time.Duration) {
	b.ReportMetric(rate, "logins/s")
	b.ReportMetric(float64(pct(verify, 50).Microseconds())/1000, "verify_p50_ms")
	b.ReportMetric(float64(pct(verify, 99).Microseconds())/1000, "verify_p99_ms")
	b.ReportMetric(rssMB("VmHWM"), "peak_rss_MB")
	b.ReportMetric(float64(runtime.NumCPU()), "cpus")
}

func pct(d []time.Duration, p int) time.Duration {
	if len(d) == 0 {
		return 0
	}
	sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
	return d[min(len(d)-1, len(d)*p/100)]
}

// rssMB reads a memory line (VmRSS, VmHWM) of /proc/self/status in MB.
func rssMB(field string) float64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, field+":") {
			f := strings.Fields(l)
			kb, _ := strconv.ParseFloat(f[1], 64)
			return kb / 1024
		}
	}
	return 0
}

// oneLogin runs start, sandbox read and verify for phone on w and returns
// the verify latency.
func oneLogin(w *wire, phone string) (time.Duration, error) {
	r, err := w.post("/v1/otp/start", map[string]string{"phone": phone})
	if err != nil || r.Status != 202 {
		return 0, fmt.Errorf("start %s: %v %d %s", phone, err, r.Status, r.Body)
	}
	var st struct {
		ChallengeID string `json:"challenge_id"`
	}
	_ = json.Unmarshal(r.Body, &st)
	r, err = w.do(http.MethodGet, "/v1/sandbox/messages?limit=1&to="+urlQuery(phone), nil)
	if err != nil {
		return 0, err
	}
	var msgs struct {
		Messages []struct{ Body string }
	}
	_ = json.Unmarshal(r.Body, &msgs)
	if len(msgs.Messages) == 0 {
		return 0, fmt.Errorf("no message for %s", phone)
	}
	m := webOTPLine.FindStringSubmatch(msgs.Messages[0].Body)
	if m == nil {
		return 0, fmt.Errorf("no code in %q", msgs.Messages[0].Body)
	}
	t0 := time.Now()
	r, err = w.post("/v1/otp/verify", map[string]string{"challenge_id": st.ChallengeID, "code": m[2]})
	d := time.Since(t0)
	if err != nil || r.Status != 200 {
		return 0, fmt.Errorf("verify %s: %v %d %s", phone, err, r.Status, r.Body)
	}
	return d, nil
}

// wire is one connection of the load generator: HTTP/1.1 requests written
// and answers read on one kept-alive TCP connection, as load generators such
// as wrk do, without the goroutines and channels of net/http's transport
// (which cost more CPU than the service's own handlers). It is not safe
// for concurrent use; each client goroutine has its own.
type wire struct {
	addr string
	conn net.Conn
	br   *bufio.Reader
	bw   *bufio.Writer
}

func newWire(e *env) *wire { return &wire{addr: strings.TrimPrefix(e.base, "http://")} }

func (w *wire) post(path string, body any) (response, error) {
	b, err := json.Marshal(body)
	if err != nil {
		return response{}, err
	}
	return w.do(http.MethodPost, path, b)
}

func (w *wire) do(method, path string, body []byte) (response, error) {
	if w.conn == nil {
		c, err := net.Dial("tcp", w.addr)
		if err != nil {
			return response{}, err
		}
		w.conn, w.br, w.bw = c, bufio.NewReaderSize(c, 8192), bufio.NewWriterSize(c, 4096)
	}
	_ = w.conn.SetDeadline(time.Now().Add(30 * time.Second))
	fmt.Fprintf(w.bw, "%s %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n", method, path, w.addr, len(body))
	_, _ = w.bw.Write(body)
	resp, err := func() (*http.Response, error) {
		if err := w.bw.Flush(); err != nil {
			return nil, err
		}
		return http.ReadResponse(w.br, nil)
	}()
	if err != nil {
		w.close()
		return response{}, err
	}
	out, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.Close {
		w.close()
	}
	return response{Status: resp.StatusCode, Body: out}, err
}

func (w *wire) close() {
	if w.conn != nil {
		w.conn.Close()
		w.conn = nil
	}
}

func runLogins(b *testing.B, e *env, n, conc int, phone func(int) string) []time.Duration {
	b.Helper()
	lat := make([]time.Duration, n)
	var next atomic.Int64
	var wg sync.WaitGroup
	var failed atomic.Value
	for range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w := newWire(e)
			defer w.close()
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				d, err := oneLogin(w, phone(i))
				if err != nil {
					failed.Store(err)
					return
				}
				lat[i] = d
			}
		}()
	}
	wg.Wait()
	if err, _ := failed.Load().(error); err != nil {
		b.Fatal(err)
	}
	return lat
}

func runLoginsTimed(b *testing.B, e *env, n, conc int, phone func(int) string) (float64, []time.Duration) {
	b.Helper()
	cpu := startCPU(e)
	b.ResetTimer()
	t0 := time.Now()
	lat := runLogins(b, e, n, conc, phone)
	el := time.Since(t0)
	b.StopTimer()
	cpu.report(b, n)
	return float64(n) / el.Seconds(), lat
}

// cpuMeter measures CPU time spent by this process (service, sandbox Magento
// and load generator), Redis and MariaDB during a run: on a shared machine
// the rate depends on what others run, the CPU per login much less.
type cpuMeter struct {
	e                   *env
	self, redis, mysqld time.Duration
}

func startCPU(e *env) *cpuMeter {
	return &cpuMeter{e: e, self: selfCPU(), redis: redisCPU(e), mysqld: procCPU("mariadbd", "mysqld")}
}

func (c *cpuMeter) report(b *testing.B, n int) {
	per := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 / float64(n) }
	self, rd, my := per(selfCPU()-c.self), per(redisCPU(c.e)-c.redis), per(procCPU("mariadbd", "mysqld")-c.mysqld)
	b.ReportMetric(self, "cpu_ms/login")
	b.ReportMetric(rd, "redis_cpu_ms/login")
	b.ReportMetric(my, "mysql_cpu_ms/login")
	if total := self + rd + my; total > 0 {
		b.ReportMetric(float64(runtime.NumCPU())*1000/total, "cpu_bound_logins/s")
	}
}

func selfCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// redisCPU reads used_cpu_user + used_cpu_sys from INFO cpu.
func redisCPU(e *env) time.Duration {
	resp, err := benchRedisInfo(e)
	if err != nil {
		return 0
	}
	var total float64
	for _, l := range strings.Split(resp, "\n") {
		k, v, ok := strings.Cut(strings.TrimSpace(l), ":")
		if ok && (k == "used_cpu_user" || k == "used_cpu_sys") {
			f, _ := strconv.ParseFloat(v, 64)
			total += f
		}
	}
	return time.Duration(total * float64(time.Second))
}

// procCPU sums utime+stime of the processes with one of the given names
// (Linux /proc), or 0 when there is none.
func procCPU(names ...string) time.Duration {
	dirs, _ := os.ReadDir("/proc")
	var ticks int64
	for _, d := range dirs {
		if _, err := strconv.Atoi(d.Name()); err != nil {
			continue
		}
		comm, err := os.ReadFile("/proc/" + d.Name() + "/comm")
		if err != nil || !slices.Contains(names, strings.TrimSpace(string(comm))) {
			continue
		}
		stat, err := os.ReadFile("/proc/" + d.Name() + "/stat")
		if err != nil {
			continue
		}
		f := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+2:]))
		u, _ := strconv.ParseInt(f[11], 10, 64)
		s, _ := strconv.ParseInt(f[12], 10, 64)
		ticks += u + s
	}
	return time.Duration(ticks) * 10 * time.Millisecond // USER_HZ is 100 on Linux
}

// runPaced starts logins at a fixed rate (open loop), so latency is measured
// below saturation.
func runPaced(b *testing.B, e *env, n int, rate float64, phone func(int) string) (float64, []time.Duration) {
	b.Helper()
	lat := make([]time.Duration, n)
	interval := time.Duration(float64(time.Second) / rate)
	var wg sync.WaitGroup
	var failed atomic.Value
	idle := make(chan *wire, 1024) // connections between paced logins
	b.ResetTimer()
	t0 := time.Now()
	for i := range n {
		if wait := time.Until(t0.Add(time.Duration(i) * interval)); wait > 0 {
			time.Sleep(wait)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			var w *wire
			select {
			case w = <-idle:
			default:
				w = newWire(e)
			}
			defer func() {
				select {
				case idle <- w:
				default:
					w.close()
				}
			}()
			d, err := oneLogin(w, phone(i))
			if err != nil {
				failed.Store(err)
			}
			lat[i] = d
		}()
	}
	wg.Wait()
	el := time.Since(t0)
	b.StopTimer()
	if err, _ := failed.Load().(error); err != nil {
		b.Fatal(err)
	}
	return float64(n) / el.Seconds(), lat
}

func benchRedisInfo(e *env) (string, error) {
	c := redis.NewClient(&redis.Options{Addr: e.cfg.Redis.Addrs[0]})
	defer c.Close()
	return c.Info(context.Background(), "cpu").Result()
}
