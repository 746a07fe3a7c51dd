package session

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/wxcard/wxcard/internal/apigw"
	"github.com/wxcard/wxcard/internal/metrics"
	"github.com/wxcard/wxcard/pkg/wxlogin"
)

// Route is the sign-in route.
const Route = "/session"

// Exchanger exchanges a wx.login code; *wxlogin.Client is one.
type Exchanger interface {
	Exchange(ctx context.Context, code string) (*wxlogin.Session, error)
}

// RetryAfter is the Retry-After of a 429: WeChat's code2Session quota is
// counted per minute.
const RetryAfter = 60 * time.Second

// DeadlineMargin is kept free before the invocation's deadline: after
// WeChat ran out of time there is still time to answer 504, and after KMS
// did, 503.
const DeadlineMargin = 300 * time.Millisecond

// SignIn serves POST /session. Build it once at cold start with NewSignIn
// (or SignInFromEnv); it is safe for concurrent use.
type SignIn struct {
	login   Exchanger
	tokens  *Tokens
	logger  *slog.Logger
	metrics *metrics.Emitter
	spent   *spentCodes
}

// NewSignIn returns the handler. logger nil logs nothing; em nil writes no
// metrics; now nil is time.Now (it only ages remembered codes).
func NewSignIn(login Exchanger, tokens *Tokens, logger *slog.Logger, em *metrics.Emitter, now func() time.Time) *SignIn {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if now == nil {
		now = time.Now
	}
	return &SignIn{login: login, tokens: tokens, logger: logger, metrics: em, spent: newSpentCodes(now, MaxSpentCodes)}
}

// Answer is the body of a successful sign-in.
type Answer struct {
	Token     string `json:"token"`
	TokenType string `json:"token_type"` // always "Bearer"
	ExpiresIn int64  `json:"expires_in"` // seconds
	OpenID    string `json:"openid"`
}

// Error codes of the sign-in answers besides apigw's.
const (
	CodeInvalidCode         = "INVALID_CODE"
	CodeUserBlocked         = "USER_BLOCKED"
	CodeFrequencyLimited    = "FREQUENCY_LIMITED"
	CodeUpstreamUnavailable = "UPSTREAM_UNAVAILABLE"
	CodeUpstreamTimeout     = "UPSTREAM_TIMEOUT"
	CodeUpstreamInvalid     = "UPSTREAM_INVALID_ANSWER"
	CodeConfigurationError  = "CONFIGURATION_ERROR"
	CodeSigningUnavailable  = "SIGNING_UNAVAILABLE"
)

// FromLogin maps a failed exchange to design.md's answer.
func FromLogin(err error) *apigw.Error {
	switch {
	case errors.Is(err, wxlogin.ErrInvalidCode):
		return &apigw.Error{Status: http.StatusUnauthorized, Code: CodeInvalidCode, Message: "code is invalid, expired or already used: call wx.login again"}
	case errors.Is(err, wxlogin.ErrUserBlocked):
		return &apigw.Error{Status: http.StatusForbidden, Code: CodeUserBlocked, Message: "WeChat refuses this user as high-risk"}
	case errors.Is(err, wxlogin.ErrRateLimited):
		return &apigw.Error{Status: http.StatusTooManyRequests, Code: CodeFrequencyLimited, Message: "WeChat's code2Session quota was reached; retry later"}
	case errors.Is(err, wxlogin.ErrBadCredentials):
		return &apigw.Error{Status: http.StatusInternalServerError, Code: CodeConfigurationError, Message: "WeChat refuses the mini-program's AppID or AppSecret: check the deployment's secret"}
	case timedOut(err):
		return &apigw.Error{Status: http.StatusGatewayTimeout, Code: CodeUpstreamTimeout, Message: "WeChat did not answer in time"}
	case errors.Is(err, wxlogin.ErrBusy), errors.Is(err, wxlogin.ErrUnavailable):
		return &apigw.Error{Status: http.StatusBadGateway, Code: CodeUpstreamUnavailable, Message: "WeChat is failing or could not be reached; retry later"}
	default:
		return &apigw.Error{Status: http.StatusBadGateway, Code: CodeUpstreamInvalid, Message: "WeChat's answer was not a code2Session answer"}
	}
}

// timedOut reports whether an exchange ran out of time on our side: the
// code may have reached WeChat, and been exchanged, all the same.
func timedOut(err error) bool {
	return errors.Is(err, wxlogin.ErrTimeout) || errors.Is(err, context.DeadlineExceeded)
}

// repeatAnswer is what a request repeating a code gets once the code's
// exchange ended with err (aerr its answer), and whether that ends the
// code's life here, so that it is not sent again: WeChat exchanged it,
// refused it for good, or may have exchanged it unseen when our side ran
// out of time (sent again, it would spend the quota on a likely refusal).
// The other failures leave the code alive: only the requests that waited
// for this exchange share its answer.
func repeatAnswer(err error, aerr *apigw.Error) (*apigw.Error, bool) {
	switch {
	case err == nil:
		return FromLogin(wxlogin.ErrInvalidCode), true
	case errors.Is(err, wxlogin.ErrInvalidCode), errors.Is(err, wxlogin.ErrUserBlocked):
		return aerr, true
	case timedOut(err):
		return &apigw.Error{Status: http.StatusUnauthorized, Code: CodeInvalidCode, Message: "an earlier sign-in with this code ran out of time and may have spent it: call wx.login again"}, true
	}
	return aerr, false
}

// signInOutcome is what one invocation logs.
type signInOutcome struct {
	openid   string
	jti      string
	attempts int
	cached   bool // answered from the spent codes
	waited   bool // answered as another request's exchange of the code did
	cause    error
}

// Handle serves one event.
func (h *SignIn) Handle(ctx context.Context, ev events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
	start := time.Now()
	m := h.metrics.New(Route)
	m.Count("Requests", 1)
	defer h.metrics.Flush(m)
	var out signInOutcome
	ans, aerr := h.serve(ctx, &ev, m, &out)
	code := "OK"
	if aerr != nil {
		code = aerr.Code
	}
	m.Count("Outcome", 1)
	m.SetDimension("outcome", code)
	attrs := []slog.Attr{
		slog.String("route", Route),
		slog.String("api_request_id", ev.RequestContext.RequestID),
		slog.Float64("duration_ms", float64(time.Since(start).Microseconds())/1000),
	}
	if out.openid != "" {
		attrs = append(attrs, slog.String("openid_hash", HashOpenID(out.openid)))
	}
	if out.attempts > 0 {
		attrs = append(attrs, slog.Int("wechat_attempts", out.attempts))
	}
	if aerr != nil {
		aerr.RequestID = ev.RequestContext.RequestID
		attrs = append(attrs, slog.Int("status", aerr.Status), slog.String("code", aerr.Code), slog.String("message", aerr.Message))
		if out.cached {
			attrs = append(attrs, slog.Bool("code_refused_before", true))
		}
		if out.waited {
			attrs = append(attrs, slog.Bool("code_in_flight", true))
		}
		if out.cause != nil {
			attrs = append(attrs, slog.String("error", out.cause.Error()))
		}
		level := slog.LevelInfo
		if aerr.Status >= 500 {
			level = slog.LevelError
		}
		h.logger.LogAttrs(ctx, level, "sign-in refused", attrs...)
		resp := aerr.Respond()
		if aerr.Status == http.StatusTooManyRequests {
			resp.Headers["Retry-After"] = strconv.Itoa(int(RetryAfter / time.Second))
		}
		return resp, nil
	}
	attrs = append(attrs, slog.Int("status", http.StatusOK), slog.String("jti", out.jti), slog.String("token_prefix", TokenPrefix(ans.Token)))
	h.logger.LogAttrs(ctx, slog.LevelInfo, "sign-in served", attrs...)
	b, _ := json.Marshal(ans) // strings and an integer: cannot fail
	return apigw.JSON(http.StatusOK, b), nil
}

func (h *SignIn) serve(ctx context.Context, ev *events.APIGatewayV2HTTPRequest, m *metrics.Set, out *signInOutcome) (*Answer, *apigw.Error) {
	if aerr := apigw.Method(ev, http.MethodPost); aerr != nil {
		return nil, aerr
	}
	body, aerr := apigw.Body(ev)
	if aerr != nil {
		return nil, aerr
	}
	code, aerr := DecodeCode(body)
	if aerr != nil {
		return nil, aerr
	}
	uctx, cancel := upstreamContext(ctx)
	defer cancel()
	prev, f, mine := h.spent.claim(code)
	switch {
	case prev != nil:
		out.cached = true
		m.Count("SpentCodeRefused", 1)
		return nil, prev
	case !mine:
		// Another request is exchanging this code: sent again, it would
		// reach WeChat twice.
		out.waited = true
		m.Count("InFlightCodeWaited", 1)
		shared, err := f.wait(uctx)
		if err != nil {
			out.cause = fmt.Errorf("waiting for another request's exchange of the same code: %w", err)
			return nil, FromLogin(wxlogin.ErrTimeout)
		}
		return nil, shared
	}
	called := time.Now()
	s, err := h.login.Exchange(uctx, code)
	m.Duration("UpstreamLatency", time.Since(called))
	var ce *wxlogin.CallError
	switch {
	case s != nil:
		out.attempts = s.Attempts
	case errors.As(err, &ce):
		out.attempts = ce.Attempts
	}
	if out.attempts > 0 {
		m.Count("UpstreamAttempts", out.attempts)
	}
	var refusal *apigw.Error
	if err != nil {
		refusal = FromLogin(err)
	}
	repeat, remember := repeatAnswer(err, refusal)
	h.spent.land(code, f, repeat, remember)
	if err != nil {
		out.cause = err
		return nil, refusal
	}
	out.openid = s.OpenID
	sctx, cancelSign := upstreamContext(ctx)
	defer cancelSign()
	signed := time.Now()
	tok, err := h.tokens.Issue(sctx, s.OpenID, s.UnionID)
	m.Duration("SigningLatency", time.Since(signed))
	if err != nil {
		out.cause = err
		return nil, &apigw.Error{Status: http.StatusServiceUnavailable, Code: CodeSigningUnavailable, Message: "the signing key could not sign the token; call wx.login again and retry"}
	}
	out.jti = tok.ID
	return &Answer{Token: tok.Raw, TokenType: "Bearer", ExpiresIn: int64(h.tokens.TTL() / time.Second), OpenID: s.OpenID}, nil
}

// upstreamContext is ctx with its deadline moved DeadlineMargin earlier.
func upstreamContext(ctx context.Context) (context.Context, context.CancelFunc) {
	if dl, ok := ctx.Deadline(); ok {
		return context.WithDeadline(ctx, dl.Add(-DeadlineMargin))
	}
	return context.WithCancel(ctx)
}
