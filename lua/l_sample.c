// alignlab shell: bindings of core module 'sample' (to be written).
#include "bind.h"

int al_open_sample(lua_State *L) {
  (void)L;
  return 0;
}
