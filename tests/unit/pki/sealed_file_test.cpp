#include "pki/sealed_file.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>

#include "../temp_dir.hpp"

namespace berth::pki {
namespace {

mode_t modeOf(const std::string& path) {
  struct stat st {};
  ::lstat(path.c_str(), &st);
  return st.st_mode & 0777;
}

TEST(PrivateFiles, AreWritten0600UnderAnOpenUmaskAndReplaceAtomically) {
  berth::testing::TempDir dir;
  const mode_t old = ::umask(0);
  const std::string path = dir.path() + "/key";
  ASSERT_TRUE(writePrivateFile(path, "one").ok());
  ASSERT_TRUE(writePrivateFile(path, "two").ok());
  ::umask(old);
  EXPECT_EQ(modeOf(path), 0600u);
  EXPECT_EQ(*readFile(path), "two");
  // No temp files left behind.
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir.path()), {}), 1);
}

TEST(PrivateFiles, APlantedLinkIsReplacedNotWrittenThrough) {
  berth::testing::TempDir dir;
  const std::string victim = dir.path() + "/victim", path = dir.path() + "/state";
  ASSERT_TRUE(writePrivateFile(victim, "untouched").ok());
  ASSERT_EQ(::symlink(victim.c_str(), path.c_str()), 0);
  ASSERT_TRUE(writePrivateFile(path, "secret").ok());
  EXPECT_EQ(*readFile(victim), "untouched");
  EXPECT_FALSE(std::filesystem::is_symlink(path));
  EXPECT_EQ(*readFile(path), "secret");
}

// A process killed between creating its temp file and renaming it leaves the
// temp behind; every crash would leave one more.
TEST(PrivateFiles, TempFilesLeftByAKilledWriterAreRemovedAtStartUp) {
  testing::TempDir dir;
  const std::string d = dir.path();
  ASSERT_TRUE(writePrivateFile(d + "/commands.json", "{}").ok());
  const auto old = std::filesystem::file_time_type::clock::now() - std::chrono::minutes(5);
  for (const char* name : {"commands.json.tmp.0123456789ab", "telemetry.seq.tmp.ffffffffffff", "fresh.tmp.0123456789ab",
                           "notes.tmp.txt", "keep.tmp.0123456789abc"}) {
    std::ofstream(d + "/" + name) << "partial";
    if (std::string(name) != "fresh.tmp.0123456789ab") std::filesystem::last_write_time(d + "/" + name, old);
  }
  EXPECT_EQ(removeStaleTempFiles(d), 2u);
  EXPECT_FALSE(fileExists(d + "/commands.json.tmp.0123456789ab"));
  EXPECT_FALSE(fileExists(d + "/telemetry.seq.tmp.ffffffffffff"));
  EXPECT_TRUE(fileExists(d + "/fresh.tmp.0123456789ab"));  // a live writer's, perhaps
  EXPECT_TRUE(fileExists(d + "/notes.tmp.txt"));
  EXPECT_TRUE(fileExists(d + "/keep.tmp.0123456789abc"));
  EXPECT_TRUE(fileExists(d + "/commands.json"));
  EXPECT_EQ(removeStaleTempFiles(d + "/missing"), 0u);
}

TEST(PrivateDirectories, AreCreated0700AndCheckedWhenTheyExist) {
  berth::testing::TempDir dir;
  const mode_t old = ::umask(0);
  const std::string fresh = dir.path() + "/fresh";
  ASSERT_TRUE(ensurePrivateDirectory(fresh).ok());
  EXPECT_EQ(modeOf(fresh), 0700u);
  EXPECT_TRUE(ensurePrivateDirectory(fresh).ok());
  const std::string open = dir.path() + "/open";
  ASSERT_EQ(::mkdir(open.c_str(), 0755), 0);
  ::umask(old);
  auto refused = ensurePrivateDirectory(open);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code, "unsafe_directory");
  EXPECT_NE(refused.error().message.find("chmod 700"), std::string::npos) << refused.error().message;
  const std::string link = dir.path() + "/link";
  ASSERT_EQ(::symlink(fresh.c_str(), link.c_str()), 0);
  EXPECT_FALSE(ensurePrivateDirectory(link).ok());
}

}  // namespace
}  // namespace berth::pki
