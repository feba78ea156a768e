#include "builder/build_plan.hpp"

#include <gtest/gtest.h>

#include <algorithm>

namespace berth::builder {
namespace {

using Argv = std::vector<std::string>;

RepoFacts node(const std::string& package, std::set<std::string> files = {"package.json", "index.js"}) {
  return {std::move(files), package};
}

TEST(BuildPlan, NodeWithALockfileUsesNpmCiBuildsAndStartsWithItsScripts) {
  auto plan = detectPlan(node(R"({"scripts":{"build":"next build","start":"next start"},"dependencies":{"next":"14"}})",
                              {"package.json", "package-lock.json"}),
                         {});
  ASSERT_TRUE(plan.ok()) << plan.error().message;
  EXPECT_EQ(plan->stack, "node");
  EXPECT_EQ(plan->install, (Argv{"npm", "ci"}));
  EXPECT_EQ(plan->build, (Argv{"npm", "run", "build"}));
  EXPECT_EQ(plan->start, (Argv{"npm", "start"}));
  EXPECT_EQ(plan->env.at("NODE_ENV"), "production");
  EXPECT_EQ(plan->env.at("PORT"), "3000");
  EXPECT_EQ(plan->dependency_files, (Argv{"package.json", "package-lock.json"}));
  EXPECT_NE(std::find(plan->caches.begin(), plan->caches.end(), "/app/.next/cache"), plan->caches.end());
  EXPECT_NE(std::find(plan->caches.begin(), plan->caches.end(), "/root/.npm"), plan->caches.end());
}

TEST(BuildPlan, NodeWithoutALockfileOrScriptsInstallsAndRunsMain) {
  auto plan = detectPlan(node(R"({"main":"./server.js"})", {"package.json", "server.js"}), {});
  ASSERT_TRUE(plan.ok()) << plan.error().message;
  EXPECT_EQ(plan->install, (Argv{"npm", "install"}));
  EXPECT_TRUE(plan->build.empty());
  EXPECT_EQ(plan->start, (Argv{"node", "server.js"}));
  EXPECT_EQ(std::find(plan->caches.begin(), plan->caches.end(), "/app/.next/cache"), plan->caches.end());

  EXPECT_EQ(detectPlan(node("{}"), {})->start, (Argv{"node", "index.js"}));
  auto missing = detectPlan(node("{}", {"package.json"}), {});
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.error().message.find("plan.start"), std::string::npos) << missing.error().message;
  EXPECT_FALSE(detectPlan(node(R"({"main":"../../etc/passwd"})"), {}).ok());
  EXPECT_FALSE(detectPlan(node("[1]"), {}).ok());
  EXPECT_FALSE(detectPlan(node("{"), {}).ok());
}

TEST(BuildPlan, AStaticSiteIsServedFromWhereItsIndexIs) {
  auto plan = detectPlan({{"public/index.html", "public/app.css"}, std::nullopt}, {"node:x", "static:1"});
  ASSERT_TRUE(plan.ok()) << plan.error().message;
  EXPECT_EQ(plan->stack, "static");
  EXPECT_EQ(plan->base_image, "static:1");
  EXPECT_EQ(plan->static_dir, "public");
  EXPECT_EQ(plan->port, 8080);
  auto none = detectPlan({{"main.go"}, std::nullopt}, {});
  ASSERT_FALSE(none.ok());
  EXPECT_EQ(none.error().code, "no_build_plan");
}

TEST(BuildPlan, OverridesReplaceStepsMergeEnvironmentAndRefuseWhatDoesNotBelong) {
  auto plan = *detectPlan(node(R"({"scripts":{"build":"tsc","start":"node dist/main.js"}})"), {});
  auto changed = applyOverride(plan, nlohmann::json::parse(
      R"({"build":[],"start":["node","dist/main.js"],"env":{"NODE_ENV":null,"LOG":"debug"},"port":8000,"base_image":"registry.local:5000/node:20"})"));
  ASSERT_TRUE(changed.ok()) << changed.error().message;
  EXPECT_TRUE(changed->build.empty());
  EXPECT_EQ(changed->start, (Argv{"node", "dist/main.js"}));
  EXPECT_EQ(changed->env.count("NODE_ENV"), 0u);
  EXPECT_EQ(changed->env.at("LOG"), "debug");
  EXPECT_EQ(changed->env.at("PORT"), "8000");
  EXPECT_EQ(changed->base_image, "registry.local:5000/node:20");

  for (const auto& [override, field] : std::vector<std::pair<std::string, std::string>>{
           {R"({"start":"npm start"})", "plan.start"},
           {R"({"start":[]})", "plan.start"},
           {R"({"install":["npm","ci\nRUN curl evil"]})", "plan.install"},
           {R"({"env":{"1X":"a"}})", "plan.env.1X"},
           {R"({"env":{"A":"x\ny"}})", "plan.env.A"},
           {R"({"port":70000})", "plan.port"},
           {R"({"base_image":"UPPER/Case"})", "plan.base_image"},
           {R"({"static_dir":"../.."})", "plan.static_dir"},
           {R"({"shell":"sh"})", "plan.shell"}}) {
    auto r = applyOverride(plan, nlohmann::json::parse(override));
    ASSERT_FALSE(r.ok()) << override;
    EXPECT_NE(r.error().message.find("'" + field + "'"), std::string::npos) << r.error().message;
  }
}

TEST(BuildPlan, TheDockerfileInstallsBeforeCopyingTheSourceAndRunsNoShell) {
  auto plan = *detectPlan(node(R"({"scripts":{"build":"next build","start":"next start"}})",
                               {"package.json", "package-lock.json"}),
                          {});
  plan.env["GREETING"] = R"(say "hi" to $USER \o/)";
  const auto dockerfile = renderDockerfile(plan);
  const auto copyDeps = dockerfile.find(R"(COPY ["package.json","package-lock.json","./"])");
  const auto install = dockerfile.find(R"(RUN ["npm","ci"])");
  const auto env = dockerfile.find("ENV ");
  const auto copyAll = dockerfile.find("COPY . .");
  const auto build = dockerfile.find(R"(RUN ["npm","run","build"])");
  ASSERT_NE(copyDeps, std::string::npos) << dockerfile;
  ASSERT_NE(install, std::string::npos) << dockerfile;
  ASSERT_NE(copyAll, std::string::npos) << dockerfile;
  ASSERT_NE(build, std::string::npos) << dockerfile;
  EXPECT_LT(copyDeps, install);
  EXPECT_LT(install, env) << "installing before NODE_ENV=production keeps devDependencies for the build";
  EXPECT_LT(env, copyAll) << "the source changes most: it comes after every cached step";
  EXPECT_LT(copyAll, build);
  EXPECT_NE(dockerfile.find(R"(GREETING="say \"hi\" to \$USER \\o/")"), std::string::npos) << dockerfile;
  EXPECT_NE(dockerfile.find(R"(CMD ["npm","start"])"), std::string::npos);
  EXPECT_NE(dockerfile.find("EXPOSE 3000"), std::string::npos);
  EXPECT_EQ(dockerfile.find("RUN npm"), std::string::npos) << "no shell form";

  auto site = *detectPlan({{"index.html"}, std::nullopt}, {});
  site = *applyOverride(site, nlohmann::json::parse(R"({"port":9000})"));
  const auto staticFile = renderDockerfile(site);
  EXPECT_NE(staticFile.find(R"(COPY [".","/www/"])"), std::string::npos) << staticFile;
  EXPECT_NE(staticFile.find(R"(CMD ["busybox","httpd","-f","-p","9000","-h","/www"])"), std::string::npos) << staticFile;
}

TEST(BuildPlan, ThePlanAsJsonShowsEveryStep) {
  auto plan = *detectPlan(node(R"({"scripts":{"start":"node ."}})"), {});
  const auto json = planToJson(plan);
  EXPECT_EQ(json["stack"], "node");
  EXPECT_EQ(json["install"], nlohmann::json::parse(R"(["npm","install"])"));
  EXPECT_EQ(json["start"], nlohmann::json::parse(R"(["npm","start"])"));
  EXPECT_EQ(json["port"], 3000);
  EXPECT_FALSE(json.contains("static_dir"));
}

}  // namespace
}  // namespace berth::builder
