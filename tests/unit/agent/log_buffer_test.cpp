#include "agent/log_buffer.hpp"

#include <gtest/gtest.h>

namespace berth::agent {
namespace {

PendingLogLine line(const std::string& app, const std::string& text, std::int64_t at = 1) {
  return {app, "c_" + app, 1, 0, {"stdout", at, text}};
}

TEST(LogBuffer, IsBoundedByBytesAsWellAsLinesAndCountsDropsPerApp) {
  const std::size_t perLine = 1000 + 3 + LogBuffer::kLineOverheadBytes;
  LogBuffer buffer(20'000, 10 * perLine);
  for (int i = 0; i < 25; ++i) buffer.push(line(i < 5 ? "old" : "web", std::string(1000, 'x')));
  EXPECT_EQ(buffer.size(), 10u);  // far below the line bound: the bytes bound holds
  EXPECT_LE(buffer.bytes(), 10 * perLine);
  auto dropped = buffer.takeDropped();
  EXPECT_EQ(dropped["old"], 5u);  // the oldest went first
  EXPECT_EQ(dropped["web"], 10u);
  EXPECT_TRUE(buffer.takeDropped().empty());  // counted once

  LogBuffer lines(3, 1 << 20);
  for (int i = 0; i < 5; ++i) lines.push(line("web", "l" + std::to_string(i)));
  EXPECT_EQ(lines.size(), 3u);
  EXPECT_EQ(lines.takeDropped()["web"], 2u);
}

TEST(LogBuffer, BatchesOneAppAtATimeInOrder) {
  LogBuffer buffer(100, 1 << 20);
  buffer.push(line("a", "1"));
  buffer.push(line("b", "2"));
  buffer.push(line("a", "3"));
  buffer.push(line("a", "4"));
  auto first = buffer.takeBatch(2);
  ASSERT_EQ(first.size(), 2u);
  EXPECT_EQ(first[0].line.text, "1");
  EXPECT_EQ(first[1].line.text, "3");
  auto second = buffer.takeBatch(10);
  ASSERT_EQ(second.size(), 1u);
  EXPECT_EQ(second[0].app, "b");
  EXPECT_EQ(buffer.takeBatch(10)[0].line.text, "4");
  EXPECT_TRUE(buffer.empty());
  EXPECT_EQ(buffer.bytes(), 0u);
}

TEST(LogCursors, RoundTripAndOnlyMoveForward) {
  LogCursors cursors;
  EXPECT_FALSE(cursors.dirty());
  cursors.shipped("abc", 1000);
  cursors.shipped("abc", 900);  // an older line does not move it back
  cursors.shipped("def", 5);
  EXPECT_TRUE(cursors.dirty());
  const auto text = cursors.serialize();
  EXPECT_FALSE(cursors.dirty());
  auto back = LogCursors::parse(text);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->of("abc"), 1000);
  EXPECT_EQ(back->of("def"), 5);
  EXPECT_FALSE(back->of("nope").has_value());
  EXPECT_FALSE(LogCursors::parse("[1,2]").ok());
  EXPECT_FALSE(LogCursors::parse("not json").ok());
}

TEST(LogCursors, AFollowerResumesAfterTheLastLineShippedEvenByAnEarlierRun) {
  // Read in this run: after it.
  EXPECT_EQ(logResumeMs(2000, 1000, true, 5000), 2001);
  // Shipped by an earlier run, nothing read yet: after that line (lines written while the agent was down come).
  EXPECT_EQ(logResumeMs(std::nullopt, 1000, false, 5000), 1001);
  // Never shipped anything of it: from its first line.
  EXPECT_EQ(logResumeMs(std::nullopt, std::nullopt, false, 5000), 0);
  // The first look of an agent that had no cursor file: from the agent's start, as before cursors.
  EXPECT_EQ(logResumeMs(std::nullopt, std::nullopt, true, 5000), 5000);
}

}  // namespace
}  // namespace berth::agent
