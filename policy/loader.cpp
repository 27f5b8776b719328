// Policy::Compile: YAML text -> Policy::Impl. Every mistake is a PolicyError that names the
// source, the line, the rule and the problem; nothing is silently ignored (unknown keys
// included), because a typo in a security policy must not quietly disable a rule.

#include <algorithm>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <utility>

// yaml-cpp 0.7's node/impl.h trips GCC 12's -Wdangling-pointer (a false positive in its
// operator[]); the warning is about their header, not this file.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdangling-pointer"
#include <yaml-cpp/yaml.h>
#pragma GCC diagnostic pop

#include "policy/compiled.h"
#include "policy/text.h"

namespace stratum_guard::policy {
namespace {

std::string Lower(std::string s) {
  for (char& c : s) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return s;
}

std::string_view TrimWhitespace(std::string_view s) {
  const std::size_t begin = s.find_first_not_of(" \t\r");
  if (begin == std::string_view::npos) return {};
  return s.substr(begin, s.find_last_not_of(" \t\r") - begin + 1);
}

// The last line that is neither blank nor a comment, and its 1-based number (0 when none).
std::pair<std::string_view, int> LastMeaningfulLine(std::string_view text) {
  std::string_view last;
  int last_number = 0;
  int number = 0;
  while (!text.empty()) {
    const std::size_t end = text.find('\n');
    const std::string_view line = TrimWhitespace(text.substr(0, end));
    ++number;
    if (!line.empty() && line.front() != '#') {
      last = line;
      last_number = number;
    }
    text.remove_prefix(end == std::string_view::npos ? text.size() : end + 1);
  }
  return {last, last_number};
}

int Line(const YAML::Node& node) {
  const YAML::Mark mark = node.Mark();
  return mark.line < 0 ? 0 : mark.line + 1;
}

class Loader {
 public:
  explicit Loader(std::string_view source) : source_(source) {}

  std::unique_ptr<Policy::Impl> Load(std::string_view yaml_text);

 private:
  [[noreturn]] void Fail(const YAML::Node& at, std::string problem) const {
    throw PolicyError(source_, Line(at), rule_id_, std::move(problem));
  }
  [[noreturn]] void Fail(int line, std::string problem) const {
    throw PolicyError(source_, line, rule_id_, std::move(problem));
  }

  // Rejects keys outside `allowed` and duplicate keys; `what` names the map in messages.
  void CheckKeys(const YAML::Node& map, std::string_view what,
                 std::span<const std::string_view> allowed) const;
  void CheckKeys(const YAML::Node& map, std::string_view what,
                 std::initializer_list<std::string_view> allowed) const {
    CheckKeys(map, what, std::span(allowed.begin(), allowed.size()));
  }
  const YAML::Node& RequireMap(const YAML::Node& node, std::string_view what) const;
  std::string Scalar(const YAML::Node& node, std::string_view what) const;
  // A non-empty sequence of scalars.
  std::vector<std::pair<std::string, YAML::Node>> ScalarList(const YAML::Node& node,
                                                             std::string_view what) const;
  Action ParseAction(const YAML::Node& node, std::string_view what) const;
  Exemptions ParseExemptions(const YAML::Node& node, std::string_view what) const;
  void ParseRule(const YAML::Node& node);
  void ParseMatch(const YAML::Node& node, int rule_index);
  void ParsePatterns(const YAML::Node& node, int rule_index);
  void ParseWallets(const YAML::Node& node, int rule_index);
  void ParseImages(const YAML::Node& node, int rule_index);
  void ParseImageWords(const YAML::Node& node, int rule_index);
  std::string ImageWordsRegex(const YAML::Node& list, std::string_view what) const;
  void ParseBinaries(const YAML::Node& node, int rule_index);
  void ParseDomains(const YAML::Node& node, int rule_index);
  void ParseFlags(const YAML::Node& node, int rule_index);
  FlagSpec ParseFlag(const YAML::Node& item, int rule_index) const;
  void ParsePorts(const YAML::Node& node, int rule_index);
  struct MatcherKind {
    std::string_view key;
    void (Loader::*parse)(const YAML::Node& node, int rule_index);
  };
  static const MatcherKind kMatchers[];
  void AddPattern(const std::string& regex, const YAML::Node& at, int rule_index,
                  WalletFormat wallet);

  std::string source_;
  std::string rule_id_;  // the rule being parsed, for errors
  std::unique_ptr<Policy::Impl> impl_ = std::make_unique<Policy::Impl>();
  std::vector<std::pair<YAML::Node, int>> combines_;  // combine nodes to resolve after all ids
};

void Loader::CheckKeys(const YAML::Node& map, std::string_view what,
                       std::span<const std::string_view> allowed) const {
  std::set<std::string> seen;
  for (auto it = map.begin(); it != map.end(); ++it) {
    // A copy: yaml-cpp's iterator hands out a temporary, so a reference would dangle.
    const YAML::Node key = it->first;
    if (!key.IsScalar()) Fail(key, std::string(what) + ": keys must be strings");
    std::string name = key.Scalar();
    if (std::find(allowed.begin(), allowed.end(), name) == allowed.end()) {
      std::string list;
      for (std::string_view a : allowed) {
        if (!list.empty()) list += ", ";
        list += a;
      }
      Fail(key,
           std::string(what) + ": unknown key \"" + name + "\" (expected one of: " + list + ")");
    }
    if (!seen.insert(name).second)
      Fail(key, std::string(what) + ": duplicate key \"" + name + "\"");
  }
}

const YAML::Node& Loader::RequireMap(const YAML::Node& node, std::string_view what) const {
  if (!node.IsMap()) Fail(node, std::string(what) + " must be a mapping");
  return node;
}

std::string Loader::Scalar(const YAML::Node& node, std::string_view what) const {
  if (!node.IsScalar()) Fail(node, std::string(what) + " must be a string");
  return node.Scalar();
}

std::vector<std::pair<std::string, YAML::Node>> Loader::ScalarList(const YAML::Node& node,
                                                                   std::string_view what) const {
  if (!node.IsSequence()) Fail(node, std::string(what) + " must be a list");
  if (node.size() == 0) Fail(node, std::string(what) + " must not be empty");
  std::vector<std::pair<std::string, YAML::Node>> out;
  for (const YAML::Node& item : node) {
    if (!item.IsScalar() || item.Scalar().empty()) {
      Fail(item, std::string(what) + ": every item must be a non-empty string");
    }
    out.emplace_back(item.Scalar(), item);
  }
  return out;
}

Action Loader::ParseAction(const YAML::Node& node, std::string_view what) const {
  std::string name = Scalar(node, what);
  if (name == "deny") return Action::kDeny;
  if (name == "warn") return Action::kWarn;
  if (name == "audit") return Action::kAudit;
  Fail(node,
       std::string(what) + ": unknown action \"" + name + "\" (expected deny, warn or audit)");
}

bool ValidNamespace(std::string_view ns) {
  // A DNS-1123 label, as Kubernetes requires of namespace names.
  if (ns.empty() || ns.size() > 63 || ns.front() == '-' || ns.back() == '-') return false;
  return std::all_of(ns.begin(), ns.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
  });
}

Exemptions Loader::ParseExemptions(const YAML::Node& node, std::string_view what) const {
  Exemptions out;
  RequireMap(node, what);
  CheckKeys(node, what, {"namespaces", "images"});
  if (node["namespaces"]) {
    for (auto& [ns, at] : ScalarList(node["namespaces"], std::string(what) + ".namespaces")) {
      if (!ValidNamespace(ns)) {
        Fail(at, std::string(what) + ".namespaces: \"" + ns + "\" is not a valid namespace name");
      }
      out.namespaces.push_back(ns);
    }
  }
  if (const YAML::Node images = node["images"]) {
    std::string images_what = std::string(what) + ".images";
    RequireMap(images, images_what);
    CheckKeys(images, images_what, {"exact", "prefixes"});
    if (!images["exact"] && !images["prefixes"]) {
      Fail(images, images_what + " must have \"exact\" or \"prefixes\"");
    }
    if (images["exact"]) {
      for (auto& [image, at] : ScalarList(images["exact"], images_what + ".exact")) {
        text::ImageRef ref = text::ParseImage(image);
        if (ref.tag.empty() && ref.digest.empty()) {
          Fail(at, images_what + ".exact: \"" + image +
                       "\" has no tag or digest (use prefixes to exempt a whole repository)");
        }
        out.exact_images.push_back(text::NormalizedImage(image));
      }
    }
    if (images["prefixes"]) {
      for (auto& [prefix, at] : ScalarList(images["prefixes"], images_what + ".prefixes")) {
        std::string p = prefix;
        while (!p.empty() && p.back() == '/') p.pop_back();
        std::size_t last_slash = p.rfind('/');
        std::size_t last_colon = p.rfind(':');
        bool has_tag = last_colon != std::string::npos &&
                       (last_slash == std::string::npos || last_colon > last_slash) &&
                       last_slash != std::string::npos;
        if (p.empty() || p.find('@') != std::string::npos || has_tag) {
          Fail(at, images_what + ".prefixes: \"" + prefix +
                       "\" must be a repository path without tag or digest");
        }
        // One component is a registry ("ghcr.io", "localhost:5000") or a Docker Hub namespace
        // ("acme" covers docker.io/acme/...), never docker.io/library/acme.
        std::string normalized;
        if (last_slash == std::string::npos) {
          bool registry = p.find_first_of(".:") != std::string::npos || p == "localhost";
          normalized = Lower(registry ? p : "docker.io/" + p);
        } else {
          normalized = text::NormalizedRepository(p);
        }
        out.repository_prefixes.push_back(std::move(normalized));
      }
    }
  }
  return out;
}

void Loader::AddPattern(const std::string& regex, const YAML::Node& at, int rule_index,
                        WalletFormat wallet) {
  RE2::Options options;
  options.set_log_errors(false);
  // Multi-line: `^` and `$` anchor at each line, which is also what keeps the joined prefilter
  // scan of a container's strings (policy.cpp) a superset of the per-string scan.
  {
    RE2 plain(regex, options);  // compiled as written first, so errors quote the user's text
    if (!plain.ok()) Fail(at, "match.patterns: invalid regex \"" + regex + "\": " + plain.error());
  }
  auto re = std::make_unique<RE2>("(?m)" + regex, options);
  if (!re->ok()) Fail(at, "match.patterns: invalid regex \"" + regex + "\": " + re->error());
  impl_->patterns.push_back({rule_index, wallet, std::move(re)});
}

bool ValidDomain(std::string_view d) {
  if (d.empty() || d.front() == '.' || d.back() == '.' || d.find('.') == std::string_view::npos ||
      d.find("..") != std::string_view::npos) {
    return false;
  }
  return std::all_of(d.begin(), d.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.';
  });
}

bool ValidImageName(std::string_view n) {
  if (n.empty() || n.front() == '/' || n.back() == '/') return false;
  return std::all_of(n.begin(), n.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' ||
           c == '/';
  });
}

void Loader::ParsePatterns(const YAML::Node& node, int rule_index) {
  for (auto& [regex, at] : ScalarList(node, "match.patterns")) {
    AddPattern(regex, at, rule_index, WalletFormat::kNone);
  }
}

void Loader::ParseWallets(const YAML::Node& node, int rule_index) {
  for (auto& [format, at] : ScalarList(node, "match.wallets")) {
    // Candidates only: the WalletFormat check in Evaluate confirms them.
    if (format == "monero") {
      AddPattern(R"(\b[48][0-9AB][1-9A-HJ-NP-Za-km-z]{93}(?:[1-9A-HJ-NP-Za-km-z]{11})?\b)", at,
                 rule_index, WalletFormat::kMonero);
    } else if (format == "dero") {
      AddPattern(R"(\b(?:dero1q[02-9ac-hj-np-z]{58,62}|dERo[1-9A-HJ-NP-Za-km-z]{94})\b)", at,
                 rule_index, WalletFormat::kDero);
    } else if (format == "bitcoin") {
      AddPattern(R"(\b(?:[13][1-9A-HJ-NP-Za-km-z]{25,34}|bc1[02-9ac-hj-np-z]{25,87})\b)", at,
                 rule_index, WalletFormat::kBitcoin);
    } else if (format == "ethereum") {
      AddPattern(R"(\b0x[0-9a-fA-F]{40}\b)", at, rule_index, WalletFormat::kEthereum);
    } else {
      Fail(at, "match.wallets: unknown wallet format \"" + format +
                   "\" (expected monero, dero, bitcoin or ethereum)");
    }
  }
}

void Loader::ParseImages(const YAML::Node& node, int rule_index) {
  Policy::Impl& impl = *impl_;
  for (auto& [name, at] : ScalarList(node, "match.images")) {
    std::string lower = Lower(name);
    // "account/*": everything an account published (attackers' Docker Hub accounts).
    bool whole_namespace = lower.size() > 2 && lower.ends_with("/*");
    if (whole_namespace) lower.resize(lower.size() - 2);
    if (!ValidImageName(lower)) {
      Fail(at, "match.images: \"" + name +
                   "\" must be a repository name without registry, tag or digest");
    }
    auto& map = whole_namespace                        ? impl.image_namespaces
                : lower.find('/') == std::string::npos ? impl.image_names
                                                       : impl.image_paths;
    map[lower].push_back(rule_index);
  }
}

// One image word as a regex over the normalized path (policy.cpp, ImageWordsText): separators
// are '-', so a word at a token boundary is preceded by the start or '-' and followed by '-' or
// the end. "w*" and "*w" drop one boundary, "a+b" wants both words, in either order.
std::string Loader::ImageWordsRegex(const YAML::Node& list, std::string_view what) const {
  auto normalize = [&](std::string word, const YAML::Node& at) {
    word = Lower(std::move(word));
    for (char& c : word) {
      if (c == '_' || c == '.') c = '-';
    }
    bool ok = !word.empty() && word.front() != '-' && word.back() != '-' &&
              std::all_of(word.begin(), word.end(), [](char c) {
                return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
              });
    if (!ok) {
      Fail(at, std::string(what) + ": \"" + word +
                   "\" must be letters, digits and - _ . (with an optional leading or trailing *, "
                   "or two words joined by +)");
    }
    return word;
  };
  std::string regex;
  for (auto& [entry, at] : ScalarList(list, what)) {
    std::string alternative;
    if (std::size_t plus = entry.find('+'); plus != std::string::npos) {
      std::string a = normalize(entry.substr(0, plus), at);
      std::string b = normalize(entry.substr(plus + 1), at);
      if (a == b) Fail(at, std::string(what) + ": \"" + entry + "\" names one word twice");
      alternative =
          "(?:^|-)" + a + "-(?:.*-)?" + b + "(?:-|$)|(?:^|-)" + b + "-(?:.*-)?" + a + "(?:-|$)";
    } else {
      bool prefix = entry.size() > 1 && entry.back() == '*';
      bool suffix = entry.size() > 1 && entry.front() == '*';
      if (prefix && suffix) {
        Fail(at, std::string(what) + ": \"" + entry +
                     "\" may have a * at one end only (a word anywhere matches too much)");
      }
      std::string word = entry.substr(suffix ? 1 : 0, entry.size() - (prefix || suffix ? 1 : 0));
      word = normalize(std::move(word), at);
      alternative = (suffix ? "" : "(?:^|-)") + word + (prefix ? "" : "(?:-|$)");
    }
    if (!regex.empty()) regex += '|';
    regex += alternative;
  }
  return regex;
}

void Loader::ParseImageWords(const YAML::Node& node, int rule_index) {
  RequireMap(node, "match.image_words");
  CheckKeys(node, "match.image_words", {"any", "unless"});
  if (!node["any"]) Fail(node, "match.image_words has no \"any\"");
  RE2::Options options;
  options.set_log_errors(false);
  auto compile = [&](const YAML::Node& list, std::string_view what) {
    auto re = std::make_unique<RE2>(ImageWordsRegex(list, what), options);
    if (!re->ok()) Fail(list, std::string(what) + ": " + re->error());
    return re;
  };
  ImageWords words;
  words.rule = rule_index;
  words.any = compile(node["any"], "match.image_words.any");
  if (node["unless"]) words.unless = compile(node["unless"], "match.image_words.unless");
  impl_->image_words.push_back(std::move(words));
}

void Loader::ParseBinaries(const YAML::Node& node, int rule_index) {
  for (auto& [name, at] : ScalarList(node, "match.binaries")) {
    if (name.find('/') != std::string::npos || name.find(' ') != std::string::npos) {
      Fail(at, "match.binaries: \"" + name + "\" must be a file name without a path");
    }
    impl_->binaries[Lower(name)].push_back(rule_index);
    impl_->binary_filter.Add(Lower(name));
  }
}

void Loader::ParseDomains(const YAML::Node& node, int rule_index) {
  Policy::Impl& impl = *impl_;
  for (auto& [domain, at] : ScalarList(node, "match.domains")) {
    std::string lower = Lower(domain);
    if (!ValidDomain(lower)) {
      Fail(at, "match.domains: \"" + domain + "\" is not a domain name (like pool.example.com)");
    }
    impl.domains[lower].push_back(rule_index);
    impl.tld_filter.Add(lower.substr(lower.rfind('.') + 1));
    impl.has_host_matchers = true;
  }
}

FlagSpec Loader::ParseFlag(const YAML::Node& item, int rule_index) const {
  FlagSpec spec;
  spec.rule = rule_index;
  // Bound once: assigning a YAML::Node later would overwrite the node it refers to.
  const YAML::Node flag_node = item.IsMap() ? item["flag"] : item;
  if (item.IsMap()) {
    CheckKeys(item, "match.flags item", {"flag", "values"});
    if (!flag_node) Fail(item, "match.flags item: missing \"flag\"");
    if (item["values"]) {
      for (auto& [value, at] : ScalarList(item["values"], "match.flags values")) {
        std::string v = Lower(value);
        bool prefix = v.size() > 1 && v.back() == '*';
        if (prefix) v.pop_back();
        spec.values.push_back(v);
        spec.value_prefix.push_back(prefix);
      }
    }
  } else if (!item.IsScalar()) {
    Fail(item, "match.flags: every item must be a flag or a {flag, values} mapping");
  }
  spec.flag = Scalar(flag_node, "match.flags flag");
  if (spec.flag.size() < 2 || spec.flag[0] != '-' || spec.flag.find('=') != std::string::npos) {
    Fail(flag_node, "match.flags: \"" + spec.flag + "\" must start with '-' and have no '='");
  }
  return spec;
}

void Loader::ParseFlags(const YAML::Node& node, int rule_index) {
  if (!node.IsSequence()) Fail(node, "match.flags must be a list");
  if (node.size() == 0) Fail(node, "match.flags must not be empty");
  Policy::Impl& impl = *impl_;
  for (const YAML::Node& item : node) {
    FlagSpec spec = ParseFlag(item, rule_index);
    impl.flags[spec.flag].push_back(static_cast<int>(impl.flag_specs.size()));
    impl.flag_filter.Add(spec.flag);
    impl.flag_specs.push_back(std::move(spec));
  }
}

void Loader::ParsePorts(const YAML::Node& node, int rule_index) {
  if (!node.IsSequence()) Fail(node, "match.ports must be a list");
  if (node.size() == 0) Fail(node, "match.ports must not be empty");
  Policy::Impl& impl = *impl_;
  for (const YAML::Node& item : node) {
    int port = 0;
    bool ok = item.IsScalar();
    if (ok) {
      try {
        port = item.as<int>();
      } catch (const YAML::Exception&) {
        ok = false;
      }
    }
    if (!ok || port < 1 || port > 65535) {
      Fail(item, "match.ports: \"" + (item.IsScalar() ? item.Scalar() : std::string("?")) +
                     "\" is not a port number (1-65535)");
    }
    impl.ports[port].push_back(rule_index);
    impl.port_filter.set(static_cast<std::size_t>(port));
    impl.has_host_matchers = true;
  }
}

// The matcher kinds a rule's `match:` may hold: a new kind is a line here and its parser.
const Loader::MatcherKind Loader::kMatchers[] = {
    {"patterns", &Loader::ParsePatterns}, {"wallets", &Loader::ParseWallets},
    {"images", &Loader::ParseImages},     {"image_words", &Loader::ParseImageWords},
    {"binaries", &Loader::ParseBinaries}, {"domains", &Loader::ParseDomains},
    {"flags", &Loader::ParseFlags},       {"ports", &Loader::ParsePorts},
};

void Loader::ParseMatch(const YAML::Node& node, int rule_index) {
  RequireMap(node, "match");
  std::vector<std::string_view> keys;
  for (const MatcherKind& kind : kMatchers) keys.push_back(kind.key);
  CheckKeys(node, "match", keys);
  if (node.size() == 0) Fail(node, "match must have at least one matcher");
  for (const MatcherKind& kind : kMatchers) {
    if (const YAML::Node matcher = node[std::string(kind.key)])
      (this->*kind.parse)(matcher, rule_index);
  }
}

void Loader::ParseRule(const YAML::Node& node) {
  rule_id_.clear();
  RequireMap(node, "rule");
  if (node["id"] && node["id"].IsScalar()) rule_id_ = node["id"].Scalar();
  CheckKeys(node, "rule",
            {"id", "description", "action", "finding", "fields", "match", "combine", "exempt"});
  CompiledRule rule;
  if (!node["id"]) Fail(node, "rule has no \"id\"");
  rule.info.id = Scalar(node["id"], "id");
  const std::string& id = rule.info.id;
  // Ids are URL anchors in docs and deny messages: keep them to a safe alphabet.
  if (id.empty() || id.size() > 63 ||
      !std::all_of(
          id.begin(), id.end(),
          [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'; }) ||
      id.front() == '-') {
    Fail(node["id"], "id \"" + id + "\" must be lower-case letters, digits and '-' (at most 63)");
  }
  for (const RuleInfo& other : impl_->rules) {
    if (other.id == id) Fail(node["id"], "duplicate rule id \"" + id + "\"");
  }
  if (!node["description"]) Fail(node, "rule has no \"description\"");
  rule.info.description = Scalar(node["description"], "description");
  if (!node["action"]) Fail(node, "rule has no \"action\"");
  rule.info.action = ParseAction(node["action"], "action");
  rule.finding = node["finding"] ? Scalar(node["finding"], "finding") : "a suspicious value";
  if (const YAML::Node fields = node["fields"]) {
    rule.fields = 0;
    for (auto& [field, at] : ScalarList(fields, "fields")) {
      if (field == "command") {
        rule.fields |= FieldBit(FieldClass::kCommand);
      } else if (field == "args") {
        rule.fields |= FieldBit(FieldClass::kArgs);
      } else if (field == "env") {
        rule.fields |= FieldBit(FieldClass::kEnv);
      } else {
        Fail(at, "fields: unknown field \"" + field + "\" (expected command, args or env)");
      }
    }
  }
  if (node["exempt"]) rule.exempt = ParseExemptions(node["exempt"], "exempt");
  int index = static_cast<int>(impl_->compiled.size());
  if (!node["match"]) Fail(node, "rule has no \"match\"");
  impl_->rules.push_back(rule.info);
  impl_->compiled.push_back(std::move(rule));
  ParseMatch(node["match"], index);
  if (node["combine"]) combines_.emplace_back(node["combine"], index);
}

std::unique_ptr<Policy::Impl> Loader::Load(std::string_view yaml_text) {
  // Before the YAML: a cut-off file is most often also broken YAML, and the operator should
  // read why it is refused rather than a syntax error at its last line.
  if (auto [last, line] = LastMeaningfulLine(yaml_text); last != kPolicyEndLine) {
    Fail(line, "the policy does not end with \"" + std::string(kPolicyEndLine) +
                   "\": the file is incomplete (cut off, or read while being written), or its "
                   "last line is missing");
  }
  YAML::Node root;
  try {
    root = YAML::Load(std::string(yaml_text));
  } catch (const YAML::Exception& e) {
    Fail(e.mark.line < 0 ? 0 : e.mark.line + 1, "YAML syntax error: " + e.msg);
  }
  if (!root.IsMap()) Fail(root, "a policy must be a mapping with \"version\" and \"rules\"");
  CheckKeys(root, "policy", {"version", "enforcement", "exemptions", "rules", kPolicyEndKey});
  // The line above may belong to another YAML document of the file (after a `---`).
  const YAML::Node end = root[std::string(kPolicyEndKey)];
  if (!end || !end.IsScalar() || end.Scalar() != kPolicyEndValue) {
    Fail(end ? end : root, "the policy mapping has no \"" + std::string(kPolicyEndLine) +
                               "\" (it must be its last key, in the file's first YAML document)");
  }
  if (!root["version"]) Fail(root, "policy has no \"version\" (use version: 1)");
  if (Scalar(root["version"], "version") != "1") {
    Fail(root["version"], "unsupported version \"" + root["version"].Scalar() + "\" (use 1)");
  }
  if (const YAML::Node enforcement = root["enforcement"]) {
    const std::string name = Scalar(enforcement, "enforcement");
    impl_->enforcement = ParseEnforcement(name);
    if (!impl_->enforcement) {
      Fail(enforcement, "unknown enforcement \"" + name + "\" (expected enforce, warn or audit)");
    }
  }
  if (root["exemptions"]) impl_->exemptions = ParseExemptions(root["exemptions"], "exemptions");
  const YAML::Node rules = root["rules"];
  if (!rules) Fail(root, "policy has no \"rules\"");
  if (!rules.IsSequence()) Fail(rules, "rules must be a list");
  if (rules.size() == 0) Fail(rules, "rules must not be empty");
  for (const YAML::Node& rule : rules) ParseRule(rule);

  for (auto& [node, index] : combines_) {
    CompiledRule& rule = impl_->compiled[index];
    rule_id_ = rule.info.id;
    RequireMap(node, "combine");
    CheckKeys(node, "combine", {"with", "action"});
    if (!node["with"]) Fail(node, "combine has no \"with\"");
    if (!node["action"]) Fail(node, "combine has no \"action\"");
    rule.combine_action = ParseAction(node["action"], "combine.action");
    if (rule.combine_action <= rule.info.action) {
      Fail(node["action"], "combine.action must be stronger than the rule's own action");
    }
    for (auto& [other, at] : ScalarList(node["with"], "combine.with")) {
      if (other == rule.info.id) {
        rule.combines_with_itself = true;  // two different hits of this rule escalate
        continue;
      }
      auto it = std::find_if(impl_->rules.begin(), impl_->rules.end(),
                             [&](const RuleInfo& r) { return r.id == other; });
      if (it == impl_->rules.end()) Fail(at, "combine.with: unknown rule \"" + other + "\"");
      rule.combine_with.push_back(static_cast<int>(it - impl_->rules.begin()));
    }
    rule.combines = true;
  }
  rule_id_.clear();

  // One RE2::Set per field class: a string is scanned once for all patterns of its class.
  for (int cls = 0; cls < kFieldClassCount; ++cls) {
    RE2::Options options;
    options.set_log_errors(false);
    auto set = std::make_unique<RE2::Set>(options, RE2::UNANCHORED);
    for (int p = 0; p < static_cast<int>(impl_->patterns.size()); ++p) {
      const Pattern& pattern = impl_->patterns[p];
      if ((impl_->compiled[pattern.rule].fields & (1 << cls)) == 0) continue;
      std::string error;
      if (set->Add(pattern.re->pattern(), &error) < 0) {
        Fail(0, "pattern \"" + pattern.re->pattern() + "\": " + error);
      }
      impl_->set_patterns[cls].push_back(p);
    }
    if (impl_->set_patterns[cls].empty()) continue;
    if (!set->Compile()) Fail(0, "the patterns are too large to compile together");
    impl_->sets[cls] = std::move(set);
  }
  return std::move(impl_);
}

}  // namespace

bool Exemptions::CoversNamespace(std::string_view ns) const {
  return std::find(namespaces.begin(), namespaces.end(), ns) != namespaces.end();
}

bool Exemptions::CoversImage(std::string_view image) const {
  if (exact_images.empty() && repository_prefixes.empty()) return false;
  if (!exact_images.empty()) {
    std::string normalized = text::NormalizedImage(image);
    if (std::find(exact_images.begin(), exact_images.end(), normalized) != exact_images.end()) {
      return true;
    }
  }
  std::string repository = text::NormalizedRepository(image);
  for (const std::string& prefix : repository_prefixes) {
    // At a path boundary: "ghcr.io/acme" covers ghcr.io/acme/x, not ghcr.io/acme-evil/x.
    if (repository == prefix ||
        (repository.size() > prefix.size() && repository.starts_with(prefix) &&
         repository[prefix.size()] == '/')) {
      return true;
    }
  }
  return false;
}

std::unique_ptr<Policy::Impl> CompilePolicyImpl(std::string_view yaml_text,
                                                std::string_view source) {
  return Loader(source).Load(yaml_text);
}

}  // namespace stratum_guard::policy
