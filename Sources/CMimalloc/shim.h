// mimalloc (Debian's libmimalloc-dev), built to replace malloc, free and their kin for the whole
// process once the library is loaded before libc. See Sources/ProcessAllocator.
#include <mimalloc.h>
