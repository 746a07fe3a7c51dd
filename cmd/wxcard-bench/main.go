// Command wxcard-bench runs the project's Go benchmarks and prints the
// table of BENCHMARKS.md: the crypto floor, one call through pkg/wxpay next
// to the official SDK and the seed documents' sample, each handler, cold
// start (the sign-in functions' next to pretoken's), binary size and
// memory, with the targets as ratios measured in the same run. Medians of several runs smooth out a busy machine.
package main

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// run is one `go test -bench` invocation.
type run struct {
	pkg, pattern string
	args         []string
}

var runs = []run{
	{"./pkg/wxsign", "^(BenchmarkFloor|BenchmarkSign|BenchmarkVerify|BenchmarkAuthorization)$", []string{"-benchmem", "-count", "5"}},
	{"./pkg/wxpay", "^Benchmark(RoundTrip|Call|OfficialSDKCall|SeedSampleCall|SeedSampleCallFreshTransport|CallStandIn)$", []string{"-benchmem", "-count", "3"}},
	{"./pkg/wxpay", "^BenchmarkInterleaved$", []string{"-benchtime", "3s", "-count", "5"}},
	{"./internal/cardapi", "^BenchmarkHandler$", []string{"-benchmem", "-count", "3"}},
	{"./internal/cardapi", "^BenchmarkLiveHeapGrowth$", []string{"-benchtime", "1x", "-count", "3"}},
	{"./internal/cardevents", "^BenchmarkNotification$", []string{"-benchmem", "-count", "3"}},
	{"./internal/cardapi", "^BenchmarkMetricsOverhead$", []string{"-benchtime", "3s", "-count", "5"}},
	{"./e2e", "^BenchmarkColdStart$", []string{"-benchtime", "21x", "-count", "1"}},
	{"./e2e", "^BenchmarkWarmInvocation$", []string{"-benchtime", "1000x", "-count", "1"}},
	{"./e2e", "^BenchmarkColdRequest$", []string{"-benchtime", "9x", "-count", "3"}},
	{"./e2e", "^BenchmarkColdStartBaseline$", []string{"-benchtime", "21x", "-count", "3"}},
	{"./e2e", "^BenchmarkColdStartSignIn$", []string{"-benchtime", "15x", "-count", "3"}},
	// 1,000 openings through the paced member queue, twice (about 9 minutes):
	// the pace is the measurement.
	{"./internal/member", "^BenchmarkMemberJoins$", []string{"-benchtime", "1000x", "-count", "1", "-timeout", "30m"}},
	// 1,000 points changes synced through the same paced queue (another 9 minutes).
	{"./internal/member", "^BenchmarkMemberUpdates$", []string{"-benchtime", "1000x", "-count", "1", "-timeout", "30m"}},
}

var line = regexp.MustCompile(`^(Benchmark\S+?)(?:-\d+)?\s+\d+\s+(.*)$`)

func main() {
	samples := map[string]map[string][]float64{} // benchmark -> unit -> values
	for _, r := range runs {
		args := append([]string{"test", "-run", "^$", "-bench", r.pattern}, r.args...)
		args = append(args, r.pkg)
		fmt.Fprintf(os.Stderr, "go %s\n", strings.Join(args, " "))
		cmd := exec.Command("go", args...) //nolint:gosec // fixed arguments from the runs table above
		cmd.Stderr = os.Stderr
		out, err := cmd.StdoutPipe()
		if err != nil {
			fail(err)
		}
		if err := cmd.Start(); err != nil {
			fail(err)
		}
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			m := line.FindStringSubmatch(sc.Text())
			if m == nil {
				continue
			}
			name := strings.TrimPrefix(m[1], "Benchmark")
			f := strings.Fields(m[2])
			for i := 0; i+1 < len(f); i += 2 {
				v, err := strconv.ParseFloat(f[i], 64)
				if err != nil {
					continue
				}
				if samples[name] == nil {
					samples[name] = map[string][]float64{}
				}
				samples[name][f[i+1]] = append(samples[name][f[i+1]], v)
			}
		}
		if err := cmd.Wait(); err != nil {
			fail(fmt.Errorf("go test %s: %w", r.pkg, err))
		}
	}
	report(samples)
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "wxcard-bench:", err)
	os.Exit(1)
}

func median(vs []float64) float64 {
	if len(vs) == 0 {
		return 0
	}
	s := append([]float64(nil), vs...)
	sort.Float64s(s)
	return s[len(s)/2]
}

// verdict says whether a target was met, as the tables print it.
func verdict(ok bool) string {
	if ok {
		return "met"
	}
	return "MISSED"
}

func report(samples map[string]map[string][]float64) {
	get := func(name, unit string) float64 { return median(samples[name][unit]) }
	ms := func(name string) float64 { return get(name, "ns/op") / 1e6 }
	row := func(label, name string) {
		fmt.Printf("| %s | %.3f ms | %.0f | %.0f |\n", label, ms(name), get(name, "B/op"), get(name, "allocs/op"))
	}

	fmt.Println("\n### Crypto floor (pkg/wxsign)")
	fmt.Println("| benchmark | time/op | B/op | allocs/op |\n|---|---|---|---|")
	row("sign (RSA-2048, PKCS#1 v1.5, SHA-256)", "Sign")
	row("verify an answer", "Verify")
	row("build an Authorization header", "Authorization")
	row("**floor: sign + verify**", "Floor")

	fmt.Println("\n### One call, warm connection, loopback TLS")
	fmt.Println("| benchmark | time/op | B/op | allocs/op |\n|---|---|---|---|")
	row("round trip only (no signing, no verifying)", "RoundTrip")
	row("**pkg/wxpay call**", "Call")
	row("wechatpay-go v0.2.20 call", "OfficialSDKCall")
	row("seed sample: `&http.Client{}` per call", "SeedSampleCall")
	row("seed sample with a fresh transport per call", "SeedSampleCallFreshTransport")
	row("pkg/wxpay call to the full wxpaytest stand-in", "CallStandIn")

	fmt.Println("\n### One warm invocation of each handler (event in, response out)")
	fmt.Println("| handler | time/op | B/op | allocs/op |\n|---|---|---|---|")
	for _, h := range []string{"pretoken", "partnertoken", "permissiontoken", "authorities"} {
		row(h, "Handler/"+h)
	}
	row("cardevents: a warm notification (verify, decrypt, PutItem, PutEvents, UpdateItem on a local endpoint)", "Notification")

	fmt.Println("\n### Compiled bootstraps")
	fmt.Println("| function | cold start to first poll (median) | stripped binary | peak RSS after 1,000 warm invocations | RSS growth after the first 100 | warm invocation via Runtime API |\n|---|---|---|---|---|---|")
	maxCold, maxSize := 0.0, 0.0
	for _, f := range []string{"pretoken", "partnertoken", "permissiontoken", "authorities"} {
		cold, size := get("ColdStart/"+f, "ms-median-to-first-poll"), get("ColdStart/"+f, "MB-binary")
		maxCold, maxSize = max(maxCold, cold), max(maxSize, size)
		fmt.Printf("| %s | %.2f ms | %.2f MB | %.1f MB | %.2f MB | %.2f ms |\n", f, cold, size,
			get("WarmInvocation/"+f, "MB-peak-rss"), get("WarmInvocation/"+f, "MB-rss-growth-after-100"), ms("WarmInvocation/"+f))
	}
	heap := get("LiveHeapGrowth", "B-live-heap-growth-per-1k-calls")

	// The ratios come from the interleaved benchmark: every iteration makes
	// one call of each kind, so machine drift hits them all alike.
	il := func(unit string) float64 { return get("Interleaved", unit) }
	spread := func(unit string) string {
		vs := append([]float64(nil), samples["Interleaved"][unit]...)
		sort.Float64s(vs)
		if len(vs) == 0 {
			return "no samples"
		}
		return fmt.Sprintf("%.3f–%.3f over %d runs", vs[0], vs[len(vs)-1], len(vs))
	}
	overhead, vsSDK := il("ratio-wxpay/(floor+roundtrip)"), il("ratio-wxpay/sdk")
	fmt.Println("\n### Interleaved: one of each call per iteration, rotating order (means, medians of runs)")
	fmt.Printf("floor %.3f ms · round trip %.3f ms · pkg/wxpay %.3f ms · wechatpay-go %.3f ms · seed sample %.3f ms\n",
		il("ns-floor")/1e6, il("ns-roundtrip")/1e6, il("ns-wxpay")/1e6, il("ns-sdk")/1e6, il("ns-seed")/1e6)

	fmt.Println("\n### Targets (ratios from this run)")
	fmt.Println("| target | measured | |\n|---|---|---|")
	fmt.Printf("| pkg/wxpay call ≤ 1.15 × (floor + round trip) | **%.3f×** (%s) | %s |\n", overhead, spread("ratio-wxpay/(floor+roundtrip)"), verdict(overhead <= 1.15))
	// Both clients spend over 80 % of a call in the same RSA signature, whose
	// run-to-run variation is about ±1.5 %: inside that band they are at
	// parity, and this measurement cannot call either faster.
	sdkVerdict := "met"
	switch {
	case vsSDK > 1.015:
		sdkVerdict = "MISSED"
	case vsSDK > 0.985:
		sdkVerdict = "parity (within the ±1.5 % noise)"
	}
	fmt.Printf("| not slower than wechatpay-go | pkg/wxpay / SDK = **%.3f×** (%s) | %s |\n", vsSDK, spread("ratio-wxpay/sdk"), sdkVerdict)
	fmt.Printf("| (the seed sample, for reference) | seed / pkg/wxpay = %.3f×; with a fresh transport per call %.3f× | |\n", il("ratio-seed/wxpay"), ms("SeedSampleCallFreshTransport")/ms("Call"))
	fmt.Printf("| cold start to first poll < 25 ms | slowest median %.2f ms | %s |\n", maxCold, verdict(maxCold < 25))
	fmt.Printf("| stripped binary < 10 MB (linux/%s here) | largest %.2f MB | %s |\n", goarch(), maxSize, verdict(maxSize < 10))
	fmt.Printf("| no per-call allocations that grow with calls | live heap %+.0f B per 1,000 calls after GC | %s |\n", heap, verdict(heap < 64<<10))

	coldRequestTable(samples["ColdRequest"])
	baselineTable(samples)
	signInTable(samples)
	mo := samples["MetricsOverhead"]
	fmt.Printf("\n### Metrics on and off (pretoken, warm, interleaved)\nwithout %.3f ms · with %.3f ms · ratio %.3f× (median of %d runs; the signature alone varies ±1.5 %%)\n",
		median(mo["ns-without-metrics"])/1e6, median(mo["ns-with-metrics"])/1e6, median(mo["ratio-with/without"]), len(mo["ratio-with/without"]))

	memoryTable(ms("Handler/pretoken"), maxCold)
	membersTable(samples)
}

// membersTable is 1,000 openings drained by two paced members invocations
// (MEMBER_CALLS_PER_SECOND 4 over 2), WeChat Pay's limit off and on.
func membersTable(samples map[string]map[string][]float64) {
	fmt.Println("\n### Members: 1,000 openings through the paced member queue (pace 4/s, 2 invocations)")
	fmt.Println("| WeChat Pay's limit | members/s | / pace (≥ 0.95) | drain / (1.1 × N / pace) (≤ 1) | CPU per confirmation | lost | duplicate confirmations | 429s | failed | |\n|---|---|---|---|---|---|---|---|---|---|")
	for _, c := range []string{"unlimited", "at-limit"} {
		s := samples["MemberJoins/"+c]
		get := func(unit string) float64 { return median(s[unit]) }
		ok := get("pace-ratio") >= 0.95 && get("drain/bound") <= 1 && get("lost") == 0 && get("dup-confirms") == 0 && get("failed") == 0
		fmt.Printf("| %s | %.3f | %.3f | %.3f | %.2f ms | %.0f | %.0f | %.0f | %.0f | %s |\n", c, get("members/s"), get("pace-ratio"),
			get("drain/bound"), get("cpu-ms/confirm"), get("lost"), get("dup-confirms"), get("429s"), get("failed"), verdict(ok))
	}
	fmt.Println("\n### Member updates: 1,000 points changes synced through the paced member queue (pace 4/s, 2 invocations)")
	fmt.Println("| WeChat Pay's limit | updates/s | / pace (≥ 0.95) | drain / (1.1 × N / pace) (≤ 1) | CPU per update | lost | applied twice | 429s | failed | |\n|---|---|---|---|---|---|---|---|---|---|")
	for _, c := range []string{"unlimited", "at-limit"} {
		s := samples["MemberUpdates/"+c]
		get := func(unit string) float64 { return median(s[unit]) }
		ok := get("pace-ratio") >= 0.95 && get("drain/bound") <= 1 && get("lost") == 0 && get("dup-applies") == 0 && get("failed") == 0
		fmt.Printf("| %s | %.3f | %.3f | %.3f | %.2f ms | %.0f | %.0f | %.0f | %.0f | %s |\n", c, get("updates/s"), get("pace-ratio"),
			get("drain/bound"), get("cpu-ms/update"), get("lost"), get("dup-applies"), get("429s"), get("failed"), verdict(ok))
	}
}

// coldRequestTable is the cold request with WeChat Pay 30 ms away and a
// Secrets Manager answering after 20 ms, with and without the connection
// opened during init.
func coldRequestTable(s map[string][]float64) {
	get := func(unit string) float64 { return median(s[unit]) }
	fmt.Println("\n### The cold request: process start to the first answer (partnertoken; WeChat Pay 30 ms away, Secrets Manager 20 ms)")
	fmt.Println("| | init (to first poll) | cold request | warm invocation |\n|---|---|---|---|")
	for _, m := range []string{"sequential", "preconnect", "baseline"} {
		if len(s["ms-init-"+m]) == 0 {
			continue
		}
		fmt.Printf("| %s | %.1f ms | %.1f ms | %.2f ms |\n", m, get("ms-init-"+m), get("ms-cold-"+m), get("ms-warm-"+m))
	}
	if r := s["init-ratio-to-baseline"]; len(r) > 0 {
		fmt.Printf("\ninit with the pre-opened connection / the baseline revision's: **%.3f×** (runs: %s; target ≤ %.3f×, i.e. ≤ 0.90× the reference function's: %s)\n", median(r), list(r), baselineTarget, verdict(median(r) <= baselineTarget))
	}
	ratio := get("cold-ratio")
	// Issue 14 asked for 0.85x; issue 25 for 0.80x, kept while init came
	// back down (baselineTable).
	fmt.Printf("\ncold request with the pre-opened connection / sequential: **%.3f×** (target ≤ 0.80×: %s; %d runs of 9)\n", ratio, verdict(ratio <= 0.80), len(s["cold-ratio"]))
}

// baselineTarget is the most init may be of the baseline revision's:
// issue 25 measured 82bee52's init at 0.84x the reference function's and
// asks for at most 0.90x the reference's.
const baselineTarget = 0.90 / 0.84

// baselineTable is the token functions' cold start to first poll next to
// the same functions built from the baseline revision (82bee52 unless
// WXCARD_BENCH_BASELINE names another), started alternately in one run,
// against baselineTarget.
func baselineTable(samples map[string]map[string][]float64) {
	fmt.Println("\n### Cold start against the baseline revision (to first poll, Secrets Manager on loopback answering at once; alternating starts)")
	fmt.Println("| function | this tree | baseline | ratio (median of runs) | runs | |\n|---|---|---|---|---|---|")
	for _, fn := range []string{"pretoken", "partnertoken"} {
		s := samples["ColdStartBaseline/"+fn]
		if len(s["ratio-current/baseline"]) == 0 {
			fmt.Printf("| %s | not measured (see the benchmark's skip) | | | | |\n", fn)
			continue
		}
		r := s["ratio-current/baseline"]
		lo, hi := r[0], r[0]
		for _, v := range r {
			lo, hi = min(lo, v), max(hi, v)
		}
		fmt.Printf("| %s | %.2f ms | %.2f ms | **%.3f×** (%.3f–%.3f) | %d | target ≤ %.3f×: %s |\n", fn, median(s["ms-current"]), median(s["ms-baseline"]), median(r), lo, hi, len(r), baselineTarget, verdict(median(r) <= baselineTarget))
	}
}

func list(vs []float64) string {
	out := make([]string, len(vs))
	for i, v := range vs {
		out[i] = fmt.Sprintf("%.3f", v)
	}
	return strings.Join(out, ", ")
}

// signInTable is the sign-in functions' cold starts next to pretoken's,
// started in rotating order, with Secrets Manager and KMS's GetPublicKey
// answering at once on loopback or after 20 ms each. The target (issue 26)
// is session within 1.1x of pretoken, on loopback.
func signInTable(samples map[string]map[string][]float64) {
	fmt.Println("\n### Sign-in cold start to first poll (pretoken, session, sessionkeys interleaved; medians)")
	fmt.Println("| AWS endpoints | pretoken | session | sessionkeys | session / pretoken | sessionkeys / pretoken |\n|---|---|---|---|---|---|")
	ratio := func(vs []float64) string {
		s := append([]float64(nil), vs...)
		sort.Float64s(s)
		if len(s) == 0 {
			return "no samples"
		}
		return fmt.Sprintf("**%.3f×** (%.3f–%.3f over %d runs)", median(s), s[0], s[len(s)-1], len(s))
	}
	for _, c := range []struct{ name, label string }{{"loopback", "on loopback"}, {"20ms", "20 ms away"}} {
		m := samples["ColdStartSignIn/"+c.name]
		fmt.Printf("| %s | %.2f ms | %.2f ms | %.2f ms | %s | %s |\n", c.label, median(m["ms-pretoken"]), median(m["ms-session"]), median(m["ms-sessionkeys"]),
			ratio(m["ratio-session/pretoken"]), ratio(m["ratio-sessionkeys/pretoken"]))
	}
	r := median(samples["ColdStartSignIn/loopback"]["ratio-session/pretoken"])
	fmt.Printf("\nsession's cold start / pretoken's, on loopback: **%.3f×** (target ≤ 1.1×: %s)\n", r, verdict(r <= 1.1))
}

// memoryTable turns the measured CPU time of a warm invocation and of a
// cold start into Lambda latency and cost by memory size. Lambda gives a
// function one full vCPU at 1,769 MB and a proportional share below; the
// wait for WeChat Pay does not scale. Prices: arm64, us-east-1.
func memoryTable(warmCPU, coldCPU float64) {
	const wait = 30.0             // ms waiting for WeChat Pay, assumed
	const gbSecond = 0.0000133334 // USD per GB-s, arm64
	const perRequest = 0.20 / 1e6 // USD per request
	fmt.Printf("\n### Choosing the memory size (from the measured %.2f ms of CPU per warm invocation, %.2f ms per cold start)\n", warmCPU, coldCPU)
	fmt.Println("| memory | CPU share | CPU time per call | latency per call (+30 ms WeChat Pay) | cold start CPU | cost per million calls |\n|---|---|---|---|---|---|")
	for _, mb := range []float64{128, 256, 512, 1024, 1769} {
		share := min(mb/1769, 1)
		cpu := warmCPU / share
		latency := cpu + wait
		billedMs := float64(int(latency + 0.999))
		cost := billedMs/1000*mb/1024*gbSecond*1e6 + perRequest*1e6
		fmt.Printf("| %.0f MB | %.0f%% | %.1f ms | %.1f ms | %.1f ms | $%.2f |\n", mb, share*100, cpu, latency, coldCPU/share, cost)
	}
}

func goarch() string {
	out, err := exec.Command("go", "env", "GOARCH").Output()
	if err != nil {
		return "?"
	}
	return strings.TrimSpace(string(out))
}
