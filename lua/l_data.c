// alignlab shell: bindings of core module 'data' (to be written).
#include "bind.h"

int al_open_data(lua_State *L) {
  (void)L;
  return 0;
}
