// The writer's archives read back with GNU tar (a real reader, not our own).
#include "builder/tar_writer.hpp"

#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <vector>

#include "common/subprocess.hpp"

namespace berth::builder {
namespace {

namespace fs = std::filesystem;

struct TarDir {
  fs::path dir = fs::temp_directory_path() / ("berth-tar-" + std::to_string(::getpid()));
  TarDir() { fs::create_directories(dir / "out"); }
  ~TarDir() { fs::remove_all(dir); }
  std::string write(const std::string& bytes) {
    std::ofstream(dir / "ctx.tar", std::ios::binary) << bytes;
    return (dir / "ctx.tar").string();
  }
  std::string slurp(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), {}};
  }
};

TEST(TarWriter, GnuTarReadsFilesDirectoriesSymlinksAndLongNames) {
  std::string archive;
  TarWriter tar([&](std::string_view b) { archive.append(b); });
  const std::string longName = std::string(60, 'd') + "/" + std::string(70, 'f') + ".js";
  ASSERT_TRUE(tar.begin({"src", TarEntryType::Directory, 0755, 0, "", 1700000000}).ok());
  ASSERT_TRUE(tar.begin({"src/index.js", TarEntryType::File, 0644, 13, "", 1700000000}).ok());
  tar.content("console.log(");
  tar.content("1");
  ASSERT_TRUE(tar.begin({"run.sh", TarEntryType::File, 0755, 0, "", 1700000000}).ok());
  ASSERT_TRUE(tar.begin({longName, TarEntryType::File, 0600, 1000, "", 1700000000}).ok());
  tar.content(std::string(1000, 'x'));
  ASSERT_TRUE(tar.begin({"link", TarEntryType::Symlink, 0777, 0, "src/index.js", 1700000000}).ok());
  ASSERT_TRUE(tar.finish().ok());
  EXPECT_EQ(archive.size() % 512, 0u);
  EXPECT_EQ(tar.bytesWritten(), archive.size());

  TarDir t;
  const auto file = t.write(archive);
  auto extracted = runProcess({"tar", "-xf", file, "-C", (t.dir / "out").string()}, 10000);
  ASSERT_TRUE(extracted.ok());
  ASSERT_EQ(extracted->exit_code, 0) << extracted->output;
  EXPECT_EQ(t.slurp(t.dir / "out/src/index.js"), "console.log(1");
  EXPECT_EQ(t.slurp(t.dir / "out" / longName), std::string(1000, 'x'));
  EXPECT_EQ(fs::read_symlink(t.dir / "out/link"), "src/index.js");
  EXPECT_EQ(fs::status(t.dir / "out/run.sh").permissions() & fs::perms::owner_exec, fs::perms::owner_exec);
  auto listed = runProcess({"tar", "--numeric-owner", "--full-time", "-tvf", file}, 10000);
  ASSERT_TRUE(listed.ok());
  EXPECT_NE(listed->output.find("0/0"), std::string::npos) << listed->output;
  EXPECT_NE(listed->output.find("2023-11-14"), std::string::npos) << "the given mtime: " << listed->output;
}

TEST(TarWriter, RefusesPathsThatEscapeAndFilesShortOfTheirSize) {
  std::string archive;
  TarWriter tar([&](std::string_view b) { archive.append(b); });
  for (const std::string bad : std::vector<std::string>{"", "/etc/passwd", "../x", "a/../../x", "a//b", "./a", std::string("a\0b", 3)})
    EXPECT_FALSE(tar.begin({bad, TarEntryType::File, 0644, 0, "", 0}).ok()) << bad;
  EXPECT_FALSE(tar.begin({"l", TarEntryType::Symlink, 0777, 0, "", 0}).ok());
  ASSERT_TRUE(tar.begin({"a", TarEntryType::File, 0644, 10, "", 0}).ok());
  tar.content("12345");
  auto short_ = tar.finish();
  ASSERT_FALSE(short_.ok());
  EXPECT_EQ(short_.error().code, "tar_short");
}

TEST(TarWriter, ContentBeyondTheAnnouncedSizeIsNotWritten) {
  std::string archive;
  TarWriter tar([&](std::string_view b) { archive.append(b); });
  ASSERT_TRUE(tar.begin({"a", TarEntryType::File, 0644, 3, "", 0}).ok());
  tar.content("abcdef");
  ASSERT_TRUE(tar.begin({"b", TarEntryType::File, 0644, 1, "", 0}).ok());
  tar.content("z");
  ASSERT_TRUE(tar.finish().ok());
  TarDir t;
  auto listed = runProcess({"tar", "-tf", t.write(archive)}, 10000);
  ASSERT_TRUE(listed.ok());
  EXPECT_EQ(listed->output, "a\nb\n");
}

}  // namespace
}  // namespace berth::builder
