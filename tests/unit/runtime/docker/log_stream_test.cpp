#include "runtime/docker/log_stream.hpp"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace berth::runtime::docker {
namespace {

std::string frame(int stream, const std::string& payload) {
  std::string h(8, '\0');
  h[0] = static_cast<char>(stream);
  const auto n = payload.size();
  h[4] = static_cast<char>((n >> 24) & 0xff);
  h[5] = static_cast<char>((n >> 16) & 0xff);
  h[6] = static_cast<char>((n >> 8) & 0xff);
  h[7] = static_cast<char>(n & 0xff);
  return h + payload;
}

TEST(LogTimestamp, ParsesNanosecondsAndRejectsJunk) {
  EXPECT_EQ(parseTimestampMs("2026-11-26T15:00:00.123456789Z"), 1795705200123);
  EXPECT_EQ(parseTimestampMs("2026-11-26T15:00:00Z"), 1795705200000);
  EXPECT_EQ(parseTimestampMs("2026-11-26T15:00:00.5Z"), 1795705200500);
  EXPECT_FALSE(parseTimestampMs("yesterday at noon"));
  EXPECT_FALSE(parseTimestampMs("2026-11-26T15:00:00+01:00"));
}

TEST(LogDemuxer, SplitsStreamsLinesAndTimestampsAcrossArbitraryReads) {
  const std::string bytes = frame(1, "2026-11-26T15:00:00.100Z hello\n2026-11-26T15:00:00.200Z world\n") +
                            frame(2, "2026-11-26T15:00:01.000Z oops\n") + frame(1, "2026-11-26T15:00:02.000Z par") +
                            frame(1, "tial\n");
  // Feed one byte at a time: headers and lines split anywhere must still come out whole.
  LogDemuxer demuxer;
  std::vector<LogLine> lines;
  for (char c : bytes) {
    for (auto& l : demuxer.feed(std::string_view(&c, 1))) lines.push_back(l);
  }
  ASSERT_EQ(lines.size(), 4u);
  EXPECT_EQ(lines[0].text, "hello");
  EXPECT_EQ(lines[0].stream, "stdout");
  EXPECT_EQ(lines[0].at_ms, 1795705200100);
  EXPECT_EQ(lines[1].text, "world");
  EXPECT_EQ(lines[2].stream, "stderr");
  EXPECT_EQ(lines[2].text, "oops");
  EXPECT_EQ(lines[3].text, "partial");
}

TEST(LogDemuxer, CutsOverlongLines) {
  LogDemuxer demuxer;
  auto lines = demuxer.feed(frame(1, "2026-11-26T15:00:00Z " + std::string(40000, 'x') + "\n"));
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(lines[0].text.size(), LogDemuxer::kMaxLine);
}

TEST(LogDemuxer, CutsOverlongLinesOnACharacterBoundary) {
  LogDemuxer demuxer;
  std::string text;
  while (text.size() < LogDemuxer::kMaxLine + 10) text += "\xe4\xb8\xad";  // 中, three bytes
  text = "x" + text;  // so the limit falls inside a character
  auto lines = demuxer.feed(frame(1, "2026-11-26T15:00:00Z " + text + "\n"));
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_LE(lines[0].text.size(), LogDemuxer::kMaxLine);
  EXPECT_GE(lines[0].text.size(), LogDemuxer::kMaxLine - 2);
  EXPECT_EQ(lines[0].text.size() % 3, 1u) << "a character was split";
  EXPECT_NO_THROW((void)nlohmann::json(lines[0].text).dump());
}

}  // namespace
}  // namespace berth::runtime::docker
