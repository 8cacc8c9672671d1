-- al.progress: a progress bar with rate and ETA on stderr, drawn only when stderr is a terminal
-- (so logs and pipes stay clean), at most ten times a second.
--
--   local p = al.progress(steps, "ppo")
--   for step = 1, steps do ...; p:update(step, { reward = r, kl = kl }) end
--   p:done()
--
-- p:update(n [, info]) sets the count done so far to n (n = nil adds one); info's fields are
-- shown sorted, numbers with 4 significant digits. p:done([info]) draws the final line (elapsed
-- time instead of the ETA) and ends it. al.progress(total, label, { stream = f, force = true })
-- draws to another file even when it is not a terminal (tests). total may be nil (unknown).
local core = require "al.core"

local M = {}
local Progress = {}
Progress.__index = Progress

local function clock(s)
  s = math.max(0, math.floor(s + 0.5))
  local h, m = s // 3600, (s // 60) % 60
  if h > 0 then return string.format("%d:%02d:%02d", h, m, s % 60) end
  return string.format("%d:%02d", m, s % 60)
end

local function fmt_rate(r)
  if r >= 100 then return string.format("%.0f", r) end
  return string.format("%.3g", r)
end

local function cnt(n)
  return tostring(math.tointeger(n) or string.format("%.4g", n))
end

local function fmt_info(info)
  if type(info) ~= "table" then return "" end
  local keys = {}
  for k in pairs(info) do keys[#keys + 1] = tostring(k) end
  table.sort(keys)
  local parts = {}
  for _, k in ipairs(keys) do
    local v = info[k]
    if v == nil then v = info[tonumber(k)] end
    if type(v) == "number" and math.type(v) == "float" then v = string.format("%.4g", v) end
    parts[#parts + 1] = k .. "=" .. tostring(v)
  end
  return table.concat(parts, " ")
end

-- The text of the bar for count n at elapsed seconds t (no terminal codes).
function M.format(total, label, n, t, info, finished, width)
  width = width or 80
  local rate = t > 0 and n / t or 0
  local head = label and (label .. " ") or ""
  local tail
  if total and total > 0 then
    local frac = math.min(1, math.max(0, n / total))
    local eta = finished and ("in " .. clock(t))
      or (rate > 0 and ("ETA " .. clock((total - n) / rate)) or "ETA ?")
    tail = string.format(" %s/%s %s it/s %s", cnt(n), cnt(total), fmt_rate(rate), eta)
    local info_s = fmt_info(info)
    if info_s ~= "" then tail = tail .. " " .. info_s end
    local barw = math.max(10, math.min(30, width - #head - #tail - 8))
    local fill = math.floor(frac * barw + 0.5)
    return string.format("%s%3d%% [%s%s]%s", head, math.floor(frac * 100),
      string.rep("#", fill), string.rep("-", barw - fill), tail)
  end
  tail = string.format("%s %s it/s%s", cnt(n), fmt_rate(rate), finished and (" in " .. clock(t)) or "")
  local info_s = fmt_info(info)
  if info_s ~= "" then tail = tail .. " " .. info_s end
  return head .. tail
end

function M.new(total, label, opts)
  if total ~= nil and (type(total) ~= "number" or total < 0) then
    error("al.progress: total must be a non-negative number or nil", 2)
  end
  if label ~= nil and type(label) ~= "string" then error("al.progress: label must be a string", 2) end
  opts = opts or {}
  for k in pairs(opts) do
    if k ~= "stream" and k ~= "force" and k ~= "width" then
      error("al.progress: unknown option '" .. tostring(k) .. "' (known: force, stream, width)", 2)
    end
  end
  local stream = opts.stream or io.stderr
  local on = opts.force or (stream == io.stderr and core.isatty(2))
  local width = opts.width or tonumber(os.getenv("COLUMNS") or "") or 80
  local now = core.time()
  return setmetatable({ total = total, label = label, n = 0, t0 = now, last = -math.huge,
                        on = on and true or false, stream = stream, width = width,
                        info = nil, finished = false }, Progress)
end

function Progress:draw(final)
  if not self.on then return end
  local line = M.format(self.total, self.label, self.n, core.time() - self.t0, self.info, final,
    self.width)
  if #line > self.width - 1 then line = line:sub(1, self.width - 1) end
  self.stream:write("\r", line, "\27[K", final and "\n" or "")
  self.stream:flush()
end

function Progress:update(n, info)
  if self.finished then return self end
  if n == nil then n = self.n + 1 end
  if type(n) ~= "number" then error("al.progress: update(n): n must be a number", 2) end
  self.n = n
  if info ~= nil then self.info = info end
  local now = core.time()
  if now - self.last >= 0.1 or (self.total and n >= self.total) then
    self.last = now
    self:draw(false)
  end
  return self
end

function Progress:done(info)
  if self.finished then return self end
  if info ~= nil then self.info = info end
  self.finished = true
  self:draw(true)
  return self
end

Progress.__close = Progress.done

return setmetatable(M, { __call = function(_, ...) return M.new(...) end })
