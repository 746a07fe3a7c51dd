package secret

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"

	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
)

// MiniProgram is the sign-in function's secret: the mini-program's AppID
// and AppSecret, which code2Session needs. Its String never shows the
// AppSecret.
type MiniProgram struct {
	AppID     string
	AppSecret string
}

// String names the AppID only.
func (m MiniProgram) String() string { return "mini-program " + m.AppID }

// GoString names the AppID only.
func (m MiniProgram) GoString() string { return m.String() }

// LogValue names the AppID only: slog's JSON handler would otherwise
// marshal the struct, AppSecret included.
func (m MiniProgram) LogValue() slog.Value { return slog.GroupValue(slog.String("appid", m.AppID)) }

// MarshalJSON names the AppID only, for the same reason.
func (m MiniProgram) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		AppID string `json:"appid"`
	}{m.AppID})
}

// ParseMiniProgram checks the value of the secret {"appid","app_secret"}:
// both required, non-empty strings without spaces or control characters.
// Its errors name the secret and the field, never a value.
func ParseMiniProgram(secretID string, value []byte) (*MiniProgram, error) {
	var f struct {
		AppID     *string `json:"appid"`
		AppSecret *string `json:"app_secret"`
	}
	dec := json.NewDecoder(bytes.NewReader(value))
	if err := dec.Decode(&f); err != nil {
		// The decoder's message may quote the secret; keep only its kind.
		return nil, &Error{SecretID: secretID, Reason: "is not a JSON object"}
	}
	for _, r := range []struct {
		name string
		v    *string
	}{{"appid", f.AppID}, {"app_secret", f.AppSecret}} {
		if r.v == nil || strings.TrimSpace(*r.v) == "" {
			return nil, &Error{SecretID: secretID, Field: r.name, Reason: "is missing or empty"}
		}
		for _, ch := range *r.v {
			if ch <= ' ' || ch == 0x7f {
				return nil, &Error{SecretID: secretID, Field: r.name, Reason: "contains spaces or control characters"}
			}
		}
	}
	return &MiniProgram{AppID: *f.AppID, AppSecret: *f.AppSecret}, nil
}

// LoadMiniProgram fetches secretID and parses it as ParseMiniProgram does.
func LoadMiniProgram(ctx context.Context, api GetSecretValueAPI, secretID string) (*MiniProgram, error) {
	if secretID == "" {
		return nil, &Error{SecretID: secretID, Reason: "no secret configured: set MINIPROGRAM_SECRET_ID"}
	}
	out, err := api.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: &secretID})
	if err != nil {
		return nil, &Error{SecretID: secretID, Reason: "cannot be read from Secrets Manager", Err: err}
	}
	if out.SecretString == nil {
		return nil, &Error{SecretID: secretID, Reason: "has no SecretString (binary secrets are not supported)"}
	}
	return ParseMiniProgram(secretID, []byte(*out.SecretString))
}
