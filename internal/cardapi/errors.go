package cardapi

import (
	"context"
	"errors"
	"net/http"

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

// FromUpstream maps a failed WeChat Pay call to the design's answer table.
func FromUpstream(err error) *apigw.Error {
	requestID := wxpay.RequestID(err)
	var apiErr *wxpay.APIError
	var verifyErr *wxsign.VerifyError
	switch {
	case errors.As(err, &verifyErr):
		return &apigw.Error{Status: http.StatusBadGateway, Code: "UPSTREAM_SIGNATURE_INVALID", Message: "WeChat Pay's answer failed signature verification", RequestID: requestID}
	case errors.As(err, &apiErr) && apiErr.Status == http.StatusTooManyRequests:
		return &apigw.Error{Status: http.StatusTooManyRequests, Code: "FREQUENCY_LIMITED", Message: "WeChat Pay's rate limit was reached; retry later", RequestID: requestID}
	case errors.As(err, &apiErr) && apiErr.Status >= 500:
		return &apigw.Error{Status: http.StatusBadGateway, Code: "UPSTREAM_UNAVAILABLE", Message: "WeChat Pay is failing; retry later", RequestID: requestID}
	case errors.As(err, &apiErr):
		return &apigw.Error{Status: apiErr.Status, Code: apiErr.Code, Message: apiErr.Message, RequestID: requestID}
	case errors.Is(err, wxpay.ErrTimeout), errors.Is(err, context.DeadlineExceeded):
		return &apigw.Error{Status: http.StatusGatewayTimeout, Code: "UPSTREAM_TIMEOUT", Message: "WeChat Pay did not answer in time", RequestID: requestID}
	default:
		return &apigw.Error{Status: http.StatusBadGateway, Code: "UPSTREAM_UNAVAILABLE", Message: "WeChat Pay could not be reached", RequestID: requestID}
	}
}
