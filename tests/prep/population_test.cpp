// Population mode (--samples-per-client): populations larger than the image pool, client sizes
// from the SPEC, label skew as a per-client class mix, output independent of the thread count,
// and clear errors for bad SPECs and partitions that cannot sample with replacement.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <set>

#include "fashion/attributes.hpp"
#include "fashion/fashion_builder.hpp"
#include "fedvlm/core/error.hpp"
#include "fedvlm/data/dataset.hpp"
#include "fedvlm/data/inspect.hpp"
#include "fedvlm/data/tokenizer.hpp"
#include "population/samples_per_client.hpp"
#include "prep/prep_test_support.hpp"

namespace fedvlm::prep {
namespace {

const std::filesystem::path kFashionSource = "/usr/share/datasets/fashion-mnist";

// A pool of 300 images (400 train items, a quarter public), 50 test images.
FashionOptions population_options(const std::filesystem::path& out, std::int64_t clients, const std::string& spec) {
  FashionOptions options;
  options.out = out;
  options.clients = clients;
  options.samples_per_client = spec;
  options.train_samples = 400;
  options.test_samples = 50;
  options.public_fraction = 0.25;
  options.partition.method = "iid";
  options.partition.seed = 5;
  return options;
}
constexpr std::int64_t kPoolImages = 300;

std::string error_of(const std::function<void()>& action) {
  try {
    action();
  } catch (const InputError& error) {
    return error.what();
  }
  return "(no InputError)";
}

std::vector<std::int64_t> written_sizes(const std::filesystem::path& dir) {
  data::DatasetReader reader(dir);
  std::vector<std::int64_t> sizes;
  for (std::int64_t c = 0; c < reader.info().num_clients; ++c) sizes.push_back(reader.client_samples(c));
  return sizes;
}

void expect_same_samples(const data::Samples& a, const data::Samples& b, const std::string& where) {
  EXPECT_EQ(a.images, b.images) << where;
  EXPECT_EQ(a.task, b.task) << where;
  EXPECT_EQ(a.prompt, b.prompt) << where;
  EXPECT_EQ(a.prompt_ptr, b.prompt_ptr) << where;
  EXPECT_EQ(a.answer, b.answer) << where;
  EXPECT_EQ(a.answer_ptr, b.answer_ptr) << where;
  EXPECT_EQ(a.label, b.label) << where;
  ASSERT_EQ(a.box.size(), b.box.size()) << where;
  for (std::size_t i = 0; i < a.box.size(); ++i)
    EXPECT_TRUE(a.box[i] == b.box[i] || (std::isnan(a.box[i]) && std::isnan(b.box[i]))) << where << " box " << i;
}

class FashionPopulation : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!std::filesystem::exists(kFashionSource)) GTEST_SKIP() << "Fashion-MNIST not installed at " << kFashionSource;
  }
  testing::TempDir temp_;
};

TEST(SamplesPerClientSpec, FixedAndLognormalSpecsParse) {
  const auto fixed = parse_samples_per_client("2");
  EXPECT_EQ(fixed.kind, SamplesPerClient::Kind::kFixed);
  EXPECT_EQ(fixed.count, 2);
  EXPECT_EQ(fixed.text(), "2");
  const auto lognormal = parse_samples_per_client("lognormal:20,1");
  EXPECT_EQ(lognormal.kind, SamplesPerClient::Kind::kLognormal);
  EXPECT_DOUBLE_EQ(lognormal.mean, 20.0);
  EXPECT_DOUBLE_EQ(lognormal.sigma, 1.0);
  EXPECT_EQ(lognormal.max, 2000);  // 100 x MEAN by default
  EXPECT_EQ(lognormal.text(), "lognormal:20,1,2000");
  EXPECT_EQ(parse_samples_per_client("lognormal:2.5,0.5,7").max, 7);
}

TEST(SamplesPerClientSpec, BadSpecsNameTheFlagAndTheValue) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"lognormal:0,1", "--samples-per-client lognormal:0,1: MEAN must be positive"},
      {"lognormal:-3,1", "--samples-per-client lognormal:-3,1: MEAN must be positive"},
      {"0", "--samples-per-client 0: the count must be at least 1"},
      {"2.5", "--samples-per-client 2.5: not a whole number"},
      {"many", "--samples-per-client many: not a whole number"},
      {"lognormal:5", "--samples-per-client lognormal:5: lognormal takes MEAN,SIGMA or MEAN,SIGMA,MAX"},
      {"lognormal:5,-1", "--samples-per-client lognormal:5,-1: SIGMA must be in [0, 10]"},
      {"lognormal:5,1,0", "--samples-per-client lognormal:5,1,0: MAX 0 is below the smallest client size 1"},
      {"lognormal:5,1,x", "--samples-per-client lognormal:5,1,x: MAX 'x' is not a whole number"},
      {"lognormal:a,1", "--samples-per-client lognormal:a,1: MEAN 'a' is not a number"},
  };
  for (const auto& [spec, expected] : cases) {
    const auto message = error_of([&] { parse_samples_per_client(spec); });
    EXPECT_NE(message.find(expected), std::string::npos) << spec << " gave: " << message;
  }
  EXPECT_NE(error_of([] { parse_samples_per_client("2", 3); }).find("below --min-samples 3"), std::string::npos);
}

TEST(SamplesPerClientSpec, FixedSizesAreExact) {
  const auto sizes = draw_client_sample_counts(parse_samples_per_client("3"), 1, 1000);
  EXPECT_TRUE(std::all_of(sizes.begin(), sizes.end(), [](std::int64_t n) { return n == 3; }));
}

TEST(SamplesPerClientSpec, LognormalSizesAreClippedAndHaveTheRequestedMean) {
  const auto spec = parse_samples_per_client("lognormal:20,1");
  const auto sizes = draw_client_sample_counts(spec, 7, 200000);
  const auto [smallest, largest] = std::minmax_element(sizes.begin(), sizes.end());
  EXPECT_GE(*smallest, 1);
  EXPECT_LE(*largest, 2000);
  EXPECT_LT(*smallest, *largest);
  // Standard error of the mean: 20 * sqrt(e - 1) / sqrt(200000) ~ 0.06; rounding and clipping move it less.
  const double mean = static_cast<double>(std::accumulate(sizes.begin(), sizes.end(), std::int64_t{0})) / sizes.size();
  EXPECT_NEAR(mean, 20.0, 0.4);

  // A tight MAX and --min-samples clip both tails.
  const auto clipped = draw_client_sample_counts(parse_samples_per_client("lognormal:4,1.5,12", 2), 7, 20000);
  EXPECT_EQ(*std::min_element(clipped.begin(), clipped.end()), 2);
  EXPECT_EQ(*std::max_element(clipped.begin(), clipped.end()), 12);
  // Each client's size is its own stream: the same whatever the population size.
  EXPECT_EQ(draw_client_sample_counts(spec, 7, 10), std::vector<std::int64_t>(sizes.begin(), sizes.begin() + 10));
}

TEST(PopulationPartition, RefusedPartitionsAreClearInputErrors) {
  testing::TempDir temp;
  auto options = population_options(temp / "out", 10, "2");
  options.partition.method = "dirichlet";
  const auto message = error_of([&] { build_fashion(options); });
  EXPECT_NE(message.find("--partition dirichlet"), std::string::npos) << message;
  EXPECT_NE(message.find("use --partition dirichlet-mix"), std::string::npos) << message;
  for (const std::string method : {"quantity", "task", "natural"}) {
    options.partition.method = method;
    const auto refused = error_of([&] { build_fashion(options); });
    EXPECT_NE(refused.find("--partition " + method + " does not apply with --samples-per-client"), std::string::npos) << refused;
  }
  options.partition.method = "dirichlet-mix";
  options.partition.alpha = 0.0;
  EXPECT_NE(error_of([&] { build_fashion(options); }).find("--partition dirichlet-mix needs --alpha > 0, got 0"), std::string::npos);
  options.partition.method = "iid";
  options.samples_per_client = "lognormal:0,1";
  EXPECT_NE(error_of([&] { build_fashion(options); }).find("--samples-per-client lognormal:0,1: MEAN must be positive"),
            std::string::npos);
  EXPECT_TRUE(std::filesystem::is_empty(temp.path()));
}

TEST_F(FashionPopulation, MoreClientsThanPoolImagesEachWithTheFixedSize) {
  const auto dir = temp_ / "pop";
  const auto summary = build_fashion(population_options(dir, 500, "2"));
  for (const auto& violation : data::validate_dataset(dir)) ADD_FAILURE() << violation.describe();
  data::DatasetReader reader(dir);
  EXPECT_EQ(reader.info().num_clients, 500);
  EXPECT_GT(reader.info().num_clients, kPoolImages);
  EXPECT_EQ(written_sizes(dir), std::vector<std::int64_t>(500, 2));
  EXPECT_EQ(summary.federation.client_sizes, std::vector<std::int64_t>(500, 2));
  EXPECT_EQ(reader.split_size("public"), 100);  // public and test splits as without --samples-per-client
  EXPECT_EQ(reader.split_size("test"), 50);
  EXPECT_EQ(reader.info().partition.at("samples_per_client"), "2");
  EXPECT_EQ(reader.info().partition.at("partition"), "iid");
  EXPECT_EQ(reader.info().num_shards, 4);  // automatic: 1,000 samples need no more than the default

  // 1,000 samples from 300 images: sources repeat, but every sample is rendered afresh (own
  // size, position, brightness), so the canvases are (all but surely) distinct; and each cls
  // answer is still the class of its item.
  const auto tokenizer = data::Tokenizer::from_serialized(reader.info().tokenizer_model);
  std::set<std::vector<std::uint8_t>> canvases;
  for (std::int64_t c = 0; c < 500; ++c) {
    const auto samples = reader.read_client(c);
    for (std::int64_t i = 0; i < samples.size(); ++i) {
      const auto image = samples.image(i);
      canvases.emplace(image.begin(), image.end());
      if (reader.info().tasks[samples.task[static_cast<std::size_t>(i)]] == "cls") {
        EXPECT_EQ(tokenizer.decode(samples.answer_of(i)), kFashionClasses[static_cast<std::size_t>(samples.label[static_cast<std::size_t>(i)])]);
      }
    }
  }
  EXPECT_GT(canvases.size(), 990u);
}

TEST_F(FashionPopulation, LognormalClientSizesFollowTheSpec) {
  const auto dir = temp_ / "lognormal";
  auto options = population_options(dir, 400, "lognormal:4,1,12");
  options.tasks = "cls";
  build_fashion(options);
  const auto sizes = written_sizes(dir);
  EXPECT_EQ(sizes, draw_client_sample_counts(parse_samples_per_client("lognormal:4,1,12"), 5, 400));
  EXPECT_GE(*std::min_element(sizes.begin(), sizes.end()), 1);
  EXPECT_LE(*std::max_element(sizes.begin(), sizes.end()), 12);
  EXPECT_NE(*std::min_element(sizes.begin(), sizes.end()), *std::max_element(sizes.begin(), sizes.end()));
  EXPECT_EQ(data::DatasetReader(dir).info().partition.at("samples_per_client"), "lognormal:4,1,12");
}

TEST_F(FashionPopulation, OutputDoesNotDependOnThreadCount) {
  // 20,000 clients x 2 samples: two write blocks, and 3 shards whose boundaries fall inside them.
  auto one = population_options(temp_ / "one-thread", 20000, "2");
  one.shards = 3;
  one.threads = 1;
  auto two = one;
  two.out = temp_ / "two-threads";
  two.threads = 2;
  build_fashion(one);
  build_fashion(two);
  data::DatasetReader a(one.out), b(two.out);
  EXPECT_EQ(a.info().client_shard, b.info().client_shard);
  EXPECT_EQ(a.info().client_samples, b.info().client_samples);
  EXPECT_EQ(a.info().num_shards, 3);
  for (const std::string split : {"public", "test"}) expect_same_samples(a.read_split(split), b.read_split(split), split);
  for (std::int64_t c = 0; c < 20000; ++c) {
    expect_same_samples(a.read_client(c), b.read_client(c), "client " + std::to_string(c));
    if (HasFailure()) break;
  }
  for (const auto& violation : data::validate_dataset(one.out)) ADD_FAILURE() << violation.describe();
}

TEST_F(FashionPopulation, DirichletMixConcentratesClientsOnFewClasses) {
  auto iid = population_options(temp_ / "iid", 200, "20");
  iid.tasks = "cls";
  auto mix = iid;
  mix.out = temp_ / "mix";
  mix.partition.method = "dirichlet-mix";
  mix.partition.alpha = 0.05;
  build_fashion(iid);
  build_fashion(mix);
  data::DatasetReader iid_reader(iid.out), mix_reader(mix.out);
  const auto iid_stats = data::dataset_statistics(iid_reader);
  const auto mix_stats = data::dataset_statistics(mix_reader);
  // iid: 20 draws from 10 balanced classes, ~3 bits; Dir(0.05) mixes hold one or two classes.
  EXPECT_GT(iid_stats.mean_label_entropy_bits, 2.5);
  EXPECT_LT(mix_stats.mean_label_entropy_bits, 1.2);
  EXPECT_EQ(mix_reader.info().partition.at("partition"), "dirichlet-mix");
  EXPECT_EQ(written_sizes(mix.out), std::vector<std::int64_t>(200, 20));  // label skew leaves the sizes to the SPEC
}

// write_clients (several clients per call) stores exactly what write_client per client does.
TEST(DatasetWriterBatches, WriteClientsEqualsOneCallPerClient) {
  testing::TempDir temp;
  const auto tokenizer = data::Tokenizer::train({"a cat", "a dog", "two cats", "one dog"}, 40, 0);
  data::DatasetInfo info;
  info.name = "toy";
  info.tasks = {"cls"};
  info.class_names = {"cat", "dog"};
  info.num_clients = 7;
  info.image_shape = data::ImageShape{1, 2, 2};
  info.tokenizer_model = tokenizer.serialized();
  const std::vector<std::int64_t> sizes = {2, 0, 3, 1, 0, 4, 2};
  std::vector<data::Samples> clients(sizes.size());
  data::Samples all;
  all.image_shape = info.image_shape;
  for (std::size_t c = 0; c < sizes.size(); ++c) {
    clients[c].image_shape = info.image_shape;
    for (std::int64_t i = 0; i < sizes[c]; ++i) {
      const std::vector<std::uint8_t> image(4, static_cast<std::uint8_t>(10 * c + i));
      const auto prompt = tokenizer.encode(i % 2 ? "a cat" : "two cats");
      const auto answer = tokenizer.encode(c % 2 ? "a dog" : "one dog");
      clients[c].add(image, 0, prompt, answer, static_cast<std::int32_t>(c % 2), {0.1f, 0.2f, 0.3f, 0.4f});
      all.add(image, 0, prompt, answer, static_cast<std::int32_t>(c % 2), {0.1f, 0.2f, 0.3f, 0.4f});
    }
  }
  {
    data::DatasetWriter single(temp / "single", info, 3, false);
    for (std::size_t c = 0; c < sizes.size(); ++c) single.write_client(static_cast<std::int64_t>(c), clients[c]);
    single.commit();
  }
  {
    // Clients 0-2 in one call (crossing shard 0 -> 1), then 3-6 (crossing 1 -> 2).
    data::DatasetWriter batched(temp / "batched", info, 3, false);
    const std::int64_t first_rows = sizes[0] + sizes[1] + sizes[2];
    std::vector<std::int64_t> head(sizes.begin(), sizes.begin() + 3), tail(sizes.begin() + 3, sizes.end());
    std::vector<std::int64_t> head_rows(static_cast<std::size_t>(first_rows)), tail_rows(static_cast<std::size_t>(all.size() - first_rows));
    std::iota(head_rows.begin(), head_rows.end(), std::int64_t{0});
    std::iota(tail_rows.begin(), tail_rows.end(), first_rows);
    batched.write_clients(0, head, all.select(head_rows));
    EXPECT_THROW(batched.write_clients(5, tail, all.select(tail_rows)), Error);  // out of order
    batched.write_clients(3, tail, all.select(tail_rows));
    batched.commit();
  }
  for (const auto& violation : data::validate_dataset(temp / "batched")) ADD_FAILURE() << violation.describe();
  data::DatasetReader a(temp / "single"), b(temp / "batched");
  EXPECT_EQ(a.info().client_shard, b.info().client_shard);
  EXPECT_EQ(b.info().client_samples, sizes);
  for (std::int64_t c = 0; c < 7; ++c) expect_same_samples(a.read_client(c), b.read_client(c), "client " + std::to_string(c));
}

}  // namespace
}  // namespace fedvlm::prep
