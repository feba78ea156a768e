#include "cli/progress_view.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <limits>

namespace berth::cli {
namespace {

nlohmann::json report(const std::vector<std::tuple<std::string, std::string, std::int64_t, std::int64_t>>& layers,
                      std::int64_t done = 0) {
  nlohmann::json out = {{"layers", nlohmann::json::array()}, {"layers_done", done}};
  std::int64_t current = 0, total = 0;
  for (const auto& [id, state, c, t] : layers) {
    out["layers"].push_back({{"id", id}, {"state", state}, {"current", c}, {"total", t}});
    current += c;
    total += t;
  }
  out["bytes_current"] = current;
  out["bytes_total"] = total;
  return out;
}

bool hasRawControl(const std::string& text) {
  return std::any_of(text.begin(), text.end(), [](char c) {
    const auto u = static_cast<unsigned char>(c);
    return (u < 0x20 && c != '\n') || u == 0x7f || u == 0x9b;
  });
}

TEST(ProgressView, BytesReadAsDockerPrintsThem) {
  EXPECT_EQ(humanBytes(0), "0 B");
  EXPECT_EQ(humanBytes(999), "999 B");
  EXPECT_EQ(humanBytes(1200), "1.2 kB");
  EXPECT_EQ(humanBytes(4'500'000), "4.5 MB");
  EXPECT_EQ(humanBytes(999'999), "1.0 MB");  // never "1000.0 kB"
  EXPECT_EQ(humanBytes(-5), "0 B");
  EXPECT_EQ(humanBytes(std::numeric_limits<std::int64_t>::max()), "9.2 EB");
  EXPECT_EQ(bytesOf(1'200'000, 4'500'000), "1.2/4.5 MB");
  EXPECT_EQ(bytesOf(300, 4'500'000), "0.0/4.5 MB");
  EXPECT_EQ(bytesOf(5, 9), "5/9 B");
  EXPECT_EQ(bytesOf(1'200'000, 0), "1.2 MB");  // total unknown
  EXPECT_EQ(bytesOf(0, 0), "");
  EXPECT_EQ(bytesOf(-1, -1), "");
  const auto huge = std::numeric_limits<std::int64_t>::max();
  EXPECT_EQ(bytesOf(huge, huge), "9.2/9.2 EB");
}

TEST(ProgressView, ParsingIsLenientAndBounded) {
  auto view = parsePullView(
      {{"layers",
        {{{"id", 7}, {"state", "Downloading"}, {"current", -4}, {"total", 1.5}}, "not a layer", {{"id", "b"}}}},
       {"layers_done", "two"},
       {"bytes_total", 18446744073709551615ull}});
  ASSERT_EQ(view.layers.size(), 2u);
  EXPECT_EQ(view.layers[0].id, "");
  EXPECT_EQ(view.layers[0].current, 0);
  EXPECT_EQ(view.layers[0].total, 0);
  EXPECT_EQ(view.layers[1].state, "");
  EXPECT_EQ(view.layers_done, 0);
  EXPECT_EQ(view.bytes_total, std::numeric_limits<std::int64_t>::max());
  EXPECT_TRUE(parsePullView("nonsense").layers.empty());
  nlohmann::json many = nlohmann::json::array();
  for (std::size_t i = 0; i < kMaxLayers + 10; ++i) many.push_back({{"id", std::to_string(i)}});
  EXPECT_EQ(parsePullView({{"layers", many}}).layers.size(), kMaxLayers);
}

TEST(ProgressView, ControlCharactersAreEscapedAndUtf8Kept) {
  EXPECT_EQ(escapeForTerminal("plain text"), "plain text");
  EXPECT_EQ(escapeForTerminal("a\x1b[2Jb"), "a\\x1b[2Jb");
  EXPECT_EQ(escapeForTerminal("x\ry\n"), "x\\x0dy\\x0a");
  EXPECT_EQ(escapeForTerminal("del\x7f"), "del\\x7f");
  EXPECT_EQ(escapeForTerminal("\xc2\x9b"
                              "31m"),
            "\\xc2\\x9b31m");  // C1 CSI in UTF-8
  EXPECT_EQ(escapeForTerminal("\x9b"
                              "31m"),
            "\\x9b31m");  // a raw 8-bit CSI
  EXPECT_EQ(escapeForTerminal("caf\xc3\xa9 \xe2\x9c\x93"), "caf\xc3\xa9 \xe2\x9c\x93");
  EXPECT_EQ(escapeForTerminal("caf\xc3\xa9", false, true), "caf\\xc3\\xa9");
  EXPECT_EQ(escapeForTerminal("\xc3"), "\\xc3");                    // a cut sequence
  EXPECT_EQ(escapeForTerminal("\xc0\xaf"), "\\xc0\\xaf");           // overlong '/'
  EXPECT_EQ(escapeForTerminal("\xed\xa0\x80"), "\\xed\\xa0\\x80");  // a surrogate
  EXPECT_EQ(escapeForTerminal("a\tb"), "a\\x09b");
  EXPECT_EQ(escapeForTerminal("a\tb", true), "a\tb");
  EXPECT_EQ(shortLayerId(""), "(no id)");
  EXPECT_EQ(shortLayerId("3f2a9c1b0d4e"), "3f2a9c1b0d4e");
  EXPECT_EQ(shortLayerId("sha256:3f2a9c1b0d4e5f"), "sha256:3f2a9…");
  EXPECT_EQ(shortLayerId("sha256:3f2a9c1b0d4e5f", true), "sha256:3f2a9...");
}

TEST(ProgressView, PlainModePrintsALineOnlyWhenALayersStateChanges) {
  PlainPullLines plain("web");
  auto lines =
      plain.update(parsePullView(report({{"3f2a9c1b0d4e", "Waiting", 0, 0}, {"aa11", "Already exists", 0, 0}})));
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[0], "pull web: layer 3f2a9c1b0d4e waiting");
  EXPECT_EQ(lines[1], "pull web: layer aa11 already exists");
  lines = plain.update(parsePullView(report({{"3f2a9c1b0d4e", "Downloading", 1'200'000, 4'500'000}})));
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(lines[0], "pull web: layer 3f2a9c1b0d4e downloading 1.2/4.5 MB");
  // More bytes in the same state: nothing new.
  EXPECT_TRUE(plain.update(parsePullView(report({{"3f2a9c1b0d4e", "Downloading", 3'000'000, 4'500'000}}))).empty());
  lines = plain.update(parsePullView(report({{"3f2a9c1b0d4e", "Pull complete", 4'500'000, 4'500'000}}, 1)));
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(lines[0], "pull web: layer 3f2a9c1b0d4e pull complete 4.5/4.5 MB");
  // The same report again (a poll between two reports): nothing.
  EXPECT_TRUE(
      plain.update(parsePullView(report({{"3f2a9c1b0d4e", "Pull complete", 4'500'000, 4'500'000}}, 1))).empty());
  // A layer never seen before, late: printed; a layer without an id: named as such.
  lines = plain.update(parsePullView(report({{"", "Downloading", 0, 0}})));
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(lines[0], "pull web: layer (no id) downloading");
}

TEST(ProgressView, PlainModeEscapesWhatAHostileNodeSends) {
  PlainPullLines plain("web");
  auto lines = plain.update(
      parsePullView(report({{"\x1b]0;pwned\x07", "Downloading\x1b[2K\r", 1, 2}, {"ok\xc2\x9b", "Done\x9b", 0, 0}})));
  ASSERT_EQ(lines.size(), 2u);
  for (const auto& l : lines) EXPECT_FALSE(hasRawControl(l)) << l;
  EXPECT_NE(lines[0].find("\\x1b]0;pwned\\x07"), std::string::npos) << lines[0];
  EXPECT_NE(lines[0].find("downloading\\x1b[2k\\x0d"), std::string::npos) << lines[0];
}

TEST(ProgressView, TerminalModeRedrawsOneRowPerLayerAndATotalInPlace) {
  TtyPullBlock block("web", 80, 10);
  const auto first =
      parsePullView(report({{"3f2a9c1b0d4e", "Downloading", 1'200'000, 4'500'000}, {"aa11", "Waiting", 0, 0}}));
  const auto rows = block.rows(first);
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[0], "3f2a9c1b0d4e    Downloading        1.2/4.5 MB");
  EXPECT_EQ(rows[1], "aa11            Waiting");
  EXPECT_EQ(rows[2], "pull web: 0/2 layers, 1.2/4.5 MB");
  // The first drawing only writes its rows; each is cleared before it is written.
  const std::string drawn = block.draw(first);
  EXPECT_EQ(drawn, "\r\x1b[2K" + rows[0] + "\n\r\x1b[2K" + rows[1] + "\n\r\x1b[2K" + rows[2] + "\n");
  EXPECT_TRUE(block.drawn());
  // The next one moves up over the three rows first and writes the same number.
  const auto second = parsePullView(
      report({{"3f2a9c1b0d4e", "Pull complete", 4'500'000, 4'500'000}, {"aa11", "Pull complete", 0, 0}}, 2));
  const std::string again = block.draw(second);
  EXPECT_EQ(again.rfind("\x1b[3A", 0), 0u) << again;
  EXPECT_NE(again.find("pull web: 2/2 layers, 4.5/4.5 MB\n"), std::string::npos) << again;
  EXPECT_EQ(again.find("\x1b[J"), std::string::npos);  // as tall as before: nothing left to clear
  // A shorter block clears what the taller one left below it.
  const std::string shorter = block.draw(parsePullView(report({{"aa11", "Pull complete", 0, 0}}, 1)));
  EXPECT_EQ(shorter.rfind("\x1b[3A", 0), 0u) << shorter;
  EXPECT_NE(shorter.find("\x1b[J"), std::string::npos);
  // Erased (to print a line where it was), then drawn again below that line.
  EXPECT_EQ(block.erase(), "\x1b[2A\r\x1b[J");
  EXPECT_FALSE(block.drawn());
  EXPECT_EQ(block.erase(), "");
  const std::string redrawn = block.redraw();
  EXPECT_EQ(redrawn.rfind("\r\x1b[2K", 0), 0u) << redrawn;  // starts where the cursor is
  EXPECT_NE(redrawn.find("pull web: 1/1 layers"), std::string::npos);
  block.keep();  // left on screen: the next drawing is a new block below it
  EXPECT_FALSE(block.drawn());
  EXPECT_EQ(block.draw(first).rfind("\r\x1b[2K", 0), 0u);
}

TEST(ProgressView, TerminalRowsNeverWrapNorCarryRawControls) {
  TtyPullBlock block("web", 30, 3);
  std::vector<std::tuple<std::string, std::string, std::int64_t, std::int64_t>> layers;
  layers.emplace_back("\x1b[31mred\xc2\x9b", "Downloading \x1b]0;title\x07 and a very long state indeed", 5,
                      std::numeric_limits<std::int64_t>::max() / 4);
  for (int i = 0; i < 5; ++i) layers.emplace_back("l" + std::to_string(i), "Waiting", 0, 0);
  const auto view = parsePullView(report(layers));
  const auto rows = block.rows(view);
  ASSERT_EQ(rows.size(), 5u);  // 3 layers, "... 3 more layers", the total
  EXPECT_EQ(rows[3], "... 3 more layers");
  for (const auto& row : rows) {
    EXPECT_LE(row.size(), 29u) << row;
    EXPECT_FALSE(hasRawControl(row)) << row;
    EXPECT_TRUE(std::all_of(row.begin(), row.end(), [](char c) { return static_cast<unsigned char>(c) < 0x80; }))
        << row;
  }
  const std::string drawn = block.draw(view);
  // The only escape sequences are the block's own.
  std::string stripped = drawn;
  for (const std::string own : {"\r\x1b[2K", "\x1b[J"}) {
    for (auto at = stripped.find(own); at != std::string::npos; at = stripped.find(own)) stripped.erase(at, own.size());
  }
  EXPECT_FALSE(hasRawControl(stripped)) << stripped;
  // No layers at all (a report before the first layer is known), totals of 0: one total row.
  const auto empty = block.rows(parsePullView(nlohmann::json::object()));
  ASSERT_EQ(empty.size(), 1u);
  EXPECT_EQ(empty[0], "pull web: 0/0 layers");
}

}  // namespace
}  // namespace berth::cli
