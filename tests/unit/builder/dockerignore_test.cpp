#include "builder/dockerignore.hpp"

#include <gtest/gtest.h>

namespace berth::builder {
namespace {

TEST(DockerIgnore, PatternsMatchWithinPartsAndDirectoriesCoverTheirContents) {
  const auto ignore = DockerIgnore::parse("# build output\nnode_modules\n/dist/\n*.log\n  .git  \n\n");
  EXPECT_TRUE(ignore.excluded("node_modules"));
  EXPECT_TRUE(ignore.excluded("node_modules/left-pad/index.js"));
  EXPECT_TRUE(ignore.excluded("dist/app.js")) << "a leading and a trailing '/' are dropped";
  EXPECT_TRUE(ignore.excluded("debug.log"));
  EXPECT_FALSE(ignore.excluded("logs/debug.log")) << "'*' does not cross a '/'";
  EXPECT_TRUE(ignore.excluded(".git/HEAD")) << "blanks around a pattern are trimmed";
  EXPECT_FALSE(ignore.excluded("src/node_modules.js"));
  EXPECT_FALSE(ignore.excluded("# build output"));
  EXPECT_FALSE(ignore.excluded("package.json"));
}

TEST(DockerIgnore, DoubleStarMatchesAnyNumberOfPartsIncludingNone) {
  const auto ignore = DockerIgnore::parse("**/*.md\nsrc/**/test\n");
  EXPECT_TRUE(ignore.excluded("README.md"));
  EXPECT_TRUE(ignore.excluded("docs/a/b/guide.md"));
  EXPECT_TRUE(ignore.excluded("src/test/x.js"));
  EXPECT_TRUE(ignore.excluded("src/a/b/test"));
  EXPECT_FALSE(ignore.excluded("lib/test"));
}

TEST(DockerIgnore, TheLastMatchingPatternDecidesAndExceptionsBringFilesBack) {
  const auto ignore = DockerIgnore::parse("*\n!package.json\n!src\nsrc/secret.txt\n");
  EXPECT_TRUE(ignore.mayReinclude());
  EXPECT_TRUE(ignore.excluded("Dockerfile.dev"));
  EXPECT_FALSE(ignore.excluded("package.json"));
  EXPECT_FALSE(ignore.excluded("src/index.js"));
  EXPECT_TRUE(ignore.excluded("src/secret.txt"));
  EXPECT_FALSE(DockerIgnore::parse("node_modules\n").mayReinclude());
}

TEST(DockerIgnore, CharacterClassesQuestionMarksAndCleanedPatterns) {
  const auto ignore = DockerIgnore::parse("file?.txt\n[ab].js\n./tmp/../cache\n..\n");
  EXPECT_TRUE(ignore.excluded("file1.txt"));
  EXPECT_FALSE(ignore.excluded("file10.txt"));
  EXPECT_TRUE(ignore.excluded("a.js"));
  EXPECT_FALSE(ignore.excluded("c.js"));
  EXPECT_TRUE(ignore.excluded("cache/x")) << "'./tmp/../cache' cleans to 'cache'";
  EXPECT_FALSE(ignore.excluded("tmp/x"));
  EXPECT_FALSE(ignore.excluded("anything")) << "'..' names nothing inside the context";
  EXPECT_TRUE(DockerIgnore::parse("").patterns().empty());
  EXPECT_TRUE(DockerIgnore::parse("!\n/\n").patterns().empty());
}

}  // namespace
}  // namespace berth::builder
