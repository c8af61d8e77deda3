#include "fedvlm/data/chat_template.hpp"

#include <array>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "fedvlm/core/error.hpp"

namespace fedvlm::data {
namespace {

constexpr std::array<std::pair<ChatFamily, std::string_view>, 5> kNames = {{
    {ChatFamily::llama3, "llama3"},
    {ChatFamily::chatml, "chatml"},
    {ChatFamily::vicuna, "vicuna"},
    {ChatFamily::llama2, "llama2"},
    {ChatFamily::none, "none"},
}};

bool contains(std::string_view text, std::string_view part) { return text.find(part) != std::string_view::npos; }

// Jinja's trim and Python's str.strip() on ASCII white space (prompts with other white space at
// their ends are rare enough not to need the full Unicode set).
std::string_view trim(std::string_view text) {
  constexpr std::string_view kSpace = " \t\n\r\f\v";
  const auto first = text.find_first_not_of(kSpace);
  if (first == std::string_view::npos) return {};
  return text.substr(first, text.find_last_not_of(kSpace) - first + 1);
}

// ChatML's default system text: a literal "<|im_start|>system\n...<|im_end|>" in the template
// (Qwen2: "You are a helpful assistant."). The template text writes the newline as Jinja's
// escape \n; a literal without quotes or braces inside is text, not an expression.
std::optional<std::string> chatml_default_system(std::string_view jinja) {
  for (const std::string_view opening : {"<|im_start|>system\\n", "<|im_start|>system\n"}) {
    for (auto at = jinja.find(opening); at != std::string_view::npos; at = jinja.find(opening, at + 1)) {
      const auto start = at + opening.size();
      const auto end = jinja.find("<|im_end|>", start);
      if (end == std::string_view::npos || end == start) continue;
      const std::string_view text = jinja.substr(start, end - start);
      if (text.find_first_of("'\"{}") == std::string_view::npos) return std::string(text);
    }
  }
  return std::nullopt;
}

}  // namespace

ChatTemplate::ChatTemplate(ChatFamily family, ChatTokens tokens) : family_(family), tokens_(std::move(tokens)) {
  switch (family_) {
    case ChatFamily::llama3: end_of_turn_ = "<|eot_id|>"; break;
    case ChatFamily::chatml: end_of_turn_ = "<|im_end|>"; break;
    case ChatFamily::vicuna:
    case ChatFamily::llama2: end_of_turn_ = tokens_.eos; break;
    case ChatFamily::none: break;
  }
}

const std::vector<std::string>& ChatTemplate::family_names() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> out;
    for (const auto& [family, name] : kNames) out.emplace_back(name);
    return out;
  }();
  return names;
}

ChatTemplate ChatTemplate::named(std::string_view name, ChatTokens tokens) {
  for (const auto& [family, known] : kNames)
    if (known == name) return ChatTemplate(family, std::move(tokens));
  throw InputError(fmt::format("unknown chat template '{}': expected one of {}", name, fmt::join(family_names(), ", ")));
}

ChatTemplate ChatTemplate::recognize(std::string_view jinja, ChatTokens tokens, std::string_view source) {
  auto refuse = [&](std::string_view why) -> ChatTemplate {
    throw InputError(fmt::format("{}: chat_template: {}; fedvlm renders the families {} (without running Jinja): "
                                 "name one to override (--chat-template NAME, 'none' for plain text)",
                                 source, why, fmt::join(family_names(), ", ")));
  };
  if (trim(jinja).empty()) return ChatTemplate(ChatFamily::none, std::move(tokens));
  if (contains(jinja, "<|start_header_id|>") && contains(jinja, "<|eot_id|>")) {
    if (contains(jinja, "Cutting Knowledge Date"))
      return refuse("Llama 3.1's template (it writes a dated system message) is not rendered; 'llama3' gives the Llama 3 form");
    return ChatTemplate(ChatFamily::llama3, std::move(tokens));
  }
  if (contains(jinja, "<|im_start|>") && contains(jinja, "<|im_end|>")) {
    ChatTemplate chatml(ChatFamily::chatml, std::move(tokens));
    chatml.default_system_ = chatml_default_system(jinja);
    return chatml;
  }
  if (contains(jinja, "ASSISTANT:") && (contains(jinja, "USER:") || contains(jinja, "['role'].upper()")))
    return ChatTemplate(ChatFamily::vicuna, std::move(tokens));
  if (contains(jinja, "[INST]") && contains(jinja, "<<SYS>>")) return ChatTemplate(ChatFamily::llama2, std::move(tokens));
  if (contains(jinja, "[INST]")) return refuse("an [INST] template without <<SYS>> (Mistral's) is not Llama 2's");
  return refuse("not a template fedvlm recognizes");
}

std::string_view ChatTemplate::name() const {
  for (const auto& [family, name] : kNames)
    if (family == family_) return name;
  return "none";
}

std::string ChatTemplate::prompt(const std::optional<std::string>& system, std::string_view user) const {
  switch (family_) {
    case ChatFamily::llama3: {
      std::string out = tokens_.bos;
      auto turn = [&](std::string_view role, std::string_view content) {
        out += fmt::format("<|start_header_id|>{}<|end_header_id|>\n\n{}<|eot_id|>", role, trim(content));
      };
      if (system) turn("system", *system);
      turn("user", user);
      return out + "<|start_header_id|>assistant<|end_header_id|>\n\n";
    }
    case ChatFamily::chatml: {
      const std::optional<std::string>& shown = system ? system : default_system_;
      std::string out = shown ? fmt::format("<|im_start|>system\n{}<|im_end|>\n", *shown) : "";
      return out + fmt::format("<|im_start|>user\n{}<|im_end|>\n<|im_start|>assistant\n", user);
    }
    case ChatFamily::vicuna:
      return fmt::format("{}USER: {} ASSISTANT:", system ? *system + " " : "", user);
    case ChatFamily::llama2: {
      const std::string content = system ? fmt::format("<<SYS>>\n{}\n<</SYS>>\n\n{}", *system, user) : std::string(user);
      return fmt::format("{}[INST] {} [/INST]", tokens_.bos, trim(content));
    }
    case ChatFamily::none: break;
  }
  return std::string(user);
}

std::string ChatTemplate::answer(std::string_view reply) const {
  switch (family_) {
    case ChatFamily::llama3: return fmt::format("{}<|eot_id|>", trim(reply));
    case ChatFamily::chatml: return fmt::format("{}<|im_end|>\n", reply);
    case ChatFamily::vicuna: return fmt::format(" {}{}", reply, tokens_.eos);
    case ChatFamily::llama2: return fmt::format(" {} {}", trim(reply), tokens_.eos);
    case ChatFamily::none: break;
  }
  return std::string(reply);
}

std::string ChatTemplate::stored_prompt(const std::optional<std::string>& system, std::string_view user) const {
  std::string text = prompt(system, user);
  if (!tokens_.bos.empty() && text.starts_with(tokens_.bos)) text.erase(0, tokens_.bos.size());
  return text;
}

std::string ChatTemplate::stored_answer(std::string_view reply) const {
  std::string text = answer(reply);
  if (!end_of_turn_.empty()) text.erase(std::min(text.rfind(end_of_turn_), text.size()));
  return text;
}

}  // namespace fedvlm::data
