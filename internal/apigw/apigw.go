// Package apigw turns API Gateway HTTP API (payload 2.0) events into request
// bodies and answers into responses, in the shape every wxcard function
// keeps: JSON, Cache-Control: no-store, and errors as
// {"code","message","request_id"}. It knows nothing of WeChat Pay: the
// handlers map WeChat Pay's outcomes to these answers (cardapi).
package apigw

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"mime"
	"net/http"
	"strconv"
	"strings"

	"github.com/aws/aws-lambda-go/events"
)

// MaxBodyBytes bounds a request body, before and after base64 decoding:
// 16 KiB, far above any valid body of the wxcard routes.
const MaxBodyBytes = 16 << 10

// Error is an answer to the caller that is not a success.
type Error struct {
	Status    int    `json:"-"`
	Code      string `json:"code"`
	Message   string `json:"message"`
	RequestID string `json:"request_id,omitempty"` // WeChat Pay's, when it answered
	// RetryAfter, in seconds, is answered as the Retry-After header when
	// not 0 (a 429).
	RetryAfter int `json:"-"`
}

func (e *Error) Error() string { return fmt.Sprintf("%d %s: %s", e.Status, e.Code, e.Message) }

// ParamError is a 400 PARAM_ERROR whose message names the field.
func ParamError(field, reason string) *Error {
	return &Error{Status: http.StatusBadRequest, Code: "PARAM_ERROR", Message: field + " " + reason}
}

// Forbidden is a 403 for a caller who may not ask for this.
func Forbidden(field, reason string) *Error {
	return &Error{Status: http.StatusForbidden, Code: "FORBIDDEN", Message: field + " " + reason}
}

// Header returns a request header; HTTP API lower-cases names, tests may not.
func Header(ev *events.APIGatewayV2HTTPRequest, name string) string {
	if v, ok := ev.Headers[strings.ToLower(name)]; ok {
		return v
	}
	for k, v := range ev.Headers {
		if strings.EqualFold(k, name) {
			return v
		}
	}
	return ""
}

// Body returns a JSON request's body: the Content-Type must be
// application/json, a base64-encoded body is decoded, and neither form may
// exceed MaxBodyBytes.
func Body(ev *events.APIGatewayV2HTTPRequest) ([]byte, *Error) {
	ct := Header(ev, "Content-Type")
	mt, params, err := mime.ParseMediaType(ct)
	if ct == "" || err != nil || mt != "application/json" {
		return nil, &Error{Status: http.StatusUnsupportedMediaType, Code: "UNSUPPORTED_MEDIA_TYPE", Message: "Content-Type must be application/json"}
	}
	// JSON is UTF-8; "utf8" is the alias clients often send for it.
	if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") && !strings.EqualFold(cs, "utf8") {
		return nil, &Error{Status: http.StatusUnsupportedMediaType, Code: "UNSUPPORTED_MEDIA_TYPE", Message: "Content-Type charset must be utf-8"}
	}
	tooLarge := &Error{Status: http.StatusRequestEntityTooLarge, Code: "REQUEST_TOO_LARGE", Message: fmt.Sprintf("body must be at most %d bytes", MaxBodyBytes)}
	if len(ev.Body) > base64.StdEncoding.EncodedLen(MaxBodyBytes) || (!ev.IsBase64Encoded && len(ev.Body) > MaxBodyBytes) {
		return nil, tooLarge
	}
	body := []byte(ev.Body)
	if ev.IsBase64Encoded {
		if body, err = base64.StdEncoding.DecodeString(ev.Body); err != nil {
			return nil, ParamError("body", "is marked base64-encoded but is not valid base64")
		}
		if len(body) > MaxBodyBytes {
			return nil, tooLarge
		}
	}
	return body, nil
}

// Method checks the request's method.
func Method(ev *events.APIGatewayV2HTTPRequest, want string) *Error {
	if ev.RequestContext.HTTP.Method != want {
		return &Error{Status: http.StatusMethodNotAllowed, Code: "METHOD_NOT_ALLOWED", Message: "method must be " + want}
	}
	return nil
}

func headers() map[string]string {
	return map[string]string{"Content-Type": "application/json", "Cache-Control": "no-store"}
}

// JSON answers with status and a JSON body, as it is.
func JSON(status int, body []byte) events.APIGatewayV2HTTPResponse {
	return events.APIGatewayV2HTTPResponse{StatusCode: status, Headers: headers(), Body: string(body)}
}

// Respond answers with an error.
func (e *Error) Respond() events.APIGatewayV2HTTPResponse {
	b, _ := json.Marshal(e)
	resp := JSON(e.Status, b)
	if e.RetryAfter > 0 {
		resp.Headers["Retry-After"] = strconv.Itoa(e.RetryAfter)
	}
	return resp
}
