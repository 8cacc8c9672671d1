-- al.weave.parse: a notebook's text -> { front, pieces, blocks } (front matter, prose, ```lua
-- blocks with their fence options). Pure: it runs nothing, renders nothing and reads no files.
local M = {}

local BLOCK_OPTS = { echo = "boolean", output = "boolean", cache = "boolean", eval = "boolean",
                     error = "boolean", caption = "string" }
-- goal (the learning goal, one line) and figure (the experiment's figures/NAME.png) feed the
-- syllabus of a --all index
local FRONT_KEYS = { title = true, paper = true, description = true, order = true, goal = true,
                     figure = true }

local function split_lines(text)
  local lines = {}
  local pos = 1
  while pos <= #text do
    local nl = text:find("\n", pos, true)
    if not nl then
      lines[#lines + 1] = text:sub(pos)
      break
    end
    lines[#lines + 1] = text:sub(pos, nl - 1)
    pos = nl + 1
  end
  for i, l in ipairs(lines) do lines[i] = l:gsub("\r$", "") end
  return lines
end

-- The options in a fence line's braces: key=value pairs separated by commas or spaces; values
-- true, false, numbers, "strings", 'strings' or bare words. Unknown keys and wrong types are
-- errors (a typo never silently becomes a default).
function M.parse_options(s, where)
  where = where or "block options"
  local opts = {}
  local body = s:match("^%s*{(.*)}%s*$")
  if not body then
    if s:match("^%s*$") then return opts end
    error(("%s: expected {key=value, ...} after 'lua', got '%s'"):format(where, s), 0)
  end
  local i, n = 1, #body
  while true do
    i = body:find("[^%s,]", i) or n + 1
    if i > n then break end
    local key, after = body:match("^([%a_][%w_]*)%s*=%s*()", i)
    if not key then
      error(("%s: expected key=value at '%s'"):format(where, body:sub(i)), 0)
    end
    i = after
    local c, v = body:sub(i, i), nil
    if c == '"' or c == "'" then
      local j = i + 1
      local buf = {}
      while j <= n and body:sub(j, j) ~= c do
        if body:sub(j, j) == "\\" and j < n then j = j + 1 end
        buf[#buf + 1] = body:sub(j, j)
        j = j + 1
      end
      if j > n then error(("%s: unterminated string for '%s'"):format(where, key), 0) end
      v = table.concat(buf)
      i = j + 1
    else
      local word = body:match("^[^%s,]+", i)
      if not word then error(("%s: missing value for '%s'"):format(where, key), 0) end
      i = i + #word
      if word == "true" then v = true
      elseif word == "false" then v = false
      elseif tonumber(word) then v = tonumber(word)
      else v = word end
    end
    local want = BLOCK_OPTS[key]
    if not want then
      local known = {}
      for k in pairs(BLOCK_OPTS) do known[#known + 1] = k end
      table.sort(known)
      error(("%s: unknown option '%s' (known: %s)"):format(where, key, table.concat(known, ", ")), 0)
    end
    if type(v) ~= want then
      error(("%s: option '%s' must be a %s, got %s"):format(where, key, want, type(v)), 0)
    end
    if opts[key] ~= nil then error(("%s: option '%s' given twice"):format(where, key), 0) end
    opts[key] = v
  end
  return opts
end

-- Parse a notebook: front matter, prose and ```lua blocks.
-- Returns { front = {...}, pieces = { {kind="md", text}, {kind="code", code, opts, line}, ... },
-- blocks = { the code pieces in order } }. Errors name the file and line.
function M.parse(text, path)
  path = path or "notebook"
  local lines = split_lines(text)
  local front, first = {}, 1
  if lines[1] == "---" then
    for j = 2, math.min(#lines, 100) do
      if lines[j] == "---" or lines[j] == "..." then
        for k = 2, j - 1 do
          local l = lines[k]
          if l:match("%S") and not l:match("^%s*#") then
            local key, val = l:match("^([%w_]+)%s*:%s*(.-)%s*$")
            if not key then error(("%s:%d: front matter: expected 'key: value'"):format(path, k), 0) end
            if not FRONT_KEYS[key] then
              error(("%s:%d: front matter: unknown key '%s' (known: description, figure, goal, "
                .. "order, paper, title)")
                :format(path, k, key), 0)
            end
            val = val:gsub('^"(.*)"$', "%1"):gsub("^'(.*)'$", "%1")
            front[key] = val
          end
        end
        first = j + 1
        break
      end
    end
  end
  local pieces, blocks, md = {}, {}, {}
  local function flush_md()
    if #md > 0 then
      pieces[#pieces + 1] = { kind = "md", text = table.concat(md, "\n") .. "\n" }
      md = {}
    end
  end
  local i = first
  while i <= #lines do
    local l = lines[i]
    local indent, fence, info = l:match("^( ? ? ?)(```+)%s*(.-)%s*$")
    if not fence then indent, fence, info = l:match("^( ? ? ?)(~~~+)%s*(.-)%s*$") end
    if fence and fence:sub(1, 1) == "`" and info:find("`", 1, true) then fence = nil end
    if not fence then
      md[#md + 1] = l
      i = i + 1
    else
      local ch, len = fence:sub(1, 1), #fence
      local lang, rest = info:match("^(%S+)(.*)$")
      local is_lua = lang == "lua" or (lang and lang:match("^lua{") ~= nil)
      if lang and lang:match("^lua{") then rest = lang:sub(4) .. rest end
      -- find the closing fence
      local j = i + 1
      while j <= #lines do
        local c = lines[j]:match("^ ? ? ?(" .. (ch == "`" and "`" or "~") .. "+)%s*$")
        if c and #c >= len then break end
        j = j + 1
      end
      if is_lua then
        flush_md()
        local code = {}
        for k = i + 1, math.min(j, #lines + 1) - 1 do
          local cl = lines[k]
          if #indent > 0 then cl = cl:gsub("^" .. (" ?"):rep(#indent), "", 1) end
          code[#code + 1] = cl
        end
        local opts = M.parse_options(rest, ("%s:%d: block options"):format(path, i))
        local b = { kind = "code", code = table.concat(code, "\n"), opts = opts, line = i,
                    index = #blocks + 1 }
        pieces[#pieces + 1] = b
        blocks[#blocks + 1] = b
      else
        for k = i, math.min(j, #lines) do md[#md + 1] = lines[k] end
      end
      i = j + 1
    end
  end
  flush_md()
  -- the title: front matter, else the first level-1 heading
  if not front.title then
    for _, p in ipairs(pieces) do
      if p.kind == "md" then
        local t = p.text:match("^#%s+([^\n]-)%s*#*%s*\n") or p.text:match("\n#%s+([^\n]-)%s*#*%s*\n")
        if t then front.title = t break end
      end
    end
  end
  if not front.description then
    for _, p in ipairs(pieces) do
      if p.kind == "md" then
        for para in (p.text .. "\n"):gmatch("(.-)\n%s*\n") do
          local s = para:gsub("^%s+", "")
          if s ~= "" and not s:match("^[#<|>%-*`!%[]") and not s:match("^%d+%.") then
            s = s:gsub("%$%$?([^$]*)%$%$?", "%1"):gsub("[*_`]", ""):gsub("%[([^%]]*)%]%b()", "%1")
            s = s:gsub("%s+", " ")
            if #s > 240 then s = s:sub(1, 237):gsub("[\128-\191]*$", "") .. "..." end
            front.description = s
            break
          end
        end
        if front.description then break end
      end
    end
  end
  return { front = front, pieces = pieces, blocks = blocks }
end

return M
