// The fixture of the kernel-switching tests (proxy_nginx_kernel*_test.cpp): a real nginx (berth's
// own master, on free loopback ports), two python3 upstreams on loopback, and an IptablesNat on
// 127.0.0.1 whose chain is removed afterwards. Needs root, as the agent does.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "common/subprocess.hpp"
#include "harness.hpp"
#include "pki/sealed_file.hpp"
#include "proxy/nat/upstream_nat.hpp"
#include "proxy/nginx/nginx_proxy.hpp"
#include "proxy_support.hpp"

namespace berth::itest {

using proxy::AppRoutes;
using proxy::ProxyState;

class NginxKernelSwitch : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "kernel switching needs root (the agent's own condition)";
    std::string pattern = "/tmp/berth-nginx-nat-XXXXXX";
    root_ = ::mkdtemp(pattern.data());
    for (int v = 1; v <= 2; ++v) {
      std::filesystem::create_directories(root_ + "/www" + std::to_string(v));
      std::ofstream(root_ + "/www" + std::to_string(v) + "/index.html") << "v" << v << "\n";
      ports_[v] = freePort();
      upstreams_.push_back(Process::spawn({"/usr/bin/python3", "-m", "http.server", std::to_string(ports_[v]), "--bind",
                                           "127.0.0.1", "--directory", root_ + "/www" + std::to_string(v)},
                                          root_ + "/upstream" + std::to_string(v) + ".log"));
      ASSERT_TRUE(eventually([&] { return request(ports_[v], "x", "/").status == 200; }));
    }
    options_.listen_address = "127.0.0.1";
    options_.http_port = freePort();
    options_.https_port = freePort();
    options_.config_dir = root_ + "/nginx";
    options_.runtime_dir = root_ + "/run";
    std::filesystem::create_directories(options_.config_dir);
    nat_ = std::make_shared<proxy::nat::IptablesNat>(options_.config_dir, options_.config_dir);
    // Loopback stands in for the app network's gateway: DNAT from it to another loopback port works alike.
    auto used = nat_->useGateway("127.0.0.1");
    ASSERT_TRUE(used.ok()) << used.error().message;
    nginx_ = std::make_unique<proxy::nginx::NginxProxy>(options_, "/usr/sbin/nginx", nullptr, nat_);
    ASSERT_TRUE(nginx_->detect().ok()) << "nginx is not installed (scripts/setup.sh installs it)";
    auto started = nginx_->start();
    ASSERT_TRUE(started.ok()) << started.error().message;
  }
  void TearDown() override {
    if (nginx_) nginx_->stop();
    if (nat_) {
      auto removed = nat_->removeRules();
      EXPECT_TRUE(removed.ok()) << removed.error().message;
    }
    eventually([&] { return !nginx_ || nginx_->masterPid() == 0; }, std::chrono::seconds(10));
    upstreams_.clear();
    if (!root_.empty()) std::filesystem::remove_all(root_);
  }
  // The agent restarted: another NginxProxy over the same files and running master, with `nat`.
  void restartWith(std::shared_ptr<proxy::nat::UpstreamNat> nat) {
    nginx_ = std::make_unique<proxy::nginx::NginxProxy>(options_, "/usr/sbin/nginx", nullptr, std::move(nat));
    auto started = nginx_->start();
    ASSERT_TRUE(started.ok()) << started.error().message;
  }
  ProxyState on(int version) {
    ProxyState s;
    s.apps.push_back(AppRoutes{"web", {{{"web.test"}, "/", false}}, {{"127.0.0.1", static_cast<std::uint16_t>(ports_[version])}}, false});
    return s;
  }
  std::string rules(const char* table) {
    auto listed = runProcess({"/usr/sbin/iptables", "-w", "-t", table, "-S", nat_->chain()}, 10'000);
    return listed && listed->exit_code == 0 ? listed->output : "(no chain)";
  }
  // What nginx has loaded: the set `current` names and the master's workers.
  std::string loaded() {
    return std::filesystem::read_symlink(options_.config_dir + "/current").string() + " " + workers();
  }
  std::string workers() {
    auto ps = runProcess({"/usr/bin/pgrep", "-P", std::to_string(nginx_->masterPid())}, 10'000);
    return ps ? ps->output : "";
  }

  std::string root_;
  int ports_[3] = {};
  std::vector<std::unique_ptr<Process>> upstreams_;
  proxy::nginx::NginxOptions options_;
  std::shared_ptr<proxy::nat::IptablesNat> nat_;
  std::unique_ptr<proxy::nginx::NginxProxy> nginx_;
};


}  // namespace berth::itest
