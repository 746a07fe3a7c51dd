// Command wxcard-local serves the HTTP functions on 127.0.0.1:3000 with the
// routes and events of API Gateway. With no configuration it plays WeChat
// Pay itself (an embedded sandbox with generated keys), so it needs neither
// AWS nor WeChat Pay credentials; with WXPAY_SECRET_ID (service provider)
// and/or WXPAY_BRAND_SECRET_ID (brand) and AWS credentials set, it reads
// those secrets and calls the real WeChat Pay. Sign-in (POST /session and
// the issuer's keys) always runs against an embedded login stand-in, with
// the local API's own address as the issuer.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/wxcard/wxcard/internal/lambdainit"
	"github.com/wxcard/wxcard/internal/localapi"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:3000", "address to listen on")
	flag.Parse()
	// make run execs this binary, so make is the parent: when make is
	// stopped with a signal of its own, we are stopped too.
	stopWithParent()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *addr); err != nil {
		fmt.Fprintln(os.Stderr, "wxcard-local:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, addr string) error {
	logger := lambdainit.NewLogger(os.Stderr, lambdainit.LogLevel(os.Getenv))
	env, brandSecret, err := localapi.Env(os.Getenv)
	if err != nil {
		return err
	}
	// The address comes first: it is the sign-in's issuer.
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	defer ln.Close()
	base := "http://" + ln.Addr().String()
	var stack *localapi.Stack
	if env.SecretID == "" && brandSecret == "" {
		stack, err = localapi.NewSandboxStack(ctx, env, logger)
	} else {
		stack, err = localapi.NewRealStack(ctx, env, brandSecret, logger)
	}
	if err != nil {
		return err
	}
	defer stack.Close()
	if err := stack.EnableSignIn(ctx, base); err != nil {
		return err
	}
	srv := localapi.NewServer(localapi.Handler(stack.Routes), 10*time.Second)
	localapi.PrintBanner(os.Stdout, base, stack, env)
	stack.Events.Out = os.Stdout
	fmt.Println("Ctrl-C stops it.")
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return srv.Shutdown(sctx)
	case err := <-errc:
		if errors.Is(err, http.ErrServerClosed) {
			return nil
		}
		return err
	}
}
