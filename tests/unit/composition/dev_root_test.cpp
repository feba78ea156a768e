#include "composition/dev_root.hpp"

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <set>

#include "../temp_dir.hpp"
#include "pki/sealed_file.hpp"

namespace berth::composition {
namespace {

std::function<bool(int)> freeExcept(std::set<int> taken) {
  return [taken](int port) { return !taken.count(port); };
}

TEST(DevPorts, Prefer443And80WhenTheyCanBeBound) {
  auto ports = chooseDevPorts(std::nullopt, std::nullopt, freeExcept({}));
  EXPECT_EQ(ports.https, 443);
  EXPECT_EQ(ports.http, 80);
  EXPECT_TRUE(ports.warnings.empty());
}

TEST(DevPorts, FallBackTo8443And8080EachOnItsOwn) {
  auto ports = chooseDevPorts(std::nullopt, std::nullopt, freeExcept({443}));
  EXPECT_EQ(ports.https, 8443);
  EXPECT_EQ(ports.http, 80);
  ports = chooseDevPorts(std::nullopt, std::nullopt, freeExcept({80, 443}));
  EXPECT_EQ(ports.https, 8443);
  EXPECT_EQ(ports.http, 8080);
  EXPECT_TRUE(ports.warnings.empty());
}

TEST(DevPorts, GivenPortsAreKeptAndNeitherChoiceFreeIsSaid) {
  auto ports = chooseDevPorts(18080, 18443, freeExcept({18080, 18443}));
  EXPECT_EQ(ports.http, 18080);
  EXPECT_EQ(ports.https, 18443);
  EXPECT_TRUE(ports.warnings.empty());
  ports = chooseDevPorts(std::nullopt, std::nullopt, freeExcept({443, 8443}));
  EXPECT_EQ(ports.https, 8443);
  ASSERT_EQ(ports.warnings.size(), 1u);
  EXPECT_NE(ports.warnings[0].find("--proxy-https-port"), std::string::npos) << ports.warnings[0];
}

TEST(DevPorts, APortSomeoneListensOnCannotBeBound) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
  ASSERT_EQ(::listen(fd, 1), 0);
  socklen_t length = sizeof address;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length);
  const int port = ntohs(address.sin_port);
  EXPECT_FALSE(canBindLoopback(port));
  ::close(fd);
  EXPECT_TRUE(canBindLoopback(port));
}

TEST(DevBanner, NamesTheUrlPatternTheRootAndHowToTrustIt) {
  EXPECT_EQ(devAppUrl("hello", 443), "https://hello.localhost");
  EXPECT_EQ(devAppUrl("<app>", 8443), "https://<app>.localhost:8443");
  const auto banner = devHttpsBanner(8443, "/d/local-ca/root.crt");
  EXPECT_NE(banner.find("https://<app>.localhost:8443"), std::string::npos) << banner;
  EXPECT_NE(banner.find("cp /d/local-ca/root.crt /usr/local/share/ca-certificates/berth-dev.crt"), std::string::npos)
      << banner;
  EXPECT_NE(banner.find("update-ca-certificates"), std::string::npos) << banner;
  EXPECT_NE(banner.find("curl --cacert /d/local-ca/root.crt https://hello.localhost:8443/"), std::string::npos) << banner;
}

TEST(DevAgentSettings, NginxOnLoopbackWithTheLocalCaAndTheGivenPorts) {
  testing::TempDir tmp;
  auto dev = prepareDevAgent(tmp.path(), {{"proxy_http_port", "18080"}, {"proxy_https_port", "18443"}},
                             {{"BERTH_DOCKER_SOCKET", "/tmp/d.sock"}, {"BERTH_STATE_DIR", "/elsewhere"}});
  ASSERT_TRUE(dev.ok()) << dev.error().message;
  EXPECT_EQ(dev->config.proxy, "nginx");
  EXPECT_EQ(dev->config.proxy_listen_address, "127.0.0.1");
  EXPECT_EQ(dev->config.proxy_http_port, 18080);
  EXPECT_EQ(dev->config.proxy_https_port, 18443);
  EXPECT_EQ(dev->config.docker_socket, "/tmp/d.sock");
  EXPECT_EQ(dev->config.state_dir, tmp.path() + "/agent") << "only the dev agent's keys come from the environment";
  ASSERT_TRUE(dev->certificates);
  EXPECT_EQ(dev->certificates->rootPath(), tmp.path() + "/local-ca/root.crt");
  EXPECT_TRUE(pki::fileExists(dev->certificates->rootPath()));

  auto none = prepareDevAgent(tmp.path(), {{"proxy", "none"}}, {});
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->certificates);
  auto bad = prepareDevAgent(tmp.path(), {{"proxy_https_port", "0"}}, {});
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message.find("proxy_https_port"), std::string::npos) << bad.error().message;
}

}  // namespace
}  // namespace berth::composition
