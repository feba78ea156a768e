#include "source/git_fetch_plan.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>

#include "common/subprocess.hpp"

namespace berth::source {
namespace {

GitPaths paths() {
  return {"/var/lib/berth/builds/b1/src", "/var/lib/berth/builds/b1/home", "/var/lib/berth/builds/b1/ssh_config",
          "/var/lib/berth/builds/b1/key", "/var/lib/berth/builds/b1/known_hosts", ""};
}

GitSource httpsSource() {
  GitSource s;
  s.url = *parseGitUrl("git.url", "https://git.example.com/acme/shop.git");
  s.ref = "main";
  return s;
}

TEST(GitFetchPlan, UserValuesComeOnlyAfterDoubleDashAndSecretsNeverOnACommandLine) {
  const auto plan = planFetch(httpsSource(), paths(), HttpsCredentials{"x-access-token", "ghp_s3cret"}, "release/1.2");
  ASSERT_EQ(plan.commands.size(), 4u);
  const auto& fetch = plan.commands[1].argv;
  const auto dashes = std::find(fetch.begin(), fetch.end(), "--");
  ASSERT_NE(dashes, fetch.end());
  EXPECT_EQ(*(dashes + 1), "https://git.example.com/acme/shop.git");
  EXPECT_EQ(*(dashes + 2), "release/1.2");
  EXPECT_EQ(dashes + 3, fetch.end());
  EXPECT_NE(std::find(fetch.begin(), fetch.end(), "--depth"), fetch.end());
  for (const auto& command : plan.commands) {
    for (const auto& arg : command.argv) EXPECT_EQ(arg.find("s3cret"), std::string::npos) << arg;
    EXPECT_EQ(command.environment.at("GIT_TERMINAL_PROMPT"), "0");
    EXPECT_EQ(command.environment.at("GIT_ALLOW_PROTOCOL"), "https:ssh");
    EXPECT_EQ(command.environment.at("GIT_CONFIG_NOSYSTEM"), "1");
    EXPECT_EQ(command.environment.at("HOME"), paths().home);
  }
  const auto& env = plan.commands[1].environment;
  EXPECT_EQ(env.at("GIT_CONFIG_KEY_0"), "http.extraHeader");
  // base64("x-access-token:ghp_s3cret")
  EXPECT_EQ(env.at("GIT_CONFIG_VALUE_0"), "Authorization: Basic eC1hY2Nlc3MtdG9rZW46Z2hwX3MzY3JldA==");
  EXPECT_EQ(env.count("GIT_SSH_COMMAND"), 0u);
  EXPECT_EQ(plan.commands.back().argv.back(), "FETCH_HEAD^{commit}");
}

TEST(GitFetchPlan, LsRemoteAsksForTheRefAfterDoubleDashWithTheSameProtections) {
  const auto command = planLsRemote(httpsSource(), paths(), HttpsCredentials{"x-access-token", "ghp_s3cret"}, "main");
  const auto& argv = command.argv;
  const auto verb = std::find(argv.begin(), argv.end(), "ls-remote");
  ASSERT_NE(verb, argv.end());
  ASSERT_EQ(argv.end() - verb, 4);
  EXPECT_EQ(*(verb + 1), "--");
  EXPECT_EQ(*(verb + 2), "https://git.example.com/acme/shop.git");
  EXPECT_EQ(*(verb + 3), "main");
  EXPECT_NE(std::find(argv.begin(), verb, "protocol.allow=never"), verb);
  EXPECT_NE(std::find(argv.begin(), verb, "core.hooksPath=/dev/null"), verb);
  for (const auto& arg : argv) EXPECT_EQ(arg.find("s3cret"), std::string::npos) << arg;
  EXPECT_EQ(command.environment, planFetch(httpsSource(), paths(), HttpsCredentials{"x-access-token", "ghp_s3cret"}, "main")
                                     .commands[1]
                                     .environment);
}

TEST(GitFetchPlan, TheCommitALsRemoteAnswerNamesFollowsGitsOrderForShortNames) {
  const std::string a(40, 'a'), b(40, 'b'), c(40, 'c'), d(40, 'd'), e(40, 'e');
  const std::string output = a + "\tHEAD\n" + b + "\trefs/heads/main\n" + c + "\trefs/heads/feature/main\n" + d +
                             "\trefs/tags/v1\n" + e + "\trefs/tags/v1^{}\n" + c + "\trefs/tags/main\r\n";
  EXPECT_EQ(commitFromLsRemote(output, "HEAD"), a);
  EXPECT_EQ(commitFromLsRemote(output, "main"), c) << "refs/tags/<ref> comes before refs/heads/<ref>, as in git";
  EXPECT_EQ(commitFromLsRemote(output, "refs/heads/main"), b);
  EXPECT_EQ(commitFromLsRemote(output, "v1"), e) << "an annotated tag names its peeled commit";
  EXPECT_EQ(commitFromLsRemote(output, "feature/main"), c);
  EXPECT_EQ(commitFromLsRemote(output, "other"), "");
  EXPECT_EQ(commitFromLsRemote(output, "heads/main"), b);
  // Not ls-remote's lines: nothing is taken from them.
  EXPECT_EQ(commitFromLsRemote("fatal: repository not found\n", "main"), "");
  EXPECT_EQ(commitFromLsRemote("xyz\trefs/heads/main\n" + std::string(39, 'a') + "\tmain\n", "main"), "");
  EXPECT_EQ(commitFromLsRemote("", "main"), "");
  // A capture cut short (64 KiB) mid-line: "refs/heads/main/x" cut to "refs/heads/main" is not main.
  EXPECT_EQ(commitFromLsRemote(a + "\trefs/heads/a/main\n" + d + "\trefs/heads/main", "main"), "");
  EXPECT_EQ(commitFromLsRemote(b + "\trefs/heads/main\n" + d + "\trefs/heads/main/x", "main"), b);
}

TEST(GitFetchPlan, SshUsesItsOwnConfigWithTheDeployKeyAndThePinnedHostOnly) {
  GitSource s;
  s.url = *parseGitUrl("git.url", "ssh://git@127.0.0.1:2222/srv/git/app.git");
  GitPaths p = paths();
  p.ssh_config = "/var/lib/it's/ssh_config";
  const auto env = gitEnvironment(s, p, std::nullopt);
  EXPECT_EQ(env.at("GIT_SSH_COMMAND"), R"(ssh -F '/var/lib/it'\''s/ssh_config')");
  EXPECT_EQ(env.at("GIT_CONFIG_COUNT"), "0");
  const auto config = sshConfig(paths());
  for (const char* line : {"IdentityFile /var/lib/berth/builds/b1/key", "IdentitiesOnly yes", "StrictHostKeyChecking yes",
                           "UserKnownHostsFile /var/lib/berth/builds/b1/known_hosts", "GlobalKnownHostsFile /dev/null",
                           "BatchMode yes", "ProxyCommand none", "PermitLocalCommand no"})
    EXPECT_NE(config.find(line), std::string::npos) << line;
  EXPECT_EQ(keyscanArgv(s.url), (std::vector<std::string>{"ssh-keyscan", "-T", "10", "-t", "ed25519,ecdsa,rsa", "-p",
                                                          "2222", "--", "127.0.0.1"}));
}

TEST(GitFetchPlan, KnownFailuresAreNamedPlainly) {
  EXPECT_NE(describeGitFailure("Host key verification failed.\nfatal: Could not read from remote").find("host key"),
            std::string::npos);
  EXPECT_NE(describeGitFailure("git@h: Permission denied (publickey).").find("credentials"), std::string::npos);
  EXPECT_NE(describeGitFailure("fatal: couldn't find remote ref nope").find("no such ref"), std::string::npos);
  EXPECT_NE(describeGitFailure("fatal: unable to access: Failed to connect to 127.0.0.1 port 1").find("cannot be reached"),
            std::string::npos);
}

// Real git with the planned environment: nothing is asked for, the refusal is named.
TEST(GitFetchPlan, RealGitRunsThePlanAndFailsCleanlyAgainstANonListeningServer) {
  const auto dir = std::filesystem::temp_directory_path() / ("berth-fetch-" + std::to_string(::getpid()));
  GitPaths p{(dir / "src").string(), (dir / "home").string(), "", "", "", ""};
  std::filesystem::create_directories(p.home);
  GitSource s;
  s.url = *parseGitUrl("git.url", "https://127.0.0.1:1/acme/shop.git");
  const auto plan = planFetch(s, p, HttpsCredentials{"u", "t"}, "main");
  auto init = runProcess(plan.commands[0].argv, 10'000, {plan.commands[0].environment});
  ASSERT_TRUE(init.ok());
  EXPECT_EQ(init->exit_code, 0) << init->output;
  auto fetch = runProcess(plan.commands[1].argv, 30'000, {plan.commands[1].environment});
  ASSERT_TRUE(fetch.ok());
  EXPECT_NE(fetch->exit_code, 0);
  EXPECT_NE(describeGitFailure(fetch->output).find("cannot be reached"), std::string::npos) << fetch->output;
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace berth::source
