-- Run by test_mpi.lua under mpirun -np 2: rank 1 fails while rank 0 waits in a barrier; both
-- must stop at once with "rank 1" in the output.
local mpi = require("al").mpi
if mpi.rank() == 1 then error("deliberate failure on rank 1") end
mpi.barrier()
print("rank 0 passed the barrier: WRONG")
