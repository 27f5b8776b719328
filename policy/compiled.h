#pragma once

// The compiled form of a policy (Policy::Impl): built once by the loader (loader.cpp), only read
// by Evaluate (policy.cpp). Everything a request needs is precomputed here: literal lists are hash
// maps keyed by lower-case text, regexes sit in one RE2::Set per field class so that a string is
// scanned once whatever the number of patterns.

#include <re2/re2.h>
#include <re2/set.h>

#include <algorithm>
#include <array>
#include <bitset>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "policy/policy.h"

namespace stratum_guard::policy {

// Where a text matcher looks. Image matchers look only at the image.
enum class FieldClass : std::uint8_t { kCommand = 0, kArgs = 1, kEnv = 2 };
constexpr int kFieldClassCount = 3;
constexpr std::uint8_t FieldBit(FieldClass c) { return std::uint8_t{1} << static_cast<int>(c); }
constexpr std::uint8_t kAllFields = 0x7;

struct StringHash {
  using is_transparent = void;
  std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};
template <typename V>
using StringMap = std::unordered_map<std::string, V, StringHash, std::equal_to<>>;

// A cheap "certainly not in the list" test before a hash lookup: one bit per (length, last
// character) pair of the listed words, ASCII case-insensitive. Most words of a benign pod fail it,
// which saves hashing them.
class WordFilter {
 public:
  void Add(std::string_view word) { bits_.set(Key(word)); }
  bool MayContain(std::string_view word) const { return !word.empty() && bits_.test(Key(word)); }

 private:
  static std::size_t Key(std::string_view word) {
    unsigned char last = static_cast<unsigned char>(word.back());
    if (last >= 'A' && last <= 'Z') last = static_cast<unsigned char>(last - 'A' + 'a');
    return (std::min<std::size_t>(word.size(), 63) << 8) | last;
  }
  std::bitset<64 * 256> bits_;
};

// Exemptions, top-level or per rule. Images are compared in normalized form
// (text::NormalizedImage / NormalizedRepository).
struct Exemptions {
  std::vector<std::string> namespaces;
  std::vector<std::string> exact_images;         // normalized full references
  std::vector<std::string> repository_prefixes;  // normalized, without trailing '/'
  bool Empty() const {
    return namespaces.empty() && exact_images.empty() && repository_prefixes.empty();
  }
  bool CoversNamespace(std::string_view ns) const;
  bool CoversImage(std::string_view image) const;
};

// Built-in wallet formats: a regex finds candidates, a check in code weeds out look-alikes.
enum class WalletFormat : std::uint8_t { kNone, kMonero, kDero, kBitcoin, kEthereum };

struct CompiledRule {
  RuleInfo info;
  std::string finding;  // noun phrase for messages: "Stratum pool URL"
  std::uint8_t fields = kAllFields;
  bool combines = false;
  // `combine.with` names the rule itself: two different hits of it (two miner options) escalate.
  bool combines_with_itself = false;
  Action combine_action = Action::kDeny;
  std::vector<int> combine_with;  // rule indexes
  Exemptions exempt;
};

struct Pattern {
  int rule = 0;
  WalletFormat wallet = WalletFormat::kNone;
  std::unique_ptr<RE2> re;
};

// An `image_words` matcher: one regex over the image's repository path, lower-cased with every
// separator (/ - _ .) turned into '-', so that a word is found at token boundaries whatever
// separated it. `unless` silences the rule for images that name tooling around a miner.
struct ImageWords {
  int rule = 0;
  std::unique_ptr<RE2> any;
  std::unique_ptr<RE2> unless;  // null when the matcher has no `unless`
};

struct FlagSpec {
  int rule = 0;
  std::string flag;                 // "--algo", "-a"
  std::vector<std::string> values;  // lower case; empty means any value (or none)
  std::vector<bool> value_prefix;   // value ended in '*'
};

struct Policy::Impl {
  std::optional<Enforcement> enforcement;
  std::string fail_for_testing;  // Policy::FailingForTesting: Evaluate throws this when set
  std::vector<RuleInfo> rules;
  std::vector<CompiledRule> compiled;
  Exemptions exemptions;

  std::vector<Pattern> patterns;
  // One set per field class over the patterns of the rules that look at that class; the set's
  // match indexes map back to `patterns` through set_patterns.
  std::array<std::unique_ptr<RE2::Set>, kFieldClassCount> sets;
  std::array<std::vector<int>, kFieldClassCount> set_patterns;

  StringMap<std::vector<int>> image_names;  // last path component -> rules
  StringMap<std::vector<int>> image_paths;  // repository without registry -> rules
  // "account/*" entries: every repository directly or deeper under that path -> rules
  StringMap<std::vector<int>> image_namespaces;
  std::vector<ImageWords> image_words;
  StringMap<std::vector<int>> binaries;  // basename -> rules
  StringMap<std::vector<int>> domains;   // registrable suffix -> rules
  StringMap<std::vector<int>> flags;     // flag -> indexes into flag_specs
  WordFilter binary_filter;              // over binaries
  WordFilter tld_filter;                 // over the last label of domains
  WordFilter flag_filter;                // over flags
  std::vector<FlagSpec> flag_specs;
  std::unordered_map<int, std::vector<int>> ports;  // port -> rules
  std::bitset<65536> port_filter;                   // the keys of `ports`, tested first
  bool has_host_matchers = false;  // domains or ports: worth extracting host tokens
};

}  // namespace stratum_guard::policy
