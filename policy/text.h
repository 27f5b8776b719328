#pragma once

// Text helpers of the policy engine: image references, shell-ish word splitting, kubelet and
// shell variable expansion, base64/hex decoding. Pure functions, no allocation unless they
// return a std::string; exposed so that tests can pin each one down on its own.

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace stratum_guard::policy::text {

// An image reference split into its parts. `repository` is the path without the registry,
// lower-cased by the caller if needed ("xmrig/xmrig", "library/nginx"); `name` is its last
// component ("xmrig"). Docker Hub's implicit "docker.io" and "library/" are made explicit in
// `normalized_repository` ("docker.io/library/nginx") so that exemptions compare like with like.
struct ImageRef {
  std::string_view registry;    // "ghcr.io", "" for Docker Hub short names
  std::string_view repository;  // without registry, tag and digest
  std::string_view name;        // last path component of repository
  std::string_view tag;         // "" when absent
  std::string_view digest;      // "sha256:..." or ""
};
ImageRef ParseImage(std::string_view image);
// "nginx" -> "docker.io/library/nginx"; "ghcr.io/a/b:1" -> "ghcr.io/a/b" (no tag or digest).
std::string NormalizedRepository(std::string_view image);
// The full reference with Docker Hub made explicit: "nginx:1" -> "docker.io/library/nginx:1".
std::string NormalizedImage(std::string_view image);

// A word of a command line or a shell script.
struct Word {
  std::string_view text;
  bool command_position = false;  // where a shell would look up a program to run
};

// Splits `text` into words. In script mode, shell separators (; & | ( ) ` newline and `$(`)
// also split and mark the next word as a command position; assignments (`A=b`) and wrappers
// (nohup, exec, sudo, nice -n 19, timeout 10, ...) keep it. Quotes are dropped, not
// interpreted: a quoted string simply becomes the words it contains, which is what scanning
// needs. Outside script mode only whitespace and quotes split and no word is a command position.
void SplitWords(std::string_view text, bool script, std::vector<Word>& out);

// Programs that run the program named after them (nohup, exec, sudo, nice, timeout, env, ...).
bool IsCommandWrapper(std::string_view word);

// The last path component of a word: "/tmp/.x/xmrig" -> "xmrig".
std::string_view Basename(std::string_view word);

// Looks a variable up; returns nullopt when it is not defined.
using Lookup = std::function<std::optional<std::string_view>(std::string_view)>;

// Kubernetes' $(VAR) expansion of command, args and env values (k8s.io/kubernetes
// third_party/forked/golang/expansion): `$$` is a literal `$`, `$(NAME)` becomes the value of
// NAME when it is defined and stays as written when it is not, any other `$` is literal.
std::string ExpandKubelet(std::string_view text, const Lookup& lookup);
// Shell expansion of `$NAME` and `${NAME}` (also `${NAME:-default}` takes the value or the
// default) inside a script. Undefined variables stay as written. Returns nullopt when nothing
// was expanded.
std::optional<std::string> ExpandShell(std::string_view text, const Lookup& lookup);

// Blob decoding for obfuscated scripts. Each function finds candidate blobs in `text`, decodes
// them and appends the decoded texts that look like text (mostly printable) to `out`, spending
// at most `*budget` bytes in total (decremented).
void DecodeBase64Blobs(std::string_view text, std::size_t* budget, std::vector<std::string>& out);
void DecodeHexBlobs(std::string_view text, std::size_t* budget, std::vector<std::string>& out);

// Evidence for humans: control characters become spaces and text longer than `max_bytes` is cut
// on a UTF-8 boundary and ends with an ellipsis.
std::string Truncate(std::string_view text, std::size_t max_bytes = 80);

// ASCII lower-casing into a caller's buffer; returns a view of it.
std::string_view ToLower(std::string_view text, std::string& buffer);

}  // namespace stratum_guard::policy::text
