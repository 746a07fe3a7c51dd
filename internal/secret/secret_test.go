package secret_test

import (
	"context"
	"crypto/rsa"
	"encoding/json"
	"encoding/pem"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/wxcard/wxcard/internal/awstest"
	"github.com/wxcard/wxcard/internal/secret"
	"github.com/wxcard/wxcard/internal/secretstest"
	"github.com/wxcard/wxcard/pkg/wxpay/wxpaytest"
	"github.com/wxcard/wxcard/pkg/wxsign"
)

func values(idField, id string) map[string]string {
	return map[string]string{
		idField:                   id,
		"cert_serial_no":          "5E0B1F7A93C1D6EDD4A4A16996DE7B47773A8C",
		"private_key":             string(wxpaytest.PrivateKeyPEM(wxpaytest.PooledKey(1))),
		"wechatpay_public_key_id": "PUB_KEY_ID_0114232134912410000000000000",
		"wechatpay_public_key":    string(wxpaytest.PublicKeyPEM(&wxpaytest.PooledKey(0).PublicKey)),
	}
}

func jsonOf(m map[string]string) string {
	b, _ := json.Marshal(m)
	return string(b)
}

// cases are the secrets every backend must judge the same way.
func cases() []struct {
	name, value string
	want        wxsign.Scheme
	field       string // "" and ok: a valid secret
	ok          bool
} {
	brand := values("brand_id", "1004")
	sp := values("mchid", "1900000001")
	without := func(m map[string]string, k string) string {
		c := map[string]string{}
		for kk, v := range m {
			if kk != k {
				c[kk] = v
			}
		}
		return jsonOf(c)
	}
	with := func(m map[string]string, k, v string) string {
		c := map[string]string{}
		for kk, vv := range m {
			c[kk] = vv
		}
		c[k] = v
		return jsonOf(c)
	}
	brokenPEM := strings.Replace(brand["private_key"], "\n", "\n!!", 3)
	return []struct {
		name, value string
		want        wxsign.Scheme
		field       string
		ok          bool
	}{
		{"good brand", jsonOf(brand), wxsign.Brand, "", true},
		{"good service provider", jsonOf(sp), wxsign.Merchant, "", true},
		{"not JSON", "-----BEGIN PRIVATE KEY-----", wxsign.Brand, "", false},
		{"missing brand_id", without(brand, "brand_id"), wxsign.Brand, "brand_id", false},
		{"missing mchid", without(sp, "mchid"), wxsign.Merchant, "mchid", false},
		{"missing cert_serial_no", without(sp, "cert_serial_no"), wxsign.Merchant, "cert_serial_no", false},
		{"empty private_key", with(sp, "private_key", " "), wxsign.Merchant, "private_key", false},
		{"missing public key ID", without(brand, "wechatpay_public_key_id"), wxsign.Brand, "wechatpay_public_key_id", false},
		{"missing public key", without(brand, "wechatpay_public_key"), wxsign.Brand, "wechatpay_public_key", false},
		{"broken PEM", with(brand, "private_key", brokenPEM), wxsign.Brand, "private_key", false},
		{"public key is not a key", with(sp, "wechatpay_public_key", "PUB_KEY_ID_0114"), wxsign.Merchant, "wechatpay_public_key", false},
		{"brand secret for a partner function", jsonOf(brand), wxsign.Merchant, "brand_id", false},
		{"partner secret for the brand function", jsonOf(sp), wxsign.Brand, "mchid", false},
		{"serial with a quote", with(sp, "cert_serial_no", `5E0B",x`), wxsign.Merchant, "cert_serial_no", false},
	}
}

func check(t *testing.T, id *secret.Identity, err error, value string, want wxsign.Scheme, field string, ok bool) {
	t.Helper()
	if ok {
		require.NoError(t, err)
		assert.Equal(t, want, id.Scheme)
		assert.IsType(t, &rsa.PrivateKey{}, id.Key)
		assert.NotNil(t, id.PublicKey)
		return
	}
	var se *secret.Error
	require.ErrorAs(t, err, &se)
	assert.Equal(t, "wxcard/test", se.SecretID)
	assert.Equal(t, field, se.Field)
	msg := err.Error()
	assert.Contains(t, msg, `"wxcard/test"`, "the error names the secret")
	for _, leak := range []string{"MII", "PUB_KEY_ID_0114", "5E0B1F7A"} {
		assert.NotContains(t, msg, leak, "the error must not echo the secret's content")
	}
	for _, line := range strings.Split(string(wxpaytest.PrivateKeyPEM(wxpaytest.PooledKey(1))), "\n") {
		if len(line) > 16 && !strings.HasPrefix(line, "-----") {
			assert.NotContains(t, msg, line[:16], "no key material in the error")
		}
	}
}

func TestParse(t *testing.T) {
	for _, tc := range cases() {
		t.Run(tc.name, func(t *testing.T) {
			id, err := secret.Parse("wxcard/test", []byte(tc.value), tc.want)
			check(t, id, err, tc.value, tc.want, tc.field, tc.ok)
		})
	}
}

// loadAll runs the cases through Load with the real SDK client against endpoint.
func loadAll(t *testing.T, client *secretsmanager.Client) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, tc := range cases() {
		t.Run(tc.name, func(t *testing.T) {
			_, err := client.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: aws.String("wxcard/test"), SecretString: aws.String(tc.value)})
			if err != nil {
				_, err = client.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String("wxcard/test"), SecretString: aws.String(tc.value)})
			}
			require.NoError(t, err)
			id, err := secret.Load(ctx, client, "wxcard/test", tc.want)
			check(t, id, err, tc.value, tc.want, tc.field, tc.ok)
		})
	}
	t.Run("missing secret", func(t *testing.T) {
		_, err := secret.Load(ctx, client, "wxcard/absent", wxsign.Brand)
		var se *secret.Error
		require.ErrorAs(t, err, &se)
		assert.Equal(t, "wxcard/absent", se.SecretID)
		assert.Contains(t, err.Error(), "ResourceNotFoundException")
	})
	t.Run("no secret configured", func(t *testing.T) {
		_, err := secret.Load(ctx, client, "", wxsign.Brand)
		require.ErrorContains(t, err, "WXPAY_SECRET_ID")
	})
}

func TestLoadFromMoto(t *testing.T) {
	loadAll(t, secretstest.Client(awstest.StartMoto(t)))
}

func TestLoadFromInProcessSecretsManager(t *testing.T) {
	s := secretstest.NewServer(nil)
	defer s.Close()
	loadAll(t, secretstest.Client(s.URL))
}

// FuzzParse: a secret's value never panics the parser, and an error never
// quotes it.
func FuzzParse(f *testing.F) {
	f.Add([]byte(jsonOf(values("brand_id", "1004"))), true)
	f.Add([]byte(jsonOf(values("mchid", "1900000001"))), false)
	f.Add([]byte(`{"mchid":"1","private_key":"-----BEGIN PRIVATE KEY-----\nMIIB\n-----END PRIVATE KEY-----"}`), false)
	f.Add([]byte(`not json`), true)
	f.Fuzz(func(t *testing.T, value []byte, brand bool) {
		kind := wxsign.Merchant
		if brand {
			kind = wxsign.Brand
		}
		_, err := secret.Parse("wxcard/fuzz", value, kind)
		if err == nil {
			return
		}
		var se *secret.Error
		if !errors.As(err, &se) {
			t.Fatalf("error %T is not a *secret.Error", err)
		}
		if len(value) >= 12 && strings.Contains(err.Error(), string(value)) {
			t.Fatalf("error quotes the secret: %v", err)
		}
	})
}

func TestEncodeRoundTrips(t *testing.T) {
	for _, kind := range []wxsign.Scheme{wxsign.Brand, wxsign.Merchant} {
		id := &secret.Identity{Identity: wxsign.Identity{Scheme: kind, ID: "1004", SerialNo: "5E0B1F7A", Key: wxpaytest.PooledKey(1)},
			PublicKeyID: "PUB_KEY_ID_0114", PublicKey: &wxpaytest.PooledKey(0).PublicKey}
		value, err := secret.Encode(id)
		require.NoError(t, err)
		// Optional fields it does not hold are left out, not null.
		assert.NotContains(t, string(value), "apiv3_key")
		assert.NotContains(t, string(value), "wechatpay_platform_certificates")
		back, err := secret.Parse("wxcard/test", value, kind)
		require.NoError(t, err)
		assert.Equal(t, id.ID, back.ID)
		assert.Equal(t, id.SerialNo, back.SerialNo)
		assert.Equal(t, id.PublicKeyID, back.PublicKeyID)
		assert.True(t, wxpaytest.PooledKey(1).Equal(back.Key))
		assert.True(t, id.PublicKey.Equal(back.PublicKey))
	}
	_, err := secret.Encode(&secret.Identity{Identity: wxsign.Identity{Scheme: wxsign.Brand}})
	require.Error(t, err)
	// A scheme wxsign does not know reads no secret.
	value, err := secret.Encode(&secret.Identity{Identity: wxsign.Identity{Scheme: wxsign.Brand, ID: "1004", SerialNo: "5E0B1F7A", Key: wxpaytest.PooledKey(1)},
		PublicKeyID: "PUB_KEY_ID_0114", PublicKey: &wxpaytest.PooledKey(0).PublicKey})
	require.NoError(t, err)
	_, err = secret.Parse("wxcard/test", value, "WECHATPAY3")
	require.ErrorContains(t, err, `unknown scheme "WECHATPAY3"`)
}

// The optional fields: the API v3 key, and platform certificates trusted
// each under its own serial beside the WeChat Pay public key.
func TestAPIv3KeyAndPlatformCertificates(t *testing.T) {
	cert, err := wxpaytest.NewPlatformCertificate(wxpaytest.PooledKey(3), 0x5157F09EFDC096DE)
	require.NoError(t, err)
	certPEM := string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw}))
	parse := func(extra map[string]any) (*secret.Identity, error) {
		m := map[string]any{}
		for k, v := range values("mchid", "1900000001") {
			m[k] = v
		}
		for k, v := range extra {
			m[k] = v
		}
		b, _ := json.Marshal(m)
		return secret.Parse("wxcard/partner", b, wxsign.Merchant)
	}

	id, err := parse(nil)
	require.NoError(t, err)
	assert.Nil(t, id.APIv3Key, "optional for the token functions")
	require.ErrorContains(t, id.NeedNotificationKey("wxcard/partner"), `field "apiv3_key" is missing`)

	id, err = parse(map[string]any{"apiv3_key": "0123456789abcdef0123456789abcdef", "wechatpay_platform_certificates": []string{certPEM}})
	require.NoError(t, err)
	require.NoError(t, id.NeedNotificationKey("wxcard/partner"))
	assert.Equal(t, []byte("0123456789abcdef0123456789abcdef"), id.APIv3Key)
	keys := id.Verifier().Keys
	assert.Len(t, keys, 2)
	assert.True(t, keys["5157F09EFDC096DE"].Equal(&wxpaytest.PooledKey(3).PublicKey), "trusted under its serial, upper-case hex")
	assert.NotNil(t, keys["PUB_KEY_ID_0114232134912410000000000000"])

	// A serial whose first byte is below 0x10 keeps its leading zero.
	small, err := wxpaytest.NewPlatformCertificate(wxpaytest.PooledKey(3), 0x0A57F09EFDC096DE)
	require.NoError(t, err)
	assert.Equal(t, "0A57F09EFDC096DE", secret.PlatformSerial(small))

	value, err := secret.Encode(id)
	require.NoError(t, err)
	back, err := secret.Parse("wxcard/partner", value, wxsign.Merchant)
	require.NoError(t, err)
	assert.Equal(t, id.APIv3Key, back.APIv3Key)
	require.Len(t, back.PlatformCertificates, 1)
	assert.Equal(t, cert.Raw, back.PlatformCertificates[0].Raw)

	for name, tc := range map[string]struct {
		extra map[string]any
		field string
	}{
		"short API v3 key":              {map[string]any{"apiv3_key": "0123456789abcdef"}, "apiv3_key"},
		"short brand API key":           {map[string]any{"brand_api_key": "0123456789abcdef0123456789abcde"}, "brand_api_key"},
		"brand API key with spaces":     {map[string]any{"brand_api_key": "0123456789abcdef0123456789abcde "}, "brand_api_key"},
		"API v3 key with spaces":        {map[string]any{"apiv3_key": " 123456789abcdef0123456789abcde "}, "apiv3_key"},
		"certificate not PEM":           {map[string]any{"wechatpay_platform_certificates": []string{"MIIBnot-a-pem"}}, "wechatpay_platform_certificates[0]"},
		"public key, not a certificate": {map[string]any{"wechatpay_platform_certificates": []string{string(wxpaytest.PublicKeyPEM(&wxpaytest.PooledKey(3).PublicKey))}}, "wechatpay_platform_certificates[0]"},
		"second certificate broken":     {map[string]any{"wechatpay_platform_certificates": []string{certPEM, "x"}}, "wechatpay_platform_certificates[1]"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := parse(tc.extra)
			var se *secret.Error
			require.ErrorAs(t, err, &se)
			assert.Equal(t, tc.field, se.Field)
			assert.NotContains(t, err.Error(), "0123456789abcdef", "never the key")
			assert.NotContains(t, err.Error(), "MIIB")
		})
	}
}

// A brand's notifications are decrypted with its brand API key, a service
// provider's with its API v3 key; an empty scheme takes whichever identity
// the secret holds, and the missing key is named by its field.
func TestNotificationKeyByIdentity(t *testing.T) {
	const brandKey, apiKey = "brandApiKey0123456789abcdef01234", "apiv3Key0123456789abcdef01234567"
	parse := func(idField, id string, extra map[string]any, want wxsign.Scheme) (*secret.Identity, error) {
		m := map[string]any{}
		for k, v := range values(idField, id) {
			m[k] = v
		}
		for k, v := range extra {
			m[k] = v
		}
		b, _ := json.Marshal(m)
		return secret.Parse("wxcard/test", b, want)
	}
	for name, tc := range map[string]struct {
		idField, id string
		extra       map[string]any
		scheme      wxsign.Scheme
		key         string // NotificationKey, "" when missing
		missing     string // the field NeedNotificationKey names
	}{
		"brand with its key":                {"brand_id", "1004", map[string]any{"brand_api_key": brandKey, "apiv3_key": apiKey}, wxsign.Brand, brandKey, ""},
		"brand with only an API v3 key":     {"brand_id", "1004", map[string]any{"apiv3_key": apiKey}, wxsign.Brand, "", "brand_api_key"},
		"service provider with its key":     {"mchid", "1900000001", map[string]any{"apiv3_key": apiKey, "brand_api_key": brandKey}, wxsign.Merchant, apiKey, ""},
		"service provider with a brand key": {"mchid", "1900000001", map[string]any{"brand_api_key": brandKey}, wxsign.Merchant, "", "apiv3_key"},
	} {
		t.Run(name, func(t *testing.T) {
			for _, want := range []wxsign.Scheme{"", tc.scheme} {
				id, err := parse(tc.idField, tc.id, tc.extra, want)
				require.NoError(t, err)
				assert.Equal(t, tc.scheme, id.Scheme)
				assert.Equal(t, tc.key, string(id.NotificationKey()))
				err = id.NeedNotificationKey("wxcard/test")
				if tc.missing == "" {
					require.NoError(t, err)
					continue
				}
				var se *secret.Error
				require.ErrorAs(t, err, &se)
				assert.Equal(t, tc.missing, se.Field)
			}
		})
	}
	id, err := parse("brand_id", "1004", map[string]any{"brand_api_key": brandKey}, "")
	require.NoError(t, err)
	value, err := secret.Encode(id)
	require.NoError(t, err)
	back, err := secret.Parse("wxcard/test", value, wxsign.Brand)
	require.NoError(t, err)
	assert.Equal(t, brandKey, string(back.BrandAPIKey), "Encode keeps the brand API key")

	// Neither identity, or both: refused whatever the scheme asked.
	_, err = secret.Parse("wxcard/test", []byte(`{"cert_serial_no":"5E0B"}`), "")
	require.ErrorContains(t, err, "neither brand_id")
	b, _ := json.Marshal(map[string]any{"brand_id": "1004", "mchid": "1900000001"})
	_, err = secret.Parse("wxcard/test", b, "")
	require.ErrorContains(t, err, "both brand_id and mchid")
}
