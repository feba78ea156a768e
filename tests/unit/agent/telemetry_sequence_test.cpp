#include "agent/telemetry_sequence.hpp"

#include <gtest/gtest.h>

#include <limits>

#include "../temp_dir.hpp"
#include "pki/sealed_file.hpp"

namespace berth::agent {
namespace {

constexpr std::int64_t kSequenceNow = 1'795'000'000'000;

TEST(TelemetryBlockFloor, ReadsTheReservedNumberAndFallsBackToTheClockWhenDamaged) {
  EXPECT_EQ(telemetryBlockFloor(std::nullopt, 0, kSequenceNow).floor, 0);  // first start
  EXPECT_EQ(telemetryBlockFloor("3000000", 0, kSequenceNow).floor, 3'000'000);
  EXPECT_EQ(telemetryBlockFloor("3000000\n", 5'000'000, kSequenceNow).floor, 5'000'000);
  for (const char* damaged : {"", "abc", "12abc", "-5", "99999999999999999999999"}) {
    auto f = telemetryBlockFloor(damaged, 0, kSequenceNow);
    EXPECT_TRUE(f.damaged) << damaged;
    EXPECT_EQ(f.floor, kSequenceNow * 1000) << damaged;
  }
}

// The clock stepped back after a first fallback, and the file is damaged again:
// the clock alone would number below what the server stored; WELCOME lifts it.
TEST(TelemetrySequence, ContinuesAboveWhatTheServerStoredWhenTheFileAndClockCannotBeTrusted) {
  testing::TempDir dir;
  const std::string path = dir.path() + "/telemetry.seq";
  const std::int64_t storedByServer = (kSequenceNow + 3'600'000) * 1000 + 42;  // numbered an hour ahead
  ASSERT_TRUE(pki::writePrivateFile(path, "garbage").ok());
  TelemetrySequence seq(path, [] { return kSequenceNow; });
  seq.resumeAbove(storedByServer);  // WELCOME comes before the first sample
  EXPECT_EQ(seq.next(), storedByServer + 1);
  EXPECT_EQ(seq.next(), storedByServer + 2);
  // The block reserved on disk starts above it, so a restart with this file continues above too.
  TelemetrySequence restarted(path, [] { return kSequenceNow; });
  EXPECT_GT(restarted.next(), storedByServer + 2);
}

TEST(TelemetrySequence, ALowerOrAbsurdServerNumberChangesNothingAndNeverOverflows) {
  testing::TempDir dir;
  TelemetrySequence seq(dir.path() + "/telemetry.seq", [] { return kSequenceNow; });
  EXPECT_EQ(seq.next(), 1);
  seq.resumeAbove(-7);
  EXPECT_EQ(seq.next(), 2);
  seq.resumeAbove(std::numeric_limits<std::int64_t>::max());
  const auto top = seq.next();
  EXPECT_LE(top, kMaxTelemetrySeq);
  EXPECT_GT(top, 2);
}

TEST(TelemetrySequence, BlocksAreReservedOnDiskBeforeUse) {
  testing::TempDir dir;
  const std::string path = dir.path() + "/telemetry.seq";
  TelemetrySequence seq(path, [] { return kSequenceNow; });
  EXPECT_EQ(seq.next(), 1);
  EXPECT_EQ(*pki::readFile(path), std::to_string(TelemetrySequence::kBlock));
  TelemetrySequence restarted(path, [] { return kSequenceNow; });
  EXPECT_EQ(restarted.next(), TelemetrySequence::kBlock + 1);
}

}  // namespace
}  // namespace berth::agent
