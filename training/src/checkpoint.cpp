#include "checkpoint.h"

#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmath>
#include <map>
#include <nlohmann/json.hpp>

#include "alexnet/error.h"

namespace train {

using nlohmann::json;

namespace {

constexpr const char* kKey = "alexnet.checkpoint";
constexpr int kVersion = 1;
constexpr const char* kMomentum = "optimizer.momentum.";
constexpr const char* kBest = "state.best.";

json lr_to_json(const LrState& s) {
  return {{"lr", s.lr},
          {"best_error", s.best_error},
          {"bad_epochs", s.bad_epochs},
          {"reductions", s.reductions}};
}

json record_to_json(const EpochRecord& r) {
  return {{"epoch", r.epoch},
          {"step", r.step},
          {"lr", r.lr},
          {"train_loss", r.train_loss},
          {"train_top1_error", r.train_top1_error},
          {"val_loss", r.val_loss},
          {"val_top1_error", r.val_top1_error},
          {"val_top5_error", r.val_top5_error},
          {"seconds", r.seconds},
          {"images_per_second", r.images_per_second},
          {"skipped", r.skipped}};
}

EpochRecord record_from_json(const json& j) {
  EpochRecord r;
  r.epoch = j.at("epoch").get<int>();
  r.step = j.at("step").get<uint64_t>();
  r.lr = j.at("lr").get<double>();
  r.train_loss = j.at("train_loss").get<double>();
  r.train_top1_error = j.at("train_top1_error").get<double>();
  r.val_loss = j.at("val_loss").get<double>();
  r.val_top1_error = j.at("val_top1_error").get<double>();
  r.val_top5_error = j.at("val_top5_error").get<double>();
  r.seconds = j.at("seconds").get<double>();
  r.images_per_second = j.at("images_per_second").get<double>();
  r.skipped = j.at("skipped").get<uint64_t>();
  return r;
}

bool starts_with(const std::string& s, const std::string& p) {
  return s.rfind(p, 0) == 0;
}

}  // namespace

bool all_finite(const std::vector<alexnet::NamedTensor>& ts, std::string* bad) {
  for (const auto& t : ts) {
    const float* d = t.value.data();
    for (int64_t i = 0; i < t.value.numel(); ++i)
      if (!std::isfinite(d[i])) {
        if (bad) *bad = t.name;
        return false;
      }
  }
  return true;
}

void save_checkpoint(const std::string& path, const Checkpoint& ck) {
  std::vector<alexnet::NamedTensor> tensors;
  for (const auto& t : ck.weights) tensors.push_back(t);
  for (const auto& t : ck.momentum) tensors.push_back({kMomentum + t.name, t.value});
  for (const auto& t : ck.best) tensors.push_back({kBest + t.name, t.value});
  std::string bad;
  if (!all_finite(tensors, &bad))
    throw alexnet::Error(path + ": not writing a checkpoint: tensor " + bad +
                         " holds a non-finite value");

  json history = json::array();
  for (const auto& r : ck.history) history.push_back(record_to_json(r));
  json state = {{"version", kVersion},
                {"epoch", ck.epoch},
                {"batch", ck.batch},
                {"step", ck.step},
                {"bad_steps", ck.bad_steps},
                {"seed", ck.seed},
                {"lr_schedule", lr_to_json(ck.lr)},
                {"best_val_error", ck.best_val_error},
                {"best_epoch", ck.best_epoch},
                {"train_seconds", ck.train_seconds},
                {"epoch_loss_sum", ck.epoch_loss_sum},
                {"epoch_images", ck.epoch_images},
                {"epoch_correct", ck.epoch_correct},
                {"history", history},
                {"args", ck.args},
                // Every random draw is a pure function of these (no generator state to save):
                // order = perm(seed, epoch), augmentation = Rng(seed, epoch, sample),
                // dropout = hash(seed, step, layer).
                {"rng", {{"seed", ck.seed}, {"epoch", ck.epoch}, {"dropout_step", ck.step}}},
                {"data", json::parse(ck.data_json)}};
  alexnet::write_safetensors(path, tensors, {{kKey, state.dump()}});
}

Checkpoint load_checkpoint(const std::string& path) {
  alexnet::SafetensorsHeader h = alexnet::read_safetensors_header(path);
  auto it = h.metadata.find(kKey);
  if (it == h.metadata.end())
    throw alexnet::Error(path + ": not a training checkpoint (no " + std::string(kKey) +
                         " metadata)");
  Checkpoint ck;
  try {
    json s = json::parse(it->second);
    if (s.at("version").get<int>() != kVersion)
      throw alexnet::Error("checkpoint version " + s.at("version").dump() + ", this build reads " +
                           std::to_string(kVersion));
    ck.epoch = s.at("epoch").get<int>();
    ck.batch = s.at("batch").get<uint64_t>();
    ck.step = s.at("step").get<uint64_t>();
    ck.bad_steps = s.at("bad_steps").get<uint64_t>();
    ck.seed = s.at("seed").get<uint64_t>();
    const json& lr = s.at("lr_schedule");
    ck.lr.lr = lr.at("lr").get<double>();
    ck.lr.best_error = lr.at("best_error").get<double>();
    ck.lr.bad_epochs = lr.at("bad_epochs").get<int>();
    ck.lr.reductions = lr.at("reductions").get<int>();
    ck.best_val_error = s.at("best_val_error").get<double>();
    ck.best_epoch = s.at("best_epoch").get<int>();
    ck.train_seconds = s.at("train_seconds").get<double>();
    ck.epoch_loss_sum = s.at("epoch_loss_sum").get<double>();
    ck.epoch_images = s.at("epoch_images").get<uint64_t>();
    ck.epoch_correct = s.at("epoch_correct").get<uint64_t>();
    for (const json& r : s.at("history")) ck.history.push_back(record_from_json(r));
    ck.args = s.at("args").get<std::vector<std::string>>();
    ck.data_json = s.at("data").dump();
    if (ck.epoch < 0) throw alexnet::Error("negative epoch");
  } catch (const json::exception& e) {
    throw alexnet::Error(path + ": invalid " + std::string(kKey) + " metadata: " + e.what());
  } catch (const alexnet::Error& e) {
    throw alexnet::Error(path + ": invalid " + std::string(kKey) + " metadata: " + e.what());
  }
  // Tensors come back by name; the trainer checks names and shapes against its network.
  std::map<std::string, alexnet::Tensor> ts = alexnet::read_safetensors_tensors(path, h);
  for (const auto& e : h.entries) {  // file order = the order they were written in
    alexnet::Tensor t = ts.at(e.name);
    if (starts_with(e.name, kMomentum))
      ck.momentum.push_back({e.name.substr(std::string(kMomentum).size()), t});
    else if (starts_with(e.name, kBest))
      ck.best.push_back({e.name.substr(std::string(kBest).size()), t});
    else
      ck.weights.push_back({e.name, t});
  }
  return ck;
}

std::string checkpoint_path(const std::string& run_dir) {
  return run_dir + "/checkpoint.safetensors";
}

std::string resolve_checkpoint(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) throw alexnet::Error(path + ": no such file or folder");
  if (!S_ISDIR(st.st_mode)) return path;
  std::string p = checkpoint_path(path);
  if (::stat(p.c_str(), &st) != 0)
    throw alexnet::Error(path + ": no checkpoint.safetensors in this run folder");
  return p;
}

int remove_stale_temp_files(const std::string& path) {
  std::string dir = ".", base = path;
  if (auto slash = path.rfind('/'); slash != std::string::npos) {
    dir = path.substr(0, slash);
    if (dir.empty()) dir = "/";
    base = path.substr(slash + 1);
  }
  DIR* d = ::opendir(dir.c_str());
  if (!d) return 0;
  int n = 0;
  const std::string prefix = base + ".tmp.";
  while (dirent* e = ::readdir(d))
    if (starts_with(e->d_name, prefix) && ::unlink((dir + "/" + e->d_name).c_str()) == 0) ++n;
  ::closedir(d);
  return n;
}

}  // namespace train

namespace train {

std::vector<std::string> checkpoint_args(const std::string& path) {
  alexnet::SafetensorsHeader h = alexnet::read_safetensors_header(path);
  auto it = h.metadata.find(kKey);
  if (it == h.metadata.end())
    throw alexnet::Error(path + ": not a training checkpoint (no " + std::string(kKey) +
                         " metadata)");
  try {
    return json::parse(it->second).at("args").get<std::vector<std::string>>();
  } catch (const json::exception& e) {
    throw alexnet::Error(path + ": invalid " + std::string(kKey) + " metadata: " + e.what());
  }
}

}  // namespace train
