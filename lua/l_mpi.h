// alignlab shell: the MPI layer's entry points for the shell (main.c, l_core.c). Everything else
// about MPI lives in l_mpi.c and lua/al/mpi.lua; no other file includes <mpi.h>.
#ifndef AL_L_MPI_H
#define AL_L_MPI_H

#include <lua.h>

// Adds "_mpi" (the C primitives behind al.mpi) to the table on top of the stack. Initialises MPI
// when the process was started by a launcher (mpirun, srun: OMPI_COMM_WORLD_SIZE, PMIX_RANK,
// PMI_RANK, SLURM_NTASKS > 1) and MPI was compiled in; MPI_Finalize runs when the Lua state
// closes (or at exit). A plain single-process shell never initialises MPI.
int al_open_mpi(lua_State *L);

// Called with an uncaught error's message before the shell reports it. Under MPI with more than
// one rank: prints "alignlab: rank R: message" to stderr and calls MPI_Abort, so every rank
// stops (never returns). Otherwise does nothing and returns.
void al_mpi_on_error(const char *msg);

#endif
