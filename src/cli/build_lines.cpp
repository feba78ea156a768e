#include "cli/build_lines.hpp"

#include "cli/progress_view.hpp"

namespace berth::cli {

Result<void> drainBuildLines(const std::function<Result<nlohmann::json>(std::int64_t after)>& page, int deployment,
                             std::int64_t& cursor, const std::function<void(const std::string&)>& print) {
  while (true) {
    auto answer = page(cursor);
    if (!answer) return answer.error();
    if (!answer->is_object()) return Ok{};
    const auto lines = answer->value("lines", nlohmann::json::array());
    if (!lines.is_array()) return Ok{};
    for (const auto& l : lines) {
      if (!l.is_object() || l.value("stream", nlohmann::json()) != "build" ||
          l.value("deployment", nlohmann::json()) != deployment)
        continue;
      const auto text = l.value("text", nlohmann::json());
      print(escapeForTerminal(text.is_string() ? text.get<std::string>() : "", true));
    }
    auto it = answer->find("cursor");
    const std::int64_t next = it != answer->end() && it->is_number_integer() ? it->get<std::int64_t>() : cursor;
    if (next <= cursor) return Ok{};  // nothing newer, or a cursor that stands still
    cursor = next;
    if (lines.size() < kBuildLinePage) return Ok{};  // caught up
  }
}

}  // namespace berth::cli
