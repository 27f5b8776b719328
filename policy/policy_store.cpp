#include "policy/policy_store.h"

namespace stratum_guard::policy {

void PolicyStore::Set(std::shared_ptr<const Policy> next) {
  std::lock_guard lock(listeners_mu_);
  current_.store(next, std::memory_order_release);
  if (next == nullptr) return;
  for (auto& [id, listener] : listeners_) listener(*next);
}

std::shared_ptr<void> PolicyStore::Subscribe(Listener listener) {
  std::lock_guard lock(listeners_mu_);
  if (std::shared_ptr<const Policy> now = Get()) listener(*now);
  const std::uint64_t id = next_id_++;
  listeners_.emplace(id, std::move(listener));
  // The handle's deleter unsubscribes; the handle holds no object of its own.
  return std::shared_ptr<void>(nullptr, [this, id](void*) {
    std::lock_guard unsubscribe(listeners_mu_);
    listeners_.erase(id);
  });
}

}  // namespace stratum_guard::policy
