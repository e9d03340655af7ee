#include "alexnet/data_parallel.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <future>
#include <thread>
#include <utility>

#include "alexnet/backend.h"
#include "alexnet/error.h"
#include "core/device_timeout.h"

namespace alexnet {

namespace {

// Why an NCCL all-reduce cannot sum over `devices` ("" when it can).
std::string nccl_obstacle(const std::vector<Device>& devices) {
  for (const Device& d : devices)
    if (d.kind != DeviceKind::Gpu) return d.str() + " is not a GPU";
  for (size_t i = 0; i < devices.size(); ++i)
    for (size_t j = i + 1; j < devices.size(); ++j)
      if (devices[i] == devices[j])
        return "NCCL needs distinct GPUs; " + devices[i].str() + " is listed twice";
  std::string why = nccl_unavailable_reason();
  if (!why.empty()) return "NCCL is unavailable: " + why;
  return "";
}

// Auto resolved by $ALEXNET_REDUCE (host | nccl | auto).
Reduction requested(Reduction asked) {
  if (asked != Reduction::Auto) return asked;
  const char* env = std::getenv("ALEXNET_REDUCE");
  if (!env || !*env) return Reduction::Auto;
  std::string v = env;
  if (v == "host") return Reduction::Host;
  if (v == "nccl") return Reduction::Nccl;
  if (v == "auto") return Reduction::Auto;
  throw Error("ALEXNET_REDUCE=\"" + v + "\": expected host, nccl or auto");
}

}  // namespace

// Waits for every replica's task (an invalid future: no task), for at most the device timeout
// in all, and collects the first failure. A replica that has not finished by then is
// abandoned: its task, and (in the destructor) every network, are deliberately never freed,
// since the stalled thread may still use them; the error names the replica. Later calls are
// refused.
template <class T, class OnValue>
void DataParallel::wait_replicas(std::vector<std::future<T>>& tasks, const char* what,
                                 OnValue on_value) {
  const double limit = device_timeout_seconds();
  const auto deadline = std::chrono::steady_clock::now() +
                        std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                            std::chrono::duration<double>(limit));
  for (size_t r = 0; r < tasks.size(); ++r) {
    if (!tasks[r].valid() || tasks[r].wait_until(deadline) == std::future_status::ready) continue;
    new std::vector<std::future<T>>(std::move(tasks));  // leaked: ~future would wait for it
    stalled_ = "replica " + std::to_string(r) + " (" + devices_[r].str() + ")";
    throw Error("DataParallel " + join_devices(devices_) + ": " + stalled_ +
                " did not finish its " + what + " within " + device_timeout_text(limit) +
                "; the device failed or is stuck");
  }
  std::exception_ptr failure;
  for (size_t r = 0; r < tasks.size(); ++r) {
    if (!tasks[r].valid()) continue;
    try {
      if constexpr (std::is_void_v<T>) {
        tasks[r].get();
      } else {
        on_value(r, tasks[r].get());
      }
    } catch (...) {
      if (!failure) failure = std::current_exception();
    }
  }
  if (failure) std::rethrow_exception(failure);
}

void DataParallel::refuse_if_stalled() const {
  if (!stalled_.empty())
    throw Error("DataParallel " + join_devices(devices_) + ": " + stalled_ +
                " stalled in an earlier step; this runner cannot be used any more");
}

DataParallel::DataParallel(const NetConfig& cfg, const std::vector<Device>& devices, int threads,
                           Reduction reduce)
    : devices_(devices) {
  if (devices_.empty()) throw Error("DataParallel: empty device list");
  if (threads < 0) throw Error("DataParallel: threads must be >= 0 (0 = all cores)");
  const std::vector<int> split = split_cpu_threads(devices_, threads);
  for (size_t i = 0; i < devices_.size(); ++i)
    nets_.push_back(std::make_unique<Network>(cfg, make_backend(devices_[i], split[i])));
  // One replica needs no reduction (forward_backward is the Network's own).
  const Reduction want = requested(reduce);
  if (nets_.size() > 1 && want != Reduction::Host) {
    std::string why = nccl_obstacle(devices_);
    if (why.empty()) {
      // A one-float all-reduce now: the communicators are made here, and a host where NCCL
      // loads but cannot start (Auto) falls back to the host reduction instead of failing
      // at the first step.
      try {
        std::vector<Backend*> backends;
        std::vector<Tensor> probe;
        std::vector<std::vector<float*>> buffers;
        for (auto& n : nets_) {
          backends.push_back(&n->backend());
          probe.push_back(n->backend().zeros({1}));
          buffers.push_back({probe.back().data()});
        }
        const int64_t one = 1;
        gpu_allreduce(backends, buffers, std::span<const int64_t>(&one, 1));
      } catch (const Error& e) {
        why = std::string("the NCCL all-reduce failed: ") + e.what();
      }
    }
    if (why.empty())
      reduction_ = Reduction::Nccl;
    else if (want == Reduction::Nccl)
      throw Error("DataParallel " + join_devices(devices_) +
                  ": the NCCL all-reduce was asked for, but " + why);
    else
      reduction_note_ = why;
  }
  set_seed(0);
}

DataParallel::~DataParallel() {
  if (stalled_.empty()) return;
  for (auto& n : nets_) (void)n.release();  // a stalled task may still be running on them
}

std::string DataParallel::describe() const {
  std::string s = join_devices(devices_);
  s.append(" (").append(std::to_string(nets_.size())).append(" replica");
  if (nets_.size() == 1) return s.append(")");
  s.append(reduction_ == Reduction::Nccl ? "s, NCCL all-reduce)" : "s, host reduction)");
  return s;
}

void DataParallel::load(const Model& model) {
  for (auto& n : nets_) n->load(model);
}

void DataParallel::set_params(const std::vector<NamedTensor>& host) {
  for (auto& n : nets_) n->set_params(host);
}

std::vector<NamedTensor> DataParallel::get_params() {
  return nets_.front()->get_params();
}

std::vector<NamedTensor> DataParallel::get_momentum() {
  return nets_.front()->get_momentum();
}

void DataParallel::set_momentum(const std::vector<NamedTensor>& host) {
  for (auto& n : nets_) n->set_momentum(host);
}

Tensor DataParallel::forward(const Tensor& x, bool training) {
  return nets_.front()->forward(x, training);
}

void DataParallel::set_seed(uint64_t seed) {
  // One seed: each replica's rows draw the whole batch's masks (set_batch_offset below).
  for (auto& n : nets_) n->set_seed(seed);
}

void DataParallel::set_batch_offset(int64_t first_row) {
  if (first_row < 0)
    throw Error("set_batch_offset: negative first row " + std::to_string(first_row));
  batch_offset_ = first_row;
}

void DataParallel::set_gradient_exchange(GradientExchange exchange) {
  exchange_ = std::move(exchange);
  // One replica: the Network's own forward_backward runs, and calls it.
  if (nets_.size() == 1) nets_.front()->set_gradient_exchange(exchange_);
}

void DataParallel::set_step(uint64_t step) {
  for (auto& n : nets_) n->set_step(step);
}

float DataParallel::forward_backward(const Tensor& x, std::span<const int> labels,
                                     Tensor* logits_out) {
  refuse_if_stalled();
  if (nets_.size() == 1) {
    nets_.front()->set_batch_offset(batch_offset_);
    return nets_.front()->forward_backward(x, labels, logits_out);
  }
  if (x.rank() != 4 || x.dim(0) < 1)
    throw Error("DataParallel: input " + shape_str(x.shape()) + " must be (N, C, H, W)");
  const int64_t N = x.dim(0);
  if (static_cast<int64_t>(labels.size()) != N)
    throw Error("DataParallel: " + std::to_string(labels.size()) + " labels for a batch of " +
                std::to_string(N));
  const int64_t R = static_cast<int64_t>(nets_.size());
  slice_sizes_.assign(static_cast<size_t>(R), 0);
  // Each task returns its loss and logits rather than writing into this frame: an abandoned
  // (stalled) one touches nothing of the caller's.
  std::vector<std::future<std::pair<float, Tensor>>> tasks(static_cast<size_t>(R));
  std::vector<Tensor> logits(static_cast<size_t>(R));
  const bool want_logits = logits_out != nullptr;
  for (int64_t r = 0; r < R; ++r) {
    int64_t begin = N * r / R, end = N * (r + 1) / R;
    slice_sizes_[static_cast<size_t>(r)] = end - begin;
    if (end == begin) continue;
    Network* net = nets_[static_cast<size_t>(r)].get();
    net->set_batch_offset(batch_offset_ + begin);
    tasks[static_cast<size_t>(r)] = std::async(
        std::launch::async,
        [net, want_logits, r, xs = copy_rows(x, begin, end),
         ls = std::vector<int>(labels.begin() + begin, labels.begin() + end)]() {
          debug_stall_point(static_cast<size_t>(r), net->step() + 1);
          Tensor mine;
          const float loss = net->forward_backward(xs, ls, want_logits ? &mine : nullptr);
          return std::pair<float, Tensor>(loss, std::move(mine));
        });
  }
  // Wait for every replica (boundedly) before rethrowing, so none is left running on our data.
  double loss = 0;
  wait_replicas(tasks, "forward and backward pass", [&](size_t r, std::pair<float, Tensor> out) {
    loss += double(out.first) * double(slice_sizes_[r]);
    logits[r] = std::move(out.second);
  });

  if (reduction_ == Reduction::Nccl)
    reduce_with_nccl(N);
  else
    reduce_on_host(N);
  if (logits_out) {
    int64_t K = 0;
    for (const Tensor& l : logits)
      if (!l.empty()) K = l.dim(1);
    Tensor all({N, K});
    int64_t row = 0;
    for (const Tensor& l : logits) {
      if (l.empty()) continue;
      std::memcpy(all.data() + row * K, l.data(), l.nbytes());
      row += l.dim(0);
    }
    *logits_out = std::move(all);
  }
  return static_cast<float>(loss / double(N));
}

// g = sum_r (n_r / N) g_r, in double, then the same tensor into every replica.
void DataParallel::reduce_on_host(int64_t N) {
  const int64_t R = static_cast<int64_t>(nets_.size());
  const size_t P = nets_.front()->params().size();
  std::vector<Tensor> sums(P);
  for (size_t p = 0; p < P; ++p) {
    Tensor& sum = sums[p];
    std::vector<double> acc;
    for (int64_t r = 0; r < R; ++r) {
      int64_t n = slice_sizes_[static_cast<size_t>(r)];
      if (n == 0) continue;
      Network& net = *nets_[static_cast<size_t>(r)];
      Tensor g = net.backend().to_host(net.params()[p].grad);
      if (acc.empty()) acc.assign(static_cast<size_t>(g.numel()), 0.0), sum = Tensor(g.shape());
      const double w = double(n) / double(N);
      for (int64_t i = 0; i < g.numel(); ++i) acc[static_cast<size_t>(i)] += w * g.data()[i];
    }
    for (int64_t i = 0; i < sum.numel(); ++i)
      sum.data()[i] = static_cast<float>(acc[static_cast<size_t>(i)]);
  }
  if (exchange_) {  // with the other processes' (distributed training), on the host
    std::vector<Tensor*> grads;
    for (Tensor& s : sums) grads.push_back(&s);
    exchange_(nullptr, grads);
  }
  for (size_t p = 0; p < P; ++p)
    for (auto& net : nets_) net->backend().upload(sums[p], net->params()[p].grad);
}

// g = sum_r (n_r / N) g_r on the GPUs: each replica's gradients scaled by n_r / N (0 without
// a slice: stale values are zeroed, not summed), then one NCCL all-reduce over all of them.
void DataParallel::reduce_with_nccl(int64_t N) {
  const size_t R = nets_.size(), P = nets_.front()->params().size();
  std::vector<Backend*> backends(R);
  std::vector<std::vector<float*>> buffers(R);
  std::vector<int64_t> counts(P);
  std::vector<float> scales(R);
  for (size_t r = 0; r < R; ++r) {
    Network& net = *nets_[r];
    backends[r] = &net.backend();
    scales[r] = static_cast<float>(double(slice_sizes_[r]) / double(N));
    for (size_t p = 0; p < P; ++p) {
      Param& prm = net.params()[p];
      // A replica that has not run backward yet (no slice so far) has no gradient tensor.
      if (prm.grad.empty() || prm.grad.shape() != prm.value.shape())
        prm.grad = net.backend().zeros(prm.value.shape());
      buffers[r].push_back(prm.grad.data());
      counts[p] = prm.grad.numel();
    }
  }
  gpu_allreduce(backends, buffers, counts, scales);
  // With the other processes' (distributed training): replica 0's sum is exchanged (one call
  // per step, as with the host reduction, so every process makes the same collectives), then
  // handed to the other replicas by one more all-reduce in which they weigh 0.
  if (exchange_) {
    std::vector<Tensor*> grads;
    for (Param& prm : nets_.front()->params()) grads.push_back(&prm.grad);
    exchange_(&nets_.front()->backend(), grads);
    std::vector<float> only_first(R, 0.0f);
    only_first[0] = 1.0f;
    gpu_allreduce(backends, buffers, counts, only_first);
  }
}

void DataParallel::sgd_step(float lr, float momentum, float weight_decay) {
  refuse_if_stalled();
  // Replicas with no slice still take the step: every replica holds the reduced gradient.
  std::vector<std::future<void>> done;
  for (auto& n : nets_) {
    Network* net = n.get();
    done.push_back(
        std::async(std::launch::async, [=] { net->sgd_step(lr, momentum, weight_decay); }));
  }
  wait_replicas(done, "SGD step", nullptr);
}

}  // namespace alexnet
