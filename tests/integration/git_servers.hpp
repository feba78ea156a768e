// Real git servers for the source-build tests, each started by the test on a
// free loopback port and stopped by its destructor:
//  - SshGitServer: OpenSSH's sshd (-D, its own config and host key), the root
//    user with a forced git-shell command, the authorized key given.
//  - HttpsGitServer: nginx (TLS from a test CA, basic auth) in front of
//    fcgiwrap running `git http-backend`.
// GitRepo makes the repositories they serve (a work tree, commits, a bare copy).
#pragma once

#include <map>
#include <memory>
#include <string>

#include "harness.hpp"

namespace berth::itest {

// Runs git with a private HOME and a fixed author; fails the test on error. Its output.
std::string runGit(const std::vector<std::string>& args, const std::string& home);

// A work tree under `dir`/work with commits, pushed to the bare `dir`/<name>.git.
class GitRepo {
 public:
  GitRepo(std::string dir, std::string name);
  // Writes files (path -> content; "@link:" + target makes a symlink), commits them; the commit id.
  std::string commit(const std::map<std::string, std::string>& files, const std::string& message = "change");
  // Makes branch `name` at the current commit (then back on main).
  void branch(const std::string& name);
  std::string bare() const { return dir_ + "/" + name_ + ".git"; }

 private:
  void publish();
  std::string dir_, name_, work_, home_;
};

class SshGitServer {
 public:
  // Serves the repositories under `root` to `authorized_public_key` only.
  SshGitServer(std::string dir, const std::string& authorized_public_key);
  ~SshGitServer();
  bool ready() const { return ready_; }
  int port() const { return port_; }
  // "SHA256:..." of its host key, as ssh-keygen -l prints it.
  const std::string& fingerprint() const { return fingerprint_; }
  std::string url(const std::string& bare_path) const;
  std::string log() const { return process_ ? process_->log() : ""; }

 private:
  std::string dir_;
  int port_ = 0;
  bool ready_ = false;
  std::string fingerprint_;
  std::unique_ptr<Process> process_;
};

class HttpsGitServer {
 public:
  // Serves the bare repositories under `repos` to user `user` with password `token`.
  HttpsGitServer(std::string dir, std::string repos, const std::string& user, const std::string& token);
  ~HttpsGitServer();
  bool ready() const { return ready_; }
  std::string url(const std::string& repo_name) const;  // https://127.0.0.1:PORT/<name>.git
  const std::string& caFile() const { return ca_file_; }
  std::string log() const;
  // How many requests nginx logged whose line (request, status, body) contains
  // `what`, e.g. "command=fetch" for a protocol v2 fetch.
  int requestsMatching(const std::string& what) const;

 private:
  std::string dir_, repos_, ca_file_;
  int port_ = 0;
  bool ready_ = false;
  std::unique_ptr<Process> fcgi_, nginx_;
};

}  // namespace berth::itest
