// Tokenizer and recursive-descent parser: Liquid source -> Program.

#include <charconv>
#include <unordered_map>

#include "templates/liquid/filters.hpp"
#include "templates/liquid/liquid_template.hpp"

#include "templates/liquid/lexer.hpp"

namespace herald::templates {
namespace {

using namespace lexing;

constexpr int kMaxDepth = 64;

// ---------------------------------------------------------------- parser

class Parser {
 public:
  Parser(std::string_view src, const LiquidTemplate::Options& options, Program& program,
         std::vector<LoadError>& errors)
      : src_(src), options_(options), program_(program), errors_(errors) {}

  void parse() {
    tokens_ = tokenize(src_);
    const Token* end_tag = nullptr;
    program_.root = parse_block({}, end_tag);
  }

 private:
  // ---- blocks

  Block parse_block(std::initializer_list<std::string_view> terminators, const Token*& end_tag) {
    if (++depth_ > kMaxDepth) throw ParseFailure{current_offset(), "tags are nested too deeply"};
    Block block;
    end_tag = nullptr;
    while (index_ < tokens_.size()) {
      const Token& token = tokens_[index_++];
      if (token.kind == Token::Kind::kText) {
        block.push_back({TextNode{std::string(token.text)}, pos(token.offset)});
        continue;
      }
      if (token.kind == Token::Kind::kOutput) {
        OutputNode node;
        Lexer lexer(token.text, token.text_offset);
        node.value = parse_pipeline(lexer);
        expect_end(lexer);
        node.escape = options_.html_escape &&
                      (node.value.filters.empty() || !node.value.filters.back().is_raw);
        block.push_back({std::move(node), pos(token.offset)});
        continue;
      }
      for (std::string_view t : terminators) {
        if (token.name == t) {
          end_tag = &token;
          --depth_;
          return block;
        }
      }
      block.push_back(parse_tag(token));
    }
    --depth_;
    return block;
  }

  Node parse_tag(const Token& token) {
    const std::string_view name = token.name;
    Node node{BreakNode{}, pos(token.offset)};
    if (name == "if" || name == "unless") {
      node.data = parse_if(token);
    } else if (name == "case") {
      node.data = parse_case(token);
    } else if (name == "for") {
      node.data = parse_for(token);
    } else if (name == "assign") {
      node.data = parse_assign(token);
    } else if (name == "capture") {
      node.data = parse_capture(token);
    } else if (name == "comment") {
      skip_comment(token);
      node.data = TextNode{};
    } else if (name == "break" || name == "continue") {
      if (loop_depth_ == 0) {
        throw ParseFailure{token.offset, "'" + std::string(name) + "' outside a 'for' loop"};
      }
      if (!token.text.empty())
        throw ParseFailure{token.text_offset, "unexpected '" + std::string(token.text) + "'"};
      if (name == "continue") node.data = ContinueNode{};
    } else if (name.starts_with("end") || name == "else" || name == "elsif" || name == "when") {
      throw ParseFailure{token.offset, "unexpected '" + std::string(name) + "'"};
    } else {
      throw ParseFailure{token.offset, "unknown tag '" + std::string(name) + "'"};
    }
    return node;
  }

  [[noreturn]] void unclosed(const Token& open, std::string_view end) {
    throw ParseFailure{open.offset, "'" + std::string(open.name) + "' is not closed by '" +
                                        std::string(end) + "'"};
  }

  IfNode parse_if(const Token& open) {
    IfNode node;
    node.negate_first = open.name == "unless";
    const std::string end = "end" + std::string(open.name);
    const Token* tag = &open;
    while (true) {
      Lexer lexer(tag->text, tag->text_offset);
      if (lexer.at_end())
        throw ParseFailure{tag->offset, "'" + std::string(tag->name) + "' needs a condition"};
      IfBranch branch{parse_condition(lexer), {}};
      expect_end(lexer);
      const Token* next = nullptr;
      branch.body = parse_block({"elsif", "else", end}, next);
      node.branches.push_back(std::move(branch));
      if (!next) unclosed(open, end);
      if (next->name == "elsif") {
        tag = next;
        continue;
      }
      if (next->name == "else") {
        expect_no_args(*next);
        node.else_body = parse_block({end}, next);
        if (!next) unclosed(open, end);
      }
      return node;
    }
  }

  CaseNode parse_case(const Token& open) {
    CaseNode node;
    Lexer lexer(open.text, open.text_offset);
    node.subject = parse_expr(lexer);
    expect_end(lexer);
    const Token* next = nullptr;
    Block before = parse_block({"when", "else", "endcase"}, next);
    for (const Node& n : before) {
      const auto* text = std::get_if<TextNode>(&n.data);
      if (!text || text->text.find_first_not_of(" \t\r\n") != std::string::npos) {
        throw ParseFailure{open.offset, "only 'when' and 'else' may follow 'case'"};
      }
    }
    while (next && next->name == "when") {
      WhenBranch branch;
      Lexer when(next->text, next->text_offset);
      do {
        branch.values.push_back(parse_expr(when));
        if (when.peek().kind == Lexeme::Kind::kComma ||
            (when.peek().kind == Lexeme::Kind::kIdent && when.peek().text == "or")) {
          when.next();
          continue;
        }
        break;
      } while (true);
      expect_end(when);
      branch.body = parse_block({"when", "else", "endcase"}, next);
      node.whens.push_back(std::move(branch));
    }
    if (next && next->name == "else") {
      expect_no_args(*next);
      node.else_body = parse_block({"endcase"}, next);
    }
    if (!next) unclosed(open, "endcase");
    return node;
  }

  ForNode parse_for(const Token& open) {
    ForNode node;
    Lexer lexer(open.text, open.text_offset);
    Lexeme var = lexer.next();
    if (var.kind != Lexeme::Kind::kIdent)
      throw ParseFailure{var.offset, "expected a variable name after 'for'"};
    Lexeme in = lexer.next();
    if (in.kind != Lexeme::Kind::kIdent || in.text != "in") {
      throw ParseFailure{in.offset, "expected 'in', got " + describe(in)};
    }
    node.collection = parse_expr(lexer);
    if (node.collection.kind == Expr::Kind::kVariable) {
      node.copy_collection = true;  // decided for real once all assignments are known
    }
    while (!lexer.at_end()) {
      Lexeme word = lexer.next();
      if (word.kind == Lexeme::Kind::kComma) continue;
      if (word.kind == Lexeme::Kind::kIdent && word.text == "reversed") {
        node.reversed = true;
      } else if (word.kind == Lexeme::Kind::kIdent &&
                 (word.text == "limit" || word.text == "offset")) {
        expect(lexer, Lexeme::Kind::kColon, "':'");
        (word.text == "limit" ? node.limit : node.offset) = parse_expr(lexer);
      } else {
        throw ParseFailure{word.offset, "unexpected " + describe(word) + " in 'for'"};
      }
    }
    node.slot = slot(var.text);
    ++loop_depth_;
    const Token* next = nullptr;
    node.body = parse_block({"else", "endfor"}, next);
    --loop_depth_;
    if (next && next->name == "else") {
      expect_no_args(*next);
      node.else_body = parse_block({"endfor"}, next);
    }
    if (!next) unclosed(open, "endfor");
    return node;
  }

  AssignNode parse_assign(const Token& open) {
    AssignNode node;
    Lexer lexer(open.text, open.text_offset);
    Lexeme var = lexer.next();
    if (var.kind != Lexeme::Kind::kIdent)
      throw ParseFailure{var.offset, "expected a variable name after 'assign'"};
    expect(lexer, Lexeme::Kind::kAssign, "'='");
    node.value = parse_pipeline(lexer);
    expect_end(lexer);
    node.slot = slot(var.text);
    program_.slot_assigned[node.slot] = true;
    return node;
  }

  CaptureNode parse_capture(const Token& open) {
    CaptureNode node;
    Lexer lexer(open.text, open.text_offset);
    Lexeme var = lexer.next();
    std::string_view name = var.text;
    if (var.kind == Lexeme::Kind::kString) {
      name = name.substr(1, name.size() - 2);
    } else if (var.kind != Lexeme::Kind::kIdent) {
      throw ParseFailure{var.offset, "expected a variable name after 'capture'"};
    }
    expect_end(lexer);
    node.slot = slot(name);
    program_.slot_assigned[node.slot] = true;
    const Token* next = nullptr;
    node.body = parse_block({"endcapture"}, next);
    if (!next) unclosed(open, "endcapture");
    return node;
  }

  void skip_comment(const Token& open) {
    int nesting = 1;
    while (index_ < tokens_.size()) {
      const Token& t = tokens_[index_++];
      if (t.kind != Token::Kind::kTag) continue;
      if (t.name == "comment") ++nesting;
      if (t.name == "endcomment" && --nesting == 0) return;
    }
    unclosed(open, "endcomment");
  }

  // ---- expressions

  Condition parse_condition(Lexer& lexer) {
    Condition cond = parse_comparison(lexer);
    const Lexeme& l = lexer.peek();
    if (l.kind == Lexeme::Kind::kIdent && (l.text == "and" || l.text == "or")) {
      Condition joined;
      joined.op = l.text == "and" ? Condition::Op::kAnd : Condition::Op::kOr;
      lexer.next();
      joined.left = std::make_unique<Condition>(std::move(cond));
      joined.right =
          std::make_unique<Condition>(parse_condition(lexer));  // right to left, as Liquid
      return joined;
    }
    return cond;
  }

  Condition parse_comparison(Lexer& lexer) {
    Condition cond;
    cond.lhs = parse_expr(lexer);
    const Lexeme& l = lexer.peek();
    if (l.kind == Lexeme::Kind::kCompare) {
      static const std::pair<std::string_view, Condition::Op> kOps[] = {
          {"==", Condition::Op::kEq}, {"!=", Condition::Op::kNe}, {"<>", Condition::Op::kNe},
          {"<", Condition::Op::kLt},  {">", Condition::Op::kGt},  {"<=", Condition::Op::kLe},
          {">=", Condition::Op::kGe}};
      for (const auto& [text, op] : kOps) {
        if (l.text == text) cond.op = op;
      }
    } else if (l.kind == Lexeme::Kind::kIdent && l.text == "contains") {
      cond.op = Condition::Op::kContains;
    } else {
      return cond;
    }
    lexer.next();
    cond.rhs = parse_expr(lexer);
    return cond;
  }

  Pipeline parse_pipeline(Lexer& lexer) {
    Pipeline pipeline;
    pipeline.head = parse_expr(lexer);
    while (lexer.peek().kind == Lexeme::Kind::kPipe) {
      lexer.next();
      Lexeme name = lexer.next();
      if (name.kind != Lexeme::Kind::kIdent)
        throw ParseFailure{name.offset, "expected a filter name after '|'"};
      FilterCall call;
      call.pos = pos(name.offset);
      std::vector<Expr> args;
      std::optional<Expr> keyword_value;
      std::string_view keyword;
      std::size_t keyword_offset = 0;
      if (lexer.peek().kind == Lexeme::Kind::kColon) {
        lexer.next();
        do {
          if (lexer.peek().kind == Lexeme::Kind::kIdent &&
              lexer.peek2().kind == Lexeme::Kind::kColon) {
            Lexeme key = lexer.next();
            lexer.next();
            keyword = key.text;
            keyword_offset = key.offset;
            keyword_value = parse_expr(lexer);
          } else {
            args.push_back(parse_expr(lexer));
          }
        } while (lexer.peek().kind == Lexeme::Kind::kComma && (lexer.next(), true));
      }
      const FilterSpec* spec = find_filter(name.text);
      if (!spec) {
        // Not fatal for the rest of the source: report and keep parsing.
        report(name.offset, "unknown filter '" + std::string(name.text) + "'");
        continue;
      }
      if (args.size() < spec->min_args || args.size() > spec->max_args) {
        std::string expected =
            spec->min_args == spec->max_args
                ? std::to_string(spec->min_args)
                : std::to_string(spec->min_args) + " to " + std::to_string(spec->max_args);
        report(name.offset, "filter '" + std::string(name.text) + "' takes " + expected +
                                " argument" + (spec->max_args == 1 ? "" : "s") + ", got " +
                                std::to_string(args.size()));
        continue;
      }
      if (keyword_value) {
        if (keyword != spec->keyword) {
          report(keyword_offset, "filter '" + std::string(name.text) + "' has no argument '" +
                                     std::string(keyword) + "'");
          continue;
        }
        while (args.size() < spec->max_args) args.push_back(Expr{});  // nil for skipped ones
        args.push_back(std::move(*keyword_value));
      }
      call.fn = spec->fn;
      call.is_raw = spec->name == "raw";
      call.args = std::move(args);
      pipeline.filters.push_back(std::move(call));
    }
    return pipeline;
  }

  Expr parse_expr(Lexer& lexer) {
    if (++expr_depth_ > kMaxDepth)
      throw ParseFailure{lexer.peek().offset, "expression nested too deeply"};
    Expr e = parse_primary(lexer);
    --expr_depth_;
    return e;
  }

  Expr parse_primary(Lexer& lexer) {
    Lexeme l = lexer.next();
    Expr e;
    switch (l.kind) {
      case Lexeme::Kind::kString:
        e.literal = std::string(l.text.substr(1, l.text.size() - 2));
        return e;
      case Lexeme::Kind::kNumber:
        e.literal = parse_number(l);
        return e;
      case Lexeme::Kind::kLParen: {
        e.kind = Expr::Kind::kRange;
        e.range_from = std::make_unique<Expr>(parse_expr(lexer));
        expect(lexer, Lexeme::Kind::kDotDot, "'..'");
        e.range_to = std::make_unique<Expr>(parse_expr(lexer));
        expect(lexer, Lexeme::Kind::kRParen, "')'");
        return e;
      }
      case Lexeme::Kind::kIdent:
        break;
      default:
        throw ParseFailure{l.offset, "expected a value, got " + describe(l)};
    }
    if (lexer.peek().kind != Lexeme::Kind::kDot && lexer.peek().kind != Lexeme::Kind::kLBracket) {
      if (l.text == "true" || l.text == "false") {
        e.literal = l.text == "true";
        return e;
      }
      if (l.text == "nil" || l.text == "null") return e;
      if (l.text == "empty") {
        e.kind = Expr::Kind::kEmpty;
        return e;
      }
      if (l.text == "blank") {
        e.kind = Expr::Kind::kBlank;
        return e;
      }
    }
    if (l.text == "forloop" && loop_depth_ > 0) {
      e.kind = Expr::Kind::kForloop;
      if (lexer.peek().kind == Lexeme::Kind::kDot) {
        static const std::pair<std::string_view, ForloopField> kFields[] = {
            {"index", ForloopField::kIndex},   {"index0", ForloopField::kIndex0},
            {"rindex", ForloopField::kRindex}, {"rindex0", ForloopField::kRindex0},
            {"first", ForloopField::kFirst},   {"last", ForloopField::kLast},
            {"length", ForloopField::kLength}};
        Lexeme field = lexer.peek2();
        for (const auto& [text, value] : kFields) {
          if (field.kind == Lexeme::Kind::kIdent && field.text == text) {
            e.forloop_field = value;
            lexer.next();
            lexer.next();
            break;
          }
        }
      }
    } else {
      e.kind = Expr::Kind::kVariable;
      e.slot = slot(l.text);
    }
    parse_path(lexer, e.path);
    return e;
  }

  void parse_path(Lexer& lexer, std::vector<PathStep>& path) {
    while (true) {
      if (lexer.peek().kind == Lexeme::Kind::kDot) {
        lexer.next();
        Lexeme key = lexer.next();
        if (key.kind != Lexeme::Kind::kIdent)
          throw ParseFailure{key.offset, "expected a property name after '.'"};
        PathStep step;
        step.key = std::string(key.text);
        path.push_back(std::move(step));
      } else if (lexer.peek().kind == Lexeme::Kind::kLBracket) {
        lexer.next();
        PathStep step;
        Expr index = parse_expr(lexer);
        expect(lexer, Lexeme::Kind::kRBracket, "']'");
        if (index.kind == Expr::Kind::kLiteral && index.literal.is_string()) {
          step.key = index.literal.get<std::string>();
        } else if (index.kind == Expr::Kind::kLiteral && index.literal.is_number_integer()) {
          step.kind = PathStep::Kind::kIndex;
          step.index = index.literal.get<std::int64_t>();
        } else {
          step.kind = PathStep::Kind::kDynamic;
          step.dynamic = std::make_unique<Expr>(std::move(index));
        }
        path.push_back(std::move(step));
      } else {
        return;
      }
    }
  }

  Json parse_number(const Lexeme& l) {
    if (l.text.find('.') == std::string_view::npos) {
      std::int64_t i = 0;
      auto res = std::from_chars(l.text.data(), l.text.data() + l.text.size(), i);
      if (res.ec == std::errc()) return i;
    }
    double d = 0;
    std::from_chars(l.text.data(), l.text.data() + l.text.size(), d);
    return d;
  }

  // ---- helpers

  void expect(Lexer& lexer, Lexeme::Kind kind, std::string_view what) {
    Lexeme l = lexer.next();
    if (l.kind != kind)
      throw ParseFailure{l.offset, "expected " + std::string(what) + ", got " + describe(l)};
  }
  void expect_end(Lexer& lexer) {
    if (!lexer.at_end())
      throw ParseFailure{lexer.peek().offset, "unexpected " + describe(lexer.peek())};
  }
  void expect_no_args(const Token& token) {
    if (!token.text.empty()) {
      throw ParseFailure{token.text_offset, "unexpected '" + std::string(token.text) + "' after '" +
                                                std::string(token.name) + "'"};
    }
  }

  std::uint32_t slot(std::string_view name) {
    auto it = slots_.find(std::string(name));
    if (it != slots_.end()) return it->second;
    auto id = static_cast<std::uint32_t>(program_.slot_names.size());
    program_.slot_names.emplace_back(name);
    program_.slot_assigned.push_back(false);
    slots_.emplace(std::string(name), id);
    return id;
  }

  std::size_t current_offset() const {
    return index_ > 0 && index_ <= tokens_.size() ? tokens_[index_ - 1].offset : 0;
  }

  SourcePos pos(std::size_t offset) const {
    return options_.position ? options_.position(offset) : position_in(src_, offset);
  }

  void report(std::size_t offset, std::string message) {
    SourcePos p = pos(offset);
    errors_.push_back({options_.file, p.line, p.column, std::move(message)});
    ++reported_;
  }

 public:
  int reported() const { return reported_; }
  void fail(const ParseFailure& f) { report(f.offset, f.message); }

 private:
  std::string_view src_;
  const LiquidTemplate::Options& options_;
  Program& program_;
  std::vector<LoadError>& errors_;
  std::vector<Token> tokens_;
  std::size_t index_ = 0;
  int depth_ = 0;
  int expr_depth_ = 0;
  int loop_depth_ = 0;
  int reported_ = 0;
  std::unordered_map<std::string, std::uint32_t> slots_;
};

void settle_copies(Block& block, const Program& program);

void settle_copies_node(Node& node, const Program& program) {
  std::visit(
      [&](auto& n) {
        using T = std::decay_t<decltype(n)>;
        if constexpr (std::is_same_v<T, IfNode>) {
          for (auto& b : n.branches) settle_copies(b.body, program);
          settle_copies(n.else_body, program);
        } else if constexpr (std::is_same_v<T, CaseNode>) {
          for (auto& w : n.whens) settle_copies(w.body, program);
          settle_copies(n.else_body, program);
        } else if constexpr (std::is_same_v<T, ForNode>) {
          n.copy_collection = n.collection.kind == Expr::Kind::kVariable &&
                              program.slot_assigned[n.collection.slot];
          settle_copies(n.body, program);
          settle_copies(n.else_body, program);
        } else if constexpr (std::is_same_v<T, CaptureNode>) {
          settle_copies(n.body, program);
        }
      },
      node.data);
}

// A loop over a variable the template assigns must own a copy of it, since the
// body may replace the variable while the loop walks it.
void settle_copies(Block& block, const Program& program) {
  for (Node& node : block) settle_copies_node(node, program);
}

}  // namespace

SourcePos position_in(std::string_view text, std::size_t offset) {
  SourcePos p{1, 1};
  for (std::size_t i = 0; i < offset && i < text.size(); ++i) {
    if (text[i] == '\n') {
      ++p.line;
      p.column = 1;
    } else if ((static_cast<unsigned char>(text[i]) & 0xC0) != 0x80) {
      ++p.column;
    }
  }
  return p;
}

std::optional<LiquidTemplate> LiquidTemplate::compile(std::string_view source,
                                                      const Options& options,
                                                      std::vector<LoadError>& errors) {
  auto program = std::make_shared<Program>();
  program->file = options.file;
  Parser parser(source, options, *program, errors);
  try {
    parser.parse();
  } catch (const ParseFailure& failure) {
    parser.fail(failure);
  }
  if (parser.reported() > 0) return std::nullopt;
  settle_copies(program->root, *program);
  return LiquidTemplate(std::move(program));
}

}  // namespace herald::templates
