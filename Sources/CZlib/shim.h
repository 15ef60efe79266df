// zlib from the system (Debian: zlib1g-dev): Preflight decodes gzip and deflate bodies with it rather than with
// an inflater of its own.
#include <zlib.h>
