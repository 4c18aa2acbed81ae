package cachetest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/magefleet/platform/internal/config"
	"github.com/magefleet/platform/internal/freeport"
)

// NewClusterConfig returns a config.Redis listing the three masters of the
// test binary's Redis Cluster, with a fresh key prefix whose keys are deleted
// when the test ends. The first call in a test binary starts the cluster (a
// second or two); its processes are killed when the binary exits.
func NewClusterConfig(tb testing.TB) config.Redis {
	tb.Helper()
	addrs, err := clusterAddrs()
	if err != nil {
		tb.Fatalf("cachetest: Redis Cluster: %v", err)
	}
	cfg := config.DefaultRedis(newPrefix())
	cfg.Addrs = slices.Clone(addrs)
	cfg.PoolSize = 32
	tb.Cleanup(func() {
		for _, a := range addrs {
			c := redis.NewClient(&redis.Options{Addr: a})
			deleteKeys(c, cfg.KeyPrefix)
			c.Close()
		}
	})
	return cfg
}

// NewCluster returns a Cluster client (go-redis's universal client given the
// three masters) and the test's key prefix, as New does for the single
// server.
func NewCluster(tb testing.TB) (redis.UniversalClient, string) {
	tb.Helper()
	return open(tb, NewClusterConfig(tb))
}

const (
	clusterSize = 3
	// dirPrefix names the cluster's directory (nodes.conf, logs), followed
	// by the test binary's pid.
	dirPrefix = "cachetest-cluster-"
)

// cluster is the test binary's one Redis Cluster, started by the first
// NewClusterConfig.
var cluster struct {
	once  sync.Once
	addrs []string
	err   error
}

func clusterAddrs() ([]string, error) {
	cluster.once.Do(func() { cluster.addrs, cluster.err = startCluster() })
	return cluster.addrs, cluster.err
}

// startCluster starts clusterSize redis-server processes in cluster mode on
// free loopback ports, joins them with redis-cli --cluster create and waits
// until every node reports cluster_state:ok.
func startCluster() ([]string, error) {
	server, err := exec.LookPath("redis-server")
	if err != nil {
		return nil, fmt.Errorf("the redis-server binary is required (make test installs it): %w", err)
	}
	cli, err := exec.LookPath("redis-cli")
	if err != nil {
		return nil, fmt.Errorf("the redis-cli binary is required (make test installs it): %w", err)
	}
	removeStaleDirs()
	dir, err := os.MkdirTemp("", dirPrefix+strconv.Itoa(os.Getpid())+"-")
	if err != nil {
		return nil, err
	}
	// Another test binary may pick the same port at random between
	// freeport.Ports and redis-server's bind; then start again on others.
	for try := 1; ; try++ {
		d := filepath.Join(dir, strconv.Itoa(try))
		if err := os.Mkdir(d, 0o755); err != nil {
			return nil, err
		}
		addrs, err := tryCluster(server, cli, d)
		if err == nil || try == 3 {
			return addrs, err
		}
	}
}

// node is one redis-server process of the cluster.
type node struct {
	addr   string
	log    string
	cmd    *exec.Cmd
	exited chan struct{}
}

func tryCluster(server, cli, dir string) (addrs []string, err error) {
	ports, err := freeport.Ports(2 * clusterSize) // below the ephemeral range: see freeport
	if err != nil {
		return nil, err
	}
	nodes := make([]*node, clusterSize)
	for i := range nodes {
		port, bus := strconv.Itoa(ports[2*i]), strconv.Itoa(ports[2*i+1])
		n := &node{addr: "127.0.0.1:" + port, log: filepath.Join(dir, port+".log"), exited: make(chan struct{})}
		n.cmd = exec.Command(server,
			"--bind", "127.0.0.1", "--port", port, "--cluster-port", bus,
			"--cluster-enabled", "yes", "--cluster-config-file", "nodes-"+port+".conf",
			"--dir", dir, "--logfile", n.log, "--save", "", "--appendonly", "no")
		nodes[i], addrs = n, append(addrs, n.addr)
	}
	defer func() {
		if err != nil {
			for _, n := range nodes {
				if n.cmd.Process != nil {
					_ = n.cmd.Process.Kill()
					<-n.exited
				}
			}
		}
	}()
	if err := spawn(nodes); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, n := range nodes {
		if err := n.waitReady(ctx, func(c *redis.Client) bool { return c.Ping(ctx).Err() == nil }); err != nil {
			return nil, err
		}
	}
	args := append([]string{"--cluster", "create"}, addrs...)
	out, err := exec.CommandContext(ctx, cli, append(args, "--cluster-replicas", "0", "--cluster-yes")...).CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("redis-cli --cluster create: %w\n%s", err, out)
	}
	for _, n := range nodes {
		if err := n.waitReady(ctx, func(c *redis.Client) bool {
			info, err := c.ClusterInfo(ctx).Result()
			return err == nil && strings.Contains(info, "cluster_state:ok") &&
				strings.Contains(info, "cluster_known_nodes:"+strconv.Itoa(clusterSize)+"\r")
		}); err != nil {
			return nil, err
		}
	}
	return addrs, nil
}

// spawn starts the nodes' processes from a goroutine that keeps its OS
// thread to itself until they have exited: the kernel sends Pdeathsig when
// the thread that started a child ends, and another goroutine locked to a
// shared thread could end it early.
func spawn(nodes []*node) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread ends with this goroutine
		var wg sync.WaitGroup
		var err error
		for _, n := range nodes {
			dieWithParent(n.cmd)
			if err = n.cmd.Start(); err != nil {
				err = fmt.Errorf("start redis-server: %w", err)
				break
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				_ = n.cmd.Wait()
				close(n.exited)
			}()
		}
		errc <- err
		wg.Wait()
	}()
	return <-errc
}

// waitReady polls the node until ready reports true, the process exits or
// ctx ends.
func (n *node) waitReady(ctx context.Context, ready func(*redis.Client) bool) error {
	c := redis.NewClient(&redis.Options{Addr: n.addr, MaxRetries: -1, DialTimeout: time.Second})
	defer c.Close()
	for !ready(c) {
		select {
		case <-n.exited:
			return fmt.Errorf("redis-server on %s exited: %s", n.addr, n.logTail())
		case <-ctx.Done():
			return fmt.Errorf("redis-server on %s not ready: %w: %s", n.addr, ctx.Err(), n.logTail())
		case <-time.After(20 * time.Millisecond):
		}
	}
	return nil
}

func (n *node) logTail() string {
	b, _ := os.ReadFile(n.log)
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	return strings.Join(lines[max(0, len(lines)-10):], "\n")
}

// removeStaleDirs deletes the directories left by the clusters of test
// binaries that have exited (their processes were killed with them).
func removeStaleDirs() {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), dirPrefix+"*"))
	for _, d := range dirs {
		pid, _, _ := strings.Cut(strings.TrimPrefix(filepath.Base(d), dirPrefix), "-")
		if p, err := strconv.Atoi(pid); err == nil && p != os.Getpid() && !alive(p) {
			_ = os.RemoveAll(d)
		}
	}
}
