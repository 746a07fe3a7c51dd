package session

import (
	"context"
	"crypto/sha256"
	"sync"
	"time"

	"github.com/wxcard/wxcard/internal/apigw"
)

// CodeLifetime is how long a wx.login code is valid.
const CodeLifetime = 5 * time.Minute

// MaxSpentCodes bounds the codes one process remembers.
const MaxSpentCodes = 10000

// spentCodes remembers, for CodeLifetime, the codes this process will not
// send to WeChat again and the answer each got: those WeChat refused for
// good (invalid, used, user blocked), those it exchanged (a second
// exchange would be refused as used) and those whose exchange ran out of
// time here (WeChat may have exchanged them). It also knows the codes
// being exchanged: a request repeating one waits for that exchange to end
// and answers as it did, so concurrent repeats do not reach WeChat either.
// It is per process and in memory: a code refused by one Lambda instance
// may still reach WeChat once through another, which WeChat then refuses
// itself; it only keeps a client that repeats a dead code from spending
// the app's code2Session quota. It holds SHA-256 digests, never codes;
// when full, the oldest entry goes first.
type spentCodes struct {
	mu       sync.Mutex
	now      func() time.Time
	max      int
	byKey    map[[32]byte]spent
	order    [][32]byte // insertion order, oldest first
	inFlight map[[32]byte]*flight
}

type spent struct {
	until  time.Time
	answer *apigw.Error
}

// flight is one exchange of a code in progress.
type flight struct {
	done   chan struct{}
	answer *apigw.Error // what a repeat of the code gets; set before done closes
}

func newSpentCodes(now func() time.Time, maxEntries int) *spentCodes {
	return &spentCodes{now: now, max: maxEntries, byKey: map[[32]byte]spent{}, inFlight: map[[32]byte]*flight{}}
}

func codeKey(code string) [32]byte { return sha256.Sum256([]byte("wxcard-code:" + code)) }

// claim returns, for a request with code, one of: the answer of a spent
// code (a copy: Handle stamps it with the request's ID); the flight of
// another request's exchange of code, to wait for; or, when neither,
// a new flight the caller owns (mine): it exchanges the code and must end
// the flight with land.
func (s *spentCodes) claim(code string) (answer *apigw.Error, f *flight, mine bool) {
	k := codeKey(code)
	s.mu.Lock()
	defer s.mu.Unlock()
	if a := s.lookup(k); a != nil {
		c := *a
		return &c, nil, false
	}
	if f := s.inFlight[k]; f != nil {
		return nil, f, false
	}
	f = &flight{done: make(chan struct{})}
	s.inFlight[k] = f
	return nil, f, true
}

// wait returns a copy of the answer f ended with, or ctx's error if ctx
// is done first.
func (f *flight) wait(ctx context.Context) (*apigw.Error, error) {
	select {
	case <-f.done:
		c := *f.answer
		return &c, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// land ends f, the exchange of code: repeat is what requests repeating
// code get, those waiting now and, when remember, those to come for
// CodeLifetime. It keeps a copy, since Handle stamps the exchanging
// request's answer with its ID while others read the kept one.
func (s *spentCodes) land(code string, f *flight, repeat *apigw.Error, remember bool) {
	c := *repeat
	k := codeKey(code)
	s.mu.Lock()
	defer s.mu.Unlock()
	if remember {
		s.add(k, &c)
	}
	f.answer = &c
	delete(s.inFlight, k)
	close(f.done)
}

// lookup returns the answer a spent code got, or nil; s.mu is held.
func (s *spentCodes) lookup(k [32]byte) *apigw.Error {
	e, ok := s.byKey[k]
	if !ok || !s.now().Before(e.until) {
		return nil
	}
	return e.answer
}

// add remembers a code with its answer for CodeLifetime; s.mu is held.
func (s *spentCodes) add(k [32]byte, answer *apigw.Error) {
	now := s.now()
	if _, ok := s.byKey[k]; !ok {
		s.order = append(s.order, k)
	}
	s.byKey[k] = spent{until: now.Add(CodeLifetime), answer: answer}
	// Entries are added in time order, so the expired ones are the oldest.
	for len(s.order) > 0 {
		old := s.order[0]
		e := s.byKey[old]
		if len(s.order) <= s.max && now.Before(e.until) {
			break
		}
		delete(s.byKey, old)
		s.order = s.order[1:]
	}
}
