// Package membercard holds the request and answer types of WeChat Pay's
// membership-card APIs, their paths, and the documented rules their fields
// must keep: the brand and partner pre-auth tokens, permission tokens and
// product authorities; for a card a user opened, the brand and partner
// confirm APIs, user-card queries and updates and the user-points sync,
// with the event types of the notifications that a user opened or deleted
// a card or that WeChat Pay asks for a member's points; and the
// membercard-open (商家会员卡) APIs of a user's card: decrypting its code,
// reading the activation form, activating it, reading it and updating its
// level, balance and points, with the notification of its activation. A
// caller checks its requests with it before calling WeChat Pay, and the
// membercardtest stand-in checks them as WeChat Pay does, so both hold to
// one set of rules.
package membercard

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Paths of the APIs. The path parameter functions escape their argument, so
// a parameter can never change which API is called.
//
//nolint:gosec // "token" in an API path is not a credential
const (
	BrandPreAuthTokensPath = "/brand/card-member/pre-auth-tokens"
	// PartnerPreAuthTokensPath is the current name (2025) of the partner API.
	PartnerPreAuthTokensPath = "/v3/brand/partner/card-member/pre-auth-tokens"
	// PartnerOpenUserCardTokensPath is its older name, still served by wxcard
	// to callers, never called upstream.
	PartnerOpenUserCardTokensPath = "/v3/brand/partner/card-member/open-user-card-tokens"
	PermissionTokensRoute         = "/v3/marketing/membercard-open/cards/{card_id}/permission-tokens"
	ProductAuthoritiesRoute       = "/v3/brand-basic/partner/brands/{brand_id}/product-authorities"
)

// PermissionTokensPath is the path of the permission-token API for a card.
func PermissionTokensPath(cardID string) string {
	return "/v3/marketing/membercard-open/cards/" + pathSegment(cardID) + "/permission-tokens"
}

// ProductAuthoritiesPath is the path of the product-authorities API for a brand.
func ProductAuthoritiesPath(brandID string) string {
	return "/v3/brand-basic/partner/brands/" + pathSegment(brandID) + "/product-authorities"
}

// pathSegment escapes v into one path segment. url.PathEscape leaves dots
// alone, so "." and ".." would still be segments that a client, proxy or
// server resolves into another path: they are escaped too.
func pathSegment(v string) string {
	switch v {
	case ".":
		return "%2E"
	case "..":
		return "%2E%2E"
	}
	return url.PathEscape(v)
}

// Activation types of a permission token.
const (
	AutoActivate = "AUTO_ACTIVATE"
	JumpActivate = "JUMP_ACTIVATE"
)

// BrandPreAuthTokenRequest is the body of POST /brand/card-member/pre-auth-tokens.
type BrandPreAuthTokenRequest struct {
	CardID string `json:"card_id"`
	OpenID string `json:"openid"`
}

// Validate checks the documented rules.
func (r *BrandPreAuthTokenRequest) Validate() error {
	return firstError(
		CheckID("card_id", r.CardID, 32),
		CheckID("openid", r.OpenID, 128),
	)
}

// PartnerPreAuthTokenRequest is the body of POST
// /v3/brand/partner/card-member/pre-auth-tokens. UserCardCode appears only
// in the older third-party document; it is sent only when the caller gave it.
type PartnerPreAuthTokenRequest struct {
	BrandID      string `json:"brand_id"`
	CardID       string `json:"card_id"`
	OpenID       string `json:"openid"`
	UserCardCode string `json:"user_card_code,omitempty"`
}

// Validate checks the documented rules.
func (r *PartnerPreAuthTokenRequest) Validate() error {
	err := firstError(
		CheckID("brand_id", r.BrandID, 32),
		CheckID("card_id", r.CardID, 32),
		CheckID("openid", r.OpenID, 128),
	)
	if err == nil && r.UserCardCode != "" {
		err = CheckID("user_card_code", r.UserCardCode, 32)
	}
	return err
}

// PermissionTokenRequest is the body of POST
// /v3/marketing/membercard-open/cards/{card_id}/permission-tokens.
type PermissionTokenRequest struct {
	ActivateType             string `json:"activate_type"`
	NavigateBackPreviousPage *bool  `json:"navigate_back_previous_page,omitempty"`
	ActivateURL              string `json:"activate_url,omitempty"`
	ActivateAppID            string `json:"activate_appid,omitempty"`
	ActivatePath             string `json:"activate_path,omitempty"`
	OuterStr                 string `json:"outer_str,omitempty"`
}

// Validate checks the documented rules, including that JUMP_ACTIVATE names
// where to jump.
func (r *PermissionTokenRequest) Validate() error {
	switch r.ActivateType {
	case AutoActivate, JumpActivate:
	case "":
		return &FieldError{Field: "activate_type", Reason: "is required"}
	default:
		return &FieldError{Field: "activate_type", Reason: "must be AUTO_ACTIVATE or JUMP_ACTIVATE"}
	}
	if r.ActivateType == JumpActivate && r.ActivateURL == "" && r.ActivateAppID == "" {
		return &FieldError{Field: "activate_url", Reason: "or activate_appid is required when activate_type is JUMP_ACTIVATE"}
	}
	var errs []error
	if r.ActivateURL != "" {
		errs = append(errs, checkURL("activate_url", r.ActivateURL, 128))
	}
	if r.ActivateAppID != "" {
		errs = append(errs, CheckID("activate_appid", r.ActivateAppID, 32))
	}
	if r.ActivatePath != "" {
		errs = append(errs, checkText("activate_path", r.ActivatePath, 128))
	}
	if r.OuterStr != "" {
		errs = append(errs, checkOuterStr(r.OuterStr))
	}
	return firstError(errs...)
}

// PreAuthToken is the answer of both pre-auth-token APIs.
type PreAuthToken struct {
	Token      string `json:"token"`
	ExpireTime string `json:"expire_time"`
}

// PermissionToken is the answer of the permission-token API.
type PermissionToken struct {
	PermissionToken string `json:"permission_token"`
}

// ProductAuthorities is the answer of the product-authorities API.
type ProductAuthorities struct {
	BrandID              string   `json:"brand_id"`
	AuthorizationType    string   `json:"authorization_type"`
	AuthorizationProduct []string `json:"authorization_product,omitempty"`
	UpdateTime           string   `json:"update_time"`
}

// FieldError is a field that breaks a documented rule.
type FieldError struct {
	Field  string
	Reason string

	err error // ErrUnknownField, or nil
}

func (e *FieldError) Error() string { return e.Field + " " + e.Reason }

// Unwrap is ErrUnknownField for a key the type does not define, so that
// errors.Is tells it from a value that breaks a rule.
func (e *FieldError) Unwrap() error { return e.err }

// ErrUnknownField is what Decode's error wraps for a key that is not
// exactly one of the type's: WeChat Pay refuses such a parameter with
// PARAM_ERROR "请求中含有未在API文档中定义的参数" (270924358).
var ErrUnknownField = errors.New("membercard: a parameter the API does not define")

func firstError(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// CheckID checks a required identifier (card_id, openid, brand_id, AppID):
// 1 to max characters of [A-Za-z0-9_-], the alphabet WeChat Pay's IDs use.
func CheckID(field, v string, max int) error {
	if v == "" {
		return &FieldError{Field: field, Reason: "is required"}
	}
	if len(v) > max {
		return &FieldError{Field: field, Reason: fmt.Sprintf("must be at most %d characters", max)}
	}
	for i := 0; i < len(v); i++ {
		if !isIDByte(v[i]) {
			return &FieldError{Field: field, Reason: "may contain only letters, digits, '_' and '-'"}
		}
	}
	return nil
}

func isIDByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-'
}

// checkText checks what WeChat Pay accepts in any string: UTF-8 of 1 to 3
// byte characters (no emoji), no control characters, at most max
// characters; and no invisible format or separator characters.
func checkText(field, v string, max int) error {
	if !utf8.ValidString(v) {
		return &FieldError{Field: field, Reason: "must be valid UTF-8"}
	}
	if utf8.RuneCountInString(v) > max {
		return &FieldError{Field: field, Reason: fmt.Sprintf("must be at most %d characters", max)}
	}
	for _, r := range v {
		if r > 0xFFFF {
			return &FieldError{Field: field, Reason: "must not contain 4-byte UTF-8 characters such as emoji"}
		}
		if unicode.IsControl(r) {
			return &FieldError{Field: field, Reason: "must not contain control characters"}
		}
		// Invisible format characters (category Cf: bidi overrides such as
		// U+202E, zero-width joiners, BOM) and the line and paragraph
		// separators make text read differently from what it is.
		if unicode.Is(unicode.Cf, r) || r == '\u2028' || r == '\u2029' {
			return &FieldError{Field: field, Reason: fmt.Sprintf("must not contain invisible formatting, direction or line-separator characters (U+%04X)", r)}
		}
	}
	return nil
}

// checkHTTPSURL is checkURL for a URL WeChat Pay fetches itself (a card
// picture): https only.
func checkHTTPSURL(field, v string, max int) error {
	if err := checkURL(field, v, max); err != nil {
		return err
	}
	if u, _ := url.Parse(v); u.Scheme != "https" {
		return &FieldError{Field: field, Reason: "must be an https URL"}
	}
	return nil
}

// checkColor checks a colour written #RRGGBB, WeChat Pay's string(7) of
// hexadecimal RGB.
func checkColor(field, v string) error {
	ok := len(v) == 7 && v[0] == '#'
	for i := 1; ok && i < len(v); i++ {
		c := v[i]
		ok = c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
	}
	if !ok {
		return &FieldError{Field: field, Reason: "must be a colour written #RRGGBB"}
	}
	return nil
}

func checkURL(field, v string, max int) error {
	if err := checkText(field, v, max); err != nil {
		return err
	}
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || strings.ContainsAny(v, " \t") {
		return &FieldError{Field: field, Reason: "must be an absolute http(s) URL"}
	}
	return nil
}

// checkOuterStr: at most 32 characters of digits, Chinese and English
// letters and half-width (ASCII) punctuation.
func checkOuterStr(v string) error {
	if err := checkText("outer_str", v, 32); err != nil {
		return err
	}
	for _, r := range v {
		ok := r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' ||
			r < utf8.RuneSelf && unicode.IsPunct(r) || r < utf8.RuneSelf && unicode.IsSymbol(r) ||
			unicode.Is(unicode.Han, r)
		if !ok {
			return &FieldError{Field: "outer_str", Reason: "may contain only digits, Chinese and English letters and half-width punctuation"}
		}
	}
	return nil
}
