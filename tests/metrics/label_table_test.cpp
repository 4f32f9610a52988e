#include <catch2/catch.hpp>
#include <string>
#include <thread>
#include <vector>

#include "metrics/label_table.h"

using mlsidecar::metrics::LabelTable;

TEST_CASE("values beyond the capacity fold into 'other'") {
  LabelTable table(3);
  CHECK(table.index("a") == 0);
  CHECK(table.index("b") == 1);
  CHECK(table.index("a") == 0);
  CHECK(table.size() == 2);
  CHECK_FALSE(table.in_use(2));
  CHECK(table.index("c") == 2);
  CHECK(table.index("d") == 2);
  CHECK(table.name(2) == "other");
  CHECK(table.in_use(2));
  CHECK(table.size() == 3);
}

TEST_CASE("concurrent lookups agree on one index per value") {
  LabelTable table(64);
  std::vector<std::thread> threads;
  std::vector<std::vector<std::size_t>> seen(4);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int round = 0; round < 200; ++round) {
        for (int v = 0; v < 40; ++v) seen[t].push_back(table.index("model-" + std::to_string(v)));
      }
    });
  }
  for (auto& th : threads) th.join();
  for (int v = 0; v < 40; ++v) {
    std::size_t idx = table.index("model-" + std::to_string(v));
    CHECK(table.name(idx) == "model-" + std::to_string(v));
    for (int t = 0; t < 4; ++t) CHECK(seen[t][static_cast<std::size_t>(v)] == idx);
  }
  CHECK(table.size() == 40);
}
