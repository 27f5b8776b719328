#include "common/clock.h"

#include <algorithm>
#include <thread>

namespace stratum_guard::common {

SystemClock& SystemClock::Instance() {
  static SystemClock clock;
  return clock;
}

bool SystemClock::SleepFor(std::chrono::milliseconds duration, const CancelCheck& cancelled) {
  constexpr std::chrono::milliseconds kSlice{50};
  auto deadline = std::chrono::steady_clock::now() + duration;
  while (true) {
    if (cancelled && cancelled()) return false;
    auto now = std::chrono::steady_clock::now();
    if (now >= deadline) return true;
    std::this_thread::sleep_for(
        std::min<std::chrono::steady_clock::duration>(kSlice, deadline - now));
  }
}

SimulatedClock::SimulatedClock(Sleep sleep)
    // An arbitrary fixed calendar start keeps timestamps in tests reproducible.
    : sleep_(sleep),
      now_(std::chrono::steady_clock::time_point{} + std::chrono::hours(1000)),
      wall_(std::chrono::system_clock::time_point{} + std::chrono::seconds(1'800'000'000)) {}

Clock::Steady SimulatedClock::Now() const {
  std::lock_guard lock(mu_);
  return now_;
}

Clock::Wall SimulatedClock::WallNow() const {
  std::lock_guard lock(mu_);
  return wall_;
}

bool SimulatedClock::SleepFor(std::chrono::milliseconds duration, const CancelCheck& cancelled) {
  if (sleep_ == Sleep::kWaitsForAdvance) return WaitForAdvance(duration, cancelled);
  if (cancelled && cancelled()) return false;
  std::lock_guard lock(mu_);
  now_ += duration;
  wall_ += duration;
  slept_ += duration;
  return true;
}

bool SimulatedClock::WaitForAdvance(std::chrono::milliseconds duration,
                                    const CancelCheck& cancelled) {
  // Nobody signals when `cancelled` turns true (it may read a StopSignal or this clock), so it
  // is polled in real time, outside the lock: it may call Now().
  constexpr std::chrono::milliseconds kCancelPoll{5};
  std::unique_lock lock(mu_);
  const Steady end = now_ + duration;
  while (now_ < end) {
    lock.unlock();
    if (cancelled && cancelled()) return false;
    lock.lock();
    advanced_.wait_for(lock, kCancelPoll, [&] { return now_ >= end; });
  }
  return true;
}

void SimulatedClock::Advance(std::chrono::milliseconds duration) {
  {
    std::lock_guard lock(mu_);
    now_ += duration;
    wall_ += duration;
  }
  advanced_.notify_all();
}

std::chrono::milliseconds SimulatedClock::slept() const {
  std::lock_guard lock(mu_);
  return slept_;
}

void StopSignal::Stop() {
  {
    std::lock_guard lock(mu_);
    stopped_ = true;
  }
  cv_.notify_all();
}

bool StopSignal::stopped() const {
  std::lock_guard lock(mu_);
  return stopped_;
}

bool StopSignal::WaitFor(std::chrono::milliseconds duration) const {
  std::unique_lock lock(mu_);
  return cv_.wait_for(lock, duration, [this] { return stopped_; });
}

}  // namespace stratum_guard::common
