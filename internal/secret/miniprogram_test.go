package secret_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/wxcard/wxcard/internal/secret"
	"github.com/wxcard/wxcard/internal/secretstest"
)

func TestParseMiniProgram(t *testing.T) {
	t.Parallel()
	const appSecret = "0123456789abcdef0123456789abcdef"
	cases := []struct {
		value, field, reason string
	}{
		{`{"appid":"wx1","app_secret":"` + appSecret + `","note":"kept"}`, "", ""},
		{`{"app_secret":"` + appSecret + `"}`, "appid", "is missing or empty"},
		{`{"appid":" ","app_secret":"` + appSecret + `"}`, "appid", "is missing or empty"},
		{`{"appid":"wx1"}`, "app_secret", "is missing or empty"},
		{`{"appid":"wx1","app_secret":null}`, "app_secret", "is missing or empty"},
		{`{"appid":"wx1","app_secret":"` + appSecret + ` "}`, "app_secret", "contains spaces or control characters"},
		{`{"appid":"wx 1","app_secret":"` + appSecret + `"}`, "appid", "contains spaces or control characters"},
		{`{"appid":"wx1","app_secret":"a` + "\x7f" + `"}`, "app_secret", "contains spaces or control characters"},
		{`{"appid":"wx1","app_secret":1}`, "", "is not a JSON object"},
		{`"` + appSecret + `"`, "", "is not a JSON object"},
		{appSecret, "", "is not a JSON object"},
	}
	for _, tc := range cases {
		m, err := secret.ParseMiniProgram("wxcard/miniprogram", []byte(tc.value))
		if tc.reason == "" {
			require.NoError(t, err)
			assert.Equal(t, "wx1", m.AppID)
			assert.Equal(t, appSecret, m.AppSecret)
			for _, s := range []string{m.String(), fmt.Sprintf("%v %+v %#v %s", m, m, m, *m)} {
				assert.NotContains(t, s, appSecret)
				assert.Contains(t, s, "wx1")
			}
			continue
		}
		var se *secret.Error
		require.ErrorAs(t, err, &se, tc.value)
		assert.Equal(t, tc.field, se.Field, tc.value)
		assert.Equal(t, tc.reason, se.Reason, tc.value)
		assert.Contains(t, err.Error(), `"wxcard/miniprogram"`)
		assert.NotContains(t, err.Error(), appSecret)
	}
}

func TestLoadMiniProgram(t *testing.T) {
	t.Parallel()
	s := secretstest.NewServer(map[string]string{"wxcard/mp": `{"appid":"wx1","app_secret":"s1"}`, "wxcard/bad": `{"appid":"wx1"}`})
	defer s.Close()
	client := secretstest.Client(s.URL)
	ctx := context.Background()
	m, err := secret.LoadMiniProgram(ctx, client, "wxcard/mp")
	require.NoError(t, err)
	assert.Equal(t, secret.MiniProgram{AppID: "wx1", AppSecret: "s1"}, *m)
	_, err = secret.LoadMiniProgram(ctx, client, "wxcard/bad")
	require.ErrorContains(t, err, `field "app_secret" is missing`)
	_, err = secret.LoadMiniProgram(ctx, client, "wxcard/absent")
	var se *secret.Error
	require.ErrorAs(t, err, &se)
	assert.Equal(t, "cannot be read from Secrets Manager", se.Reason)
	assert.Error(t, errors.Unwrap(err))
	_, err = secret.LoadMiniProgram(ctx, client, "")
	require.ErrorContains(t, err, "MINIPROGRAM_SECRET_ID")
}

// FuzzParseMiniProgram: an error never quotes the secret's value.
func FuzzParseMiniProgram(f *testing.F) {
	f.Add([]byte(`{"appid":"wx1","app_secret":"abcdefghijklmnop"}`))
	f.Add([]byte(`{"appid":"wx1","app_secret":"abcdefghijkl mnop"}`))
	f.Fuzz(func(t *testing.T, value []byte) {
		_, err := secret.ParseMiniProgram("wxcard/fuzz", value)
		if err == nil {
			return
		}
		var se *secret.Error
		require.ErrorAs(t, err, &se)
		if len(value) >= 12 && strings.Contains(err.Error(), string(value)) {
			t.Fatalf("error quotes the secret: %v", err)
		}
	})
}

// No way of printing a MiniProgram shows its AppSecret: fmt, slog's JSON
// and text handlers (which would marshal the struct), and encoding/json.
func TestMiniProgramNeverPrintsTheSecret(t *testing.T) {
	t.Parallel()
	const appSecret = "0123456789abcdef0123456789abcdef"
	mp := secret.MiniProgram{AppID: "wx0123456789abcdef", AppSecret: appSecret}
	var jsonLog, textLog bytes.Buffer
	slog.New(slog.NewJSONHandler(&jsonLog, nil)).Info("boot", "mp", mp, "ptr", &mp)
	slog.New(slog.NewTextHandler(&textLog, nil)).Info("boot", "mp", mp)
	marshalled, err := json.Marshal(mp)
	require.NoError(t, err)
	for name, out := range map[string]string{
		"%v": fmt.Sprintf("%v", mp), "%+v": fmt.Sprintf("%+v", mp), "%#v": fmt.Sprintf("%#v", mp), "%v of a pointer": fmt.Sprintf("%v", &mp),
		"slog JSON": jsonLog.String(), "slog text": textLog.String(), "json": string(marshalled),
	} {
		assert.NotContains(t, out, appSecret, name)
		assert.Contains(t, out, mp.AppID, name)
	}
}
