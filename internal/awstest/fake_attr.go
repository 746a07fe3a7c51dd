package awstest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/big"
	"sort"
	"strings"
)

// attr is a DynamoDB AttributeValue. Exactly one type is set: t is one of
// S, N, B, BOOL, NULL, SS, NS, BS, L, M.
type attr struct {
	t    string
	s    string          // S, N (canonical), B (raw bytes)
	bool bool            // BOOL, NULL
	set  []string        // SS, NS (canonical), BS (raw bytes); no duplicates
	l    []attr          // L
	m    map[string]attr // M
}

type item = map[string]attr

func (a attr) MarshalJSON() ([]byte, error) {
	var v any
	switch a.t {
	case "S", "N":
		v = a.s
	case "B":
		v = []byte(a.s)
	case "BOOL", "NULL":
		v = a.bool
	case "SS", "NS":
		v = a.set
	case "BS":
		bs := make([][]byte, len(a.set))
		for i, x := range a.set {
			bs[i] = []byte(x)
		}
		v = bs
	case "L":
		l := a.l
		if l == nil {
			l = []attr{}
		}
		v = l
	case "M":
		m := a.m
		if m == nil {
			m = item{}
		}
		v = m
	default:
		return nil, fmt.Errorf("attribute value without a type")
	}
	return json.Marshal(map[string]any{a.t: v})
}

// UnmarshalJSON reads an AttributeValue, checking what DynamoDB checks:
// one type, numbers that are numbers, sets that are neither empty nor
// hold duplicates.
func (a *attr) UnmarshalJSON(b []byte) error {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	if len(raw) != 1 {
		return dbErrorf("Supplied AttributeValue has more than one datatypes set, must contain exactly one of the supported datatypes")
	}
	for t, v := range raw {
		a.t = t
		switch t {
		case "S":
			return json.Unmarshal(v, &a.s)
		case "N":
			var s string
			if err := json.Unmarshal(v, &s); err != nil {
				return err
			}
			n, err := canonicalNumber(s)
			a.s = n
			return err
		case "B":
			var bs []byte
			err := json.Unmarshal(v, &bs)
			a.s = string(bs)
			return err
		case "BOOL":
			return json.Unmarshal(v, &a.bool)
		case "NULL":
			if err := json.Unmarshal(v, &a.bool); err != nil {
				return err
			}
			if !a.bool {
				return dbErrorf("One or more parameter values were invalid: Null attribute value types must have the value of true")
			}
			return nil
		case "SS", "NS", "BS":
			var set []string
			if t == "BS" {
				var bs [][]byte
				if err := json.Unmarshal(v, &bs); err != nil {
					return err
				}
				for _, x := range bs {
					set = append(set, string(x))
				}
			} else if err := json.Unmarshal(v, &set); err != nil {
				return err
			}
			if len(set) == 0 {
				kind := map[string]string{"SS": "string", "NS": "number", "BS": "binary"}[t]
				return dbErrorf("One or more parameter values were invalid: An %s set  may not be empty", kind)
			}
			seen := map[string]bool{}
			for i, x := range set {
				if t == "NS" {
					n, err := canonicalNumber(x)
					if err != nil {
						return err
					}
					set[i], x = n, n
				}
				if seen[x] {
					return dbErrorf("One or more parameter values were invalid: Input collection %v contains duplicates.", set)
				}
				seen[x] = true
			}
			a.set = set
			return nil
		case "L":
			if err := json.Unmarshal(v, &a.l); err != nil {
				return err
			}
			if a.l == nil {
				a.l = []attr{}
			}
			return nil
		case "M":
			if err := json.Unmarshal(v, &a.m); err != nil {
				return err
			}
			if a.m == nil {
				a.m = item{}
			}
			return nil
		}
		return dbErrorf("Supplied AttributeValue has an unknown datatype %s", t)
	}
	return nil
}

// canonicalNumber checks a DynamoDB number (up to 38 significant digits)
// and writes it as DynamoDB answers it: no exponent, no leading or
// trailing zeros.
func canonicalNumber(s string) (string, error) {
	r, ok := new(big.Rat).SetString(strings.TrimSpace(s))
	if !ok || strings.ContainsAny(s, "/ xXpP_") || s == "" {
		return "", dbErrorf("A value provided cannot be converted into a number")
	}
	out := ratString(r)
	digits := strings.Trim(strings.NewReplacer("-", "", ".", "").Replace(out), "0")
	if len(digits) > 38 {
		return "", dbErrorf("Attempting to store more than 38 significant digits in a Number")
	}
	return out, nil
}

// ratString writes a rational with a terminating decimal expansion (all
// DynamoDB numbers, their sums and differences) exactly.
func ratString(r *big.Rat) string {
	if r.IsInt() {
		return r.Num().String()
	}
	ten := big.NewInt(10)
	x := new(big.Rat).Set(r)
	for places := 1; places <= 400; places++ {
		x.Mul(x, new(big.Rat).SetInt(ten))
		if x.IsInt() {
			return strings.TrimRight(r.FloatString(places), "0")
		}
	}
	return r.FloatString(400)
}

func num(s string) *big.Rat {
	r, _ := new(big.Rat).SetString(s)
	if r == nil {
		r = new(big.Rat)
	}
	return r
}

// equal compares two values as DynamoDB's = does: same type, same value;
// sets in any order.
func (a attr) equal(b attr) bool {
	if a.t != b.t {
		return false
	}
	switch a.t {
	case "S", "B":
		return a.s == b.s
	case "N":
		return num(a.s).Cmp(num(b.s)) == 0
	case "BOOL", "NULL":
		return a.bool == b.bool
	case "SS", "NS", "BS":
		if len(a.set) != len(b.set) {
			return false
		}
		x, y := sortedSet(a), sortedSet(b)
		for i := range x {
			if x[i] != y[i] {
				return false
			}
		}
		return true
	case "L":
		if len(a.l) != len(b.l) {
			return false
		}
		for i := range a.l {
			if !a.l[i].equal(b.l[i]) {
				return false
			}
		}
		return true
	case "M":
		if len(a.m) != len(b.m) {
			return false
		}
		for k, v := range a.m {
			w, ok := b.m[k]
			if !ok || !v.equal(w) {
				return false
			}
		}
		return true
	}
	return false
}

func sortedSet(a attr) []string {
	s := append([]string(nil), a.set...)
	if a.t == "NS" {
		for i, x := range s {
			s[i] = ratString(num(x))
		}
	}
	sort.Strings(s)
	return s
}

// compare orders two scalars of the same type (S, N or B); ok is false
// when they cannot be ordered.
func (a attr) compare(b attr) (c int, ok bool) {
	if a.t != b.t {
		return 0, false
	}
	switch a.t {
	case "S", "B":
		return bytes.Compare([]byte(a.s), []byte(b.s)), true
	case "N":
		return num(a.s).Cmp(num(b.s)), true
	}
	return 0, false
}

// clone copies a value deeply, so that stored items never share memory
// with answers.
func (a attr) clone() attr {
	c := a
	if a.set != nil {
		c.set = append([]string(nil), a.set...)
	}
	if a.l != nil {
		c.l = make([]attr, len(a.l))
		for i, v := range a.l {
			c.l[i] = v.clone()
		}
	}
	if a.m != nil {
		c.m = cloneItem(a.m)
	}
	return c
}

func cloneItem(it item) item {
	if it == nil {
		return nil
	}
	c := make(item, len(it))
	for k, v := range it {
		c[k] = v.clone()
	}
	return c
}

// size is DynamoDB's item size, near enough for its 400 KB limit: names
// plus values.
func itemSize(it item) int {
	n := 0
	for k, v := range it {
		n += len(k) + v.size()
	}
	return n
}

func (a attr) size() int {
	switch a.t {
	case "S", "B":
		return len(a.s)
	case "N":
		return (len(a.s)+1)/2 + 1
	case "BOOL", "NULL":
		return 1
	case "SS", "NS", "BS":
		n := 0
		for _, x := range a.set {
			n += len(x)
		}
		return n
	case "L":
		n := 3
		for _, v := range a.l {
			n += 1 + v.size()
		}
		return n
	case "M":
		return 3 + itemSize(a.m)
	}
	return 0
}

// dbErrorf is an error in DynamoDB's words, which begin with a capital.
func dbErrorf(format string, args ...any) error { return fmt.Errorf(format, args...) }
