// Policy::Evaluate: a workload in, a verdict out. Reads only the compiled snapshot, so any
// number of threads may evaluate at once. The common case (a benign pod) costs one RE2::Set scan
// per string plus a few hash lookups per word, and allocates only the verdict and small scratch
// vectors; expansion and decoding copy text only when a string actually contains `$` or a blob.

#include <algorithm>
#include <array>
#include <cstring>
#include <stdexcept>

#include "policy/compiled.h"
#include "policy/text.h"

namespace stratum_guard::policy {
namespace embedded {
std::string_view DefaultPolicyText();
}

std::unique_ptr<Policy::Impl> CompilePolicyImpl(std::string_view yaml_text,
                                                std::string_view source);

namespace {

constexpr int kMaxDecodeDepth = 2;                // blob inside a blob, no deeper
constexpr std::size_t kDecodeBudget = 64 * 1024;  // decoded bytes per container
constexpr std::size_t kMaxEvidence = 80;

enum class FieldKind : std::uint8_t { kImage, kCommand, kArgs, kEnv };

struct FieldRef {
  FieldKind kind = FieldKind::kImage;
  int index = 0;
  int position = 0;  // image, command..., args..., env...: the order of findings
};

FieldClass ClassOf(FieldKind kind) {
  switch (kind) {
    case FieldKind::kCommand:
      return FieldClass::kCommand;
    case FieldKind::kEnv:
      return FieldClass::kEnv;
    default:
      return FieldClass::kArgs;
  }
}

struct Hit {
  int rule = 0;
  FieldRef field;
  std::string evidence;
  std::string_view note;  // how the evidence was found when not literally: "decoded from base64"
  Action action = Action::kAudit;
  int partner = -1;  // the hit that escalated this one
  // Another, different piece of evidence of the same rule in the same field (a second miner
  // option in one script): what a rule that combines with itself escalates on.
  bool second_evidence = false;
};

struct ScanWord {
  std::string_view text;
  bool command_position = false;
  FieldRef field;
  std::string_view note;
};

bool HasUpper(std::string_view s) {
  return std::any_of(s.begin(), s.end(), [](char c) { return c >= 'A' && c <= 'Z'; });
}

bool MixedCase(std::string_view s) {
  bool lower = false, upper = false;
  for (char c : s) {
    lower |= c >= 'a' && c <= 'z';
    upper |= c >= 'A' && c <= 'Z';
  }
  return lower && upper;
}

// Confirms a wallet candidate. Random base58 has both cases; a hex digest or an ordinary word of
// the same length usually does not, and a wallet must never be guessed from those.
bool ValidWallet(WalletFormat format, std::string_view m) {
  switch (format) {
    case WalletFormat::kNone:
      return true;
    case WalletFormat::kMonero:
      return MixedCase(m);
    case WalletFormat::kDero:
      return m.starts_with("dero1") || MixedCase(m.substr(4));
    case WalletFormat::kBitcoin:
      return m.starts_with("bc1") || MixedCase(m);
    case WalletFormat::kEthereum:
      return m.find_first_not_of("0x") != std::string_view::npos;
  }
  return false;
}

// Letters, digits, '-' and '.': one table lookup per byte, as ScanHosts reads long strings.
constexpr std::array<bool, 256> kHostChar = [] {
  std::array<bool, 256> t{};
  for (int c = 0; c < 256; ++c) {
    t[c] = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.';
  }
  return t;
}();
bool IsHostChar(char c) { return kHostChar[static_cast<unsigned char>(c)]; }

// Whether a word may hold a host worth looking up: a dot (a domain) or a colon (host:port).
bool HasDotOrColon(std::string_view s) {
  for (char c : s) {
    if (c == '.' || c == ':') return true;
  }
  return false;
}

bool IsShell(std::string_view name) {
  return name == "sh" || name == "bash" || name == "ash" || name == "dash" || name == "zsh" ||
         name == "ksh" || name == "mksh";
}

// The flag that makes an interpreter run its next argument as code, or "" for none.
std::string_view InlineCodeFlag(std::string_view name) {
  if (name.starts_with("python") || name == "pypy" || name == "pypy3") return "-c";
  if (name == "perl" || name == "ruby" || name == "node" || name == "nodejs") return "-e";
  if (name == "php") return "-r";
  return {};
}

// Scans the containers of one workload. Scratch buffers live here and are reused from one
// container to the next, and (through ThreadScanner) from one evaluation to the next on the same
// thread, so a benign pod costs next to no allocation.
class Scanner {
 public:
  void Reset(const Policy::Impl& p) { p_ = &p; }

  void Scan(const Container& c);
  std::vector<Hit>& hits() { return hits_; }

 private:
  void AddHit(int rule, const FieldRef& field, std::string_view evidence, std::string_view note);
  void ScanImage(std::string_view image);
  // `prefiltered`: the text was part of this container's combined prefilter scan, so it can be
  // skipped when that scan found nothing for its field class.
  void ScanText(std::string_view text, const FieldRef& field, std::string_view note,
                bool prefiltered = false);
  void ResolveEnv(const Container& c);
  void CollectCommandLine(const Container& c);
  void Prefilter();
  void ScanEnv(int env_base);
  void ScanCommandLine();
  void ScanWords(const std::vector<ScanWord>& words, bool in_script);
  void ScanHosts(std::string_view text, const FieldRef& field, std::string_view note);
  void ScanScript(std::string_view script, const FieldRef& field, int depth, std::string_view note);
  std::string_view Keep(std::string s) {
    arena_.push_back(std::make_unique<std::string>(std::move(s)));
    return *arena_.back();
  }
  std::optional<std::string_view> EnvLookup(std::string_view name) const {
    for (std::size_t i = env_.size(); i-- > 0;) {
      if (env_[i].first == name) return env_[i].second;
    }
    return std::nullopt;
  }

  struct Element {
    std::string_view text;
    FieldRef field;
    std::string_view note;
  };

  const Policy::Impl* p_ = nullptr;
  std::vector<Hit> hits_;
  std::vector<Element> elements_;
  std::vector<text::Word> split_;
  // Per decode depth (plus one for shell expansion), reused.
  std::array<std::vector<text::Word>, kMaxDecodeDepth + 2> script_split_;
  std::array<std::vector<ScanWord>, kMaxDecodeDepth + 2> script_words_;
  std::string combined_;
  std::array<bool, kFieldClassCount> may_match_{};
  std::vector<std::unique_ptr<std::string>> arena_;                 // expanded and decoded texts
  std::vector<std::pair<std::string_view, std::string_view>> env_;  // literal env, resolved
  std::vector<int> env_index_;  // env_[i] is c.env[env_index_[i]]
  std::vector<ScanWord> words_;
  std::vector<int> set_matches_;
  std::string lower_;
  std::string image_words_;
  std::vector<std::string> decoded_;
  std::size_t decode_budget_ = kDecodeBudget;
};

void Scanner::AddHit(int rule, const FieldRef& field, std::string_view evidence,
                     std::string_view note) {
  if (field.kind != FieldKind::kImage &&
      (p_->compiled[rule].fields & FieldBit(ClassOf(field.kind))) == 0) {
    return;
  }
  for (Hit& h : hits_) {
    if (h.rule == rule && h.field.position == field.position) {  // one per rule and field
      if (!h.second_evidence && text::Truncate(evidence, kMaxEvidence) != h.evidence) {
        h.second_evidence = true;
      }
      return;
    }
  }
  Hit hit;
  hit.rule = rule;
  hit.field = field;
  hit.evidence = text::Truncate(evidence, kMaxEvidence);
  hit.note = note;
  hit.action = p_->compiled[rule].info.action;
  hits_.push_back(std::move(hit));
}

void Scanner::ScanImage(std::string_view image) {
  if (image.empty()) return;
  text::ImageRef ref = text::ParseImage(image);
  FieldRef field{FieldKind::kImage, 0, 0};
  if (!p_->image_words.empty()) {
    // The repository path as words: lower case, every separator a '-' ("ghcr.io/a/XMRig_x" is
    // "a-xmrig-x"); the registry and the tag are not names of the software.
    std::string& words = image_words_;
    words.assign(ref.repository);
    for (char& c : words) {
      if (c >= 'A' && c <= 'Z') {
        c = static_cast<char>(c - 'A' + 'a');
      } else if (c == '/' || c == '_' || c == '.') {
        c = '-';
      }
    }
    for (const ImageWords& w : p_->image_words) {
      if (RE2::PartialMatch(words, *w.any) &&
          (w.unless == nullptr || !RE2::PartialMatch(words, *w.unless))) {
        AddHit(w.rule, field, image, {});
      }
    }
  }
  if (p_->image_names.empty() && p_->image_paths.empty() && p_->image_namespaces.empty()) return;
  std::string_view name = HasUpper(ref.name) ? text::ToLower(ref.name, lower_) : ref.name;
  if (auto it = p_->image_names.find(name); it != p_->image_names.end()) {
    for (int rule : it->second) AddHit(rule, field, image, {});
  }
  if (p_->image_paths.empty() && p_->image_namespaces.empty()) return;
  std::string_view path = ref.repository;
  if (path.starts_with("library/")) path.remove_prefix(8);
  if (HasUpper(path)) path = text::ToLower(path, lower_);
  if (auto it = p_->image_paths.find(path); it != p_->image_paths.end()) {
    for (int rule : it->second) AddHit(rule, field, image, {});
  }
  // Each enclosing namespace: "a/b/c" -> "a/b", "a".
  for (std::size_t slash = path.rfind('/'); slash != std::string_view::npos && slash > 0;
       slash = path.rfind('/', slash - 1)) {
    if (auto it = p_->image_namespaces.find(path.substr(0, slash));
        it != p_->image_namespaces.end()) {
      for (int rule : it->second) AddHit(rule, field, image, {});
    }
  }
}

void Scanner::ScanText(std::string_view text, const FieldRef& field, std::string_view note,
                       bool prefiltered) {
  const int cls = static_cast<int>(ClassOf(field.kind));
  const RE2::Set* set = p_->sets[cls].get();
  if (set == nullptr || text.empty() || (prefiltered && !may_match_[cls])) return;
  set_matches_.clear();
  if (!set->Match(text, &set_matches_)) return;
  std::sort(set_matches_.begin(), set_matches_.end());
  for (int index : set_matches_) {
    const Pattern& pattern = p_->patterns[p_->set_patterns[cls][index]];
    re2::StringPiece input(text.data(), text.size());
    // A pattern with a capturing group names its evidence with the first group (the host, not
    // the separator the pattern needed before it).
    std::array<re2::StringPiece, 2> match;
    const int groups = pattern.re->NumberOfCapturingGroups() > 0 ? 2 : 1;
    std::size_t pos = 0;
    // A wallet-shaped word may fail its check while a later one passes: try a few.
    for (int tries = 0; tries < 8 && pos <= text.size(); ++tries) {
      if (!pattern.re->Match(input, pos, text.size(), RE2::UNANCHORED, match.data(), groups)) {
        break;
      }
      std::string_view m(match[0].data(), match[0].size());
      if (ValidWallet(pattern.wallet, m)) {
        const re2::StringPiece& shown =
            groups == 2 && match[1].data() != nullptr ? match[1] : match[0];
        AddHit(pattern.rule, field, std::string_view(shown.data(), shown.size()), note);
        break;
      }
      pos = static_cast<std::size_t>(match[0].data() - text.data()) +
            std::max<std::size_t>(1, m.size());
    }
  }
}

void Scanner::ScanHosts(std::string_view text, const FieldRef& field, std::string_view note) {
  std::size_t i = 0;
  const std::size_t n = text.size();
  while (i < n) {
    if (!IsHostChar(text[i])) {
      ++i;
      continue;
    }
    std::size_t start = i;
    while (i < n && IsHostChar(text[i])) ++i;
    std::size_t end = i;
    while (start < end && (text[start] == '-' || text[start] == '.')) ++start;
    while (end > start && (text[end - 1] == '-' || text[end - 1] == '.')) --end;
    if (start == end) continue;
    std::string_view host = text.substr(start, end - start);
    // host:port, and where the token ends (for evidence).
    int port = 0;
    std::size_t token_end = end;
    if (end == i && i + 1 < n && text[i] == ':' && text[i + 1] >= '0' && text[i + 1] <= '9') {
      std::size_t k = i + 1;
      while (k < n && k - i <= 5 && text[k] >= '0' && text[k] <= '9') {
        port = port * 10 + (text[k] - '0');
        ++k;
      }
      if (k < n && text[k] >= '0' && text[k] <= '9') port = 0;  // more than 5 digits
      token_end = k;
    }
    std::string_view token = text.substr(start, token_end - start);
    bool dotted = host.find('.') != std::string_view::npos;
    if (dotted && !p_->domains.empty() &&
        p_->tld_filter.MayContain(host.substr(host.rfind('.') + 1))) {
      std::string_view lower = HasUpper(host) ? text::ToLower(host, lower_) : host;
      // Walk the labels: the whole host, then each suffix after a dot. Matching whole labels
      // only is what keeps evil-supportxmr.com (and supportxmr.com.example) apart from
      // supportxmr.com.
      std::string_view suffix = lower;
      while (true) {
        if (auto it = p_->domains.find(suffix); it != p_->domains.end()) {
          for (int rule : it->second) AddHit(rule, field, token, note);
          break;
        }
        std::size_t dot = suffix.find('.');
        if (dot == std::string_view::npos) break;
        suffix.remove_prefix(dot + 1);
      }
    }
    // Ports past 65535 (five digits parse up to 99999) are in no list.
    if (port > 0 && port < 65536 && p_->port_filter[static_cast<std::size_t>(port)]) {
      bool has_letter = std::any_of(host.begin(), host.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
      });
      // A web URL on port 3333 is a web app (Grafana), not a pool: skip http(s) and ws(s).
      bool web = false;
      if (start >= 3 && text.substr(start - 3, 3) == "://") {
        std::size_t s = start - 3;
        while (s > 0 &&
               (std::isalnum(static_cast<unsigned char>(text[s - 1])) != 0 || text[s - 1] == '+')) {
          --s;
        }
        std::string_view scheme = text.substr(s, start - 3 - s);
        web = scheme == "http" || scheme == "https" || scheme == "ws" || scheme == "wss" ||
              scheme == "HTTP" || scheme == "HTTPS";
      }
      if ((has_letter || dotted) && !web) {
        if (auto it = p_->ports.find(port); it != p_->ports.end()) {
          for (int rule : it->second) AddHit(rule, field, token, note);
        }
      }
    }
    i = std::max(i, token_end);
  }
}

void Scanner::ScanWords(const std::vector<ScanWord>& words, bool in_script) {
  for (std::size_t i = 0; i < words.size(); ++i) {
    const ScanWord& w = words[i];
    if (w.text.empty()) continue;
    std::string_view base =
        w.command_position || in_script ? text::Basename(w.text) : std::string_view();
    if (p_->binary_filter.MayContain(base)) {
      if (HasUpper(base)) base = text::ToLower(base, lower_);
      if (auto it = p_->binaries.find(base); it != p_->binaries.end()) {
        for (int rule : it->second) AddHit(rule, w.field, w.text, w.note);
      }
    }
    if (w.text[0] == '-' && !p_->flags.empty()) {
      std::size_t eq = w.text.find('=');
      std::string_view name = w.text.substr(0, eq);
      auto it = p_->flag_filter.MayContain(name) ? p_->flags.find(name) : p_->flags.end();
      if (it != p_->flags.end()) {
        std::string_view value;
        bool joined = eq != std::string_view::npos;
        if (joined) {
          value = w.text.substr(eq + 1);
        } else if (i + 1 < words.size()) {
          value = words[i + 1].text;
        }
        for (int spec_index : it->second) {
          const FlagSpec& spec = p_->flag_specs[spec_index];
          if (spec.values.empty()) {
            AddHit(spec.rule, w.field, w.text, w.note);
            continue;
          }
          std::string lower_value(value);
          for (char& c : lower_value)
            c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
          for (std::size_t v = 0; v < spec.values.size(); ++v) {
            bool ok = spec.value_prefix[v]
                          ? std::string_view(lower_value).starts_with(spec.values[v])
                          : lower_value == spec.values[v];
            if (ok) {
              std::string evidence(name);
              evidence += joined ? "=" : " ";
              evidence += value;
              AddHit(spec.rule, w.field, evidence, w.note);
              break;
            }
          }
        }
      }
    }
    // A host worth looking up has a dot (a domain) or a colon (host:port).
    if (p_->has_host_matchers && HasDotOrColon(w.text)) {
      ScanHosts(w.text, w.field, w.note);
    }
  }
}

void Scanner::ScanScript(std::string_view script, const FieldRef& field, int depth,
                         std::string_view note) {
  std::vector<ScanWord>& words = script_words_[depth];
  words.clear();
  std::vector<text::Word>& split = script_split_[depth];
  split.clear();
  text::SplitWords(script, true, split);
  for (const text::Word& w : split) words.push_back({w.text, w.command_position, field, note});
  ScanWords(words, true);

  if (script.find('$') != std::string_view::npos) {
    // Variables set in the script itself (P=stratum+tcp://...; xmrig -o $P) win over the
    // container's env, as they would in the shell.
    std::vector<std::pair<std::string_view, std::string_view>> local;
    for (const ScanWord& w : words) {
      std::size_t eq = w.text.find('=');
      if (eq != std::string_view::npos && eq > 0 && w.text[0] != '-') {
        local.emplace_back(w.text.substr(0, eq), w.text.substr(eq + 1));
      }
    }
    auto lookup = [&](std::string_view name) -> std::optional<std::string_view> {
      for (std::size_t i = local.size(); i-- > 0;) {
        if (local[i].first == name) return local[i].second;
      }
      return EnvLookup(name);
    };
    if (auto expanded = text::ExpandShell(script, lookup)) {
      std::string_view kept = Keep(std::move(*expanded));
      constexpr std::string_view kNote = "after shell variable expansion";
      ScanText(kept, field, kNote);
      // Slot depth + 1 is free until the decoding below recurses into it.
      std::vector<text::Word>& expanded_split = script_split_[depth + 1];
      expanded_split.clear();
      text::SplitWords(kept, true, expanded_split);
      std::vector<ScanWord>& expanded_words = script_words_[depth + 1];
      expanded_words.clear();
      for (const text::Word& w : expanded_split) {
        expanded_words.push_back({w.text, w.command_position, field, kNote});
      }
      ScanWords(expanded_words, true);
    }
  }

  if (depth >= kMaxDecodeDepth || decode_budget_ == 0) return;
  std::vector<std::string> decoded;
  text::DecodeBase64Blobs(script, &decode_budget_, decoded);
  std::size_t base64_count = decoded.size();
  text::DecodeHexBlobs(script, &decode_budget_, decoded);
  for (std::size_t i = 0; i < decoded.size(); ++i) {
    std::string_view note_for = i < base64_count ? "decoded from base64" : "decoded from hex";
    std::string_view kept = Keep(std::move(decoded[i]));
    ScanText(kept, field, note_for);
    ScanScript(kept, field, depth + 1, note_for);
  }
}

void Scanner::Prefilter() {
  // One RE2::Set scan per field class over all of the container's strings of that class, joined
  // by newlines, instead of one per string: the per-call cost of RE2 (its DFA cache lock, the
  // setup) dominates on short strings. Patterns are compiled multi-line, so `^` and `$` still
  // anchor at each string; a match found here is only a hint, confirmed string by string.
  for (int cls = 0; cls < kFieldClassCount; ++cls) {
    may_match_[cls] = false;
    const RE2::Set* set = p_->sets[cls].get();
    if (set == nullptr) continue;
    combined_.clear();
    if (cls == static_cast<int>(FieldClass::kEnv)) {
      for (const auto& var : env_) {
        combined_ += var.second;
        combined_ += '\n';
      }
    } else {
      for (const Element& e : elements_) {
        if (static_cast<int>(ClassOf(e.field.kind)) != cls) continue;
        combined_ += e.text;
        combined_ += '\n';
      }
    }
    if (combined_.empty()) continue;
    may_match_[cls] = set->Match(combined_, nullptr);
  }
}

void Scanner::Scan(const Container& c) {
  hits_.clear();
  arena_.clear();
  env_.clear();
  env_index_.clear();
  words_.clear();
  decode_budget_ = kDecodeBudget;

  ScanImage(c.image);
  ResolveEnv(c);
  CollectCommandLine(c);
  Prefilter();
  ScanEnv(1 + static_cast<int>(c.command.size() + c.args.size()));
  ScanCommandLine();
}

void Scanner::ResolveEnv(const Container& c) {
  // The container's literal env, with $(VAR) references to earlier variables expanded as the
  // kubelet does. valueFrom variables are unknown here and stay unexpanded wherever used.
  env_.reserve(c.env.size());
  auto env_lookup = [this](std::string_view name) { return EnvLookup(name); };
  for (std::size_t k = 0; k < c.env.size(); ++k) {
    const EnvVar& var = c.env[k];
    if (!var.has_value) continue;
    std::string_view value = var.value;
    if (value.find('$') != std::string_view::npos) {
      value = Keep(text::ExpandKubelet(value, env_lookup));
    }
    env_.emplace_back(var.name, value);
    env_index_.push_back(static_cast<int>(k));
  }
}

void Scanner::CollectCommandLine(const Container& c) {
  auto env_lookup = [this](std::string_view name) { return EnvLookup(name); };
  // command then args, as one command line (the kubelet runs command + args).
  std::vector<Element>& elements = elements_;
  elements.clear();
  for (std::size_t i = 0; i < c.command.size() + c.args.size(); ++i) {
    bool is_command = i < c.command.size();
    std::string_view raw = is_command ? c.command[i] : c.args[i - c.command.size()];
    FieldRef field{is_command ? FieldKind::kCommand : FieldKind::kArgs,
                   static_cast<int>(is_command ? i : i - c.command.size()),
                   1 + static_cast<int>(i)};
    std::string_view note;
    if (raw.find("$(") != std::string_view::npos) {
      std::string expanded = text::ExpandKubelet(raw, env_lookup);
      if (expanded != raw) {
        raw = Keep(std::move(expanded));
        note = "after expanding $(VAR) from env";
      }
    }
    elements.push_back({raw, field, note});
  }
}

// Each literal env value, as text and as words. `env_base` is the position of env[0] after
// the command line, so that findings keep the container's field order.
void Scanner::ScanEnv(int env_base) {
  for (std::size_t e = 0; e < env_.size(); ++e) {
    const int k = env_index_[e];
    std::string_view value = env_[e].second;
    FieldRef field{FieldKind::kEnv, k, env_base + k};
    ScanText(value, field, {}, true);
    split_.clear();
    text::SplitWords(value, false, split_);
    words_.clear();
    for (const text::Word& w : split_) words_.push_back({w.text, false, field, {}});
    ScanWords(words_, false);
    // A base64 blob in an env value (a script or pool config handed to `base64 -d | sh`, or to
    // the miner itself) is read like one in a script. Most values have no 16-character run of
    // base64 letters, and DecodeBase64Blobs returns at once for them.
    if (decode_budget_ == 0 || value.size() < 16) continue;
    decoded_.clear();
    text::DecodeBase64Blobs(value, &decode_budget_, decoded_);
    for (std::string& d : decoded_) {
      constexpr std::string_view kNote = "decoded from base64";
      std::string_view kept = Keep(std::move(d));
      ScanText(kept, field, kNote);
      ScanScript(kept, field, 1, kNote);
    }
  }
}

// The command line word by word, following wrappers (env, nice, timeout, busybox) to the
// command and shells or interpreters to the inline script they run.
void Scanner::ScanCommandLine() {
  const std::vector<Element>& elements = elements_;
  words_.clear();
  bool command_position = true;
  bool in_wrapper = false;
  std::string_view code_flag;  // set after a shell or interpreter: the flag that precedes code
  bool next_is_script = false;
  for (const Element& e : elements) {
    ScanText(e.text, e.field, e.note, true);
    if (next_is_script) {
      next_is_script = false;
      ScanScript(e.text, e.field, 0, e.note);
      continue;
    }
    if (!code_flag.empty()) {
      if (e.text.starts_with("-") && !e.text.starts_with("--")) {
        bool is_code_flag =
            code_flag == "sh" ? e.text.find('c') != std::string_view::npos : e.text == code_flag;
        if (is_code_flag) {
          next_is_script = true;
          code_flag = {};
        }
      } else if (!e.text.starts_with("-")) {
        code_flag = {};  // a script file, not inline code
      }
    }
    split_.clear();
    text::SplitWords(e.text, false, split_);
    for (const text::Word& w : split_) {
      bool at_command = command_position;
      words_.push_back({w.text, at_command, e.field, e.note});
      if (!at_command) continue;
      std::string_view base = text::Basename(w.text);
      if (text::IsCommandWrapper(base) || base == "busybox") {  // busybox sh -c ...
        in_wrapper = true;
        continue;
      }
      if (in_wrapper && (w.text.starts_with("-") ||
                         w.text.find_first_not_of("0123456789.smh") == std::string_view::npos)) {
        continue;
      }
      if (IsShell(base)) code_flag = "sh";
      if (std::string_view f = InlineCodeFlag(base); !f.empty()) code_flag = f;
      command_position = false;
      in_wrapper = false;
    }
  }
  ScanWords(words_, false);
}

std::string FieldName(const Container& c, const FieldRef& f) {
  switch (f.kind) {
    case FieldKind::kImage:
      return "image";
    case FieldKind::kCommand:
      return (c.command_from_image ? "image config Entrypoint[" : "command[") +
             std::to_string(f.index) + "]";
    case FieldKind::kArgs:
      return (c.args_from_image ? "image config Cmd[" : "args[") + std::to_string(f.index) + "]";
    case FieldKind::kEnv:
      return (c.env[f.index].from_image ? "image config Env[" : "env[") +
             std::string(c.env[f.index].name) + "]";
  }
  return {};
}

std::string FieldPath(const Container& c, const FieldRef& f) {
  std::string path;
  path.reserve(c.path.size() + 24);
  path += c.path;
  // What the image's config holds has no place in the object: its path is the image's.
  const bool from_image = (f.kind == FieldKind::kCommand && c.command_from_image) ||
                          (f.kind == FieldKind::kArgs && c.args_from_image) ||
                          (f.kind == FieldKind::kEnv && c.env[f.index].from_image);
  switch (from_image ? FieldKind::kImage : f.kind) {
    case FieldKind::kImage:
      path += ".image";
      break;
    case FieldKind::kCommand:
      path += ".command[";
      path += std::to_string(f.index);
      path += ']';
      break;
    case FieldKind::kArgs:
      path += ".args[";
      path += std::to_string(f.index);
      path += ']';
      break;
    case FieldKind::kEnv:
      path += ".env[";
      path += std::to_string(f.index);
      path += "].value";
      break;
  }
  return path;
}

struct Ordered {
  std::size_t container;
  int position;
  Finding finding;
};

// Which of `e`'s exemptions, if any, covers a container running `image` in `namespace_`.
ExemptedBy ExemptionFor(const Exemptions& e, std::string_view namespace_, std::string_view image) {
  if (e.CoversNamespace(namespace_)) return ExemptedBy::kNamespace;
  if (e.CoversImage(image)) return ExemptedBy::kImage;
  return ExemptedBy::kNone;
}

void EvaluateInto(const Policy::Impl& p, const Workload& workload, Verdict& verdict) {
  if (!p.fail_for_testing.empty()) throw std::runtime_error(p.fail_for_testing);
  thread_local Scanner scanner;
  scanner.Reset(p);
  std::vector<Ordered> findings;
  std::vector<Ordered> exempted;
  for (std::size_t ci = 0; ci < workload.containers.size(); ++ci) {
    const Container& c = workload.containers[ci];
    scanner.Scan(c);
    std::vector<Hit>& hits = scanner.hits();
    if (hits.empty()) continue;
    const ExemptedBy policy_exempt = ExemptionFor(p.exemptions, workload.namespace_, c.image);
    std::vector<ExemptedBy> rule_exempt(hits.size(), ExemptedBy::kNone);
    for (std::size_t h = 0; h < hits.size(); ++h) {
      const Exemptions& e = p.compiled[hits[h].rule].exempt;
      if (!e.Empty()) rule_exempt[h] = ExemptionFor(e, workload.namespace_, c.image);
    }
    // Supporting evidence escalates when another listed signal fired in the same container.
    for (std::size_t h = 0; h < hits.size(); ++h) {
      const CompiledRule& rule = p.compiled[hits[h].rule];
      if (!rule.combines || rule_exempt[h] != ExemptedBy::kNone) continue;
      if (rule.combines_with_itself && hits[h].second_evidence) {
        hits[h].action = std::max(hits[h].action, rule.combine_action);
        hits[h].partner = static_cast<int>(h);
        continue;
      }
      for (std::size_t o = 0; o < hits.size(); ++o) {
        if (o == h || rule_exempt[o] != ExemptedBy::kNone) continue;
        if (hits[o].rule == hits[h].rule) {
          // Two hits of one rule are one signal, unless the rule says a second one counts and
          // the evidence differs (two miner options, not one option written twice).
          if (!rule.combines_with_itself || hits[o].evidence == hits[h].evidence) continue;
          hits[h].action = std::max(hits[h].action, rule.combine_action);
          hits[h].partner = static_cast<int>(o);
          break;
        }
        if (std::find(rule.combine_with.begin(), rule.combine_with.end(), hits[o].rule) !=
            rule.combine_with.end()) {
          hits[h].action = std::max(hits[h].action, rule.combine_action);
          hits[h].partner = static_cast<int>(o);
          break;
        }
      }
    }
    std::string who = "container \"" + std::string(c.name) + "\" ";
    for (std::size_t h = 0; h < hits.size(); ++h) {
      const Hit& hit = hits[h];
      const CompiledRule& rule = p.compiled[hit.rule];
      Finding f;
      f.rule_id = rule.info.id;
      f.action = hit.action;
      f.container = std::string(c.name);
      f.field = FieldName(c, hit.field);
      f.path = FieldPath(c, hit.field);
      // One buffer per message: findings are built for every hit, on the request path.
      std::string& m = f.message;
      m.reserve(who.size() + f.field.size() + rule.finding.size() + hit.evidence.size() +
                hit.note.size() + 96);
      m += who;
      m += f.field;
      m += " has ";
      m += rule.finding;
      m += " \"";
      m += hit.evidence;
      m += '"';
      if (!hit.note.empty()) {
        m += " (";
        m += hit.note;
        m += ')';
      }
      if (hit.partner >= 0) {
        const Hit& other = hits[hit.partner];
        m += other.rule == hit.rule ? ", together with another " : ", together with ";
        m += p.compiled[other.rule].finding;
        m += " in ";
        m += FieldName(c, other.field);
      }
      f.evidence = hit.evidence;
      f.exempted_by = policy_exempt != ExemptedBy::kNone ? policy_exempt : rule_exempt[h];
      (f.exempted_by != ExemptedBy::kNone ? exempted : findings)
          .push_back({ci, hit.field.position, std::move(f)});
    }
  }
  auto by_order = [](const Ordered& a, const Ordered& b) {
    if (a.container != b.container) return a.container < b.container;
    if (a.position != b.position) return a.position < b.position;
    return a.finding.rule_id < b.finding.rule_id;
  };
  std::stable_sort(findings.begin(), findings.end(), by_order);
  std::stable_sort(exempted.begin(), exempted.end(), by_order);
  verdict.findings.reserve(findings.size());
  for (Ordered& o : findings) verdict.findings.push_back(std::move(o.finding));
  verdict.exempted.reserve(exempted.size());
  for (Ordered& o : exempted) verdict.exempted.push_back(std::move(o.finding));
}

}  // namespace

PolicyError::PolicyError(std::string source, int line, std::string rule_id, std::string problem)
    : std::runtime_error(source + ":" + std::to_string(line) + ": " +
                         (rule_id.empty() ? "" : "rule " + rule_id + ": ") + problem),
      source_(std::move(source)),
      line_(line),
      rule_id_(std::move(rule_id)),
      problem_(std::move(problem)) {}

Policy::Policy(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Policy::~Policy() = default;

std::shared_ptr<const Policy> Policy::Compile(std::string_view yaml_text, std::string_view source) {
  return std::shared_ptr<const Policy>(new Policy(CompilePolicyImpl(yaml_text, source)));
}

std::shared_ptr<const Policy> Policy::Default() {
  // Compiled once: the embedded text never changes, and its validity is a unit test.
  static const std::shared_ptr<const Policy> kDefault = Compile(DefaultText(), "<default>");
  return kDefault;
}

std::string_view Policy::DefaultText() { return embedded::DefaultPolicyText(); }

std::shared_ptr<const Policy> Policy::FailingForTesting(std::string what) {
  std::unique_ptr<Impl> impl = CompilePolicyImpl(DefaultText(), "<failing-for-testing>");
  impl->fail_for_testing = what.empty() ? "injected failure" : std::move(what);
  return std::shared_ptr<const Policy>(new Policy(std::move(impl)));
}

Verdict Policy::Evaluate(const Workload& workload) const {
  Verdict verdict;
  try {
    EvaluateInto(*impl_, workload, verdict);
  } catch (const std::exception& e) {
    // An error, never a verdict: a made-up deny would override the failurePolicy the admin
    // chose and let the sweeper delete a pod nobody judged.
    verdict = Verdict{};
    try {
      verdict.error = std::string("policy evaluation failed: ") + e.what();
    } catch (...) {
      verdict.error = "out of memory";  // fits the small-string buffer: cannot throw
    }
  } catch (...) {
    verdict = Verdict{};
    verdict.error = "unknown error";
  }
  return verdict;
}

std::optional<Enforcement> Policy::enforcement() const { return impl_->enforcement; }

const std::vector<RuleInfo>& Policy::rules() const { return impl_->rules; }

}  // namespace stratum_guard::policy
