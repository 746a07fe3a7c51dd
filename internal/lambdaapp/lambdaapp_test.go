package lambdaapp

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/wxcard/wxcard/internal/metrics"
	"github.com/wxcard/wxcard/internal/secret"
	"github.com/wxcard/wxcard/internal/secretstest"
	"github.com/wxcard/wxcard/pkg/membercard"
	"github.com/wxcard/wxcard/pkg/membercard/membercardtest"
	"github.com/wxcard/wxcard/pkg/wxpay"
	"github.com/wxcard/wxcard/pkg/wxpay/wxpaytest"
	"github.com/wxcard/wxcard/pkg/wxsign"
)

func TestEnvFrom(t *testing.T) {
	get := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	e, err := EnvFrom(get(map[string]string{"WXPAY_SECRET_ID": " wxcard/partner ", "AUTHORITY_BRAND_IDS": "1004, 1005,,", "ALLOWED_CARD_IDS": "c1"}))
	require.NoError(t, err)
	assert.Equal(t, Env{
		SecretID: "wxcard/partner", BaseURL: wxpay.DefaultBaseURL, BackupURL: "",
		AuthorityBrandIDs: []string{"1004", "1005"}, AllowedCardIDs: []string{"c1"}, OpenIDClaim: "openid",
	}, e)

	_, err = EnvFrom(get(map[string]string{}))
	require.ErrorContains(t, err, "WXPAY_SECRET_ID")
	e, err = EnvFrom(get(map[string]string{"WXPAY_SECRET_ID": "s", "WXPAY_PRECONNECT": "off"}))
	require.NoError(t, err)
	assert.True(t, e.NoPreconnect)
	_, err = EnvFrom(get(map[string]string{"WXPAY_SECRET_ID": "s", "WXPAY_PRECONNECT": "maybe"}))
	require.ErrorContains(t, err, "WXPAY_PRECONNECT")
	_, err = EnvFrom(get(map[string]string{"WXPAY_SECRET_ID": "s", "AUTHORITY_BRAND_IDS": "1004,10/05"}))
	require.ErrorContains(t, err, "AUTHORITY_BRAND_IDS")
	_, err = EnvFrom(get(map[string]string{"WXPAY_SECRET_ID": "s", "ALLOWED_BRAND_IDS": "a b"}))
	require.ErrorContains(t, err, "ALLOWED_BRAND_IDS")
}

// hostsDialed is an http.Client that dials nothing: it records the host of
// every request and fails it as a refused connection would.
func hostsDialed() (*http.Client, func() []string) {
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

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// A function fails over to WeChat Pay's backup host only when it calls
// WeChat Pay's own host, or when WXPAY_BACKUP_BASE_URL names one: a
// function pointed at a stand-in or a proxy never reaches the real WeChat
// Pay through its backup.
func TestBackupHostFollowsTheBaseURL(t *testing.T) {
	srv := membercardtest.NewServer(wxpaytest.Options{})
	defer srv.Close()
	id := secretstest.IdentityOf(srv.Server, srv.AddMerchant("1900000001"))
	for _, tc := range []struct {
		name string
		env  map[string]string
		want []string
	}{
		{"WeChat Pay by default", nil, []string{"api.mch.weixin.qq.com", "api2.mch.weixin.qq.com"}},
		{"WeChat Pay named", map[string]string{"WXPAY_BASE_URL": "https://api.mch.weixin.qq.com/"}, []string{"api.mch.weixin.qq.com", "api2.mch.weixin.qq.com"}},
		{"WeChat Pay without backup", map[string]string{"WXPAY_BACKUP_BASE_URL": "-"}, []string{"api.mch.weixin.qq.com"}},
		{"a stand-in", map[string]string{"WXPAY_BASE_URL": "https://wxpay.example.test"}, []string{"wxpay.example.test"}},
		{"a stand-in and its backup", map[string]string{"WXPAY_BASE_URL": "https://wxpay.example.test", "WXPAY_BACKUP_BASE_URL": " https://wxpay2.example.test "},
			[]string{"wxpay.example.test", "wxpay2.example.test"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			vars := map[string]string{"WXPAY_SECRET_ID": "wxcard/partner"}
			maps.Copy(vars, tc.env)
			env, err := EnvFrom(func(k string) string { return vars[k] })
			require.NoError(t, err)
			hc, dialed := hostsDialed()
			u, err := NewUpstream(context.Background(), env, func(context.Context) (*secret.Identity, error) { return id, nil }, hc, slog.New(slog.DiscardHandler))
			require.NoError(t, err)
			_, err = u.Do(context.Background(), wxpay.Request{Method: http.MethodGet, Path: membercard.ProductAuthoritiesPath("1004"), Route: membercard.ProductAuthoritiesRoute})
			require.ErrorIs(t, err, wxpay.ErrUnreachable)
			assert.Equal(t, tc.want, dialed())
		})
	}
}

// Warm calls never read the secret; a refresh happens after an hour, and
// right after WeChat Pay answers SIGN_ERROR (here: after a key rotation).
func TestUpstreamFollowsTheSecret(t *testing.T) {
	srv := membercardtest.NewServer(wxpaytest.Options{})
	defer srv.Close()
	srv.SetAuthorities(membercard.ProductAuthorities{BrandID: "1004", AuthorizationType: "AUTHORIZATION_TYPE_PARTLY", UpdateTime: "2025-05-20T13:29:35+08:00"})
	current := secretstest.IdentityOf(srv.Server, srv.AddMerchant("1900000001"))
	var loads atomic.Int64
	load := func(context.Context) (*secret.Identity, error) { loads.Add(1); return current, nil }
	env := Env{BaseURL: srv.URL, BackupURL: "-"}
	u, err := NewUpstream(context.Background(), env, load, srv.Client(), slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	now := time.Now()
	u.creds.now = func() time.Time { return now }
	req := wxpay.Request{Method: http.MethodGet, Path: membercard.ProductAuthoritiesPath("1004"), Route: membercard.ProductAuthoritiesRoute}

	for i := 0; i < 3; i++ {
		_, err := u.Do(context.Background(), req)
		require.NoError(t, err)
	}
	assert.EqualValues(t, 1, loads.Load(), "warm invocations do not read the secret")
	rec, err := srv.LastRequest()
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(rec.Header.Get("User-Agent"), "wxcard/"+Version+" wxcard-wxpay/"), rec.Header.Get("User-Agent"))
	assert.Equal(t, 1, srv.Connections(), "warm invocations reuse the connection")

	now = now.Add(MaxAge + time.Second)
	_, err = u.Do(context.Background(), req)
	require.NoError(t, err)
	assert.EqualValues(t, 2, loads.Load(), "refreshed after an hour")

	// The operator rotates the key: WeChat Pay now knows only the new one,
	// and the secret holds it.
	now = now.Add(2 * RetryAfterFailure)
	current = secretstest.IdentityOf(srv.Server, srv.AddMerchant("1900000001"))
	_, err = u.Do(context.Background(), req)
	var apiErr *wxpay.APIError
	require.ErrorAs(t, err, &apiErr)
	assert.Equal(t, "SIGN_ERROR", apiErr.Code)
	_, err = u.Do(context.Background(), req)
	require.NoError(t, err, "the next call reloads the secret and signs with the new key")
	assert.EqualValues(t, 3, loads.Load())
	assert.Equal(t, current, u.Identity())
}

// A refresh that fails keeps the working credentials, and is not retried
// more than once a minute.
func TestUpstreamKeepsCredentialsWhenRefreshFails(t *testing.T) {
	srv := membercardtest.NewServer(wxpaytest.Options{})
	defer srv.Close()
	srv.SetAuthorities(membercard.ProductAuthorities{BrandID: "1004", AuthorizationType: "AUTHORIZATION_TYPE_PARTLY", UpdateTime: "2025-05-20T13:29:35+08:00"})
	id := secretstest.IdentityOf(srv.Server, srv.AddMerchant("1900000001"))
	var loads atomic.Int64
	load := func(context.Context) (*secret.Identity, error) {
		if loads.Add(1) > 1 {
			return nil, errors.New("Secrets Manager is down")
		}
		return id, nil
	}
	var logs bytes.Buffer
	u, err := NewUpstream(context.Background(), Env{BaseURL: srv.URL, BackupURL: "-"}, load, srv.Client(), slog.New(slog.NewJSONHandler(&logs, nil)))
	require.NoError(t, err)
	now := time.Now().Add(MaxAge + time.Minute)
	u.creds.now = func() time.Time { return now }
	req := wxpay.Request{Method: http.MethodGet, Path: membercard.ProductAuthoritiesPath("1004"), Route: membercard.ProductAuthoritiesRoute}
	for i := 0; i < 3; i++ {
		_, err = u.Do(context.Background(), req)
		require.NoError(t, err)
	}
	assert.EqualValues(t, 2, loads.Load(), "one failed refresh, not one per call")
	assert.Contains(t, logs.String(), "credentials refresh failed")
}

func TestNewUpstreamFailsWithoutCredentials(t *testing.T) {
	_, err := NewUpstream(context.Background(), Env{}, func(context.Context) (*secret.Identity, error) {
		return nil, &secret.Error{SecretID: "wxcard/x", Field: "private_key", Reason: "does not parse"}
	}, http.DefaultClient, slog.New(slog.DiscardHandler))
	require.ErrorContains(t, err, `"wxcard/x": field "private_key"`)
}

// An answer signed by a key ID the secret does not hold (a WeChat Pay key
// rotation the secret has not caught up with) asks for a refresh, as
// SIGN_ERROR does, at most once per RetryAfterFailure.
func TestUnknownKeyIDRefreshesTheSecret(t *testing.T) {
	srv := membercardtest.NewServer(wxpaytest.Options{})
	defer srv.Close()
	srv.SetAuthorities(membercard.ProductAuthorities{BrandID: "1004", AuthorizationType: "AUTHORIZATION_TYPE_PARTLY", UpdateTime: "2025-05-20T13:29:35+08:00"})
	id := secretstest.IdentityOf(srv.Server, srv.AddMerchant("1900000001"))
	var loads atomic.Int64
	load := func(context.Context) (*secret.Identity, error) { loads.Add(1); return id, nil }
	u, err := NewUpstream(context.Background(), Env{BaseURL: srv.URL, BackupURL: "-"}, load, srv.Client(), slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	now := time.Now()
	u.creds.now = func() time.Time { return now }
	var emf bytes.Buffer
	u.Credentials().Metrics = &metrics.Emitter{Out: &emf, Function: "authorities"}
	req := wxpay.Request{Method: http.MethodGet, Path: membercard.ProductAuthoritiesPath("1004"), Route: membercard.ProductAuthoritiesRoute}

	srv.Inject(wxpaytest.Fault{Kind: wxpaytest.UnknownKeyID}, wxpaytest.Fault{Kind: wxpaytest.UnknownKeyID})
	_, err = u.Do(context.Background(), req)
	require.ErrorIs(t, err, wxsign.ErrUnknownKey)
	_, err = u.Do(context.Background(), req)
	require.ErrorIs(t, err, wxsign.ErrUnknownKey)
	assert.EqualValues(t, 2, loads.Load(), "the first unknown key ID reloads the secret")
	_, err = u.Do(context.Background(), req)
	require.NoError(t, err)
	assert.EqualValues(t, 2, loads.Load(), "the second, within a minute, does not")
	recs, err := metrics.ParseLog(emf.Bytes())
	require.NoError(t, err)
	require.Len(t, recs, 1, "one SecretRefresh per refresh")
	assert.Equal(t, 1.0, recs[0].Sum("SecretRefresh"))
	assert.Equal(t, "ok", recs[0].Dimensions["outcome"])
}

// A pace set after cold start applies to every later call, on the client
// built before it too; a pace that refuses ends the call unsent.
func TestSetPaceAppliesToTheNextCall(t *testing.T) {
	t.Parallel()
	srv := membercardtest.NewServer(wxpaytest.Options{})
	defer srv.Close()
	srv.SetAuthorities(membercard.ProductAuthorities{BrandID: "1004", AuthorizationType: "AUTHORIZATION_TYPE_PARTLY", UpdateTime: "2025-05-20T13:29:35+08:00"})
	id := secretstest.IdentityOf(srv.Server, srv.AddMerchant("1900000001"))
	load := func(context.Context) (*secret.Identity, error) { return id, nil }
	u, err := NewUpstream(context.Background(), Env{BaseURL: srv.URL, BackupURL: "-"}, load, srv.Client(), slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	req := wxpay.Request{Method: http.MethodGet, Path: membercard.ProductAuthoritiesPath("1004"), Route: membercard.ProductAuthoritiesRoute}
	var paced atomic.Int64
	u.SetPace(func(context.Context) error { paced.Add(1); return nil })
	_, err = u.Do(context.Background(), req)
	require.NoError(t, err)
	assert.EqualValues(t, 1, paced.Load())

	closed := errors.New("closed")
	u.SetPace(func(context.Context) error { return closed })
	_, err = u.Do(context.Background(), req)
	require.ErrorIs(t, err, closed)
	assert.Len(t, srv.Requests(), 1, "the refused call was not sent")
}
