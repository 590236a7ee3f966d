/*
 * malloc_trim(3) for berthd, as a Node-API module. After a build, a pull or a large log read,
 * the C heap keeps the pages of the buffers those freed (they sit below live allocations, so
 * free() cannot shrink the heap): resident memory stays hundreds of MB above what is in use.
 * malloc_trim gives those pages back. Node itself offers no way to call it.
 */
#include <malloc.h>
#include <node_api.h>

static napi_value Trim(napi_env env, napi_callback_info info) {
  (void)info;
  napi_value result;
  napi_get_boolean(env, malloc_trim(0) != 0, &result);
  return result;
}

NAPI_MODULE_INIT() {
  napi_value fn;
  if (napi_create_function(env, "trim", NAPI_AUTO_LENGTH, Trim, NULL, &fn) != napi_ok) return NULL;
  if (napi_set_named_property(env, exports, "trim", fn) != napi_ok) return NULL;
  return exports;
}
