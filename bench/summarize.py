#!/usr/bin/python3
"""Turns one bench/run.sh result directory into summary.md: the figures of every section and
each target of issues 6 and 18 with the measured figure beside it, met or missed.

Usage: bench/summarize.py RESULT_DIR > RESULT_DIR/summary.md
Reads machine.txt, results.txt (key=value lines written by run.sh) and admission_bench.json
(Google Benchmark, median aggregates). Sections that did not run are left out.
"""

import json
import os
import statistics
import sys


def parse_results(path):
    rows = []
    if not os.path.exists(path):
        return rows
    with open(path) as f:
        for line in f:
            parts = line.split()
            if not parts:
                continue
            row = {"_type": parts[0]}
            for p in parts[1:]:
                if "=" in p:
                    k, v = p.split("=", 1)
                    row.setdefault(k, v)  # first wins: GNU time's elapsed_s, not the script's
            rows.append(row)
    return rows


def medians(path):
    """{benchmark name: (real_time_ns, cpu_time_ns)} from median aggregates (or single runs)."""
    out = {}
    if not os.path.exists(path):
        return out
    with open(path) as f:
        data = json.load(f)
    for b in data.get("benchmarks", []):
        if b.get("run_type") == "aggregate" and b.get("aggregate_name") != "median":
            continue
        name = b.get("run_name", b["name"])
        scale = {"ns": 1, "us": 1e3, "ms": 1e6, "s": 1e9}[b.get("time_unit", "ns")]
        out[name] = (b["real_time"] * scale, b["cpu_time"] * scale)
    return out


def in_order(values):
    """The distinct values, in the order they first appear."""
    return list(dict.fromkeys(values))


def us(ns):
    return "%.2f µs" % (ns / 1e3) if ns < 1e6 else "%.2f ms" % (ns / 1e6)


def verdict(ok):
    return "**met**" if ok else "**missed**"


def ratio_of(a, b):
    return a / b if b else float("nan")


def cpu_per_request_us(row):
    """The server's CPU time over the round (from /proc, run.sh) divided by its requests."""
    return 1e6 * ratio_of(float(row.get("server_cpu_s", "nan")), int(row["requests"]))


def main():
    out_dir = sys.argv[1]
    rows = parse_results(os.path.join(out_dir, "results.txt"))
    bench = medians(os.path.join(out_dir, "admission_bench.json"))
    targets = []
    print("# Benchmark results (%s)\n" % os.path.basename(os.path.normpath(out_dir)))
    machine = os.path.join(out_dir, "machine.txt")
    if os.path.exists(machine):
        print("```\n" + open(machine).read().rstrip() + "\n```\n")

    if bench:
        print("## Micro-benchmarks (admission_bench, median of 5 repetitions, CPU time)\n")
        print("| review | bytes | Parse (floor) | Copy | CopyParseInPlace | CopyScanInPlace (SAX "
              "floor) | DecodeEvaluate | Judge | Evaluate | Handler | "
              "(DecodeEvaluate - Copy) / Parse |")
        print("|---|---|---|---|---|---|---|---|---|---|---|")
        reviews = ["typical", "deployment", "cronjob", "miner", "large"]
        sizes = {}
        with open(os.path.join(out_dir, "admission_bench.json")) as f:
            for b in json.load(f).get("benchmarks", []):
                if "body_bytes" in b and b.get("aggregate_name", "median") == "median":
                    sizes[b.get("run_name", b["name"]).split("/")[1]] = int(b["body_bytes"])
        ratios = {}
        for r in reviews:
            get = lambda stage: bench.get("%s/%s" % (stage, r), (float("nan"),) * 2)[1]
            parse, copy, de = get("Parse"), get("Copy"), get("DecodeEvaluate")
            ratios[r] = (de - copy) / parse
            print("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %.2f |" % (
                r, sizes.get(r, "?"), us(parse), us(copy), us(get("CopyParseInPlace")),
                us(get("CopyScanInPlace")), us(de), us(get("Judge")), us(get("Evaluate")),
                us(get("Handler")), ratios[r]))
        print()
        judge = bench.get("Judge/typical", (0, 0))[1]
        evaluate = bench.get("Evaluate/typical", (0, 0))[1]
        targets.append(("Evaluating a typical pod under 10 µs",
                        "Policy::Evaluate %s; Judge (extraction + evaluation + messages) %s"
                        % (us(evaluate), us(judge)), judge < 10e3))
        inspector = medians(os.path.join(out_dir, "inspector_bench.json"))
        if inspector:
            # items/s counts containers: the CPU time per iteration over the three containers.
            per_container = inspector.get("BM_InspectWorkloadHitPerContainer",
                                          (float("nan"),) * 2)[1] / 3
            lookup = inspector.get("BM_InspectHit", (float("nan"),) * 2)[1]
            targets.append(("Image inspection: a cache hit under 1 µs per container",
                            "%s per container of a 3-container pod (reference parsed, cache "
                            "looked up, config applied); the lookup alone %s"
                            % (us(per_container), us(lookup)), per_container < 1e3))
        worst = max(ratios.values())
        targets.append(("Decode plus evaluate within 2x of parsing alone",
                        ", ".join("%s %.2fx" % (r, ratios[r]) for r in reviews), worst <= 2.0))

    wrk = [r for r in rows if r["_type"] == "wrk"]
    if wrk:
        print("## HTTPS saturation (wrk)\n")
        print("| target | body | round | requests/s | p50 | p90 | p99 | p99.9 | max | errors | "
              "server CPU | server CPU per request |")
        print("|---|---|---|---|---|---|---|---|---|---|---|---|")
        for r in wrk:
            # webhook-transport's answers are all 405 by design: not errors.
            kinds = ("connect_errors", "read_errors", "write_errors", "timeouts") + (
                () if r["target"] == "webhook-transport" else ("non_2xx",))
            errors = sum(int(r.get(k, 0)) for k in kinds)
            cpu = float(r.get("server_cpu_s", "nan"))
            print("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %d | %.1f s | %s |" % (
                r["target"], r["body"], r["round"], r["rps"], us(1e3 * int(r["p50_us"])),
                us(1e3 * int(r["p90_us"])), us(1e3 * int(r["p99_us"])),
                us(1e3 * int(r["p999_us"])), us(1e3 * int(r["max_us"])), errors, cpu,
                us(1e3 * cpu_per_request_us(r))))
        print()
        bodies = in_order(r["body"] for r in wrk)
        for b in bodies:
            mean = lambda t: statistics.mean(
                float(r["rps"]) for r in wrk if r["target"] == t and r["body"] == b)
            ratio = mean("webhook") / mean("nginx")
            print("- %s: webhook %.0f requests/s, nginx %.0f requests/s (means of the rounds): "
                  "ratio **%.2f**" % (b, mean("webhook"), mean("nginx"), ratio))
            # Each round's webhook/nginx pair ran back to back: their ratios show the spread.
            rounds = sorted({r["round"] for r in wrk if r["body"] == b})
            per_round = []
            for n in rounds:
                rps = {r["target"]: float(r["rps"]) for r in wrk if r["body"] == b and r["round"] == n}
                if rps.get("webhook") and rps.get("nginx"):
                    per_round.append("%.2f" % (rps["webhook"] / rps["nginx"]))
            print("  - per round: %s" % ", ".join(per_round))
            if any(r["target"] == "webhook-transport" and r["body"] == b for r in wrk):
                print("  - webhook-transport (the same POST answered 405 without parsing): %.0f "
                      "requests/s, **%.2f** of nginx's: the TLS and HTTP stack alone"
                      % (mean("webhook-transport"), mean("webhook-transport") / mean("nginx")))
            if b == bodies[0]:
                targets.append(("Webhook requests/s at least 0.7 of nginx's (%s review)" % b,
                                "%.2f (%.0f vs %.0f requests/s)"
                                % (ratio, mean("webhook"), mean("nginx")), ratio >= 0.7))
            if any(r["target"] == "gofloor" and r["body"] == b for r in wrk):
                # Issue 18's figures: medians of the rounds, as the issue quotes them.
                median = lambda t, f: statistics.median(
                    f(r) for r in wrk if r["target"] == t and r["body"] == b)
                rps = lambda t: median(t, lambda r: float(r["rps"]))
                cpu = lambda t: median(t, cpu_per_request_us)
                cpu_vs_nginx = ratio_of(cpu("webhook"), cpu("nginx"))
                rps_vs_nginx = ratio_of(rps("webhook"), rps("nginx"))
                go_vs_webhook = ratio_of(cpu("gofloor"), cpu("webhook"))
                print("  - server CPU per request (medians of the rounds): webhook %.1f µs, "
                      "Go floor %.1f µs, nginx %.1f µs; webhook / nginx **%.2f**, "
                      "Go floor / webhook **%.2f**" % (cpu("webhook"), cpu("gofloor"),
                                                       cpu("nginx"), cpu_vs_nginx, go_vs_webhook))
                print("  - requests/s (medians of the rounds): webhook %.0f, Go floor %.0f, "
                      "nginx %.0f; webhook / nginx **%.2f**, Go floor / nginx %.2f" % (
                          rps("webhook"), rps("gofloor"), rps("nginx"), rps_vs_nginx,
                          ratio_of(rps("gofloor"), rps("nginx"))))
                if b == bodies[0]:
                    targets.append((
                        "Issue 18: server CPU per admission at most 1.5x nginx's per static "
                        "response (%s review)" % b, "%.2fx (%.1f vs %.1f µs)"
                        % (cpu_vs_nginx, cpu("webhook"), cpu("nginx")), cpu_vs_nginx <= 1.5))
                    targets.append((
                        "Issue 18: requests/s at least 0.8 of nginx's (%s review)" % b,
                        "%.2f (medians %.0f vs %.0f requests/s)"
                        % (rps_vs_nginx, rps("webhook"), rps("nginx")), rps_vs_nginx >= 0.8))
                    targets.append((
                        "Issue 18: at least 3x less CPU per admission than the Go floor "
                        "(%s review)" % b, "%.2fx (%.1f vs %.1f µs)"
                        % (go_vs_webhook, cpu("gofloor"), cpu("webhook")), go_vs_webhook >= 3))
        print()

    fixed = [r for r in rows if r["_type"] == "fixed_rate"]
    if fixed:
        print("## Latency at a fixed rate (bench-loadgen, open loop, half the webhook's "
              "saturation rate)\n")
        probes = [r for r in rows if r["_type"] == "probe"]
        if probes:
            print("Saturation probes before the rounds (wrk, the webhook): %s requests/s.\n" %
                  ", ".join("%.0f" % float(r["rps"]) for r in probes))
        print("| target | round | rate asked | achieved | p50 | p90 | p99 | p99.9 | max | "
              "service p50 | service p99 | client lag p99 | p99 less the lag | errors |")
        print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
        for r in fixed:
            print("| %s | %s | %s/s | %s/s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
                r["target"], r.get("round", "1"), r["target_rate"], r["achieved_rate"],
                us(1e3 * int(r["latency_p50_us"])), us(1e3 * int(r["latency_p90_us"])),
                us(1e3 * int(r["latency_p99_us"])), us(1e3 * int(r["latency_p999_us"])),
                us(1e3 * int(r["latency_max_us"])), us(1e3 * int(r["service_p50_us"])),
                us(1e3 * int(r["service_p99_us"])),
                us(1e3 * int(r["lag_p99_us"])) if "lag_p99_us" in r else "-",
                us(1e3 * int(r["server_p99_us"])) if "server_p99_us" in r else "-",
                int(r["errors"]) + int(r["non_200"])))
        print()
        web = [r for r in fixed if r["target"] == "webhook"]
        ngx = [r for r in fixed if r["target"] == "nginx"]
        if web:
            p99 = statistics.median(int(r["latency_p99_us"]) for r in web)
            rates = in_order(r["target_rate"] for r in web)
            if len(rates) == 1:
                figure = "%s at %s requests/s (median of %d runs: %s)" % (
                    us(1e3 * p99), rates[0], len(web),
                    ", ".join(us(1e3 * int(r["latency_p99_us"])) for r in web))
            else:  # the rate was measured again before each round
                figure = "%s (median of %d runs: %s)" % (
                    us(1e3 * p99), len(web),
                    ", ".join("%s at %s/s" % (us(1e3 * int(r["latency_p99_us"])), r["target_rate"])
                              for r in web))
            if ngx:
                figure += "; nginx %s at the same rates" % us(
                    1e3 * statistics.median(int(r["latency_p99_us"]) for r in ngx))
            if all("server_p99_us" in r for r in web):
                figure += "; less the client's own lag: %s (nginx %s)" % (
                    us(1e3 * statistics.median(int(r["server_p99_us"]) for r in web)),
                    us(1e3 * statistics.median(int(r["server_p99_us"]) for r in ngx))
                    if ngx and all("server_p99_us" in r for r in ngx) else "-")
            targets.append(("p99 under 2 ms at half the saturation rate", figure, p99 < 2000))
            if all("server_p99_us" in r for r in web):
                # Issue 18 asks for the server's side: the client's own lag subtracted.
                server_p99 = statistics.median(int(r["server_p99_us"]) for r in web)
                targets.append((
                    "Issue 18: p99 under 1 ms at half the saturation rate, server side (the "
                    "client's lag subtracted)", "%s (median of %d runs: %s)" % (
                        us(1e3 * server_p99), len(web),
                        ", ".join(us(1e3 * int(r["server_p99_us"])) for r in web)),
                    server_p99 < 1000))

    idle = [r for r in rows if r["_type"] == "idle_memory"]
    if idle:
        print("## Memory per idle keep-alive TLS connection\n")
        print("| target | connections | RSS before | RSS while held | per connection |")
        print("|---|---|---|---|---|")
        for r in idle:
            print("| %s | %s | %.1f MiB | %.1f MiB | %s KiB |" % (
                r["target"], r["connections"], int(r["rss_before_kib"]) / 1024,
                int(r["rss_held_kib"]) / 1024, r["per_connection_kib"]))
        print()
        per = {r["target"]: float(r["per_connection_kib"]) for r in idle}
        if "webhook" in per and "nginx" in per:
            ratio = ratio_of(per["webhook"], per["nginx"])
            targets.append(("Issue 18: an idle keep-alive TLS connection at most 2x nginx's "
                            "memory", "%.2fx (%.1f vs %.1f KiB per connection)"
                            % (ratio, per["webhook"], per["nginx"]), ratio <= 2))

    sweeps = [r for r in rows if r["_type"] == "sweep"]
    if sweeps:
        print("## Sweeper scale (fake API server, list and evaluate every pod)\n")
        for r in [r for r in rows if r["_type"] == "fake_apiserver"]:
            print("- fake API server: %s pods, %s miners (%s with `stratum+tcp`), %.0f MiB of "
                  "pod JSON, server RSS %.0f MiB" % (
                      r["pods"], r["miners"], r["stratum_tcp_miners"],
                      int(r["bytes"]) / 2**20, int(r["fake_rss_kib"]) / 1024))
        print()
        print("| implementation | pods | mode | exit | elapsed | max RSS | user CPU | sys CPU | "
              "API server CPU | found |")
        print("|---|---|---|---|---|---|---|---|---|---|")
        for r in sweeps:
            mode = ("round %s" % r["round"]) if r["impl"] == "stratum-guard" else (
                "one call" if r.get("limit") == "0" else "pages of %s" % r.get("limit"))
            print("| %s | %s | %s | %s | %s s | %.1f MiB | %s s | %s s | %s s | %s |" % (
                r["impl"], r["pods"], mode, r["exit"], r["elapsed_s"],
                int(r["max_rss_kib"]) / 1024, r["user_s"], r["sys_s"], r["apiserver_cpu_s"],
                r.get("matches", "see sweep-*.out")))
        print()
        sizes = in_order(r["pods"] for r in sweeps)
        for n in sizes:
            ours = [r for r in sweeps if r["impl"] == "stratum-guard" and r["pods"] == n]
            if not ours:
                continue
            elapsed = statistics.median(float(r["elapsed_s"]) for r in ours)
            rss = max(int(r["max_rss_kib"]) for r in ours) / 1024
            line = "- %s pods: stratum-guard median %.2f s, peak %.1f MiB" % (n, elapsed, rss)
            for py in [r for r in sweeps if r["impl"] == "python" and r["pods"] == n]:
                mode = "one call" if py.get("limit") == "0" else "pages of %s" % py["limit"]
                if py["exit"] != "0":
                    line += "; Python (%s) did not finish (exit %s)" % (mode, py["exit"])
                    continue
                line += "; Python (%s) %s s, %.0f MiB: **%.1fx** faster, %.1fx less memory" % (
                    mode, py["elapsed_s"], int(py["max_rss_kib"]) / 1024,
                    float(py["elapsed_s"]) / elapsed, int(py["max_rss_kib"]) / 1024 / rss)
            print(line)
            if n == "100000":
                targets.append(("Sweeper: 100,000 pods in under 10 s", "%.2f s (median)" % elapsed,
                                elapsed < 10))
                targets.append(("Sweeper: peak memory under 128 MiB", "%.1f MiB" % rss,
                                rss < 128))
        print()

    if targets:
        print("## Targets\n")
        print("| target | measured | |")
        print("|---|---|---|")
        for name, figure, ok in targets:
            print("| %s | %s | %s |" % (name, figure, verdict(ok)))


if __name__ == "__main__":
    main()
