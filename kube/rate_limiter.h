#pragma once

#include <chrono>
#include <optional>

#include "common/clock.h"

namespace stratum_guard::kube {

// A token bucket: `per_minute` tokens refill evenly over a minute, at most `per_minute` saved
// up. The bucket starts full, so a short burst of up to `per_minute` goes through at once and
// the long-run rate never exceeds `per_minute`. Not thread-safe (one sweeper owns one).
class TokenBucket {
 public:
  TokenBucket(common::Clock& clock, int per_minute);
  // Takes a token if one is there; otherwise returns how long until one will be.
  std::optional<std::chrono::milliseconds> TryTake();
  // Waits (on the clock) for a token and takes it. False when cancelled first.
  bool Take(const common::CancelCheck& cancelled);
  double tokens() const { return tokens_; }

 private:
  void Refill();
  common::Clock& clock_;
  double capacity_;
  double per_ms_;
  double tokens_;
  common::Clock::Steady last_;
};

// Exponential backoff: initial, 2x, 4x ... capped at `max`. Deterministic on purpose (no
// jitter): one sweeper per cluster retries, so there is no herd to spread.
class Backoff {
 public:
  Backoff(std::chrono::milliseconds initial, std::chrono::milliseconds max);
  std::chrono::milliseconds Next();
  void Reset() { next_ = initial_; }

 private:
  std::chrono::milliseconds initial_;
  std::chrono::milliseconds max_;
  std::chrono::milliseconds next_;
};

}  // namespace stratum_guard::kube
