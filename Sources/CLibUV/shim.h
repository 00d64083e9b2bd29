// The libuv headers, as Trackstar's I/O layer sees them.
#include <uv.h>
