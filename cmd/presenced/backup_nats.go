package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/nats-io/jsm.go"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// backupOptions are the settings backup and restore share: where the
// stream is, as the node's own flags (and PRESENCE_* variables) name it.
type backupOptions struct {
	natsURL, creds, tlsCA, user, password string
	dataDir, stream                       string
	timeout                               time.Duration
}

func newBackupFlags(name string, stderr io.Writer) (*flag.FlagSet, *backupOptions) {
	o := &backupOptions{}
	fs := flag.NewFlagSet("presenced "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.natsURL, "nats-url", "", "comma-separated URLs of an external NATS; empty opens the embedded server's store in --data-dir")
	fs.StringVar(&o.creds, "nats-creds", "", "NATS credentials file")
	fs.StringVar(&o.tlsCA, "nats-tls-ca", "", "CA certificate to verify NATS servers")
	fs.StringVar(&o.user, "nats-user", "", "NATS user name")
	fs.StringVar(&o.password, "nats-password", "", "NATS password")
	fs.StringVar(&o.dataDir, "data-dir", "./data", "data directory of a stopped node's embedded NATS server")
	fs.StringVar(&o.stream, "stream", "PRESENCE", "JetStream stream name")
	fs.DurationVar(&o.timeout, "timeout", backupTimeout, "longest time the whole operation may take")
	return fs, o
}

// parse reads the flags, then PRESENCE_<NAME> variables for flags the
// command line left alone (as the node does), and returns the directory
// argument.
func (o *backupOptions) parse(fs *flag.FlagSet, args []string, getenv func(string) string) (string, error) {
	if err := fs.Parse(args); err != nil {
		return "", err
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	var errs []error
	for _, name := range []string{"nats-url", "nats-creds", "nats-tls-ca", "nats-user", "nats-password", "data-dir", "stream"} {
		if set[name] {
			continue
		}
		env := "PRESENCE_" + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
		if v := getenv(env); v != "" {
			if err := fs.Set(name, v); err != nil {
				errs = append(errs, fmt.Errorf("%s=%q: %v", env, v, err))
			}
		}
	}
	if err := errors.Join(errs...); err != nil {
		return "", err
	}
	if fs.NArg() != 1 {
		return "", fmt.Errorf("want one backup directory argument (see -h)")
	}
	return fs.Arg(0), nil
}

// envInt sets an int flag from its PRESENCE_ variable when the command line
// did not.
func envInt(fs *flag.FlagSet, name string, getenv func(string) string) error {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	env := "PRESENCE_" + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
	if v := getenv(env); !set && v != "" {
		if _, err := strconv.Atoi(v); err != nil {
			return fmt.Errorf("%s=%q: want an integer", env, v)
		}
		return fs.Set(name, v)
	}
	return nil
}

// backupConn is a NATS connection for backup or restore, and the embedded
// server and data directory lock it may hold.
type backupConn struct {
	nc       *nats.Conn
	mgr      *jsm.Manager
	embedded *server.Server
	lock     *os.File
}

// open connects to the external NATS, or starts an embedded server on the
// data directory (locked as a running node locks it) and connects in
// process. existing says the embedded store must already be there (a
// backup); a restore may create it.
func (o *backupOptions) open(ctx context.Context, existing bool) (*backupConn, error) {
	c := &backupConn{}
	opts := []nats.Option{nats.Name("presenced backup"), nats.Timeout(10 * time.Second)}
	url := o.natsURL
	if url == "" {
		if _, err := os.Stat(filepath.Join(o.dataDir, "jetstream")); existing && err != nil {
			return nil, fmt.Errorf("no embedded NATS store in data dir %s (%v)", o.dataDir, err)
		}
		lock, err := lockBackupDataDir(o.dataDir)
		if err != nil {
			return nil, err
		}
		c.lock = lock
		srv, err := server.NewServer(&server.Options{
			ServerName: "presenced-backup",
			JetStream:  true,
			StoreDir:   filepath.Join(o.dataDir, "jetstream"),
			DontListen: true,
			NoSigs:     true,
			NoLog:      true,
		})
		if err != nil {
			c.close()
			return nil, fmt.Errorf("embedded nats-server: %w", err)
		}
		srv.Start()
		c.embedded = srv
		if !srv.ReadyForConnections(30 * time.Second) {
			c.close()
			return nil, fmt.Errorf("embedded nats-server on %s did not become ready", o.dataDir)
		}
		opts = append(opts, nats.InProcessServer(srv))
	}
	if o.creds != "" {
		opts = append(opts, nats.UserCredentials(o.creds))
	}
	if o.tlsCA != "" {
		opts = append(opts, nats.RootCAs(o.tlsCA))
	}
	if o.user != "" {
		opts = append(opts, nats.UserInfo(o.user, o.password))
	}
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		c.close()
		return nil, fmt.Errorf("connect to NATS: %w", err)
	}
	c.nc = nc
	timeout, _ := ctx.Deadline()
	mgr, err := jsm.New(nc, jsm.WithTimeout(max(time.Until(timeout), time.Second)))
	if err != nil {
		c.close()
		return nil, err
	}
	c.mgr = mgr
	if err := waitJetStream(ctx, mgr); err != nil {
		c.close()
		return nil, err
	}
	return c, nil
}

// waitJetStream polls until JetStream answers: an embedded server
// recovering a large store takes a moment.
func waitJetStream(ctx context.Context, mgr *jsm.Manager) error {
	for {
		_, err := mgr.JetStreamAccountInfo()
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("JetStream did not answer: %v", err)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func (c *backupConn) close() {
	if c.nc != nil {
		c.nc.Close()
	}
	if c.embedded != nil {
		c.embedded.Shutdown()
		c.embedded.WaitForShutdown()
	}
	if c.lock != nil {
		c.lock.Close()
	}
}

// lockBackupDataDir takes the lock a running node holds on its data
// directory (presenced.lock, flock), so that a backup never opens the
// store of a running node and a node never starts on a store being
// restored.
func lockBackupDataDir(dir string) (*os.File, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("data dir: %w", err)
	}
	f, err := os.OpenFile(filepath.Join(dir, "presenced.lock"), os.O_RDWR|os.O_CREATE, 0o640)
	if err != nil {
		return nil, fmt.Errorf("data dir lock: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("data dir %s is in use by a running presenced; stop it first or back up through --nats-url", dir)
		}
		return nil, fmt.Errorf("data dir lock: %w", err)
	}
	return f, nil
}
