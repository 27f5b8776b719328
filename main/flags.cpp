#include "main/flags.h"

#include "common/duration.h"
#include "common/log.h"

namespace stratum_guard::cli {

CLI::Option* DurationFlag(CLI::App& app, const std::string& name, std::chrono::milliseconds& target,
                          const std::string& help, bool allow_zero) {
  return app
      .add_option_function<std::string>(
          name,
          [&target, name, allow_zero](const std::string& text) {
            auto d = common::ParseDuration(text);
            if (!d || (d->count() == 0 && !allow_zero)) {
              throw CLI::ValidationError(name, "\"" + text + "\" is not a " +
                                                   (allow_zero ? "" : "positive ") +
                                                   "duration (examples: 500ms, 10s, 2m)");
            }
            target = *d;
          },
          help)
      ->type_name("DURATION")
      ->default_str(common::FormatDuration(target));
}

CLI::Option* LogLevelFlag(CLI::App& app) {
  return app
      .add_option_function<std::string>(
          "--log-level",
          [](const std::string& text) {
            common::LogLevel level;
            if (!common::ParseLogLevel(text, &level)) {
              throw CLI::ValidationError("--log-level", "must be debug, info, warn or error");
            }
            common::SetLogLevel(level);
          },
          "debug, info, warn or error")
      ->type_name("LEVEL")
      ->default_str("info");
}

}  // namespace stratum_guard::cli
