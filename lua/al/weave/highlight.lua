-- al.weave.highlight: HTML escaping and Lua syntax highlighting (a small tokenizer that wraps
-- keywords, strings, comments and numbers in <span class="...">). Pure; it builds no page.
local M = {}

local function esc(s)
  return (tostring(s):gsub("[&<>\"]", { ["&"] = "&amp;", ["<"] = "&lt;", [">"] = "&gt;",
                                         ['"'] = "&quot;" }))
end
M.escape = esc

local KEYWORDS = {}
for w in ([[and break do else elseif end false for function goto if in local nil not or repeat
  return then true until while]]):gmatch("%a+") do KEYWORDS[w] = true end

-- HTML for Lua source with <span class="kw|str|com|num"> around tokens.
function M.highlight(code)
  local out, i, n = {}, 1, #code
  local function emit(cls, s)
    if cls then out[#out + 1] = '<span class="' .. cls .. '">' .. esc(s) .. "</span>"
    else out[#out + 1] = esc(s) end
  end
  while i <= n do
    local c = code:sub(i, i)
    local long = code:match("^%[(=*)%[", i)
    if code:sub(i, i + 1) == "--" then
      local eq = code:match("^%-%-%[(=*)%[", i)
      local j
      if eq then
        local _, e = code:find("]" .. eq .. "]", i + 4 + #eq, true)
        j = e or n
      else
        j = (code:find("\n", i, true) or n + 1) - 1
      end
      emit("com", code:sub(i, j))
      i = j + 1
    elseif long then
      local _, e = code:find("]" .. long .. "]", i + 2 + #long, true)
      local j = e or n
      emit("str", code:sub(i, j))
      i = j + 1
    elseif c == '"' or c == "'" then
      local j = i + 1
      while j <= n do
        local d = code:sub(j, j)
        if d == "\\" then j = j + 2
        elseif d == c or d == "\n" then break
        else j = j + 1 end
      end
      j = math.min(j, n)
      emit("str", code:sub(i, j))
      i = j + 1
    elseif c:match("%d") or (c == "." and code:sub(i + 1, i + 1):match("%d")) then
      local num = code:match("^[%w%.]+", i)
      local j = i + #num
      if num:match("[eEpP]$") and code:sub(j, j):match("[%+%-]") then
        local more = code:match("^[%+%-]%w*", j)
        num, j = num .. more, j + #more
      end
      emit("num", num)
      i = j
    elseif c:match("[%a_]") then
      local w = code:match("^[%w_]+", i)
      emit(KEYWORDS[w] and "kw" or nil, w)
      i = i + #w
    else
      local run = code:match("^[^%w_\"'%-%[%.]+", i) or c
      emit(nil, run)
      i = i + #run
    end
  end
  return table.concat(out)
end

return M
