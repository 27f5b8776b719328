#include "kube/kube_api.h"

#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <utility>
#include <vector>

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

// The list and watch decoders on their own: what the API server (or something in its place)
// may send, good and bad.
TEST(DecodePodListTest, ReadsMetadataAndVisitsEachItem) {
  rapidjson::Document list;
  list.Parse(R"({"metadata":{"resourceVersion":"7","continue":"tok"},
                 "items":[{"metadata":{"name":"a"}},{"metadata":{"name":"b"}}]})");
  std::vector<std::string> names;
  ListPage page;
  KubeError e = DecodePodList(
      list, [&](const rapidjson::Value& pod) { names.emplace_back(MetadataString(pod, "name")); },
      &page);
  EXPECT_TRUE(e.ok()) << e.ToString();
  EXPECT_EQ(names, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(page.resource_version, "7");
  EXPECT_EQ(page.continue_token, "tok");
}

TEST(DecodePodListTest, NullOrMissingItemsIsAnEmptyPage) {
  for (const char* json : {R"({"items":null})", R"({"metadata":[]})"}) {
    rapidjson::Document list;
    list.Parse(json);
    int visits = 0;
    ListPage page;
    EXPECT_TRUE(DecodePodList(
                    list, [&](const rapidjson::Value&) { ++visits; }, &page)
                    .ok());
    EXPECT_EQ(visits, 0) << json;
    EXPECT_EQ(page.resource_version, "") << json;
  }
}

TEST(DecodePodListTest, ItemsThatAreNotAnArrayAreRefused) {
  rapidjson::Document list;
  list.Parse(R"({"items":{"a":1}})");
  ListPage page;
  KubeError e = DecodePodList(
      list, [](const rapidjson::Value&) {}, &page);
  EXPECT_EQ(e.kind, KubeError::Kind::kDecode);
  EXPECT_NE(e.ToString().find("items is not an array"), std::string::npos) << e.ToString();
}

TEST(DecodeWatchEventTest, EveryTypeReachesTheVisitor) {
  for (WatchEventType type :
       {WatchEventType::kAdded, WatchEventType::kModified, WatchEventType::kDeleted,
        WatchEventType::kBookmark, WatchEventType::kError}) {
    std::string line = R"({"type":")" + std::string(WatchEventTypeName(type)) +
                       R"(","object":{"metadata":{"name":"p"}}})";
    std::optional<WatchEventType> seen;
    bool more = true;
    KubeError e = DecodeWatchEvent(
        line,
        [&](WatchEventType t, const rapidjson::Value& object) {
          seen = t;
          EXPECT_EQ(MetadataString(object, "name"), "p");
          return false;
        },
        &more);
    EXPECT_TRUE(e.ok()) << e.ToString();
    EXPECT_EQ(seen, type);
    EXPECT_FALSE(more) << "the visitor's answer";
  }
}

TEST(DecodeWatchEventTest, BadLinesEndTheWatchWithADecodeError) {
  const std::pair<std::string, std::string> cases[] = {
      {"not json", "not a JSON object"},
      {"[1,2]", "not a JSON object"},
      {R"({"type":"ADDED"})", "event without object"},
      {R"({"type":"RENAMED","object":{}})", "unknown event type \"RENAMED\""},
      {R"({"type":7,"object":{}})", "unknown event type \"\""},
  };
  for (const auto& [text, expected] : cases) {
    std::string line = text;
    bool more = true;
    int visits = 0;
    KubeError e = DecodeWatchEvent(
        line, [&](WatchEventType, const rapidjson::Value&) { return ++visits > 0; }, &more);
    EXPECT_EQ(e.kind, KubeError::Kind::kDecode) << text;
    EXPECT_NE(e.ToString().find(expected), std::string::npos) << text << ": " << e.ToString();
    EXPECT_EQ(visits, 0) << text;
  }
}

TEST(QueryEscapeTest, EscapesContinueTokens) {
  EXPECT_EQ(QueryEscape("eyJ2Ijo+/=="), "eyJ2Ijo%2B%2F%3D%3D");
  EXPECT_EQ(QueryEscape("a-b_c.d~"), "a-b_c.d~");
}

}  // namespace
}  // namespace stratum_guard::kube
