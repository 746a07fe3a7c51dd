package session

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strconv"
	"unicode/utf8"

	"github.com/wxcard/wxcard/internal/apigw"
	"github.com/wxcard/wxcard/pkg/membercard"
)

// MaxCodeLength bounds a wx.login code; WeChat's are 32 characters.
const MaxCodeLength = 128

// DecodeCode reads the body of POST /session, {"code":"…"}: one JSON
// object whose only key is exactly "code", once, a string (not null) of 1
// to MaxCodeLength characters of printable ASCII without space (0x21–0x7E),
// and nothing after it. Anything else is a 400 PARAM_ERROR naming the
// field ("code", or "body" for the object as a whole); an unknown key is
// named by a short, escaped prefix, as it may be anything.
func DecodeCode(body []byte) (string, *apigw.Error) {
	if !utf8.Valid(body) {
		return "", apigw.ParamError("body", "must be valid UTF-8")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	notObject := apigw.ParamError("body", `must be one JSON object {"code": "…"}`)
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return "", notObject
	}
	var code *string
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return "", notObject
		}
		key, _ := tok.(string) // an object's keys are strings
		if key != "code" {
			return "", apigw.ParamError("body", "has the unknown key "+membercard.ShortKey(key)+`: only "code" is allowed`)
		}
		if code != nil {
			return "", apigw.ParamError("code", "appears more than once")
		}
		v, err := dec.Token()
		if err != nil {
			return "", notObject
		}
		s, ok := v.(string)
		switch {
		case v == nil:
			return "", apigw.ParamError("code", "must not be null")
		case !ok:
			if d, isDelim := v.(json.Delim); isDelim && (d == '{' || d == '[') {
				return "", apigw.ParamError("code", "must be a string, not an object or array")
			}
			return "", apigw.ParamError("code", "must be a string")
		}
		code = &s
	}
	if tok, err := dec.Token(); err != nil || tok != json.Delim('}') {
		return "", notObject
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return "", notObject
	}
	if code == nil {
		return "", apigw.ParamError("code", "is required")
	}
	if err := checkCode(*code); err != nil {
		return "", err
	}
	return *code, nil
}

func checkCode(code string) *apigw.Error {
	if code == "" {
		return apigw.ParamError("code", "is required")
	}
	if len(code) > MaxCodeLength {
		return apigw.ParamError("code", "must be at most "+strconv.Itoa(MaxCodeLength)+" characters")
	}
	for i := 0; i < len(code); i++ {
		if code[i] < 0x21 || code[i] > 0x7e {
			return apigw.ParamError("code", "may contain only printable ASCII characters without spaces")
		}
	}
	return nil
}
