// PolicyStore: the snapshot in force, and the subscribers that follow each new one.
#include "policy/policy_store.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace stratum_guard::policy {
namespace {

std::shared_ptr<const Policy> PolicyWithRule(const std::string& id) {
  return Policy::Compile("version: 1\nrules:\n  - id: " + id +
                             "\n    description: a test rule\n    action: deny\n    finding: x\n   "
                             " match: {images: [x]}\nend: stratum-guard-policy\n",
                         id + ".yaml");
}

std::vector<std::string> RuleIds(const Policy& policy) {
  std::vector<std::string> ids;
  for (const RuleInfo& rule : policy.rules()) ids.push_back(rule.id);
  return ids;
}

TEST(PolicyStoreTest, ASubscriberSeesThePolicyInForceThenEachNewOne) {
  PolicyStore store(PolicyWithRule("first"));
  std::vector<std::vector<std::string>> seen;
  auto subscription = store.Subscribe([&](const Policy& p) { seen.push_back(RuleIds(p)); });
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0], std::vector<std::string>{"first"});
  store.Set(PolicyWithRule("second"));
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[1], std::vector<std::string>{"second"});
  EXPECT_EQ(RuleIds(*store.Get()), std::vector<std::string>{"second"});
}

TEST(PolicyStoreTest, NoPolicyIsNotPassedOn) {
  PolicyStore store(nullptr);
  int calls = 0;
  auto subscription = store.Subscribe([&](const Policy&) { ++calls; });
  EXPECT_EQ(calls, 0) << "nothing in force yet";
  store.Set(PolicyWithRule("one"));
  store.Set(nullptr);
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(store.Get(), nullptr);
}

TEST(PolicyStoreTest, ADroppedHandleEndsTheSubscription) {
  PolicyStore store(PolicyWithRule("first"));
  int kept = 0;
  int dropped = 0;
  auto keep = store.Subscribe([&](const Policy&) { ++kept; });
  store.Subscribe([&](const Policy&) { ++dropped; }).reset();
  store.Set(PolicyWithRule("second"));
  EXPECT_EQ(kept, 2);
  EXPECT_EQ(dropped, 1) << "called once on subscribing, never after its handle went";
}

}  // namespace
}  // namespace stratum_guard::policy
