package wxpaytest_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/wxcard/wxcard/pkg/wxpay"
	"github.com/wxcard/wxcard/pkg/wxpay/wxpaytest"
	"github.com/wxcard/wxcard/pkg/wxsign"
)

// weChatPayHosts are WeChat Pay's real hosts, which no test may reach.
var weChatPayHosts = []string{"api.mch.weixin.qq.com", "api2.mch.weixin.qq.com"}

// guard returns hc with a transport that reaches no WeChat Pay host: a
// dial of one of weChatPayHosts is refused before its name is looked up,
// and the resolver refuses any DNS query (the stand-in is 127.0.0.1 and
// needs none). No proxy is used, so every host the client asks for is
// dialed here. refused lists what was refused.
func guard(t *testing.T, hc *http.Client) (guarded *http.Client, refused func() []string) {
	t.Helper()
	var mu sync.Mutex
	var names []string
	refuse := func(name string) error {
		mu.Lock()
		defer mu.Unlock()
		names = append(names, name)
		return fmt.Errorf("test guard: %s refused", name)
	}
	tr, ok := hc.Transport.(*http.Transport)
	require.True(t, ok, "the stand-in's client has an *http.Transport")
	tr = tr.Clone()
	dialer := &net.Dialer{Timeout: 2 * time.Second, Resolver: &net.Resolver{
		PreferGo: true,
		Dial: func(_ context.Context, _, server string) (net.Conn, error) {
			return nil, refuse("DNS query to " + server)
		},
	}}
	tr.Proxy = nil
	tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		host, _, err := net.SplitHostPort(addr)
		if err != nil {
			return nil, err
		}
		if slices.Contains(weChatPayHosts, strings.ToLower(strings.TrimSuffix(host, "."))) {
			return nil, refuse(host)
		}
		return dialer.DialContext(ctx, network, addr)
	}
	guarded = &http.Client{Transport: tr, Timeout: hc.Timeout}
	return guarded, func() []string {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(names)
	}
}

// A connection the stand-in drops never sends the call to the real WeChat
// Pay: a client from Server.Config, or one built by hand with the
// stand-in's URL and no BackupURL, has no backup host, so the call ends
// ErrUnreachable without dialing WeChat Pay or looking up its name. The
// last case shows the guard catches a client that would: one told to
// fail over to WeChat Pay's backup host.
func TestDroppedConnectionNeverReachesWeChatPay(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name       string
		config     func(srv *wxpaytest.Server, id *wxsign.Identity) wxpay.Config
		faults     []wxpaytest.Fault
		failedOver bool
		refused    []string
	}{
		{
			name:   "Server.Config",
			config: (*wxpaytest.Server).Config,
			faults: []wxpaytest.Fault{{Kind: wxpaytest.Drop}},
		},
		{
			name:   "Server.Config, every attempt dropped",
			config: (*wxpaytest.Server).Config,
			faults: []wxpaytest.Fault{{Kind: wxpaytest.Drop}, {Kind: wxpaytest.Drop}, {Kind: wxpaytest.Drop}, {Kind: wxpaytest.Drop}},
		},
		{
			name:   "Server.Config, the answer dropped",
			config: (*wxpaytest.Server).Config,
			faults: []wxpaytest.Fault{{Kind: wxpaytest.DropAnswer}},
		},
		{
			name: "by hand, BackupURL unset",
			config: func(srv *wxpaytest.Server, id *wxsign.Identity) wxpay.Config {
				return wxpay.Config{BaseURL: srv.URL, Signer: id.Signer(), Verifier: srv.Verifier(), PublicKeyID: srv.PublicKeyID, HTTPClient: srv.Client()}
			},
			faults: []wxpaytest.Fault{{Kind: wxpaytest.Drop}},
		},
		{
			name: "the guard: told to fail over to WeChat Pay",
			config: func(srv *wxpaytest.Server, id *wxsign.Identity) wxpay.Config {
				cfg := srv.Config(id)
				cfg.BackupURL = wxpay.DefaultBackupURL
				return cfg
			},
			faults:     []wxpaytest.Fault{{Kind: wxpaytest.Drop}},
			failedOver: true,
			refused:    []string{"api2.mch.weixin.qq.com"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := wxpaytest.NewServer(wxpaytest.Options{})
			t.Cleanup(srv.Close)
			srv.Handle(wxpaytest.Route{Method: http.MethodGet, Pattern: "/v3/x", Scheme: wxsign.Merchant,
				Handler: func(*wxpaytest.Call) wxpaytest.Reply { return wxpaytest.OK(map[string]string{}) }})
			cfg := tc.config(srv, srv.AddMerchant("1900000001"))
			var refused func() []string
			cfg.HTTPClient, refused = guard(t, cfg.HTTPClient)
			c, err := wxpay.New(cfg)
			require.NoError(t, err)
			srv.Inject(tc.faults...)

			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_, err = c.Do(ctx, wxpay.Request{Method: http.MethodGet, Path: "/v3/x", Route: "/v3/x"})
			require.ErrorIs(t, err, wxpay.ErrUnreachable)
			var ce *wxpay.CallError
			require.ErrorAs(t, err, &ce)
			assert.Equal(t, tc.failedOver, ce.FailedOver)
			assert.Equal(t, tc.refused, refused(), "names refused by the guard")
			assert.NotEmpty(t, srv.Requests(), "the stand-in got the call it dropped")
		})
	}
}
