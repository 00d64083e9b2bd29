// IPFire's libloc (Debian's libloc-dev), as TrackstarEnrich's geo loader sees it: the database, its
// network enumerator and the network accessors. Only the loader uses it; lookups use Trackstar's table.
#include <stdio.h>
#include <netinet/in.h>
#include <libloc/libloc.h>
#include <libloc/database.h>
#include <libloc/network.h>
#include <libloc/country.h>
// malloc_trim: the loader hands its working memory back once the flat tables are built.
#include <malloc.h>
