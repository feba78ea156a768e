// SourceBuilder against the in-memory runtime: which images an app's prune
// may touch (the builds themselves run git and dockerd: tests/integration/
// source_image_test.cpp).
#include "agent/source_builder.hpp"

#include <gtest/gtest.h>

#include "../../support/memory_runtime.hpp"
#include "../temp_dir.hpp"

namespace berth::agent {
namespace {

const std::string kCommitA(40, 'a');

TEST(SourceBuilderPrune, AnAppsPruneTakesOnlyImagesLabelledForThatExactAppKey) {
  berth::testing::TempDir dir;
  berth::testing::MemoryRuntime runtime;
  auto labelled = [&](const std::string& tag, const std::string& id, const std::string& app) {
    runtime.images[tag] = {id, {}, {{kBuildLabel, buildLabelValue(app, kCommitA, "0011223344556677")}}};
  };
  labelled("web:aaaaaaaaaaaa", "sha256:web", "web");
  labelled("web.acme:aaaaaaaaaaaa", "sha256:webacme", "web.acme");  // org acme's web
  labelled("webx:aaaaaaaaaaaa", "sha256:webx", "webx");
  labelled("we:aaaaaaaaaaaa", "sha256:we", "we");
  runtime.images["nginx:1"] = {"sha256:nginx", {}, {}};  // an image app's pull: no label
  SourceBuilder builder(runtime, BuildSettings{}, dir.path());
  auto removed = builder.prune("web", {});
  ASSERT_TRUE(removed.ok()) << removed.error().message;
  EXPECT_EQ(*removed, std::vector<std::string>{"web:aaaaaaaaaaaa"});
  EXPECT_EQ(runtime.removed_images, std::vector<std::string>{"web:aaaaaaaaaaaa"});
  for (const char* other : {"web.acme:aaaaaaaaaaaa", "webx:aaaaaaaaaaaa", "we:aaaaaaaaaaaa", "nginx:1"})
    EXPECT_TRUE(runtime.images.count(other)) << other;
  // The org's app prunes its own, by its whole key.
  ASSERT_TRUE(builder.prune("web.acme", {"sha256:webacme"}).ok());
  EXPECT_TRUE(runtime.images.count("web.acme:aaaaaaaaaaaa")) << "kept by id";
  EXPECT_EQ(*builder.prune("web.acme", {}), std::vector<std::string>{"web.acme:aaaaaaaaaaaa"});
}

}  // namespace
}  // namespace berth::agent
