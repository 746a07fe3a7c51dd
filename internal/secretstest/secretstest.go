// Package secretstest provides Secrets Manager endpoints for tests: an
// in-process server speaking the service's JSON 1.1 wire protocol (enough of
// it for GetSecretValue, CreateSecret and PutSecretValue), and the secret of
// an identity the wxpaytest stand-in knows. Like net/http/httptest it does
// not import testing, so the local runner may use it; moto_server is
// started by awstest.StartMoto.
package secretstest

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/wxcard/wxcard/internal/secret"
	"github.com/wxcard/wxcard/pkg/wxpay/wxpaytest"
	"github.com/wxcard/wxcard/pkg/wxsign"
)

// Server is an in-process Secrets Manager.
type Server struct {
	URL string

	srv   *httptest.Server
	delay atomic.Int64 // nanoseconds before each answer
	mu    sync.Mutex
	vals  map[string]string
	calls atomic.Int64
}

// NewServer starts a server holding the given secrets (name to SecretString).
func NewServer(secrets map[string]string) *Server {
	s := &Server{vals: map[string]string{}}
	for k, v := range secrets {
		s.vals[k] = v
	}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	s.URL = s.srv.URL
	return s
}

// NewServerOn serves on l, for a fixed address.
func NewServerOn(l net.Listener, secrets map[string]string) *Server {
	s := &Server{vals: map[string]string{}}
	for k, v := range secrets {
		s.vals[k] = v
	}
	s.srv = httptest.NewUnstartedServer(http.HandlerFunc(s.serve))
	_ = s.srv.Listener.Close()
	s.srv.Listener = l
	s.srv.Start()
	s.URL = s.srv.URL
	return s
}

// Close stops the server.
func (s *Server) Close() { s.srv.Close() }

// Set stores or replaces a secret.
func (s *Server) Set(name, value string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.vals[name] = value
}

// SetDelay makes every answer wait d first: the round trips to a Secrets
// Manager endpoint that is not on loopback.
func (s *Server) SetDelay(d time.Duration) { s.delay.Store(int64(d)) }

// Calls is how many GetSecretValue calls were served.
func (s *Server) Calls() int { return int(s.calls.Load()) }

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	if d := time.Duration(s.delay.Load()); d > 0 {
		time.Sleep(d) // simulated latency, not synchronisation
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	if !strings.HasPrefix(r.Header.Get("Authorization"), "AWS4-HMAC-SHA256 ") {
		writeErr(w, 400, "MissingAuthenticationTokenException", "Missing Authentication Token")
		return
	}
	var in struct {
		SecretID     string `json:"SecretId"`
		Name         string `json:"Name"`
		SecretString string `json:"SecretString"`
	}
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err := json.Unmarshal(body, &in); err != nil {
		writeErr(w, 400, "SerializationException", "body is not JSON")
		return
	}
	switch r.Header.Get("X-Amz-Target") {
	case "secretsmanager.GetSecretValue":
		s.calls.Add(1)
		s.mu.Lock()
		v, ok := s.vals[in.SecretID]
		s.mu.Unlock()
		if !ok {
			writeErr(w, 400, "ResourceNotFoundException", "Secrets Manager can't find the specified secret.")
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]any{
			"ARN": "arn:aws:secretsmanager:us-east-1:123456789012:secret:" + in.SecretID, "Name": in.SecretID,
			"SecretString": v, "VersionId": "v1", "VersionStages": []string{"AWSCURRENT"}, "CreatedDate": 1.7e9,
		})
	case "secretsmanager.PutSecretValue":
		s.mu.Lock()
		_, ok := s.vals[in.SecretID]
		s.mu.Unlock()
		if !ok {
			writeErr(w, 400, "ResourceNotFoundException", "Secrets Manager can't find the specified secret.")
			return
		}
		s.Set(in.SecretID, in.SecretString)
		_ = json.NewEncoder(w).Encode(map[string]any{"Name": in.SecretID, "VersionId": "v2"})
	case "secretsmanager.CreateSecret":
		s.Set(in.Name, in.SecretString)
		_ = json.NewEncoder(w).Encode(map[string]any{"ARN": "arn:aws:secretsmanager:us-east-1:123456789012:secret:" + in.Name, "Name": in.Name})
	default:
		writeErr(w, 400, "UnknownOperationException", "unsupported operation")
	}
}

func writeErr(w http.ResponseWriter, status int, typ, msg string) {
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"__type": typ, "message": msg})
}

// Client returns a real Secrets Manager client pointed at endpoint, with
// static test credentials.
func Client(endpoint string) *secretsmanager.Client {
	return secretsmanager.New(secretsmanager.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(endpoint),
		Credentials:  aws.NewCredentialsCache(staticCreds{}),
	})
}

type staticCreds struct{}

func (staticCreds) Retrieve(context.Context) (aws.Credentials, error) {
	return aws.Credentials{AccessKeyID: "testing", SecretAccessKey: "testing", Source: "secretstest"}, nil
}

// IdentityOf is the secret.Identity of a caller the stand-in srv knows.
func IdentityOf(srv *wxpaytest.Server, id *wxsign.Identity) *secret.Identity {
	return &secret.Identity{Identity: *id, PublicKeyID: srv.PublicKeyID, PublicKey: &srv.Key.PublicKey}
}

// ValueOf is the secret's value for a caller the stand-in srv knows.
func ValueOf(srv *wxpaytest.Server, id *wxsign.Identity) string {
	v, err := secret.Encode(IdentityOf(srv, id))
	if err != nil {
		panic(err)
	}
	return string(v)
}
