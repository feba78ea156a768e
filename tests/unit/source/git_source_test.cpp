#include "source/git_source.hpp"

#include <gtest/gtest.h>

#include <vector>

namespace berth::source {
namespace {

std::string refusal(const Result<GitUrl>& r) { return r ? "" : r.error().message; }
std::string refusal(const Result<void>& r) { return r ? "" : r.error().message; }

TEST(GitUrl, AcceptsHttpsSshAndScpFormsAndSpellsThemForGit) {
  auto https = parseGitUrl("git.url", "https://GitHub.com/acme/shop.git");
  ASSERT_TRUE(https.ok()) << https.error().message;
  EXPECT_EQ(https->transport, GitTransport::Https);
  EXPECT_EQ(https->host, "github.com");
  EXPECT_EQ(https->canonical(), "https://github.com/acme/shop.git");

  auto port = parseGitUrl("git.url", "https://127.0.0.1:8443/git/app.git");
  ASSERT_TRUE(port.ok()) << port.error().message;
  EXPECT_EQ(port->port, 8443);
  EXPECT_EQ(port->canonical(), "https://127.0.0.1:8443/git/app.git");

  auto ssh = parseGitUrl("git.url", "ssh://deploy@[::1]:2222/srv/git/app.git");
  ASSERT_TRUE(ssh.ok()) << ssh.error().message;
  EXPECT_EQ(ssh->user, "deploy");
  EXPECT_EQ(ssh->canonical(), "ssh://deploy@[::1]:2222/srv/git/app.git");

  auto scp = parseGitUrl("git.url", "git@github.com:acme/shop.git");
  ASSERT_TRUE(scp.ok()) << scp.error().message;
  EXPECT_EQ(scp->canonical(), "ssh://git@github.com/~/acme/shop.git") << "relative to the login's home";
  auto absolute = parseGitUrl("git.url", "git@127.0.0.1:/srv/git/app.git");
  ASSERT_TRUE(absolute.ok());
  EXPECT_EQ(absolute->canonical(), "ssh://git@127.0.0.1/srv/git/app.git");
  EXPECT_EQ(parseGitUrl("git.url", "ssh://host/r.git")->user, "git");
}

// One case per class the issue names, and the neighbours of each.
TEST(GitUrl, RefusesOptionsShellTextControlCharactersAndTraversalNamingTheField) {
  for (const std::string bad : {"--upload-pack=touch /tmp/canary", "-oProxyCommand=id", "https://h/$(id).git",
                                "https://h/`id`.git", "https://h/r.git;id", "https://h/r.git\nid", "https://h/../etc",
                                "git@h:../../etc/passwd", "https://h/r.git|id", "https://h/r.git&id", "https://h/a b",
                                "https://h/r.git#frag", "https://h/r.git?x=1", "h:-oProxyCommand=id", "https://h/-x/r.git",
                                "https://h/r%zz.git", "https://h/r\x7f"}) {
    auto r = parseGitUrl("git.url", bad);
    EXPECT_FALSE(r.ok()) << bad;
    EXPECT_NE(refusal(r).find("field 'git.url'"), std::string::npos) << refusal(r);
  }
}

TEST(GitUrl, RefusesOtherProtocolsRemoteHelpersCredentialsAndBadHosts) {
  EXPECT_NE(refusal(parseGitUrl("u", "http://h/r.git")).find("https:// or ssh://"), std::string::npos);
  EXPECT_NE(refusal(parseGitUrl("u", "file:///srv/r.git")).find("https:// or ssh://"), std::string::npos);
  EXPECT_NE(refusal(parseGitUrl("u", "git://h/r.git")).find("https:// or ssh://"), std::string::npos);
  EXPECT_NE(refusal(parseGitUrl("u", "ext::sh")).find("remote helper"), std::string::npos);
  EXPECT_NE(refusal(parseGitUrl("u", "/srv/git/r.git")).find("user@host:path"), std::string::npos) << "a local path";
  EXPECT_NE(refusal(parseGitUrl("u", "./r:x")).find("user@host:path"), std::string::npos);
  EXPECT_NE(refusal(parseGitUrl("u", "https://x-access-token:ghp_secret@github.com/a/b.git")).find("credentials"),
            std::string::npos);
  EXPECT_NE(refusal(parseGitUrl("u", "ssh://u:pw@h/r.git")).find("password"), std::string::npos);
  EXPECT_FALSE(parseGitUrl("u", "https://-h/r.git").ok());
  EXPECT_FALSE(parseGitUrl("u", "https://h_x/r.git").ok());
  EXPECT_FALSE(parseGitUrl("u", "https://h:0/r.git").ok());
  EXPECT_FALSE(parseGitUrl("u", "https://h:99999/r.git").ok());
  EXPECT_FALSE(parseGitUrl("u", "https://h").ok());
  EXPECT_FALSE(parseGitUrl("u", "https://h/").ok());
  EXPECT_FALSE(parseGitUrl("u", "-@h:r").ok());
  EXPECT_FALSE(parseGitUrl("u", "").ok());
  EXPECT_FALSE(parseGitUrl("u", "https://h/" + std::string(2100, 'a')).ok());
  EXPECT_FALSE(parseGitUrl("u", "https://h/r\xc3\xa9.git").ok()) << "non-ASCII is refused, not guessed at";
}

TEST(GitRef, AcceptsBranchesTagsAndFullCommits) {
  for (const std::string good : {"main", "release/1.2", "v1.0.0", "feature/fix#12", "refs/heads/main",
                                 "0123456789abcdef0123456789abcdef01234567"})
    EXPECT_TRUE(validateGitRef("git.ref", good).ok()) << good;
  EXPECT_TRUE(isFullCommitId("0123456789abcdef0123456789abcdef01234567"));
  EXPECT_FALSE(isFullCommitId("0123456789ABCDEF0123456789abcdef01234567"));
  EXPECT_FALSE(isFullCommitId("abc123"));
}

TEST(GitRef, RefusesOptionsShellTextAndWhatCheckRefFormatRefuses) {
  for (const std::string bad : std::vector<std::string>{"--upload-pack=id", "-x", "$(id)", "`id`", ";id", "main\nid", "../main", "a/../b",
                                "main;rm", "a b", "a~1", "a^", "a:b", "a?", "a*", "a[", "a\\b", "@", "a@{1}", "/a",
                                "a/", "a//b", "a.", ".a", "a/.b", "a.lock", "a/b.lock/c", "", std::string(256, 'a'),
                                std::string("a\0b", 3), "main|id", "main&id", "main>x", "'a'", "\"a\"", "a!"}) {
    auto r = validateGitRef("git.ref", bad);
    EXPECT_FALSE(r.ok()) << bad;
    EXPECT_NE(refusal(r).find("field 'git.ref'"), std::string::npos) << refusal(r);
  }
}

TEST(RepoPath, KeepsPathsInsideTheCheckout) {
  EXPECT_TRUE(validateRepoPath("git.dir", "").ok());
  EXPECT_TRUE(validateRepoPath("git.dir", "apps/web").ok());
  EXPECT_TRUE(validateRepoPath("git.dockerfile", "docker/Dockerfile.prod").ok());
  for (const std::string bad : std::vector<std::string>{"/etc", "..", "a/../..", "a/./b", "a//b", "a/", "-x", "a/-x", "a\\b", "a;b", "$(id)",
                                "a\nb", std::string(1025, 'a')}) {
    auto r = validateRepoPath("git.dir", bad);
    EXPECT_FALSE(r.ok()) << bad;
    EXPECT_NE(refusal(r).find("field 'git.dir'"), std::string::npos) << refusal(r);
  }
}

TEST(HostKey, TakesOnlyASha256Fingerprint) {
  EXPECT_TRUE(validateHostKeyFingerprint("host_key", "SHA256:uNiVztksCsDhcc0u9e8BujQXVUpKZIDTMczCvj3tD2s").ok());
  for (const std::string bad : {"", "MD5:aa:bb", "SHA256:short", "sha256:uNiVztksCsDhcc0u9e8BujQXVUpKZIDTMczCvj3tD2s",
                                "SHA256:uNiVztksCsDhcc0u9e8BujQXVUpKZIDTMczCvj3tD2s=",
                                "SHA256:uNiVztksCsDhcc0u9e8BujQXVUpKZIDTMczCvj3t;2s"})
    EXPECT_FALSE(validateHostKeyFingerprint("host_key", bad).ok()) << bad;
}

TEST(BuildArgs, NamesLikeVariablesValuesWithoutControlCharactersAndBounded) {
  EXPECT_TRUE(validateBuildArgs("build_args", {{"NODE_VERSION", "20"}, {"NOTE", "a b\t$(not run)"}}).ok())
      << "values are data, passed as build arguments, never to a shell";
  EXPECT_NE(refusal(validateBuildArgs("build_args", {{"1X", "a"}})).find("build_args.1X"), std::string::npos);
  EXPECT_NE(refusal(validateBuildArgs("build_args", {{"X", "a\nb"}})).find("build_args.X"), std::string::npos);
  std::map<std::string, std::string> many;
  for (int i = 0; i < 65; ++i) many["A" + std::to_string(i)] = "x";
  EXPECT_FALSE(validateBuildArgs("build_args", many).ok());
  EXPECT_FALSE(validateBuildArgs("build_args", {{"BIG", std::string(33 * 1024, 'x')}}).ok());
}

}  // namespace
}  // namespace berth::source
