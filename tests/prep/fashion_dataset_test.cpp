// Builds a small Fashion-MNIST federation from the real IDX files and checks every stored answer
// against the stored canvas, re-measured here independently of the builder's own code.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <optional>
#include <sstream>

#include <fmt/format.h>

#include "fashion/attributes.hpp"
#include "fashion/fashion_builder.hpp"
#include "fedvlm/core/error.hpp"
#include "fedvlm/data/dataset.hpp"
#include "fedvlm/data/inspect.hpp"
#include "fedvlm/data/tokenizer.hpp"
#include "prep/prep_test_support.hpp"

namespace fedvlm::prep {
namespace {

const std::filesystem::path kFashionSource = "/usr/share/datasets/fashion-mnist";

struct Measured {
  int x0 = 1 << 30, y0 = 1 << 30, x1 = -1, y1 = -1;
  double sum = 0, sum_x = 0, sum_y = 0;
  int count = 0;
};

Measured measure(std::span<const std::uint8_t> pixels, int side, int x0 = 0, int y0 = 0, int x1 = -1, int y1 = -1) {
  if (x1 < 0) x1 = y1 = side - 1;
  Measured m;
  for (int y = std::max(0, y0); y <= std::min(side - 1, y1); ++y)
    for (int x = std::max(0, x0); x <= std::min(side - 1, x1); ++x) {
      const int v = pixels[static_cast<std::size_t>(y * side + x)];
      if (v < kItemPixelThreshold) continue;
      m.x0 = std::min(m.x0, x), m.x1 = std::max(m.x1, x), m.y0 = std::min(m.y0, y), m.y1 = std::max(m.y1, y);
      m.sum += v, m.sum_x += v * x, m.sum_y += v * y, ++m.count;
    }
  return m;
}

std::string expected_size(const Measured& m, int side) {
  const double area = static_cast<double>(m.x1 - m.x0 + 1) * (m.y1 - m.y0 + 1) / (side * side);
  return area < kSmallBelow ? "small" : area < kLargeFrom ? "medium" : "large";
}
bool expected_bright(const Measured& m) { return m.sum / m.count >= kBrightFrom; }
std::string expected_position(const Measured& m, int side) {
  auto cell = [side](double v) { return std::clamp(static_cast<int>(std::floor(3.0 * (v + 0.5) / side)), 0, 2); };
  static const char* rows[] = {"top", "middle", "bottom"};
  static const char* cols[] = {"left", "center", "right"};
  const int row = cell(m.sum_y / m.sum), col = cell(m.sum_x / m.sum);
  if (row == 1 && col == 1) return "center";
  return fmt::format("{} {}", rows[row], cols[col]);
}

// The small federation every test here builds from the real Fashion-MNIST files.
FashionOptions small_options(const std::filesystem::path& out) {
  FashionOptions options;
  options.out = out;
  options.clients = 4;
  options.train_samples = 800;
  options.test_samples = 200;
  options.public_fraction = 0.25;
  options.shards = 2;
  options.partition.method = "iid";
  options.partition.seed = 17;
  return options;
}

class FashionDataset : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!std::filesystem::exists(kFashionSource)) return;
    temp_ = new testing::TempDir();
    summary_ = build_fashion(small_options(*temp_ / "fashion"));
  }
  static void TearDownTestSuite() {
    delete temp_;
    temp_ = nullptr;
  }
  void SetUp() override {
    if (temp_ == nullptr) GTEST_SKIP() << "Fashion-MNIST not installed at " << kFashionSource;
  }
  static std::filesystem::path dir() { return *temp_ / "fashion"; }

  // Every sample of the dataset (public, test and all clients) with its decoded texts.
  template <class Check>
  static void for_each_sample(Check check) {
    data::DatasetReader reader(dir());
    const auto tokenizer = data::Tokenizer::from_serialized(reader.info().tokenizer_model);
    std::vector<data::Samples> parts{reader.read_split("public"), reader.read_split("test")};
    for (std::int64_t c = 0; c < reader.info().num_clients; ++c) parts.push_back(reader.read_client(c));
    for (const auto& part : parts)
      for (std::int64_t i = 0; i < part.size(); ++i)
        check(reader.info(), part, i, tokenizer.decode(part.prompt_of(i)), tokenizer.decode(part.answer_of(i)));
  }

  static inline testing::TempDir* temp_ = nullptr;
  static inline FashionSummary summary_;
};

TEST_F(FashionDataset, PassesValidation) {
  const auto violations = data::validate_dataset(dir());
  for (const auto& violation : violations) ADD_FAILURE() << violation.describe();
  data::DatasetReader reader(dir());
  EXPECT_EQ(reader.info().num_clients, 4);
  EXPECT_EQ(reader.info().image_shape, (data::ImageShape{1, 32, 32}));
  EXPECT_EQ(reader.info().tasks, (std::vector<std::string>{"cls", "cap", "vqa", "ground"}));
  EXPECT_EQ(reader.split_size("public"), 200);
  EXPECT_EQ(reader.split_size("test"), 200);
  std::int64_t train = 0;
  for (std::int64_t c = 0; c < 4; ++c) train += reader.client_samples(c);
  EXPECT_EQ(train, 600);  // 800 minus the public quarter: the public split is held out
}

TEST_F(FashionDataset, EveryTaskAnswerMatchesTheStoredPixels) {
  std::array<int, 4> seen{};
  for_each_sample([&](const data::DatasetInfo& info, const data::Samples& samples, std::int64_t i, const std::string& prompt,
                      const std::string& answer) {
    const auto task = info.tasks[samples.task[static_cast<std::size_t>(i)]];
    const auto label = samples.label[static_cast<std::size_t>(i)];
    ASSERT_TRUE(label >= 0 && label < 10);
    const std::string name = info.class_names[static_cast<std::size_t>(label)];
    const auto pixels = samples.image(i);
    const auto m = measure(pixels, 32);
    ASSERT_GT(m.count, 0) << "empty canvas";
    if (task == "cls") {
      ++seen[0];
      EXPECT_EQ(prompt, "what item is shown?");
      EXPECT_EQ(answer, name);
    } else if (task == "cap") {
      ++seen[1];
      EXPECT_EQ(answer, fmt::format("a {} {} {} in the {}", expected_size(m, 32), expected_bright(m) ? "bright" : "dark", name,
                                    expected_position(m, 32)));
    } else if (task == "vqa") {
      ++seen[2];
      if (prompt == "is the item bright?") EXPECT_EQ(answer, expected_bright(m) ? "yes" : "no");
      else if (prompt == "is the item dark?") EXPECT_EQ(answer, expected_bright(m) ? "no" : "yes");
      else if (prompt == "where is the item?") EXPECT_EQ(answer, expected_position(m, 32));
      else if (prompt == "what size is the item?") EXPECT_EQ(answer, expected_size(m, 32));
      else if (prompt.starts_with("is this a ")) EXPECT_EQ(answer, prompt == "is this a " + name + "?" ? "yes" : "no");
      else ADD_FAILURE() << "unexpected question: " << prompt;
    } else {
      ++seen[3];
      EXPECT_EQ(prompt, "where is the " + name + "?");
      const auto box = samples.box_of(i);
      std::istringstream grid(answer);
      std::array<int, 4> ints{};
      ASSERT_TRUE(grid >> ints[0] >> ints[1] >> ints[2] >> ints[3]) << answer;
      for (int k = 0; k < 4; ++k) EXPECT_NEAR(ints[static_cast<std::size_t>(k)] / 99.0, box[static_cast<std::size_t>(k)], 0.5 / 99 + 1e-6);
      // The stored box is the tight box of one item: its edges touch item pixels and the
      // one-pixel ring around it holds none (other items are kept further away).
      const int x0 = static_cast<int>(std::lround(box[0] * 32)), y0 = static_cast<int>(std::lround(box[1] * 32));
      const int x1 = static_cast<int>(std::lround(box[2] * 32)) - 1, y1 = static_cast<int>(std::lround(box[3] * 32)) - 1;
      const auto inside = measure(pixels, 32, x0, y0, x1, y1);
      EXPECT_EQ(std::make_tuple(inside.x0, inside.y0, inside.x1, inside.y1), std::make_tuple(x0, y0, x1, y1)) << answer;
      EXPECT_EQ(measure(pixels, 32, x0 - 1, y0 - 1, x1 + 1, y1 + 1).count, inside.count) << "item pixels touch the box " << answer;
      EXPECT_GT(m.count, inside.count) << "a grounding canvas holds more than the referred item";
    }
    if (task != "ground") {
      EXPECT_TRUE(std::isnan(samples.box_of(i)[0]));
    }
  });
  for (const auto count : seen) EXPECT_GT(count, 50);  // every task is drawn
}

TEST_F(FashionDataset, OutputDoesNotDependOnThreadCount) {
  // The suite's dataset, rendered again on one thread.
  FashionOptions options = small_options(*temp_ / "single-thread");
  options.threads = 1;
  build_fashion(options);
  data::DatasetReader a(dir()), b(options.out);
  for (const std::string split : {"public", "test"}) {
    const auto x = a.read_split(split), y = b.read_split(split);
    EXPECT_EQ(x.images, y.images) << split;
    EXPECT_EQ(x.answer, y.answer) << split;
  }
  EXPECT_EQ(a.read_client(3).images, b.read_client(3).images);
}

TEST_F(FashionDataset, ExistingOutputNeedsForce) {
  FashionOptions options;
  options.out = dir();
  options.train_samples = 100;
  try {
    build_fashion(options);
    FAIL() << "expected InputError";
  } catch (const InputError& error) {
    EXPECT_NE(std::string(error.what()).find("--force"), std::string::npos) << error.what();
  }
  EXPECT_TRUE(data::validate_dataset(dir()).empty()) << "the existing dataset was damaged";
}

TEST_F(FashionDataset, FailedBuildLeavesNothingBehind) {
  FashionOptions options;
  options.out = *temp_ / "impossible";
  options.clients = 10;
  options.train_samples = 200;
  options.test_samples = 10;
  options.partition.min_samples = 50;
  EXPECT_THROW(build_fashion(options), InputError);
  options.partition.min_samples = 1;
  options.tasks = "cls,detect";
  try {
    build_fashion(options);
    FAIL() << "expected InputError";
  } catch (const InputError& error) {
    EXPECT_NE(std::string(error.what()).find("unknown task 'detect': valid are cls, cap, vqa, ground"), std::string::npos)
        << error.what();
  }
  EXPECT_FALSE(std::filesystem::exists(options.out));
  for (const auto& entry : std::filesystem::directory_iterator(temp_->path()))
    EXPECT_TRUE(entry.path().filename() == "fashion" || entry.path().filename() == "single-thread") << "left behind: " << entry.path();
}

TEST_F(FashionDataset, GroundLayoutSetsTheReferredItemsSize) {
  // Grounding images only; the referred item's longer side (measured from its stored box) stays
  // within --ground-side of the 32-pixel side, and the default's items are smaller.
  auto long_sides = [](const GroundLayout& layout) {
    testing::TempDir temp;
    FashionOptions options = small_options(temp / "ground");
    options.tasks = "ground";
    options.ground = layout;
    build_fashion(options);
    const auto samples = data::DatasetReader(options.out).read_split("test");
    std::vector<double> sides;
    for (std::int64_t i = 0; i < samples.size(); ++i) {
      const auto box = samples.box_of(i);
      sides.push_back(32.0 * std::max(box[2] - box[0], box[3] - box[1]));
    }
    return sides;
  };
  const auto mean = [](const std::vector<double>& v) { return std::accumulate(v.begin(), v.end(), 0.0) / v.size(); };
  const auto large = long_sides(GroundLayout{.min_side = 0.5, .max_side = 0.6, .max_items = 2});
  const auto standard = long_sides(GroundLayout{});
  for (const double side : large) EXPECT_LE(side, 0.6 * 32 + 0.5);
  for (const double side : standard) EXPECT_LE(side, 0.45 * 32 + 0.5);
  EXPECT_GT(mean(large), 13.0);  // items below threshold brightness at their edges measure a little smaller
  EXPECT_LT(mean(standard), 12.0);
}

TEST_F(FashionDataset, PublicContextPutsTheDescriptionBeforePublicQuestionsOnly) {
  // The suite's dataset again with --public-context: every public VQA prompt is the item's
  // caption, ". ", then the very question of the plain build, with the same answer and image;
  // every other public sample, the test split and the clients hold the same texts and images.
  testing::TempDir temp;
  FashionOptions options = small_options(temp / "context");
  options.public_context = true;
  build_fashion(options);
  data::DatasetReader plain(dir()), context(options.out);
  const auto plain_tokenizer = data::Tokenizer::from_serialized(plain.info().tokenizer_model);
  const auto context_tokenizer = data::Tokenizer::from_serialized(context.info().tokenizer_model);
  auto texts = [](const data::Samples& samples, const data::Tokenizer& tokenizer) {
    std::vector<std::pair<std::string, std::string>> out;
    for (std::int64_t i = 0; i < samples.size(); ++i)
      out.emplace_back(tokenizer.decode(samples.prompt_of(i)), tokenizer.decode(samples.answer_of(i)));
    return out;
  };
  const auto vqa = static_cast<std::uint8_t>(
      std::find(plain.info().tasks.begin(), plain.info().tasks.end(), "vqa") - plain.info().tasks.begin());
  const auto a = plain.read_split("public"), b = context.read_split("public");
  ASSERT_EQ(a.size(), b.size());
  EXPECT_EQ(a.images, b.images);
  EXPECT_EQ(a.task, b.task);
  const auto plain_texts = texts(a, plain_tokenizer), context_texts = texts(b, context_tokenizer);
  int described = 0;
  for (std::int64_t i = 0; i < a.size(); ++i) {
    const auto& [plain_prompt, plain_answer] = plain_texts[static_cast<std::size_t>(i)];
    const auto& [context_prompt, context_answer] = context_texts[static_cast<std::size_t>(i)];
    EXPECT_EQ(context_answer, plain_answer) << "row " << i;
    if (a.task[static_cast<std::size_t>(i)] != vqa) {
      EXPECT_EQ(context_prompt, plain_prompt) << "row " << i;
      continue;
    }
    ++described;
    const auto m = measure(a.image(i), 32);
    const std::string name = plain.info().class_names[static_cast<std::size_t>(a.label[static_cast<std::size_t>(i)])];
    EXPECT_EQ(context_prompt, fmt::format("a {} {} {} in the {}. {}", expected_size(m, 32),
                                          expected_bright(m) ? "bright" : "dark", name, expected_position(m, 32), plain_prompt));
  }
  EXPECT_GT(described, 20);
  EXPECT_EQ(texts(plain.read_split("test"), plain_tokenizer), texts(context.read_split("test"), context_tokenizer));
  EXPECT_EQ(plain.read_split("test").images, context.read_split("test").images);
  EXPECT_EQ(texts(plain.read_client(2), plain_tokenizer), texts(context.read_client(2), context_tokenizer));

  // --tokenizer DATASET_DIR: the plain dataset's vocabulary, so the test split and the clients
  // hold the very same token ids and one base serves both datasets.
  options.out = temp / "context-shared";
  options.tokenizer = dir();
  build_fashion(options);
  data::DatasetReader shared(options.out);
  EXPECT_EQ(shared.info().tokenizer_model, plain.info().tokenizer_model);
  for (const auto& [x, y] : {std::pair{plain.read_split("test"), shared.read_split("test")},
                             std::pair{plain.read_client(1), shared.read_client(1)}}) {
    EXPECT_EQ(x.prompt, y.prompt);
    EXPECT_EQ(x.answer, y.answer);
    EXPECT_EQ(x.images, y.images);
  }
  EXPECT_EQ(texts(shared.read_split("public"), plain_tokenizer), context_texts);
}

TEST(FashionGroundLayout, OutOfRangeValuesNameTheOption) {
  for (const auto& [layout, option] : std::vector<std::pair<GroundLayout, std::string>>{
           {GroundLayout{.min_side = 0.5, .max_side = 0.4}, "--ground-side"},
           {GroundLayout{.min_side = 0.0, .max_side = 0.4}, "--ground-side"},
           {GroundLayout{.min_side = 0.5, .max_side = 1.2}, "--ground-side"},
           {GroundLayout{.max_items = 1}, "--ground-items"},
           {GroundLayout{.max_items = 11}, "--ground-items"}}) {
    try {
      check_ground_layout(layout);
      ADD_FAILURE() << "expected InputError for " << option;
    } catch (const InputError& error) {
      EXPECT_NE(std::string(error.what()).find(option), std::string::npos) << error.what();
    }
  }
  EXPECT_NO_THROW(check_ground_layout(GroundLayout{}));
}

}  // namespace
}  // namespace fedvlm::prep
