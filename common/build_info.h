#pragma once

#include <string_view>

namespace stratum_guard::common {

// Filled in at configure time; exported as stratum_guard_build_info{version,commit}.
std::string_view Version();
std::string_view Commit();

}  // namespace stratum_guard::common
