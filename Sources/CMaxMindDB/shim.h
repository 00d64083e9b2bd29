// libmaxminddb (Debian's libmaxminddb-dev): MaxMind DB (.mmdb) files, for GeoDatabase's optional
// MaxMind backend. Lookups read the mapped file and allocate nothing.
#include <sys/socket.h>
#include <netinet/in.h>
#include <maxminddb.h>
