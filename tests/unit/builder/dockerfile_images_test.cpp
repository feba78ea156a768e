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

TEST(DockerfileImages, ReadsWhatDockersParserReadsWhereTheyCouldDiffer) {
  // Each of these once hid a FROM from the check (attack pass, stop 25).
  EXPECT_EQ(externalImages("\xEF\xBB\xBF" "FROM secret:1\n", {}), Images{"secret:1"}) << "a byte-order mark";
  EXPECT_EQ(externalImages("FROM a\n\xC2\xA0" "COPY --from=secret:1 /s /s\n", {}), (Images{"a", "secret:1"}))
      << "a Unicode space before the keyword";
  for (const char* space : {"\xE2\x80\x80", "\xE2\x80\x85", "\xE2\x80\x8A"})  // U+2000, U+2005, U+200A
    EXPECT_EQ(externalImages(std::string("FROM a\n") + space + "FROM secret:1\n", {}), (Images{"a", "secret:1"}))
        << "a space of U+2000..U+200A before the keyword";
  EXPECT_EQ(externalImages("FROM a\n\xE2\x80\x8B" "FROM secret:1\n", {}), Images{"a"})
      << "U+200B is no space to Docker: the line is no FROM";
  EXPECT_EQ(externalImages("LABEL a=b\\\f\nFROM secret:1\n", {}), Images{"secret:1"})
      << "an escape followed by a form feed continues nothing";
  EXPECT_EQ(externalImages("# es cape=`\nFROM a `\nFROM secret:1\n", {}), (Images{"a", "secret:1"}))
      << "not a directive: the escape stays a backslash";
  EXPECT_EQ(externalImages("ARG B=secret:1\nARG A=\"x B=open:1 y\"\nFROM $B\n", {}), Images{"secret:1"})
      << "a quoted ARG value is one word";
  EXPECT_EQ(externalImages("ARG B=secret:1\nARG A=x\\ B=open:1\nFROM $B\n", {}), Images{"secret:1"})
      << "an escaped space stays in the word";
  EXPECT_EQ(externalImages("FROM secret:lat$1est\n", {}), Images{"secret:latest"}) << "$1 is a variable of its own";
  EXPECT_EQ(externalImages("FROM $HTTP_PROXY\n", {{"HTTP_PROXY", "secret:1"}}), Images{"secret:1"})
      << "the proxy arguments need no ARG";
  EXPECT_EQ(externalImages("FROM \"secret:1\"\nCOPY --from='other:2' /a /a\nFROM ${A:-${B:-nested:3}}\n", {}),
            (Images{"secret:1", "other:2", "nested:3"}))
      << "quotes and nested defaults";
}

}  // namespace
}  // namespace berth::builder
