// The text functions that see attacker-chosen strings: UTF-8 truncation (common and the policy's
// evidence Truncate), base64 (common), and the policy's image parsing, word splitting, kubelet
// and shell expansion and blob decoding. The first byte picks a size limit, so limits below
// the ellipsis (the `max_bytes - 3` of issue 15) are tried too.

#include "common/text.h"

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/base64.h"
#include "policy/text.h"

using namespace stratum_guard;
namespace text = stratum_guard::policy::text;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const std::size_t limit = data[0];
  std::string_view input(reinterpret_cast<const char*>(data) + 1, size - 1);

  // Whatever the limit, nothing comes back longer than it or longer than the input.
  if (common::TruncateUtf8(input, limit).size() > limit) __builtin_trap();
  if (common::Utf8Prefix(input, limit).size() > limit) __builtin_trap();
  if (text::Truncate(input, limit).size() > limit) __builtin_trap();

  if (auto decoded = common::DecodeBase64(input)) {
    if (common::DecodeBase64(common::EncodeBase64(*decoded)) != decoded) __builtin_trap();
  }

  text::ParseImage(input);
  text::NormalizedRepository(input);
  text::NormalizedImage(input);
  std::vector<text::Word> words;
  text::SplitWords(input, true, words);
  text::SplitWords(input, false, words);
  for (const text::Word& w : words) {
    text::Basename(w.text);
    text::IsCommandWrapper(w.text);
  }
  const text::Lookup lookup = [](std::string_view name) -> std::optional<std::string_view> {
    if (name.size() % 2 == 0) return std::string_view("$(X) ${Y:-z} $$");
    return std::nullopt;
  };
  text::ExpandKubelet(input, lookup);
  text::ExpandShell(input, lookup);
  std::size_t budget = 64 * 1024;
  std::vector<std::string> blobs;
  text::DecodeBase64Blobs(input, &budget, blobs);
  text::DecodeHexBlobs(input, &budget, blobs);
  std::string buffer;
  text::ToLower(input, buffer);
  return 0;
}
