// Test helper: writes a weights file with seeded random weights.
//   make_model OUT.safetensors CONFIG CLASSES SEED
#include <cstdio>
#include <cstdlib>

#include "alexnet/weights.h"

int main(int argc, char** argv) {
  if (argc != 5) {
    std::fprintf(stderr, "usage: make_model OUT CONFIG CLASSES SEED\n");
    return 2;
  }
  try {
    alexnet::NetConfig cfg = alexnet::NetConfig::by_name(argv[2], std::atoi(argv[3]));
    alexnet::save_model(alexnet::random_model(cfg, std::strtoull(argv[4], nullptr, 10)), argv[1]);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "make_model: %s\n", e.what());
    return 1;
  }
  return 0;
}
