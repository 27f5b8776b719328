#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>

namespace stratum_guard::common {

// True when the caller should give up what it is doing (shutdown, lost leadership).
using CancelCheck = std::function<bool()>;

// Time comes through this interface so that rate limits, backoff and leases can be tested with a
// simulated clock instead of sleeps. Implementations are thread-safe.
class Clock {
 public:
  using Steady = std::chrono::steady_clock::time_point;
  using Wall = std::chrono::system_clock::time_point;
  virtual ~Clock() = default;
  // Monotonic time: every duration (deadlines, lease expiry as observed locally) is measured here.
  virtual Steady Now() const = 0;
  // Calendar time, only for what goes on the wire (Lease renewTime, Event timestamps, metrics).
  virtual Wall WallNow() const = 0;
  // Waits for `duration`, returning early (false) when `cancelled` turns true. Returns true
  // when the whole duration passed. `cancelled` may be empty.
  virtual bool SleepFor(std::chrono::milliseconds duration, const CancelCheck& cancelled) = 0;
};

// The real clock. SleepFor checks `cancelled` every 50 ms, which bounds how long a stop or a
// lost lease takes to be noticed by a sleeping sweeper.
class SystemClock : public Clock {
 public:
  // The one real clock a process needs, for constructors whose clock defaults to it.
  static SystemClock& Instance();
  Steady Now() const override { return std::chrono::steady_clock::now(); }
  Wall WallNow() const override { return std::chrono::system_clock::now(); }
  bool SleepFor(std::chrono::milliseconds duration, const CancelCheck& cancelled) override;
};

// A clock whose time moves only when someone sleeps on it or calls Advance(). Thread-safe.
class SimulatedClock : public Clock {
 public:
  enum class Sleep {
    // SleepFor advances time by the full duration at once (unless already cancelled), so one
    // thread that waits for tokens or backs off runs instantly and deterministically.
    kAdvancesTime,
    // SleepFor waits until Advance() has moved time past its end (or `cancelled` turns true),
    // so several threads share one timeline that the test drives: replicas electing a leader,
    // where one thread's sleep must not make another's lease expire.
    kWaitsForAdvance,
  };
  explicit SimulatedClock(Sleep sleep = Sleep::kAdvancesTime);
  Steady Now() const override;
  Wall WallNow() const override;
  bool SleepFor(std::chrono::milliseconds duration, const CancelCheck& cancelled) override;
  void Advance(std::chrono::milliseconds duration);
  // Total simulated time spent in SleepFor so far (kAdvancesTime only).
  std::chrono::milliseconds slept() const;

 private:
  bool WaitForAdvance(std::chrono::milliseconds duration, const CancelCheck& cancelled);

  const Sleep sleep_;
  mutable std::mutex mu_;
  std::condition_variable advanced_;
  Steady now_;
  Wall wall_;
  std::chrono::milliseconds slept_{0};
};

// A one-way stop flag that sleepers can wait on (SIGTERM handling, test shutdown). Thread-safe.
class StopSignal {
 public:
  void Stop();
  bool stopped() const;
  // Waits up to `duration`; returns true if stopped.
  bool WaitFor(std::chrono::milliseconds duration) const;

 private:
  mutable std::mutex mu_;
  mutable std::condition_variable cv_;
  bool stopped_ = false;
};

}  // namespace stratum_guard::common
