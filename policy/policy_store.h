#pragma once

#include <atomic>
#include <memory>
#include <utility>

#include "policy/policy.h"

namespace stratum_guard::policy {

// The policy in force. A reload compiles a new snapshot and swaps it in whole; a reader takes
// the current snapshot once per request (or per sweep pass) and keeps it alive for as long as
// it evaluates, so a reload never disturbs work in flight. Thread-safe.
class PolicyStore {
 public:
  explicit PolicyStore(std::shared_ptr<const Policy> initial) : current_(std::move(initial)) {}
  std::shared_ptr<const Policy> Get() const { return current_.load(std::memory_order_acquire); }
  void Set(std::shared_ptr<const Policy> next) {
    current_.store(std::move(next), std::memory_order_release);
  }

 private:
  std::atomic<std::shared_ptr<const Policy>> current_;
};

}  // namespace stratum_guard::policy
