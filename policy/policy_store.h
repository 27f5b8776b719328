#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <utility>

#include "policy/policy.h"

namespace stratum_guard::policy {

// The policy in force. A reload compiles a new snapshot and swaps it in whole; a reader takes
// the current snapshot once per request (or per sweep pass) and keeps it alive for as long as
// it evaluates, so a reload never disturbs work in flight. Thread-safe; Get() takes no lock.
class PolicyStore {
 public:
  using Listener = std::function<void(const Policy&)>;

  explicit PolicyStore(std::shared_ptr<const Policy> initial) : current_(std::move(initial)) {}
  PolicyStore(const PolicyStore&) = delete;  // subscriptions point at this object
  PolicyStore& operator=(const PolicyStore&) = delete;

  std::shared_ptr<const Policy> Get() const { return current_.load(std::memory_order_acquire); }
  void Set(std::shared_ptr<const Policy> next);

  // Calls `listener` now with the policy in force, then with every policy Set swaps in, on the
  // thread that called Set, until the returned handle is destroyed. For what must follow a new
  // policy before the first request does: the metric series of its rules, created at zero so
  // that an alert on increase() sees the first finding. A listener must not call Set or
  // Subscribe, and must be quick: Set waits for it.
  [[nodiscard]] std::shared_ptr<void> Subscribe(Listener listener);

 private:
  std::atomic<std::shared_ptr<const Policy>> current_;
  std::mutex listeners_mu_;  // also orders Set calls, so listeners see policies in Set order
  std::map<std::uint64_t, Listener> listeners_;
  std::uint64_t next_id_ = 0;
};

}  // namespace stratum_guard::policy
