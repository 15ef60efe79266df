// snappy from the system (Debian: libsnappy-dev), through its C interface: Prometheus remote write sends its
// protobuf body snappy-compressed (block format), and Preflight writes no compressor of its own.
#include <snappy-c.h>
