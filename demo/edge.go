package main

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"time"
)

// runEdge serves on addr what nginx serves on secure.<domain> in production:
// /auth/ to otp-service with the prefix stripped, everything else to
// checkout-service, with X-Forwarded-For set. It lets the checkout pages call
// otp-service on their own origin, as they do behind nginx.
func runEdge(ctx context.Context, addr, otpAddr, checkoutAddr string) error {
	otp := httputil.NewSingleHostReverseProxy(&url.URL{Scheme: "http", Host: otpAddr})
	checkout := httputil.NewSingleHostReverseProxy(&url.URL{Scheme: "http", Host: checkoutAddr})
	mux := http.NewServeMux()
	mux.HandleFunc("/auth/", func(w http.ResponseWriter, r *http.Request) {
		r.URL.Path = strings.TrimPrefix(r.URL.Path, "/auth")
		r.URL.RawPath = ""
		otp.ServeHTTP(w, r)
	})
	mux.Handle("/", checkout)
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
