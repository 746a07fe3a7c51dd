package membercard

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"
)

// MaxBodyBytes bounds a request body; the largest valid one is under 1 KiB.
const MaxBodyBytes = 16 << 10

// Decode reads one JSON object into v by the rules WeChat Pay applies to
// request bodies, and stricter ones that keep a caller from smuggling
// anything through: UTF-8 of 1 to 3 byte characters only, no JSON null, no
// duplicate keys, no unknown fields, one object and nothing after it, at
// most MaxBodyBytes. Errors are *FieldError naming the field ("body" for
// the whole).
func Decode(data []byte, v any) error {
	if len(data) > MaxBodyBytes {
		return &FieldError{Field: "body", Reason: fmt.Sprintf("must be at most %d bytes", MaxBodyBytes)}
	}
	if !utf8.Valid(data) {
		return &FieldError{Field: "body", Reason: "must be valid UTF-8"}
	}
	for _, r := range string(data) {
		if r > 0xFFFF {
			return &FieldError{Field: "body", Reason: "must not contain 4-byte UTF-8 characters such as emoji"}
		}
	}
	if err := scan(data); err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return decodeError(err)
	}
	return nil
}

// scan walks the tokens once to refuse what encoding/json lets through:
// duplicate keys, null, and a top level that is not exactly one object.
func scan(data []byte) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	tok, err := dec.Token()
	if err == io.EOF {
		return &FieldError{Field: "body", Reason: "is required"}
	}
	if d, ok := tok.(json.Delim); err != nil || !ok || d != '{' {
		return &FieldError{Field: "body", Reason: "must be a JSON object"}
	}
	if err := scanObject(dec, ""); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return &FieldError{Field: "body", Reason: "must hold one JSON object and nothing after it"}
	}
	return nil
}

func scanValue(dec *json.Decoder, tok json.Token, path string) error {
	switch t := tok.(type) {
	case nil:
		return &FieldError{Field: path, Reason: "must not be null; omit it instead"}
	case json.Delim:
		if t == '{' {
			return scanObject(dec, path)
		}
		return scanArray(dec, path)
	}
	return nil
}

func scanObject(dec *json.Decoder, path string) error {
	keys := map[string]bool{}
	for {
		tok, err := dec.Token()
		if err != nil {
			return invalidAt(path)
		}
		if d, ok := tok.(json.Delim); ok && d == '}' {
			return nil
		}
		key, _ := tok.(string) // the decoder only yields strings in key position
		p := join(path, key)
		if keys[key] {
			return &FieldError{Field: p, Reason: "appears more than once"}
		}
		keys[key] = true
		if tok, err = dec.Token(); err != nil {
			return invalidAt(p)
		}
		if err := scanValue(dec, tok, p); err != nil {
			return err
		}
	}
}

func scanArray(dec *json.Decoder, path string) error {
	for {
		tok, err := dec.Token()
		if err != nil {
			return invalidAt(path)
		}
		if d, ok := tok.(json.Delim); ok && d == ']' {
			return nil
		}
		if err := scanValue(dec, tok, path); err != nil {
			return err
		}
	}
}

func invalidAt(path string) error {
	if path == "" {
		path = "body"
	}
	return &FieldError{Field: path, Reason: "is not valid JSON"}
}

// join names key under path; an empty key is named "" so that an error
// about it still names a field.
func join(path, key string) string {
	if key == "" {
		key = `""`
	}
	if path == "" {
		return key
	}
	return path + "." + key
}

func decodeError(err error) error {
	var typeErr *json.UnmarshalTypeError
	if errors.As(err, &typeErr) {
		f := typeErr.Field
		if f == "" {
			f = "body"
		}
		return &FieldError{Field: f, Reason: "must be a " + typeName(typeErr.Type.Kind().String())}
	}
	if msg := err.Error(); strings.HasPrefix(msg, "json: unknown field ") {
		return &FieldError{Field: join("", strings.Trim(strings.TrimPrefix(msg, "json: unknown field "), `"`)), Reason: "is not a known field"}
	}
	return &FieldError{Field: "body", Reason: "is not valid JSON"}
}

func typeName(kind string) string {
	switch kind {
	case "bool":
		return "boolean"
	case "ptr":
		return "boolean"
	}
	return kind
}
