#include "fashion/fashion_tasks.hpp"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "fashion/attributes.hpp"
#include "fashion/canvas.hpp"
#include "fedvlm/core/error.hpp"

namespace fedvlm::prep {
namespace {

constexpr double kMinGain = 0.35;  // items are dimmed by a gain in [0.35, 1] so brightness varies within a class
constexpr int kGroundGap = 2;      // pixels kept free between ground items, so boxes never touch

std::string_view class_name(const FashionSource& source, std::int64_t item) {
  return kFashionClasses[source.labels[static_cast<std::size_t>(item)]];
}

// Scales the sprite by a random gain in [kMinGain, 1], raised where needed so its brightest pixel
// reaches twice the item threshold (faint items, or bright specks averaged away by scaling, are
// stretched up to that, so every item stays visible and measurable).
void apply_gain(Sprite& sprite, Rng& rng) {
  const int brightest = *std::max_element(sprite.pixels.begin(), sprite.pixels.end());
  const double drawn = kMinGain + (1.0 - kMinGain) * rng.uniform();
  if (brightest == 0) return;
  const double visible = 2.0 * kItemPixelThreshold / brightest;
  const double gain = std::max(std::min(1.0, drawn), visible);
  for (auto& pixel : sprite.pixels) pixel = static_cast<std::uint8_t>(std::min(255L, std::lround(pixel * gain)));
}

Sprite draw_sprite(const FashionSource& source, std::int64_t item, int min_side, int max_side, Rng& rng) {
  const auto pixels = source.images->image(item);
  const int long_side = static_cast<int>(rng.range(min_side, max_side));
  auto sprite = make_sprite(pixels, static_cast<int>(source.images->rows), static_cast<int>(source.images->cols), long_side, 1.0);
  apply_gain(sprite, rng);
  return sprite;
}

ItemMeasure measure_or_fail(const Canvas& canvas, const PixelBox& region, std::int64_t item) {
  const auto measure = measure_item(canvas.pixels, canvas.size, region);
  if (!measure) throw Error(fmt::format("Fashion-MNIST item {} has no pixel >= {} after rendering", item, kItemPixelThreshold));
  return *measure;
}

TextSample single_item_sample(const FashionSource& source, std::string_view task, std::int64_t item, int side, Rng& rng,
                              bool vqa_context) {
  Canvas canvas(side);
  const auto sprite = draw_sprite(source, item, std::max(4, static_cast<int>(std::lround(0.3 * side))), side, rng);
  canvas.paste(sprite, static_cast<int>(rng.range(0, side - sprite.width)), static_cast<int>(rng.range(0, side - sprite.height)));
  const auto measure = measure_or_fail(canvas, PixelBox{0, 0, side - 1, side - 1}, item);
  const auto size = size_word(measure.area_fraction);
  const auto brightness = brightness_word(measure.mean_intensity);
  const auto position = position_word(measure.center_x, measure.center_y, side);
  const auto name = class_name(source, item);

  const auto description = fmt::format("a {} {} {} in the {}", size, brightness, name, position);

  TextSample sample;
  sample.label = source.labels[static_cast<std::size_t>(item)];
  if (task == "cls") {
    sample.prompt = "what item is shown?";
    sample.answer = std::string(name);
  } else if (task == "cap") {
    sample.prompt = "describe the image.";
    sample.answer = description;
  } else {
    switch (rng.below(4)) {
      case 0: {
        const bool ask_bright = rng.below(2) == 0;
        sample.prompt = ask_bright ? "is the item bright?" : "is the item dark?";
        sample.answer = (brightness == kBrightnessWords[1]) == ask_bright ? "yes" : "no";
        break;
      }
      case 1:
        sample.prompt = "where is the item?";
        sample.answer = std::string(position);
        break;
      case 2:
        sample.prompt = "what size is the item?";
        sample.answer = std::string(size);
        break;
      default: {
        // Half the time the true class, else another one, so "yes" and "no" are balanced.
        auto asked = static_cast<std::size_t>(sample.label);
        if (rng.below(2) == 0) asked = (asked + 1 + rng.below(kFashionClasses.size() - 1)) % kFashionClasses.size();
        sample.prompt = fmt::format("is this a {}?", kFashionClasses[asked]);
        sample.answer = asked == static_cast<std::size_t>(sample.label) ? "yes" : "no";
      }
    }
    if (vqa_context) sample.prompt = fmt::format("{}. {}", description, sample.prompt);
  }
  sample.image = std::move(canvas.pixels);
  return sample;
}

// 1 to max_items - 1 more items whose classes differ from each other and from `item`'s.
std::vector<std::int64_t> pick_ground_items(const FashionSource& source, std::int64_t item,
                                            std::span<const std::int64_t> pool, int max_items, Rng& rng) {
  std::vector<std::int64_t> items{item};
  const auto wanted = static_cast<std::size_t>(2 + rng.below(static_cast<std::uint64_t>(max_items - 1)));
  for (int attempt = 0; attempt < 64 && items.size() < wanted && !pool.empty(); ++attempt) {
    const auto candidate = pool[static_cast<std::size_t>(rng.below(pool.size()))];
    const bool distinct = std::none_of(items.begin(), items.end(), [&](std::int64_t other) {
      return source.labels[static_cast<std::size_t>(other)] == source.labels[static_cast<std::size_t>(candidate)];
    });
    if (distinct) items.push_back(candidate);
  }
  return items;
}

bool overlaps(const PixelBox& a, const PixelBox& b) {
  return a.x0 <= b.x1 + kGroundGap && b.x0 <= a.x1 + kGroundGap && a.y0 <= b.y1 + kGroundGap && b.y0 <= a.y1 + kGroundGap;
}

TextSample ground_sample(const FashionSource& source, std::int64_t item, std::span<const std::int64_t> pool, int side,
                         const GroundLayout& layout, Rng& rng) {
  const auto items = pick_ground_items(source, item, pool, layout.max_items, rng);
  // Sizes shrink until every item finds a free spot; 4-pixel items always fit on a >= 16 canvas.
  for (double shrink = 1.0;; shrink *= 0.8) {
    const int max_side = std::max(4, static_cast<int>(std::lround(layout.max_side * side * shrink)));
    const int min_side = std::max(4, static_cast<int>(std::lround(layout.min_side * side * shrink)));
    Canvas canvas(side);
    std::vector<PixelBox> placed;
    for (const auto member : items) {
      const auto sprite = draw_sprite(source, member, min_side, max_side, rng);
      bool fitted = false;
      for (int attempt = 0; attempt < 100 && !fitted; ++attempt) {
        const int x = static_cast<int>(rng.range(0, side - sprite.width));
        const int y = static_cast<int>(rng.range(0, side - sprite.height));
        const PixelBox spot{x, y, x + sprite.width - 1, y + sprite.height - 1};
        if (std::any_of(placed.begin(), placed.end(), [&](const PixelBox& other) { return overlaps(spot, other); })) continue;
        canvas.paste(sprite, x, y);
        placed.push_back(spot);
        fitted = true;
      }
      if (!fitted) break;
    }
    if (placed.size() < items.size()) {
      FEDVLM_CHECK(max_side > 4, "cannot place {} items on a {}x{} canvas", items.size(), side, side);
      continue;
    }
    const auto measure = measure_or_fail(canvas, placed.front(), item);
    TextSample sample;
    sample.label = source.labels[static_cast<std::size_t>(item)];
    sample.box = normalized_box(measure.box, side);
    sample.prompt = fmt::format("where is the {}?", class_name(source, item));
    sample.answer = grid_box_text(sample.box);
    sample.image = std::move(canvas.pixels);
    return sample;
  }
}

}  // namespace

void check_ground_layout(const GroundLayout& layout) {
  if (!(layout.min_side > 0.0 && layout.min_side <= layout.max_side && layout.max_side <= 1.0))
    throw InputError(fmt::format("--ground-side {},{}: need 0 < MIN <= MAX <= 1 (fractions of the image side)",
                                 layout.min_side, layout.max_side));
  if (layout.max_items < 2 || layout.max_items > static_cast<int>(kFashionClasses.size()))
    throw InputError(fmt::format("--ground-items must be in [2, {}] (items of distinct classes), got {}",
                                 kFashionClasses.size(), layout.max_items));
}

TextSample render_fashion_sample(const FashionSource& source, std::string_view task, std::int64_t item,
                                 std::span<const std::int64_t> extra_pool, int canvas_size, Rng& rng,
                                 const GroundLayout& ground, bool vqa_context) {
  FEDVLM_CHECK(item >= 0 && item < source.images->count, "item {} outside [0, {})", item, source.images->count);
  if (task == "ground") return ground_sample(source, item, extra_pool, canvas_size, ground, rng);
  FEDVLM_CHECK(task == "cls" || task == "cap" || task == "vqa", "unknown fashion task '{}'", task);
  return single_item_sample(source, task, item, canvas_size, rng, vqa_context);
}

}  // namespace fedvlm::prep
