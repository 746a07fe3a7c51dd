package cardapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/wxcard/wxcard/internal/apigw"
	"github.com/wxcard/wxcard/pkg/membercard"
	"github.com/wxcard/wxcard/pkg/wxpay"
)

// DefaultRefreshInterval paces a scheduled refresh at 8 calls a second,
// under WeChat Pay's 10/s per merchant for product authorities.
const DefaultRefreshInterval = 125 * time.Millisecond

// Authorities serves GET
// /v3/brand-basic/partner/brands/{brand_id}/product-authorities and the
// scheduled refresh of which products each brand has authorised.
type Authorities struct {
	Upstream Upstream
	Policy   Policy
	Logger   *slog.Logger
	// BrandIDs is the scheduled refresh's default list (AUTHORITY_BRAND_IDS).
	BrandIDs []string
	// Interval between the starts of two brands' calls; 0 means DefaultRefreshInterval.
	Interval time.Duration
}

// Handle serves one HTTP API event.
func (h *Authorities) Handle(ctx context.Context, ev events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
	return serve(ctx, h.Logger, h.Upstream, membercard.ProductAuthoritiesRoute, &ev, func(*outcome) (wxpay.Request, *apigw.Error) {
		if aerr := apigw.Method(&ev, http.MethodGet); aerr != nil {
			return wxpay.Request{}, aerr
		}
		brandID, aerr := pathParam(&ev, "brand_id", 32)
		if aerr != nil {
			return wxpay.Request{}, aerr
		}
		if aerr := h.Policy.checkBrand(brandID); aerr != nil {
			return wxpay.Request{}, aerr
		}
		return h.request(brandID), nil
	}, ""), nil
}

func (h *Authorities) request(brandID string) wxpay.Request {
	return wxpay.Request{Method: http.MethodGet, Path: membercard.ProductAuthoritiesPath(brandID), Route: membercard.ProductAuthoritiesRoute}
}

// event holds what tells the function's events apart; the schedule's own
// input ({"brand_ids": [...]}) is decoded strictly on its own.
type event struct {
	// HTTP API payload 2.0
	RouteKey       string          `json:"routeKey"`
	RequestContext json.RawMessage `json:"requestContext"`
	// EventBridge Scheduled Event envelope
	Source     string `json:"source"`
	DetailType string `json:"detail-type"`
}

// Invoke is the function's entry point: it tells an HTTP API event from a
// schedule's (an EventBridge Scheduled Event envelope, or the schedule's
// own JSON input, {"brand_ids": [...]} or {}).
func (h *Authorities) Invoke(ctx context.Context, payload json.RawMessage) (any, error) {
	var ev event
	if err := json.Unmarshal(payload, &ev); err != nil {
		return nil, fmt.Errorf("event is not a JSON object: %w", err)
	}
	switch {
	case ev.RouteKey != "" && len(ev.RequestContext) > 0:
		var req events.APIGatewayV2HTTPRequest
		if err := json.Unmarshal(payload, &req); err != nil {
			return nil, fmt.Errorf("HTTP API event does not decode: %w", err)
		}
		return h.Handle(ctx, req)
	case ev.Source == "aws.events" || ev.Source == "aws.scheduler":
		if ev.DetailType != "Scheduled Event" {
			return nil, fmt.Errorf("unexpected EventBridge event %q", ev.DetailType)
		}
		return h.Refresh(ctx, h.BrandIDs)
	}
	var in struct {
		BrandIDs *[]string `json:"brand_ids"`
	}
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil {
		return nil, errors.New(`unrecognised event: want an HTTP API event, a Scheduled Event, or {"brand_ids": [...]}`)
	}
	if in.BrandIDs != nil {
		return h.Refresh(ctx, *in.BrandIDs)
	}
	return h.Refresh(ctx, h.BrandIDs)
}

// BrandResult is one brand's outcome in a refresh.
type BrandResult struct {
	BrandID            string   `json:"brand_id"`
	OK                 bool     `json:"ok"`
	AuthorizationType  string   `json:"authorization_type,omitempty"`
	Products           []string `json:"authorization_product,omitempty"`
	UpdateTime         string   `json:"update_time,omitempty"`
	WechatpayRequestID string   `json:"wechatpay_request_id,omitempty"`
	Code               string   `json:"code,omitempty"`
	Message            string   `json:"message,omitempty"`
}

// RefreshSummary is a refresh's return value.
type RefreshSummary struct {
	Brands    int           `json:"brands"`
	Succeeded int           `json:"succeeded"`
	Failed    int           `json:"failed"`
	Results   []BrandResult `json:"results"`
}

// RefreshError is returned when any brand failed, so that the schedule's
// retry and dead-letter settings apply; it carries the summary.
type RefreshError struct{ Summary *RefreshSummary }

func (e *RefreshError) Error() string {
	var failed []string
	for _, r := range e.Summary.Results {
		if !r.OK {
			failed = append(failed, r.BrandID+" ("+r.Code+")")
		}
	}
	return fmt.Sprintf("product-authorities refresh: %d of %d brands failed: %s", e.Summary.Failed, e.Summary.Brands, strings.Join(failed, ", "))
}

// Refresh fetches each brand's product authorities, paced under WeChat
// Pay's rate limit. One brand's failure does not stop the others; each
// outcome is one log line.
func (h *Authorities) Refresh(ctx context.Context, brandIDs []string) (*RefreshSummary, error) {
	interval := h.Interval
	if interval <= 0 {
		interval = DefaultRefreshInterval
	}
	ctx, cancel := upstreamContext(ctx)
	defer cancel()
	sum := &RefreshSummary{Brands: len(brandIDs), Results: make([]BrandResult, 0, len(brandIDs))}
	var tick *time.Ticker
	for i, brandID := range brandIDs {
		if i == 1 {
			tick = time.NewTicker(interval)
			defer tick.Stop()
		}
		if i > 0 {
			select {
			case <-tick.C:
			case <-ctx.Done():
			}
		}
		r := h.refreshOne(ctx, brandID)
		if r.OK {
			sum.Succeeded++
		} else {
			sum.Failed++
		}
		sum.Results = append(sum.Results, r)
	}
	h.Logger.InfoContext(ctx, "product-authorities refresh done", "brands", sum.Brands, "succeeded", sum.Succeeded, "failed", sum.Failed)
	if sum.Failed > 0 {
		return sum, &RefreshError{Summary: sum}
	}
	return sum, nil
}

func (h *Authorities) refreshOne(ctx context.Context, brandID string) BrandResult {
	r := BrandResult{BrandID: brandID}
	fail := func(code, msg, requestID string) BrandResult {
		r.Code, r.Message, r.WechatpayRequestID = code, msg, requestID
		h.Logger.LogAttrs(ctx, slog.LevelError, "brand refresh failed", slog.String("brand_id", brandID),
			slog.String("code", code), slog.String("message", msg), slog.String("wechatpay_request_id", requestID))
		return r
	}
	if err := membercard.CheckID("brand_id", brandID, 32); err != nil {
		return fail("PARAM_ERROR", err.Error(), "")
	}
	if ctx.Err() != nil {
		return fail("UPSTREAM_TIMEOUT", "the invocation ran out of time before this brand", "")
	}
	resp, err := h.Upstream.Do(ctx, h.request(brandID))
	if err != nil {
		aerr := apigw.FromUpstream(err)
		return fail(aerr.Code, aerr.Message, aerr.RequestID)
	}
	var a membercard.ProductAuthorities
	if err := json.Unmarshal(resp.Body, &a); err != nil {
		return fail("UPSTREAM_INVALID_ANSWER", "answer is not the documented JSON", resp.RequestID)
	}
	r.OK, r.AuthorizationType, r.Products, r.UpdateTime, r.WechatpayRequestID = true, a.AuthorizationType, a.AuthorizationProduct, a.UpdateTime, resp.RequestID
	h.Logger.LogAttrs(ctx, slog.LevelInfo, "brand refreshed", slog.String("brand_id", brandID),
		slog.String("authorization_type", a.AuthorizationType), slog.Any("authorization_product", a.AuthorizationProduct),
		slog.String("update_time", a.UpdateTime), slog.String("wechatpay_request_id", resp.RequestID))
	return r
}
