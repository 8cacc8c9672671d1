-- A small, independent renderer of the Jinja subset that chat templates use (for tests: no Jinja
-- library is installed here). Supported: text; {{ expr }}; {% for NAME in expr %} ... {% endfor %};
-- {% if expr %} ... [{% elif expr %} ...] [{% else %} ...] {% endif %}; the whitespace-control
-- dashes {%- -%} {{- -}}; expressions: string literals ('...' or "...", with \n \t \\ \' \"
-- escapes), integers, true/false/none, names, subscripts x['k'] and x.k, list literals [a, b],
-- + (string concatenation or addition), ==, !=, in, not in, and, or, not, parentheses, and the
-- call raise_exception(msg), which raises "template error: msg". Anything else is an error, so
-- a template outside the subset fails the test instead of rendering wrongly.
local M = {}

-- ---- lexing the template into text and tag pieces ----
local function pieces(src)
  local out, pos = {}, 1
  while pos <= #src do
    local s, e, kind = src:find("{([{%%#])", pos)
    if not s then out[#out + 1] = { "text", src:sub(pos) } break end
    out[#out + 1] = { "text", src:sub(pos, s - 1) }
    local close = kind == "{" and "}}" or (kind == "%" and "%}" or "#}")
    local cs, ce = src:find(close, e + 1, true)
    if not cs then error("template: unclosed " .. src:sub(s, e), 0) end
    local body = src:sub(e + 1, cs - 1)
    local lstrip, rstrip = body:sub(1, 1) == "-", body:sub(-1) == "-"
    if lstrip then body = body:sub(2) end
    if rstrip then body = body:sub(1, -2) end
    if kind ~= "#" then out[#out + 1] = { kind == "{" and "expr" or "stmt", body, lstrip = lstrip, rstrip = rstrip } end
    pos = ce + 1
  end
  -- whitespace control
  for i, p in ipairs(out) do
    if p.lstrip and out[i - 1] and out[i - 1][1] == "text" then out[i - 1][2] = out[i - 1][2]:gsub("%s+$", "") end
    if p.rstrip and out[i + 1] and out[i + 1][1] == "text" then out[i + 1][2] = out[i + 1][2]:gsub("^%s+", "") end
  end
  return out
end

-- ---- expressions ----
local ESC = { n = "\n", t = "\t", ["\\"] = "\\", ["'"] = "'", ['"'] = '"', r = "\r" }

local function tokens(s)
  local t, i = {}, 1
  while i <= #s do
    local c = s:sub(i, i)
    if c:match("%s") then i = i + 1
    elseif c == "'" or c == '"' then
      local buf, j = {}, i + 1
      while true do
        local d = s:sub(j, j)
        if d == "" then error("template: unterminated string", 0) end
        if d == c then break end
        if d == "\\" then
          local e = s:sub(j + 1, j + 1)
          if not ESC[e] then error("template: unknown escape \\" .. e, 0) end
          buf[#buf + 1] = ESC[e]
          j = j + 2
        else buf[#buf + 1] = d j = j + 1 end
      end
      t[#t + 1] = { "str", table.concat(buf) }
      i = j + 1
    elseif c:match("[%a_]") then
      local w = s:match("^[%w_]+", i)
      t[#t + 1] = { "name", w }
      i = i + #w
    elseif c:match("%d") then
      local w = s:match("^%d+", i)
      t[#t + 1] = { "num", tonumber(w) }
      i = i + #w
    else
      local two = s:sub(i, i + 1)
      if two == "==" or two == "!=" then t[#t + 1] = { "op", two } i = i + 2
      elseif ("[](),.+"):find(c, 1, true) then t[#t + 1] = { "op", c } i = i + 1
      else error("template: unexpected character '" .. c .. "'", 0) end
    end
  end
  return t
end

local Parser = {}
Parser.__index = Parser
function Parser:peek(k) local x = self.t[self.i + (k or 0)] return x and x[1], x and x[2] end
function Parser:next() self.i = self.i + 1 return self.t[self.i - 1] end
function Parser:accept(kind, v)
  local k, x = self:peek()
  if k == kind and (v == nil or x == v) then self.i = self.i + 1 return true end
  return false
end
function Parser:expect(kind, v)
  if not self:accept(kind, v) then error("template: expected " .. tostring(v or kind), 0) end
end

-- each parse function returns a closure env -> value
function Parser:primary()
  local k, v = self:peek()
  if k == "str" or k == "num" then self:next() return function() return v end end
  if self:accept("op", "(") then local e = self:expr() self:expect("op", ")") return e end
  if self:accept("op", "[") then
    local items = {}
    if not self:accept("op", "]") then
      repeat items[#items + 1] = self:expr() until not self:accept("op", ",")
      self:expect("op", "]")
    end
    return function(env) local l = {} for i, f in ipairs(items) do l[i] = f(env) end return l end
  end
  if k == "name" then
    self:next()
    if v == "true" then return function() return true end end
    if v == "false" then return function() return false end end
    if v == "none" or v == "None" then return function() return nil end end
    if v == "raise_exception" then
      self:expect("op", "(")
      local msg = self:expr()
      self:expect("op", ")")
      return function(env) error("template error: " .. tostring(msg(env)), 0) end
    end
    local f = function(env) return env[v] end
    while true do
      if self:accept("op", "[") then
        local key, base = self:expr(), f
        self:expect("op", "]")
        f = function(env)
          local b = base(env)
          if type(b) ~= "table" then error("template: subscript of a non-object", 0) end
          return b[key(env)]
        end
      elseif self:accept("op", ".") then
        local _, name = self:peek()
        self:expect("name")
        local base = f
        f = function(env) return base(env)[name] end
      else break end
    end
    return f
  end
  error("template: unexpected token " .. tostring(v), 0)
end

function Parser:sum()
  local a = self:primary()
  while self:accept("op", "+") do
    local l, r = a, self:primary()
    a = function(env)
      local x, y = l(env), r(env)
      if type(x) == "string" and type(y) == "string" then return x .. y end
      if type(x) == "number" and type(y) == "number" then return x + y end
      error("template: + of " .. type(x) .. " and " .. type(y), 0)
    end
  end
  return a
end

local function member(x, l)
  if type(l) ~= "table" then error("template: 'in' needs a list", 0) end
  for _, y in ipairs(l) do if x == y then return true end end
  return false
end

function Parser:compare()
  local a = self:sum()
  if self:accept("op", "==") then local b = self:sum() return function(e) return a(e) == b(e) end end
  if self:accept("op", "!=") then local b = self:sum() return function(e) return a(e) ~= b(e) end end
  if self:peek() == "name" and select(2, self:peek()) == "not" and select(2, self:peek(1)) == "in" then
    self:next() self:next()
    local b = self:sum()
    return function(e) return not member(a(e), b(e)) end
  end
  if self:accept("name", "in") then local b = self:sum() return function(e) return member(a(e), b(e)) end end
  return a
end

local function truthy(v) return v ~= nil and v ~= false and v ~= "" and v ~= 0 end

function Parser:unary()
  if self:accept("name", "not") then local a = self:unary() return function(e) return not truthy(a(e)) end end
  return self:compare()
end
function Parser:conj()
  local a = self:unary()
  while self:accept("name", "and") do local l, r = a, self:unary() a = function(e) return truthy(l(e)) and truthy(r(e)) end end
  return a
end
function Parser:expr()
  local a = self:conj()
  while self:accept("name", "or") do local l, r = a, self:conj() a = function(e) return truthy(l(e)) or truthy(r(e)) end end
  return a
end

local function compile_expr(s)
  local p = setmetatable({ t = tokens(s), i = 1 }, Parser)
  local f = p:expr()
  if p.i <= #p.t then error("template: trailing tokens in '" .. s .. "'", 0) end
  return f
end

-- ---- statements ----
local function parse_block(ps, i, stop)
  local nodes = {}
  while i <= #ps do
    local p = ps[i]
    if p[1] == "text" then nodes[#nodes + 1] = { "text", p[2] } i = i + 1
    elseif p[1] == "expr" then nodes[#nodes + 1] = { "expr", compile_expr(p[2]) } i = i + 1
    else
      local word, rest = p[2]:match("^%s*(%a+)%s*(.-)%s*$")
      if stop[word] then return nodes, i, word, rest end
      if word == "for" then
        local var, it = rest:match("^([%a_][%w_]*)%s+in%s+(.+)$")
        if not var then error("template: bad for: " .. rest, 0) end
        local body, j, w = parse_block(ps, i + 1, { endfor = true })
        if w ~= "endfor" then error("template: for without endfor", 0) end
        nodes[#nodes + 1] = { "for", var, compile_expr(it), body }
        i = j + 1
      elseif word == "if" then
        local branches, cond = {}, compile_expr(rest)
        local j = i
        while true do
          local body, k, w, r = parse_block(ps, j + 1, { elif = true, ["else"] = true, endif = true })
          branches[#branches + 1] = { cond, body }
          if w == "endif" then j = k break
          elseif w == "elif" then cond = compile_expr(r) j = k
          elseif w == "else" then cond = function() return true end j = k
          else error("template: if without endif", 0) end
        end
        nodes[#nodes + 1] = { "if", branches }
        i = j + 1
      else
        error("template: unsupported statement '" .. tostring(word) .. "'", 0)
      end
    end
  end
  if next(stop) then error("template: unexpected end of template", 0) end
  return nodes, i
end

local function run(nodes, env, out)
  for _, n in ipairs(nodes) do
    if n[1] == "text" then out[#out + 1] = n[2]
    elseif n[1] == "expr" then
      local v = n[2](env)
      if v ~= nil then out[#out + 1] = tostring(v) end
    elseif n[1] == "for" then
      local list = n[3](env)
      for _, x in ipairs(list or {}) do
        local sub = setmetatable({ [n[2]] = x }, { __index = env })
        run(n[4], sub, out)
      end
    else
      for _, b in ipairs(n[2]) do
        if truthy(b[1](env)) then run(b[2], env, out) break end
      end
    end
  end
end

-- render(template, vars) -> the text
function M.render(template, vars)
  local nodes = parse_block(pieces(template), 1, {})
  local out = {}
  run(nodes, vars, out)
  return table.concat(out)
end

return M
