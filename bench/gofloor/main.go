// The Go floor of bench/run.sh (issue 18): a minimal validating admission webhook written the
// way the Go policy engines are (Gatekeeper, Kyverno): the standard library's crypto/tls and
// net/http, encoding/json into map[string]interface{}, and regexp. Measured in the same
// interleaved wrk rounds as stratum-guard and nginx, it shows what a webhook doing the same
// checks costs in Go, with none of an engine's own overhead (no Rego, no CEL, no policy
// objects): a floor under those engines, not a port of stratum-guard.
//
// Checks, on the same fields the default policy reads (policy/default_policy.yaml): every
// container, init container and ephemeral container of a Pod, of a workload's
// spec.template or of a CronJob's spec.jobTemplate.spec.template; its image, command, args and
// env values:
//   - stratum-url: the rule's own regular expression, on command, args and env values;
//   - miner-image: the image's repository path as words, matched against the rule's word list
//     (word, prefix*, *suffix, a+b) with its "unless" words, and its exact repository names;
//   - miner-binary: the base name of every word of command and args against the rule's list;
//   - pool-domain: the rule's domains (and any name under them), looked up for every host-like
//     word of a value;
//   - miner-flag and wallet-address: the flags without values, the four wallet formats'
//     candidate expressions; a single one warns, two different flags or a flag with a wallet
//     deny, as the rules' `combine` does.
//
// Left out: pool-port, pool-host, download-exec, dropper, mining-image-word, the flags that
// count only with a mining value (--coin, --algo...), the wallets' checksum-free shape checks,
// exemptions, and the per-finding messages. Those are all supporting evidence that neither
// benchmark review (typical, large) triggers, so leaving them out only makes the floor cheaper:
// a ratio against it understates stratum-guard's lead. stratum-guard also logs every
// admission at info; this floor logs only denials, as Gatekeeper does by default.
//
// Usage: gofloor --cert CERT --key KEY [--listen 127.0.0.1:0]. It prints "listening
// HOST:PORT" on stdout once it accepts connections, answers POST /validate, GET /healthz,
// and exits on SIGTERM (Go's default).
package main

import (
	"crypto/tls"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"mime"
	"net"
	"net/http"
	"os"
	"path"
	"regexp"
	"strings"
	"time"
)

// The API server sends bodies up to 3 MiB; stratum-guard's default limit is the same order.
const maxBody = 4 << 20

var stratumURL = regexp.MustCompile(`(?i)\bstratum[0-9]?(?:\+(?:tcp|ssl|tls|udp|ws|wss|tor))*://[^\s'"]+`)

// Matched against whole alphanumeric words of 26 characters or more (wallet candidates), not
// scanned over every value: Go's regexp runs an NFA where no literal prefix anchors the search,
// and a scan of the large review's values took over half a second; what a Go engineer
// writes once a profile shows it, so the floor stays a floor.
var wallet = regexp.MustCompile(`^(?:[48][0-9AB][1-9A-HJ-NP-Za-km-z]{93}(?:[1-9A-HJ-NP-Za-km-z]{11})?` +
	`|dero1q[02-9ac-hj-np-z]{58,62}|dERo[1-9A-HJ-NP-Za-km-z]{94}` +
	`|[13][1-9A-HJ-NP-Za-km-z]{25,34}|bc1[02-9ac-hj-np-z]{25,87}|0x[0-9a-fA-F]{40})$`)

var poolDomains = []string{
	"ethpool.org", "ethermine.org", "minexmr.com", "slushpool.com", "dwarfpool.com",
	"nanopool.org", "moneropool.com", "xmrpool.net", "hashvault.pro", "supportxmr.com",
	"crypto-pool.fr", "minergate.com", "unmineable.com", "antpool.com", "2miners.com",
	"c3pool.com", "c3pool.org", "c4pool.org", "moneroocean.stream", "monerohash.com",
	"herominers.com", "p2pool.io", "kryptex.com", "kryptex.network", "zergpool.com",
	"prohashing.com", "zeropool.io", "solopool.org", "trustpool.cc", "fastpool.xyz",
	"rplant.xyz", "nicehash.com", "f2pool.com", "viabtc.top", "flexpool.io", "hiveon.net",
	"woolypooly.com", "miningpoolhub.com", "sparkpool.com", "xmrpool.eu", "xmrpool.de",
	"xmrfast.com", "minemonero.pro", "pool.xmr.pt", "ezil.me", "k1pool.com", "bsod.pw",
	"zpool.ca", "ahashpool.com", "blazepool.com", "mining-dutch.nl", "mining.bitcoin.cz",
	"poolin.com", "emcd.io", "poolbinance.com", "ss.btc.com", "stratum.braiins.com",
	"gulf.moneroocean.stream", "donate.v2.xmrig.com", "donate.ssl.xmrig.com",
	"xmr.pool.gntl.co.uk", "pool.hashvault.pro", "cryptonote.social", "coinminerz.com",
	"xmrvsbeast.com", "monerop.com", "skypool.org", "hashcity.org", "coinotron.com",
	"coinmine.pl", "suprnova.cc", "ckpool.org", "kano.is", "litecoinpool.org",
	"pool.bitcoin.com", "viabtc.com", "foundryusapool.com", "mine.luxor.tech", "dxpool.com",
	"crazypool.org", "mining4people.com", "aikapool.com", "baikalmine.com", "acc-pool.pw",
	"gntl.uk", "bohemianpool.com", "minerpool.pub", "pool.binance.com",
	"community-pools.mysrv.cloud", "xmrpool.me", "moneropool.org", "unminable.com",
	"pool.kryptex.com", "nanopool.com", "ethermine.com", "miningrigrentals.com",
}

// The pool domains as a set, looked up for every host-like word and each of its parent domains:
// the rule's "the domain or any name under it", as a map lookup rather than a 100-way
// alternation, which Go's regexp scans slowly for the same reason as the wallets.
var poolDomainSet = set(poolDomains...)

// anyWord reports whether found holds for a word of s, words being the runs of bytes that
// inWord accepts. strings.FieldsFunc would allocate a slice per value: a quarter of the
// handler's time in a profile, for nothing.
func anyWord(s string, inWord func(c byte) bool, found func(word string) bool) bool {
	start := -1
	for i := 0; i <= len(s); i++ {
		if i < len(s) && inWord(s[i]) {
			if start < 0 {
				start = i
			}
			continue
		}
		if start >= 0 && found(s[start:i]) {
			return true
		}
		start = -1
	}
	return false
}

func alnum(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' }

func hostByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '.' || c == '-'
}

// shellWordByte: not a blank, a shell separator or a quote.
func shellWordByte(c byte) bool { return !strings.ContainsRune(" \t\n;|&()\"'`", rune(c)) }

func poolDomain(lower string) bool {
	return anyWord(lower, hostByte, func(host string) bool {
		for strings.Contains(host, ".") {
			if poolDomainSet[host] {
				return true
			}
			_, host, _ = strings.Cut(host, ".")
		}
		return false
	})
}

func hasWallet(s string) bool {
	return anyWord(s, alnum, func(word string) bool { return len(word) >= 26 && wallet.MatchString(word) })
}

var minerImageWords = []string{
	"xmrig*", "*xmrig", "xmr-stak*", "xmr-node-proxy", "cpuminer*", "*cpuminer", "minerd",
	"minergate*", "cgminer", "bfgminer", "sgminer", "ccminer*", "ethminer*", "lolminer*",
	"nbminer*", "gminer", "bminer", "teamredminer*", "srbminer*", "nanominer*", "phoenixminer*",
	"bzminer*", "wildrig*", "trex-miner", "cryptominer*", "coinminer*", "moneroocean",
	"miner+monero", "miner+xmr", "miner+crypto", "miner+coin", "miner+bitcoin", "miner+btc",
	"miner+eth", "miner+ethereum", "miner+dero", "miner+rvn", "miner+ravencoin", "miner+kaspa",
	"miner+gpu", "mining+monero", "mining+xmr", "mining+crypto",
}

var imageUnless = set("exporter", "dashboard", "detector", "scanner", "killer", "blocker")

var minerImages = []string{"claymore", "t-rex", "rigel", "gakeaws/*", "pocosow/*",
	"docker123321/*", "vibersastra/*", "abafaeeee/*", "alpineos/*", "arayan/monero-miner",
	"timonmat/xmr-stak-cpu", "ddsfdfsaadfs/*"}

var minerBinaries = set("xmrig", "xmrig-notls", "xmrig-proxy", "xmr-stak", "xmr-stak-cpu",
	"xmr-stak-rx", "minerd", "minergate", "minergate-cli", "cpuminer", "cpuminer-opt",
	"cpuminer-multi", "cpuminer-sse2", "cpuminer-avx2", "ccminer", "ethminer", "cgminer",
	"bfgminer", "sgminer", "claymore", "ethdcrminer64", "nbminer", "t-rex", "gminer", "miner.exe",
	"lolminer", "phoenixminer", "teamredminer", "nanominer", "bminer", "wildrig", "wildrig-multi",
	"srbminer", "srbminer-multi", "xmr-miner", "bzminer", "hellminer", "nheqminer", "astrominer",
	"dero-miner-linux-amd64", "dero-stratum-miner", "setup_moneroocean_miner.sh",
	"setup_c3pool_miner.sh", "kdevtmpfsi", "kinsing", "kthreaddi", "kthreaddk", "kworkerds",
	"kswapd0", "dbused", "xmrigDaemon", "xmrigMiner", "watchbog")

var minerFlags = set("--donate-level", "--donate-over-proxy", "--randomx-1gb-pages",
	"--randomx-mode", "--randomx-no-numa", "--randomx-init", "--randomx-wrmsr",
	"--randomx-no-rdmsr", "--cpu-priority", "--cpu-max-threads-hint", "--cpu-affinity",
	"--max-cpu-usage", "--nicehash", "--rig-id", "--coin-algo", "--cuda-devices",
	"--opencl-platform", "--farm-recheck", "--stratum-protocol", "--cpu-no-yield",
	"--huge-pages-jit", "--randomx-cache-qos", "--coinbase-addr", "--no-getwork", "--no-gbt",
	"--wallet-address", "--daemon-rpc-address", "--mining-threads", "--give-up-limit",
	"--cpu-threads-intensity", "--randomx-use-1gb-pages", "--disable-huge-pages", "--gpu-boost",
	"--gpu-intensity", "--disable-gpu-watchdog", "--dualmode", "--dualpool", "--dualuser",
	"--ethstratum", "--lhrtune", "--pool_password", "--oc_core_clock_offset",
	"--oc_mem_clock_offset", "--secondary-url", "--secondary-user", "--enable-dag-cache",
	"--fidelity-timeframe", "--lhr-tune", "--lhr-autotune-mode", "--dag-build-mode",
	"--extra-dag-epoch", "--keep-gpu-busy", "--gpu-report-interval", "--dual-algo", "--url2",
	"--user2", "--dual_algo", "--dserver", "--duser", "--electricity_cost", "--dag_mode",
	"--lhr_unlock", "-pool1", "-rigName", "-rigPassword")

func set(items ...string) map[string]bool {
	m := make(map[string]bool, len(items))
	for _, s := range items {
		m[s] = true
	}
	return m
}

// repository is the image's path without registry, tag or digest, lower case.
func repository(image string) string {
	image = strings.ToLower(image)
	if i := strings.IndexByte(image, '@'); i >= 0 {
		image = image[:i]
	}
	if i := strings.LastIndexByte(image, ':'); i > strings.LastIndexByte(image, '/') {
		image = image[:i]
	}
	if i := strings.IndexByte(image, '/'); i >= 0 {
		first := image[:i]
		if strings.ContainsAny(first, ".:") || first == "localhost" {
			image = image[i+1:]
		}
	}
	return strings.TrimPrefix(image, "library/")
}

func wordMatches(pattern string, words []string) bool {
	if a, b, ok := strings.Cut(pattern, "+"); ok {
		return wordMatches(a, words) && wordMatches(b, words)
	}
	for _, w := range words {
		switch {
		case strings.HasSuffix(pattern, "*") && strings.HasPrefix(w, pattern[:len(pattern)-1]):
			return true
		case strings.HasPrefix(pattern, "*") && strings.HasSuffix(w, pattern[1:]):
			return true
		case w == pattern:
			return true
		}
	}
	return false
}

func minerImage(image string) bool {
	repo := repository(image)
	name := path.Base(repo)
	for _, m := range minerImages {
		if m == repo || m == name || (strings.HasSuffix(m, "/*") && strings.HasPrefix(repo, m[:len(m)-1])) {
			return true
		}
	}
	// Words are split at / - _ and .; the patterns with a dash (xmr-stak) are matched against
	// the path split at / _ and . only, so that they stay one word.
	split := func(seps string) []string {
		return strings.FieldsFunc(repo, func(r rune) bool { return strings.ContainsRune(seps, r) })
	}
	words, dashed := split("/-_."), split("/_.")
	for _, w := range words {
		if imageUnless[w] {
			return false
		}
	}
	for _, p := range minerImageWords {
		if strings.Contains(p, "-") {
			if wordMatches(p, dashed) {
				return true
			}
		} else if wordMatches(p, words) {
			return true
		}
	}
	return false
}

// findings of one container; deny is set by strong evidence or by two supporting signals.
type findings struct {
	deny    []string
	flags   map[string]bool
	wallets int
}

func stringList(v interface{}) []string {
	list, _ := v.([]interface{})
	out := make([]string, 0, len(list))
	for _, item := range list {
		if s, ok := item.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

func checkContainer(c map[string]interface{}) (deny []string, warn []string) {
	f := findings{flags: map[string]bool{}}
	name, _ := c["name"].(string)
	if image, ok := c["image"].(string); ok && minerImage(image) {
		f.deny = append(f.deny, "known miner image "+image)
	}
	values := func(s string, commandLine bool) {
		lower := strings.ToLower(s)
		// The literal first, as RE2 and Go's own regexp do for a literal prefix, which the
		// rule's (?i)\b start hides from Go's regexp.
		if strings.Contains(lower, "stratum") && stratumURL.MatchString(s) {
			f.deny = append(f.deny, "Stratum pool URL")
		}
		if poolDomain(lower) {
			f.deny = append(f.deny, "mining pool address")
		}
		if hasWallet(s) {
			f.wallets++
		}
		if !commandLine {
			return
		}
		anyWord(s, shellWordByte, func(word string) bool {
			if minerBinaries[path.Base(word)] {
				f.deny = append(f.deny, "known miner program "+path.Base(word))
			}
			flagName, _, _ := strings.Cut(word, "=")
			if minerFlags[flagName] {
				f.flags[flagName] = true
			}
			return false
		})
	}
	for _, s := range stringList(c["command"]) {
		values(s, true)
	}
	for _, s := range stringList(c["args"]) {
		values(s, true)
	}
	env, _ := c["env"].([]interface{})
	for _, e := range env {
		if m, ok := e.(map[string]interface{}); ok {
			if s, ok := m["value"].(string); ok {
				values(s, false)
			}
		}
	}
	if len(f.flags) >= 2 || (len(f.flags) >= 1 && f.wallets > 0) {
		f.deny = append(f.deny, "miner option with another miner signal")
	} else if len(f.flags) == 1 {
		warn = append(warn, "container "+name+": miner option")
	} else if f.wallets > 0 {
		warn = append(warn, "container "+name+": wallet address")
	}
	for _, d := range f.deny {
		deny = append(deny, "container "+name+": "+d)
	}
	return deny, warn
}

// podSpec finds the pod template of a Pod, a workload (spec.template) or a CronJob.
func podSpec(object map[string]interface{}) map[string]interface{} {
	spec, _ := object["spec"].(map[string]interface{})
	if kind, _ := object["kind"].(string); kind == "Pod" || spec == nil {
		return spec
	}
	if jt, ok := spec["jobTemplate"].(map[string]interface{}); ok {
		spec, _ = jt["spec"].(map[string]interface{})
	}
	if t, ok := spec["template"].(map[string]interface{}); ok {
		s, _ := t["spec"].(map[string]interface{})
		return s
	}
	return nil
}

func judge(object map[string]interface{}) (deny, warn []string) {
	spec := podSpec(object)
	for _, field := range []string{"initContainers", "containers", "ephemeralContainers"} {
		list, _ := spec[field].([]interface{})
		for _, item := range list {
			if c, ok := item.(map[string]interface{}); ok {
				d, w := checkContainer(c)
				deny, warn = append(deny, d...), append(warn, w...)
			}
		}
	}
	return deny, warn
}

func fail(w http.ResponseWriter, code int, message string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(map[string]interface{}{"error": message})
}

func validate(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		fail(w, http.StatusMethodNotAllowed, "POST an AdmissionReview")
		return
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		fail(w, http.StatusUnsupportedMediaType, "Content-Type must be application/json")
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		fail(w, http.StatusRequestEntityTooLarge, "body unreadable or over 4 MiB")
		return
	}
	var review map[string]interface{}
	if err := json.Unmarshal(body, &review); err != nil {
		fail(w, http.StatusBadRequest, "body is not JSON: "+err.Error())
		return
	}
	apiVersion, _ := review["apiVersion"].(string)
	request, _ := review["request"].(map[string]interface{})
	if apiVersion != "admission.k8s.io/v1" && apiVersion != "admission.k8s.io/v1beta1" {
		fail(w, http.StatusBadRequest, "apiVersion must be admission.k8s.io/v1 or v1beta1")
		return
	}
	if request == nil {
		fail(w, http.StatusBadRequest, "no request")
		return
	}
	uid, _ := request["uid"].(string)
	object, _ := request["object"].(map[string]interface{})
	response := map[string]interface{}{"uid": uid, "allowed": true}
	if object != nil {
		deny, warn := judge(object)
		if len(deny) > 0 {
			response["allowed"] = false
			response["status"] = map[string]interface{}{"status": "Failure", "code": 403,
				"reason": "Forbidden", "message": "denied: " + strings.Join(deny, "; ")}
			log.Printf("denied uid=%s: %s", uid, strings.Join(deny, "; "))
		}
		if len(warn) > 0 {
			response["warnings"] = warn
		}
	}
	out, err := json.Marshal(map[string]interface{}{"apiVersion": apiVersion,
		"kind": "AdmissionReview", "response": response})
	if err != nil {
		fail(w, http.StatusInternalServerError, err.Error())
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write(out)
}

func main() {
	listen := flag.String("listen", "127.0.0.1:0", "address to listen on")
	certFile := flag.String("cert", "", "PEM certificate")
	keyFile := flag.String("key", "", "PEM private key")
	flag.Parse()
	cert, err := tls.LoadX509KeyPair(*certFile, *keyFile)
	if err != nil {
		log.Fatalf("certificate: %v", err)
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		log.Fatalf("listen: %v", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/validate", validate)
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })
	server := &http.Server{
		Handler:           mux,
		TLSConfig:         &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12},
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
	}
	fmt.Fprintf(os.Stdout, "listening %s\n", ln.Addr())
	log.Fatal(server.ServeTLS(ln, "", ""))
}
