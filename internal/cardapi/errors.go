package cardapi

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/wxcard/wxcard/internal/apigw"
	"github.com/wxcard/wxcard/pkg/membercard"
	"github.com/wxcard/wxcard/pkg/wxpay"
	"github.com/wxcard/wxcard/pkg/wxsign"
)

// FromFieldError turns a broken field rule into a 400 PARAM_ERROR.
func FromFieldError(err error) *apigw.Error {
	var fe *membercard.FieldError
	if errors.As(err, &fe) {
		return apigw.ParamError(fe.Field, fe.Reason)
	}
	return apigw.ParamError("body", "is not valid")
}

// The Retry-After of a 429: WeChat Pay's own when it sent one, bounded
// (it is unverified), else MinRetryAfter, its limits being per second.
const (
	MinRetryAfter = 1  // seconds
	MaxRetryAfter = 60 // seconds
)

func retryAfterSeconds(d time.Duration) int {
	secs := int((d + time.Second - 1) / time.Second)
	return min(max(secs, MinRetryAfter), MaxRetryAfter)
}

// FromUpstream maps a failed WeChat Pay call to the design's answer table.
func FromUpstream(err error) *apigw.Error {
	requestID := wxpay.RequestID(err)
	var apiErr *wxpay.APIError
	var verifyErr *wxsign.VerifyError
	switch {
	case errors.As(err, &verifyErr):
		return &apigw.Error{Status: http.StatusBadGateway, Code: "UPSTREAM_SIGNATURE_INVALID", Message: "WeChat Pay's answer failed signature verification", RequestID: requestID}
	case errors.As(err, &apiErr) && apiErr.Status == http.StatusTooManyRequests:
		return &apigw.Error{Status: http.StatusTooManyRequests, Code: "FREQUENCY_LIMITED", Message: "WeChat Pay's rate limit was reached; retry later", RequestID: requestID,
			RetryAfter: retryAfterSeconds(apiErr.RetryAfter)}
	case errors.As(err, &apiErr) && apiErr.Status >= 500:
		return &apigw.Error{Status: http.StatusBadGateway, Code: "UPSTREAM_UNAVAILABLE", Message: "WeChat Pay is failing; retry later", RequestID: requestID}
	case errors.As(err, &apiErr) && apiErr.Status >= 400 && apiErr.Status <= 499:
		return &apigw.Error{Status: apiErr.Status, Code: apiErr.Code, Message: apiErr.Message, RequestID: requestID}
	case errors.As(err, &apiErr), errors.Is(err, wxpay.ErrInvalidAnswer):
		// A status that is neither 2xx, 4xx nor 5xx (a redirect, never
		// followed) is no answer to pass on.
		return &apigw.Error{Status: http.StatusBadGateway, Code: "UPSTREAM_INVALID_ANSWER", Message: "WeChat Pay's answer was neither a success nor an error", RequestID: requestID}
	case errors.Is(err, wxpay.ErrTimeout), errors.Is(err, context.DeadlineExceeded):
		return &apigw.Error{Status: http.StatusGatewayTimeout, Code: "UPSTREAM_TIMEOUT", Message: "WeChat Pay did not answer in time", RequestID: requestID}
	default:
		return &apigw.Error{Status: http.StatusBadGateway, Code: "UPSTREAM_UNAVAILABLE", Message: "WeChat Pay could not be reached", RequestID: requestID}
	}
}
