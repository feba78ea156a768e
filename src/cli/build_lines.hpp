// A deployment's build lines out of the app's log, as `berth app deploy` prints
// them: GET /api/v1/apps/NAME/logs?after=CURSOR page by page, only stream
// "build" of that deployment, each line once. The fetching is passed in, so
// the paging is tested on literal pages.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>

#include "common/result.hpp"

namespace berth::cli {

inline constexpr std::size_t kBuildLinePage = 1000;

// `page(after)` answers GET .../logs?limit=kBuildLinePage&after=<after> ({"lines": [...], "cursor": N}).
// Hands `print` the text of every line after `cursor` of stream "build" and deployment
// `deployment` (escaped for a terminal, tabs kept), moving `cursor` past each page, until
// a page is not full; a cursor that does not move ends the walk (no loop on a confused
// server). A failed fetch is returned with the cursor after the pages read.
Result<void> drainBuildLines(const std::function<Result<nlohmann::json>(std::int64_t after)>& page, int deployment,
                             std::int64_t& cursor, const std::function<void(const std::string&)>& print);

}  // namespace berth::cli
