package wxlogintest_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/wxcard/wxcard/pkg/wxlogin"
	"github.com/wxcard/wxcard/pkg/wxlogin/wxlogintest"
)

func get(t *testing.T, srv *wxlogintest.Server, path string, q url.Values) (int, string, map[string]any) {
	t.Helper()
	req, err := http.NewRequestWithContext(context.Background(), http.MethodGet, srv.URL+path+"?"+q.Encode(), nil)
	require.NoError(t, err)
	resp, err := srv.Client().Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	var m map[string]any
	if len(b) > 0 {
		require.NoError(t, json.Unmarshal(b, &m))
	}
	return resp.StatusCode, resp.Header.Get("Content-Type"), m
}

func TestStandIn(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	srv := wxlogintest.NewServer(wxlogintest.Options{Now: func() time.Time { return now }})
	defer srv.Close()
	srv.AddApp("wxa", "sa")
	early := srv.IssueCode("wxa", "o1")
	q := func(code string) url.Values {
		return url.Values{"appid": {"wxa"}, "secret": {"sa"}, "js_code": {code}, "grant_type": {"authorization_code"}}
	}
	now = now.Add(wxlogintest.CodeLifetime - time.Nanosecond)
	status, ct, m := get(t, srv, wxlogin.Path, q(early))
	assert.Equal(t, http.StatusOK, status)
	assert.Equal(t, "text/plain", ct, "WeChat serves JSON as text/plain")
	assert.Equal(t, "o1", m["openid"])
	assert.NotEmpty(t, m["session_key"])
	assert.NotContains(t, m, "unionid")

	bad := q("x")
	bad.Set("grant_type", "password")
	_, _, m = get(t, srv, wxlogin.Path, bad)
	assert.EqualValues(t, 40002, m["errcode"])
	_, _, m = get(t, srv, wxlogin.Path, q(""))
	assert.EqualValues(t, 41008, m["errcode"])
	status, _, _ = get(t, srv, "/sns/other", q("x"))
	assert.Equal(t, http.StatusNotFound, status)

	srv.FailNext(-1, "system error")
	_, _, m = get(t, srv, wxlogin.Path, q("x"))
	assert.EqualValues(t, -1, m["errcode"])
	assert.Equal(t, "system error", m["errmsg"])

	recs := srv.Requests()
	require.Len(t, recs, 5)
	assert.Equal(t, wxlogintest.Redacted, recs[0].Query.Get("secret"))
	assert.Equal(t, now, recs[0].Time)
	assert.Equal(t, []int{0, 40002, 41008, 0, -1}, []int{recs[0].ErrCode, recs[1].ErrCode, recs[2].ErrCode, recs[3].ErrCode, recs[4].ErrCode})
	assert.Equal(t, http.StatusNotFound, recs[3].Status)

	status, _, _ = get(t, srv, wxlogin.Path, url.Values{"appid": {"wxa"}})
	assert.Equal(t, http.StatusOK, status)
	assert.NotContains(t, srv.Requests()[5].Query, "secret", "no secret sent, none recorded")
}
