// How berth runs git to fetch one commit of an app's source (issue 11): the
// argv vectors, the environment and the ssh configuration, as pure values, so
// that what reaches git is tested without a git server. The agent's fetcher
// runs them (src/agent/, with a time limit and a cancel).
//
// Every run of git gets: a private HOME and no system config (nobody's
// ~/.gitconfig or /etc/gitconfig applies), GIT_TERMINAL_PROMPT=0 (a missing
// credential fails instead of waiting), GIT_ALLOW_PROTOCOL=https:ssh, hooks
// off, and the user's values only as separate argv elements after `--`.
// Credentials travel in the environment (GIT_CONFIG_COUNT/KEY/VALUE), never
// on a command line another user could read in /proc.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "source/git_source.hpp"

namespace berth::source {

// Files the fetcher writes before running git; all inside one private
// directory berth created, so no path holds user text.
struct GitPaths {
  std::string checkout;     // the work tree (git init'ed here)
  std::string home;         // HOME for git and ssh
  std::string ssh_config;   // ssh -F
  std::string deploy_key;   // ssh: the app's private key (0600)
  std::string known_hosts;  // ssh: the one pinned host key
  std::string ca_file;      // https: extra CAs ("" = the system's)
};

struct HttpsCredentials {
  std::string username = "x-access-token";  // GitHub's convention; any user/token pair works
  std::string token;
};

struct GitCommand {
  std::vector<std::string> argv;
  std::map<std::string, std::string> environment;
};

struct GitFetchPlan {
  std::vector<GitCommand> commands;  // run in order; the last prints the commit fetched
};

// The environment every git command of the fetch runs with.
std::map<std::string, std::string> gitEnvironment(const GitSource& source, const GitPaths& paths,
                                                  const std::optional<HttpsCredentials>& credentials);

// init, fetch --depth 1 of the ref (or the commit), checkout of FETCH_HEAD,
// rev-parse FETCH_HEAD (its output is the full commit id). `ref` is the
// source's ref unless a specific commit is wanted (a rollback rebuilding one).
GitFetchPlan planFetch(const GitSource& source, const GitPaths& paths, const std::optional<HttpsCredentials>& credentials,
                       const std::string& ref);

// `git ls-remote` of the ref: asks the server which commit the ref names,
// without fetching anything (an unchanged commit whose image is on the node
// then needs no fetch at all). Runs without a repository.
GitCommand planLsRemote(const GitSource& source, const GitPaths& paths,
                        const std::optional<HttpsCredentials>& credentials, const std::string& ref);

// The commit `ref` names in ls-remote's output ("<sha>\t<refname>" lines), by
// git's own order for a short name (refs/<ref>, refs/tags/<ref>,
// refs/heads/<ref>); an annotated tag's peeled "^{}" line wins over the tag
// object. Empty when the output names no such ref or its lines are not
// ls-remote's: the caller then fetches, and git says what is wrong. A last
// line without its newline was cut short and is not read.
std::string commitFromLsRemote(const std::string& output, const std::string& ref);

// ssh_config for the fetch: this key only, this known_hosts only, strict host
// key checking, no agent, no forwarding, no password prompts.
std::string sshConfig(const GitPaths& paths);

// ssh-keyscan for the URL's host and port (the first contact with a server
// whose key is not pinned yet, or the check that it is the pinned one).
std::vector<std::string> keyscanArgv(const GitUrl& url);

// What git printed, turned into a message for the deployment: the known
// failures (authentication, host key, missing ref, unreachable) named plainly.
std::string describeGitFailure(const std::string& output);

}  // namespace berth::source
