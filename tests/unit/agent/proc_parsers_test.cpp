#include "agent/proc_parsers.hpp"

#include <gtest/gtest.h>

namespace berth::agent {
namespace {

TEST(ProcStat, ParsesTheAggregateLineAndCountsCpus) {
  const std::string text =
      "cpu  100 10 50 800 40 5 5 0 0 0\n"
      "cpu0 50 5 25 400 20 2 3 0 0 0\n"
      "cpu1 50 5 25 400 20 3 2 0 0 0\n"
      "intr 12345\n";
  auto t = parseProcStat(text);
  ASSERT_TRUE(t.has_value());
  EXPECT_EQ(t->busy, 100u + 10 + 50 + 5 + 5 + 0);
  EXPECT_EQ(t->total, t->busy + 800 + 40);
  EXPECT_EQ(countCpus(text), 2);
  EXPECT_FALSE(parseProcStat("intr 1\n").has_value());
}

TEST(ProcStat, CpuPercentBetweenSamples) {
  EXPECT_DOUBLE_EQ(cpuPercent({100, 1000}, {150, 1100}), 50.0);
  EXPECT_DOUBLE_EQ(cpuPercent({100, 1000}, {100, 1000}), 0.0);
}

TEST(Meminfo, ConvertsKilobytes) {
  auto m = parseMeminfo(
      "MemTotal:       16000 kB\nMemFree: 1 kB\nMemAvailable:    8000 kB\nSwapTotal: 100 kB\nSwapFree: 50 kB\n");
  ASSERT_TRUE(m.has_value());
  EXPECT_EQ(m->total_bytes, 16000u * 1024);
  EXPECT_EQ(m->available_bytes, 8000u * 1024);
  EXPECT_EQ(m->swap_free_bytes, 50u * 1024);
  EXPECT_FALSE(parseMeminfo("MemTotal: 1 kB\n").has_value());
}

TEST(Loadavg, ParsesThreeFigures) {
  auto l = parseLoadavg("0.50 1.25 2.00 1/123 4567\n");
  ASSERT_TRUE(l.has_value());
  EXPECT_DOUBLE_EQ(l->five, 1.25);
  EXPECT_FALSE(parseLoadavg("garbage").has_value());
}

TEST(NetDev, SumsInterfacesExceptLoopback) {
  const std::string text =
      "Inter-|   Receive                                                |  Transmit\n"
      " face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier "
      "compressed\n"
      "    lo: 1000 10 0 0 0 0 0 0 1000 10 0 0 0 0 0 0\n"
      "  eth0: 200 2 0 0 0 0 0 0 300 3 0 0 0 0 0 0\n"
      "  eth1: 20 1 0 0 0 0 0 0 30 1 0 0 0 0 0 0\n";
  auto n = parseNetDev(text);
  ASSERT_TRUE(n.has_value());
  EXPECT_EQ(n->rx_bytes, 220u);
  EXPECT_EQ(n->tx_bytes, 330u);
  EXPECT_EQ(n->tx_packets, 4u);
}

}  // namespace
}  // namespace berth::agent
