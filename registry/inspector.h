#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/clock.h"
#include "registry/client.h"

namespace stratum_guard::registry {

struct InspectorOptions {
  // How long a tag's resolution to a digest is trusted; a digest's config never changes.
  std::chrono::milliseconds tag_ttl{std::chrono::minutes(5)};
  // How long a failed fetch is remembered: reviews of an image from an unreachable registry are
  // answered at once meanwhile, instead of each starting a fetch. Not an auth failure: the
  // next asker may have the credentials.
  std::chrono::milliseconds error_ttl{std::chrono::seconds(30)};
  // The cache's bound: the bytes of the configs' strings. The least recently used go first.
  std::size_t max_cache_bytes = std::size_t{32} << 20;
  // Fetches running at once; more wait in a queue (bounded too: past it, a miss is an error).
  int workers = 4;
  std::size_t max_queued = 1024;
};

// How an inspection ended. The webhook counts each: it never waits past its budget, and a
// registry failure never becomes a denial.
enum class Outcome {
  kHit,       // judged from the cache, at once
  kFetched,   // a miss fetched within the deadline
  kDeadline,  // the deadline passed; the fetch goes on and fills the cache
  kError,     // the registry failed (the error says how); nothing cached
};
const char* OutcomeName(Outcome outcome);  // "hit", "fetched", "deadline", "error"
inline constexpr Outcome kOutcomes[] = {Outcome::kHit, Outcome::kFetched, Outcome::kDeadline,
                                        Outcome::kError};
// The counter the webhook (source="admission") and the sweeper (source="sweeper") both count
// each container's outcome in; one name and help, so the metrics registry merges the two.
inline constexpr char kInspectionsMetric[] = "stratum_guard_image_inspections_total";
inline constexpr char kInspectionsHelp[] =
    "Containers whose image config was looked for, by source (admission, sweeper) and outcome "
    "(hit, fetched, deadline, error).";

struct Inspection {
  Outcome outcome = Outcome::kError;
  std::shared_ptr<const ImageConfig> config;  // for kHit and kFetched
  FetchError error;                           // for kError
};

// Gives the credentials for a fetch from `registry`. Called on a worker thread, only when the
// image must be fetched, so that finding them (a pull Secret read through the API) never costs
// a cache hit. Empty: no credentials.
using CredentialsFn = std::function<RegistryCredentials(std::string_view registry)>;

// Image configs by image reference, cached by digest, fetched on worker threads so that a
// caller's deadline never cuts a fetch short: a fetch that outlives one review fills the cache
// for the next review and for the sweeper. Concurrent misses of one image share one fetch.
class ImageInspector {
 public:
  // `client` and `clock` must outlive the inspector. The clock dates tag resolutions.
  ImageInspector(RegistryClient& client, common::Clock& clock, InspectorOptions options);
  ~ImageInspector();  // cancels running fetches and joins the workers
  ImageInspector(const ImageInspector&) = delete;
  ImageInspector& operator=(const ImageInspector&) = delete;

  // Waits at most `deadline` (real time) for the image's config.
  // Concurrent misses of one image share the first caller's fetch, and its credentials.
  Inspection Inspect(const ImageReference& image, const CredentialsFn& credentials,
                     std::chrono::milliseconds deadline);

  std::size_t cached_bytes() const;
  std::size_t cached_images() const;

 private:
  struct Pending;
  struct Entry {
    std::shared_ptr<const ImageConfig> config;
    std::size_t bytes = 0;
    std::list<std::string>::iterator lru;
  };
  struct Tag {
    std::string digest;
    common::Clock::Steady resolved;
  };
  struct Failure {
    FetchError error;
    common::Clock::Steady at;
  };

  void Work();
  std::shared_ptr<const ImageConfig> LookupLocked(const ImageReference& image);
  void StoreLocked(const ImageReference& image, const FetchResult& result,
                   std::shared_ptr<const ImageConfig> config);

  RegistryClient& client_;
  common::Clock& clock_;
  const InspectorOptions options_;

  mutable std::mutex mu_;
  std::condition_variable work_ready_;
  bool stopping_ = false;
  std::map<std::string, Entry, std::less<>> by_digest_;
  std::list<std::string> lru_;  // digests, most recently used first
  std::size_t bytes_ = 0;
  std::map<std::string, Tag, std::less<>> tags_;          // "registry/repository:tag"
  std::map<std::string, Failure, std::less<>> failures_;  // by reference string
  std::atomic<bool> cancel_{false};  // read by running fetches without the lock
  std::map<std::string, std::shared_ptr<Pending>, std::less<>> pending_;  // by reference string
  std::deque<std::shared_ptr<Pending>> queue_;
  std::vector<std::thread> workers_;
};

}  // namespace stratum_guard::registry
