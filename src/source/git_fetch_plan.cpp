#include "source/git_fetch_plan.hpp"

#include "common/encoding.hpp"

namespace berth::source {
namespace {

constexpr const char* kPath = "/usr/local/bin:/usr/bin:/bin";

GitCommand git(std::vector<std::string> args, const std::map<std::string, std::string>& environment,
               const GitPaths& paths) {
  std::vector<std::string> argv = {"git", "-C", paths.checkout, "-c", "core.hooksPath=/dev/null",
                                   "-c", "protocol.allow=never", "-c", "protocol.https.allow=always",
                                   "-c", "protocol.ssh.allow=always"};
  argv.insert(argv.end(), args.begin(), args.end());
  return {std::move(argv), environment};
}

bool contains(const std::string& text, const char* what) { return text.find(what) != std::string::npos; }

}  // namespace

std::map<std::string, std::string> gitEnvironment(const GitSource& source, const GitPaths& paths,
                                                  const std::optional<HttpsCredentials>& credentials) {
  std::map<std::string, std::string> env = {
      {"PATH", kPath},
      {"HOME", paths.home},
      {"LANG", "C"},
      {"GIT_TERMINAL_PROMPT", "0"},
      {"GIT_ASKPASS", "/bin/false"},
      {"SSH_ASKPASS", "/bin/false"},
      {"GIT_CONFIG_NOSYSTEM", "1"},
      {"GIT_ALLOW_PROTOCOL", "https:ssh"},
      {"GIT_LFS_SKIP_SMUDGE", "1"},
  };
  std::vector<std::pair<std::string, std::string>> config;
  if (source.url.transport == GitTransport::Ssh) {
    // git runs this through sh: it holds only berth's own path, single-quoted; the
    // host and the repository path reach ssh as separate arguments.
    std::string quoted = "'";
    for (char c : paths.ssh_config) quoted += c == '\'' ? std::string("'\\''") : std::string(1, c);
    env["GIT_SSH_COMMAND"] = "ssh -F " + quoted + "'";
  } else {
    if (credentials && !credentials->token.empty())
      config.emplace_back("http.extraHeader",
                          "Authorization: Basic " + base64Encode(credentials->username + ":" + credentials->token));
    if (!paths.ca_file.empty()) config.emplace_back("http.sslCAInfo", paths.ca_file);
    config.emplace_back("http.followRedirects", "false");
  }
  env["GIT_CONFIG_COUNT"] = std::to_string(config.size());
  for (std::size_t i = 0; i < config.size(); ++i) {
    env["GIT_CONFIG_KEY_" + std::to_string(i)] = config[i].first;
    env["GIT_CONFIG_VALUE_" + std::to_string(i)] = config[i].second;
  }
  return env;
}

GitFetchPlan planFetch(const GitSource& source, const GitPaths& paths, const std::optional<HttpsCredentials>& credentials,
                       const std::string& ref) {
  const auto env = gitEnvironment(source, paths, credentials);
  GitFetchPlan plan;
  plan.commands.push_back({{"git", "init", "-q", "--", paths.checkout}, env});
  plan.commands.push_back(git({"fetch", "-q", "--depth", "1", "--no-tags", "--no-recurse-submodules", "--",
                               source.url.canonical(), ref},
                              env, paths));
  plan.commands.push_back(git({"checkout", "-q", "--detach", "FETCH_HEAD"}, env, paths));
  plan.commands.push_back(git({"rev-parse", "--verify", "FETCH_HEAD^{commit}"}, env, paths));
  return plan;
}

GitCommand planLsRemote(const GitSource& source, const GitPaths& paths,
                        const std::optional<HttpsCredentials>& credentials, const std::string& ref) {
  // Not `git -C checkout`: ls-remote needs no repository, only the same protections.
  return {{"git", "-c", "core.hooksPath=/dev/null", "-c", "protocol.allow=never", "-c", "protocol.https.allow=always",
           "-c", "protocol.ssh.allow=always", "ls-remote", "--", source.url.canonical(), ref},
          gitEnvironment(source, paths, credentials)};
}

std::string commitFromLsRemote(const std::string& output, const std::string& ref) {
  std::map<std::string, std::string> advertised;  // ref name -> commit (a tag's peeled commit when given)
  std::size_t start = 0;
  while (start < output.size()) {
    const auto end = output.find('\n', start);
    // ls-remote ends every line; one without its end was cut (the capture keeps 64 KiB): its
    // name may be the start of a longer one ("refs/heads/main" of "refs/heads/main/x").
    if (end == std::string::npos) break;
    std::string line = output.substr(start, end - start);
    start = end + 1;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    const auto tab = line.find('\t');
    if (tab == std::string::npos) continue;
    const std::string sha = line.substr(0, tab);
    std::string name = line.substr(tab + 1);
    if (!isFullCommitId(sha) || name.empty()) continue;
    const bool peeled = name.size() > 3 && name.compare(name.size() - 3, 3, "^{}") == 0;
    if (peeled) name.resize(name.size() - 3);
    if (peeled || !advertised.count(name)) advertised[name] = sha;
  }
  // git's rules for a short name (git-rev-parse(1), "specifying revisions"), first match wins.
  for (const auto& candidate : {ref, "refs/" + ref, "refs/tags/" + ref, "refs/heads/" + ref}) {
    if (auto it = advertised.find(candidate); it != advertised.end()) return it->second;
  }
  return "";
}

std::string sshConfig(const GitPaths& paths) {
  return "Host *\n"
         "  IdentityFile " + paths.deploy_key + "\n"
         "  IdentitiesOnly yes\n"
         "  IdentityAgent none\n"
         "  UserKnownHostsFile " + paths.known_hosts + "\n"
         "  GlobalKnownHostsFile /dev/null\n"
         "  StrictHostKeyChecking yes\n"
         "  UpdateHostKeys no\n"
         "  BatchMode yes\n"
         "  PasswordAuthentication no\n"
         "  KbdInteractiveAuthentication no\n"
         "  ForwardAgent no\n"
         "  ForwardX11 no\n"
         "  ClearAllForwardings yes\n"
         "  PermitLocalCommand no\n"
         "  ProxyCommand none\n"
         "  ProxyJump none\n"
         "  ConnectTimeout 15\n"
         "  ServerAliveInterval 15\n";
}

std::vector<std::string> keyscanArgv(const GitUrl& url) {
  std::string host = url.host;
  if (host.size() > 2 && host.front() == '[') host = host.substr(1, host.size() - 2);
  return {"ssh-keyscan", "-T", "10", "-t", "ed25519,ecdsa,rsa", "-p", std::to_string(url.port == 0 ? 22 : url.port),
          "--", host};
}

std::string describeGitFailure(const std::string& output) {
  if (contains(output, "Host key verification failed") || contains(output, "REMOTE HOST IDENTIFICATION HAS CHANGED"))
    return "the git server's host key is not the one pinned for this app: " + output;
  if (contains(output, "Permission denied (publickey") || contains(output, "Authentication failed") ||
      contains(output, "could not read Username") || contains(output, "returned error: 401") ||
      contains(output, "returned error: 403"))
    return "the git server refused the app's credentials (deploy key or token): " + output;
  if (contains(output, "couldn't find remote ref") || contains(output, "not our ref") ||
      contains(output, "unadvertised object"))
    return "the git server has no such ref or commit: " + output;
  if (contains(output, "Could not resolve host") || contains(output, "Connection refused") ||
      contains(output, "Connection timed out") || contains(output, "Failed to connect"))
    return "the git server cannot be reached: " + output;
  return "git failed: " + output;
}

}  // namespace berth::source
