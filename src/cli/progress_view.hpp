// What `berth app deploy` shows while a node pulls an image: pure rendering
// of the pull_progress reports GET /apps/NAME/deployments/N carries
// (docs/builds.md "What --follow prints"). No I/O here: the command writes
// what these return. Everything from a node (layer ids, states, build lines)
// passes through escapeForTerminal, so a hostile node cannot move the cursor,
// retitle the terminal or hide lines.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

namespace berth::cli {

// `text` with control characters (C0 but tab when `keep_tabs`, DEL, C1) and bytes that are not
// UTF-8 written as visible \xNN escapes, and with `ascii_only` every non-ASCII byte too (so a
// line's width is its length: the terminal display counts rows by it).
std::string escapeForTerminal(std::string_view text, bool keep_tabs = false, bool ascii_only = false);

// 999 B, 1.2 kB, 4.5 MB ... up to EB (decimal units, as Docker prints them); negatives as 0 B.
std::string humanBytes(std::int64_t bytes);
// "1.2/4.5 MB" (current in the unit of total), "1.2 MB" when the total is unknown (0), "" when both are 0.
std::string bytesOf(std::int64_t current, std::int64_t total);

struct LayerView {
  std::string id;
  std::string state;  // Docker's words: "Downloading", "Pull complete"...
  std::int64_t current = 0;
  std::int64_t total = 0;
};

struct PullView {
  std::vector<LayerView> layers;
  std::int64_t layers_done = 0;
  std::int64_t bytes_current = 0;
  std::int64_t bytes_total = 0;
};

// Lenient: a missing or mistyped field reads as empty or 0, negative numbers as 0,
// at most kMaxLayers layers are read.
PullView parsePullView(const nlohmann::json& progress);
inline constexpr std::size_t kMaxLayers = 256;

// A layer id as shown: at most 12 characters (Docker's short ids), longer ones cut with "…",
// an empty one as "(no id)"; escaped.
std::string shortLayerId(const std::string& id, bool ascii_only = false);

// Plain mode (a pipe or a file): one line per layer whose state changed since the
// last update, e.g. "pull web: layer 3f2a9c1b0d4e downloading 1.2/4.5 MB"; byte
// updates within one state print nothing.
class PlainPullLines {
 public:
  explicit PlainPullLines(std::string app) : app_(std::move(app)) {}
  std::vector<std::string> update(const PullView& view);

 private:
  std::string app_;
  std::map<std::string, std::string> printed_;  // layer id -> state printed last
};

// Terminal mode: a block of one row per layer (id, state, bytes) and a total row,
// redrawn in place with ANSI cursor movement. Rows are cut to `width - 1` columns so
// none wraps (a wrapped row would throw the cursor arithmetic off); at most `max_rows`
// layer rows, the rest counted in one row.
class TtyPullBlock {
 public:
  TtyPullBlock(std::string app, std::size_t width = 80, std::size_t max_rows = 24);
  // Text that replaces the block drawn last (if any) with `view`'s rows; the cursor ends
  // on the line below the block.
  std::string draw(const PullView& view);
  // Text that clears the drawn block and leaves the cursor where it began, so another
  // line can be printed there; redraw() then draws the last view again below it.
  std::string erase();
  std::string redraw() { return draw(last_); }
  // The block stays on screen as it is; a later draw starts a new one below.
  void keep() { drawn_ = 0; }
  bool drawn() const { return drawn_ > 0; }
  // The rows draw() would write, without escape sequences (for tests and plain fallbacks).
  std::vector<std::string> rows(const PullView& view) const;

 private:
  std::string app_;
  std::size_t width_;
  std::size_t max_rows_;
  std::size_t drawn_ = 0;  // rows on screen from the last draw
  PullView last_;
};

}  // namespace berth::cli
