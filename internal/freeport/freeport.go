// Package freeport picks loopback TCP ports for tests that hand a port to
// another process (nginx, a service binary) which binds it later.
//
// A port taken with Listen(":0") and closed again comes from the kernel's
// ephemeral range, the same range every outgoing connection and every other
// Listen(":0") draws from: between closing it and the other process binding
// it, someone else may take it, and the test then fails to start its process
// or talks to a stranger. Ports below that range are handed out only on
// request, so a port picked there stays free unless another test picks the
// same one at random.
package freeport

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
)

// lowest is the lowest port picked; below it live well-known and
// registered services a developer's machine may run.
const lowest = 20000

// Ports returns n distinct loopback TCP ports that were free a moment ago,
// below the kernel's ephemeral range when it leaves room for them, else
// from Listen(":0").
func Ports(n int) ([]int, error) {
	hi := ephemeralLow() - 1
	var ports []int
	var lns []net.Listener
	defer func() {
		for _, ln := range lns {
			ln.Close()
		}
	}()
	for tries := 0; len(ports) < n; tries++ {
		addr := "127.0.0.1:0"
		if hi-lowest > 1000 && tries < 200 {
			addr = fmt.Sprintf("127.0.0.1:%d", lowest+rand.IntN(hi-lowest+1))
		}
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			if addr == "127.0.0.1:0" {
				return nil, err
			}
			continue // taken: try another
		}
		lns = append(lns, ln)
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// Addr returns one "127.0.0.1:port" as Ports picks it.
func Addr() (string, error) {
	p, err := Ports(1)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("127.0.0.1:%d", p[0]), nil
}

// ephemeralLow is the lowest port of the kernel's ephemeral range (Linux),
// or 32768 when it cannot be read.
func ephemeralLow() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 32768
	}
	var lo, hi int
	if _, err := fmt.Sscan(string(b), &lo, &hi); err != nil || lo <= 1024 {
		return 32768
	}
	return lo
}
