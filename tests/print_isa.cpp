// Prints the instruction set the cpu backend's oneDNN kernels run with here (for
// tests/run_isa.sh, which skips the AVX2 runs on a CPU that has nothing above AVX2).
#include <cstdio>

#include "alexnet/backend.h"

int main() {
  std::printf("%s\n", alexnet::cpu_backend_isa().c_str());
  return 0;
}
