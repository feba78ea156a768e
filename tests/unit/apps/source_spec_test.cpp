// A deployment's "source" (apps/source_spec): every field checked with the
// source/ functions, hostile values refused naming the field, and the JSON
// round trip.
#include "apps/source_spec.hpp"

#include <gtest/gtest.h>

#include "apps/spec.hpp"

namespace berth::apps {
namespace {

nlohmann::json withSource(nlohmann::json source) {
  return {{"source", std::move(source)}, {"port", 3000}};
}

std::string sourceError(const nlohmann::json& source) {
  auto r = parseDeploymentSpec(withSource(source));
  return r ? "" : r.error().message;
}

TEST(SourceSpec, ParsesEveryFieldAndRoundTrips) {
  const nlohmann::json given = {{"git", "git@github.com:acme/web.git"},
                                {"ref", "release/1.2"},
                                {"dir", "apps/web"},
                                {"dockerfile", "docker/Dockerfile.prod"},
                                {"target", "runtime"},
                                {"build_args", {{"NODE_VERSION", "20"}}},
                                {"plan", {{"start", {"node", "server.js"}}, {"env", {{"MODE", "prod"}}}}},
                                {"rebuild", true}};
  auto spec = parseDeploymentSpec(withSource(given));
  ASSERT_TRUE(spec.ok()) << spec.error().message;
  ASSERT_TRUE(spec->source);
  EXPECT_TRUE(spec->image.empty());
  EXPECT_EQ(spec->source->url.canonical(), "ssh://git@github.com/~/acme/web.git");  // scp form: relative to the login's home
  EXPECT_EQ(spec->source->ref, "release/1.2");
  EXPECT_EQ(spec->source->build_args.at("NODE_VERSION"), "20");
  EXPECT_TRUE(spec->source->rebuild);
  const auto json = toJson(*spec, false);
  EXPECT_EQ(json["source"], given);
  auto again = parseSourceSpec(json["source"]);
  ASSERT_TRUE(again.ok()) << again.error().message;
  EXPECT_EQ(toJson(*again), given);
}

TEST(SourceSpec, DefaultsToMainAtTheRoot) {
  auto s = parseSourceSpec({{"git", "https://git.example.com/acme/web.git"}});
  ASSERT_TRUE(s.ok()) << s.error().message;
  EXPECT_EQ(s->ref, "main");
  EXPECT_EQ(s->dir, "");
  EXPECT_TRUE(s->plan.is_null());
  EXPECT_FALSE(s->rebuild);
}

TEST(SourceSpec, ImageAndSourceTogetherAreRefusedNamingImage) {
  auto r = parseDeploymentSpec({{"image", "nginx:1.25"}, {"source", {{"git", "https://h/a.git"}}}});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("field 'image'"), std::string::npos) << r.error().message;
  // An empty image is the same as none.
  EXPECT_TRUE(parseDeploymentSpec({{"image", ""}, {"source", {{"git", "https://h/a.git"}}}}).ok());
  auto creds = parseDeploymentSpec({{"source", {{"git", "https://h/a.git"}}}, {"registry_auth", {{"username", "u"}, {"password", "p"}}}});
  ASSERT_FALSE(creds.ok());
  EXPECT_NE(creds.error().message.find("field 'registry_auth'"), std::string::npos);
}

TEST(SourceSpec, NeitherImageNorSourceIsRefused) {
  auto r = parseDeploymentSpec({{"port", 80}});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("field 'image'"), std::string::npos);
}

struct Hostile {
  const char* field;
  nlohmann::json source;
};

TEST(SourceSpec, HostileValuesAreRefusedNamingTheField) {
  const std::string url = "https://git.example.com/acme/web.git";
  const std::vector<Hostile> cases = {
      {"source.git", {{"git", "--upload-pack=touch /tmp/canary"}}},
      {"source.git", {{"git", "ext::sh -c touch% /tmp/canary"}}},
      {"source.git", {{"git", "file:///etc"}}},
      {"source.git", {{"git", "https://user:token@github.com/a/b.git"}}},
      {"source.git", {{"git", "https://h/$(id).git"}}},
      {"source.git", {{"git", "https://h/a\n.git"}}},
      {"source.git", {{"git", "https://h/../../etc"}}},
      {"source.git", {{"git", 42}}},
      {"source.git", {{"ref", "main"}}},
      {"source.ref", {{"git", url}, {"ref", "--upload-pack=id"}}},
      {"source.ref", {{"git", url}, {"ref", "-main"}}},
      {"source.ref", {{"git", url}, {"ref", "$(id)"}}},
      {"source.ref", {{"git", url}, {"ref", "`id`"}}},
      {"source.ref", {{"git", url}, {"ref", "main;id"}}},
      {"source.ref", {{"git", url}, {"ref", "main\nid"}}},
      {"source.ref", {{"git", url}, {"ref", "../main"}}},
      {"source.ref", {{"git", url}, {"ref", std::string(300, 'a')}}},
      {"source.dir", {{"git", url}, {"dir", "../outside"}}},
      {"source.dir", {{"git", url}, {"dir", "/etc"}}},
      {"source.dir", {{"git", url}, {"dir", "a/../../b"}}},
      {"source.dockerfile", {{"git", url}, {"dockerfile", "../../etc/passwd"}}},
      {"source.dockerfile", {{"git", url}, {"dockerfile", "-f"}}},
      {"source.target", {{"git", url}, {"target", "--output=/"}}},
      {"source.target", {{"git", url}, {"target", "a b"}}},
      {"source.build_args.X", {{"git", url}, {"build_args", {{"X", "a\nb"}}}}},
      {"source.build_args.1X", {{"git", url}, {"build_args", {{"1X", "v"}}}}},
      {"source.build_args.X", {{"git", url}, {"build_args", {{"X", 1}}}}},
      {"source.plan.start", {{"git", url}, {"plan", {{"start", "npm start"}}}}},
      {"source.plan.start", {{"git", url}, {"plan", {{"start", nlohmann::json::array()}}}}},
      {"source.plan.shell", {{"git", url}, {"plan", {{"shell", true}}}}},
      {"source.plan.base_image", {{"git", url}, {"plan", {{"base_image", "-x"}}}}},
      {"source.plan", {{"git", url}, {"plan", "node"}}},
      {"source.rebuild", {{"git", url}, {"rebuild", "yes"}}},
      {"source.token", {{"git", url}, {"token", "t"}}},
  };
  for (const auto& c : cases) {
    const auto message = sourceError(c.source);
    EXPECT_NE(message.find(std::string("field '") + c.field), std::string::npos)
        << c.source.dump() << " -> " << (message.empty() ? "accepted" : message);
  }
  EXPECT_NE(sourceError("https://h/a.git").find("field 'source'"), std::string::npos);
}

TEST(SourceSpec, ShortCommitIsTwelveHexDigits) {
  EXPECT_EQ(shortCommit("0123456789abcdef0123456789abcdef01234567"), "0123456789ab");
}

}  // namespace
}  // namespace berth::apps
