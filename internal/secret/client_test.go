package secret_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/wxcard/wxcard/internal/secret"
	"github.com/wxcard/wxcard/internal/secretstest"
	"github.com/wxcard/wxcard/pkg/wxsign"
)

func TestClientFromEnv(t *testing.T) {
	sm := secretstest.NewServer(map[string]string{"wxcard/x": `{"mchid":"1"}`})
	defer sm.Close()
	env := map[string]string{"AWS_REGION": "ap-shanghai", "AWS_ACCESS_KEY_ID": "AKID", "AWS_SECRET_ACCESS_KEY": "SECRET", "AWS_SESSION_TOKEN": "TOKEN", "AWS_ENDPOINT_URL_SECRETS_MANAGER": sm.URL}
	get := func(k string) string { return env[k] }
	c, err := secret.ClientFromEnv(get)
	require.NoError(t, err)
	_, err = secret.Load(context.Background(), c, "wxcard/x", wxsign.Merchant)
	require.ErrorContains(t, err, `field "cert_serial_no"`, "the real client read the secret from the endpoint")
	assert.Equal(t, 1, sm.Calls())

	delete(env, "AWS_ENDPOINT_URL_SECRETS_MANAGER")
	env["AWS_ENDPOINT_URL"] = sm.URL
	c, err = secret.ClientFromEnv(get)
	require.NoError(t, err)
	_, _ = secret.Load(context.Background(), c, "wxcard/x", wxsign.Merchant)
	assert.Equal(t, 2, sm.Calls(), "AWS_ENDPOINT_URL applies too")

	delete(env, "AWS_REGION")
	_, err = secret.ClientFromEnv(get)
	require.ErrorContains(t, err, "AWS_REGION")
	env["AWS_DEFAULT_REGION"] = "ap-shanghai"
	delete(env, "AWS_SECRET_ACCESS_KEY")
	_, err = secret.ClientFromEnv(get)
	require.ErrorContains(t, err, "AWS_SECRET_ACCESS_KEY")
}

func TestMiniProgramReader(t *testing.T) {
	sm := secretstest.NewServer(map[string]string{"wxcard/mp": `{"appid":"wx0123456789abcdef","app_secret":"0123456789abcdef0123456789abcdef"}`, "wxcard/bad": `{"appid":"wx0123456789abcdef"}`})
	defer sm.Close()
	read := secret.MiniProgramReader(secretstest.Client(sm.URL))
	appID, appSecret, err := read(context.Background(), "wxcard/mp")
	require.NoError(t, err)
	assert.Equal(t, "wx0123456789abcdef", appID)
	assert.Equal(t, "0123456789abcdef0123456789abcdef", appSecret)
	appID, appSecret, err = read(context.Background(), "wxcard/bad")
	require.ErrorContains(t, err, `field "app_secret" is missing`)
	assert.Empty(t, appID+appSecret)
}
