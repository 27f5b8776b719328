#pragma once

#include <cstdint>
#include <functional>
#include <initializer_list>
#include <string>
#include <string_view>
#include <variant>

namespace stratum_guard::common {

// Structured logging: every call writes exactly one JSON object on one line, so log pipelines
// (Loki, Cloud Logging, jq) never have to parse prose. Thread-safe: a line is formatted in full
// and then handed to the sink in one call.

enum class LogLevel { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3 };

// Parses "debug", "info", "warn"/"warning", "error". Returns false on anything else.
bool ParseLogLevel(std::string_view text, LogLevel* level);

struct LogField {
  using Value = std::variant<std::string_view, std::int64_t, double, bool>;
  LogField(std::string_view k, std::string_view v) : key(k), value(v) {}
  LogField(std::string_view k, const std::string& v) : key(k), value(std::string_view(v)) {}
  LogField(std::string_view k, const char* v) : key(k), value(std::string_view(v)) {}
  LogField(std::string_view k, std::int64_t v) : key(k), value(v) {}
  LogField(std::string_view k, int v) : key(k), value(static_cast<std::int64_t>(v)) {}
  LogField(std::string_view k, unsigned v) : key(k), value(static_cast<std::int64_t>(v)) {}
  LogField(std::string_view k, std::uint64_t v) : key(k), value(static_cast<std::int64_t>(v)) {}
  LogField(std::string_view k, double v) : key(k), value(v) {}
  LogField(std::string_view k, bool v) : key(k), value(v) {}
  std::string_view key;
  Value value;
};

void SetLogLevel(LogLevel level);
LogLevel GetLogLevel();
bool LogEnabled(LogLevel level);

// Replaces where lines go (default: stderr). Tests capture lines with this; pass nullptr to
// restore stderr. Not to be called while other threads log.
void SetLogSink(std::function<void(std::string_view line)> sink);

// Writes {"ts":"...","level":"info","msg":"...",<fields>} if level is enabled. To stderr,
// lines go through a background writer (common/line_writer.h): the caller never waits on
// write(2), except for errors, which are written before Log returns.
void Log(LogLevel level, std::string_view msg, std::initializer_list<LogField> fields = {});

// Writes every stderr line logged so far. A normal exit does this by itself; call it before
// handing stderr to someone else or before an abnormal exit (_exit, abort).
void FlushLog();

// Appends s to out as a JSON string literal, quotes included, escaping as RFC 8259 requires.
void AppendJsonString(std::string& out, std::string_view s);

}  // namespace stratum_guard::common
