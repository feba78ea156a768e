#include "git_servers.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "common/subprocess.hpp"
#include "proxy_support.hpp"

namespace berth::itest {
namespace {

std::string runTool(const std::vector<std::string>& argv, const std::string& what) {
  auto r = runProcess(argv, 60000);
  EXPECT_TRUE(r.ok() && r->exit_code == 0) << what << ": " << (r ? r->output : r.error().message);
  return r ? r->output : "";
}

}  // namespace

std::string runGit(const std::vector<std::string>& args, const std::string& home) {
  std::vector<std::string> argv = {"git"};
  argv.insert(argv.end(), args.begin(), args.end());
  ProcessOptions options;
  options.environment = std::map<std::string, std::string>{
      {"PATH", "/usr/bin:/bin"}, {"HOME", home}, {"GIT_CONFIG_NOSYSTEM", "1"},
      {"GIT_AUTHOR_NAME", "t"}, {"GIT_AUTHOR_EMAIL", "t@example.com"},
      {"GIT_COMMITTER_NAME", "t"}, {"GIT_COMMITTER_EMAIL", "t@example.com"}};
  auto r = runProcess(argv, 60000, options);
  EXPECT_TRUE(r.ok() && r->exit_code == 0) << "git " << args[0] << ": " << (r ? r->output : r.error().message);
  return r ? r->output : "";
}

GitRepo::GitRepo(std::string dir, std::string name)
    : dir_(std::move(dir)), name_(std::move(name)), work_(dir_ + "/" + name_ + "-work"), home_(dir_ + "/git-home") {
  std::filesystem::create_directories(work_);
  std::filesystem::create_directories(home_);
  runGit({"init", "-q", "-b", "main", work_}, home_);
}

std::string GitRepo::commit(const std::map<std::string, std::string>& files, const std::string& message) {
  for (const auto& [path, content] : files) {
    const std::string full = work_ + "/" + path;
    std::filesystem::create_directories(std::filesystem::path(full).parent_path());
    std::filesystem::remove(full);
    if (content.rfind("@link:", 0) == 0) {
      EXPECT_EQ(::symlink(content.substr(6).c_str(), full.c_str()), 0);
    } else {
      std::ofstream(full, std::ios::binary) << content;
    }
  }
  runGit({"-C", work_, "add", "-A"}, home_);
  runGit({"-C", work_, "commit", "-q", "-m", message}, home_);
  publish();
  auto sha = runGit({"-C", work_, "rev-parse", "HEAD"}, home_);
  while (!sha.empty() && (sha.back() == '\n' || sha.back() == '\r')) sha.pop_back();
  return sha;
}

void GitRepo::branch(const std::string& name) {
  runGit({"-C", work_, "branch", "-f", name}, home_);
  publish();
}

void GitRepo::publish() {
  if (!std::filesystem::exists(bare())) {
    runGit({"init", "-q", "--bare", "-b", "main", bare()}, home_);
    // As GitHub and GitLab do: a commit may be fetched by its id (webhook pushes, rollbacks).
    runGit({"-C", bare(), "config", "uploadpack.allowReachableSHA1InWant", "true"}, home_);
    runGit({"-C", bare(), "config", "http.receivepack", "false"}, home_);
  }
  runGit({"-C", work_, "push", "-q", "--force", "--all", bare()}, home_);
}

SshGitServer::SshGitServer(std::string dir, const std::string& authorized_public_key) : dir_(std::move(dir)) {
  std::filesystem::create_directories(dir_);
  std::filesystem::create_directories("/run/sshd");  // sshd's privilege separation directory
  runTool({"ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", dir_ + "/host_key"}, "host key");
  const auto printed = runTool({"ssh-keygen", "-l", "-f", dir_ + "/host_key.pub"}, "fingerprint");
  if (auto at = printed.find("SHA256:"); at != std::string::npos) fingerprint_ = printed.substr(at, 50);
  // Only git: git-shell runs what the client asked for when it is git-upload-pack.
  std::ofstream(dir_ + "/authorized_keys")
      << "command=\"/usr/bin/git-shell -c \\\"$SSH_ORIGINAL_COMMAND\\\"\",no-port-forwarding,no-X11-forwarding,"
         "no-agent-forwarding,no-pty "
      << authorized_public_key << "\n";
  port_ = freePort();
  std::ofstream(dir_ + "/sshd_config") << "ListenAddress 127.0.0.1\n"
                                       << "HostKey " << dir_ << "/host_key\n"
                                       << "PidFile " << dir_ << "/sshd.pid\n"
                                       << "AuthorizedKeysFile " << dir_ << "/authorized_keys\n"
                                       << "StrictModes no\nUsePAM no\nPasswordAuthentication no\n"
                                       << "KbdInteractiveAuthentication no\nPermitRootLogin forced-commands-only\n"
                                       << "AllowUsers root\nLogLevel VERBOSE\n";
  ::chmod((dir_ + "/sshd_config").c_str(), 0600);
  process_ = Process::spawn({"/usr/sbin/sshd", "-D", "-e", "-f", dir_ + "/sshd_config", "-p", std::to_string(port_)},
                            dir_ + "/sshd.log");
  ready_ = eventually([&] {
    auto r = runProcess({"ssh-keyscan", "-T", "2", "-p", std::to_string(port_), "127.0.0.1"}, 5000);
    return r && r->output.find("ssh-ed25519") != std::string::npos;
  });
}

SshGitServer::~SshGitServer() {
  if (process_) {
    process_->signal(SIGTERM);
    process_->wait(std::chrono::seconds(10));
  }
}

std::string SshGitServer::url(const std::string& bare_path) const {
  return "ssh://root@127.0.0.1:" + std::to_string(port_) + bare_path;
}

HttpsGitServer::HttpsGitServer(std::string dir, std::string repos, const std::string& user, const std::string& token)
    : dir_(std::move(dir)), repos_(std::move(repos)), ca_file_(dir_ + "/ca.pem") {
  std::filesystem::create_directories(dir_ + "/tmp");
  // A test CA and a server certificate it signs for 127.0.0.1.
  runTool({"openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout",
       dir_ + "/ca.key", "-out", ca_file_, "-days", "1", "-subj", "/CN=berth test git CA"},
      "CA");
  runTool({"openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout",
       dir_ + "/server.key", "-out", dir_ + "/server.csr", "-subj", "/CN=127.0.0.1"},
      "CSR");
  std::ofstream(dir_ + "/ext.cnf") << "subjectAltName=IP:127.0.0.1\n";
  runTool({"openssl", "x509", "-req", "-in", dir_ + "/server.csr", "-CA", ca_file_, "-CAkey", dir_ + "/ca.key",
       "-CAcreateserial", "-out", dir_ + "/server.pem", "-days", "1", "-extfile", dir_ + "/ext.cnf"},
      "certificate");
  std::ofstream(dir_ + "/htpasswd") << runTool({"htpasswd", "-bnm", user, token}, "htpasswd");
  // One process (no -c): prefork children outlive a SIGTERM to their parent.
  fcgi_ = Process::spawn({"/usr/sbin/fcgiwrap", "-s", "unix:" + dir_ + "/fcgi.sock"}, dir_ + "/fcgiwrap.log");
  port_ = freePort();
  std::ofstream(dir_ + "/nginx.conf")
      << "daemon off;\nmaster_process off;\nuser root;\npid " << dir_ << "/nginx.pid;\nerror_log " << dir_
      << "/error.log info;\nevents {}\nhttp {\n"
      // The request body too: protocol v2 names its command there ("command=fetch", "command=ls-refs").
      << "  log_format git '$request $status $request_body';\n  access_log " << dir_ << "/access.log git;\n"
      << "  client_body_temp_path " << dir_ << "/tmp/body;\n  fastcgi_temp_path " << dir_ << "/tmp/fastcgi;\n"
      << "  proxy_temp_path " << dir_ << "/tmp/proxy;\n  uwsgi_temp_path " << dir_ << "/tmp/uwsgi;\n"
      << "  scgi_temp_path " << dir_ << "/tmp/scgi;\n"
      << "  server {\n    listen 127.0.0.1:" << port_ << " ssl;\n    ssl_certificate " << dir_
      << "/server.pem;\n    ssl_certificate_key " << dir_ << "/server.key;\n"
      << "    location / {\n      auth_basic \"git\";\n      auth_basic_user_file " << dir_ << "/htpasswd;\n"
      << "      include /etc/nginx/fastcgi_params;\n      fastcgi_pass unix:" << dir_ << "/fcgi.sock;\n"
      << "      fastcgi_param SCRIPT_FILENAME /usr/lib/git-core/git-http-backend;\n"
      << "      fastcgi_param GIT_PROJECT_ROOT " << repos_ << ";\n      fastcgi_param GIT_HTTP_EXPORT_ALL \"\";\n"
      << "      fastcgi_param PATH_INFO $uri;\n      fastcgi_param REMOTE_USER $remote_user;\n"
      << "      fastcgi_param GIT_PROTOCOL $http_git_protocol;\n    }\n  }\n}\n";
  nginx_ = Process::spawn({"/usr/sbin/nginx", "-c", dir_ + "/nginx.conf", "-p", dir_, "-e", dir_ + "/error.log"},
                          dir_ + "/nginx.log");
  ready_ = eventually([&] {
    auto r = runProcess({"curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--cacert", ca_file_,
                         "https://127.0.0.1:" + std::to_string(port_) + "/"},
                        3000);
    return r && r->output == "401" && std::filesystem::exists(dir_ + "/fcgi.sock");
  });
}

HttpsGitServer::~HttpsGitServer() {
  for (auto* p : {&nginx_, &fcgi_}) {
    if (*p) {
      (*p)->signal(SIGTERM);
      (*p)->wait(std::chrono::seconds(10));
    }
  }
}

std::string HttpsGitServer::url(const std::string& repo_name) const {
  return "https://127.0.0.1:" + std::to_string(port_) + "/" + repo_name + ".git";
}

std::string HttpsGitServer::log() const {
  std::ifstream in(dir_ + "/error.log");
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>()) +
         (fcgi_ ? fcgi_->log() : "");
}

int HttpsGitServer::requestsMatching(const std::string& what) const {
  std::ifstream in(dir_ + "/access.log");
  int count = 0;
  for (std::string line; std::getline(in, line);) count += line.find(what) != std::string::npos ? 1 : 0;
  return count;
}

}  // namespace berth::itest
