#include <gtest/gtest.h>

#include "agent/source_build_steps.hpp"
#include "agent/source_builder.hpp"

namespace berth::agent {
namespace {

const std::string kSha = "0123456789abcdef0123456789abcdef01234567";
const std::string kPin = "SHA256:uNiVztksCsDhcc0u9e8BujQXVUpKZIDTMczCvj3tD2s";

nlohmann::json wire() {
  return {{"app", "web.acme"},
          {"source",
           {{"url", "https://git.example.com/acme/web.git"},
            {"ref", "release/1.2"},
            {"dir", "services/web"},
            {"dockerfile", "deploy/Dockerfile"},
            {"target", "runtime"},
            {"build_args", {{"NODE_ENV", "production"}}},
            {"plan", {{"port", 8080}}},
            {"rebuild", true}}},
          {"commit", kSha},
          {"credentials", {{"username", "ci"}, {"token", "t0ken"}}}};
}

TEST(SourceRequestTest, TheWireFormatIsReadFieldByField) {
  auto r = parseSourceBuildRequest(wire());
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->app, "web.acme");
  EXPECT_EQ(r->url, "https://git.example.com/acme/web.git");
  EXPECT_EQ(r->ref, "release/1.2");
  EXPECT_EQ(r->dir, "services/web");
  EXPECT_EQ(r->dockerfile, "deploy/Dockerfile");
  EXPECT_EQ(r->target, "runtime");
  EXPECT_EQ(r->build_args.at("NODE_ENV"), "production");
  EXPECT_EQ(r->plan["port"], 8080);
  EXPECT_TRUE(r->rebuild);
  EXPECT_EQ(r->commit, kSha);
  EXPECT_EQ(r->credentials.username, "ci");
  EXPECT_EQ(r->credentials.token, "t0ken");
}

TEST(SourceRequestTest, HostileOrMalformedValuesAreRefusedNamingTheField) {
  struct Case {
    std::string pointer;
    nlohmann::json value;
    std::string field;
  };
  const std::vector<Case> cases = {
      {"/source/ref", "--upload-pack=touch /tmp/x", "source.ref"},
      {"/source/ref", "-u", "source.ref"},
      {"/source/url", "ext::sh -c touch% /tmp/x", "source.url"},
      {"/source/url", "file:///etc", "source.url"},
      {"/source/url", "https://user:pw@git.example.com/x.git", "source.url"},
      {"/source/dir", "../..", "source.dir"},
      {"/source/dir", "/etc", "source.dir"},
      {"/source/dockerfile", "../../etc/shadow", "source.dockerfile"},
      {"/source/target", "--network=host", "source.target"},
      {"/source/build_args", {{"A B", "x"}}, "source.build_args"},
      {"/source/rebuild", "yes", "source.rebuild"},
      {"/source/plan", "npm start", "source.plan"},
      {"/source/surprise", 1, "source.surprise"},
      {"/commit", "abc123", "commit"},
      {"/commit", "--upload-pack=x", "commit"},
      {"/credentials/host_key", "MD5:aa", "credentials.host_key"},
      {"/credentials/username", "a:b", "credentials.username"},
      {"/credentials/token", "a\r\nX-Injected: 1", "credentials.token"},
      {"/credentials/extra", "x", "credentials.extra"},
      {"/app", "../web", "app"},
      {"/app", "Web App", "app"},
  };
  for (const auto& c : cases) {
    auto args = wire();
    args[nlohmann::json::json_pointer(c.pointer)] = c.value;
    auto r = parseSourceBuildRequest(args);
    ASSERT_FALSE(r.ok()) << c.pointer << " = " << c.value.dump();
    EXPECT_EQ(r.error().code, "invalid_argument") << c.pointer;
    EXPECT_NE(r.error().message.find("'" + c.field), std::string::npos) << r.error().message;
  }
  auto noApp = wire();
  noApp.erase("app");
  EXPECT_FALSE(parseSourceBuildRequest(noApp).ok());
  auto sshWithoutKey = wire();
  sshWithoutKey["source"]["url"] = "git@git.example.com:acme/web.git";
  auto r = parseSourceBuildRequest(sshWithoutKey);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("credentials.deploy_key"), std::string::npos);
}

TEST(SourceRequestTest, CheckedSourceRefusesARequestBuiltInCodeToo) {
  SourceBuildRequest request;
  request.app = "web";
  request.url = "https://git.example.com/web.git";
  request.ref = "--upload-pack=touch /tmp/pwned";
  auto r = source_build::checkedSource(request);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("source.ref"), std::string::npos);
}

TEST(SourceRequestTest, TheImageTagIsTheSanitisedAppKeyAndTwelveHexOfTheCommit) {
  EXPECT_EQ(sourceImageTag("web", kSha), "web:0123456789ab");
  EXPECT_EQ(sourceImageTag("web.acme", kSha), "web.acme:0123456789ab");
  EXPECT_EQ(sourceImageTag("Web_App", kSha), "web_app:0123456789ab");
  EXPECT_EQ(sourceImageTag("-x/../y:z", kSha), "x-..-y-z:0123456789ab");
  EXPECT_EQ(sourceImageTag("..", kSha), "app:0123456789ab");
}

TEST(SourceRequestTest, OfferedHostKeysAreReadBackFromTheError) {
  const std::string other = "SHA256:" + std::string(43, 'A');
  Error unpinned = makeError("host_key_unpinned", "the git server h:22's host key is not pinned for this app; it offers " +
                                                      kPin + " (ssh-ed25519), " + other + " (ssh-rsa). Check one");
  EXPECT_EQ(offeredHostKeys(unpinned), (std::vector<std::string>{kPin, other}));
  Error mismatch = makeError("host_key_mismatch", "the git server h's host key is not the pinned " + other +
                                                      ": it offers " + kPin + " (ssh-ed25519)");
  EXPECT_EQ(offeredHostKeys(mismatch), (std::vector<std::string>{kPin}));
  EXPECT_TRUE(offeredHostKeys(makeError("git_failed", "it offers " + kPin)).empty());
}

TEST(SourceRequestTest, TheResultHasTheFieldsTheServerReads) {
  BuiltImage built{kSha, "web:0123456789ab", "sha256:1", nlohmann::json{{"stack", "node"}}, true};
  const auto j = built.toJson();
  EXPECT_EQ(j["commit"], kSha);
  EXPECT_EQ(j["image"], "web:0123456789ab");
  EXPECT_EQ(j["plan"]["stack"], "node");
  EXPECT_EQ(j["reused"], true);
  EXPECT_TRUE(BuiltImage{}.toJson()["plan"].is_null());
}

TEST(SourceRequestTest, TheBuildLabelNamesAppCommitAndEveryInputThatShapesTheImage) {
  SourceBuildRequest base;
  base.app = "web.acme";
  const builder::PlanSettings settings;
  const auto digest = buildInputsDigest(base, settings);
  EXPECT_EQ(digest.size(), 16u);
  EXPECT_EQ(buildInputsDigest(base, settings), digest) << "stable";
  EXPECT_EQ(buildLabelValue("web.acme", kSha, digest), "web.acme@" + kSha + ":" + digest);
  // Not part of the image: the ref, the credentials, rebuild, the commit asked for.
  auto same = base;
  same.ref = "release";
  same.credentials.token = "t";
  same.rebuild = true;
  same.commit = kSha;
  EXPECT_EQ(buildInputsDigest(same, settings), digest);
  // Each of these makes another image.
  std::vector<SourceBuildRequest> changed(5, base);
  changed[0].dir = "app";
  changed[1].dockerfile = "Dockerfile.prod";
  changed[2].target = "runtime";
  changed[3].build_args = {{"MODE", "debug"}};
  changed[4].plan = nlohmann::json{{"port", 8080}};
  for (const auto& request : changed) EXPECT_NE(buildInputsDigest(request, settings), digest);
  builder::PlanSettings otherBase;
  otherBase.node_image = "node:22";
  EXPECT_NE(buildInputsDigest(base, otherBase), digest);
}

}  // namespace
}  // namespace berth::agent
