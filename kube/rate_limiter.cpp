#include "kube/rate_limiter.h"

#include <algorithm>
#include <cmath>

namespace stratum_guard::kube {

TokenBucket::TokenBucket(common::Clock& clock, int per_minute)
    : clock_(clock),
      capacity_(std::max(per_minute, 1)),
      per_ms_(capacity_ / 60'000.0),
      tokens_(capacity_),
      last_(clock.Now()) {}

void TokenBucket::Refill() {
  auto now = clock_.Now();
  if (now <= last_) return;
  double elapsed_ms = std::chrono::duration<double, std::milli>(now - last_).count();
  tokens_ = std::min(capacity_, tokens_ + elapsed_ms * per_ms_);
  last_ = now;
}

std::optional<std::chrono::milliseconds> TokenBucket::TryTake() {
  Refill();
  if (tokens_ >= 1.0) {
    tokens_ -= 1.0;
    return std::nullopt;
  }
  double missing_ms = (1.0 - tokens_) / per_ms_;
  return std::chrono::milliseconds(static_cast<long long>(std::ceil(missing_ms)));
}

bool TokenBucket::Take(const common::CancelCheck& cancelled) {
  while (true) {
    auto wait = TryTake();
    if (!wait) return true;
    if (!clock_.SleepFor(*wait, cancelled)) return false;
  }
}

Backoff::Backoff(std::chrono::milliseconds initial, std::chrono::milliseconds max)
    : initial_(initial), max_(std::max(initial, max)), next_(initial) {}

std::chrono::milliseconds Backoff::Next() {
  auto current = next_;
  next_ = std::min(max_, next_ * 2);
  return current;
}

}  // namespace stratum_guard::kube
