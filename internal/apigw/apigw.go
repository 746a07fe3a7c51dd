// Package apigw turns API Gateway HTTP API (payload 2.0) events into request
// bodies and answers into responses, in the shape every wxcard function
// keeps: JSON, Cache-Control: no-store, and errors as
// {"code","message","request_id"}.
package apigw

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"strings"

	"github.com/aws/aws-lambda-go/events"

	"github.com/wxcard/wxcard/pkg/membercard"
	"github.com/wxcard/wxcard/pkg/wxpay"
	"github.com/wxcard/wxcard/pkg/wxsign"
)

// MaxBodyBytes bounds a request body, before and after base64 decoding.
const MaxBodyBytes = membercard.MaxBodyBytes

// Error is an answer to the caller that is not a success.
type Error struct {
	Status    int    `json:"-"`
	Code      string `json:"code"`
	Message   string `json:"message"`
	RequestID string `json:"request_id,omitempty"` // WeChat Pay's, when it answered
}

func (e *Error) Error() string { return fmt.Sprintf("%d %s: %s", e.Status, e.Code, e.Message) }

// ParamError is a 400 PARAM_ERROR whose message names the field.
func ParamError(field, reason string) *Error {
	return &Error{Status: http.StatusBadRequest, Code: "PARAM_ERROR", Message: field + " " + reason}
}

// FromFieldError turns a broken field rule into a 400 PARAM_ERROR.
func FromFieldError(err error) *Error {
	var fe *membercard.FieldError
	if errors.As(err, &fe) {
		return ParamError(fe.Field, fe.Reason)
	}
	return ParamError("body", "is not valid")
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
	if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") {
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

// FromUpstream maps a failed WeChat Pay call to the design's answer table.
func FromUpstream(err error) *Error {
	requestID := wxpay.RequestID(err)
	var apiErr *wxpay.APIError
	var verifyErr *wxsign.VerifyError
	switch {
	case errors.As(err, &verifyErr):
		return &Error{Status: http.StatusBadGateway, Code: "UPSTREAM_SIGNATURE_INVALID", Message: "WeChat Pay's answer failed signature verification", RequestID: requestID}
	case errors.As(err, &apiErr) && apiErr.Status == http.StatusTooManyRequests:
		return &Error{Status: http.StatusTooManyRequests, Code: "FREQUENCY_LIMITED", Message: "WeChat Pay's rate limit was reached; retry later", RequestID: requestID}
	case errors.As(err, &apiErr) && apiErr.Status >= 500:
		return &Error{Status: http.StatusBadGateway, Code: "UPSTREAM_UNAVAILABLE", Message: "WeChat Pay is failing; retry later", RequestID: requestID}
	case errors.As(err, &apiErr):
		return &Error{Status: apiErr.Status, Code: apiErr.Code, Message: apiErr.Message, RequestID: requestID}
	case errors.Is(err, wxpay.ErrTimeout), errors.Is(err, context.DeadlineExceeded):
		return &Error{Status: http.StatusGatewayTimeout, Code: "UPSTREAM_TIMEOUT", Message: "WeChat Pay did not answer in time", RequestID: requestID}
	default:
		return &Error{Status: http.StatusBadGateway, Code: "UPSTREAM_UNAVAILABLE", Message: "WeChat Pay could not be reached", RequestID: requestID}
	}
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
	return JSON(e.Status, b)
}
