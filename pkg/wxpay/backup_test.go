package wxpay_test

import (
	"net"
	"net/http"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/wxcard/wxcard/pkg/wxpay"
	"github.com/wxcard/wxcard/pkg/wxpay/wxpaytest"
)

// refusingClient dials nothing: it records the host of every attempt and
// fails it as a refused connection, which a client fails over from.
func refusingClient() (*http.Client, func() []string) {
	var mu sync.Mutex
	var hosts []string
	rt := roundTripFunc(func(r *http.Request) (*http.Response, error) {
		mu.Lock()
		defer mu.Unlock()
		hosts = append(hosts, r.URL.Host)
		return nil, &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}
	})
	return &http.Client{Transport: rt}, func() []string {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(hosts)
	}
}

// The backup host is WeChat Pay's only for a client of WeChat Pay's own
// host; a client of anything else has the backup it is given, or none: a
// stand-in that cannot be reached never sends the call to the real
// WeChat Pay.
func TestBackupHostIsWeChatPaysOnlyForWeChatPay(t *testing.T) {
	t.Parallel()
	const (
		wechatpay = "api.mch.weixin.qq.com"
		backup    = "api2.mch.weixin.qq.com"
	)
	cases := []struct {
		name            string
		base, backupURL string
		want            []string
	}{
		{"default base", "", "", []string{wechatpay, backup}},
		{"WeChat Pay named", wxpay.DefaultBaseURL, "", []string{wechatpay, backup}},
		{"WeChat Pay with a slash", wxpay.DefaultBaseURL + "/", "", []string{wechatpay, backup}},
		{"WeChat Pay in capitals, port 443", "https://API.MCH.WEIXIN.QQ.COM:443", "", []string{"API.MCH.WEIXIN.QQ.COM:443", backup}},
		{"WeChat Pay without backup", wxpay.DefaultBaseURL, "-", []string{wechatpay}},
		{"WeChat Pay with a backup of its own", "", "https://proxy.example.test/", []string{wechatpay, "proxy.example.test"}},
		{"another port of WeChat Pay's host", "https://api.mch.weixin.qq.com:8443", "", []string{"api.mch.weixin.qq.com:8443"}},
		{"WeChat Pay's backup as base", wxpay.DefaultBackupURL, "", []string{backup}},
		{"a stand-in", "https://127.0.0.1:8443", "", []string{"127.0.0.1:8443"}},
		{"a stand-in, no backup", "https://127.0.0.1:8443", "-", []string{"127.0.0.1:8443"}},
		{"a stand-in and its backup", "https://127.0.0.1:8443", "https://127.0.0.1:9443", []string{"127.0.0.1:8443", "127.0.0.1:9443"}},
		{"a proxy", "https://wxpay.example.test", "", []string{"wxpay.example.test"}},
	}
	f := newFixture(t, wxpaytest.Options{})
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			hc, dialed := refusingClient()
			c := f.client(t, func(c *wxpay.Config) { c.BaseURL, c.BackupURL, c.HTTPClient = tc.base, tc.backupURL, hc })
			_, err := c.Do(ctxWithin(t, 5*time.Second), partnerRequest())
			require.ErrorIs(t, err, wxpay.ErrUnreachable)
			var ce *wxpay.CallError
			require.ErrorAs(t, err, &ce)
			assert.Equal(t, tc.want, dialed())
			assert.Equal(t, len(tc.want) == 2, ce.FailedOver)
		})
	}
}
