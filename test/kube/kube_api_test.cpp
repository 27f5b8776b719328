#include "kube/kube_api.h"

#include <gtest/gtest.h>

#include "kube/kube_client.h"

namespace stratum_guard::kube {
namespace {

TEST(TimeFormatTest, MicroTimeRoundTrips) {
  common::Clock::Wall t =
      common::Clock::Wall(std::chrono::seconds(1'800'000'000)) + std::chrono::microseconds(42);
  EXPECT_EQ(FormatMicroTime(t), "2027-01-15T08:00:00.000042Z");
  EXPECT_EQ(FormatTime(t), "2027-01-15T08:00:00Z");
  EXPECT_EQ(ParseTime(FormatMicroTime(t)), t);
  EXPECT_EQ(ParseTime("2027-01-15T08:00:00Z"),
            common::Clock::Wall(std::chrono::seconds(1'800'000'000)));
  EXPECT_EQ(ParseTime("2027-01-15T09:30:00+01:30"),
            common::Clock::Wall(std::chrono::seconds(1'800'000'000)));
  EXPECT_EQ(ParseTime("2027-01-15T07:00:00-01:00"),
            common::Clock::Wall(std::chrono::seconds(1'800'000'000)));
  EXPECT_FALSE(ParseTime("2027-01-15T08:00:00+0100"));
  EXPECT_FALSE(ParseTime("2027-01-15T08:00:00+01:xx"));
  EXPECT_FALSE(ParseTime("yesterday"));
  EXPECT_FALSE(ParseTime("2027-01-15T08:00:00.Z"));
}

TEST(LeaseJsonTest, RoundTrips) {
  Lease lease;
  lease.namespace_ = "ns";
  lease.name = "l";
  lease.resource_version = "7";
  lease.holder_identity = "me";
  lease.lease_duration_seconds = 15;
  lease.acquire_time = "2026-01-01T00:00:00.000000Z";
  lease.renew_time = "2026-01-01T00:00:02.000000Z";
  lease.lease_transitions = 3;
  std::string json = LeaseToJson(lease);
  EXPECT_NE(json.find(R"("apiVersion":"coordination.k8s.io/v1","kind":"Lease")"),
            std::string::npos);
  rapidjson::Document doc;
  doc.Parse(json.c_str());
  Lease back;
  ASSERT_TRUE(LeaseFromJson(doc, &back));
  EXPECT_EQ(back.holder_identity, "me");
  EXPECT_EQ(back.resource_version, "7");
  EXPECT_EQ(back.lease_duration_seconds, 15);
  EXPECT_EQ(back.renew_time, lease.renew_time);
  EXPECT_EQ(back.lease_transitions, 3);
  rapidjson::Document not_lease;
  not_lease.Parse("[1]");
  EXPECT_FALSE(LeaseFromJson(not_lease, &back));
}

TEST(DeleteOptionsTest, CarriesUidPreconditionAndGrace) {
  EXPECT_EQ(DeleteOptionsJson("u-1", 5),
            R"({"kind":"DeleteOptions","apiVersion":"v1","preconditions":{"uid":"u-1"},)"
            R"("gracePeriodSeconds":5})");
  EXPECT_EQ(DeleteOptionsJson("u-1", std::nullopt),
            R"({"kind":"DeleteOptions","apiVersion":"v1","preconditions":{"uid":"u-1"}})");
}

TEST(QueryEscapeTest, EscapesContinueTokens) {
  EXPECT_EQ(QueryEscape("eyJ2Ijo+/=="), "eyJ2Ijo%2B%2F%3D%3D");
  EXPECT_EQ(QueryEscape("a-b_c.d~"), "a-b_c.d~");
}

}  // namespace
}  // namespace stratum_guard::kube
