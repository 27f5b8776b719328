-- wrk script: POST the AdmissionReview in $BODY_FILE to /validate over wrk's keep-alive
-- connections (the same bytes to the webhook and to nginx), and print the figures bench/run.sh
-- parses as one line of key=value pairs. Latencies are in microseconds.
local path = os.getenv("BODY_FILE")
local file = assert(io.open(path, "rb"), "cannot open BODY_FILE " .. tostring(path))
local body = file:read("*a")
file:close()

wrk.method = "POST"
-- WRK_PATH: another path, e.g. one the webhook answers without parsing the body.
local path_override = os.getenv("WRK_PATH")
wrk.path = (path_override ~= nil and path_override ~= "") and path_override or "/validate?timeout=10s"
wrk.body = body
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Accept"] = "application/json"

function done(summary, latency, requests)
  local seconds = summary.duration / 1e6
  local e = summary.errors
  io.write(string.format(
    "RESULT requests=%d duration_s=%.2f rps=%.1f p50_us=%d p90_us=%d p99_us=%d p999_us=%d " ..
    "max_us=%d mean_us=%.1f connect_errors=%d read_errors=%d write_errors=%d " ..
    "timeouts=%d non_2xx=%d bytes=%d\n",
    summary.requests, seconds, summary.requests / seconds,
    latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency:percentile(99.9), latency.max, latency.mean,
    e.connect, e.read, e.write, e.timeout, e.status, summary.bytes))
end
