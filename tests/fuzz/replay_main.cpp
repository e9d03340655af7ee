// main() for the fuzz targets in a normal build (meson test --suite fuzz): each argument is a
// file or a folder of files (the seed corpus, the crash regressions), run through
// LLVMFuzzerTestOneInput; then `--mutate N` seeded mutations of those inputs (bit flips,
// byte changes, insertions, deletions, truncation, splices), so every CI run also explores a
// little. A crash, a sanitizer report or an abort fails the test. libFuzzer itself (clang,
// tests/fuzz/run.sh) replaces this main.
#include <dirent.h>
#include <sys/stat.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "fuzz_common.h"

namespace {

std::string read_all(const std::string& path) {
  std::string bytes;
  FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) {
    std::fprintf(stderr, "cannot open %s\n", path.c_str());
    std::exit(1);
  }
  char buf[65536];
  for (size_t n; (n = std::fread(buf, 1, sizeof buf, f)) > 0;) bytes.append(buf, n);
  std::fclose(f);
  return bytes;
}

void collect(const std::string& path, std::vector<std::string>* files) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) {
    std::fprintf(stderr, "no such file or folder: %s\n", path.c_str());
    std::exit(1);
  }
  if (!S_ISDIR(st.st_mode)) {
    files->push_back(path);
    return;
  }
  DIR* d = ::opendir(path.c_str());
  std::vector<std::string> names;
  while (dirent* e = ::readdir(d))
    if (e->d_name[0] != '.') names.push_back(e->d_name);
  ::closedir(d);
  std::sort(names.begin(), names.end());
  for (const std::string& n : names) collect(path + "/" + n, files);
}

void run(const std::string& bytes) {
  LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> files;
  long mutations = 0;
  for (int i = 1; i < argc; ++i) {
    if (std::string(argv[i]) == "--mutate" && i + 1 < argc)
      mutations = std::atol(argv[++i]);
    else
      collect(argv[i], &files);
  }
  std::vector<std::string> inputs;
  for (const std::string& f : files) {
    inputs.push_back(read_all(f));
    run(inputs.back());
  }
  std::printf("%zu inputs replayed\n", inputs.size());
  if (inputs.empty() || mutations <= 0) return 0;
  std::mt19937_64 rng(20261206);
  for (long m = 0; m < mutations; ++m) {
    std::string s = inputs[rng() % inputs.size()];
    const int edits = 1 + static_cast<int>(rng() % 4);
    for (int e = 0; e < edits; ++e) {
      const size_t pos = s.empty() ? 0 : rng() % s.size();
      switch (rng() % 6) {
        case 0:
          if (!s.empty()) s[pos] = static_cast<char>(s[pos] ^ (1u << (rng() % 8)));
          break;
        case 1:
          if (!s.empty()) s[pos] = static_cast<char>(rng());
          break;
        case 2:
          s.insert(pos, 1 + rng() % 4, static_cast<char>(rng()));
          break;
        case 3:
          if (!s.empty()) s.erase(pos, 1 + rng() % 16);
          break;
        case 4:
          s.resize(rng() % (s.size() + 1));
          break;
        default: {  // splice in part of another input
          const std::string& o = inputs[rng() % inputs.size()];
          if (!o.empty()) s.insert(pos, o.substr(rng() % o.size(), 1 + rng() % 32));
        }
      }
    }
    run(s);
  }
  std::printf("%ld seeded mutations: every one gave a result or an alexnet::Error\n", mutations);
  return 0;
}
