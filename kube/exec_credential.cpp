#include "kube/exec_credential.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>

#include "common/json.h"
#include "kube/kube_api.h"

extern char** environ;

namespace stratum_guard::kube {
namespace {

constexpr std::size_t kMaxStdout = std::size_t{1} << 20;
constexpr std::size_t kStderrShown = 1024;  // of the plugin's stderr, in an error

// What ran and how it ended.
struct Outcome {
  std::string out;
  std::string err;
  int status = 0;  // waitpid's
  bool cancelled = false;
};

// kubectl's resolution: a name with a '/' is a path (relative to the kubeconfig), a bare name
// is searched in PATH. Returns "" when nothing executable is found.
std::string ResolveCommand(const ExecConfig& config) {
  const std::string& command = config.command;
  if (command.find('/') != std::string::npos) {
    std::string path = command.front() == '/' || config.base_dir.empty()
                           ? command
                           : (std::filesystem::path(config.base_dir) / command).string();
    return access(path.c_str(), X_OK) == 0 ? path : std::string();
  }
  const char* path_env = std::getenv("PATH");
  std::string_view dirs = path_env != nullptr ? path_env : "/usr/local/bin:/usr/bin:/bin";
  while (true) {
    std::size_t colon = dirs.find(':');
    std::string dir(dirs.substr(0, colon));
    std::string candidate = (dir.empty() ? std::string(".") : dir) + "/" + command;
    if (access(candidate.c_str(), X_OK) == 0 && !std::filesystem::is_directory(candidate)) {
      return candidate;
    }
    if (colon == std::string_view::npos) return {};
    dirs.remove_prefix(colon + 1);
  }
}

std::string ExecInfo(const std::string& api_version) {
  return R"({"apiVersion":")" + api_version +
         R"(","kind":"ExecCredential","spec":{"interactive":false}})";
}

// Our environment, with the configured variables and KUBERNETES_EXEC_INFO over it.
std::vector<std::string> Environment(const ExecConfig& config) {
  std::vector<std::pair<std::string, std::string>> extra = config.env;
  extra.emplace_back("KUBERNETES_EXEC_INFO", ExecInfo(config.api_version));
  std::vector<std::string> env;
  for (char** e = environ; *e != nullptr; ++e) {
    std::string_view entry = *e;
    std::string_view name = entry.substr(0, entry.find('='));
    bool replaced = false;
    for (const auto& [key, value] : extra) replaced = replaced || key == name;
    if (!replaced) env.emplace_back(entry);
  }
  for (const auto& [key, value] : extra) env.push_back(key + "=" + value);
  return env;
}

std::vector<char*> Pointers(std::vector<std::string>& strings) {
  std::vector<char*> out;
  for (std::string& s : strings) out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

// Reads the child's stdout and stderr to their end, killing it if `cancelled` fires.
void Collect(pid_t pid, int out_fd, int err_fd, const common::CancelCheck& cancelled,
             Outcome& outcome) {
  std::array<pollfd, 2> fds = {pollfd{out_fd, POLLIN, 0}, pollfd{err_fd, POLLIN, 0}};
  std::array<std::string*, 2> sinks = {&outcome.out, &outcome.err};
  std::array<std::size_t, 2> limits = {kMaxStdout, kStderrShown * 4};
  int open_fds = 2;
  char buf[4096];
  while (open_fds > 0) {
    if (!outcome.cancelled && cancelled && cancelled()) {
      outcome.cancelled = true;
      kill(-pid, SIGKILL);
    }
    if (poll(fds.data(), fds.size(), 100) < 0 && errno != EINTR) break;
    for (std::size_t i = 0; i < fds.size(); ++i) {
      if (fds[i].fd < 0 || fds[i].revents == 0) continue;
      ssize_t n = read(fds[i].fd, buf, sizeof buf);
      if (n > 0) {
        std::size_t room = limits[i] - std::min(limits[i], sinks[i]->size());
        sinks[i]->append(buf, std::min(room, static_cast<std::size_t>(n)));
      } else if (n == 0 || errno != EINTR) {
        close(fds[i].fd);
        fds[i].fd = -1;
        --open_fds;
      }
    }
  }
  while (waitpid(pid, &outcome.status, 0) < 0 && errno == EINTR) {
  }
}

// Spawns `path` with the plugin's arguments and environment; false with `error` if it cannot.
bool Spawn(const std::string& path, const ExecConfig& config, const common::CancelCheck& cancelled,
           Outcome& outcome, std::string& error) {
  int out_pipe[2];
  int err_pipe[2];
  if (pipe2(out_pipe, O_CLOEXEC) != 0) return error = std::strerror(errno), false;
  if (pipe2(err_pipe, O_CLOEXEC) != 0) {
    error = std::strerror(errno);
    close(out_pipe[0]);
    close(out_pipe[1]);
    return false;
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, out_pipe[1], 1);
  posix_spawn_file_actions_adddup2(&actions, err_pipe[1], 2);
  std::vector<std::string> argv_strings = {path};
  argv_strings.insert(argv_strings.end(), config.args.begin(), config.args.end());
  std::vector<std::string> env_strings = Environment(config);
  std::vector<char*> argv = Pointers(argv_strings);
  std::vector<char*> envp = Pointers(env_strings);
  // A process group of its own, so a cancel kills what a shell script started too (a child
  // left alive would hold the pipes open).
  posix_spawnattr_t attributes;
  posix_spawnattr_init(&attributes);
  posix_spawnattr_setflags(&attributes, POSIX_SPAWN_SETPGROUP);
  posix_spawnattr_setpgroup(&attributes, 0);
  pid_t pid = -1;
  int rc = posix_spawn(&pid, path.c_str(), &actions, &attributes, argv.data(), envp.data());
  posix_spawnattr_destroy(&attributes);
  posix_spawn_file_actions_destroy(&actions);
  close(out_pipe[1]);
  close(err_pipe[1]);
  if (rc != 0) {
    close(out_pipe[0]);
    close(err_pipe[0]);
    error = std::strerror(rc);
    return false;
  }
  Collect(pid, out_pipe[0], err_pipe[0], cancelled, outcome);
  return true;
}

std::string ExitText(int status) {
  if (WIFEXITED(status)) return "exit status " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return "killed by signal " + std::to_string(WTERMSIG(status));
  return "status " + std::to_string(status);
}

std::string StderrText(const std::string& err) {
  std::string_view text = err;
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.remove_suffix(1);
  if (text.empty()) return "";
  if (text.size() <= kStderrShown) return ": stderr: " + std::string(text);
  return ": stderr: " + std::string(text.substr(0, kStderrShown)) + "...";
}

}  // namespace

std::optional<ExecCredential> ParseExecCredential(std::string_view json,
                                                  std::string_view api_version,
                                                  std::string& error) {
  rapidjson::Document doc;
  doc.Parse(json.data(), json.size());
  if (doc.HasParseError() || !doc.IsObject()) {
    error = "its output is not a JSON object";
    return std::nullopt;
  }
  std::string_view kind = common::JsonString(doc, "kind");
  std::string_view version = common::JsonString(doc, "apiVersion");
  if (kind != "ExecCredential" || version != api_version) {
    error = "its output is a " + std::string(kind) + " of apiVersion \"" + std::string(version) +
            "\", not an ExecCredential of \"" + std::string(api_version) + "\"";
    return std::nullopt;
  }
  const rapidjson::Value* status = common::JsonMember(doc, "status");
  ExecCredential out;
  if (status != nullptr) {
    out.credentials.bearer_token = common::JsonString(*status, "token");
    out.credentials.client_cert_pem = common::JsonString(*status, "clientCertificateData");
    out.credentials.client_key_pem = common::JsonString(*status, "clientKeyData");
  }
  const https::Credentials& c = out.credentials;
  if (c.client_cert_pem.empty() != c.client_key_pem.empty()) {
    error = "its ExecCredential has clientCertificateData without clientKeyData or the reverse";
    return std::nullopt;
  }
  if (c.bearer_token.empty() && c.client_cert_pem.empty()) {
    error = "its ExecCredential has neither status.token nor status.clientCertificateData";
    return std::nullopt;
  }
  std::string_view expiry = status ? common::JsonString(*status, "expirationTimestamp") : "";
  if (!expiry.empty()) {
    out.expiry = ParseTime(expiry);
    if (!out.expiry) {
      error = "its expirationTimestamp \"" + std::string(expiry) + "\" is not RFC 3339";
      return std::nullopt;
    }
  }
  return out;
}

ExecCredentialPlugin::ExecCredentialPlugin(ExecConfig config, common::Clock& clock)
    : config_(std::move(config)), clock_(clock) {}

bool ExecCredentialPlugin::Get(const common::CancelCheck& cancelled, https::Credentials& out,
                               std::string& error) {
  std::lock_guard lock(mu_);
  if (cached_ && cached_->expiry && clock_.WallNow() >= *cached_->expiry) cached_.reset();
  if (!cached_) cached_ = Run(cancelled, error);
  if (!cached_) return false;
  out = cached_->credentials;
  return true;
}

void ExecCredentialPlugin::Invalidate() {
  std::lock_guard lock(mu_);
  cached_.reset();
}

std::optional<ExecCredential> ExecCredentialPlugin::Run(const common::CancelCheck& cancelled,
                                                        std::string& error) {
  std::string name = "exec plugin \"" + config_.command + "\"";
  std::string path = ResolveCommand(config_);
  if (path.empty()) {
    error = name + ": not found" +
            (config_.command.find('/') == std::string::npos ? " in PATH" : "") +
            (config_.install_hint.empty() ? "" : ": " + config_.install_hint);
    return std::nullopt;
  }
  Outcome outcome;
  std::string spawn_error;
  if (!Spawn(path, config_, cancelled, outcome, spawn_error)) {
    error = name + ": cannot run " + path + ": " + spawn_error;
    return std::nullopt;
  }
  if (outcome.cancelled) {
    error = name + ": cancelled";
    return std::nullopt;
  }
  if (!WIFEXITED(outcome.status) || WEXITSTATUS(outcome.status) != 0) {
    error = name + " failed: " + ExitText(outcome.status) + StderrText(outcome.err);
    return std::nullopt;
  }
  std::optional<ExecCredential> credential =
      ParseExecCredential(outcome.out, config_.api_version, error);
  if (!credential) error = name + ": " + error + StderrText(outcome.err);
  return credential;
}

}  // namespace stratum_guard::kube
