#include "kube/kube_error.h"

#include <gtest/gtest.h>

namespace stratum_guard::kube {
namespace {

TEST(DecodeStatusTest, ReadsStatusObject) {
  KubeError e =
      DecodeStatus(404, R"({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",)"
                        R"("message":"pods \"x\" not found","reason":"NotFound",)"
                        R"("details":{"name":"x","kind":"pods"},"code":404})");
  EXPECT_EQ(e.kind, KubeError::Kind::kStatus);
  EXPECT_TRUE(e.IsNotFound());
  EXPECT_EQ(e.reason, "NotFound");
  EXPECT_EQ(e.message, "pods \"x\" not found");
  EXPECT_EQ(e.ToString(), "404 NotFound: pods \"x\" not found");
  EXPECT_FALSE(e.IsRetriable());
}

TEST(DecodeStatusTest, StatusCodeWinsOverHttpLine) {
  KubeError e = DecodeStatus(500, R"({"kind":"Status","reason":"Expired","code":410})");
  EXPECT_TRUE(e.IsGone());
  EXPECT_EQ(e.reason, "Expired");
}

TEST(DecodeStatusTest, NonStatusBodies) {
  KubeError html = DecodeStatus(502, "<html>Bad Gateway</html>");
  EXPECT_EQ(html.code, 502);
  EXPECT_EQ(html.reason, "Unknown");
  EXPECT_EQ(html.message, "<html>Bad Gateway</html>");
  EXPECT_TRUE(html.IsRetriable());
  KubeError other_kind = DecodeStatus(409, R"({"kind":"Pod","reason":"x"})");
  EXPECT_EQ(other_kind.reason, "Conflict");
  EXPECT_TRUE(other_kind.IsConflict());
  KubeError empty = DecodeStatus(429, "", "7");
  EXPECT_EQ(empty.reason, "TooManyRequests");
  ASSERT_TRUE(empty.retry_after);
  EXPECT_EQ(empty.retry_after->count(), 7);
  EXPECT_TRUE(empty.IsRetriable());
  KubeError bad_code = DecodeStatus(401, R"({"kind":"Status","code":"x","message":"m"})");
  EXPECT_TRUE(bad_code.IsUnauthorized());
  EXPECT_EQ(bad_code.message, "m");
  std::string long_body(1000, 'a');
  EXPECT_EQ(DecodeStatus(500, long_body).message.size(), 200u);
}

TEST(RetryAfterTest, DeltaSecondsOnly) {
  EXPECT_EQ(ParseRetryAfter("1")->count(), 1);
  EXPECT_EQ(ParseRetryAfter(" 30 ")->count(), 30);
  EXPECT_FALSE(ParseRetryAfter(""));
  EXPECT_FALSE(ParseRetryAfter("-1"));
  EXPECT_FALSE(ParseRetryAfter("1.5"));
  EXPECT_FALSE(ParseRetryAfter("Wed, 21 Oct 2015 07:28:00 GMT"));
  EXPECT_FALSE(ParseRetryAfter("99999999999"));
}

TEST(KubeErrorTest, TransportAndCancelled) {
  KubeError t = KubeError::Transport("connect: refused");
  EXPECT_TRUE(t.IsRetriable());
  EXPECT_FALSE(t.ok());
  EXPECT_EQ(t.ToString(), "transport: connect: refused");
  KubeError c = KubeError::Cancelled();
  EXPECT_FALSE(c.IsRetriable());
  EXPECT_EQ(c.ToString(), "cancelled");
  EXPECT_TRUE(KubeError().ok());
  EXPECT_EQ(KubeError::Decode("x").ToString(), "decode: x");
}

}  // namespace
}  // namespace stratum_guard::kube
