package cardapi

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/wxcard/wxcard/internal/apigw"
	"github.com/wxcard/wxcard/internal/authority"
	"github.com/wxcard/wxcard/internal/metrics"
	"github.com/wxcard/wxcard/pkg/membercard"
	"github.com/wxcard/wxcard/pkg/wxpay"
)

// StateTimeout bounds recording an answer in the state table and on the
// bus, so that a failing table cannot hold the GET caller's answer long.
const StateTimeout = 2 * time.Second

// Authorities serves GET
// /v3/brand-basic/partner/brands/{brand_id}/product-authorities. Each
// answer about a brand's authorities (its products, or WeChat Pay's
// PARAM_ERROR for a brand that is not authorised) is also recorded by
// State; a failure to record is logged and counted, never the caller's.
// A refusal of a brand without a snapshot records nothing, so the route
// creates a snapshot only for a brand WeChat Pay says has authorised this
// service provider (and, with AllowedBrandIds, only for those): callers
// cannot fill the table, or the schedule, with made-up brand IDs.
type Authorities struct {
	Upstream Caller
	Policy   Policy
	Logger   *slog.Logger
	Metrics  *metrics.Emitter // nil: no metrics
	// State records the answers; nil records nothing.
	State *authority.Tracker
}

// Handle serves one HTTP API event.
func (h *Authorities) Handle(ctx context.Context, ev events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
	var brandID string
	recorded := upstreamFunc(func(ctx context.Context, req wxpay.Request) (*wxpay.Response, error) {
		resp, err := h.Upstream.Do(ctx, req)
		if h.State != nil {
			if obs, ok := observation(resp, err); ok {
				sctx, cancel := context.WithTimeout(ctx, StateTimeout)
				res, serr := h.State.Observe(sctx, brandID, obs)
				cancel()
				logOutcome(sctx, h.Logger, brandID, res, serr)
			}
		}
		return resp, err
	})
	return serve(ctx, h.Logger, h.Metrics, recorded, membercard.ProductAuthoritiesRoute, &ev, func(*outcome) (wxpay.Request, *apigw.Error) {
		if aerr := apigw.Method(&ev, http.MethodGet); aerr != nil {
			return wxpay.Request{}, aerr
		}
		var aerr *apigw.Error
		brandID, aerr = pathParam(&ev, "brand_id", 32)
		if aerr != nil {
			return wxpay.Request{}, aerr
		}
		if aerr := h.Policy.checkBrand(brandID); aerr != nil {
			return wxpay.Request{}, aerr
		}
		return authoritiesRequest(brandID), nil
	}, ""), nil
}

type upstreamFunc func(context.Context, wxpay.Request) (*wxpay.Response, error)

func (f upstreamFunc) Do(ctx context.Context, req wxpay.Request) (*wxpay.Response, error) {
	return f(ctx, req)
}

func authoritiesRequest(brandID string) wxpay.Request {
	return wxpay.Request{Method: http.MethodGet, Path: membercard.ProductAuthoritiesPath(brandID), Route: membercard.ProductAuthoritiesRoute}
}

// Revoked reports whether err is WeChat Pay saying the brand is not (or no
// longer) authorised: 400 PARAM_ERROR, documented as "品牌ID错误，或未建立授
// 权关系". The brand ID is checked before the call, so it is the only
// parameter left to be wrong; the message is not matched, as WeChat Pay's
// own documents spell it in two ways.
func Revoked(err error) bool {
	var ae *wxpay.APIError
	return errors.As(err, &ae) && ae.Status == http.StatusBadRequest && ae.Code == "PARAM_ERROR"
}

// observation is what an answer says about a brand's authorities: ok is
// false when it says nothing (a failure, or an answer that does not decode).
func observation(resp *wxpay.Response, err error) (*authority.Authority, bool) {
	if err != nil {
		return nil, Revoked(err)
	}
	var a membercard.ProductAuthorities
	if json.Unmarshal(resp.Body, &a) != nil {
		return nil, false
	}
	return &authority.Authority{AuthorizationType: a.AuthorizationType, AuthorizationProduct: a.AuthorizationProduct, UpdateTime: a.UpdateTime}, true
}

// StateFailureMetric is the CloudWatch metric (namespace wxcard) counting
// answers that could not be recorded in the table or on the bus.
const StateFailureMetric = "AuthorityStateFailures"

// logOutcome logs a recorded answer's outcome or, failing, why, with an
// embedded-metric-format count CloudWatch turns into StateFailureMetric.
func logOutcome(ctx context.Context, logger *slog.Logger, brandID string, res authority.Result, err error) {
	if err == nil && res.Outcome == authority.NotAuthorised {
		logger.LogAttrs(ctx, slog.LevelInfo, "authority not recorded: WeChat Pay refused a brand without a snapshot", slog.String("brand_id", brandID),
			slog.String("outcome", string(res.Outcome)))
		return
	}
	if err == nil && res.Outcome == authority.NotTracked {
		logger.LogAttrs(ctx, slog.LevelInfo, "authority not recorded: the brand was removed by an operator", slog.String("brand_id", brandID),
			slog.String("outcome", string(res.Outcome)))
		return
	}
	if err == nil {
		logger.LogAttrs(ctx, slog.LevelInfo, "authority recorded", slog.String("brand_id", brandID),
			slog.String("outcome", string(res.Outcome)), slog.Int("events_published", res.Published))
		return
	}
	logger.LogAttrs(ctx, slog.LevelError, "authority not recorded", slog.String("brand_id", brandID),
		slog.String("outcome", string(res.Outcome)), slog.String("error", err.Error()),
		slog.Any("_aws", map[string]any{
			"Timestamp": time.Now().UnixMilli(),
			"CloudWatchMetrics": []map[string]any{{
				"Namespace": "wxcard", "Dimensions": [][]string{{}},
				"Metrics": []map[string]string{{"Name": StateFailureMetric, "Unit": "Count"}},
			}},
		}),
		slog.Int(StateFailureMetric, 1))
}

// BrandChecker checks one brand's product authorities and records the
// answer, as the GET route does: the unit of work of the scheduled
// refresh, which paces and retries it (internal/refresh).
type BrandChecker struct {
	Upstream Caller
	Logger   *slog.Logger
	// State records the answers; nil records nothing.
	State *authority.Tracker
}

// OutcomeFailed is a brand's outcome when it could not be checked or
// recorded; the others are authority.Outcome's.
const OutcomeFailed = "failed"

// BrandResult is one brand's outcome in a refresh.
type BrandResult struct {
	BrandID string `json:"brand_id"`
	// OK: WeChat Pay answered about the brand (a revocation included) and
	// the answer was recorded.
	OK bool `json:"ok"`
	// Outcome: first_seen, unchanged, changed, revoked, still_revoked, or
	// failed.
	Outcome            string   `json:"outcome"`
	AuthorizationType  string   `json:"authorization_type,omitempty"`
	Products           []string `json:"authorization_product,omitempty"`
	UpdateTime         string   `json:"update_time,omitempty"`
	WechatpayRequestID string   `json:"wechatpay_request_id,omitempty"`
	Code               string   `json:"code,omitempty"`
	Message            string   `json:"message,omitempty"`
}

// Check asks WeChat Pay about brandID and records the answer. A revoked
// brand is an outcome, not a failure; each outcome is one log line. The
// call keeps DeadlineMargin free before ctx's deadline.
func (h *BrandChecker) Check(ctx context.Context, brandID string) BrandResult {
	ctx, cancel := UpstreamContext(ctx)
	defer cancel()
	return h.check(ctx, brandID)
}

func (h *BrandChecker) check(ctx context.Context, brandID string) BrandResult {
	r := BrandResult{BrandID: brandID, Outcome: OutcomeFailed}
	fail := func(code, msg, requestID string) BrandResult {
		r.OK, r.Outcome = false, OutcomeFailed
		r.Code, r.Message, r.WechatpayRequestID = code, msg, requestID
		h.Logger.LogAttrs(ctx, slog.LevelError, "brand refresh failed", slog.String("brand_id", brandID), slog.String("outcome", r.Outcome),
			slog.String("code", code), slog.String("message", msg), slog.String("wechatpay_request_id", requestID))
		return r
	}
	if err := membercard.CheckID("brand_id", brandID, 32); err != nil {
		return fail("PARAM_ERROR", err.Error(), "")
	}
	if ctx.Err() != nil {
		return fail("UPSTREAM_TIMEOUT", "the invocation ran out of time before this brand", "")
	}
	// A removed brand (a queued or redriven message) costs WeChat Pay no
	// call; if the table cannot say, the check goes on and Observe decides.
	if h.State != nil {
		if removed, err := h.State.Removed(ctx, brandID); err == nil && removed {
			r.OK, r.Outcome = true, string(authority.NotTracked)
			h.Logger.LogAttrs(ctx, slog.LevelInfo, "brand not refreshed: removed by an operator", slog.String("brand_id", brandID), slog.String("outcome", r.Outcome))
			return r
		}
	}
	resp, err := h.Upstream.Do(ctx, authoritiesRequest(brandID))
	obs, known := observation(resp, err)
	switch {
	case err != nil && !known:
		aerr := FromUpstream(err)
		return fail(aerr.Code, aerr.Message, aerr.RequestID)
	case err != nil:
		aerr := FromUpstream(err)
		r.Code, r.Message, r.WechatpayRequestID = aerr.Code, aerr.Message, aerr.RequestID
	case !known:
		return fail("UPSTREAM_INVALID_ANSWER", "answer is not the documented JSON", resp.RequestID)
	default:
		r.AuthorizationType, r.Products, r.UpdateTime, r.WechatpayRequestID = obs.AuthorizationType, obs.AuthorizationProduct, obs.UpdateTime, resp.RequestID
	}
	if h.State != nil {
		res, serr := h.State.Observe(ctx, brandID, obs)
		if serr != nil {
			return fail("STATE_UNAVAILABLE", serr.Error(), r.WechatpayRequestID)
		}
		r.Outcome = string(res.Outcome)
	} else {
		r.Outcome = string(authority.Unchanged)
		if obs == nil || len(obs.AuthorizationProduct) == 0 {
			r.Outcome = string(authority.RevokedNow)
		}
	}
	r.OK = true
	h.Logger.LogAttrs(ctx, slog.LevelInfo, "brand refreshed", slog.String("brand_id", brandID), slog.String("outcome", r.Outcome),
		slog.String("authorization_type", r.AuthorizationType), slog.Any("authorization_product", r.Products),
		slog.String("update_time", r.UpdateTime), slog.String("wechatpay_request_id", r.WechatpayRequestID))
	return r
}
