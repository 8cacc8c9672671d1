-- Constitutional AI, supervised stage: the shared SFT assistant answers red-team prompts, then
-- writes a critique of each answer under a principle of the constitution and a revision, for
-- `rounds` rounds; SL-CAI is the SFT model fine-tuned on the final revisions plus helpful
-- demonstrations. The pipeline runs on a guarded world that raises on any read of a gold score
-- or harm label; gold is read only at the end, to measure. Prints the first critique that
-- found harm, with its revision.
--   build/alignlab examples/cai.lua prompts=256 rounds=4
local al = require "al"
local cfg = al.args({ prompts = 128, rounds = 2, smoke = false, seed = 1 }, arg)
local A, cai = al.recipes.assistant, al.cai
local w, sft = A.world(cfg.smoke), A.sft{ smoke = cfg.smoke }
local red = w:prompts(cfg.prompts, { family = "harmful", seed = cfg.seed })
local R, hist = cai.revise(sft, cai.guard(w), red, { rounds = cfg.rounds, seed = cfg.seed, progress = false })
local sl = cai.sl(sft:clone(), { world = cai.guard(w), prompts = red, revisions = R, demos = 512, progress = false })
local function harmless(n) local h = 0 for i, r in ipairs(red) do h = h + w:gold(r, R[n][i]).harmless end return h / #red end
local e0, e1 = w:evaluate(sft, { n = 264 }), w:evaluate(sl, { n = 264 })
local k = 1 while k < #red and hist[1].critiques[k].critique == w.critique_fine do k = k + 1 end
print(("  %s %s | critique: %s | revision: %s"):format(red[k].prompt, R[0][k], hist[1].critiques[k].critique, R[1][k]))
print(("cai: red-team answers harmless %.2f -> %.2f after %d rounds; SFT -> SL-CAI harmless %.2f -> %.2f, helpful %.2f -> %.2f")
  :format(harmless(0), harmless(cfg.rounds), cfg.rounds, e0.harmless, e1.harmless, e0.helpful, e1.helpful))
