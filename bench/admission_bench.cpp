// The webhook's request path without sockets, against the targets: evaluating a typical
// pod under 10 microseconds, and decode plus evaluate within 2x of RapidJSON parsing alone of
// the same bytes.
//
// Per review (typical, large, deployment, cronjob, miner) the stages are:
//   Parse            rapidjson::Document::Parse of the const body (default flags): the floor
//   CopyParseInPlace copy of the body + server::ParseJsonInPlace (what the server parses with)
//   CopyScanInPlace  copy + RapidJSON's SAX reader in situ with a handler that does nothing:
//                    the floor under any SAX extraction (issue 18's first lever), which would
//                    still have to check UTF-8 and build the workload on top of it
//   DecodeEvaluate   copy + ParseJsonInPlace + DecodeAdmissionReview + Judge +
//                    EncodeAdmissionResponse: the server's whole pure path, body in, body out
//   Judge            Judge on a decoded request (extraction + policy evaluation + messages)
//   Evaluate         Policy::Evaluate on an extracted Workload (the policy alone)
//   Handler          WebhookHandler::Handle on a Beast request: the above plus Content-Type
//                    check, metrics and one formatted log line (sent to a sink that drops it)
//   Copy             the body copy alone: a benchmark artefact (the server owns the body it
//                    read, so it parses in place without copying); subtract it from the
//                    stages that include it
// The server parses in place, which modifies the text, so each iteration parses a fresh copy.
//
// Run: bench/run.sh (all of it) or build-<dir>/admission_bench --benchmark_filter=Typical

#include <benchmark/benchmark.h>
#include <rapidjson/document.h>
#include <rapidjson/reader.h>

#include <map>
#include <memory>
#include <string>

#include "bench/reviews.h"
#include "common/log.h"
#include "policy/policy.h"
#include "policy/policy_store.h"
#include "server/admission_review.h"
#include "server/json.h"
#include "server/metrics.h"
#include "server/webhook_handler.h"

namespace {

namespace sg = stratum_guard;
using sg::policy::Policy;

const std::shared_ptr<const Policy>& DefaultPolicy() {
  static const std::shared_ptr<const Policy> policy = Policy::Default();
  return policy;
}

const sg::server::JudgeOptions& Options() {
  static const sg::server::JudgeOptions options = [] {
    sg::server::JudgeOptions o;
    o.docs_url = "https://stratum-guard.example/docs/rules";
    return o;
  }();
  return options;
}

// Reviews are built once per process; the builders are not what is measured.
const std::string& Body(const std::string& name) {
  static std::map<std::string, std::string> cache;  // nodes are stable: references stay valid
  auto it = cache.find(name);
  if (it == cache.end()) it = cache.emplace(name, sg::bench::ReviewByName(name)).first;
  return it->second;
}

void SetBytes(benchmark::State& state, const std::string& body) {
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) *
                          static_cast<std::int64_t>(body.size()));
  state.counters["body_bytes"] = static_cast<double>(body.size());
}

void Parse(benchmark::State& state, const std::string& name) {
  const std::string& body = Body(name);
  for (auto _ : state) {
    rapidjson::Document document;
    document.Parse(body.data(), body.size());
    if (document.HasParseError()) state.SkipWithError("parse error");
    benchmark::DoNotOptimize(document.IsObject());
  }
  SetBytes(state, body);
}

void Copy(benchmark::State& state, const std::string& name) {
  const std::string& body = Body(name);
  for (auto _ : state) {
    std::string text = body;
    benchmark::DoNotOptimize(text.data());
    benchmark::ClobberMemory();
  }
  SetBytes(state, body);
}

void CopyParseInPlace(benchmark::State& state, const std::string& name) {
  const std::string& body = Body(name);
  for (auto _ : state) {
    std::string text = body;
    rapidjson::Document document;
    std::string error = sg::server::ParseJsonInPlace(text, document);
    if (!error.empty()) state.SkipWithError(error.c_str());
    benchmark::DoNotOptimize(document.IsObject());
  }
  SetBytes(state, body);
}

void CopyScanInPlace(benchmark::State& state, const std::string& name) {
  const std::string& body = Body(name);
  for (auto _ : state) {
    std::string text = body;
    rapidjson::InsituStringStream stream(text.data());
    rapidjson::BaseReaderHandler<> handler;
    rapidjson::Reader reader;
    if (!reader.Parse<rapidjson::kParseInsituFlag>(stream, handler)) {
      state.SkipWithError("parse error");
    }
    benchmark::DoNotOptimize(text.data());
  }
  SetBytes(state, body);
}

// The server's pure path: body in, AdmissionReview answer out.
std::string DecodeEvaluateOnce(std::string& text, const Policy& policy) {
  rapidjson::Document document;
  if (!sg::server::ParseJsonInPlace(text, document).empty()) return {};
  sg::server::AdmissionRequest request;
  if (!sg::server::DecodeAdmissionReview(document, &request).empty()) return {};
  sg::server::Judgement judgement = sg::server::Judge(request, policy, Options());
  return sg::server::EncodeAdmissionResponse(request, judgement);
}

void DecodeEvaluate(benchmark::State& state, const std::string& name) {
  const std::string& body = Body(name);
  const Policy& policy = *DefaultPolicy();
  for (auto _ : state) {
    std::string text = body;
    std::string answer = DecodeEvaluateOnce(text, policy);
    if (answer.empty()) state.SkipWithError("not decoded");
    benchmark::DoNotOptimize(answer.data());
  }
  SetBytes(state, body);
}

void JudgeOnly(benchmark::State& state, const std::string& name) {
  std::string text = Body(name);
  rapidjson::Document document;
  sg::server::ParseJsonInPlace(text, document);
  sg::server::AdmissionRequest request;
  if (!sg::server::DecodeAdmissionReview(document, &request).empty()) {
    state.SkipWithError("not decoded");
    return;
  }
  const Policy& policy = *DefaultPolicy();
  for (auto _ : state) {
    sg::server::Judgement judgement = sg::server::Judge(request, policy, Options());
    benchmark::DoNotOptimize(judgement.findings.data());
  }
}

void EvaluateOnly(benchmark::State& state, const std::string& name) {
  std::string text = Body(name);
  rapidjson::Document document;
  sg::server::ParseJsonInPlace(text, document);
  const rapidjson::Value& object = document["request"]["object"];
  auto workload = sg::policy::ExtractWorkload(object["kind"].GetString(), object);
  if (!workload) {
    state.SkipWithError("no workload");
    return;
  }
  const Policy& policy = *DefaultPolicy();
  for (auto _ : state) {
    sg::policy::Verdict verdict = policy.Evaluate(*workload);
    benchmark::DoNotOptimize(verdict.findings.data());
  }
  state.counters["containers"] = static_cast<double>(workload->containers.size());
}

void Handler(benchmark::State& state, const std::string& name) {
  const std::string& body = Body(name);
  sg::common::SetLogSink([](std::string_view line) { benchmark::DoNotOptimize(line.data()); });
  prometheus::Registry registry;
  sg::server::AdmissionMetrics metrics(registry);
  sg::policy::PolicyStore policies(DefaultPolicy());
  sg::server::WebhookHandler handler(policies, metrics, Options(), [] { return true; });
  namespace http = boost::beast::http;
  for (auto _ : state) {
    sg::server::HttpRequest request{http::verb::post, "/validate?timeout=10s", 11};
    request.set(http::field::content_type, "application/json");
    request.body() = body;
    request.prepare_payload();
    sg::server::HttpResponse response = handler.Handle(request);
    if (response.result() != http::status::ok) state.SkipWithError("not 200");
    benchmark::DoNotOptimize(response.body().data());
  }
  sg::common::SetLogSink(nullptr);
  SetBytes(state, body);
}

void RegisterAll() {
  for (const char* name : {"typical", "deployment", "cronjob", "miner", "large"}) {
    const std::string n = name;
    const std::string suffix = "/" + n;
    benchmark::RegisterBenchmark(("Parse" + suffix).c_str(), Parse, n);
    benchmark::RegisterBenchmark(("Copy" + suffix).c_str(), Copy, n);
    benchmark::RegisterBenchmark(("CopyParseInPlace" + suffix).c_str(), CopyParseInPlace, n);
    benchmark::RegisterBenchmark(("CopyScanInPlace" + suffix).c_str(), CopyScanInPlace, n);
    benchmark::RegisterBenchmark(("DecodeEvaluate" + suffix).c_str(), DecodeEvaluate, n);
    benchmark::RegisterBenchmark(("Judge" + suffix).c_str(), JudgeOnly, n);
    benchmark::RegisterBenchmark(("Evaluate" + suffix).c_str(), EvaluateOnly, n);
    benchmark::RegisterBenchmark(("Handler" + suffix).c_str(), Handler, n);
  }
}

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  RegisterAll();
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
