// LD_PRELOAD shim: a disk that fills up, for the trainer's disk-full test (test_train.py
// case faults). write() calls on files whose path contains $ENOSPC_MATCH succeed until
// $ENOSPC_BYTES bytes have gone to such files in all; from then on they fail with ENOSPC, as
// on a full filesystem. Every other write() passes through. (A tmpfs of a fixed size would be
// the real thing, but mounting one needs root, which CI machines may not give.)
#include <dlfcn.h>
#include <errno.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace {

std::atomic<long long> g_written{0};

bool matches(int fd, const char* match) {
  char link[64], path[4096];
  std::snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
  const ssize_t n = ::readlink(link, path, sizeof path - 1);
  if (n <= 0) return false;
  path[n] = '\0';
  return std::strstr(path, match) != nullptr;
}

}  // namespace

extern "C" ssize_t write(int fd, const void* buf, size_t n) {
  using WriteFn = ssize_t (*)(int, const void*, size_t);
  static const WriteFn real = reinterpret_cast<WriteFn>(::dlsym(RTLD_NEXT, "write"));
  static const char* match = std::getenv("ENOSPC_MATCH");
  static const long long limit =
      std::getenv("ENOSPC_BYTES") ? std::atoll(std::getenv("ENOSPC_BYTES")) : -1;
  if (match && limit >= 0 && fd > 2 && matches(fd, match)) {
    if (g_written.fetch_add(static_cast<long long>(n)) + static_cast<long long>(n) > limit) {
      errno = ENOSPC;
      return -1;
    }
  }
  return real(fd, buf, n);
}
