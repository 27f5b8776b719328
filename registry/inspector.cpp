#include "registry/inspector.h"

#include <utility>

namespace stratum_guard::registry {

const char* OutcomeName(Outcome outcome) {
  switch (outcome) {
    case Outcome::kHit:
      return "hit";
    case Outcome::kFetched:
      return "fetched";
    case Outcome::kDeadline:
      return "deadline";
    case Outcome::kError:
      return "error";
  }
  return "unknown";
}

// One fetch that callers wait on; it stays alive through the shared pointers of whoever waits
// and of the queue, whichever lets go last.
struct ImageInspector::Pending {
  ImageReference image;
  CredentialsFn credentials;
  bool done = false;
  FetchError error;
  std::shared_ptr<const ImageConfig> config;
  std::condition_variable finished;
};

namespace {

std::size_t Bytes(const ImageConfig& c) {
  std::size_t n = sizeof(ImageConfig);
  for (const auto* list : {&c.entrypoint, &c.cmd, &c.env}) {
    for (const std::string& s : *list) n += sizeof(std::string) + s.size();
  }
  return n;
}

std::string TagKey(const ImageReference& image) {
  return image.registry + "/" + image.repository + ":" + image.tag;
}

}  // namespace

ImageInspector::ImageInspector(RegistryClient& client, common::Clock& clock,
                               InspectorOptions options)
    : client_(client), clock_(clock), options_(std::move(options)) {
  for (int i = 0; i < std::max(1, options_.workers); ++i) workers_.emplace_back([this] { Work(); });
}

ImageInspector::~ImageInspector() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cancel_ = true;
  work_ready_.notify_all();
  for (std::thread& t : workers_) t.join();
}

std::shared_ptr<const ImageConfig> ImageInspector::LookupLocked(const ImageReference& image) {
  std::string digest = image.digest;
  if (digest.empty()) {
    auto tag = tags_.find(TagKey(image));
    if (tag == tags_.end()) return nullptr;
    if (clock_.Now() - tag->second.resolved >= options_.tag_ttl) {
      tags_.erase(tag);
      return nullptr;
    }
    digest = tag->second.digest;
  }
  auto it = by_digest_.find(digest);
  if (it == by_digest_.end()) return nullptr;
  lru_.splice(lru_.begin(), lru_, it->second.lru);
  return it->second.config;
}

void ImageInspector::StoreLocked(const ImageReference& image, const FetchResult& result,
                                 std::shared_ptr<const ImageConfig> config) {
  // A pinned reference names the digest it was asked by (an index's, for a multi-platform
  // image); a tag names the platform manifest's. Either finds the config next time.
  std::string digest = image.digest.empty() ? result.manifest_digest : image.digest;
  if (image.digest.empty()) tags_[TagKey(image)] = Tag{digest, clock_.Now()};
  if (by_digest_.contains(digest)) return;
  std::size_t bytes = Bytes(*config);
  if (bytes > options_.max_cache_bytes) return;
  lru_.push_front(digest);
  by_digest_.emplace(digest, Entry{std::move(config), bytes, lru_.begin()});
  bytes_ += bytes;
  while (bytes_ > options_.max_cache_bytes) {
    auto victim = by_digest_.find(lru_.back());
    bytes_ -= victim->second.bytes;
    by_digest_.erase(victim);
    lru_.pop_back();
  }
}

Inspection ImageInspector::Inspect(const ImageReference& image, const CredentialsFn& credentials,
                                   std::chrono::milliseconds deadline) {
  std::unique_lock lock(mu_);
  if (auto config = LookupLocked(image)) return {Outcome::kHit, std::move(config), {}};
  std::string key = image.ToString();
  if (auto failed = failures_.find(key); failed != failures_.end()) {
    if (clock_.Now() - failed->second.at < options_.error_ttl) {
      return {Outcome::kError, nullptr, failed->second.error};
    }
    failures_.erase(failed);
  }
  std::shared_ptr<Pending> pending;
  if (auto it = pending_.find(key); it != pending_.end()) {
    pending = it->second;
  } else {
    if (queue_.size() >= options_.max_queued) {
      return {Outcome::kError,
              nullptr,
              {FetchError::Kind::kTransport, "too many image fetches queued"}};
    }
    pending = std::make_shared<Pending>();
    pending->image = image;
    pending->credentials = credentials;
    pending_.emplace(key, pending);
    queue_.push_back(pending);
    work_ready_.notify_one();
  }
  if (!pending->finished.wait_for(lock, deadline, [&] { return pending->done; })) {
    return {Outcome::kDeadline, nullptr, {}};
  }
  if (!pending->error.ok()) return {Outcome::kError, nullptr, pending->error};
  return {Outcome::kFetched, pending->config, {}};
}

void ImageInspector::Work() {
  std::unique_lock lock(mu_);
  while (true) {
    work_ready_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
    if (stopping_) return;
    std::shared_ptr<Pending> job = std::move(queue_.front());
    queue_.pop_front();
    lock.unlock();
    RegistryCredentials credentials =
        job->credentials ? job->credentials(job->image.registry) : RegistryCredentials{};
    FetchResult result = client_.Fetch(job->image, credentials, [this] { return cancel_.load(); });
    lock.lock();
    job->error = result.error;
    if (result.error.ok()) {
      job->config = std::make_shared<const ImageConfig>(std::move(result.config));
      StoreLocked(job->image, result, job->config);
    } else if (result.error.kind != FetchError::Kind::kCancelled &&
               result.error.kind != FetchError::Kind::kAuth) {
      // An auth failure is not remembered: the credentials are the asker's (a namespace's pull
      // Secrets), and the next asker may hold the right ones.
      // Bounded like the cache: failures are few, but a flood of distinct bad references is not.
      if (failures_.size() >= options_.max_queued) failures_.clear();
      failures_[job->image.ToString()] = Failure{result.error, clock_.Now()};
    }
    job->done = true;
    pending_.erase(job->image.ToString());
    job->finished.notify_all();
  }
}

std::size_t ImageInspector::cached_bytes() const {
  std::lock_guard lock(mu_);
  return bytes_;
}

std::size_t ImageInspector::cached_images() const {
  std::lock_guard lock(mu_);
  return by_digest_.size();
}

}  // namespace stratum_guard::registry
