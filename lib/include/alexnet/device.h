// The device grammar shared by the library, the element, the CLI and the trainer:
//   auto | LIST,  LIST = DEV[,DEV]*,  DEV = cpu | gpu:N
// e.g. "cpu", "cpu,cpu" (two CPU workers sharing the cores), "gpu:0,gpu:1", "gpu:0,gpu:0".
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "alexnet/tensor.h"

namespace alexnet {

struct Device {
  DeviceKind kind = DeviceKind::Cpu;
  int index = 0;  // GPU ordinal
  std::string str() const;
  bool operator==(const Device&) const = default;
};

// Parses the grammar; throws alexnet::Error quoting the text and what is wrong.
// "auto" resolves to every GPU the CUDA backend sees, or to one CPU worker.
std::vector<Device> parse_devices(const std::string& text);

// The CPU cores this process may use, at least 1: its affinity mask (taskset, a cpuset), and
// a container's CPU quota where that is smaller (cgroup v2 /sys/fs/cgroup/cpu.max rounded
// up, as a container with its own cgroup namespace sees it; quotas on parent cgroups are not
// followed). What "threads = 0, all cores" means everywhere in the library.
int usable_cores();

// The CPU threads of each device in `devices`: `threads` (0 = usable_cores()) split as
// evenly as possible over the CPU devices, the first ones taking the remainder, at least 1
// each, so CPU workers that run at once never oversubscribe the cores; 0 for a GPU.
std::vector<int> split_cpu_threads(const std::vector<Device>& devices, int threads);

// "cpu,gpu:0": the device list as parse_devices reads it.
std::string join_devices(const std::vector<Device>& devices);

// Why GPUs are not available in this build / on this machine ("" if they are).
std::string gpu_unavailable_reason();
int gpu_count();
// One line of facts about GPU `index`: name, compute capability, memory, driver, CUDA
// runtime, cuDNN and cuBLAS versions (or why there is no GPU).
std::string gpu_describe(int index);
// Device memory in use on GPU `index`, bytes (cudaMemGetInfo: total - free, every process's);
// -1 without that GPU. For tests and diagnostics: memory returned after a failure.
int64_t gpu_memory_used(int index);

class Backend;

// NCCL, the GPU all-reduce of data-parallel training (loaded lazily by the CUDA module):
// its version ("2.28.9"), or "" when it is unavailable, and then why (no CUDA module, no
// libnccl.so.2 …; "" when available).
std::string nccl_version();
std::string nccl_unavailable_reason();

// Sums buffers[r][j] (counts[j] floats on backends[r]'s GPU) over the backends r in place
// with NCCL, after multiplying backend r's buffers by scales[r] (empty: no scaling). Every
// backend must be a CUDA backend on a distinct GPU. Returns when every GPU has finished
// (bounded: $ALEXNET_NCCL_TIMEOUT_S, default 60 s); throws alexnet::Error with the reason
// otherwise ("NCCL needs distinct GPUs; gpu:0 is listed twice", NCCL unavailable, a GPU
// that failed or did not finish).
// NCCL between processes (distributed training, one rank per GPU; the trainer bootstraps it
// over MPI, training/src/cluster.h). One rank makes the unique id (ncclGetUniqueId), the
// caller hands it to every rank, each joins with its GPU's backend; then
// nccl_group_allreduce scales a rank's tensors (on that GPU) by `scale` and sums them over
// the ranks in place. Joining and summing are bounded by $ALEXNET_NCCL_TIMEOUT_S (a rank that
// failed, stalled or never joined is an error naming this rank and its GPU; NCCL's
// asynchronous errors are polled too). A group lives as long as the process.
struct NcclGroup;
std::string nccl_unique_id();
NcclGroup* nccl_join(const std::string& id, int nranks, int rank, Backend& backend);
void nccl_group_allreduce(NcclGroup* group, Backend& backend, std::span<Tensor* const> grads,
                          float scale);

void gpu_allreduce(std::span<Backend* const> backends,
                   const std::vector<std::vector<float*>>& buffers, std::span<const int64_t> counts,
                   std::span<const float> scales = {});

}  // namespace alexnet
