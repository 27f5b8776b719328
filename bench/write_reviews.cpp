// bench-reviews DIR: writes the benchmark AdmissionReviews (typical.json, large.json,
// deployment.json, cronjob.json, miner.json) into DIR, for the HTTPS load test's wrk script.
#include <cstdio>
#include <fstream>
#include <iostream>
#include <string>

#include "bench/reviews.h"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: bench-reviews DIR\n";
    return 2;
  }
  for (const char* name : {"typical", "large", "deployment", "cronjob", "miner"}) {
    const std::string path = std::string(argv[1]) + "/" + name + ".json";
    std::ofstream out(path, std::ios::binary);
    out << stratum_guard::bench::ReviewByName(name);
    if (!out.flush()) {
      std::cerr << "bench-reviews: cannot write " << path << "\n";
      return 1;
    }
  }
  return 0;
}
