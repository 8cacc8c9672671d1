// alignlab shell: the C primitives behind al.mpi (lua/al/mpi.lua): rank, size, barrier, string
// broadcast and all-gather, and the model's gradient / parameter slabs (all-reduce in fixed rank
// order, broadcast). Layering: uses core/ (al_gpt.h) and MPI only; serialising Lua values and
// reducing numbers is left to mpi.lua, sweeps to sweep.lua.
// Built with MPI when CMake finds it (AL_HAVE_MPI); without it, rank() is 0, size() 1,
// available() false and every communication function raises NO_MPI. With MPI compiled in but no
// launcher (plain `alignlab`), MPI is never initialised and the collectives are the identity of
// a single rank.
// Determinism: floats are never reduced by MPI_SUM (its order is unspecified); every rank gathers
// every rank's values and adds them in rank order 0..N-1, so all ranks hold the same bits.
#include "l_mpi.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bind.h"

#ifdef AL_HAVE_MPI
#include <mpi.h>
#endif

#define NO_MPI "al.mpi: this alignlab was built without MPI (install libopenmpi-dev and rebuild)"
#define CHUNK (1 << 20) // floats per all-gather round of a slab (memory: size * CHUNK floats)

static int active;          // 1 when this process called MPI_Init
static int my_rank, nranks = 1;

#ifdef AL_HAVE_MPI
static int env_int(const char *name) {
  const char *v = getenv(name);
  return v && v[0] ? atoi(v) : -1;
}

static int launched(void) {
  const char *off = getenv("ALIGNLAB_MPI");
  if (off && strcmp(off, "0") == 0) return 0;
  if (getenv("ALIGNLAB_MPI_CHILD")) return 0; // a child process of a rank (sweeps, reproduce)
  return env_int("OMPI_COMM_WORLD_SIZE") >= 1 || env_int("PMIX_RANK") >= 0 ||
         env_int("PMI_RANK") >= 0 || (env_int("SLURM_NTASKS") > 1 && env_int("SLURM_PROCID") >= 0);
}

static void finalize(void) {
  int done = 0;
  if (!active) return;
  MPI_Finalized(&done);
  if (!done) MPI_Finalize();
  active = 0;
}

static int finalize_gc(lua_State *L) {
  (void)L;
  finalize();
  return 0;
}

static void init_mpi(lua_State *L) {
  int provided;
  if (active || !launched()) return;
  MPI_Init_thread(NULL, NULL, MPI_THREAD_FUNNELED, &provided);
  MPI_Comm_rank(MPI_COMM_WORLD, &my_rank);
  MPI_Comm_size(MPI_COMM_WORLD, &nranks);
  active = 1;
  setenv("ALIGNLAB_MPI_CHILD", "1", 1); // children we spawn are not ranks
  atexit(finalize);                     // os.exit() skips lua_close
  // finalise when the Lua state closes: a registry value with __gc
  lua_newuserdatauv(L, 1, 0);
  lua_newtable(L);
  lua_pushcfunction(L, finalize_gc);
  lua_setfield(L, -2, "__gc");
  lua_setmetatable(L, -2);
  lua_setfield(L, LUA_REGISTRYINDEX, "al.mpi.finalizer");
}

static int check_mpi(lua_State *L, int rc, const char *what) {
  if (rc == MPI_SUCCESS) return 0;
  char msg[MPI_MAX_ERROR_STRING];
  int n = 0;
  MPI_Error_string(rc, msg, &n);
  return luaL_error(L, "al.mpi.%s: %s", what, msg);
}
#define NEED_MPI(L) ((void)0)
#else
#define NEED_MPI(L) luaL_error((L), "%s", NO_MPI)
#endif

void al_mpi_on_error(const char *msg) {
#ifdef AL_HAVE_MPI
  if (!active || nranks < 2) return;
  fprintf(stderr, "alignlab: rank %d: %s\n", my_rank, msg ? msg : "(error object is not a string)");
  fflush(stderr);
  MPI_Abort(MPI_COMM_WORLD, 1);
#else
  (void)msg;
#endif
}

static int check_root(lua_State *L, int idx) {
  lua_Integer root = luaL_optinteger(L, idx, 0);
  luaL_argcheck(L, root >= 0 && root < nranks, idx, "root out of range");
  return (int)root;
}

// ---- rank, size, barrier ----

static int l_available(lua_State *L) {
#ifdef AL_HAVE_MPI
  lua_pushboolean(L, 1);
#else
  lua_pushboolean(L, 0);
#endif
  return 1;
}

static int l_active(lua_State *L) {
  lua_pushboolean(L, active);
  return 1;
}

static int l_rank(lua_State *L) {
  lua_pushinteger(L, my_rank);
  return 1;
}

static int l_size(lua_State *L) {
  lua_pushinteger(L, nranks);
  return 1;
}

static int l_barrier(lua_State *L) {
  NEED_MPI(L);
#ifdef AL_HAVE_MPI
  if (active) check_mpi(L, MPI_Barrier(MPI_COMM_WORLD), "barrier");
#endif
  return 0;
}

// ---- strings: broadcast and all-gather (mpi.lua serialises Lua values into them) ----

// _mpi.bcast(s, root) -> root's s on every rank (s is ignored on the other ranks)
static int l_bcast(lua_State *L) {
  NEED_MPI(L);
  int root = check_root(L, 2);
  if (!active) {
    luaL_checkstring(L, 1);
    lua_settop(L, 1);
    return 1;
  }
  (void)root;
#ifdef AL_HAVE_MPI
  size_t n = 0;
  const char *s = my_rank == root ? luaL_checklstring(L, 1, &n) : "";
  long long len = (long long)n;
  check_mpi(L, MPI_Bcast(&len, 1, MPI_LONG_LONG, root, MPI_COMM_WORLD), "bcast");
  if (len > 0x7fffffffLL) return luaL_error(L, "al.mpi.bcast: value too large (%lld bytes)", len);
  luaL_Buffer b;
  char *p = luaL_buffinitsize(L, &b, (size_t)len + 1);
  if (my_rank == root) memcpy(p, s, (size_t)len);
  check_mpi(L, MPI_Bcast(p, (int)len, MPI_BYTE, root, MPI_COMM_WORLD), "bcast");
  luaL_pushresultsize(&b, (size_t)len);
#endif
  return 1;
}

// _mpi.allgather(s) -> { s of rank 0, s of rank 1, ... } on every rank
static int l_allgather(lua_State *L) {
  NEED_MPI(L);
  size_t n;
  const char *s = luaL_checklstring(L, 1, &n);
  lua_createtable(L, nranks, 0);
  if (!active) {
    lua_pushvalue(L, 1);
    lua_rawseti(L, -2, 1);
    return 1;
  }
  (void)s;
#ifdef AL_HAVE_MPI
  if (n > 0x7fffffff) return luaL_error(L, "al.mpi.allgather: value too large");
  int len = (int)n;
  int *lens = lua_newuserdatauv(L, 2 * sizeof(int) * (size_t)nranks, 0); // lens, displs
  int *displs = lens + nranks;
  check_mpi(L, MPI_Allgather(&len, 1, MPI_INT, lens, 1, MPI_INT, MPI_COMM_WORLD), "allgather");
  long long total = 0;
  for (int r = 0; r < nranks; r++) {
    displs[r] = (int)total;
    total += lens[r];
  }
  if (total > 0x7fffffffLL) return luaL_error(L, "al.mpi.allgather: values too large");
  char *all = lua_newuserdatauv(L, (size_t)total + 1, 0);
  check_mpi(L, MPI_Allgatherv(s, len, MPI_BYTE, all, lens, displs, MPI_BYTE, MPI_COMM_WORLD),
            "allgather");
  for (int r = 0; r < nranks; r++) {
    lua_pushlstring(L, all + displs[r], (size_t)lens[r]);
    lua_rawseti(L, -4, r + 1);
  }
  lua_pop(L, 2);
#endif
  return 1;
}

// ---- model slabs ----

// The slab of m named by the string at idx ("params" or "grads"); raises when the model has no
// gradients yet.
static float *slab(lua_State *L, al_gpt *m, const char *which) {
  if (strcmp(which, "params") == 0) return m->params;
  if (!m->grads) luaL_error(L, "al.mpi: the model has no gradients (run a backward first)");
  return m->grads;
}

#ifdef AL_HAVE_MPI
// Every rank's model must have the same number of parameters (else the reduction is garbage).
static void check_same_size(lua_State *L, al_gpt *m, const char *what) {
  long long mine = (long long)m->nparams, lo = mine, hi = mine;
  check_mpi(L, MPI_Allreduce(&mine, &lo, 1, MPI_LONG_LONG, MPI_MIN, MPI_COMM_WORLD), what);
  check_mpi(L, MPI_Allreduce(&mine, &hi, 1, MPI_LONG_LONG, MPI_MAX, MPI_COMM_WORLD), what);
  if (lo != hi)
    luaL_error(L, "al.mpi.%s: the ranks' models differ in size (%lld to %lld parameters)", what,
               lo, hi);
}
#endif

// _mpi.allreduce_grads(m): every rank's m.grads becomes g_0 + g_1 + ... + g_{N-1}, added in float
// in rank order (((g_0 + g_1) + g_2) + ...), identical on every rank.
static int l_allreduce_grads(lua_State *L) {
  NEED_MPI(L);
  al_gpt *m = al_lua_checkgpt(L, 1);
  float *g = slab(L, m, "grads");
  if (!active || nranks == 1) return 0;
  (void)g;
#ifdef AL_HAVE_MPI
  check_same_size(L, m, "allreduce_grads");
  size_t chunk = m->nparams < CHUNK ? m->nparams : CHUNK;
  float *all = lua_newuserdatauv(L, sizeof(float) * chunk * (size_t)nranks + 1, 0);
  for (size_t off = 0; off < m->nparams; off += chunk) {
    int n = (int)(m->nparams - off < chunk ? m->nparams - off : chunk);
    check_mpi(L, MPI_Allgather(g + off, n, MPI_FLOAT, all, n, MPI_FLOAT, MPI_COMM_WORLD),
              "allreduce_grads");
    for (int i = 0; i < n; i++) {
      float s = all[i];
      for (int r = 1; r < nranks; r++) s += all[(size_t)r * (size_t)n + (size_t)i];
      g[off + (size_t)i] = s;
    }
  }
  lua_pop(L, 1);
#endif
  return 0;
}

// _mpi.bcast_params(m, root): root's parameters, bit for bit, on every rank.
static int l_bcast_params(lua_State *L) {
  NEED_MPI(L);
  al_gpt *m = al_lua_checkgpt(L, 1);
  int root = check_root(L, 2);
  if (!active || nranks == 1) return 0;
  (void)m;
  (void)root;
#ifdef AL_HAVE_MPI
  check_same_size(L, m, "bcast_params");
  for (size_t off = 0; off < m->nparams; off += CHUNK) {
    int n = (int)(m->nparams - off < CHUNK ? m->nparams - off : CHUNK);
    check_mpi(L, MPI_Bcast(m->params + off, n, MPI_FLOAT, root, MPI_COMM_WORLD), "bcast_params");
  }
#endif
  return 0;
}

// _mpi.slab(m, "params"|"grads") -> the slab's floats as a binary string (a snapshot; for bit
// comparisons and for accumulating micro-batch gradients in one process).
static int l_slab(lua_State *L) {
  al_gpt *m = al_lua_checkgpt(L, 1);
  const char *which = luaL_checkstring(L, 2);
  luaL_argcheck(L, !strcmp(which, "params") || !strcmp(which, "grads"), 2, "'params' or 'grads'");
  lua_pushlstring(L, (const char *)slab(L, m, which), m->nparams * sizeof(float));
  return 1;
}

// _mpi.add_grads(m, s): m.grads[i] = s[i] + m.grads[i] in float, s a snapshot from _mpi.slab.
// With s the running sum of micro-batches 0..k-1 and m.grads micro-batch k (computed from a
// zeroed slab), this is the same rank-order sum allreduce_grads computes.
static int l_add_grads(lua_State *L) {
  al_gpt *m = al_lua_checkgpt(L, 1);
  size_t n;
  const char *s = luaL_checklstring(L, 2, &n);
  float *g = slab(L, m, "grads");
  if (n != m->nparams * sizeof(float))
    return luaL_error(L, "al.mpi.add_grads: snapshot has %d floats, the model %d",
                      (int)(n / sizeof(float)), (int)m->nparams);
  for (size_t i = 0; i < m->nparams; i++) {
    float a;
    memcpy(&a, s + i * sizeof(float), sizeof a);
    g[i] = a + g[i];
  }
  return 0;
}

// _mpi.abort(msg): print "alignlab: rank R: msg" and stop every rank (MPI_Abort); without more
// than one rank, raises msg as an ordinary error.
static int l_abort(lua_State *L) {
  const char *msg = luaL_checkstring(L, 1);
  al_mpi_on_error(msg);
  return luaL_error(L, "%s", msg);
}

int al_open_mpi(lua_State *L) {
  static const luaL_Reg funcs[] = {
      {"available", l_available}, {"active", l_active},       {"rank", l_rank},
      {"size", l_size},           {"barrier", l_barrier},     {"bcast", l_bcast},
      {"allgather", l_allgather}, {"allreduce_grads", l_allreduce_grads},
      {"bcast_params", l_bcast_params}, {"slab", l_slab},     {"add_grads", l_add_grads},
      {"abort", l_abort},         {NULL, NULL}};
#ifdef AL_HAVE_MPI
  init_mpi(L);
#endif
  luaL_newlib(L, funcs);
  lua_pushliteral(L, NO_MPI);
  lua_setfield(L, -2, "NO_MPI");
  lua_setfield(L, -2, "_mpi");
  return 0;
}
