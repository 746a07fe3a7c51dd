// Command wxcard-vulndb builds the offline Go vulnerability database that
// `govulncheck -db file://DIR` reads, from the OSV entries of the
// golang.org/x/vulndb module (its data/osv folder), which the module proxy
// serves where vuln.go.dev is unreachable. It writes the database's v1
// layout (https://go.dev/security/vuln/database#api):
//
//	index/db.json       {"modified": the latest entry's modified}
//	index/modules.json  [{"path", "vulns": [{"id", "modified"}]}], by path and ID
//	index/vulns.json    [{"id", "modified", "aliases"}], by ID
//	ID/<id>.json        each entry, as published
//
// The repository's entries have no modified time (vuln.go.dev stamps it
// when publishing); the indexes use their published time instead. The
// modules index leaves out each vulnerability's "fixed" version, which
// is optional: govulncheck then reads every entry of a module it finds and
// decides from the entry's own ranges.
//
// Usage: wxcard-vulndb -src $(go env GOMODCACHE)/golang.org/x/vulndb@VERSION/data/osv -out DIR
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// entry is the part of an OSV entry the indexes need.
type entry struct {
	ID        string    `json:"id"`
	Modified  time.Time `json:"modified"`
	Published time.Time `json:"published"`
	Aliases   []string  `json:"aliases,omitempty"`
	Affected  []struct {
		Module struct {
			Path string `json:"name"` // the module path ("stdlib", "toolchain" for Go's own)
		} `json:"package"`
	} `json:"affected"`
}

type moduleVuln struct {
	ID       string    `json:"id"`
	Modified time.Time `json:"modified"`
}

type module struct {
	Path  string       `json:"path"`
	Vulns []moduleVuln `json:"vulns"`
}

type vuln struct {
	ID       string    `json:"id"`
	Modified time.Time `json:"modified"`
	Aliases  []string  `json:"aliases,omitempty"`
}

func main() {
	src := flag.String("src", "", "the data/osv folder of golang.org/x/vulndb")
	out := flag.String("out", "", "the database folder to write (replaced)")
	flag.Parse()
	if *src == "" || *out == "" {
		fmt.Fprintln(os.Stderr, "usage: wxcard-vulndb -src DIR -out DIR")
		os.Exit(2)
	}
	n, err := build(*src, *out)
	if err != nil {
		fmt.Fprintln(os.Stderr, "wxcard-vulndb:", err)
		os.Exit(1)
	}
	fmt.Printf("wxcard-vulndb: %d entries from %s into %s\n", n, *src, *out)
}

// build writes the database of src's entries into out, through a
// temporary folder beside it, so that an interrupted build leaves no half
// database behind.
func build(src, out string) (int, error) {
	files, err := filepath.Glob(filepath.Join(src, "*.json"))
	if err != nil {
		return 0, err
	}
	if len(files) == 0 {
		return 0, fmt.Errorf("no OSV entries (*.json) in %s", src)
	}
	tmp := out + ".tmp"
	if err := os.RemoveAll(tmp); err != nil {
		return 0, err
	}
	if err := os.MkdirAll(filepath.Join(tmp, "ID"), 0o750); err != nil {
		return 0, err
	}
	var (
		latest  time.Time
		modules = map[string]*module{}
		vulns   []vuln
	)
	for _, f := range files {
		raw, err := os.ReadFile(f) //nolint:gosec // the vulndb module's own files
		if err != nil {
			return 0, err
		}
		var e entry
		if err := json.Unmarshal(raw, &e); err != nil {
			return 0, fmt.Errorf("%s: %w", f, err)
		}
		if e.ID == "" || filepath.Base(f) != e.ID+".json" {
			return 0, fmt.Errorf("%s: entry ID %q does not match the file name", f, e.ID)
		}
		// The repository's entries carry no modified time (vuln.go.dev
		// sets it when it publishes them): the indexes say published.
		if e.Modified.IsZero() {
			e.Modified = e.Published
		}
		if e.Modified.After(latest) {
			latest = e.Modified
		}
		vulns = append(vulns, vuln{ID: e.ID, Modified: e.Modified, Aliases: e.Aliases})
		for _, a := range e.Affected {
			p := a.Module.Path
			if p == "" {
				return 0, fmt.Errorf("%s: an affected module has no path", f)
			}
			if modules[p] == nil {
				modules[p] = &module{Path: p}
			}
			if !slices.ContainsFunc(modules[p].Vulns, func(v moduleVuln) bool { return v.ID == e.ID }) {
				modules[p].Vulns = append(modules[p].Vulns, moduleVuln{ID: e.ID, Modified: e.Modified})
			}
		}
		if err := os.WriteFile(filepath.Join(tmp, "ID", e.ID+".json"), raw, 0o644); err != nil { //nolint:gosec // public data
			return 0, err
		}
	}
	mods := make([]*module, 0, len(modules))
	for _, m := range modules {
		slices.SortFunc(m.Vulns, func(a, b moduleVuln) int { return strings.Compare(a.ID, b.ID) })
		mods = append(mods, m)
	}
	slices.SortFunc(mods, func(a, b *module) int { return strings.Compare(a.Path, b.Path) })
	slices.SortFunc(vulns, func(a, b vuln) int { return strings.Compare(a.ID, b.ID) })
	for name, v := range map[string]any{"db.json": map[string]time.Time{"modified": latest}, "modules.json": mods, "vulns.json": vulns} {
		if err := writeJSON(filepath.Join(tmp, "index", name), v); err != nil {
			return 0, err
		}
	}
	if err := os.RemoveAll(out); err != nil {
		return 0, err
	}
	return len(files), os.Rename(tmp, out)
}

func writeJSON(path string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o644) //nolint:gosec // public data
}
