package wxpaytest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/wxcard/wxcard/pkg/wxsign"
)

// A Route is one WeChat Pay API the stand-in answers.
type Route struct {
	Method string // GET, POST…
	// Pattern is the path. A segment written {name} matches any one
	// non-empty segment, which the handler reads with [Call.PathValue]:
	// "/v3/marketing/membercard-open/cards/{card_id}/permission-tokens".
	// Segments are matched as sent, then unescaped: an escaped slash
	// (%2F) stays inside its segment, as in a user card code.
	Pattern string
	// Scheme is the Authorization scheme the API takes: a request signed
	// with the other one is answered 401 SIGN_ERROR. A Brand route also
	// requires Wechatpay-Serial.
	Scheme wxsign.Scheme
	// Limit is WeChat Pay's rate limit of the API, in requests per second
	// per caller (the merchant or brand that signs), over every path the
	// pattern matches, enforced with Options.RateLimits; 0 means none.
	Limit int
	// RequireSerial refuses a request without Wechatpay-Serial, as the APIs
	// whose page marks it required do (Brand routes always do).
	RequireSerial bool
	// Handler answers the requests that passed every check.
	Handler Handler
}

// A Handler answers one request the stand-in has verified. Its reply is
// signed and sent; it may be called concurrently.
type Handler func(*Call) Reply

// A Call is a verified request: its signature, identity, clock, nonce and
// headers have been checked as WeChat Pay checks them.
type Call struct {
	Caller *wxsign.Identity // who signed it
	Method string
	Path   string // unescaped
	Query  url.Values
	Header http.Header
	Body   []byte // exactly the bytes received

	params map[string]string
}

// PathValue returns the unescaped path segment the route's pattern names
// {name}, or "".
func (c *Call) PathValue(name string) string { return c.params[name] }

// A Reply is a handler's answer: a status and a JSON body.
type Reply struct {
	Status int
	Body   []byte
}

// JSON replies status with v encoded as JSON. It panics if v cannot be
// encoded, a mistake in the test.
func JSON(status int, v any) Reply {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("wxpaytest: encoding reply: %v", err))
	}
	return Reply{Status: status, Body: b}
}

// OK replies 200 with v encoded as JSON.
func OK(v any) Reply { return JSON(http.StatusOK, v) }

// Error replies status with WeChat Pay's error body {"code","message"}.
func Error(status int, code, message string) Reply {
	return JSON(status, map[string]string{"code": code, "message": message})
}

type compiledRoute struct {
	Route
	segments []string
}

// Handle registers rt. Routes are matched in the order they were
// registered. It panics on a route that is not complete, as
// http.ServeMux.Handle does.
func (s *Server) Handle(rt Route) {
	switch {
	case rt.Method == "" || rt.Handler == nil:
		panic("wxpaytest: Handle: a route needs a Method and a Handler")
	case rt.Scheme.IDParam() == "":
		panic(fmt.Sprintf("wxpaytest: Handle %s %s: unknown scheme %q", rt.Method, rt.Pattern, rt.Scheme))
	case !strings.HasPrefix(rt.Pattern, "/"):
		panic(fmt.Sprintf("wxpaytest: Handle: pattern %q does not start with /", rt.Pattern))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.routes = append(s.routes, &compiledRoute{Route: rt, segments: strings.Split(rt.Pattern, "/")})
}

// match finds the route of method and escaped path. The status is 0 when
// one was found, 405 when only another method's was, 404 when none.
func (s *Server) match(method, escapedPath string) (*compiledRoute, map[string]string, int) {
	s.mu.Lock()
	routes := s.routes
	s.mu.Unlock()
	segments := strings.Split(escapedPath, "/")
	for i, seg := range segments {
		v, err := url.PathUnescape(seg)
		if err != nil {
			return nil, nil, http.StatusNotFound
		}
		segments[i] = v
	}
	status := http.StatusNotFound
	for _, rt := range routes {
		params, ok := rt.matchPath(segments)
		if !ok {
			continue
		}
		if rt.Method != method {
			status = http.StatusMethodNotAllowed
			continue
		}
		return rt, params, 0
	}
	return nil, nil, status
}

func (rt *compiledRoute) matchPath(segments []string) (map[string]string, bool) {
	if len(segments) != len(rt.segments) {
		return nil, false
	}
	var params map[string]string
	for i, want := range rt.segments {
		if name, ok := strings.CutPrefix(want, "{"); ok && strings.HasSuffix(name, "}") {
			if segments[i] == "" {
				return nil, false
			}
			if params == nil {
				params = map[string]string{}
			}
			params[strings.TrimSuffix(name, "}")] = segments[i]
			continue
		}
		if segments[i] != want {
			return nil, false
		}
	}
	return params, true
}
