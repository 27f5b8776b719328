// The HTTPS client against a TLS server on 127.0.0.1 whose behaviour each test scripts:
// keep-alive reuse, verification, client certificates, credentials, deadlines, cancellation
// and limits.
#include "https/client.h"

#include <gtest/gtest.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <sys/socket.h>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <condition_variable>
#include <list>
#include <mutex>
#include <thread>

#include "test/fake_apiserver/certs.h"
#include "test/testing/tls_server.h"

namespace stratum_guard::https {
namespace {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
namespace ssl = net::ssl;
using tcp = net::ip::tcp;
using fake_apiserver::GenerateTestPki;
using fake_apiserver::TestPki;

using testing::Handler;
using testing::Pki;
using testing::Reply;
using testing::ServerRequest;
using testing::Stream;
using testing::TlsServer;

Handler Echo() {
  return [](Stream& s, const ServerRequest& r) {
    return Reply(s, r, 200, std::string(r.method_string()) + " " + std::string(r.target()));
  };
}

Request Get(std::string target) {
  Request r;
  r.target = std::move(target);
  return r;
}

Error Call(Client& client, const Request& request, Response* response,
           const common::CancelCheck& cancelled = nullptr) {
  return client.Do(request, response, cancelled);
}

TEST(HttpsClientTest, ReusesOneKeepAliveConnection) {
  TlsServer server(Echo());
  ClientOptions options = server.Options();
  options.base_path = "/prefix";
  Client client(options);
  for (const char* target : {"/a", "/b?x=1", "/c"}) {
    Response res;
    ASSERT_TRUE(Call(client, Get(target), &res).ok());
    EXPECT_EQ(res.status, 200);
    EXPECT_EQ(res.body, std::string("GET /prefix") + target);
    EXPECT_EQ(res.Header("x-test"), "yes");  // names are case-insensitive
    EXPECT_EQ(res.Header("absent"), "");
  }
  EXPECT_EQ(client.connections_opened(), 1u);
  EXPECT_EQ(server.accepted(), 1);
}

TEST(HttpsClientTest, SendsMethodBodyAndHeaders) {
  TlsServer server([](Stream& s, const ServerRequest& r) {
    return Reply(s, r, 201,
                 std::string(r.method_string()) + "|" + std::string(r[http::field::content_type]) +
                     "|" + std::string(r["X-Extra"]) + "|" + r.body());
  });
  Client client(server.Options());
  Request request;
  request.method = "PUT";
  request.target = "/x";
  request.body = "{\"a\":1}";
  request.headers = {{"X-Extra", "42"}};
  Response res;
  ASSERT_TRUE(Call(client, request, &res).ok());
  EXPECT_EQ(res.status, 201);
  EXPECT_EQ(res.body, "PUT|application/json|42|{\"a\":1}");
}

TEST(HttpsClientTest, RetriesAReusedConnectionTheServerClosed) {
  // Answers with keep-alive, then closes anyway: the next call finds the pooled connection dead.
  TlsServer server([](Stream& s, const ServerRequest& r) {
    Reply(s, r, 200, "ok");
    return false;
  });
  Client client(server.Options());
  Response res;
  ASSERT_TRUE(Call(client, Get("/1"), &res).ok());
  Error second = Call(client, Get("/2"), &res);
  EXPECT_TRUE(second.ok()) << second.message;
  EXPECT_EQ(res.body, "ok");
  EXPECT_EQ(client.connections_opened(), 2u);
}

TEST(HttpsClientTest, AServerSignedByAnotherCaIsAClearError) {
  TlsServer server(Echo());
  ClientOptions options = server.Options();
  options.ca_pem = GenerateTestPki().ca_pem;
  Client client(options);
  Response res;
  Error e = Call(client, Get("/"), &res);
  EXPECT_EQ(e.kind, Error::Kind::kTransport);
  EXPECT_NE(e.message.find("tls handshake with 127.0.0.1:"), std::string::npos) << e.message;
  // OpenSSL's reason follows: both test CAs have one name, so "certificate signature failure".
  EXPECT_NE(e.message.find("certificate verify failed: certificate signature failure"),
            std::string::npos)
      << e.message;
}

TEST(HttpsClientTest, InsecureModeSkipsVerification) {
  TlsServer server(Echo());
  ClientOptions options = server.Options();
  options.ca_pem = GenerateTestPki().ca_pem;
  options.insecure_skip_verify = true;
  Client client(options);
  Response res;
  EXPECT_TRUE(Call(client, Get("/"), &res).ok());
}

TEST(HttpsClientTest, BadPemThrowsAtConstruction) {
  ClientOptions options;
  options.host = "127.0.0.1";
  options.ca_pem = "not a certificate";
  EXPECT_THROW(Client{options}, std::invalid_argument);
  options.ca_pem.clear();
  options.client_cert_pem = "junk";
  options.client_key_pem = "junk";
  EXPECT_THROW(Client{options}, std::invalid_argument);
}

TEST(HttpsClientTest, SendsTheClientCertificate) {
  TlsServer server(Echo());
  ClientOptions options = server.Options();
  Response res;
  ASSERT_TRUE(Call(*std::make_unique<Client>(options), Get("/"), &res).ok());
  options.client_cert_pem = Pki().client_cert_pem;
  options.client_key_pem = Pki().client_key_pem;
  ASSERT_TRUE(Call(*std::make_unique<Client>(options), Get("/"), &res).ok());
  EXPECT_EQ(server.client_names(), (std::vector<std::string>{"", "cert-user"}));
}

TEST(HttpsClientTest, CredentialsAreAskedForEveryRequest) {
  TlsServer server(Echo());
  ClientOptions options = server.Options();
  int asked = 0;
  options.credentials = [&asked](const common::CancelCheck&, Credentials& out, std::string&) {
    out.bearer_token = "token-" + std::to_string(++asked);
    return true;
  };
  Client client(options);
  Response res;
  ASSERT_TRUE(Call(client, Get("/"), &res).ok());
  ASSERT_TRUE(Call(client, Get("/"), &res).ok());
  EXPECT_EQ(server.authorizations(),
            (std::vector<std::string>{"Bearer token-1", "Bearer token-2"}));
}

TEST(HttpsClientTest, ACertificateFromTheCredentialSourceIsUsed) {
  TlsServer server(Echo());
  ClientOptions options = server.Options();
  options.credentials = [](const common::CancelCheck&, Credentials& out, std::string&) {
    out.client_cert_pem = Pki().client_cert_pem;
    out.client_key_pem = Pki().client_key_pem;
    return true;
  };
  Client client(options);
  Response res;
  ASSERT_TRUE(Call(client, Get("/"), &res).ok());
  EXPECT_EQ(server.client_names(), (std::vector<std::string>{"cert-user"}));
}

TEST(HttpsClientTest, FailingCredentialsFailTheCallBeforeAnyConnection) {
  TlsServer server(Echo());
  ClientOptions options = server.Options();
  options.credentials = [](const common::CancelCheck&, Credentials& out, std::string& error) {
    out.client_cert_pem = "not a certificate";  // ignored: the source failed
    error = "plugin exploded";
    return false;
  };
  Client client(options);
  Response res;
  Error e = Call(client, Get("/"), &res);
  EXPECT_EQ(e.kind, Error::Kind::kCredentials);
  EXPECT_EQ(e.message, "credentials: plugin exploded");
  EXPECT_EQ(client.connections_opened(), 0u);
}

TEST(HttpsClientTest, ABadCertificateFromTheCredentialSourceIsACredentialsError) {
  TlsServer server(Echo());
  ClientOptions options = server.Options();
  options.credentials = [](const common::CancelCheck&, Credentials& out, std::string&) {
    out.client_cert_pem = "not a certificate";
    out.client_key_pem = "nor a key";
    return true;
  };
  Client client(options);
  Response res;
  Error e = Call(client, Get("/"), &res);
  EXPECT_EQ(e.kind, Error::Kind::kCredentials);
  EXPECT_NE(e.message.find("bad client certificate"), std::string::npos) << e.message;
}

TEST(HttpsClientTest, RefusedConnectionIsATransportError) {
  std::string port;
  {
    TlsServer gone(Echo());
    port = gone.Options().port;
  }
  ClientOptions options;
  options.host = "127.0.0.1";
  options.port = port;
  options.ca_pem = Pki().ca_pem;
  Client client(options);
  Response res;
  Error e = Call(client, Get("/"), &res);
  EXPECT_EQ(e.kind, Error::Kind::kTransport);
  EXPECT_NE(e.message.find("connect 127.0.0.1:" + port), std::string::npos) << e.message;
}

TEST(HttpsClientTest, AServerThatNeverAnswersTimesOut) {
  TlsServer* self = nullptr;
  TlsServer server([&self](Stream&, const ServerRequest&) {
    self->Stall();
    return false;
  });
  self = &server;
  ClientOptions options = server.Options();
  options.request_timeout = std::chrono::milliseconds(300);
  Client client(options);
  Response res;
  auto start = std::chrono::steady_clock::now();
  Error e = Call(client, Get("/"), &res);
  EXPECT_EQ(e.kind, Error::Kind::kTransport);
  EXPECT_EQ(e.message, "read: timed out");
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10));
}

TEST(HttpsClientTest, AHandshakeThatNeverCompletesTimesOut) {
  TlsServer server(Echo(), /*handshake=*/false);
  ClientOptions options = server.Options();
  options.connect_timeout = std::chrono::milliseconds(300);
  Client client(options);
  Response res;
  Error e = Call(client, Get("/"), &res);
  EXPECT_EQ(e.kind, Error::Kind::kTransport);
  EXPECT_EQ(e.message, "tls handshake with 127.0.0.1:" + options.port + ": timed out");
}

// The server fires the stop once the client is committed to a step that would otherwise wait
// for the (long) deadlines: the call must come back cancelled, and soon.
void ExpectCancelledSoon(TlsServer& server, common::StopSignal& stop) {
  ClientOptions options = server.Options();
  options.connect_timeout = std::chrono::seconds(60);
  options.request_timeout = std::chrono::seconds(60);
  Client client(options);
  Response res;
  auto start = std::chrono::steady_clock::now();
  Error e = Call(client, Get("/"), &res, [&stop] { return stop.stopped(); });
  EXPECT_EQ(e.kind, Error::Kind::kCancelled) << e.message;
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10));
}

TEST(HttpsClientTest, AStalledResponseIsCancelled) {
  common::StopSignal stop;
  TlsServer* self = nullptr;
  TlsServer server([&](Stream&, const ServerRequest&) {
    stop.Stop();
    self->Stall();
    return false;
  });
  self = &server;
  ExpectCancelledSoon(server, stop);
}

TEST(HttpsClientTest, AStalledHandshakeIsCancelled) {
  common::StopSignal stop;
  TlsServer server(Echo(), /*handshake=*/false, [&stop] { stop.Stop(); });
  ExpectCancelledSoon(server, stop);
}

TEST(HttpsClientTest, ABodyOverTheLimitIsRefused) {
  TlsServer server(
      [](Stream& s, const ServerRequest& r) { return Reply(s, r, 200, std::string(2000, 'x')); });
  ClientOptions options = server.Options();
  options.max_body_bytes = 1000;
  Client client(options);
  Response res;
  Error e = Call(client, Get("/"), &res);
  EXPECT_EQ(e.kind, Error::Kind::kTransport);
  EXPECT_EQ(e.message, "read: response body over 1000 bytes");
  options.max_body_bytes = 2000;
  EXPECT_TRUE(Call(*std::make_unique<Client>(options), Get("/"), &res).ok());
}

// Streams `chunks` as a chunked body, one chunk per write, then stalls if asked.
Handler Streaming(std::vector<std::string> chunks, int status = 200,
                  TlsServer** stall_in = nullptr) {
  return [=](Stream& s, const ServerRequest& r) {
    http::response<http::empty_body> res{static_cast<http::status>(status), r.version()};
    res.chunked(true);
    http::response_serializer<http::empty_body> sr{res};
    beast::error_code ec;
    http::write_header(s, sr, ec);
    for (const std::string& chunk : chunks) {
      net::write(s, http::make_chunk(net::buffer(chunk)), ec);
    }
    if (stall_in != nullptr) (*stall_in)->Stall();
    net::write(s, http::make_chunk_last(), ec);
    return false;
  };
}

std::vector<std::string> StreamLines(Client& client, Error* error, Response* res = nullptr,
                                     const common::CancelCheck& cancelled = nullptr,
                                     std::size_t stop_after = 100) {
  std::vector<std::string> lines;
  Response local;
  *error = client.Lines(
      Get("/watch"), std::chrono::seconds(60), res ? res : &local,
      [&](std::string& line) {
        lines.push_back(line);
        return lines.size() < stop_after;
      },
      cancelled);
  return lines;
}

TEST(HttpsClientTest, StreamsLinesAcrossChunks) {
  TlsServer server(Streaming({"{\"a\":", "1}\n\n  \n{\"b\":2}\n{\"c\"", ":3}\n", "tail"}));
  Client client(server.Options());
  Error e;
  Response res;
  EXPECT_EQ(StreamLines(client, &e, &res),
            (std::vector<std::string>{"{\"a\":1}", "{\"b\":2}", "{\"c\":3}"}));
  EXPECT_TRUE(e.ok()) << e.message;
  EXPECT_EQ(res.status, 200);
}

TEST(HttpsClientTest, AVisitorEndsTheStream) {
  TlsServer server(Streaming({"1\n2\n3\n"}));
  Client client(server.Options());
  Error e;
  EXPECT_EQ(StreamLines(client, &e, nullptr, nullptr, 2), (std::vector<std::string>{"1", "2"}));
  EXPECT_TRUE(e.ok());
}

TEST(HttpsClientTest, AStreamedErrorStatusIsCollectedAsABody) {
  TlsServer server(Streaming({"{\"kind\":\"Status\",", "\"code\":410}\n"}, 410));
  Client client(server.Options());
  Error e;
  Response res;
  EXPECT_TRUE(StreamLines(client, &e, &res).empty());
  EXPECT_TRUE(e.ok());
  EXPECT_EQ(res.status, 410);
  EXPECT_EQ(res.body, "{\"kind\":\"Status\",\"code\":410}\n");
}

TEST(HttpsClientTest, ALineOverTheLimitEndsTheStream) {
  TlsServer server(Streaming({std::string(3000, 'x'), "\n"}));
  ClientOptions options = server.Options();
  options.max_line_bytes = 1000;
  Client client(options);
  Error e;
  EXPECT_TRUE(StreamLines(client, &e).empty());
  EXPECT_EQ(e.kind, Error::Kind::kTransport);
  EXPECT_EQ(e.message, "read: a line over 1000 bytes");
}

TEST(HttpsClientTest, AStalledStreamIsCancelled) {
  TlsServer* self = nullptr;
  TlsServer server(Streaming({"first\n"}, 200, &self));
  self = &server;
  Client client(server.Options());
  common::StopSignal stop;
  Error e;
  std::vector<std::string> lines;
  e = client.Lines(
      Get("/watch"), std::chrono::seconds(60), std::make_unique<Response>().get(),
      [&](std::string& line) {
        lines.push_back(line);
        stop.Stop();  // the server now says nothing more
        return true;
      },
      [&stop] { return stop.stopped(); });
  EXPECT_EQ(e.kind, Error::Kind::kCancelled) << e.message;
  EXPECT_EQ(lines, (std::vector<std::string>{"first"}));
}

}  // namespace
}  // namespace stratum_guard::https
