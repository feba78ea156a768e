#include "cli/progress_view.hpp"

#include <fmt/format.h>

#include <algorithm>

namespace berth::cli {
namespace {

constexpr std::size_t kShownIdLength = 12;
constexpr std::size_t kMaxTrackedLayers = 4096;  // a node inventing ids forever does not grow the CLI forever

std::string hexEscape(unsigned char c) { return fmt::format("\\x{:02x}", c); }

bool continuation(unsigned char c) { return (c & 0xc0) == 0x80; }

// The length of the valid UTF-8 sequence at text[i] (no overlong forms, surrogates or
// code points past U+10FFFF), 0 when there is none.
std::size_t utf8Length(std::string_view text, std::size_t i) {
  const auto b = [&](std::size_t k) { return static_cast<unsigned char>(text[i + k]); };
  const unsigned char lead = b(0);
  std::size_t n = 0;
  if (lead >= 0xc2 && lead <= 0xdf)
    n = 2;
  else if (lead >= 0xe0 && lead <= 0xef)
    n = 3;
  else if (lead >= 0xf0 && lead <= 0xf4)
    n = 4;
  else
    return 0;
  if (i + n > text.size()) return 0;
  for (std::size_t k = 1; k < n; ++k)
    if (!continuation(b(k))) return 0;
  if (lead == 0xe0 && b(1) < 0xa0) return 0;   // overlong
  if (lead == 0xed && b(1) >= 0xa0) return 0;  // surrogate
  if (lead == 0xf0 && b(1) < 0x90) return 0;   // overlong
  if (lead == 0xf4 && b(1) >= 0x90) return 0;  // past U+10FFFF
  return n;
}

std::string lower(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(),
                 [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; });
  return text;
}

std::int64_t count(const nlohmann::json& object, const char* key) {
  auto it = object.find(key);
  if (it == object.end() || !it->is_number()) return 0;
  if (it->is_number_unsigned()) {
    const auto v = it->get<std::uint64_t>();
    return v > static_cast<std::uint64_t>(INT64_MAX) ? INT64_MAX : static_cast<std::int64_t>(v);
  }
  if (it->is_number_integer()) return std::max<std::int64_t>(0, it->get<std::int64_t>());
  return 0;  // fractions are not byte counts
}

std::string text(const nlohmann::json& object, const char* key) {
  auto it = object.find(key);
  return it != object.end() && it->is_string() ? it->get<std::string>() : std::string();
}

const char* const kUnits[] = {"kB", "MB", "GB", "TB", "PB", "EB"};

// The unit `bytes` is shown in: its index in kUnits and its divisor (-1 and 1 for plain bytes).
std::pair<int, double> unitOf(std::int64_t bytes) {
  if (bytes < 1000) return {-1, 1.0};
  int unit = 0;
  double divisor = 1000.0;
  while (static_cast<double>(bytes) / divisor >= 999.95 && unit < 5) {
    divisor *= 1000.0;
    ++unit;
  }
  return {unit, divisor};
}

}  // namespace

std::string escapeForTerminal(std::string_view text, bool keep_tabs, bool ascii_only) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size();) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c < 0x80) {
      if ((c < 0x20 && !(keep_tabs && c == '\t')) || c == 0x7f)
        out += hexEscape(c);
      else
        out += static_cast<char>(c);
      ++i;
      continue;
    }
    const std::size_t n = ascii_only ? 0 : utf8Length(text, i);
    const bool c1 = n == 2 && c == 0xc2 && static_cast<unsigned char>(text[i + 1]) < 0xa0;  // U+0080..U+009F
    if (n == 0 || c1) {
      out += hexEscape(c);  // one byte at a time: what follows is looked at afresh
      ++i;
      continue;
    }
    out.append(text.substr(i, n));
    i += n;
  }
  return out;
}

std::string humanBytes(std::int64_t bytes) {
  bytes = std::max<std::int64_t>(0, bytes);
  auto [unit, divisor] = unitOf(bytes);
  if (unit < 0) return fmt::format("{} B", bytes);
  return fmt::format("{:.1f} {}", static_cast<double>(bytes) / divisor, kUnits[unit]);
}

std::string bytesOf(std::int64_t current, std::int64_t total) {
  current = std::max<std::int64_t>(0, current);
  total = std::max<std::int64_t>(0, total);
  if (total == 0) return current > 0 ? humanBytes(current) : std::string();
  auto [unit, divisor] = unitOf(total);
  if (unit < 0) return fmt::format("{}/{} B", current, total);
  return fmt::format("{:.1f}/{:.1f} {}", static_cast<double>(current) / divisor, static_cast<double>(total) / divisor,
                     kUnits[unit]);
}

PullView parsePullView(const nlohmann::json& progress) {
  PullView view;
  if (!progress.is_object()) return view;
  if (auto layers = progress.find("layers"); layers != progress.end() && layers->is_array()) {
    for (const auto& l : *layers) {
      if (view.layers.size() >= kMaxLayers) break;
      if (!l.is_object()) continue;
      view.layers.push_back({text(l, "id"), text(l, "state"), count(l, "current"), count(l, "total")});
    }
  }
  view.layers_done = count(progress, "layers_done");
  view.bytes_current = count(progress, "bytes_current");
  view.bytes_total = count(progress, "bytes_total");
  return view;
}

std::string shortLayerId(const std::string& id, bool ascii_only) {
  if (id.empty()) return "(no id)";
  if (id.size() <= kShownIdLength) return escapeForTerminal(id, false, ascii_only);
  return escapeForTerminal(id.substr(0, kShownIdLength), false, true) + (ascii_only ? "..." : "…");
}

std::vector<std::string> PlainPullLines::update(const PullView& view) {
  std::vector<std::string> lines;
  for (const auto& layer : view.layers) {
    auto it = printed_.find(layer.id);
    if (it == printed_.end()) {
      if (printed_.size() >= kMaxTrackedLayers) continue;
      it = printed_.emplace(layer.id, std::string()).first;
    } else if (it->second == layer.state) {
      continue;
    }
    it->second = layer.state;
    std::string line = fmt::format("pull {}: layer {} {}", escapeForTerminal(app_), shortLayerId(layer.id),
                                   escapeForTerminal(lower(layer.state)));
    if (auto bytes = bytesOf(layer.current, layer.total); !bytes.empty()) line += " " + bytes;
    lines.push_back(std::move(line));
  }
  return lines;
}

TtyPullBlock::TtyPullBlock(std::string app, std::size_t width, std::size_t max_rows)
    : app_(std::move(app)), width_(std::max<std::size_t>(width, 20)), max_rows_(std::max<std::size_t>(max_rows, 1)) {}

std::vector<std::string> TtyPullBlock::rows(const PullView& view) const {
  std::vector<std::string> out;
  const std::size_t shown = std::min(view.layers.size(), max_rows_);
  for (std::size_t i = 0; i < shown; ++i) {
    const auto& layer = view.layers[i];
    out.push_back(fmt::format("{:<15} {:<18} {}", shortLayerId(layer.id, true),
                              escapeForTerminal(layer.state, false, true), bytesOf(layer.current, layer.total)));
  }
  if (view.layers.size() > shown) out.push_back(fmt::format("... {} more layers", view.layers.size() - shown));
  std::string total =
      fmt::format("pull {}: {}/{} layers", escapeForTerminal(app_, false, true), view.layers_done, view.layers.size());
  if (auto bytes = bytesOf(view.bytes_current, view.bytes_total); !bytes.empty()) total += ", " + bytes;
  out.push_back(std::move(total));
  for (auto& row : out) {
    while (!row.empty() && row.back() == ' ') row.pop_back();
    if (row.size() > width_ - 1) row.resize(width_ - 1);  // ASCII only: bytes are columns
  }
  return out;
}

std::string TtyPullBlock::draw(const PullView& view) {
  std::string out;
  if (drawn_ > 0) out += fmt::format("\x1b[{}A", drawn_);  // back to the block's first row
  const auto r = rows(view);
  for (const auto& row : r) out += "\r\x1b[2K" + row + "\n";
  if (r.size() < drawn_) out += "\x1b[J";  // a shorter block: clear what the longer one left below
  drawn_ = r.size();
  last_ = view;
  return out;
}

std::string TtyPullBlock::erase() {
  if (drawn_ == 0) return "";
  std::string out = fmt::format("\x1b[{}A\r\x1b[J", drawn_);
  drawn_ = 0;
  return out;
}

}  // namespace berth::cli
