package session

import (
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
// good (invalid, used, user blocked) and those it exchanged (a second
// exchange would be refused as used). It is per process and in memory: a
// code refused by one Lambda instance may still reach WeChat once through
// another, which WeChat then refuses itself; it only keeps a client that
// repeats a dead code from spending the app's code2Session quota. It holds
// SHA-256 digests, never codes; when full, the oldest entry goes first.
type spentCodes struct {
	mu    sync.Mutex
	now   func() time.Time
	max   int
	byKey map[[32]byte]spent
	order [][32]byte // insertion order, oldest first
}

type spent struct {
	until  time.Time
	answer *apigw.Error
}

func newSpentCodes(now func() time.Time, maxEntries int) *spentCodes {
	return &spentCodes{now: now, max: maxEntries, byKey: map[[32]byte]spent{}}
}

func codeKey(code string) [32]byte { return sha256.Sum256([]byte("wxcard-code:" + code)) }

// lookup returns the answer a spent code got, or nil.
func (s *spentCodes) lookup(code string) *apigw.Error {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.byKey[codeKey(code)]
	if !ok || !s.now().Before(e.until) {
		return nil
	}
	return e.answer
}

// add remembers code with its answer for CodeLifetime.
func (s *spentCodes) add(code string, answer *apigw.Error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	k := codeKey(code)
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
