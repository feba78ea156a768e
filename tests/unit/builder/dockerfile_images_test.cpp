#include "builder/dockerfile_images.hpp"

#include <gtest/gtest.h>

namespace berth::builder {
namespace {

using Images = std::vector<std::string>;

TEST(DockerfileImages, FromLinesNamingNoStageAndNotScratch) {
  EXPECT_EQ(externalImages("FROM node:20 AS build\nRUN npm ci\nFROM build\nFROM scratch\nFROM BUILD AS again\n", {}),
            Images{"node:20"});
  EXPECT_EQ(externalImages("from --platform=linux/amd64 reg.io/base@sha256:abc as b\nFROM debian:12\n", {}),
            (Images{"reg.io/base@sha256:abc", "debian:12"}));
}

TEST(DockerfileImages, CopyAndAddFromAnImageButNotFromAStageOrIndex) {
  const char* text =
      "FROM alpine AS tools\nFROM debian:12\nCOPY --from=tools /a /a\nCOPY --from=0 /b /b\n"
      "COPY --chown=1:1 --from=nginx:1.25 /etc/nginx /etc/nginx\nADD --from=private.io/secret:1 /s /s\n";
  EXPECT_EQ(externalImages(text, {}), (Images{"alpine", "debian:12", "nginx:1.25", "private.io/secret:1"}));
}

TEST(DockerfileImages, ArgumentsBeforeTheFirstFromAndBuildArgsOverrideThem) {
  const char* text = "ARG BASE=node:20\nARG REG=reg.io TAG=\"1\"\nFROM ${BASE}\nFROM $REG/app:${TAG}\n"
                     "FROM ${MISSING:-fallback:2}\nARG LATE=x\nFROM $LATE\n";
  EXPECT_EQ(externalImages(text, {}), (Images{"node:20", "reg.io/app:1", "fallback:2"}));
  EXPECT_EQ(externalImages(text, {{"BASE", "other.io/secret:9"}})[0], "other.io/secret:9");
}

TEST(DockerfileImages, ContinuationsCommentsBlankLinesAndTheEscapeDirective) {
  EXPECT_EQ(externalImages("# syntax=docker/dockerfile:1\n\nFROM \\\n  # a comment inside\n\n  debian:12 \\\n  AS b\n", {}),
            Images{"debian:12"});
  EXPECT_EQ(externalImages("# escape=`\r\nFROM `\r\n  mcr.io/windows:1\r\n", {}), Images{"mcr.io/windows:1"});
  EXPECT_EQ(externalImages("RUN x\n# escape=`\nFROM a \\\n", {}), Images{"a"}) << "a directive only at the top";
  EXPECT_TRUE(externalImages("", {}).empty());
  EXPECT_TRUE(externalImages("FROM\nFROM --platform=x\n", {}).empty());
}

}  // namespace
}  // namespace berth::builder
