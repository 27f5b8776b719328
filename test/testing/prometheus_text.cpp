#include "test/testing/prometheus_text.h"

#include <cstdlib>

namespace stratum_guard::testing {

std::optional<double> Exposition::Sum(std::string_view name,
                                      const std::map<std::string, std::string>& labels) const {
  std::optional<double> sum;
  for (const Sample& s : samples) {
    if (s.name != name) continue;
    bool all = true;
    for (const auto& [k, v] : labels) {
      auto it = s.labels.find(k);
      if (it == s.labels.end() || it->second != v) {
        all = false;
        break;
      }
    }
    if (all) sum = sum.value_or(0) + s.value;
  }
  return sum;
}

std::optional<Exposition> ParsePrometheusText(std::string_view text, std::string* error) {
  Exposition out;
  std::size_t line_number = 0;
  auto fail = [&](const std::string& why) -> std::optional<Exposition> {
    if (error) *error = "line " + std::to_string(line_number) + ": " + why;
    return std::nullopt;
  };
  while (!text.empty()) {
    ++line_number;
    std::size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
    if (line.empty()) continue;
    if (line.front() == '#') {
      if (line.substr(0, 7) == "# TYPE ") {
        std::string_view rest = line.substr(7);
        std::size_t sp = rest.find(' ');
        if (sp == std::string_view::npos) return fail("bad TYPE line");
        out.types[std::string(rest.substr(0, sp))] = std::string(rest.substr(sp + 1));
      }
      continue;
    }
    Sample sample;
    std::size_t i = 0;
    while (i < line.size() && line[i] != '{' && line[i] != ' ') ++i;
    sample.name = std::string(line.substr(0, i));
    if (sample.name.empty()) return fail("missing metric name");
    if (i < line.size() && line[i] == '{') {
      ++i;
      while (i < line.size() && line[i] != '}') {
        std::size_t eq = line.find('=', i);
        if (eq == std::string_view::npos || eq + 1 >= line.size() || line[eq + 1] != '"') {
          return fail("bad label");
        }
        std::string key(line.substr(i, eq - i));
        std::string value;
        std::size_t j = eq + 2;
        for (; j < line.size() && line[j] != '"'; ++j) {
          if (line[j] == '\\' && j + 1 < line.size()) {
            ++j;
            value.push_back(line[j] == 'n' ? '\n' : line[j]);
          } else {
            value.push_back(line[j]);
          }
        }
        if (j >= line.size()) return fail("unterminated label value");
        sample.labels[key] = value;
        i = j + 1;
        if (i < line.size() && line[i] == ',') ++i;
      }
      if (i >= line.size()) return fail("unterminated labels");
      ++i;
    }
    if (i >= line.size() || line[i] != ' ') return fail("missing value");
    std::string value(line.substr(i + 1));
    if (std::size_t sp = value.find(' '); sp != std::string::npos) value.resize(sp);  // timestamp
    char* end = nullptr;
    sample.value = std::strtod(value.c_str(), &end);
    if (end == value.c_str() || *end != '\0') return fail("bad value \"" + value + "\"");
    out.samples.push_back(std::move(sample));
  }
  return out;
}

}  // namespace stratum_guard::testing
