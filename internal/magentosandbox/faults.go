package magentosandbox

import (
	"encoding/json"
	"math/rand/v2"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"time"
)

// Fault makes matching requests slow or failing, to exercise a client's
// timeouts, retries and outcome-unknown handling.
type Fault struct {
	// LatencyMS delays the request before it is handled.
	LatencyMS int `json:"latency_ms,omitempty"`
	// ErrorRate (0..1) is the share of matching requests answered with
	// ErrorStatus (500 by default) and Magento's error body, before they are
	// handled: nothing changes.
	ErrorRate   float64 `json:"error_rate,omitempty"`
	ErrorStatus int     `json:"error_status,omitempty"`
	// TimeoutAfterCommit handles the request (its writes happen) and then
	// never answers: the connection is dropped once the client gives up, or
	// after a minute. This is the "did my order get placed?" case.
	TimeoutAfterCommit bool `json:"timeout_after_commit,omitempty"`
	// Path selects requests whose path contains it, or matches it as a
	// regular expression; empty matches every path.
	Path string `json:"path,omitempty"`
	// Methods selects HTTP methods; empty matches every method.
	Methods []string `json:"methods,omitempty"`

	re *regexp.Regexp
}

func (f *Fault) compile() {
	if f.Path != "" {
		f.re, _ = regexp.Compile(f.Path) // an invalid regex matches as a substring only
	}
}

func (f *Fault) matches(r *http.Request) bool {
	if len(f.Methods) > 0 && !slices.ContainsFunc(f.Methods, func(m string) bool { return strings.EqualFold(m, r.Method) }) {
		return false
	}
	if f.Path == "" {
		return true
	}
	return strings.Contains(r.URL.Path, f.Path) || f.re != nil && f.re.MatchString(r.URL.Path)
}

// SetFaults replaces the active faults.
func (s *Sandbox) SetFaults(faults ...Fault) {
	for i := range faults {
		faults[i].compile()
	}
	s.fmu.Lock()
	s.fault = faults
	s.fmu.Unlock()
}

// AddFault adds a fault; the first matching fault applies to a request.
func (s *Sandbox) AddFault(f Fault) {
	f.compile()
	s.fmu.Lock()
	s.fault = append(slices.Clone(s.fault), f)
	s.fmu.Unlock()
}

// ClearFaults removes every fault.
func (s *Sandbox) ClearFaults() { s.SetFaults() }

// Faults returns the active faults.
func (s *Sandbox) Faults() []Fault {
	s.fmu.RLock()
	defer s.fmu.RUnlock()
	return slices.Clone(s.fault)
}

func (s *Sandbox) postFaults(w http.ResponseWriter, r *http.Request) {
	var f Fault
	if err := json.NewDecoder(r.Body).Decode(&f); err != nil {
		writeErr(w, errf(http.StatusBadRequest, msgDecoding, nil))
		return
	}
	if f.ErrorRate < 0 || f.ErrorRate > 1 || f.LatencyMS < 0 || f.ErrorStatus != 0 && (f.ErrorStatus < 400 || f.ErrorStatus > 599) {
		writeErr(w, errf(http.StatusBadRequest, "error_rate must be within 0..1, latency_ms non-negative, error_status 400..599", nil))
		return
	}
	s.AddFault(f)
	writeJSON(w, http.StatusOK, s.Faults())
}

func (s *Sandbox) deleteFaults(w http.ResponseWriter, r *http.Request) {
	s.ClearFaults()
	writeJSON(w, http.StatusOK, []Fault{})
}

func (s *Sandbox) getFaults(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, s.Faults())
}

// withFaults applies the first matching fault to requests outside /__sandbox/.
func (s *Sandbox) withFaults(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/__sandbox/") {
			next.ServeHTTP(w, r)
			return
		}
		s.fmu.RLock()
		var f *Fault
		for i := range s.fault {
			if s.fault[i].matches(r) {
				c := s.fault[i]
				f = &c
				break
			}
		}
		s.fmu.RUnlock()
		if f == nil {
			next.ServeHTTP(w, r)
			return
		}
		if f.LatencyMS > 0 {
			t := time.NewTimer(time.Duration(f.LatencyMS) * time.Millisecond)
			select {
			case <-r.Context().Done():
				t.Stop()
				return
			case <-t.C:
			}
		}
		if f.ErrorRate > 0 && rand.Float64() < f.ErrorRate {
			status := f.ErrorStatus
			if status == 0 {
				status = http.StatusInternalServerError
			}
			if status >= 500 {
				writeErr(w, errf(status, msgInternal, []string{randomToken(12)}))
			} else {
				writeErr(w, errf(status, http.StatusText(status), nil))
			}
			return
		}
		if f.TimeoutAfterCommit {
			next.ServeHTTP(discard{header: http.Header{}}, r)
			t := time.NewTimer(time.Minute)
			select {
			case <-r.Context().Done():
			case <-t.C:
			}
			t.Stop()
			panic(http.ErrAbortHandler)
		}
		next.ServeHTTP(w, r)
	})
}

// discard is a ResponseWriter that drops the answer of a request whose
// response is lost on purpose.
type discard struct{ header http.Header }

func (d discard) Header() http.Header         { return d.header }
func (d discard) Write(b []byte) (int, error) { return len(b), nil }
func (d discard) WriteHeader(int)             {}
