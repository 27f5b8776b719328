#pragma once

#include <string>

namespace stratum_guard::fake_apiserver {

// A throwaway PKI for one fake server: a CA, a server certificate for 127.0.0.1, ::1 and
// localhost, and a client certificate (CN=cert-user). ECDSA P-256, valid for a day.
struct TestPki {
  std::string ca_pem;
  std::string server_cert_pem;
  std::string server_key_pem;
  std::string client_cert_pem;
  std::string client_key_pem;
};
TestPki GenerateTestPki();

}  // namespace stratum_guard::fake_apiserver
