#pragma once

#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "common/clock.h"
#include "https/client.h"
#include "kube/kube_config.h"

namespace stratum_guard::kube {

// What a plugin printed: an ExecCredential's status.
struct ExecCredential {
  https::Credentials credentials;
  std::optional<common::Clock::Wall> expiry;  // none: valid for the life of the process
};

// Parses a plugin's stdout as an ExecCredential of `api_version`. Returns nullopt with `error`
// set when it is not JSON, not an ExecCredential of that version, or carries neither a token
// nor a certificate and key.
std::optional<ExecCredential> ParseExecCredential(std::string_view json,
                                                  std::string_view api_version, std::string& error);

// Runs the plugin as kubectl does and caches its credential: the command is looked up in PATH,
// or relative to the kubeconfig's directory when it holds a '/'; stdin is empty; the
// environment is ours plus `env` plus KUBERNETES_EXEC_INFO (the ExecCredential request,
// spec.interactive false); stdout is the ExecCredential. The credential is reused until its
// expirationTimestamp (on `clock`'s wall time), then the plugin runs again; Invalidate() (a
// 401) makes the next Get() run it at once, as client-go does. Thread-safe: one run at a time,
// the other callers wait for its result.
class ExecCredentialPlugin {
 public:
  ExecCredentialPlugin(ExecConfig config, common::Clock& clock);

  // The https::CredentialSource: the cached credential or a fresh one. On failure `error` names
  // the command and holds its exit status and the start of its stderr.
  bool Get(const common::CancelCheck& cancelled, https::Credentials& out, std::string& error);
  void Invalidate();

 private:
  std::optional<ExecCredential> Run(const common::CancelCheck& cancelled, std::string& error);

  const ExecConfig config_;
  common::Clock& clock_;
  std::mutex mu_;
  std::optional<ExecCredential> cached_;
};

}  // namespace stratum_guard::kube
